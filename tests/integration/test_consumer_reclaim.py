"""A running consumer picks up inbound entries that a killed consumer took and never acked."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import anyio
import fakeredis
import pytest
import redis.asyncio as aioredis
from dependency_injector import providers

from ticketing.container import Container, redis_of, start, stop
from ticketing.domain.model import TicketState
from ticketing.entrypoints.consumer import InboundConsumer
from ticketing.settings import Settings

pytestmark = pytest.mark.anyio


async def _fake_redis(server: fakeredis.FakeServer) -> AsyncIterator[aioredis.Redis]:
    client = fakeredis.FakeAsyncRedis(server=server)
    try:
        yield client
    finally:
        await client.aclose()


async def test_a_running_consumer_reclaims_what_a_killed_one_left() -> None:
    """An entry a dead consumer took is handled by a live one that started before it died,
    once it has been idle for the reclaim time: no restart is needed to pick it up."""
    server = fakeredis.FakeServer()
    settings = Settings.load({"REDIS_URL": "redis://127.0.0.1:1/0"}, dotenv=None)
    container = Container()
    container.settings.override(providers.Object(settings))
    container.redis.override(providers.Resource(_fake_redis, server))
    try:
        services = await start(container)
        redis = await redis_of(container)
        assert redis is not None
        live = InboundConsumer(redis, services, consumer="live", block_ms=20, reclaim_idle_ms=300)
        await live.ensure_group()
        incident = {
            "incident_id": "wa-reclaim-1",
            "customer": {"email": "ana@example.com"},
            "description": "Hola",
        }
        await redis.xadd(live.stream, {"payload": json.dumps(incident)})
        # The consumer that got it is killed before it handles it: it never acks.
        taken = await redis.xreadgroup(live.group, "killed", {live.stream: ">"}, count=10)
        assert taken
        async with anyio.create_task_group() as tg:
            # Its start-up reclaim comes too early (the entry is not idle for long yet).
            tg.start_soon(live.run)
            with anyio.fail_after(5):
                while True:
                    outcome = await services.store.get("wa-reclaim-1")
                    unacked = (await redis.xpending(live.stream, live.group))["pending"]
                    if outcome is not None and not unacked:
                        break
                    await anyio.sleep(0.05)
            tg.cancel_scope.cancel()
        assert outcome is not None
        assert outcome.state is not TicketState.DEAD  # accepted durably: the drain does the rest
    finally:
        with anyio.CancelScope(shield=True):
            await stop(container)
