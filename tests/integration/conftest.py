"""Integration fixtures: a standalone Zoho Desk emulator on a free loopback port, and the Redis
backends (a real server, fakeredis) the fleet tests run on."""

from __future__ import annotations

from collections.abc import Iterator

import fakeredis
import pytest
import redis

from tests.integration.wired import RedisBackend
from tests.support.processes import standalone_emulator


@pytest.fixture
def emulator_url() -> Iterator[str]:
    """A standalone emulator with no faults."""
    with standalone_emulator() as url:
        yield url


@pytest.fixture(params=["redis", "fakeredis"])
def backend(request: pytest.FixtureRequest, key_prefix: str) -> RedisBackend:
    """The real Redis (keys under the test's prefix, deleted afterwards) or fakeredis."""
    if request.param == "redis":
        url: str = request.getfixturevalue("real_redis_url")
        request.getfixturevalue("real_redis")  # deletes the prefix's keys after the test
        return RedisBackend("redis", url, key_prefix)
    return RedisBackend(
        "fakeredis", "redis://fakeredis.invalid:6379/0", key_prefix, fakeredis.FakeServer()
    )


@pytest.fixture
def sync_redis(real_redis_url: str, key_prefix: str) -> Iterator[redis.Redis]:
    """A synchronous client on the real Redis, for tests that drive processes; the test's
    keys are deleted afterwards."""
    client = redis.Redis.from_url(real_redis_url)
    try:
        yield client
    finally:
        for key in client.scan_iter(match=f"{key_prefix}*"):
            client.delete(key)
        client.close()
