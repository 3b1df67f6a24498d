"""Shared fixtures: the anyio backend, a manual clock, and real-Redis access (the helpers they
use live in tests/support)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Iterator

import anyio
import pytest

from ticketing.entrypoints.logs import uninstall

from tests.support.clock import ManualClock
from tests.support.redis import REDIS_TEST_URL, REQUIRE_REDIS, SKIP_REASON, redis_available
from tests.support.redis_cluster import LocalCluster, cluster_unavailable, start_cluster
from tests.support.redis_sentinel import MASTER_NAME as SENTINEL_MASTER
from tests.support.redis_sentinel import SKIP_REASON as SENTINEL_SKIP_REASON
from tests.support.redis_sentinel import SentinelTopology, TopologyError, sentinel_topology


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def real_redis_url() -> str:
    """The URL of a real Redis; skips (or fails under REQUIRE_REDIS) when none answers."""
    if not redis_available():
        if REQUIRE_REDIS:
            pytest.fail(f"REQUIRE_REDIS is set but {SKIP_REASON}")
        pytest.skip(SKIP_REASON)
    return REDIS_TEST_URL


@pytest.fixture
def key_prefix() -> str:
    """A unique key namespace per test, so tests can share one Redis database."""
    return f"t{uuid.uuid4().hex[:10]}:"


@pytest.fixture
async def real_redis(real_redis_url: str, key_prefix: str) -> AsyncIterator[object]:
    """An asyncio client on the real Redis; deletes the test's keys afterwards."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(real_redis_url)
    try:
        yield client
    finally:
        async for key in client.scan_iter(match=f"{key_prefix}*", count=500):
            await client.delete(key)
        await client.aclose()


@pytest.fixture(scope="session")
def redis_cluster_session() -> Iterator[LocalCluster | BaseException]:
    """One three-primary Redis Cluster for the whole session, started on first use (or why
    it could not start)."""
    try:
        cluster = start_cluster()
    except (RuntimeError, OSError) as exc:
        yield exc
        return
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def redis_cluster(redis_cluster_session: LocalCluster | BaseException) -> LocalCluster:
    """The session's Redis Cluster, emptied before the test; skips (or fails under
    REQUIRE_REDIS) when it could not start."""
    if isinstance(redis_cluster_session, BaseException):
        reason = cluster_unavailable(redis_cluster_session)
        if REQUIRE_REDIS:
            pytest.fail(reason)
        pytest.skip(reason)
    redis_cluster_session.flush()
    return redis_cluster_session


@pytest.fixture(scope="session")
def sentinels() -> Iterator[SentinelTopology]:
    """A primary, a replica and three sentinels on loopback, shared by the session (started on
    first use); skips (or fails under REQUIRE_REDIS) when they cannot start."""
    try:
        with sentinel_topology() as topology:
            yield topology
            return
    except TopologyError as exc:
        if REQUIRE_REDIS:
            pytest.fail(f"REQUIRE_REDIS is set but the sentinel topology did not start: {exc}")
        pytest.skip(f"{exc}: {SENTINEL_SKIP_REASON}")


@pytest.fixture
async def sentinel_redis(sentinels: SentinelTopology, key_prefix: str) -> AsyncIterator[object]:
    """A client on the sentinels' primary, built as REDIS_MODE=sentinel builds it; deletes the
    test's keys afterwards."""
    from ticketing.adapters.redis.connection import connect

    # A test before may have failed the primary over: its old one may not be a replica yet.
    await anyio.to_thread.run_sync(sentinels.settle, sentinels.primary_port())
    client = connect(sentinels.url(12), mode="sentinel", sentinel_master=SENTINEL_MASTER)
    try:
        yield client
    finally:
        async for key in client.scan_iter(match=f"{key_prefix}*", count=500):
            await client.delete(key)
        await client.aclose()


@pytest.fixture(autouse=True)
def cli_logging() -> Iterator[None]:
    """For every test (any may run a whole CLI command, and not all said so): a command
    installs the service's log handler on the root logger, writing to that test's captured
    stderr; take it off again, so a later test does not log into a stream pytest has closed
    ("--- Logging error ---")."""
    before = set(logging.getLogger().handlers)
    yield
    for handler in set(logging.getLogger().handlers) - before:
        uninstall(handler)
