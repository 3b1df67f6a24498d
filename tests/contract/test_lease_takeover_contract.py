"""Ticket leases of a process that is gone (``lua/lib_take.lua``, ``lua/lease.lua``), on
fakeredis, a real Redis and a Redis Cluster: taken over at once when the holder's heartbeat is
gone or belongs to another incarnation, never while the holder lives, never from an owner
without a process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import cast

import fakeredis
import pytest
import redis.asyncio as aioredis

from ticketing.adapters.redis.liveness import Heartbeat
from ticketing.adapters.redis.store import RedisTicketStore
from ticketing.application.tickets.processor import TicketProcessor
from ticketing.domain.model import TicketState

from tests.contract.test_store_contract import make_draft
from tests.support.clock import ManualClock
from tests.support.redis_cluster import cluster_client

pytestmark = pytest.mark.anyio

TTL = 60.0


@pytest.fixture(params=["fakeredis", "redis", "cluster"])
async def client(request: pytest.FixtureRequest, key_prefix: str) -> AsyncIterator[aioredis.Redis]:
    if request.param == "fakeredis":
        made: aioredis.Redis = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
    elif request.param == "cluster":
        made = cast(aioredis.Redis, cluster_client(request.getfixturevalue("redis_cluster")))
    else:
        url: str = request.getfixturevalue("real_redis_url")
        made = aioredis.Redis.from_url(url)
    yield made
    async for key in made.scan_iter(match=f"{key_prefix}*"):
        await made.delete(key)
    await made.aclose()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 12, 3, 12, 0, tzinfo=UTC))


@pytest.fixture
async def store(client: aioredis.Redis, key_prefix: str, clock: ManualClock) -> RedisTicketStore:
    """A ticket store with key k1 accepted."""
    made = RedisTicketStore(client, clock, prefix=key_prefix)
    await made.accept(make_draft("k1"))
    return made


async def process(client: aioredis.Redis, prefix: str, host: str) -> Heartbeat:
    heartbeat = Heartbeat(client, prefix=prefix, ttl=TTL, every=1, host=host, namespace="ns")
    await heartbeat.claim()
    return heartbeat


def owner(heartbeat: Heartbeat, suffix: str = "t1") -> str:
    return f"{heartbeat.holder}/{suffix}"


async def test_a_living_holders_lease_is_never_taken(
    client: aioredis.Redis, key_prefix: str, store: RedisTicketStore
) -> None:
    """While its holder's heartbeat lives, a ticket's lease stays the holder's."""
    holder, other = [await process(client, key_prefix, h) for h in ("a", "b")]
    assert (await store.lease("k1", owner(holder), TTL)).held
    assert not (await store.lease("k1", owner(other), TTL)).held


async def test_a_dead_holders_lease_is_taken_at_once(
    client: aioredis.Redis, key_prefix: str, store: RedisTicketStore
) -> None:
    """Once the holder's heartbeat is gone, the next claimant takes the lease at once; the
    holder, if it ever came back, could no longer give it back."""
    holder, other = [await process(client, key_prefix, h) for h in ("a", "b")]
    assert (await store.lease("k1", owner(holder), TTL)).held
    await holder.end()
    assert (await store.lease("k1", owner(other), TTL)).held
    await store.release("k1", owner(holder))
    assert await client.get(store.lease_key("k1")) == owner(other).encode()


async def test_a_lease_of_a_previous_incarnation_with_the_same_name_is_taken(
    client: aioredis.Redis, key_prefix: str, store: RedisTicketStore
) -> None:
    """A process restarted under its predecessor's name (its heartbeat alive again) takes the
    predecessor's leases at once: the heartbeat names another incarnation."""
    before = await process(client, key_prefix, "a")
    assert (await store.lease("k1", owner(before), TTL)).held
    await before.end()
    after = await process(client, key_prefix, "a")
    assert after.name == before.name
    assert (await store.lease("k1", owner(after, "t2"), TTL)).held


async def test_an_owner_without_a_process_is_waited_out(
    client: aioredis.Redis, key_prefix: str, store: RedisTicketStore
) -> None:
    """A lease taken by an older version (a bare token, no process) is never taken over."""
    assert (await store.lease("k1", "0123456789abcdef", TTL)).held
    other = await process(client, key_prefix, "b")
    assert not (await store.lease("k1", owner(other), TTL)).held


async def test_a_dead_holders_create_ends_when_its_lease_is_taken(
    client: aioredis.Redis, key_prefix: str, store: RedisTicketStore, clock: ManualClock
) -> None:
    """A ticket its dead holder was creating (CREATING, no recorded end) gets its attempt's
    end recorded as the moment its lease is taken over: the look-up's grace runs from then,
    not from a whole attempt timeout after the create began."""
    holder, other = [await process(client, key_prefix, h) for h in ("a", "b")]
    assert (await store.lease("k1", owner(holder), TTL)).held
    await store.mark_creating("k1", clock.now())
    clock.advance(7)
    await holder.end()
    leased = await store.lease("k1", owner(other), TTL)
    assert leased.held
    assert leased.record is not None
    assert leased.record.state is TicketState.CREATING
    assert leased.record.attempt_ended_at == clock.now()


def test_a_processors_lease_owners_name_its_process() -> None:
    """With a heartbeat, each lease owner is ``<name>/<incarnation>/<token>``; without one, a
    bare token as before."""
    named = TicketProcessor.__new__(TicketProcessor)
    named._holder = "h-0/abc"
    first, second = named.new_owner(), named.new_owner()
    assert first.startswith("h-0/abc/")
    assert first != second
    bare = TicketProcessor.__new__(TicketProcessor)
    bare._holder = ""
    assert "/" not in bare.new_owner()


async def test_a_dead_processs_named_lease_is_taken_and_a_living_ones_is_not(
    client: aioredis.Redis, key_prefix: str
) -> None:
    """RedisLeases (the contact-creation lock, the refresh lease) given the process's holder:
    a lease of a living process stays its own, and is taken at once once it is gone; its own
    owner still gives it back, and a lease without a holder is waited out."""
    from ticketing.adapters.redis.leases import RedisLeases
    from ticketing.adapters.redis.liveness import ALIVE_PREFIX

    alive = key_prefix + ALIVE_PREFIX
    holder, other = [await process(client, key_prefix, h) for h in ("a", "b")]
    mine = RedisLeases(client, prefix=key_prefix, holder=lambda: holder.holder, alive=alive)
    theirs = RedisLeases(client, prefix=key_prefix, holder=lambda: other.holder, alive=alive)
    assert await mine.acquire("contact:ana", "o1", TTL)
    assert not await theirs.acquire("contact:ana", "o2", TTL)
    await mine.release("contact:ana", "o1")
    assert await theirs.acquire("contact:ana", "o2", TTL)
    assert not await mine.acquire("contact:ana", "o1", TTL)
    await other.end()
    assert await mine.acquire("contact:ana", "o1", TTL)
    bare = RedisLeases(client, prefix=key_prefix)
    assert await bare.acquire("refresh", "o3", TTL)
    assert not await mine.acquire("refresh", "o1", TTL)


async def test_a_dead_processs_call_slots_are_freed_when_every_slot_is_taken(
    client: aioredis.Redis, key_prefix: str
) -> None:
    """The Zoho call gate: slots held by a process whose heartbeat is gone are freed as soon
    as a living process finds every slot taken, instead of blocking the fleet until they
    expire; a living holder's slots are never freed."""
    from ticketing.adapters.redis.gate import RedisCallGate
    from ticketing.adapters.redis.liveness import ALIVE_PREFIX

    alive = key_prefix + ALIVE_PREFIX
    clock = ManualClock(datetime(2026, 12, 3, 12, 0, tzinfo=UTC))
    dead, living = [await process(client, key_prefix, h) for h in ("a", "b")]

    def gate(heartbeat: Heartbeat) -> RedisCallGate:
        return RedisCallGate(
            client,
            clock,
            capacity=2,
            prefix=key_prefix,
            linger=0,
            process=heartbeat.holder,
            alive=alive,
        )

    theirs, mine = gate(dead), gate(living)
    assert (await theirs.enter(1)).admitted
    assert (await theirs.enter(1)).admitted
    assert not (await mine.enter(0.3)).admitted  # both slots held by a living process
    await dead.end()
    assert (await mine.enter(1)).admitted
    assert (await mine.enter(1)).admitted
