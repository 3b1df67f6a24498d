"""REDIS_MODE: standalone (the default), cluster (REDIS_URL names any node) or sentinel
(REDIS_URL names the sentinels, REDIS_SENTINEL_MASTER the primary); a mismatch stops the start
with one line naming the variable, and the client built is the one the mode asks for."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from ticketing.adapters.redis.connection import connect, describe, hosts
from ticketing.domain.errors import ConfigurationError
from ticketing.settings import Settings

PW = "Zq7xK9wP2mV5"


def load(**env: str) -> Settings:
    return Settings.load(env)


def test_standalone_is_the_default() -> None:
    s = load(REDIS_URL="redis://127.0.0.1:6379/0")
    assert (s.redis_mode, s.redis_sentinel_master) == ("standalone", None)


def test_sentinel_mode_reads_several_hosts_and_the_primary_name() -> None:
    s = load(
        REDIS_MODE="sentinel",
        REDIS_URL=f"redis://:{PW}@10.0.0.1:26379,10.0.0.2:26380,[::1]/2",
        REDIS_SENTINEL_MASTER="mymaster",
    )
    assert s.redis_mode == "sentinel"
    assert hosts(s.redis_url or "") == [("10.0.0.1", 26379), ("10.0.0.2", 26380), ("::1", 0)]
    assert PW not in repr(s)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"REDIS_MODE": "sentinel", "REDIS_URL": "redis://h:26379"}, "REDIS_SENTINEL_MASTER"),
        ({"REDIS_MODE": "cluster"}, "REDIS_MODE=cluster needs REDIS_URL"),
        ({"REDIS_MODE": "sentinel", "REDIS_SENTINEL_MASTER": "m"}, "needs REDIS_URL"),
        ({"REDIS_URL": "redis://a:1,b:2"}, "REDIS_URL names several hosts"),
        ({"REDIS_URL": "redis://h:6379", "REDIS_SENTINEL_MASTER": "m"}, "REDIS_SENTINEL_MASTER"),
        ({"REDIS_MODE": "replicated"}, "REDIS_MODE"),
    ],
)
def test_a_mismatched_mode_stops_the_start_naming_the_variable(
    env: dict[str, str], named: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.load(env)
    assert named in str(caught.value)


def test_a_bad_port_among_several_hosts_is_refused_without_the_password() -> None:
    with pytest.raises(ConfigurationError) as caught:
        load(
            REDIS_MODE="sentinel",
            REDIS_URL=f"redis://:{PW}@a:26379,b:nope",
            REDIS_SENTINEL_MASTER="m",
        )
    assert "REDIS_URL" in str(caught.value)
    assert PW[:4] not in str(caught.value)


@pytest.mark.anyio
async def test_each_mode_builds_its_client_without_connecting() -> None:
    single = connect("redis://127.0.0.1:6379/3")
    cluster = connect(f"redis://:{PW}@127.0.0.1:7001,127.0.0.1:7002", mode="cluster")
    primary = connect("redis://127.0.0.1:26379", mode="sentinel", sentinel_master="mymaster")
    try:
        assert isinstance(single, aioredis.Redis)
        assert describe(single) == "127.0.0.1:6379/3"
        assert isinstance(cluster, RedisCluster)
        assert describe(cluster) == "cluster via 127.0.0.1:7001"
        assert isinstance(primary, aioredis.Redis)
        assert describe(primary) == "sentinel primary 'mymaster'"
        assert PW not in describe(cluster)
    finally:
        for client in (single, cluster, primary):
            await client.aclose()


def test_sentinel_mode_without_a_primary_name_is_refused_by_the_factory() -> None:
    with pytest.raises(ValueError, match="REDIS_SENTINEL_MASTER"):
        connect("redis://127.0.0.1:26379", mode="sentinel")
