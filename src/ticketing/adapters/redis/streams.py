"""Streams the service shares with nobody else: who owns a name, and trimming what is done."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from ticketing.domain.errors import ConfigurationError

log = logging.getLogger(__name__)

# <stream>:owners, a hash: reader (a consumer group, or "dead letters") → the REDIS_KEY_PREFIX of
# the deployment that reads the stream that way. Tiny, one per stream, kept for good.
OWNERS_SUFFIX: Final = ":owners"


# KEYS: stream. ARGV: group, consumer. Deletes the consumer only if it holds nothing at that
# moment: DELCONSUMER drops what a consumer holds, and a live one may have just read entries.
_FORGET_CONSUMER = """
if #redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2]) > 0 then
  return 0
end
redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
return 1
"""


@dataclass(frozen=True)
class StreamUse:
    """One way a deployment reads a stream: ``reader`` is its consumer group (or a word such as
    "dead letters"); ``setting`` is the variable that names the stream."""

    setting: str
    stream: str
    reader: str


async def claim_streams(client: aioredis.Redis, prefix: str, uses: Sequence[StreamUse]) -> None:
    """Record that the deployment with ``prefix`` reads these streams; refuse (one line) when a
    deployment with another prefix reads one of them the same way, which would let each take
    the other's entries.

    Raises:
        ConfigurationError: a stream is read the same way by another prefix.
    """
    for use in uses:
        owners = use.stream + OWNERS_SUFFIX
        await client.hsetnx(owners, use.reader, prefix)
        owner = _text(await client.hget(owners, use.reader))
        if owner != prefix:
            raise ConfigurationError(
                f"{use.setting}: {use.stream} ({use.reader}) is already used by the deployment "
                f"with REDIS_KEY_PREFIX {owner!r}, and this one has {prefix!r}; two deployments "
                f"would take each other's entries. Unset {use.setting} to get "
                f"{prefix}-prefixed names, or, if that deployment is gone or was this one under "
                f"its old prefix, run: redis-cli HDEL {owners} {use.reader}"
            )


async def legacy_consumed(client: aioredis.Redis, stream: str, group: str) -> int | None:
    """How many entries ``stream`` holds when consumer group ``group`` reads it; None when the
    stream or the group does not exist."""
    try:
        groups = await client.xinfo_groups(stream)
    except ResponseError:
        return None  # no such stream
    if not any(_text(g.get("name")) == group for g in groups):
        return None
    return int(await client.xlen(stream))


def replay_from(now: datetime, retention: float, *, margin: float = 3600.0) -> str:
    """The oldest stream id it is safe to replay from: entries after it are younger than the
    ledger's retention (less a margin for the time it takes to act), so every one of them that
    was handled before is still remembered, and none becomes a second ticket."""
    margin = min(margin, retention / 10)
    return f"{int((now.timestamp() - retention + margin) * 1000)}-0"


async def trim_consumed(client: aioredis.Redis, stream: str, older_than: datetime) -> int:
    """Trim ``stream`` (XTRIM MINID) of entries older than ``older_than`` that
    every consumer group has been given and acknowledged; returns how many went.

    Never below any group's oldest unacknowledged entry or first undelivered one, so work in
    flight or not yet read is never lost; without any group, nothing is trimmed.
    """
    floor = (int(older_than.timestamp() * 1000), 0)
    try:
        groups = await client.xinfo_groups(stream)
    except ResponseError:
        return 0
    if not groups:
        return 0
    for group in groups:
        last = _id(group.get("last-delivered-id"))
        floor = min(floor, (last[0], last[1] + 1))
        if int(group.get("pending") or 0):
            summary = await client.xpending(stream, _text(group.get("name")))
            if summary.get("min"):
                floor = min(floor, _id(summary["min"]))
    if floor <= (0, 0):
        return 0
    # Exact, not "~": an approximate trim only drops whole stream nodes (100 entries), and
    # this runs every few minutes, so its cost is the entries it drops.
    return int(await client.xtrim(stream, minid=f"{floor[0]}-{floor[1]}", approximate=False))


async def forget_idle_consumers(
    client: aioredis.Redis, stream: str, group: str, idle: float
) -> int:
    """Delete the group's consumers that hold nothing and were idle for ``idle`` seconds (each
    process start adds one, so the list would otherwise grow forever); returns how many."""
    try:
        consumers = await client.xinfo_consumers(stream, group)
    except ResponseError:
        return 0
    forget = client.register_script(_FORGET_CONSUMER)
    gone = 0
    for consumer in consumers:
        if int(consumer.get("pending") or 0) == 0 and int(consumer.get("idle") or 0) > idle * 1000:
            gone += int(await forget(keys=[stream], args=[group, _text(consumer.get("name"))]))
    return gone


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else "" if value is None else str(value)


def _id(value: Any) -> tuple[int, int]:
    ms, _, seq = _text(value).partition("-")
    return int(ms or 0), int(seq or 0)
