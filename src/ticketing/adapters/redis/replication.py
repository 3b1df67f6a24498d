"""Replication: an acceptance confirmed only once replicas hold it (``WAIT``), and the sentinel
topology as the doctor reports it."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Final, cast

from redis.asyncio.cluster import PipelineCommand, RedisCluster
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.exceptions import RedisError

from ticketing.adapters.redis.connection import RedisClient, describe, store_errors
from ticketing.adapters.redis.streams import text
from ticketing.domain.errors import StoreUnavailable

WAIT_PROBE: Final = "wait-probe"
_PROBE_MS: Final = 10_000


def same_slot_key(key: str, suffix: str) -> str:
    """A key in ``key``'s hash slot: its hash tag (or the whole name as one) plus ``suffix``."""
    start = key.find("{")
    end = key.find("}", start + 1)
    if start != -1 and end > start + 1:
        return key[start : end + 1] + suffix
    return "{" + key + "}" + suffix


class ReplicaWait:
    """Confirms a write only once ``replicas`` replicas acknowledged it, within ``timeout``
    seconds (``REDIS_WAIT_REPLICAS``, ``REDIS_WAIT_TIMEOUT``).

    Redis's ``WAIT`` counts the replicas that hold the calling connection's last write. The
    write to confirm may have gone over any pooled connection, so one connection sends a
    small write of its own (a probe key in the same hash slot as ``anchor``) and then
    ``WAIT``: replication is one ordered stream per primary, so a replica that acknowledged
    the probe holds everything the primary applied before it. In a cluster both go to the
    node that owns ``anchor``'s slot, the primary the confirmed write went to.

    Args:
        client: The client the store writes with.
        anchor: A key the confirmed writes share a slot with (the pending queue stream).
        replicas: How many replicas must acknowledge; 0 confirms at once.
        timeout: Seconds ``WAIT`` may block (under the client's socket timeout).
    """

    def __init__(self, client: RedisClient, *, anchor: str, replicas: int, timeout: float) -> None:
        self._client = client
        self.replicas = replicas
        self.timeout = timeout
        self._probe = same_slot_key(anchor, ":" + WAIT_PROBE)

    def __repr__(self) -> str:
        return f"ReplicaWait(replicas={self.replicas}, timeout={self.timeout:g})"

    async def confirm(self, what: str) -> None:
        """Return once enough replicas hold every write made before the call.

        Raises:
            StoreUnavailable: too few replicas acknowledged in time, or Redis failed: the
                write is on the primary but not confirmed (the caller must not report it
                durable; repeating it is safe).
        """
        if self.replicas <= 0:
            return
        with store_errors(self._client, f"waiting for replicas to hold {what}"):
            acknowledged = await self._wait()
        if acknowledged < self.replicas:
            await self._ask_sentinels()
            raise StoreUnavailable(
                f"Redis at {describe(self._client)}: {acknowledged} of {self.replicas} "
                f"replica(s) acknowledged {what} within {self.timeout:g} s "
                "(REDIS_WAIT_REPLICAS); it is not confirmed, and repeating it is safe"
            )

    async def _wait(self) -> int:
        ms = max(1, int(self.timeout * 1000))
        if isinstance(self._client, RedisCluster):
            node = self._client.get_node_from_key(self._probe)
            if node is None:  # the slot map is being refreshed: not confirmed
                return 0
            commands = [
                PipelineCommand(0, "SET", self._probe, "1", "PX", _PROBE_MS),
                PipelineCommand(1, "WAIT", self.replicas, ms),
            ]
            await node.execute_pipeline(commands)
            for command in commands:
                if isinstance(command.result, Exception):
                    raise command.result
            return int(cast(int, commands[1].result))
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.set(self._probe, "1", px=_PROBE_MS)
            pipe.execute_command("WAIT", self.replicas, ms)
            _, acknowledged = await pipe.execute()
        return int(acknowledged)

    async def _ask_sentinels(self) -> None:
        """Under a sentinel, a primary that lost its replicas may have been replaced: asking
        the sentinels drops the idle connections to the old one, so the caller's retry goes
        to the new primary."""
        pool = getattr(self._client, "connection_pool", None)
        if isinstance(pool, SentinelConnectionPool):
            with contextlib.suppress(RedisError, OSError):  # the next connection asks again
                await pool.get_master_address()  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class ReplicaSeen:
    """A replica as a sentinel sees it."""

    address: str
    link: str  # the replica's link to its primary: ok, err
    flags: str  # e.g. slave; slave,s_down


@dataclass(frozen=True)
class SentinelTopology:
    """What the sentinels say of the primary ``name``: for ``doctor``."""

    name: str
    primary: str | None  # host:port, or None when no sentinel answered
    quorum: int | None
    replicas: list[ReplicaSeen] = field(default_factory=list)
    sentinels_configured: list[str] = field(default_factory=list)  # REDIS_URL's
    sentinels_answering: list[str] = field(default_factory=list)
    sentinels_known: int = 0  # the sentinels the first that answered knows, itself included
    problems: list[str] = field(default_factory=list)


async def sentinel_topology(client: RedisClient) -> SentinelTopology | None:
    """The topology behind a ``REDIS_MODE=sentinel`` client (None for another client): the
    primary's address, its replicas, the sentinels that answered and their quorum, and what
    an operator should know (a sentinel unreachable, fewer sentinels than a quorum can fail
    over with, no healthy replica)."""
    pool = getattr(client, "connection_pool", None)
    if not isinstance(pool, SentinelConnectionPool):
        return None
    manager: Sentinel = pool.sentinel_manager
    name = pool.service_name
    configured: list[str] = []
    answering: list[str] = []
    problems: list[str] = []
    master: dict[str, Any] | None = None
    replicas: list[ReplicaSeen] = []
    known = 0
    for sentinel in manager.sentinels:
        kwargs = sentinel.connection_pool.connection_kwargs
        where = f"{kwargs.get('host')}:{kwargs.get('port')}"
        configured.append(where)
        try:
            seen = cast(dict[str, Any], await sentinel.sentinel_master(name))
            if master is None:
                master = seen
                replicas = [
                    ReplicaSeen(
                        address=f"{r['ip']}:{r['port']}",
                        link=text(r.get("master-link-status", "")),
                        flags=text(r.get("flags", "")),
                    )
                    for r in await sentinel.sentinel_slaves(name)
                ]
                known = int(seen.get("num-other-sentinels", 0)) + 1
        except (RedisError, OSError) as exc:
            problems.append(f"sentinel {where} does not answer for {name!r}: {exc}")
            continue
        answering.append(where)
    quorum = int(master["quorum"]) if master else None
    if master is None:
        return SentinelTopology(name, None, None, [], configured, answering, 0, problems)
    if quorum is not None and known < quorum:
        problems.append(f"{known} sentinel(s) known, fewer than the quorum {quorum}")
    if known < 3:
        problems.append(f"{known} sentinel(s): a failover needs a majority, so run 3 or more")
    if not any(r.link == "ok" and "down" not in r.flags for r in replicas):
        problems.append("no healthy replica: a failover has nothing to promote")
    return SentinelTopology(
        name=name,
        primary=f"{master['ip']}:{master['port']}",
        quorum=quorum,
        replicas=replicas,
        sentinels_configured=configured,
        sentinels_answering=answering,
        sentinels_known=known,
        problems=problems,
    )
