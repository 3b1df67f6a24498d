"""The RedisFacts adapter against redis-servers of the test's own (the shared server's
configuration is never changed): a server that refuses CONFIG, as managed services often do."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis.asyncio

from ticketing.adapters.redis.facts import RedisServerFacts
from ticketing.adapters.redis.liveness import Heartbeat

from tests.integration.failures import REDIS_SERVER, redis_server
from tests.support.processes import free_port

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.slow,
    pytest.mark.skipif(REDIS_SERVER is None, reason="needs the redis-server binary"),
]

NO_CONFIG = ("--rename-command", "CONFIG", "")


@pytest.mark.parametrize(("aof", "seen"), [(False, "unknown"), (True, "aof")])
async def test_with_config_refused_persistence_comes_from_info_or_is_unknown(
    tmp_path: Path, aof: bool, seen: str
) -> None:
    """CONFIG renamed away: the append-only file is still seen in INFO (RDB snapshots are
    not, so without it persistence is unknown, never "none"); the eviction policy is read
    from INFO memory."""
    with redis_server(free_port(), tmp_path, aof=aof, extra=NO_CONFIG) as server:
        server.start()
        client = redis.asyncio.Redis(port=server.port)
        try:
            beat = Heartbeat(client, prefix="fake:", ttl=30, every=10)
            await beat.claim("doctor-adapter-0")
            await client.set("ticketing:alive:other-deployment-0", "x", ex=30)
            facts = await RedisServerFacts(client, prefix="fake:").facts()
            assert facts.mode == "standalone"
            assert facts.version.count(".") == 2
            assert facts.persistence == seen
            assert facts.eviction_policy == "noeviction"
            assert facts.processes == ("doctor-adapter-0",)
            assert facts.topology == "one server, 0 replica(s) connected"
            assert facts.topology_problems == ()
            own = await RedisServerFacts(client, prefix="fake:", own=beat).facts()
            assert own.processes == ()
        finally:
            await client.aclose()
