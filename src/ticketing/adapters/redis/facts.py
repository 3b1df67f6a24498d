"""What the doctor reads of the Redis server: mode, version, persistence, eviction policy
and the fleet's living processes (their heartbeats, see :mod:`.liveness`)."""

from __future__ import annotations

import re
from typing import Any

from redis.asyncio.cluster import RedisCluster
from redis.asyncio.sentinel import SentinelConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ticketing.adapters.redis.connection import RedisClient, store_errors
from ticketing.adapters.redis.liveness import ALIVE_PREFIX, Heartbeat
from ticketing.adapters.redis.replication import sentinel_topology
from ticketing.adapters.redis.streams import text
from ticketing.domain.ports import StoreFacts

# One server (a cluster says so, and how many primaries it has; a sentinel's primary too).
MODE = "standalone"


def _glob_escape(value: str) -> str:
    """``value`` matched literally in a SCAN pattern."""
    return re.sub(r"([*?\[\]\\])", r"\\\1", value)


class RedisServerFacts:
    """Implements :class:`ticketing.domain.ports.RedisFacts` on an asyncio client.

    Args:
        client: An asyncio Redis client.
        prefix: ``REDIS_KEY_PREFIX``: the heartbeats read are this deployment's.
        own: This process's heartbeat, if it holds one (a CLI command claims a name too): it
            is left out of the fleet's processes.
    """

    def __init__(
        self,
        client: RedisClient,
        *,
        prefix: str = "",
        own: Heartbeat | None = None,
        wait_replicas: int = 0,
    ) -> None:
        self._client = client
        self._alive = prefix + ALIVE_PREFIX
        self._own = own
        self._wait_replicas = wait_replicas

    async def facts(self) -> StoreFacts:
        with store_errors(self._client, "doctor"):
            server = await self._client.info("server")
            persistence, detail = await self._persistence()
            policy = await self._eviction_policy()
            processes = await self._processes()
            topology, problems = await self._topology()
        return StoreFacts(
            topology=topology,
            topology_problems=problems,
            mode=self._mode(),
            version=text(server.get("redis_version")) or "unknown",
            persistence=persistence,
            persistence_detail=detail,
            eviction_policy=policy,
            processes=processes,
        )

    def _mode(self) -> str:
        """``single``, or ``cluster, <n> primaries`` (the client's slot map, loaded by the
        commands before; the settings read are then one node's)."""
        if isinstance(self._client, RedisCluster):
            return f"cluster, {len(self._client.get_primaries())} primaries"
        if isinstance(getattr(self._client, "connection_pool", None), SentinelConnectionPool):
            return "sentinel"
        return MODE

    async def _topology(self) -> tuple[str, tuple[str, ...]]:
        """Who serves the data and what is wrong with it; with REDIS_WAIT_REPLICAS, whether
        there are replicas enough to confirm an acceptance at all."""
        problems: list[str] = []
        if isinstance(self._client, RedisCluster):
            primaries = self._client.get_primaries()
            replicas = len(self._client.get_replicas())
            where = ", ".join(f"{node.host}:{node.port}" for node in primaries)
            line = f"{where}; {replicas} replicas"
            if replicas < len(primaries):
                problems.append(
                    "a primary without a replica loses its slots (and the queue, if it holds "
                    "the service's slot) when it fails"
                )
            # WAIT counts the replicas of the primary holding the service's slot: at least
            # one each is assumed here, the pending slot's own count is WAIT's to find.
            per_primary = replicas // max(len(primaries), 1)
        else:
            sentinel = await sentinel_topology(self._client)
            info = await self._client.info("replication")
            per_primary = int(info.get("connected_slaves", 0) or 0)
            if sentinel is None:
                line = f"one server, {per_primary} replica(s) connected"
            elif sentinel.primary is None:
                line = f"sentinels name no primary {sentinel.name!r}"
            else:
                healthy = sum(r.link == "ok" and "down" not in r.flags for r in sentinel.replicas)
                line = (
                    f"primary {sentinel.name!r} at {sentinel.primary}, "
                    f"{healthy}/{len(sentinel.replicas)} replicas healthy, "
                    f"{len(sentinel.sentinels_answering)}/{len(sentinel.sentinels_configured)} "
                    f"sentinels answering, quorum {sentinel.quorum}"
                )
            if sentinel is not None:
                problems.extend(sentinel.problems)
        if self._wait_replicas > per_primary:
            problems.append(
                f"REDIS_WAIT_REPLICAS={self._wait_replicas} but {per_primary} replica(s) "
                "follow the primary: every acceptance will wait REDIS_WAIT_TIMEOUT and be "
                "refused (503)"
            )
        return line, tuple(problems)

    async def _config(self, name: str) -> str | None:
        """``CONFIG GET name``, or None when the server refuses CONFIG (managed services
        often rename or forbid it)."""
        try:
            reply: dict[Any, Any] = await self._client.config_get(name)
        except (RedisConnectionError, RedisTimeoutError):
            raise
        except ResponseError:
            return None
        for key, value in reply.items():
            if text(key) == name:
                return text(value)
        return None

    async def _persistence(self) -> tuple[str, str]:
        appendonly = await self._config("appendonly")
        save = await self._config("save")
        if appendonly is None or save is None:
            # INFO says whether the append-only file is on; RDB snapshots it cannot tell.
            info = await self._client.info("persistence")
            if text(info.get("aof_enabled")) == "1":
                return "aof", "aof_enabled:1 (INFO persistence; CONFIG GET refused)"
            return "unknown", "CONFIG GET is refused and INFO shows no append-only file"
        if appendonly == "yes":
            return "aof", "appendonly yes" + (f', save "{save}"' if save else "")
        if save:
            return "rdb", f'appendonly no, RDB snapshots only (save "{save}")'
        return "none", 'appendonly no and save ""'

    async def _eviction_policy(self) -> str | None:
        policy = await self._config("maxmemory-policy")
        if policy is not None:
            return policy
        info = await self._client.info("memory")
        found = text(info.get("maxmemory_policy"))
        return found or None

    async def _processes(self) -> tuple[str, ...]:
        pattern = _glob_escape(self._alive) + "*"
        own = self._own.name if self._own is not None else ""
        names = {
            text(key)[len(self._alive) :]
            async for key in self._client.scan_iter(match=pattern, count=500)
        }
        return tuple(sorted(names - {own}))
