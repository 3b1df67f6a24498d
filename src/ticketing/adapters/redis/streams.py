"""The Redis Streams protocol in one place: consumer groups (create, own pending, reclaim, new,
ack, entries whose payload is gone, RESP2 and RESP3 replies), stream ownership and trimming."""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Collection,
    Iterable,
    Mapping,
    Sequence,
)
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ResponseError

from ticketing.adapters.redis.connection import RedisClient
from ticketing.adapters.redis.scripts import ForgetConsumer
from ticketing.domain.errors import ConfigurationError

log = logging.getLogger(__name__)

# In a cluster, streams of several hash slots cannot be read by one XREADGROUP: each slot's
# streams are read on their own, and when none has anything, one of them is waited on for at
# most this long (in turn), so that entries on the others wait no longer than that.
CLUSTER_BLOCK_MS: Final = 100

# <stream>:owners, a hash: reader (a consumer group, or "dead letters") → the REDIS_KEY_PREFIX of
# the deployment that reads the stream that way. Tiny, one per stream, kept for good.
OWNERS_SUFFIX: Final = ":owners"


@dataclass(frozen=True, slots=True)
class StreamEntry:
    """One entry read through a consumer group.

    ``fields`` has text names and the values as the client returned them (bytes unless it
    decodes responses): a payload that is not UTF-8 reaches whoever decodes it as it was sent.
    """

    stream: str
    id: str
    fields: Mapping[str, Any]

    @property
    def gone(self) -> bool:
        """Deleted or trimmed while in a pending list: only its pending record is left, so
        there is nothing to handle, only that record to acknowledge."""
        return not self.fields

    @property
    def payload(self) -> Any | None:
        """The ``payload`` field; None for an entry in another program's format."""
        return self.fields.get("payload")

    def text_fields(self, errors: str = "strict") -> dict[str, str]:
        """Every field as text (``errors`` as for ``bytes.decode``)."""
        return {name: text(value, errors) for name, value in self.fields.items()}

    def fields_json(self, *, errors: str = "strict", ensure_ascii: bool = True) -> str:
        """Every field as one JSON object: what a dead letter keeps of an entry without a
        payload, so nothing is lost and a replay can still read it."""
        return json.dumps(self.text_fields(errors), ensure_ascii=ensure_ascii)


def read_reply(reply: Any) -> list[StreamEntry]:
    """The entries of an XREADGROUP (or XREAD) reply, in order, whichever protocol the client
    speaks: RESP2 ``[[stream, entries], ...]``, RESP3 ``{stream: [entries]}`` (which redis-py
    may wrap once more, ``{stream: [[entries]]}``)."""
    if not reply:
        return []
    by_stream: Iterable[Any] = reply.items() if isinstance(reply, Mapping) else reply
    found: list[StreamEntry] = []
    for stream, entries in by_stream:
        if entries and isinstance(entries[0], list):
            entries = entries[0]
        found.extend(_entries(text(stream), entries))
    return found


def _entries(stream: str, raw: Iterable[Any]) -> list[StreamEntry]:
    # Redis 6.2 reports an entry deleted while pending as a nil id in XAUTOCLAIM (7 drops it).
    return [
        StreamEntry(
            stream, text(entry_id), {text(k, "replace"): v for k, v in (fields or {}).items()}
        )
        for entry_id, fields in raw
        if entry_id is not None
    ]


def by_slot(client: RedisClient, keys: Iterable[str]) -> list[list[str]]:
    """``keys`` grouped by hash slot, in order of first appearance: a cluster runs a
    multi-key command (XREADGROUP of several streams, MULTI) only on keys of one slot. One
    group off a cluster."""
    keys = list(keys)
    if not isinstance(client, RedisCluster):
        return [keys] if keys else []
    groups: dict[int, list[str]] = {}
    for key in keys:
        groups.setdefault(client.keyslot(key), []).append(key)
    return list(groups.values())


# How many entries the next page may hold (zero or less ends the step).
Wanted = Callable[[], int]
Pages = AsyncIterator[list[StreamEntry]]
# Which of these consumers belong to a living process (a heartbeat, see ``liveness.py``).
Living = Callable[[Sequence[str]], Awaitable[Collection[str]]]


def _rounds(most: int | None) -> Iterable[int]:
    return range(most) if most is not None else itertools.count()


class ConsumerGroup:
    """One consumer group's side of the Redis Streams protocol, for any stream it reads.

    A consumer takes work in this order, each step a page at a time (``wanted`` says how many
    entries the next page may hold; zero or less ends the step): the entries it was given
    before and did not acknowledge (it crashed, or their handling failed), then the entries
    other consumers left idle for ``idle_ms`` (they died), then new ones. Pages come as
    :class:`StreamEntry` lists; an entry that is :attr:`~StreamEntry.gone` only needs its
    acknowledgement. ``rounds`` bounds the pages of one step, so a pending list full of
    deleted entries cannot spin a caller forever.

    Args:
        client: An asyncio Redis client, speaking RESP2 or RESP3.
        name: The consumer group.
    """

    def __init__(self, client: RedisClient, name: str) -> None:
        self._client = client
        self.name = name
        self._ready: set[str] = set()
        self._turn = 0  # which slot's streams a cluster read waits on next

    def __repr__(self) -> str:
        return f"ConsumerGroup({self.name!r})"

    async def create(self, stream: str, *, start: str = "0") -> bool:
        """Create the group on ``stream`` (and the stream: MKSTREAM), reading from ``start``;
        False when it exists already (BUSYGROUP is no error)."""
        try:
            await self._client.xgroup_create(stream, self.name, id=start, mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
            created = False
        else:
            created = True
        self._ready.add(stream)
        return created

    async def ensure(self, stream: str, *, start: str = "0") -> None:
        """:meth:`create`, once per stream for this object (until :meth:`forget`)."""
        if stream not in self._ready:
            await self.create(stream, start=start)

    def forget(self, stream: str) -> None:
        """The group on ``stream`` is gone (NOGROUP: a FLUSHDB, an operator): the next
        :meth:`ensure` creates it again."""
        self._ready.discard(stream)

    async def take(
        self, consumer: str, stream: str, count: int, min_idle: float, *, rounds: int = 16
    ) -> list[StreamEntry]:
        """Up to ``count`` entries of one stream for ``consumer`` (:meth:`claim`'s order: its
        own, others' idle ``min_idle`` seconds, new ones), the group made first and again if
        it went missing (NOGROUP). Entries that are :attr:`~StreamEntry.gone` are included."""
        await self.ensure(stream)
        try:
            return await self._take(consumer, stream, count, min_idle, rounds)
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            self.forget(stream)
            await self.ensure(stream)
            return await self._take(consumer, stream, count, min_idle, rounds)

    async def _take(
        self, consumer: str, stream: str, count: int, min_idle: float, rounds: int
    ) -> list[StreamEntry]:
        taken: dict[str, StreamEntry] = {}

        def wanted() -> int:
            return count - len(taken)

        async for page in self.claim(consumer, stream, int(min_idle * 1000), wanted, rounds=rounds):
            for entry in page:
                taken.setdefault(entry.id, entry)
        return list(taken.values())

    async def read(
        self,
        consumer: str,
        streams: Mapping[str, str],
        count: int,
        *,
        block_ms: int | None = None,
    ) -> list[StreamEntry]:
        """One XREADGROUP: from each stream, the entries after the id given (``>``: new ones,
        delivered to nobody before; an id: this consumer's own pending entries after it)."""
        if count <= 0:
            return []
        slots = by_slot(self._client, streams)
        if len(slots) <= 1:
            return await self._read(consumer, streams, count, block_ms)
        # A cluster, streams in several slots: each slot's at once, then wait on one of them.
        found: list[StreamEntry] = []
        for keys in slots:
            wanted = {key: streams[key] for key in keys}
            found += await self._read(consumer, wanted, count - len(found), None)
            if len(found) >= count:
                return found
        if found or not block_ms:
            return found
        keys = slots[self._turn % len(slots)]
        self._turn += 1
        wait = min(block_ms, CLUSTER_BLOCK_MS)
        return await self._read(consumer, {key: streams[key] for key in keys}, count, wait)

    async def _read(
        self, consumer: str, streams: Mapping[str, str], count: int, block_ms: int | None
    ) -> list[StreamEntry]:
        ids: dict[Any, Any] = dict(streams)
        reply = await self._client.xreadgroup(self.name, consumer, ids, count=count, block=block_ms)
        return read_reply(reply)

    async def own(
        self, consumer: str, stream: str, wanted: Wanted, *, rounds: int | None = None
    ) -> Pages:
        """Pages of the entries ``consumer`` was given before and did not acknowledge."""
        async for page in self._pages(consumer, stream, "0", wanted, rounds):
            yield page

    async def new(
        self, consumer: str, stream: str, wanted: Wanted, *, rounds: int | None = None
    ) -> Pages:
        """Pages of new entries, never delivered to anyone."""
        async for page in self._pages(consumer, stream, ">", wanted, rounds):
            yield page

    async def reclaim(
        self, consumer: str, stream: str, idle_ms: int, wanted: Wanted, *, rounds: int | None = None
    ) -> Pages:
        """Pages of the entries other consumers have left idle for ``idle_ms``, now
        ``consumer``'s (XAUTOCLAIM, all through the pending list once)."""
        cursor = "0-0"
        for _ in _rounds(rounds):
            count = wanted()
            if count <= 0:
                return
            reply = await self._client.xautoclaim(
                stream,
                self.name,
                consumer,
                min_idle_time=max(0, idle_ms),
                start_id=cursor,
                count=count,
            )
            cursor = text(reply[0])
            page = _entries(stream, reply[1])
            if page:
                yield page
            if cursor == "0-0":
                return

    async def dead(self, stream: str, living: Living) -> list[tuple[str, int]]:
        """The group's consumers on ``stream`` whose process is gone (``living`` does not name
        them), each with how many entries it holds."""
        consumers = [
            (text(info.get("name")), int(info.get("pending") or 0))
            for info in await self._client.xinfo_consumers(stream, self.name)
        ]
        alive = await living([name for name, _ in consumers])
        return [(name, held) for name, held in consumers if name not in alive]

    async def take_over(
        self,
        consumer: str,
        stream: str,
        living: Living,
        min_idle_ms: int,
        wanted: Wanted,
        *,
        rounds: int | None = None,
    ) -> Pages:
        """Pages of the entries held by consumers whose process is gone, now ``consumer``'s
        (XCLAIM); each such consumer is deleted from the group once it holds nothing (which
        also clears the consumers that CLI runs left).

        A living process's entries are never taken: ``living`` decides, and ``min_idle_ms``
        (small, never 0) spares an entry delivered since ``living`` answered, to a restarted
        process that has the dead one's name.
        """
        for dead, held in await self.dead(stream, living):
            if dead != consumer:
                async for page in self.take_from(
                    consumer, stream, dead, held, min_idle_ms, wanted, rounds=rounds
                ):
                    yield page

    async def take_from(
        self,
        consumer: str,
        stream: str,
        dead: str,
        held: int,
        min_idle_ms: int,
        wanted: Wanted,
        *,
        rounds: int | None = None,
    ) -> Pages:
        """:meth:`take_over` of one consumer ``dead`` (holding ``held`` entries), known to be
        gone."""
        for _ in _rounds(rounds) if held else ():
            count = wanted()
            if count <= 0:
                return
            rows = await self._client.xpending_range(
                stream, self.name, "-", "+", count, consumername=dead
            )
            if not rows:
                break
            ids: list[Any] = [text(row["message_id"]) for row in rows]
            claimed = await self._client.xclaim(
                stream, self.name, consumer, max(1, min_idle_ms), ids
            )
            page = _entries(stream, claimed)
            if page:
                yield page
            if len(page) < len(ids):
                break  # too fresh (a living holder), or gone: looked at on the next scan
        await ForgetConsumer(self._client)(stream=stream, group=self.name, consumer=dead)

    async def claim(
        self, consumer: str, stream: str, idle_ms: int, wanted: Wanted, *, rounds: int | None = None
    ) -> Pages:
        """:meth:`own`, then :meth:`reclaim`, then :meth:`new` pages (an entry reclaimed may
        be one of the consumer's own, seen before: the caller skips those it has)."""
        async for page in self.own(consumer, stream, wanted, rounds=rounds):
            yield page
        async for page in self.reclaim(consumer, stream, idle_ms, wanted, rounds=rounds):
            yield page
        async for page in self.new(consumer, stream, wanted, rounds=rounds):
            yield page

    async def ack(
        self, entries: Mapping[str, Sequence[str]], *, delete_from: Collection[str] = ()
    ) -> None:
        """Acknowledge entries of several streams in one atomic round trip (in a cluster, one
        per hash slot), and delete them from the streams in ``delete_from`` (streams only this
        group reads: a handled entry has nothing left to give)."""
        streams = [stream for stream, ids in entries.items() if ids]
        for keys in by_slot(self._client, streams):
            async with self._client.pipeline(transaction=True) as pipe:
                for stream in keys:
                    ids = entries[stream]
                    pipe.xack(stream, self.name, *ids)
                    if stream in delete_from:
                        pipe.xdel(stream, *ids)
                await pipe.execute()

    async def in_flight(self, stream: str) -> int:
        """Entries delivered to a consumer and not acknowledged yet (the pending list)."""
        summary = await self._client.xpending(stream, self.name)
        return int(summary["pending"])

    async def deliveries(self, stream: str, consumer: str, ids: Sequence[str]) -> dict[str, int]:
        """How often each of ``consumer``'s entries was delivered (one pipelined round trip);
        1 for an entry the pending list no longer holds."""
        if not ids:
            return {}
        async with self._client.pipeline(transaction=False) as pipe:
            for entry_id in ids:
                pipe.xpending_range(stream, self.name, entry_id, entry_id, 1, consumername=consumer)
            replies = await pipe.execute()
        return {
            entry_id: int(reply[0]["times_delivered"]) if reply else 1
            for entry_id, reply in zip(ids, replies, strict=True)
        }

    async def _pages(
        self,
        consumer: str,
        stream: str,
        start: str,
        wanted: Wanted,
        rounds: int | None,
    ) -> Pages:
        # Own entries are read after the last one seen; new ones (">") always from the end.
        for _ in _rounds(rounds):
            count = wanted()
            if count <= 0:
                return
            page = await self.read(consumer, {stream: start}, count)
            if page:
                if start != ">":
                    start = page[-1].id
                yield page
            if len(page) < count:
                return


@dataclass(frozen=True)
class StreamUse:
    """One way a deployment reads a stream: ``reader`` is its consumer group (or a word such as
    "dead letters"); ``setting`` is the variable that names the stream."""

    setting: str
    stream: str
    reader: str


async def claim_streams(client: RedisClient, prefix: str, uses: Sequence[StreamUse]) -> None:
    """Record that the deployment with ``prefix`` reads these streams; refuse (one line) when a
    deployment with another prefix reads one of them the same way, which would let each take
    the other's entries.

    Raises:
        ConfigurationError: a stream is read the same way by another prefix.
    """
    for use in uses:
        owners = use.stream + OWNERS_SUFFIX
        await client.hsetnx(owners, use.reader, prefix)
        owner = text(await client.hget(owners, use.reader))
        if owner != prefix:
            raise ConfigurationError(
                f"{use.setting}: {use.stream} ({use.reader}) is already used by the deployment "
                f"with REDIS_KEY_PREFIX {owner!r}, and this one has {prefix!r}; two deployments "
                f"would take each other's entries. Unset {use.setting} to get "
                f"{prefix}-prefixed names, or, if that deployment is gone or was this one under "
                f"its old prefix, run: redis-cli HDEL {owners} {use.reader}"
            )


async def legacy_consumed(client: RedisClient, stream: str, group: str) -> int | None:
    """How many entries ``stream`` holds when consumer group ``group`` reads it; None when the
    stream or the group does not exist."""
    try:
        groups = await client.xinfo_groups(stream)
    except ResponseError:
        return None  # no such stream
    if not any(text(g.get("name")) == group for g in groups):
        return None
    return int(await client.xlen(stream))


def replay_from(now: datetime, retention: float, *, margin: float = 3600.0) -> str:
    """The oldest stream id it is safe to replay from: entries after it are younger than the
    ledger's retention (less a margin for the time it takes to act), so every one of them that
    was handled before is still remembered, and none becomes a second ticket."""
    margin = min(margin, retention / 10)
    return f"{int((now.timestamp() - retention + margin) * 1000)}-0"


async def trim_consumed(client: RedisClient, stream: str, older_than: datetime) -> int:
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
            summary = await client.xpending(stream, text(group.get("name")))
            if summary.get("min"):
                floor = min(floor, _id(summary["min"]))
    if floor <= (0, 0):
        return 0
    # Exact, not "~": an approximate trim only drops whole stream nodes (100 entries), and
    # this runs every few minutes, so its cost is the entries it drops.
    return int(await client.xtrim(stream, minid=f"{floor[0]}-{floor[1]}", approximate=False))


async def forget_idle_consumers(client: RedisClient, stream: str, group: str, idle: float) -> int:
    """Delete the group's consumers that hold nothing and were idle for ``idle`` seconds (each
    process start adds one, so the list would otherwise grow forever); returns how many."""
    try:
        consumers = await client.xinfo_consumers(stream, group)
    except ResponseError:
        return 0
    forget = ForgetConsumer(client)
    gone = 0
    for consumer in consumers:
        if int(consumer.get("pending") or 0) == 0 and int(consumer.get("idle") or 0) > idle * 1000:
            name = text(consumer.get("name"))
            gone += await forget(stream=stream, group=group, consumer=name)
    return gone


def text(value: Any, errors: str = "strict") -> str:
    """A reply value as text, whether or not the client decodes responses."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors)
    return "" if value is None else str(value)


def _id(value: Any) -> tuple[int, int]:
    ms, _, seq = text(value).partition("-")
    return int(ms or 0), int(seq or 0)
