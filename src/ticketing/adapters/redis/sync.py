"""The two-way sync on Redis: the event streams ``tickets:replies`` and ``tickets:status``
(each event appended once per event id, ``lua/append_once.lua``), the status marks, the
service's own comments, the poller's cursor, and the inbox of webhook deliveries."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

from ticketing.adapters.redis.connection import RedisClient, store_errors
from ticketing.adapters.redis.layout import KeyLayout
from ticketing.adapters.redis.scripts import register
from ticketing.adapters.redis.streams import ConsumerGroup, text
from ticketing.domain.conversation import WebhookEvent
from ticketing.domain.ports import EventStream, InboxEntry, StatusMark

REPLIES_STREAM: Final = "tickets:replies"
STATUS_STREAM: Final = "tickets:status"
EVENTS_MAXLEN: Final = 100_000
# <stream>:once:<event id> marks an event appended (in the stream's slot, lua/append_once).
ONCE_SUFFIX: Final = ":once:"
# The service's own keys (in a cluster, in the pending stream's slot: KeyLayout.own).
MARK_PREFIX: Final = "ticketing:sync:status:"  # hash {status, seq} per ticket id
OWN_COMMENT_PREFIX: Final = "ticketing:sync:own-comment:"
CURSOR_KEY: Final = "ticketing:sync:cursor"
WEBHOOK_KEY: Final = "ticketing:sync:webhook"  # the id `ticketing webhooks setup` registered
INBOX_STREAM: Final = "ticketing:sync:inbox"
INBOX_GROUP: Final = "ticketing-sync"
RETENTION_SECONDS: Final = 7 * 24 * 3600
# Bounds the read loops of one claim, as the ticket store's.
_MAX_ROUNDS = 16


class RedisSyncLog:
    """The ``SyncLog`` port on Redis.

    Args:
        client: An asyncio Redis client.
        prefix: REDIS_KEY_PREFIX: before every key, stream and channel name.
        layout: Where the service's own keys live (:class:`KeyLayout`).
        retention: Seconds an event's marker, a status mark and an own comment are kept
            (the ledger's: a ticket is the service's as long as its ledger record).
        maxlen: Approximate cap of each event stream.
    """

    def __init__(
        self,
        client: RedisClient,
        *,
        prefix: str = "",
        layout: KeyLayout | None = None,
        replies: str = REPLIES_STREAM,
        status: str = STATUS_STREAM,
        retention: int = RETENTION_SECONDS,
        maxlen: int = EVENTS_MAXLEN,
    ) -> None:
        self._client = client
        self.layout = layout = layout or KeyLayout()
        self.streams: dict[EventStream, str] = {
            "replies": prefix + replies,
            "status": prefix + status,
        }
        self._marks = layout.own(prefix + MARK_PREFIX)
        self._own = layout.own(prefix + OWN_COMMENT_PREFIX)
        self._cursor = layout.own(prefix + CURSOR_KEY)
        self._webhook = layout.own(prefix + WEBHOOK_KEY)
        self.retention = retention
        self.maxlen = maxlen
        self._append = register(client, "append_once")
        self._mark = register(client, "sync_mark")

    def __repr__(self) -> str:
        return f"RedisSyncLog(replies={self.streams['replies']!r})"

    def marker(self, stream: EventStream, event_id: str) -> str:
        """The key that says ``event_id`` is on ``stream`` (in the stream's slot)."""
        return self.layout.beside(self.streams[stream], ONCE_SUFFIX + event_id)

    async def append(self, stream: EventStream, event_id: str, payload: str) -> bool:
        name = self.streams[stream]
        args: list[Any] = [self.retention, self.maxlen, "", name, "payload", payload]
        with store_errors(self._client, f"appending event {event_id} to {name}"):
            reply = await self._append(keys=[name, self.marker(stream, event_id)], args=args)
        return int(reply) == 1

    async def seen(self, stream: EventStream, event_id: str) -> bool:
        with store_errors(self._client, f"looking for event {event_id}"):
            return bool(await self._client.exists(self.marker(stream, event_id)))

    async def status_mark(self, ticket_id: str) -> StatusMark | None:
        with store_errors(self._client, f"reading the status mark of ticket {ticket_id}"):
            found = await self._client.hgetall(self._marks + ticket_id)
        if not found:
            return None
        fields = {text(k): text(v) for k, v in found.items()}
        return StatusMark(fields.get("status", ""), int(fields.get("seq") or 0))

    async def set_status_mark(self, ticket_id: str, expected_seq: int, mark: StatusMark) -> bool:
        args: list[Any] = [expected_seq, mark.status, mark.seq, self.retention]
        with store_errors(self._client, f"moving the status mark of ticket {ticket_id}"):
            reply = await self._mark(keys=[self._marks + ticket_id], args=args)
        return int(reply) == 1

    async def record_own_comment(self, comment_id: str) -> None:
        with store_errors(self._client, f"recording comment {comment_id} as the service's"):
            await self._client.set(self._own + comment_id, "1", ex=self.retention)

    async def is_own_comment(self, comment_id: str) -> bool:
        with store_errors(self._client, f"looking up comment {comment_id}"):
            return bool(await self._client.exists(self._own + comment_id))

    async def poll_cursor(self) -> datetime | None:
        with store_errors(self._client, "reading the poll cursor"):
            value = await self._client.get(self._cursor)
        return None if value is None else datetime.fromisoformat(text(value))

    async def set_poll_cursor(self, until: datetime) -> None:
        with store_errors(self._client, "moving the poll cursor"):
            await self._client.set(self._cursor, until.isoformat())

    async def registered_webhook(self) -> str | None:
        with store_errors(self._client, "reading the registered webhook"):
            value = await self._client.get(self._webhook)
        return None if value is None else text(value)

    async def set_registered_webhook(self, webhook_id: str | None) -> None:
        with store_errors(self._client, "recording the registered webhook"):
            if webhook_id is None:
                await self._client.delete(self._webhook)
            else:
                await self._client.set(self._webhook, webhook_id)


def encode_events(events: Sequence[WebhookEvent]) -> str:
    return json.dumps(
        [
            {
                "event_type": e.event_type,
                "org_id": e.org_id,
                "ticket_id": e.ticket_id,
                "resource_id": e.resource_id,
                "event_time": e.event_time.isoformat() if e.event_time else None,
                "status": e.status,
                "previous_status": e.previous_status,
            }
            for e in events
        ],
        separators=(",", ":"),
    )


def decode_events(raw: Any) -> tuple[WebhookEvent, ...]:
    """What :func:`encode_events` wrote; an entry that is not (another program's) gives none."""
    try:
        items = json.loads(text(raw))
        return tuple(
            WebhookEvent(
                event_type=str(item["event_type"]),
                org_id=item.get("org_id"),
                ticket_id=item.get("ticket_id"),
                resource_id=item.get("resource_id"),
                event_time=(
                    datetime.fromisoformat(item["event_time"]) if item.get("event_time") else None
                ),
                status=item.get("status"),
                previous_status=item.get("previous_status"),
            )
            for item in items
        )
    except (ValueError, TypeError, KeyError, AttributeError):
        return ()


class RedisSyncInbox:
    """The ``SyncInbox`` port on a Redis stream read by one consumer group: an entry is
    deleted when it is acknowledged, and one a dead consumer held is reclaimed after it has
    been idle (``streams.ConsumerGroup``)."""

    def __init__(
        self,
        client: RedisClient,
        *,
        prefix: str = "",
        layout: KeyLayout | None = None,
        stream: str = INBOX_STREAM,
        group: str = INBOX_GROUP,
    ) -> None:
        self._client = client
        self.stream = (layout or KeyLayout()).own(prefix + stream)
        self._group = ConsumerGroup(client, group)

    def __repr__(self) -> str:
        return f"RedisSyncInbox(stream={self.stream!r})"

    async def put(self, events: Sequence[WebhookEvent]) -> str:
        with store_errors(self._client, "storing a webhook delivery"):
            entry_id = await self._client.xadd(self.stream, {"events": encode_events(events)})
        return text(entry_id)

    async def claim(self, consumer: str, count: int, min_idle: float) -> list[InboxEntry]:
        if count <= 0:
            return []
        with store_errors(self._client, f"claiming webhook deliveries for {consumer!r}"):
            entries = await self._group.take(
                consumer, self.stream, count, min_idle, rounds=_MAX_ROUNDS
            )
            gone = [e.id for e in entries if e.gone]
            if gone:
                await self._group.ack({self.stream: gone}, delete_from={self.stream})
            live = [e for e in entries if not e.gone]
            times = await self._group.deliveries(self.stream, consumer, [e.id for e in live])
        return [
            InboxEntry(e.id, decode_events(e.fields.get("events", b"")), times.get(e.id, 1))
            for e in live
        ]

    async def ack(self, entry_ids: Sequence[str]) -> None:
        if not entry_ids:
            return
        with store_errors(self._client, "acknowledging webhook deliveries"):
            await self._group.ack({self.stream: list(entry_ids)}, delete_from={self.stream})

    async def backlog(self) -> int:
        with store_errors(self._client, "counting webhook deliveries"):
            return int(await self._client.xlen(self.stream))

    async def oldest(self) -> datetime | None:
        # An acknowledged entry is deleted, so the stream's first entry is the oldest one
        # not handled yet; its id is Redis's clock (ms) when it was stored.
        with store_errors(self._client, "reading the oldest webhook delivery"):
            first = await self._client.xrange(self.stream, count=1)
        if not first:
            return None
        return stream_time(text(first[0][0]))


def stream_time(entry_id: str) -> datetime:
    """When Redis stored a stream entry: the milliseconds part of its id."""
    return datetime.fromtimestamp(int(entry_id.split("-", 1)[0]) / 1000, tz=UTC)
