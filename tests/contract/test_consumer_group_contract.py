"""The consumer-group protocol (``adapters/redis/streams.py``) behaves the same on a real Redis
spoken to in RESP2 and in RESP3, on a Redis Cluster and on fakeredis: the pending queue and the
inbound consumer both stand on it."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Collection, Sequence
from typing import Any, cast

import anyio
import fakeredis
import pytest
import redis.asyncio as aioredis

from ticketing.adapters.redis.connection import connect
from ticketing.adapters.redis.liveness import Heartbeat
from ticketing.adapters.redis.store import RedisTicketStore
from ticketing.adapters.redis.streams import ConsumerGroup, StreamEntry, read_reply

from tests.contract.test_store_contract import make_draft
from tests.support.clock import ManualClock
from tests.support.redis_cluster import LocalCluster

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["resp2", "resp3", "fakeredis", "cluster", "sentinel"])
def target(request: pytest.FixtureRequest) -> tuple[str, int] | aioredis.Redis | None:
    """None (fakeredis), the real Redis URL and the protocol to speak to it (the test's keys
    are deleted afterwards), on the cluster its URL and protocol 0, or a client on a
    sentinel-managed primary."""
    if request.param == "fakeredis":
        return None
    if request.param == "cluster":
        cluster: LocalCluster = request.getfixturevalue("redis_cluster")
        return cluster.url, 0
    if request.param == "sentinel":
        return cast(aioredis.Redis, request.getfixturevalue("sentinel_redis"))
    # From a sync fixture: anyio cannot run an async fixture from inside another one.
    url: str = request.getfixturevalue("real_redis_url")
    request.getfixturevalue("real_redis")
    return url, 3 if request.param == "resp3" else 2


@pytest.fixture
async def client(
    target: tuple[str, int] | aioredis.Redis | None,
) -> AsyncIterator[aioredis.Redis]:
    """A client on a fresh fakeredis server, or on the real Redis in the protocol given."""
    if isinstance(target, aioredis.Redis):
        yield target  # closed by its own fixture
        return
    if target is None:
        made: aioredis.Redis = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
    elif target[1] == 0:
        made = cast(aioredis.Redis, connect(target[0], mode="cluster"))
    else:
        made = aioredis.Redis.from_url(target[0], protocol=target[1])
    yield made
    await made.aclose()


async def collect(pages: AsyncIterator[list[StreamEntry]]) -> list[StreamEntry]:
    return [entry async for page in pages for entry in page]


def always(n: int) -> Any:
    return lambda: n


async def test_create_makes_the_stream_and_tolerates_an_existing_group(
    client: aioredis.Redis, key_prefix: str
) -> None:
    """create answers True once, False after (BUSYGROUP is no error); MKSTREAM makes the stream."""
    group = ConsumerGroup(client, "g")
    stream = f"{key_prefix}s"
    assert await group.create(stream) is True
    assert await group.create(stream) is False
    assert await client.exists(stream) == 1
    await group.ensure(stream)  # remembered: no command sent, no error


async def test_new_entries_come_once_in_order_with_their_fields(
    client: aioredis.Redis, key_prefix: str
) -> None:
    """New entries are delivered once, in order, with text names and the values as sent."""
    group, stream = ConsumerGroup(client, "g"), f"{key_prefix}s"
    await group.create(stream)
    ids = [await client.xadd(stream, {"payload": f"p{n}"}) for n in range(3)]
    entries = await collect(group.new("c1", stream, always(2)))
    assert [e.id for e in entries] == [i.decode() for i in ids]
    assert [e.payload for e in entries] == [b"p0", b"p1", b"p2"]
    assert {e.stream for e in entries} == {stream}
    assert await collect(group.new("c1", stream, always(2))) == []


async def test_own_pending_entries_come_back_before_new_ones_and_reclaim_takes_idle_ones(
    client: aioredis.Redis, key_prefix: str
) -> None:
    """claim gives a consumer its own unacknowledged entries first, then the ones another
    consumer left idle, then new ones; an acknowledged entry never comes back."""
    group, stream = ConsumerGroup(client, "g"), f"{key_prefix}s"
    await group.create(stream)
    first = (await client.xadd(stream, {"payload": "mine"})).decode()
    await group.read("c1", {stream: ">"}, 1)
    theirs = (await client.xadd(stream, {"payload": "theirs"})).decode()
    await group.read("c2", {stream: ">"}, 1)
    fresh = (await client.xadd(stream, {"payload": "new"})).decode()
    done = (await client.xadd(stream, {"payload": "done"})).decode()
    await group.read("c3", {stream: ">"}, 1)  # takes ``fresh``... and acknowledges it
    await group.ack({stream: [fresh]})

    entries = await collect(group.claim("c1", stream, 0, always(10)))
    assert [e.id for e in entries if e.id != first][:2] == [theirs, done]
    assert entries[0].id == first
    assert fresh not in [e.id for e in entries]
    assert await group.in_flight(stream) == 3


async def test_reclaim_leaves_entries_idle_for_less_than_the_minimum(
    client: aioredis.Redis, key_prefix: str
) -> None:
    """Another consumer's entry is taken only after idle_ms without activity."""
    group, stream = ConsumerGroup(client, "g"), f"{key_prefix}s"
    await group.create(stream)
    await client.xadd(stream, {"payload": "x"})
    await group.read("c1", {stream: ">"}, 1)
    assert await collect(group.reclaim("c2", stream, 60_000, always(10))) == []
    taken = await collect(group.reclaim("c2", stream, 0, always(10)))
    assert [e.payload for e in taken] == [b"x"]


async def test_an_entry_deleted_while_pending_is_reported_gone(
    client: aioredis.Redis, key_prefix: str
) -> None:
    """An entry deleted (or trimmed) while in the pending list comes back without fields, so
    the caller only acknowledges it; after that it is not in flight any more."""
    group, stream = ConsumerGroup(client, "g"), f"{key_prefix}s"
    await group.create(stream)
    kept = (await client.xadd(stream, {"payload": "kept"})).decode()
    deleted = (await client.xadd(stream, {"payload": "deleted"})).decode()
    await group.read("c1", {stream: ">"}, 2)
    await client.xdel(stream, deleted)
    own = await collect(group.own("c1", stream, always(10)))
    assert [(e.id, e.gone) for e in own] == [(kept, False), (deleted, True)]
    await group.ack({stream: [deleted]})
    assert await group.in_flight(stream) == 1


async def test_ack_deletes_only_from_the_streams_named(
    client: aioredis.Redis, key_prefix: str
) -> None:
    """One ack acknowledges entries of several streams; only the streams in delete_from lose
    them (the service's own streams, read by no one else)."""
    group = ConsumerGroup(client, "g")
    shared, own = f"{key_prefix}shared", f"{key_prefix}own"
    for stream in (shared, own):
        await group.create(stream)
        await client.xadd(stream, {"payload": "x"})
    entries = await group.read("c1", {shared: ">", own: ">"}, 10)
    assert {e.stream for e in entries} == {shared, own}
    by_stream: dict[str, list[str]] = {}
    for entry in entries:
        by_stream.setdefault(entry.stream, []).append(entry.id)
    await group.ack(by_stream, delete_from=(own,))
    assert (await client.xlen(shared), await client.xlen(own)) == (1, 0)
    assert (await group.in_flight(shared), await group.in_flight(own)) == (0, 0)


async def test_deliveries_count_each_redelivery(client: aioredis.Redis, key_prefix: str) -> None:
    """deliveries reads how often the consumer was given each entry from the pending list."""
    group, stream = ConsumerGroup(client, "g"), f"{key_prefix}s"
    await group.create(stream)
    entry = (await client.xadd(stream, {"payload": "x"})).decode()
    await group.read("c1", {stream: ">"}, 1)
    await group.read("c1", {stream: "0"}, 1)
    assert await group.deliveries(stream, "c1", [entry]) == {entry: 2}
    assert await group.deliveries(stream, "c1", []) == {}


async def test_rounds_bound_a_step(client: aioredis.Redis, key_prefix: str) -> None:
    """A step reads at most ``rounds`` pages, however much is left."""
    group, stream = ConsumerGroup(client, "g"), f"{key_prefix}s"
    await group.create(stream)
    for n in range(5):
        await client.xadd(stream, {"payload": str(n)})
    assert len(await collect(group.new("c1", stream, always(1), rounds=2))) == 2


async def test_an_entry_without_payload_keeps_every_field_as_json(
    client: aioredis.Redis, key_prefix: str
) -> None:
    """An entry in another program's format has no payload; its fields become one JSON object."""
    group, stream = ConsumerGroup(client, "g"), f"{key_prefix}s"
    await group.create(stream)
    await client.xadd(stream, {"key": "k1", "body": "é"})
    (entry,) = await group.read("c1", {stream: ">"}, 1)
    assert entry.payload is None
    assert entry.fields_json() == '{"key": "k1", "body": "\\u00e9"}'
    assert entry.fields_json(ensure_ascii=False) == '{"key": "k1", "body": "é"}'


def test_read_replies_parse_alike_in_resp2_and_resp3() -> None:
    """The XREADGROUP reply shapes of both protocols give the same entries."""
    entries = [(b"1-0", {b"payload": b"a"}), (b"1-1", {})]
    resp2 = [[b"s1", entries], [b"s2", [(b"2-0", {b"payload": b"b"})]]]
    resp3 = {b"s1": [entries], b"s2": [[(b"2-0", {b"payload": b"b"})]]}
    resp3_flat = {b"s1": entries, b"s2": [(b"2-0", {b"payload": b"b"})]}
    expected = [
        StreamEntry("s1", "1-0", {"payload": b"a"}),
        StreamEntry("s1", "1-1", {}),
        StreamEntry("s2", "2-0", {"payload": b"b"}),
    ]
    assert read_reply(resp2) == read_reply(resp3) == read_reply(resp3_flat) == expected
    assert read_reply([]) == read_reply({}) == read_reply(None) == []
    assert expected[1].gone
    assert not expected[0].gone


async def test_the_pending_queue_claims_and_buries_alike_in_every_protocol(
    client: aioredis.Redis, key_prefix: str, clock: ManualClock
) -> None:
    """The ticket store on the group: an accepted ticket is claimed once, its redelivery
    counted, an entry without payload buried, an entry deleted while pending dropped."""
    store = RedisTicketStore(client, clock, prefix=key_prefix)
    await store.accept(make_draft("k1"))
    foreign = await client.xadd(store.pending_stream, {"key": "old", "body": "x"})
    (first,) = await store.claim("c1", 10, 60.0)
    assert (first.draft.key, first.deliveries) == ("k1", 1)
    assert await store.dead_count() == 1  # the foreign entry, with every field kept
    (letter,) = await store.list_dead()
    assert letter.payload == '{"key": "old", "body": "x"}'
    assert foreign.decode() != first.entry_id
    (again,) = await store.claim("c1", 10, 60.0)
    assert (again.entry_id, again.deliveries) == (first.entry_id, 2)
    await client.xdel(store.pending_stream, first.entry_id)
    assert await store.claim("c1", 10, 60.0) == []
    assert await store.in_flight_count() == 0


def living(*alive: str) -> Any:
    """A liveness check that names ``alive`` as the living processes."""

    async def check(names: Sequence[str]) -> Collection[str]:
        return {name for name in names if name in alive}

    return check


async def consumers(client: aioredis.Redis, stream: str) -> dict[str, int]:
    infos = await client.xinfo_consumers(stream, "g")
    return {
        (i["name"].decode() if isinstance(i["name"], bytes) else i["name"]): i["pending"]
        for i in infos
    }


async def test_a_living_consumers_entries_are_never_taken_over(
    client: aioredis.Redis, key_prefix: str
) -> None:
    """take_over leaves a consumer with a heartbeat alone, however long its entries have been
    idle (a slow Zoho call in a live process is not abandoned work)."""
    group, stream = ConsumerGroup(client, "g"), f"{key_prefix}s"
    await group.create(stream)
    await client.xadd(stream, {"payload": "slow"})
    await group.read("alive", {stream: ">"}, 1)
    await anyio.sleep(0.05)
    assert await collect(group.take_over("c2", stream, living("alive", "c2"), 1, always(10))) == []
    assert await consumers(client, stream) == {"alive": 1}


async def test_a_dead_consumers_entries_are_taken_and_it_is_deleted(
    client: aioredis.Redis, key_prefix: str
) -> None:
    """take_over moves every entry of a consumer without a heartbeat to the taker (in pages),
    and deletes the dead consumer from the group once it holds nothing; consumers that hold
    nothing and are gone (a CLI run) are deleted too."""
    group, stream = ConsumerGroup(client, "g"), f"{key_prefix}s"
    await group.create(stream)
    ids = [(await client.xadd(stream, {"payload": f"p{n}"})).decode() for n in range(5)]
    await group.read("dead", {stream: ">"}, 5)
    await group.read("cli-run", {stream: ">"}, 1)  # nothing left: registered, holds nothing
    await anyio.sleep(0.05)
    taken = await collect(group.take_over("c2", stream, living("c2"), 1, always(2)))
    assert [e.id for e in taken] == ids
    assert await consumers(client, stream) == {"c2": 5}
    assert await group.deliveries(stream, "c2", ids[:1]) == {ids[0]: 2}


async def test_take_over_spares_an_entry_delivered_less_than_the_minimum_ago(
    client: aioredis.Redis, key_prefix: str
) -> None:
    """An entry delivered since the liveness check (to a restarted process with the dead
    one's name) is not taken: min-idle guards the gap between the check and the claim."""
    group, stream = ConsumerGroup(client, "g"), f"{key_prefix}s"
    await group.create(stream)
    await client.xadd(stream, {"payload": "x"})
    await group.read("again", {stream: ">"}, 1)
    assert await collect(group.take_over("c2", stream, living(), 60_000, always(10))) == []
    assert (await consumers(client, stream))["again"] == 1


async def test_a_restarted_consumer_reads_its_own_entries_first(
    client: aioredis.Redis, key_prefix: str
) -> None:
    """A process restarted with its predecessor's name is given that name's pending entries
    before anything new (the claim reads "own" first)."""
    group, stream = ConsumerGroup(client, "g"), f"{key_prefix}s"
    await group.create(stream)
    held = (await client.xadd(stream, {"payload": "held"})).decode()
    await group.read("host-0", {stream: ">"}, 1)
    await client.xadd(stream, {"payload": "new"})
    entries = await collect(group.claim("host-0", stream, 60_000, always(1), rounds=1))
    assert entries[0].id == held


async def test_the_pending_queue_takes_over_a_dead_consumers_tickets(
    client: aioredis.Redis, key_prefix: str, clock: ManualClock
) -> None:
    """The ticket store moves a dead consumer's tickets to the taker, whose next claim gives
    them as its own, and counts the processes that were gone; a living consumer keeps its
    own."""
    store = RedisTicketStore(client, clock, prefix=key_prefix)
    for key in ("k1", "k2", "k3"):
        await store.accept(make_draft(key))
    await store.claim("dead", 2, 60.0)
    await store.claim("alive", 1, 60.0)
    await anyio.sleep(0.01)
    assert await store.take_over("taker", living("alive", "taker"), 0.001) == 1  # "dead"
    assert await store.take_over("taker", living("alive", "taker"), 0.001) == 0  # deleted
    assert sorted(t.draft.key for t in await store.claim("taker", 10, 60.0)) == ["k1", "k2"]


async def test_heartbeats_give_two_living_processes_of_one_host_two_names(
    client: aioredis.Redis, key_prefix: str
) -> None:
    """The default name is <host>-<slot>: a second living process of the host gets the next
    slot; a process whose heartbeat is gone is not alive, and a clean end deletes it."""
    first = Heartbeat(client, prefix=key_prefix, ttl=5, every=1, host="h", pid=1, namespace="ns")
    second = Heartbeat(client, prefix=key_prefix, ttl=5, every=1, host="h", pid=2, namespace="ns")
    second._predecessor = lambda held: False  # type: ignore[method-assign]  # pid 1 may be alive
    assert await first.claim() == "h-0"
    assert await second.claim() == "h-1"
    assert set(await first.living(["h-0", "h-1", "h-2"])) == {"h-0", "h-1"}
    await first.end()
    assert set(await second.living(["h-0", "h-1"])) == {"h-1"}
    assert await first.beat() == 2  # lapsed (here: ended): set again


async def test_a_restarted_process_gets_its_predecessors_name_back_at_once(
    client: aioredis.Redis, key_prefix: str
) -> None:
    """A heartbeat not yet expired, left by a process of this host and pid namespace that is
    gone, is taken over at once: the restarted process reads its predecessor's entries."""
    gone = Heartbeat(client, prefix=key_prefix, ttl=5, every=1, host="h", namespace="ns")
    gone.pid = 2**22 + 7  # no such process
    gone.value = f"h ns {gone.pid} abc"
    assert await gone.claim() == "h-0"
    again = Heartbeat(client, prefix=key_prefix, ttl=5, every=1, host="h", namespace="ns")
    assert await again.claim() == "h-0"
    assert await gone.beat() == 0  # the name is the new process's now
    assert await again.beat() == 1
    other_namespace = Heartbeat(client, prefix=key_prefix, ttl=5, every=1, host="h")
    other_namespace.namespace = "elsewhere"
    assert await other_namespace.claim() == "h-1"  # can't tell: treated as alive


async def test_a_wanted_name_held_by_a_living_process_is_refused(
    client: aioredis.Redis, key_prefix: str
) -> None:
    """CONSUMER_NAME held by a living process: the start waits out one heartbeat, then is
    refused with one line."""
    from ticketing.domain.errors import ConfigurationError

    holder = Heartbeat(client, prefix=key_prefix, ttl=0.2, every=0.05, host="h", pid=os.getpid())
    assert await holder.claim("pod-0") == "pod-0"
    other = Heartbeat(client, prefix=key_prefix, ttl=0.2, every=0.05, host="other")
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(holder.run)
            with pytest.raises(ConfigurationError, match="CONSUMER_NAME 'pod-0' is in use"):
                await other.claim("pod-0")
            tg.cancel_scope.cancel()
    await anyio.sleep(0.3)  # its heartbeat expires
    assert await other.claim("pod-0") == "pod-0"


async def test_a_heartbeat_run_is_unbroken_only_while_each_renewal_is_fresh(
    client: aioredis.Redis, key_prefix: str
) -> None:
    """What a process asks before a ticket create: held since the run its lease was taken in,
    until a renewal's interval before the key could expire; once it may have lapsed, holding
    it again (at once, inline) starts a new run, and the old run never counts again."""
    heart = Heartbeat(client, prefix=key_prefix, ttl=0.6, every=0.2, host="h", namespace="ns")
    assert not heart.surely_held()
    await heart.claim()
    run = await heart.hold()
    assert run is not None
    assert heart.held_since(run)
    await anyio.sleep(0.45)  # past ttl - every, no renewal (as when Redis is out of reach)
    assert not heart.held_since(run)
    await anyio.sleep(0.3)  # the key has expired
    again = await heart.hold()  # renewed at once: set again after a lapse
    assert again is not None
    assert again != run
    assert heart.held_since(again)
    assert not heart.held_since(run)
    async with anyio.create_task_group() as tg:
        tg.start_soon(heart.run)
        await anyio.sleep(0.7)  # renewals keep the same run going
        assert heart.held_since(again)
        tg.cancel_scope.cancel()
