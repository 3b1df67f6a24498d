"""Redis clients built for the stores, and the translation of Redis failures into ours.

``REDIS_MODE`` picks the client: ``standalone`` (one server, ``REDIS_URL`` names it),
``cluster`` (``REDIS_URL`` names any node; the client learns the rest) or ``sentinel``
(``REDIS_URL`` names the sentinels, comma-separated, and ``REDIS_SENTINEL_MASTER`` the
primary's name; the client asks the sentinels where the primary is and asks again after a
failover). Every adapter takes a :data:`RedisClient`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any, TypeAlias
from urllib.parse import parse_qsl, unquote, urlsplit

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import MasterNotFoundError, Sentinel, SentinelConnectionPool
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ticketing.domain.errors import StoreUnavailable

CONNECT_TIMEOUT = 2.0
SOCKET_TIMEOUT = 5.0
HEALTH_CHECK_INTERVAL = 30
MODES = ("standalone", "cluster", "sentinel")
# Under a sentinel: how often (at most) the sentinels are asked where the primary is now.
PRIMARY_CHECK_EVERY = 1.0
PRIMARY_CHECK_BACKOFF = 10.0  # after no sentinel answered

# What every adapter is given: one server (standalone, or the primary a sentinel names), or a
# cluster. Both speak the same commands; a cluster routes each by its key's hash slot.
RedisClient: TypeAlias = aioredis.Redis | RedisCluster


def hosts(url: str) -> list[tuple[str, int]]:
    """The ``host:port`` pairs a URL names: one, or several comma-separated (sentinels, or a
    cluster's seed nodes). The default port is 6379, or 26379 for sentinels."""
    netloc = urlsplit(url).netloc.rpartition("@")[2]
    found: list[tuple[str, int]] = []
    for part in netloc.split(","):
        node = urlsplit(f"//{part.strip()}")
        found.append((node.hostname or "localhost", node.port or 0))
    return found


def _url_options(url: str) -> dict[str, Any]:
    """What a (possibly multi-host) URL says besides its hosts: credentials, db, TLS."""
    parts = urlsplit(url)
    userinfo, _, _ = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    query = dict(parse_qsl(parts.query))
    options: dict[str, Any] = {}
    if user or query.get("username"):
        options["username"] = unquote(user) if user else query["username"]
    if password or query.get("password"):
        options["password"] = unquote(password) if password else query["password"]
    db = parts.path.lstrip("/")
    if db:
        options["db"] = int(db)
    if parts.scheme == "rediss":
        options["ssl"] = True
    return options


def _client_options() -> dict[str, Any]:
    return {
        "socket_connect_timeout": CONNECT_TIMEOUT,
        "socket_timeout": SOCKET_TIMEOUT,
        "health_check_interval": HEALTH_CHECK_INTERVAL,
        "retry": Retry(NoBackoff(), retries=1, supported_errors=(RedisConnectionError,)),
        "retry_on_timeout": False,
    }


def connect(
    url: str, *, mode: str = "standalone", sentinel_master: str | None = None
) -> RedisClient:
    """An asyncio client for ``url`` in ``mode`` that fails fast when Redis is down.

    Nothing is sent until the first command. One immediate retry covers a pooled connection
    that went stale (and, under a sentinel, a primary that became a replica: the retry asks
    the sentinels again); it is on connection errors only, never on timeouts, because a write
    that timed out may have been applied (every store step is a Lua script that checks its
    ledger first, so even the retried connection error cannot apply a step twice).
    """
    if mode == "standalone":
        client: RedisClient = aioredis.Redis.from_url(url, **_client_options())
        return client
    if mode == "cluster":
        options = _client_options()
        options.pop("retry_on_timeout")
        options.update(_url_options(url))
        options.pop("db", None)  # a cluster has only db 0
        seeds = [ClusterNode(host, port or 6379) for host, port in hosts(url)]
        return RedisCluster(startup_nodes=seeds, **options)
    if mode == "sentinel":
        if not sentinel_master:
            raise ValueError("REDIS_MODE=sentinel needs REDIS_SENTINEL_MASTER")
        sentinels = [(host, port or 26379) for host, port in hosts(url)]
        sentinel = Sentinel(  # type: ignore[no-untyped-call]
            sentinels,
            sentinel_kwargs={
                "socket_connect_timeout": CONNECT_TIMEOUT,
                "socket_timeout": CONNECT_TIMEOUT,
            },
        )
        primary: aioredis.Redis = sentinel.master_for(
            sentinel_master,
            redis_class=SentinelPrimary,
            connection_pool_class=WatchedPrimaryPool,
            **_client_options(),
            **_url_options(url),
        )
        return primary
    raise ValueError(f"REDIS_MODE: expected one of {', '.join(MODES)}, got {mode!r}")


async def prepare(client: RedisClient) -> None:
    """Load a cluster client's slot map now, before the service's concurrent work starts.

    redis-py (8.1) fills it lazily on the first command; ten commands racing to be first on a
    fresh client broke each other's connections ("Connection closed by server", a writer gone
    mid-handshake) and one retried a script that had been applied. When the cluster does not
    answer yet, the client still loads the map on its first command, as before. Nothing to do
    for one server or a sentinel's primary."""
    if isinstance(client, RedisCluster):
        with suppress(RedisError, OSError):
            await client.initialize()


class WatchedPrimaryPool(SentinelConnectionPool):
    """Connections to a sentinel-managed primary that follow it when it moves.

    redis-py asks the sentinels only when it opens a connection, so after a failover that
    leaves the old primary running (``SENTINEL FAILOVER``, a partition) pooled connections
    keep writing to it until it is turned into a replica, which throws those writes away:
    accepted tickets lost without an error. Here the sentinels are asked again at most every
    ``PRIMARY_CHECK_EVERY`` seconds when a connection is taken; once the primary has moved,
    idle connections are closed at once and the others when they come back.
    """

    def __init__(self, service_name: str, sentinel_manager: Any, **kwargs: Any) -> None:
        super().__init__(service_name, sentinel_manager, **kwargs)  # type: ignore[no-untyped-call]
        self._checked = 0.0

    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        now = time.monotonic()
        if self.master_address is not None and now - self._checked >= PRIMARY_CHECK_EVERY:
            self._checked = now
            try:
                # Closes the idle connections when the primary moved.
                await self.get_master_address()  # type: ignore[no-untyped-call]
            except MasterNotFoundError as exc:
                # The sentinels answered that the primary is down (a failover under way): ask
                # again in a second, so the new primary is followed as soon as it is named.
                # Only when none answered (redis-py then lists their errors after " : ") is
                # there a pause, so a caller waits on unreachable sentinels rarely.
                if " : " in str(exc):
                    self._checked = now + PRIMARY_CHECK_BACKOFF
            except (RedisError, OSError):
                self._checked = now + PRIMARY_CHECK_BACKOFF
        # As called (redis-py passes nothing: arguments are deprecated there).
        return await super().get_connection(*args, **kwargs)  # type: ignore[no-untyped-call]

    async def release(self, connection: Any) -> None:
        moved = self.master_address is not None and (connection.host, connection.port) != tuple(
            self.master_address
        )
        if moved and connection.is_connected:
            await connection.disconnect()  # to the old primary: reconnects when used
        await super().release(connection)


class SentinelPrimary(aioredis.Redis):
    """The client on a sentinel-managed primary; closing it also closes its connections to
    the sentinels (redis-py leaves those open)."""

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        manager = getattr(self.connection_pool, "sentinel_manager", None)
        for sentinel in getattr(manager, "sentinels", ()):
            await sentinel.aclose()


def describe(client: object) -> str:
    """Where a client points, for error messages (never the password): ``host:port/db``, the
    sentinels' primary, or the cluster's seed node."""
    if isinstance(client, RedisCluster):
        seeds = client.nodes_manager.startup_nodes
        first = next(iter(seeds.values()), None) if seeds else None
        return f"cluster via {first.host}:{first.port}" if first else "cluster"
    pool = getattr(client, "connection_pool", None)
    service = getattr(pool, "service_name", None)
    if service:
        return f"sentinel primary {service!r}"
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
