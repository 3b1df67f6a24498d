"""Zoho call slots lost to a Redis outage or restart come back within the heartbeat time, not
after the holder's time-out: against a redis-server of the test's own that the test restarts
from its append-only file."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import pytest
import redis.asyncio as aioredis

from ticketing.adapters.clock import SystemClock
from ticketing.adapters.redis.gate import SLOTS_KEY, RedisCallGate
from ticketing.domain.errors import StoreUnavailable
from ticketing.domain.timeouts import Timeouts

from tests.integration.failures import REDIS_SERVER, RedisServer, redis_server
from tests.integration.wired import wait_for
from tests.support.processes import free_port
from tests.support.redis import REQUIRE_REDIS

_NO_SERVER = "needs the redis-server binary (apt-get install redis-server)"
if REDIS_SERVER is None and REQUIRE_REDIS:
    raise RuntimeError(f"REQUIRE_REDIS is set but this test module {_NO_SERVER}")

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.slow,
    pytest.mark.skipif(REDIS_SERVER is None, reason=_NO_SERVER),
]

# Slots of a living process lost to Redis must be free again within a heartbeat's time.
WITHIN = Timeouts(attempt=60.0).heartbeat_ttl


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    with redis_server(free_port(), tmp_path, aof=True) as started:
        started.start()
        yield started


@pytest.fixture
async def client(server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    redis = aioredis.Redis.from_url(server.url, socket_connect_timeout=0.2, socket_timeout=1)
    try:
        yield redis
    finally:
        await redis.aclose()


async def holders(client: aioredis.Redis) -> set[str]:
    return {raw.decode() for raw in await client.zrange(SLOTS_KEY, 0, -1)}


async def test_a_slot_not_given_back_during_a_redis_restart_comes_back_within_the_heartbeat(
    server: RedisServer, client: aioredis.Redis
) -> None:
    """A call ends while Redis is down, so its slot cannot be given back; Redis restarts from
    its append-only file with the slot still taken. The gate's upkeep gives it back within
    the heartbeat time (the holder time-out is 70 s); a slot in use, and another process's,
    are left alone."""
    gate = RedisCallGate(client, SystemClock(), capacity=3, holder_ttl=70.0, linger=0)
    other = RedisCallGate(client, SystemClock(), capacity=3, holder_ttl=70.0)
    async with anyio.create_task_group() as tg:
        tg.start_soon(gate.run)
        kept = (await gate.enter(1.0)).slot
        ended = (await gate.enter(1.0)).slot
        theirs = (await other.enter(1.0)).slot
        assert kept is not None
        assert ended is not None
        assert theirs is not None
        server.kill()
        with pytest.raises(StoreUnavailable):
            await gate.leave(ended)
        server.start()  # from the append-only file: the three slots are taken
        back = time.monotonic()
        assert await holders(client) == {kept, ended, theirs}

        async def given_back() -> bool:
            return ended not in await holders(client)

        await wait_for(given_back, within=WITHIN, what="the lost slot to come back")
        assert time.monotonic() - back < WITHIN
        assert await holders(client) == {kept, theirs}
        tg.cancel_scope.cancel()


async def test_a_slot_a_restarted_redis_brought_back_is_given_back(client: aioredis.Redis) -> None:
    """A Redis restarted from an append-only file older than the last give-back holds a slot
    of this living process that it gave back meanwhile (written here as that restart would
    leave it): the upkeep gives it back within the heartbeat time."""
    gate = RedisCallGate(client, SystemClock(), capacity=2, holder_ttl=70.0, linger=0)
    async with anyio.create_task_group() as tg:
        tg.start_soon(gate.run)
        slot = (await gate.enter(1.0)).slot
        assert slot is not None
        await gate.leave(slot)
        assert not await holders(client)  # given back (linger=0: at once)
        expires = int(time.time() * 1000) + 70_000
        await client.zadd(SLOTS_KEY, {slot: expires})  # what the older file held
        back = time.monotonic()

        async def empty() -> bool:
            return not await holders(client)

        await wait_for(empty, within=WITHIN, what="the brought-back slot to be given back")
        assert time.monotonic() - back < WITHIN
        tg.cancel_scope.cancel()
