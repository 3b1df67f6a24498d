"""A running consumer picks up inbound entries that a killed consumer took and never acked."""

from __future__ import annotations

import json

import anyio
import fakeredis
import pytest

from ticketing.container import redis_of
from ticketing.domain.model import TicketState
from ticketing.entrypoints.consumer import InboundConsumer

from tests.integration.wired import RedisBackend, running, wire
from tests.support.containers import store_of

pytestmark = pytest.mark.anyio


async def test_a_running_consumer_reclaims_what_a_killed_one_left() -> None:
    """An entry a dead consumer took is handled by a live one that started before it died,
    once it has been idle for the reclaim time: no restart is needed to pick it up."""
    server = fakeredis.FakeServer()
    url = "redis://127.0.0.1:1/0"
    container = wire({"REDIS_URL": url}, backend=RedisBackend("fakeredis", url, "", server))
    async with running(container) as services:
        redis = await redis_of(container)
        assert redis is not None
        store = await store_of(container)
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
                    outcome = await store.get("wa-reclaim-1")
                    unacked = (await redis.xpending(live.stream, live.group))["pending"]
                    if outcome is not None and not unacked:
                        break
                    await anyio.sleep(0.05)
            tg.cancel_scope.cancel()
        assert outcome is not None
        assert outcome.state is not TicketState.DEAD  # accepted durably: the drain does the rest
