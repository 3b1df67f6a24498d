"""Deployments that share one Redis under different REDIS_KEY_PREFIX values: each keeps to its
own streams, ledger, dead letters and events, and a stream shared by mistake is refused."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from ticketing.container import Services, redis_of
from ticketing.domain.errors import ConfigurationError
from ticketing.domain.model import TicketState
from ticketing.entrypoints.consumer import InboundConsumer
from ticketing.settings import SPEC
from zoho_desk_emulator import EmulatorState

from tests.integration.wired import dumps, incident, running, wire
from tests.support.containers import store_of

pytestmark = pytest.mark.anyio

DEFAULT_NAMES = [
    SPEC[name]["default"]
    for name in ("ticket_queue_name", "dead_letter_stream", "created_stream", "inbound_stream")
]


@pytest.fixture
async def redis(real_redis: aioredis.Redis) -> AsyncIterator[aioredis.Redis]:
    """The real Redis; the unprefixed default names are deleted afterwards if this test made
    them (only a service that ignores its prefix would)."""
    before = {name for name in DEFAULT_NAMES if await real_redis.exists(name)}
    yield real_redis
    for name in DEFAULT_NAMES:
        if name not in before:
            await real_redis.delete(name, f"{name}:owners", f"{name}:raw")


def prefixed_env(url: str, prefix: str, **extra: str) -> dict[str, str]:
    """Settings of a deployment that sets only its Redis and its prefix."""
    return {"REDIS_URL": url, "REDIS_KEY_PREFIX": prefix, **extra}


def consumer_of(redis: aioredis.Redis, services: Services, name: str) -> InboundConsumer:
    return InboundConsumer(redis, services, consumer=name, block_ms=50, reclaim_idle_ms=60_000)


async def test_two_prefixes_on_one_redis_never_touch_each_other(
    redis: aioredis.Redis, real_redis_url: str, key_prefix: str
) -> None:
    """Two deployments on one Redis with only REDIS_KEY_PREFIX apart: B never takes A's
    incidents or queued tickets, never sees A's dead letters or created events, and A's ticket
    is created once, in A's Zoho."""
    zoho_a, zoho_b = EmulatorState(), EmulatorState()
    a = wire(prefixed_env(real_redis_url, f"{key_prefix}a:"), emulator=zoho_a)
    b = wire(prefixed_env(real_redis_url, f"{key_prefix}b:"), emulator=zoho_b)
    async with running(a) as sa, running(b) as sb:
        client_a, client_b = await redis_of(a), await redis_of(b)
        store_a, store_b = await store_of(a), await store_of(b)
        assert client_a is not None
        assert client_b is not None
        inbound_a, inbound_b = consumer_of(client_a, sa, "a-1"), consumer_of(client_b, sb, "b-1")
        await inbound_a.ensure_group()
        await inbound_b.ensure_group()
        assert sa.settings.inbound_stream == f"{key_prefix}a:tickets:classify:result"

        # A's Zoho Desk fails (its accounts host still answers, so no token back-off follows):
        # A's incident is accepted and queued; B, polling first, gets nothing.
        zoho_a.faults.error_rate = 1.0
        await redis.xadd(sa.settings.inbound_stream, {"payload": dumps(incident("wa-A1"))})
        await redis.xadd(sa.settings.inbound_stream, {"payload": "not json {"})
        assert await inbound_b.poll_once(block_ms=50) == 0
        assert await inbound_a.poll_once(block_ms=50) == 2
        queued = await store_a.get("wa-A1")
        assert queued is not None
        assert queued.state is not TicketState.CREATED

        # B drains its queue: A's queued ticket is not B's to take.
        report = await sb.drain()
        assert report.processed == 0
        assert await store_b.get("wa-A1") is None
        assert await store_b.pending_count() == 0
        assert await store_a.pending_count() == 1

        # The poison went to A's dead letters only.
        assert [d.payload for d in await store_a.list_dead()] == ["not json {"]
        assert await store_b.list_dead() == []

        # A's Zoho is back: A creates its ticket; B's channel and stream hear nothing of it.
        pubsub = redis.pubsub()
        await pubsub.subscribe(sb.settings.created_stream)
        await pubsub.get_message(timeout=1.0)  # the subscribe confirmation
        zoho_a.faults.clear()
        assert (await sa.drain()).created == 1
        heard = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
        await pubsub.aclose()  # type: ignore[no-untyped-call]
        assert heard is None
        assert await redis.xlen(sb.settings.created_stream) == 0
        [(_, fields)] = await redis.xrange(sa.settings.created_stream)
        assert json.loads(fields[b"payload"])["incident_id"] == "wa-A1"
        created = await store_a.get("wa-A1")
        assert created is not None
        assert created.state is TicketState.CREATED
        assert await store_b.get("wa-A1") is None

    assert len(zoho_a.tickets) == 1
    assert zoho_b.tickets == {}
    assert zoho_b.contacts == {} or all(
        c.email != "ana@example.com" for c in zoho_b.contacts.values()
    )


async def test_a_stream_read_by_another_prefix_is_refused_at_start(
    redis: aioredis.Redis, real_redis_url: str, key_prefix: str
) -> None:
    """Two prefixes that name one inbound stream and group explicitly would split (and steal)
    each other's incidents: the second refuses to start with one line saying how to fix it;
    another group on that stream, or the same prefix again, starts."""
    shared = {"INBOUND_STREAM": f"{key_prefix}shared:classify"}
    first = wire(prefixed_env(real_redis_url, f"{key_prefix}a:", **shared))
    async with running(first):
        again = wire(prefixed_env(real_redis_url, f"{key_prefix}a:", **shared))
        async with running(again):
            pass
        other_group = wire(
            prefixed_env(real_redis_url, f"{key_prefix}b:", INBOUND_GROUP="reporting", **shared)
        )
        async with running(other_group):
            pass
        second = wire(prefixed_env(real_redis_url, f"{key_prefix}b:", **shared))
        with pytest.raises(ConfigurationError) as refused:
            async with running(second):
                pass
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith(f"INBOUND_STREAM: {key_prefix}shared:classify (ticket-service)")
    assert f"REDIS_KEY_PREFIX '{key_prefix}a:'" in message
    assert f"HDEL {key_prefix}shared:classify:owners ticket-service" in message


async def test_ledger_retention_setting_reaches_the_ledger(
    redis: aioredis.Redis, real_redis_url: str, key_prefix: str
) -> None:
    """LEDGER_RETENTION is how long a created ticket's key is remembered in Redis."""
    container = wire(prefixed_env(real_redis_url, key_prefix, LEDGER_RETENTION="3600"))
    async with running(container) as services:
        client = await redis_of(container)
        assert client is not None
        consumer = consumer_of(client, services, "c-1")
        await consumer.ensure_group()
        await redis.xadd(services.settings.inbound_stream, {"payload": dumps(incident("wa-1"))})
        assert await consumer.poll_once(block_ms=50) == 1
        record = await (await store_of(container)).get("wa-1")
        assert record is not None
        assert record.state is TicketState.CREATED
        assert 3595 <= await redis.ttl(f"{key_prefix}ticketing:ledger:wa-1") <= 3600


async def test_a_new_prefix_warns_of_work_left_on_the_old_names(
    redis: aioredis.Redis,
    real_redis_url: str,
    key_prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A deployment that adds a prefix while its unprefixed inbound stream still has its group
    and entries is told at start which variable keeps it reading there."""
    legacy = "tickets:classify:result"
    if await redis.exists(legacy):
        pytest.skip(f"{legacy} is in use in this database")
    await redis.xadd(legacy, {"payload": dumps(incident("wa-1"))})
    await redis.xgroup_create(legacy, "ticket-service", id="0")
    with caplog.at_level(logging.WARNING, logger="ticketing.container"):
        async with running(wire(prefixed_env(real_redis_url, key_prefix))):
            pass
    [line] = [r.getMessage() for r in caplog.records if legacy in r.getMessage()]
    assert line.startswith(f"INBOUND_STREAM is {key_prefix}{legacy} under REDIS_KEY_PREFIX")
    assert f"set INBOUND_STREAM={legacy} to keep reading it" in line
