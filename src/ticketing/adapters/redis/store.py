"""The ticket store on Redis: pending stream, idempotency ledger, dead letters and events."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from redis.exceptions import RedisError, ResponseError

from ticketing.adapters.codec import (
    DEAD_PAYLOAD_BYTES,
    PayloadError,
    cut_payload,
    decode_draft,
    decode_event,
    encode_draft,
    encode_event,
    format_datetime,
    parse_datetime,
)
from ticketing.adapters.redis.connection import RedisClient, store_errors
from ticketing.adapters.redis.layout import KeyLayout
from ticketing.adapters.redis.liveness import ALIVE_PREFIX
from ticketing.adapters.redis.replication import ReplicaWait
from ticketing.adapters.redis.scripts import TicketScripts
from ticketing.adapters.redis.streams import ConsumerGroup, Living, StreamEntry, text
from ticketing.domain.errors import NotFound, StoreUnavailable, TicketTaken
from ticketing.domain.model import (
    Customer,
    DeadLetter,
    DeadLetterSearch,
    Joined,
    Outcome,
    PendingEntry,
    QueuedTicket,
    Source,
    TicketCreated,
    TicketDraft,
    TicketState,
    request_fingerprint,
)
from ticketing.domain.ports import Accepted, Clock, Leased

log = logging.getLogger(__name__)

PENDING_STREAM: Final = "tickets:pending"
DEAD_STREAM: Final = "tickets:dead"
CREATED_STREAM: Final = "tickets:created"
CONSUMER_GROUP: Final = "ticketing"
LEDGER_PREFIX: Final = "ticketing:ledger:"
# Each key's lease is ``<lease_prefix><key>``: the name the ``Leases`` port gave it before the
# store took the ticket leases over, so that processes of both versions exclude each other.
LEASE_PREFIX: Final = "ticket:"
# ``<owner_prefix><ticket id>`` holds the key a helpdesk ticket was recorded for, as long as
# that key's ledger record: an ambiguous create's look-up never takes another key's ticket.
OWNER_PREFIX: Final = "ticketing:ticket-key:"
# ``<request_prefix><request id>`` holds the key accepted under that request id (written with
# the acceptance, expiring after the retention): a request is found by its request_id too.
REQUEST_PREFIX: Final = "ticketing:request:"
# A follow-up's comment is recorded as its key's at <owner_prefix><COMMENT_OWNER><comment id>.
COMMENT_OWNER: Final = "comment:"
# Readiness writes this key (with a short expiry): Redis refuses it when it would refuse an
# acceptance (over maxmemory with noeviction, a read-only replica, a MISCONF snapshot error).
READY_PROBE: Final = "ticketing:ready-probe"
READY_PROBE_MS: Final = 5000
RETENTION_SECONDS: Final = 7 * 24 * 3600
CREATED_MAXLEN: Final = 100_000
DEAD_MAXLEN: Final = 10_000
# <dead>:raw:<digest> → the dead letter of a raw message, expiring with the retention. (The
# hash <dead>:raw that held every digest forever before is removed on the next raw burial.)
RAW_INDEX_SUFFIX: Final = ":raw"
PENDING_ORIGIN: Final = "pending"  # a dead letter's origin when it came off the pending queue
# The outbox: entries still to be appended to another stream (created events, dead letters),
# written in the same atomic step as the ledger change they belong to (see lua/lib_outbox).
OUTBOX_STREAM: Final = "ticketing:outbox"
# The attachment jobs: one per request with files, queued with its ticket's completion and
# worked by RedisAttachmentWork (its consumer group) once the ticket exists.
ATTACHMENTS_STREAM: Final = "ticketing:attachments"
# <target stream><ONCE_SUFFIX><outbox id> marks an outbox entry appended (lua/append_once).
ONCE_SUFFIX: Final = ":once:"
# <REPLAYED_PREFIX><dead letter id> marks a dead letter put back on the pending queue.
REPLAYED_PREFIX: Final = "ticketing:replayed:"
# Seconds between two looks at the outbox for entries a crash left (from claim).
OUTBOX_EVERY: Final = 5.0

# Bounds the read loops of one claim, so a PEL full of deleted entries cannot spin forever.
_MAX_ROUNDS = 16
_REPLAY_PAGE = 500
# Outbox entries appended before they are deleted together (also at each claim).
_FORGET_BATCH = 50
# Dead letters read per XREVRANGE while a reason filter counts its matches.
_DEAD_PAGE: Final = 500
# Entries taken over from a dead consumer per XCLAIM round trip.
_TAKEOVER_PAGE = 100


class RedisTicketStore:
    """The ``TicketStore`` port on Redis; each step that must be atomic is one Lua script.

    Args:
        client: An asyncio Redis client (see :func:`ticketing.adapters.redis.connection.connect`).
        clock: Stamps dead letters.
        prefix: Put before every key and channel name (tests use it as a namespace).
        pending: The pending queue stream (``TICKET_QUEUE_NAME``).
        dead: The dead-letter stream.
        created: The created-event stream.
        created_channel: The created-event pub/sub channel; defaults to ``created``.
        group: The consumer group draining ``pending``.
        ledger_prefix: Each idempotency key's ledger hash is ``<ledger_prefix><key>``.
        lease_prefix: Each idempotency key's lease is ``<lease_prefix><key>``.
        owner_prefix: Each created ticket's key is recorded at ``<owner_prefix><ticket id>``.
        request_prefix: Each accepted request's key is recorded at
            ``<request_prefix><request id>`` (the request-id index).
        alive_prefix: Each process's heartbeat is ``<alive_prefix><name>``: a ticket lease whose
            owner names a process without one (``<name>/<token>``) is taken over.
        outbox: The outbox stream (what is still to be appended to another stream).
        attachments: The attachment jobs stream (``complete.lua`` queues a request's files
            there; the attachments worker reads it under the same name).
        replayed_prefix: ``<replayed_prefix><dead letter id>`` marks a letter put back.
        retention: Seconds a finished (created or dead) key is remembered (LEDGER_RETENTION).
        created_maxlen: Approximate cap of the created-event stream.
        dead_maxlen: Approximate cap of the dead-letter stream (DEAD_LETTER_MAXLEN).
        dead_payload_bytes: Longest payload a dead letter keeps whole.
        layout: Where the store's own keys live (:class:`KeyLayout`: in a cluster, in the
            pending stream's slot); the prefixes above are put through ``layout.own``.
        replicas: Confirms every acceptance on replicas (``REDIS_WAIT_REPLICAS``); an
            acceptance they do not confirm raises StoreUnavailable.
    """

    def __init__(
        self,
        client: RedisClient,
        clock: Clock,
        *,
        prefix: str = "",
        pending: str = PENDING_STREAM,
        dead: str = DEAD_STREAM,
        created: str = CREATED_STREAM,
        created_channel: str | None = None,
        group: str = CONSUMER_GROUP,
        ledger_prefix: str = LEDGER_PREFIX,
        lease_prefix: str = LEASE_PREFIX,
        owner_prefix: str = OWNER_PREFIX,
        request_prefix: str = REQUEST_PREFIX,
        alive_prefix: str = ALIVE_PREFIX,
        outbox: str = OUTBOX_STREAM,
        attachments: str = ATTACHMENTS_STREAM,
        replayed_prefix: str = REPLAYED_PREFIX,
        retention: int = RETENTION_SECONDS,
        created_maxlen: int = CREATED_MAXLEN,
        dead_maxlen: int = DEAD_MAXLEN,
        dead_payload_bytes: int = DEAD_PAYLOAD_BYTES,
        layout: KeyLayout | None = None,
        replicas: ReplicaWait | None = None,
    ) -> None:
        self._client = client
        self._clock = clock
        self.pending_stream = prefix + pending
        self.dead_stream = prefix + dead
        self.created_stream = prefix + created
        self.created_channel = prefix + (created_channel or created)
        self.group = group
        self.layout = layout = layout or KeyLayout()
        self._ledger_prefix = layout.own(prefix + ledger_prefix)
        self._lease_prefix = layout.own(prefix + lease_prefix)
        self._owner_prefix = layout.own(prefix + owner_prefix)
        self._request_prefix = layout.own(prefix + request_prefix)
        self._alive_prefix = layout.own(prefix + alive_prefix)
        self._ready_probe = layout.own(prefix + READY_PROBE)
        self.outbox_stream = layout.own(prefix + outbox)
        self.attachments_stream = layout.own(prefix + attachments)
        self._replayed_prefix = layout.own(prefix + replayed_prefix)
        self._outbox_due = 0.0  # time.monotonic() of the next look at the outbox
        # Outbox entries appended and not deleted yet: deleted together, off the hot path.
        self._delivered: list[str] = []
        self.retention = retention
        self.created_maxlen = created_maxlen
        self.dead_maxlen = dead_maxlen
        self._dead_payload_bytes = dead_payload_bytes
        self._replicas = replicas
        self._group = ConsumerGroup(client, group)
        self._scripts = TicketScripts(client, self)

    def __repr__(self) -> str:
        return f"RedisTicketStore(pending={self.pending_stream!r}, group={self.group!r})"

    def ledger_key(self, key: str) -> str:
        """The Redis key of an idempotency key's ledger hash."""
        return self._ledger_prefix + key

    def lease_key(self, key: str) -> str:
        """The Redis key of an idempotency key's lease."""
        return self._lease_prefix + key

    def owner_key(self, ticket_id: str) -> str:
        """The Redis key that holds the idempotency key a helpdesk ticket was recorded for."""
        return self._owner_prefix + ticket_id

    def request_key(self, request_id: str) -> str:
        """The Redis key of the request-id index entry of ``request_id``."""
        return self._request_prefix + request_id

    async def accept(self, draft: TicketDraft) -> tuple[Outcome, bool]:
        accepted = await self._accept_draft(draft, "", 0.0)
        return accepted.outcome, accepted.new

    async def accept_and_lease(self, draft: TicketDraft, owner: str, ttl: float) -> Accepted:
        return await self._accept_draft(draft, owner, ttl)

    async def _accept_draft(self, draft: TicketDraft, owner: str, ttl: float) -> Accepted:
        payload = encode_draft(draft).decode()
        fields: dict[str, str] = {
            "state": TicketState.ACCEPTED.value,
            "key": draft.key,
            "request_id": draft.request_id,
            "source": draft.source.value,
            "attempts": "0",
            "draft": payload,
            # Kept after the draft is dropped (at completion): a later request under this
            # key is compared with it (see SubmitTicket).
            "fingerprint": request_fingerprint(draft),
        }
        if draft.incident_id is not None:
            fields["incident_id"] = draft.incident_id
        with store_errors(self._client, f"accepting {draft.key!r}; nothing was stored"):
            reply = await self._scripts.accept(
                ledger=self.ledger_key(draft.key),
                lease=self.lease_key(draft.key),
                request=self.request_key(draft.request_id),
                key=draft.key,
                payload=payload,
                owner=owner,
                lease_ms=_ms(ttl),
                fields=fields,
            )
        if self._replicas is not None:
            # A repeat too: the first acceptance of its key may not have been confirmed.
            try:
                await self._replicas.confirm(f"the acceptance of {draft.key!r}")
            except StoreUnavailable:
                if reply[0] and reply[1]:  # leased for an attempt that is not made now
                    with contextlib.suppress(StoreUnavailable):  # the caller gives it back
                        await self.release(draft.key, owner)
                raise
        if not reply[0]:
            return Accepted(_outcome(draft.key, _pairs(reply[2])), new=False, leased=False)
        return Accepted(_outcome(draft.key, fields), new=True, leased=bool(reply[1]))

    async def lease(self, key: str, owner: str, ttl: float) -> Leased:
        with store_errors(self._client, f"taking the lease of {key!r}"):
            held, flat = await self._scripts.lease(
                lease=self.lease_key(key),
                ledger=self.ledger_key(key),
                owner=owner,
                ms=_ms(ttl),
                alive=self._alive_prefix,
                now=self._now(),
            )
        return Leased(bool(held), _outcome(key, _pairs(flat)) if flat else None)

    async def release(self, key: str, owner: str) -> None:
        with store_errors(self._client, f"giving back the lease of {key!r}"):
            await self._scripts.release(lease=self.lease_key(key), owner=owner)

    async def get(self, key: str) -> Outcome | None:
        with store_errors(self._client, f"reading the ledger of {key!r}"):
            values = await self._client.hmget(self.ledger_key(key), _OUTCOME_FIELDS)
        fields = {name: text(v) for name, v in zip(_OUTCOME_FIELDS, values, strict=True) if v}
        # Every ledger has a state (accept, complete, bury and replay all write one).
        return _outcome(key, fields) if "state" in fields else None

    async def draft(self, key: str) -> TicketDraft | None:
        with store_errors(self._client, f"reading the draft of {key!r}"):
            raw = await self._client.hget(self.ledger_key(key), "draft")
        return None if raw is None else decode_draft(raw)

    async def customer(self, key: str) -> Customer | None:
        with store_errors(self._client, f"reading the customer of {key!r}"):
            raw = await self._client.hget(self.ledger_key(key), "customer")
        if raw is None:
            return None
        try:
            found = json.loads(text(raw))
            return Customer(
                name=found.get("name"), email=found.get("email"), phone=found.get("phone")
            )
        except (ValueError, AttributeError):
            return None

    async def mark_creating(self, key: str, at: datetime) -> Outcome:
        """State CREATING, attempts + 1; a finished key is returned unchanged.

        Raises:
            NotFound: the key is not in the ledger.
        """
        with store_errors(self._client, f"marking {key!r} creating"):
            flat = await self._scripts.mark_creating(
                ledger=self.ledger_key(key), at=format_datetime(at)
            )
        if flat is None:
            raise NotFound(f"no ledger entry for idempotency key {key!r}")
        return _outcome(key, _pairs(flat))

    async def mark_failed(self, key: str, reason: str) -> None:
        with store_errors(self._client, f"marking {key!r} failed"):
            await self._scripts.mark_failed(
                ledger=self.ledger_key(key), reason=reason, at=self._now()
            )

    async def mark_ambiguous(self, key: str, at: datetime) -> None:
        with store_errors(self._client, f"marking the create of {key!r} ambiguous"):
            await self._scripts.mark_ambiguous(ledger=self.ledger_key(key), at=format_datetime(at))

    async def owner_of(self, ticket_id: str) -> str | None:
        with store_errors(self._client, f"reading whose ticket {ticket_id} is"):
            value = await self._client.get(self.owner_key(ticket_id))
        return None if value is None else text(value)

    async def set_join(self, key: str, joined: Joined) -> None:
        with store_errors(self._client, f"recording where {key!r} goes"):
            await self._scripts.set_join(ledger=self.ledger_key(key), fields=_join_fields(joined))

    async def complete(
        self, key: str, outcome: Outcome, event: TicketCreated, *, owner: str | None = None
    ) -> None:
        appended = outcome.state is TicketState.APPENDED
        ticket_fields = {
            "state": TicketState.APPENDED.value if appended else TicketState.CREATED.value,
            "ticket_id": outcome.ticket_id or "",
            "ticket_number": outcome.ticket_number or "",
            "contact_id": outcome.contact_id or "",
            "web_url": outcome.web_url or "",
            "created_at": format_datetime(outcome.created_at or event.created_at),
            "comment_id": outcome.comment_id or "",
        }
        # Only for a key whose ledger expired or was never written: the ticket exists anyway.
        identity = {
            "key": key,
            "request_id": outcome.request_id,
            "incident_id": outcome.incident_id or "",
            "source": outcome.source.value if outcome.source else event.source.value,
            "attempts": str(outcome.attempts),
        }
        ticket_id = outcome.ticket_id or event.ticket_id
        # A follow-up's ticket stays the key's that created it: its comment is recorded.
        owned = f"{COMMENT_OWNER}{outcome.comment_id}" if appended else ticket_id
        with store_errors(self._client, f"completing {key!r}"):
            reply = await self._scripts.complete(
                ledger=self.ledger_key(key),
                lease=self.lease_key(key),
                owner_key=self.owner_key(owned),
                request=self.request_key(outcome.request_id)
                if outcome.request_id
                else self.ledger_key(key),
                event=encode_event(event).decode(),
                owner=owner or "",
                key=key,
                oldest=self._oldest_kept_id(),
                ticket=ticket_fields,
                identity=identity,
                # One server holds the created stream too: appended in the same step. In a
                # cluster it is another slot's: through the outbox.
                via_outbox=self.layout.clustered,
            )
        if isinstance(reply, bytes | str):
            raise TicketTaken(owned, text(reply))
        if isinstance(reply, list):
            await self._deliver_after(reply, f"the created event of {key!r}")

    async def bury(self, key: str, reason: str) -> None:
        """Ledger DEAD, the draft to the dead letters; a finished key is left alone.

        Raises:
            NotFound: the key is not in the ledger.
        """
        with store_errors(self._client, f"burying {key!r}"):
            # Its request-id index entry expires with the ledger: read which it is first.
            request_id = await self._client.hget(self.ledger_key(key), "request_id")
            result = await self._scripts.bury(
                ledger=self.ledger_key(key),
                key=key,
                reason=reason,
                at=self._now(),
                request=self.request_key(text(request_id)) if request_id else "",
            )
        if result == -1:
            raise NotFound(f"no ledger entry for idempotency key {key!r}")
        if isinstance(result, list):
            await self._deliver_after(result, f"the dead letter of {key!r}")

    async def key_of_request(self, request_id: str) -> str | None:
        """The key accepted under ``request_id``; None once its ledger is gone (the index
        is kept for the retention from the acceptance, the ledger from the finish)."""
        with store_errors(self._client, f"finding request {request_id!r}"):
            raw = await self._client.get(self.request_key(request_id))
            if raw is None:
                return None
            key = text(raw)
            if not await self._client.exists(self.ledger_key(key)):
                return None
        return key

    async def pending_entries(self, limit: int) -> Sequence[PendingEntry]:
        with store_errors(self._client, "listing the pending queue"):
            raw = await self._client.xrange(self.pending_stream, count=limit)
        entries: list[PendingEntry] = []
        for eid, fields in raw or []:
            entry_id = text(eid)
            key = _decode_map(fields).get("key", "")
            entries.append(PendingEntry(entry_id, key, _entry_time(entry_id)))
        return entries

    async def recent_created(self, limit: int) -> Sequence[TicketCreated]:
        if limit <= 0:
            return []
        with store_errors(self._client, "reading the created events"):
            raw = await self._client.xrevrange(self.created_stream, count=limit)
        events: list[TicketCreated] = []
        for _, fields in raw or []:
            try:
                events.append(decode_event(_decode_map(fields).get("payload", "")))
            except PayloadError:
                continue  # another program's entry: not ours to show
        return events

    async def bury_raw(self, payload: str, reason: str, origin: str) -> None:
        """A dead letter for a message, unless the same message from the same origin is in the
        dead letters already (redelivered, or a pub/sub copy)."""
        digest = hashlib.sha256(f"{origin}\n{payload}".encode()).hexdigest()
        payload, reason = cut_payload(payload, reason, self._dead_payload_bytes)
        index = self.layout.beside(self.dead_stream, RAW_INDEX_SUFFIX)
        with store_errors(self._client, f"writing a dead letter from {origin!r}"):
            await self._scripts.bury_raw(
                digest=f"{index}:{digest}",
                old_index=index,
                reason=reason,
                payload=payload,
                at=self._now(),
                origin=origin,
            )

    async def claim(self, consumer: str, count: int, min_idle: float) -> list[QueuedTicket]:
        if count <= 0:
            return []
        with store_errors(self._client, f"claiming pending tickets for {consumer!r}"):
            await self._outbox_upkeep()
            await self._ensure_group()
            try:
                return await self._claim(consumer, count, min_idle)
            except ResponseError as exc:
                # The stream or group was deleted under us (FLUSHDB, an operator): recreate.
                if "NOGROUP" not in str(exc):
                    raise
                self._group.forget(self.pending_stream)
                await self._ensure_group()
                return await self._claim(consumer, count, min_idle)

    async def take_over(self, consumer: str, living: Living, min_idle: float) -> int:
        """Move the pending entries of consumers whose process is gone (``living`` does not
        name them) to ``consumer``, whose next claim reads them as its own, and delete those
        consumers (see ``ConsumerGroup.take_over``); returns how many processes were gone.
        A drain is due then even if they held no entry: the tickets they were working on are
        free to lease (their queue entries were given to nobody yet)."""
        with store_errors(self._client, f"taking over dead consumers' tickets for {consumer!r}"):
            await self._ensure_group()
            try:
                gone = [
                    (name, held)
                    for name, held in await self._group.dead(self.pending_stream, living)
                    if name != consumer
                ]
                for name, held in gone:
                    pages = self._group.take_from(
                        consumer,
                        self.pending_stream,
                        name,
                        held,
                        int(min_idle * 1000),
                        lambda: _TAKEOVER_PAGE,
                        rounds=_MAX_ROUNDS,
                    )
                    async for _page in pages:
                        pass
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                self._group.forget(self.pending_stream)
                return 0
        return len(gone)

    async def ack(self, entry_id: str) -> None:
        with store_errors(self._client, f"acknowledging {entry_id}"):
            await self._group.ack(
                {self.pending_stream: [entry_id]}, delete_from=(self.pending_stream,)
            )

    async def pending_count(self) -> int:
        with store_errors(self._client, "counting pending tickets"):
            return int(await self._client.xlen(self.pending_stream))

    async def dead_count(self) -> int:
        with store_errors(self._client, "counting dead letters"):
            return int(await self._client.xlen(self.dead_stream))

    async def list_dead(self, limit: int = 100) -> Sequence[DeadLetter]:
        with store_errors(self._client, "listing dead letters"):
            raw = await self._client.xrange(self.dead_stream, count=limit)
        return [_dead_letter(text(eid), _decode_map(fields)) for eid, fields in raw or []]

    async def find_dead(self, *, reason: str | None = None, limit: int = 100) -> DeadLetterSearch:
        """Newest first (XREVRANGE). With a reason, the whole stream is read a page at a time
        to count the matches (it is capped at DEAD_LETTER_MAXLEN, 10,000 by default)."""
        with store_errors(self._client, "listing dead letters"):
            total = int(await self._client.xlen(self.dead_stream))
            if reason is None:
                raw = await self._client.xrevrange(self.dead_stream, count=limit) if limit else []
                letters = [_dead_letter(text(eid), _decode_map(f)) for eid, f in raw or []]
                return DeadLetterSearch(letters, total, total)
            found: list[DeadLetter] = []
            matching = 0
            end = "+"
            while True:
                page = (
                    await self._client.xrevrange(self.dead_stream, end, "-", count=_DEAD_PAGE) or []
                )
                for eid, fields in page:
                    letter = _dead_letter(text(eid), _decode_map(fields))
                    if letter.matches(reason):
                        matching += 1
                        if len(found) < limit:
                            found.append(letter)
                if len(page) < _DEAD_PAGE:
                    return DeadLetterSearch(found, matching, total)
                end = "(" + text(page[-1][0])

    async def delete_dead(self, entry_ids: Sequence[str]) -> int:
        if not entry_ids:
            return 0
        with store_errors(self._client, "deleting dead letters"):
            return int(await self._client.xdel(self.dead_stream, *set(entry_ids)))

    async def replay_dead(self, entry_ids: Sequence[str] | None = None) -> int:
        """Put dead letters back where they came from: a pending entry with its ledger back to
        ACCEPTED (attempts 0), or the payload onto its origin stream. A letter whose key lives
        again (accepted anew or created since) is dropped instead, and not counted."""
        moved = 0
        with store_errors(self._client, "replaying dead letters"):
            async for letter in self._dead_letters(entry_ids):
                moved += await self._replay_one(letter)
        return moved

    async def known_dead(self, entry_ids: Sequence[str]) -> set[str]:
        """Those of ``entry_ids`` in the dead-letter stream (one XRANGE each, pipelined;
        the ids are an operator's, checked well-formed by the CLI)."""
        if not entry_ids:
            return set()
        with store_errors(self._client, "looking up dead letters"):
            async with self._client.pipeline(transaction=False) as pipe:
                for entry_id in entry_ids:
                    pipe.xrange(self.dead_stream, entry_id, entry_id, count=1)
                found = await pipe.execute()
        return {entry_id for entry_id, entries in zip(entry_ids, found, strict=True) if entries}

    async def in_flight_count(self) -> int:
        """Entries delivered to a consumer and not acked yet (the group's PEL)."""
        with store_errors(self._client, "counting tickets in flight"):
            await self._ensure_group()
            return await self._group.in_flight(self.pending_stream)

    async def ping(self) -> bool:
        try:
            return bool(await self._client.ping())
        except (RedisError, OSError):
            return False

    async def probe_write(self) -> None:
        with store_errors(self._client, "the readiness write"):
            await self._client.set(self._ready_probe, "1", px=READY_PROBE_MS)

    # -- internals -------------------------------------------------------------------------

    def _now(self) -> str:
        return format_datetime(self._clock.now())

    def _oldest_kept_id(self) -> str:
        """The id before which a created event is past the retention (and trimmed)."""
        return f"{int((self._clock.now().timestamp() - self.retention) * 1000)}-0"

    async def _ensure_group(self) -> None:
        # From id 0, not $: entries accepted before the group existed must be delivered.
        await self._group.ensure(self.pending_stream, start="0")

    async def _claim(self, consumer: str, count: int, min_idle: float) -> list[QueuedTicket]:
        """This consumer's own unfinished entries, then those dead consumers left idle for
        ``min_idle``, then new ones, up to ``count`` that decode."""
        taken: dict[str, TicketDraft] = {}
        pages = self._group.claim(
            consumer,
            self.pending_stream,
            int(min_idle * 1000),
            lambda: count - len(taken),
            rounds=_MAX_ROUNDS,
        )
        async for page in pages:
            for entry in page:
                if entry.id not in taken:  # a reclaim may hand back one of our own
                    await self._take(entry, taken)
        deliveries = await self._group.deliveries(self.pending_stream, consumer, list(taken))
        return [
            QueuedTicket(entry_id=entry_id, draft=draft, deliveries=deliveries[entry_id])
            for entry_id, draft in taken.items()
        ]

    async def _take(self, entry: StreamEntry, taken: dict[str, TicketDraft]) -> None:
        """Keep a claimed entry if it decodes; clean up or bury it otherwise."""
        if entry.gone:
            # Deleted while in a PEL (completed elsewhere): only its PEL record is left.
            await self._group.ack({self.pending_stream: [entry.id]})
            return
        entry_id = entry.id
        fields = entry.text_fields()
        payload = fields.get("payload")
        if payload is None:
            # Not ours (e.g. the old service's format): keep every field so nothing is lost.
            await self._bury_entry(
                entry_id,
                fields.get("key", ""),
                entry.fields_json(),
                "undecodable entry: no payload field",
            )
            return
        try:
            taken[entry_id] = decode_draft(payload)
        except PayloadError as exc:
            await self._bury_entry(
                entry_id, fields.get("key", ""), payload, f"undecodable payload: {exc}"
            )

    async def _bury_entry(self, entry_id: str, key: str, payload: str, reason: str) -> None:
        payload, reason = cut_payload(payload, reason, self._dead_payload_bytes)
        reply = await self._scripts.bury(
            ledger=self.ledger_key(key),
            key=key,
            reason=reason,
            at=self._now(),
            entry=entry_id,
            payload=payload,
        )
        if isinstance(reply, list):
            await self._deliver(text(reply[0]), _pairs(reply[1:]))

    # -- the outbox: the second step of a write that spans two hash slots --------------------

    async def _deliver_after(self, reply: list[Any], what: str) -> None:
        """Append the outbox entry a script just wrote; if Redis fails now, the ledger change
        stands (that is what the caller asked for) and the upkeep appends it later."""
        try:
            with store_errors(self._client, f"appending {what}"):
                await self._deliver(text(reply[0]), _pairs(reply[1:]))
        except StoreUnavailable as exc:
            log.warning("%s stays in the outbox until the next upkeep: %s", what, exc.message)

    async def _deliver(self, outbox_id: str, fields: dict[str, str]) -> None:
        """Append one outbox entry to its stream (once, whoever else does it too); it is
        deleted from the outbox with the next few (:meth:`_forget_delivered`): an entry
        appended and not deleted yet costs a second look that does nothing."""
        stream = fields.pop("_stream", "")
        maxlen, minid = fields.pop("_maxlen", ""), fields.pop("_minid", "")
        channel = fields.pop("_channel", "")
        if stream:
            await self._scripts.append_once(
                stream=stream,
                marker=self.layout.beside(stream, ONCE_SUFFIX + outbox_id),
                fields=fields,
                maxlen=maxlen,
                minid=minid,
                channel=channel,
            )
        self._delivered.append(outbox_id)
        if len(self._delivered) >= _FORGET_BATCH:
            await self._forget_delivered()

    async def _forget_delivered(self) -> None:
        """Delete the outbox entries appended since the last time, in one round trip."""
        delivered, self._delivered = self._delivered, []
        if delivered:
            try:
                await self._client.xdel(self.outbox_stream, *delivered)
            except BaseException:
                self._delivered[:0] = delivered  # tried again next time
                raise

    async def flush_outbox(self) -> int:
        """Append whatever the outbox still holds (a process died between a ledger change and
        its append; appending twice does nothing); returns how many entries it held."""
        done = 0
        with store_errors(self._client, "appending what the outbox holds"):
            await self._forget_delivered()
            while True:
                page = await self._client.xrange(self.outbox_stream, count=_REPLAY_PAGE) or []
                for entry_id, fields in page:
                    await self._deliver(text(entry_id), _decode_map(fields))
                await self._forget_delivered()
                done += len(page)
                if len(page) < _REPLAY_PAGE:
                    return done

    async def _outbox_upkeep(self) -> None:
        """:meth:`flush_outbox`, at most every ``OUTBOX_EVERY`` seconds (from the drain)."""
        now = time.monotonic()
        if now < self._outbox_due:
            await self._forget_delivered()
            return
        self._outbox_due = now + OUTBOX_EVERY
        await self.flush_outbox()

    async def _dead_letters(self, entry_ids: Sequence[str] | None) -> AsyncIterator[DeadLetter]:
        if entry_ids is not None:
            for entry_id in entry_ids:
                for eid, fields in (
                    await self._client.xrange(self.dead_stream, entry_id, entry_id) or []
                ):
                    yield _dead_letter(text(eid), _decode_map(fields))
            return
        start = "-"
        while True:
            page = await self._client.xrange(self.dead_stream, start, "+", count=_REPLAY_PAGE) or []
            for eid, fields in page:
                yield _dead_letter(text(eid), _decode_map(fields))
            if len(page) < _REPLAY_PAGE:
                return
            start = "(" + text(page[-1][0])

    async def _replay_one(self, letter: DeadLetter) -> int:
        """Put back once (a marker in the target's slot names the letter), then delete the
        letter: a crash in between leaves a letter whose next replay only deletes it."""
        moved = await self._requeue(letter)
        await self._client.xdel(self.dead_stream, letter.entry_id)
        return moved

    async def _requeue(self, letter: DeadLetter) -> int:
        if letter.origin != PENDING_ORIGIN:
            return await self._scripts.append_once(
                stream=letter.origin,
                marker=self.layout.beside(letter.origin, f"{ONCE_SUFFIX}dead-{letter.entry_id}"),
                fields={"payload": letter.payload},
            )
        key = letter.key or ""
        identity: dict[str, str] = {}
        try:
            draft = decode_draft(letter.payload)
        except PayloadError:
            draft = None  # replayed as is; the next claim buries it again, with the reason
        if draft is not None:
            key = key or draft.key
            identity = {
                "request_id": draft.request_id,
                "incident_id": draft.incident_id or "",
                "source": draft.source.value,
            }
        request_id = identity.get("request_id")
        return await self._scripts.replay_to_pending(
            ledger=self.ledger_key(key),
            marker=self._replayed_prefix + letter.entry_id,
            key=key,
            payload=letter.payload,
            identity=identity,
            request=self.request_key(request_id) if key and request_id else "",
        )


# What ``get`` reads of a ledger hash: everything an ``Outcome`` holds (not the draft).
_OUTCOME_FIELDS: Final = (
    "key",
    "request_id",
    "state",
    "ticket_id",
    "ticket_number",
    "contact_id",
    "web_url",
    "created_at",
    "reason",
    "incident_id",
    "source",
    "attempts",
    "reason_at",
    "last_attempt_at",
    "attempt_ended_at",
    "join_ticket",
    "join_number",
    "join_url",
    "join_contact",
    "comment_id",
    "fingerprint",
)


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


def _decode_map(raw: Mapping[Any, Any] | None) -> dict[str, str]:
    return {text(k): text(v) for k, v in (raw or {}).items()}


def _pairs(flat: Sequence[Any]) -> dict[str, str]:
    """A Lua HGETALL reply (a flat list) as a mapping."""
    return {text(flat[i]): text(flat[i + 1]) for i in range(0, len(flat) - 1, 2)}


def _opt(fields: Mapping[str, str], name: str) -> str | None:
    value = fields.get(name)
    return value if value else None


def _join_fields(joined: Joined) -> dict[str, str]:
    return {
        "join_ticket": joined.ticket_id,
        "join_number": joined.ticket_number or "",
        "join_url": joined.web_url or "",
        "join_contact": joined.contact_id or "",
    }


def _joined(fields: Mapping[str, str]) -> Joined | None:
    ticket_id = _opt(fields, "join_ticket")
    if ticket_id is None:
        return None
    return Joined(
        ticket_id,
        ticket_number=_opt(fields, "join_number"),
        web_url=_opt(fields, "join_url"),
        contact_id=_opt(fields, "join_contact"),
    )


def _outcome(key: str, fields: Mapping[str, str]) -> Outcome:
    created_at = _opt(fields, "created_at")
    last_attempt = _opt(fields, "last_attempt_at")
    attempt_ended = _opt(fields, "attempt_ended_at")
    reason_at = _opt(fields, "reason_at")
    source = _opt(fields, "source")
    return Outcome(
        key=fields.get("key") or key,
        request_id=fields.get("request_id", ""),
        state=TicketState(fields.get("state", TicketState.ACCEPTED.value)),
        ticket_id=_opt(fields, "ticket_id"),
        ticket_number=_opt(fields, "ticket_number"),
        contact_id=_opt(fields, "contact_id"),
        web_url=_opt(fields, "web_url"),
        created_at=parse_datetime(created_at) if created_at else None,
        reason=_opt(fields, "reason"),
        incident_id=_opt(fields, "incident_id"),
        source=Source(source) if source else None,
        attempts=int(fields.get("attempts") or 0),
        reason_at=parse_datetime(reason_at) if reason_at else None,
        last_attempt_at=parse_datetime(last_attempt) if last_attempt else None,
        attempt_ended_at=parse_datetime(attempt_ended) if attempt_ended else None,
        joins=_joined(fields),
        comment_id=_opt(fields, "comment_id"),
        fingerprint=_opt(fields, "fingerprint"),
    )


def _entry_time(entry_id: str) -> datetime:
    """When a stream entry was added: its id starts with the milliseconds."""
    return datetime.fromtimestamp(int(entry_id.split("-")[0]) / 1000, UTC)


def _dead_letter(entry_id: str, fields: Mapping[str, str]) -> DeadLetter:
    return DeadLetter(
        entry_id=entry_id,
        reason=fields.get("reason", ""),
        payload=fields.get("payload", ""),
        failed_at=parse_datetime(fields["failed_at"])
        if fields.get("failed_at")
        # The entry id starts with the milliseconds it was added at: a fair stand-in.
        else _entry_time(entry_id),
        key=_opt(fields, "key"),
        origin=fields.get("origin") or PENDING_ORIGIN,
    )
