"""Redis stays bounded: the inbound stream is trimmed once its entries are handled and past
LEDGER_RETENTION, and a replay hint never reaches back beyond what the ledger remembers."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncIterator

import anyio
import pytest
import redis.asyncio as aioredis

from ticketing.adapters.redis.streams import forget_idle_consumers
from ticketing.container import redis_of
from ticketing.entrypoints.consumer import InboundConsumer
from zoho_desk_emulator import EmulatorState

from tests.integration.wired import Instance, dumps, incident, running, wait_for, wire
from tests.support.containers import store_of

pytestmark = pytest.mark.anyio

HOUR_MS = 3600 * 1000


@pytest.fixture
async def tenant(
    real_redis_url: str, real_redis: aioredis.Redis, key_prefix: str
) -> AsyncIterator[Instance]:
    """One deployment under the test's prefix with a one-hour ledger retention, and its
    inbound consumer (reclaiming, and so trimming, every 0.1 s when run)."""
    env = {
        "REDIS_URL": real_redis_url,
        "REDIS_KEY_PREFIX": key_prefix,
        "INBOUND_STREAM": f"{key_prefix}tickets:classify:result",
        "LEDGER_RETENTION": "3600",
    }
    container = wire(env, emulator=EmulatorState())
    async with running(container) as services:
        client = await redis_of(container)
        assert client is not None
        yield Instance(
            services,
            InboundConsumer(client, services, consumer="c-1", block_ms=20, reclaim_idle_ms=200),
            await store_of(container),
        )


def ids(entries: list[tuple[bytes, object]]) -> list[str]:
    return [entry_id.decode() for entry_id, _ in entries]


async def test_handled_entries_past_the_retention_are_trimmed_and_no_others(
    tenant: Instance, real_redis: aioredis.Redis
) -> None:
    """The running consumer trims the entries every group has acknowledged once they are
    older than LEDGER_RETENTION; younger ones, and those another group has not read or not
    acknowledged, stay until they are done too."""
    services, consumer, store = tenant
    stream = services.settings.inbound_stream
    now = int(time.time() * 1000)
    old = [f"{now - 2 * HOUR_MS + n}-0" for n in range(3)]
    for n, entry_id in enumerate(old):
        await real_redis.xadd(stream, {"payload": dumps(incident(f"wa-old-{n}"))}, id=entry_id)
    young = await real_redis.xadd(stream, {"payload": dumps(incident("wa-young"))})
    # Both groups start at the beginning; "reporting" has read the first two, acked the first.
    await real_redis.xgroup_create(stream, services.settings.inbound_group, id="0")
    await real_redis.xgroup_create(stream, "reporting", id="0")
    await real_redis.xreadgroup("reporting", "r-1", {stream: ">"}, count=2)
    await real_redis.xack(stream, "reporting", old[0])

    async with anyio.create_task_group() as tg:
        tg.start_soon(consumer.run)

        async def trimmed() -> bool:
            return len(await real_redis.xrange(stream)) == 3

        await wait_for(trimmed, what="the first handled entry trimmed")
        await anyio.sleep(0.3)  # more passes of the loop change nothing
        assert ids(await real_redis.xrange(stream)) == [old[1], old[2], young.decode()]

        # "reporting" finishes its part: the rest of the old entries go, the young one stays.
        await real_redis.xack(stream, "reporting", old[1])
        await real_redis.xreadgroup("reporting", "r-1", {stream: ">"}, count=1)
        await real_redis.xack(stream, "reporting", old[2])

        async def all_old_gone() -> bool:
            return ids(await real_redis.xrange(stream)) == [young.decode()]

        await wait_for(all_old_gone, what="the other old entries trimmed")
        tg.cancel_scope.cancel()
    for n in range(3):
        record = await store.get(f"wa-old-{n}")
        assert record is not None  # each became its ticket before its entry went


async def test_an_unacknowledged_entry_is_never_trimmed(
    tenant: Instance, real_redis: aioredis.Redis
) -> None:
    """An old entry a consumer holds without an acknowledgement (it crashed) stays, and so
    does everything after it, however old."""
    services, consumer, _ = tenant
    stream = services.settings.inbound_stream
    group = services.settings.inbound_group
    now = int(time.time() * 1000)
    old = [f"{now - 2 * HOUR_MS + n}-0" for n in range(3)]
    for n, entry_id in enumerate(old):
        await real_redis.xadd(stream, {"payload": dumps(incident(f"wa-{n}"))}, id=entry_id)
    await real_redis.xgroup_create(stream, group, id="0")
    await real_redis.xreadgroup(group, "crashed", {stream: ">"}, count=1)  # holds old[0]
    await real_redis.xreadgroup(group, "c-1", {stream: ">"}, count=2)
    await real_redis.xack(stream, group, old[1], old[2])
    assert await consumer.trim() == 0
    assert ids(await real_redis.xrange(stream)) == old
    await real_redis.xack(stream, group, old[0])
    assert await consumer.trim() == 3
    assert await real_redis.xlen(stream) == 0


async def test_group_hint_never_replays_beyond_the_retention(
    tenant: Instance,
    real_redis: aioredis.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A group created at the end of a stream with a backlog suggests replaying from an id
    younger than LEDGER_RETENTION (handled entries there are still in the ledger), never 0,
    which would make every older incident a second ticket."""
    services, consumer, _ = tenant
    stream = services.settings.inbound_stream
    now = int(time.time() * 1000)
    forgotten = f"{now - 2 * HOUR_MS}-0"
    remembered = f"{now - HOUR_MS // 2}-0"
    await real_redis.xadd(stream, {"payload": dumps(incident("wa-1"))}, id=forgotten)
    await real_redis.xadd(stream, {"payload": dumps(incident("wa-2"))}, id=remembered)
    with caplog.at_level(logging.WARNING, logger="ticketing.entrypoints.consumer"):
        await consumer.ensure_group()
    [line] = [r.getMessage() for r in caplog.records if "SETID" in r.getMessage()]
    found = re.search(rf"XGROUP SETID {re.escape(stream)} ticket-service (\d+)-0 ", line)
    assert found, line
    since = int(found.group(1))
    assert int(forgotten.split("-")[0]) < since < int(remembered.split("-")[0])
    assert now - HOUR_MS < since <= now - HOUR_MS + 360_000 + 5_000


async def test_consumers_long_gone_are_forgotten(
    real_redis: aioredis.Redis, key_prefix: str
) -> None:
    """Each process start adds a consumer to the groups; one that holds nothing and was idle
    for the given time is removed, one that still holds an entry is kept."""
    stream = f"{key_prefix}tickets:classify:result"
    for _ in range(3):
        await real_redis.xadd(stream, {"payload": "{}"})
    await real_redis.xgroup_create(stream, "g", id="0")
    [[_, [(first, _)]]] = await real_redis.xreadgroup("g", "gone", {stream: ">"}, count=1)
    await real_redis.xack(stream, "g", first)
    await real_redis.xreadgroup("g", "holding", {stream: ">"}, count=1)
    await anyio.sleep(0.3)
    [[_, [(last, _)]]] = await real_redis.xreadgroup("g", "alive", {stream: ">"}, count=1)
    await real_redis.xack(stream, "g", last)
    assert await forget_idle_consumers(real_redis, stream, "g", idle=0.2) == 1
    names = {c["name"].decode() for c in await real_redis.xinfo_consumers(stream, "g")}
    assert names == {"holding", "alive"}
