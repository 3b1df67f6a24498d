"""The inbound pub/sub path: every received message is appended to the service's own intake
stream at once, so the subscriber keeps up with a burst while Zoho is slow and each incident
becomes one ticket; a lost subscription (Redis's output-buffer limit, a Redis restart) is
logged, counted and re-established; poison published on the channel is dead-lettered."""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from ticketing.container import Services
from ticketing.domain.model import TicketState
from ticketing.domain.ports import TicketStore
from ticketing.entrypoints.consumer import MAX_MESSAGE_BYTES
from zoho_desk_emulator import EmulatorState

from tests.integration.failures import REDIS_SERVER, RedisServer, redis_server
from tests.integration.wired import RedisBackend, dumps, incident, instance, wait_for
from tests.support.metrics import parse, sample
from tests.support.processes import free_port
from tests.support.redis import REQUIRE_REDIS

pytestmark = pytest.mark.anyio

_NO_SERVER = "needs the redis-server binary (apt-get install redis-server)"
if REDIS_SERVER is None and REQUIRE_REDIS:
    raise RuntimeError(f"REQUIRE_REDIS is set but this test module {_NO_SERVER}")
needs_redis_server = pytest.mark.skipif(REDIS_SERVER is None, reason=_NO_SERVER)

# Redis's own limit for subscribers, made small: a subscriber that falls 64 KiB behind (or
# 32 KiB for a second) is cut off. The default (32 MiB) only takes a bigger burst.
SMALL_PUBSUB_BUFFER = "pubsub 64kb 32kb 1"


async def metrics_of(services: Services) -> dict[str, float]:
    assert services.metrics is not None
    return parse((await services.metrics.scrape()).decode())


async def subscribed(redis: aioredis.Redis, channel: str) -> None:
    async def check() -> bool:
        counts = await redis.pubsub_numsub(channel)
        return bool(counts and counts[0][1])

    await wait_for(check, what=f"a subscriber on {channel}")


@contextlib.asynccontextmanager
async def consuming(
    backend: RedisBackend, emulator: EmulatorState
) -> AsyncIterator[tuple[aioredis.Redis, Services, TicketStore]]:
    """One instance whose consumer runs and is subscribed to the inbound channel: a client on
    its Redis, its services and its store; the consumer stops on the way out."""
    async with (
        backend.connected() as redis,
        instance(backend, emulator) as (services, consumer, store),
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(consumer.run)
        await subscribed(redis, backend.inbound)
        yield redis, services, store
        tg.cancel_scope.cancel()


@pytest.fixture
async def own_server(tmp_path: Path) -> AsyncIterator[tuple[RedisServer, RedisBackend]]:
    """A redis-server of the test's own with a small pub/sub output buffer."""
    with redis_server(free_port(), tmp_path) as server:
        server.start()
        backend = RedisBackend("redis", server.url, "own:")
        async with backend.connected() as client:
            await client.config_set("client-output-buffer-limit", SMALL_PUBSUB_BUFFER)
        yield server, backend


async def subscriber_ids(redis: aioredis.Redis) -> set[int]:
    """Redis's ids of the connected subscribers: a new id means one was cut off."""
    return {int(c["id"]) for c in await redis.client_list(_type="pubsub")}


@pytest.mark.slow
@needs_redis_server
async def test_a_burst_published_while_zoho_is_slow_becomes_every_ticket_once(
    own_server: tuple[RedisServer, RedisBackend],
) -> None:
    """1,500 incidents (7 MiB) published in 1.5 s while every Zoho call takes 50 ms, on a
    Redis that cuts off a subscriber 64 KiB behind: the subscriber only appends them to the
    intake stream, so Redis never cuts it off, and each incident becomes exactly one ticket."""
    _, backend = own_server
    count, filler = 1500, "Hola, necesito ayuda con mi reserva. " * 130  # ~5 KiB a message
    emulator = EmulatorState()
    emulator.apply_faults({"latency": 0.05})
    async with consuming(backend, emulator) as (redis, services, store):
        subscriber = await subscriber_ids(redis)
        for start in range(0, count, 50):  # 1,000 a second
            async with redis.pipeline(transaction=False) as pipe:
                for i in range(start, start + 50):
                    body = incident(f"wa-burst-{i}", subject=f"Burst {i}", description=filler)
                    pipe.publish(backend.inbound, dumps(body))
                await pipe.execute()
            await anyio.sleep(0.05)

        async def all_created() -> bool:
            return emulator.tickets_created >= count

        with contextlib.suppress(AssertionError):  # the assertion below says what happened
            await wait_for(all_created, within=90, what=f"{count} tickets")
        assert (emulator.tickets_created, await subscriber_ids(redis)) == (count, subscriber), (
            "tickets made, and the subscriber's connection (a new id: Redis cut it off)"
        )
        figures = await metrics_of(services)
        for i in (0, count // 2, count - 1):
            record = await store.get(f"wa-burst-{i}")
            assert record is not None
            assert record.state is TicketState.CREATED
    made = Counter(t.subject for t in emulator.tickets.values())
    assert made == {f"Burst {i}": 1 for i in range(count)}
    assert sample(figures, "ticketing_pubsub_messages_total", outcome="received") == count
    assert sample(figures, "ticketing_pubsub_disconnects_total") == 0
    async with backend.connected() as redis:
        # handled entries do not pile up
        assert await redis.xlen(services.settings.intake_stream) == 0


async def _run_until_ticket(
    redis: aioredis.Redis,
    backend: RedisBackend,
    store: TicketStore,
    key: str,
) -> None:
    """Publish one incident (again and again, until it is taken) and wait for its ticket."""

    async def created() -> bool:
        await redis.publish(backend.inbound, dumps(incident(key)))
        record = await store.get(key)
        return record is not None and record.state is TicketState.CREATED

    await wait_for(created, within=30, what=f"the ticket of {key} through pub/sub")


@pytest.mark.slow
@needs_redis_server
@pytest.mark.parametrize("cut", ["output-buffer-limit", "redis-restart"])
async def test_a_lost_subscription_is_logged_counted_and_reconnected(
    own_server: tuple[RedisServer, RedisBackend],
    caplog: pytest.LogCaptureFixture,
    cut: str,
) -> None:
    """Redis closes the subscriber (one message over its output-buffer limit, or a restart):
    the service says so in one warning naming the loss, counts it, subscribes again, and the
    next incident published becomes a ticket."""
    server, backend = own_server
    emulator = EmulatorState()
    caplog.set_level(logging.WARNING, logger="ticketing.entrypoints.consumer")
    async with consuming(backend, emulator) as (redis, services, store):
        if cut == "output-buffer-limit":
            # one message bigger than the hard limit: Redis closes the subscriber at once
            await redis.publish(backend.inbound, "x" * 100_000)
        else:
            server.kill()
            server.start()
            async with backend.connected() as fresh:  # the test's own connection died too
                await fresh.config_set("client-output-buffer-limit", SMALL_PUBSUB_BUFFER)
            with contextlib.suppress(RedisConnectionError):
                await redis.ping()  # let it notice, once

        async def counted() -> bool:
            figures = await metrics_of(services)
            return (sample(figures, "ticketing_pubsub_disconnects_total") or 0) >= 1

        await wait_for(counted, within=30, what="the disconnect to be counted")
        await _run_until_ticket(redis, backend, store, f"wa-after-{cut}")
    lines = [r.getMessage() for r in caplog.records if "pub/sub" in r.getMessage()]
    assert any("published meanwhile are lost" in line for line in lines), lines
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"


async def test_poison_published_on_the_channel_is_dead_lettered(
    backend: RedisBackend, emulator: EmulatorState, caplog: pytest.LogCaptureFixture
) -> None:
    """A message nested 2,000 deep and one over the size limit, published on the channel, go
    to the dead letters with their reasons (counted as pub/sub poison), no traceback; the next
    incident still becomes a ticket."""
    deep = dumps(incident("wa-deep"))[:-1] + ', "x": ' + "[" * 2000 + "]" * 2000 + "}"
    big = dumps(incident("wa-big", description="x" * MAX_MESSAGE_BYTES))
    async with consuming(backend, emulator) as (redis, services, store):
        await redis.publish(backend.inbound, deep)
        await redis.publish(backend.inbound, big)
        await _run_until_ticket(redis, backend, store, "wa-good")

        async def both_dead() -> bool:
            return await store.dead_count() >= 2

        await wait_for(both_dead, what="two dead letters")
        letters = await store.list_dead()
        figures = await metrics_of(services)
    reasons = sorted(letter.reason for letter in letters)
    assert len(reasons) == 2, reasons
    assert "JSON nested 2001 levels deep; the limit is 32" in reasons[0]
    assert f"the limit is {MAX_MESSAGE_BYTES}" in reasons[1]
    assert {letter.origin for letter in letters} == {services.settings.intake_stream}
    assert sample(figures, "ticketing_poison_messages_total", transport="pubsub") == 2
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"


@pytest.fixture
def emulator() -> EmulatorState:
    return EmulatorState()
