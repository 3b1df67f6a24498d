"""Shared fixtures: the anyio backend, a manual clock, and real-Redis access."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

REDIS_TEST_URL = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/15")
# CI sets REQUIRE_REDIS=1: a missing Redis is then a failure, never a skip.
REQUIRE_REDIS = os.environ.get("REQUIRE_REDIS", "") not in ("", "0", "false")
SKIP_REASON = (
    f"no Redis answers at {REDIS_TEST_URL}; start one (`redis-server --port 6379 --daemonize yes`) "
    "or set REDIS_TEST_URL, then run the tests again (CI sets REQUIRE_REDIS=1 so they never skip)"
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class ManualClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
        self._mono = 1000.0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)
        self._mono += seconds

    def __repr__(self) -> str:
        return f"ManualClock({self._now.isoformat()})"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def _redis_answers(url: str) -> bool:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


_REDIS_OK: bool | None = None


def redis_available() -> bool:
    global _REDIS_OK
    if _REDIS_OK is None:
        _REDIS_OK = _redis_answers(REDIS_TEST_URL)
    return _REDIS_OK


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
