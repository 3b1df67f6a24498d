"""Redis clients built for the stores, and the translation of Redis failures into ours."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ticketing.domain.errors import StoreUnavailable

CONNECT_TIMEOUT = 2.0
SOCKET_TIMEOUT = 5.0
HEALTH_CHECK_INTERVAL = 30


def connect(url: str) -> aioredis.Redis:
    """An asyncio client for ``url`` that fails fast when Redis is down.

    Nothing is sent until the first command. One immediate retry covers a pooled connection
    that went stale; it is on connection errors only, never on timeouts, because a write that
    timed out may have been applied (every store step is a Lua script that checks its ledger
    first, so even the retried connection error cannot apply a step twice).
    """
    return aioredis.Redis.from_url(
        url,
        socket_connect_timeout=CONNECT_TIMEOUT,
        socket_timeout=SOCKET_TIMEOUT,
        health_check_interval=HEALTH_CHECK_INTERVAL,
        retry=Retry(NoBackoff(), retries=1, supported_errors=(RedisConnectionError,)),
        retry_on_timeout=False,
    )


def describe(client: object) -> str:
    """``host:port/db`` of a client, for error messages (never the password)."""
    pool = getattr(client, "connection_pool", None)
    kwargs = getattr(pool, "connection_kwargs", None) or {}
    if "path" in kwargs:
        return f"unix:{kwargs['path']}"
    host = kwargs.get("host", "localhost")
    port = kwargs.get("port", 6379)
    db = kwargs.get("db", 0)
    return f"{host}:{port}/{db}"


@contextmanager
def store_errors(client: object, operation: str) -> Iterator[None]:
    """Raise ``StoreUnavailable`` with a message naming the server and the step instead of
    a raw redis-py exception, so callers handle one error type."""
    try:
        yield
    except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
        raise StoreUnavailable(
            f"Redis at {describe(client)} is unreachable ({operation}): {exc}"
        ) from exc
    except RedisError as exc:
        raise StoreUnavailable(f"Redis at {describe(client)} failed ({operation}): {exc}") from exc
