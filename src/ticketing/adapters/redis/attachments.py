"""Attachments on Redis: the bytes staged for an upload (``ticketing:blob:<id>``, written and
read in chunks), the queue of attachment jobs (``ticketing:attachments``, consumer group
``ticketing-attachments``; a job is added by ``lua/complete.lua`` with its ticket) and each
job's progress (``ticketing:attachments:<key>``, a hash)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Final

from ticketing.adapters.codec import PayloadError, decode_attachments
from ticketing.adapters.redis.connection import RedisClient, store_errors
from ticketing.adapters.redis.layout import KeyLayout
from ticketing.adapters.redis.store import ATTACHMENTS_STREAM
from ticketing.adapters.redis.streams import ConsumerGroup, StreamEntry, text
from ticketing.domain.attachments import AttachmentJob, FileSource

BLOB_PREFIX: Final = "ticketing:blob:"
PROGRESS_PREFIX: Final = "ticketing:attachments:"
ATTACHMENTS_GROUP: Final = "ticketing-attachments"
# Bytes per round trip when staging or reading a file: a 20 MB file is never whole in memory.
CHUNK: Final = 1024 * 1024
RETENTION_SECONDS: Final = 7 * 24 * 3600
_MAX_ROUNDS = 16


class RedisBlob:
    """Staged bytes read back in chunks (``GETRANGE``), as many times as asked."""

    def __init__(self, client: RedisClient, key: str, size: int) -> None:
        self._client = client
        self._key = key
        self._size = size

    @property
    def size(self) -> int:
        return self._size

    async def chunks(self) -> AsyncIterator[bytes]:
        start = 0
        while start < self._size:
            end = min(start + CHUNK, self._size) - 1
            with store_errors(self._client, "reading a staged attachment"):
                part = await self._client.getrange(self._key, start, end)
            if not part:
                return
            yield part if isinstance(part, bytes) else str(part).encode("latin-1")
            start = end + 1


class RedisAttachmentBlobs:
    """The ``AttachmentBlobs`` port on Redis: one string per file, written with ``APPEND`` a
    chunk at a time (under a temporary name, renamed when whole, so a reader never sees half
    a file) and expiring with the ledger."""

    def __init__(
        self, client: RedisClient, *, prefix: str = "", layout: KeyLayout | None = None
    ) -> None:
        self._client = client
        self._prefix = (layout or KeyLayout()).own(prefix + BLOB_PREFIX)

    def __repr__(self) -> str:
        return f"RedisAttachmentBlobs(prefix={self._prefix!r})"

    async def put(self, blob_id: str, chunks: AsyncIterator[bytes], ttl: float) -> int:
        key = self._prefix + blob_id
        partial = key + ":partial"
        size = 0
        with store_errors(self._client, f"staging attachment {blob_id!r}"):
            await self._client.delete(partial)
            async for chunk in chunks:
                if chunk:
                    size = int(await self._client.append(partial, chunk))
                    await self._client.expire(partial, int(ttl))
            if size == 0:
                await self._client.set(key, b"", ex=max(1, int(ttl)))
            else:
                await self._client.rename(partial, key)
                await self._client.expire(key, max(1, int(ttl)))
        return size

    async def open(self, blob_id: str) -> FileSource | None:
        key = self._prefix + blob_id
        with store_errors(self._client, f"reading attachment {blob_id!r}"):
            if not await self._client.exists(key):
                return None
            size = int(await self._client.strlen(key))
        return RedisBlob(self._client, key, size)

    async def delete(self, blob_ids: Sequence[str]) -> None:
        if not blob_ids:
            return
        with store_errors(self._client, "deleting staged attachments"):
            for blob_id in blob_ids:  # one key each: in a cluster they share a slot anyway
                await self._client.delete(self._prefix + blob_id)


class RedisAttachmentWork:
    """The ``AttachmentWork`` port on Redis: the jobs stream read by one consumer group (an
    acknowledged job is deleted; one a dead consumer held is taken over once idle), and each
    job's progress in a hash kept as long as the ledger."""

    def __init__(
        self,
        client: RedisClient,
        *,
        prefix: str = "",
        layout: KeyLayout | None = None,
        stream: str = ATTACHMENTS_STREAM,
        group: str = ATTACHMENTS_GROUP,
        retention: int = RETENTION_SECONDS,
    ) -> None:
        layout = layout or KeyLayout()
        self._client = client
        self.stream = layout.own(prefix + stream)
        self._progress = layout.own(prefix + PROGRESS_PREFIX)
        self._group = ConsumerGroup(client, group)
        self._retention = retention

    def __repr__(self) -> str:
        return f"RedisAttachmentWork(stream={self.stream!r})"

    async def claim(self, consumer: str, count: int, min_idle: float) -> list[AttachmentJob]:
        if count <= 0:
            return []
        with store_errors(self._client, f"claiming attachment jobs for {consumer!r}"):
            entries = await self._group.take(
                consumer, self.stream, count, min_idle, rounds=_MAX_ROUNDS
            )
            unusable = [e.id for e in entries if e.gone or _job(e) is None]
            if unusable:
                await self._group.ack({self.stream: unusable}, delete_from={self.stream})
        return [job for e in entries if not e.gone and (job := _job(e)) is not None]

    async def ack(self, entry_id: str) -> None:
        with store_errors(self._client, "acknowledging an attachment job"):
            await self._group.ack({self.stream: [entry_id]}, delete_from={self.stream})

    async def progress(self, key: str) -> dict[str, str]:
        with store_errors(self._client, f"reading the attachments of {key!r}"):
            raw = await self._client.hgetall(self._progress + key)
        return {text(k): text(v) for k, v in raw.items()}

    async def record(self, key: str, fields: Mapping[str, str]) -> None:
        name = self._progress + key
        gone = [k for k, v in fields.items() if v == ""]
        kept = [part for k, v in fields.items() if v != "" for part in (k, v)]
        with store_errors(self._client, f"recording the attachments of {key!r}"):
            if gone:
                await self._client.hdel(name, *gone)
            if kept:
                await self._client.hset(name, items=kept)
            await self._client.expire(name, self._retention)

    async def backlog(self) -> int:
        with store_errors(self._client, "counting attachment jobs"):
            return int(await self._client.xlen(self.stream))


def _job(entry: StreamEntry) -> AttachmentJob | None:
    """A job from its stream entry: as ``complete.lua`` queues it, or a replayed dead letter
    (``payload``: one file of a request); None for what is neither."""
    fields = {text(k): v for k, v in entry.fields.items()}
    try:
        if "payload" in fields:
            data = json.loads(text(fields["payload"]))
            specs = decode_attachments(json.dumps(data["attachments"]))
            return AttachmentJob(
                entry.id,
                str(data["key"]),
                str(data["ticket_id"]),
                specs,
                joined=bool(data.get("joined")),
                only=int(data["index"]),
            )
        return AttachmentJob(
            entry.id,
            text(fields["key"]),
            text(fields["ticket_id"]),
            decode_attachments(text(fields["attachments"])),
            joined=text(fields.get("joined", b"0")) == "1",
        )
    except (KeyError, ValueError, TypeError, PayloadError):
        return None
