"""In-process stores with the Redis stores' semantics, for sandbox mode and tests."""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from ticketing.adapters.codec import (
    DEAD_PAYLOAD_BYTES,
    PayloadError,
    cut_payload,
    decode_draft,
    encode_draft,
)
from ticketing.domain.attachments import AttachmentJob
from ticketing.domain.conversation import Attachment, Author, Comment, Thread, WebhookEvent
from ticketing.domain.conversation import TicketState as TicketState_
from ticketing.domain.errors import HelpdeskRejected, NotFound, TicketTaken
from ticketing.domain.model import (
    Customer,
    DeadLetter,
    DeadLetterSearch,
    Joined,
    Outcome,
    PendingEntry,
    QueuedTicket,
    TicketCreated,
    TicketDraft,
    TicketState,
    request_fingerprint,
)
from ticketing.domain.ports import (
    Accepted,
    Clock,
    EventStream,
    InboxEntry,
    Leased,
    RefreshAllowance,
    StatusMark,
    TokenSet,
    backoff_delay,
)

log = logging.getLogger(__name__)

RETENTION_SECONDS = 7 * 24 * 3600.0
CONTACT_TTL = 7 * 24 * 3600.0
CREATED_MAXLEN = 100_000
DEAD_MAXLEN = 10_000
PENDING_ORIGIN = "pending"

# No method awaits between reading and writing its state, so on one event loop each step is
# as atomic as the Redis store's Lua scripts.


@dataclass(slots=True)
class _Delivery:
    """A pending-entries-list record: who holds an entry, since when, how often delivered."""

    consumer: str
    delivered_at: float
    count: int


@dataclass(slots=True)
class _Ledger:
    """One idempotency key's ledger record, as the Redis hash holds it."""

    outcome: Outcome
    entry_id: str | None = None
    draft: str | None = None
    customer: Customer | None = None  # kept from the draft once the ticket is created
    expires_at: float | None = None


def _seq(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


@dataclass(repr=False)
class InMemoryTicketStore:
    """The ``TicketStore`` port in memory: nothing survives a restart.

    Holds the same things as the Redis store, with the same consumer-group semantics, so
    that the contract tests run on both.

    Args:
        clock: Stamps dead letters, times leases of entries (``min_idle``) and retention.
        retention: Seconds a finished key is remembered.
        created_maxlen: How many created events are kept in :attr:`events`.
        dead_maxlen: How many dead letters are kept (the oldest go first).
        dead_payload_bytes: Longest payload a dead letter keeps whole (longer ones are cut).

    Attributes:
        events: Every created event, oldest first (the ``tickets:created`` stream).
        subscribers: Called with each created event as it happens (the pub/sub channel).
        streams: Payloads replayed onto other streams, by stream name.
    """

    clock: Clock
    retention: float = RETENTION_SECONDS
    created_maxlen: int = CREATED_MAXLEN
    dead_maxlen: int = DEAD_MAXLEN
    dead_payload_bytes: int = DEAD_PAYLOAD_BYTES
    events: list[TicketCreated] = field(default_factory=list)
    subscribers: list[Callable[[TicketCreated], None]] = field(default_factory=list)
    streams: dict[str, list[str]] = field(default_factory=dict)
    # The attachment jobs (the ``ticketing:attachments`` stream): InMemoryAttachmentWork's.
    attachment_jobs: list[AttachmentJob] = field(default_factory=list)
    _ledger: dict[str, _Ledger] = field(default_factory=dict, init=False)
    _pending: dict[str, dict[str, str]] = field(default_factory=dict, init=False)
    _pel: dict[str, _Delivery] = field(default_factory=dict, init=False)
    _last_delivered: tuple[int, int] = field(default=(0, 0), init=False)
    _dead: dict[str, DeadLetter] = field(default_factory=dict, init=False)
    # ticket id → (idempotency key, expiry): the ledger's ticket-id records
    _owners: dict[str, tuple[str, float]] = field(default_factory=dict, init=False)
    # request id → idempotency key: the request-id index, forgotten with the key's ledger
    _requests: dict[str, str] = field(default_factory=dict, init=False)
    # entry id → when it was queued (a Redis stream entry's id holds its time)
    _queued_at: dict[str, datetime] = field(default_factory=dict, init=False)
    _next_id: int = field(default=0, init=False)
    _leases: InMemoryLeases = field(init=False)

    def __post_init__(self) -> None:
        self._leases = InMemoryLeases(self.clock)

    def __repr__(self) -> str:
        return (
            f"InMemoryTicketStore(pending={len(self._pending)}, in_flight={len(self._pel)}, "
            f"dead={len(self._dead)}, keys={len(self._ledger)}, events={len(self.events)})"
        )

    def subscribe(self, callback: Callable[[TicketCreated], None]) -> Callable[[], None]:
        """Call ``callback`` with each created event from now on; returns the unsubscriber."""
        self.subscribers.append(callback)
        return lambda: self.subscribers.remove(callback)

    def add_entry(self, fields: dict[str, str]) -> str:
        """Append a raw entry to the pending queue, as an ``XADD`` by another program would."""
        entry_id = self._new_id()
        self._pending[entry_id] = dict(fields)
        self._queued_at[entry_id] = self.clock.now()
        return entry_id

    def delete_entry(self, entry_id: str) -> None:
        """Drop an entry from the queue but not from the PEL that holds it, as ``XDEL`` does."""
        self._pending.pop(entry_id, None)

    async def accept(self, draft: TicketDraft) -> tuple[Outcome, bool]:
        record = self._record(draft.key)
        if record is not None:
            return record.outcome, False
        payload = encode_draft(draft).decode()
        entry_id = self.add_entry({"key": draft.key, "payload": payload})
        outcome = replace(
            Outcome.of(draft, TicketState.ACCEPTED), fingerprint=request_fingerprint(draft)
        )
        self._ledger[draft.key] = _Ledger(outcome, entry_id=entry_id, draft=payload)
        self._requests[draft.request_id] = draft.key
        return outcome, True

    async def accept_and_lease(self, draft: TicketDraft, owner: str, ttl: float) -> Accepted:
        outcome, new = await self.accept(draft)
        return Accepted(outcome, new, new and self._leases.take(draft.key, owner, ttl))

    async def lease(self, key: str, owner: str, ttl: float) -> Leased:
        return Leased(self._leases.take(key, owner, ttl), await self.get(key))

    async def release(self, key: str, owner: str) -> None:
        await self._leases.release(key, owner)

    def lease_holder(self, key: str) -> str | None:
        """Who holds the key's lease now (for tests)."""
        return self._leases.holder(key)

    async def get(self, key: str) -> Outcome | None:
        record = self._record(key)
        return record.outcome if record else None

    async def draft(self, key: str) -> TicketDraft | None:
        record = self._record(key)
        if record is None or record.draft is None:
            return None
        return decode_draft(record.draft)

    async def customer(self, key: str) -> Customer | None:
        record = self._record(key)
        return None if record is None else record.customer

    async def mark_creating(self, key: str, at: datetime) -> Outcome:
        """State CREATING, attempts + 1; a finished key is returned unchanged.

        Raises:
            NotFound: the key is not in the ledger.
        """
        record = self._known(key)
        if not record.outcome.state.finished:
            record.outcome = replace(
                record.outcome,
                state=TicketState.CREATING,
                attempts=record.outcome.attempts + 1,
                last_attempt_at=at,
                attempt_ended_at=None,
            )
        return record.outcome

    async def mark_ambiguous(self, key: str, at: datetime) -> None:
        record = self._record(key)
        if record is not None and record.outcome.state is TicketState.CREATING:
            record.outcome = replace(record.outcome, attempt_ended_at=at)

    async def owner_of(self, ticket_id: str) -> str | None:
        owned = self._owners.get(ticket_id)
        if owned is None:
            return None
        if self.clock.monotonic() >= owned[1]:
            del self._owners[ticket_id]
            return None
        return owned[0]

    async def mark_failed(self, key: str, reason: str) -> None:
        record = self._record(key)
        if record is None or record.outcome.state.finished:
            return
        record.outcome = replace(
            record.outcome, state=TicketState.ACCEPTED, reason=reason, reason_at=self.clock.now()
        )

    async def set_join(self, key: str, joined: Joined) -> None:
        record = self._record(key)
        if record is not None and not record.outcome.state.finished:
            record.outcome = replace(record.outcome, joins=joined)

    async def complete(
        self, key: str, outcome: Outcome, event: TicketCreated, *, owner: str | None = None
    ) -> None:
        appended = outcome.state is TicketState.APPENDED
        # A follow-up's ticket stays the key's that created it: its comment is recorded.
        owned = f"comment:{outcome.comment_id}" if appended else outcome.ticket_id
        ticket_owner = await self.owner_of(owned) if owned else None
        if ticket_owner is not None and ticket_owner != key:
            raise TicketTaken(owned or "", ticket_owner)
        if owner is not None:
            await self.release(key, owner)
        record = self._record(key)
        if record is not None and record.outcome.state in (
            TicketState.CREATED,
            TicketState.APPENDED,
        ):
            return
        if record is None:
            # The ticket exists even if its ledger record expired (or was never written).
            record = _Ledger(replace(outcome, key=key, reason=None))
            self._ledger[key] = record
        record.outcome = replace(
            record.outcome,
            state=outcome.state if appended else TicketState.CREATED,
            comment_id=outcome.comment_id,
            ticket_id=outcome.ticket_id,
            ticket_number=outcome.ticket_number,
            contact_id=outcome.contact_id,
            web_url=outcome.web_url,
            created_at=outcome.created_at or event.created_at,
            reason=None,
            reason_at=None,
        )
        if record.draft is not None:
            draft = decode_draft(record.draft)
            record.customer = draft.customer
            if draft.attachments and outcome.ticket_id:
                # Its files go on the ticket after: one job, queued in this same step.
                self.attachment_jobs.append(
                    AttachmentJob(
                        self._new_id(),
                        key,
                        outcome.ticket_id,
                        draft.attachments,
                        joined=appended,
                    )
                )
        record.draft = None
        record.expires_at = self.clock.monotonic() + self.retention
        if owned:
            self._owners[owned] = (key, record.expires_at)
        if record.entry_id is not None:
            self._remove_entry(record.entry_id)
        self.events.append(event)
        if len(self.events) > self.created_maxlen:
            del self.events[: len(self.events) - self.created_maxlen]
        for callback in list(self.subscribers):
            try:
                callback(event)
            except Exception:
                # A subscriber is a listener: like a pub/sub client, it cannot fail the step.
                log.exception("created-event subscriber failed")

    async def bury(self, key: str, reason: str) -> None:
        """Ledger DEAD, the draft to the dead letters; a finished key is left alone.

        Raises:
            NotFound: the key is not in the ledger.
        """
        record = self._known(key)
        if record.outcome.state.finished:
            return
        payload = record.draft
        if payload is None and record.entry_id is not None:
            payload = self._pending.get(record.entry_id, {}).get("payload")
        self._kill(record, reason)
        self._add_dead(key, reason, payload or "", PENDING_ORIGIN)
        if record.entry_id is not None:
            self._remove_entry(record.entry_id)

    async def key_of_request(self, request_id: str) -> str | None:
        key = self._requests.get(request_id)
        if key is not None and self._record(key) is None:
            del self._requests[request_id]  # its ledger is gone (the retention)
            return None
        return key

    async def pending_entries(self, limit: int) -> Sequence[PendingEntry]:
        entries: list[PendingEntry] = []
        for entry_id in sorted(self._pending, key=_seq)[:limit]:
            fields = self._pending[entry_id]
            at = self._queued_at.get(entry_id, self.clock.now())
            entries.append(PendingEntry(entry_id, fields.get("key", ""), at))
        return entries

    async def recent_created(self, limit: int) -> Sequence[TicketCreated]:
        return list(reversed(self.events[-limit:])) if limit > 0 else []

    async def bury_raw(self, payload: str, reason: str, origin: str) -> None:
        payload, reason = cut_payload(payload, reason, self.dead_payload_bytes)
        for letter in self._dead.values():
            if not letter.key and letter.origin == origin and letter.payload == payload:
                return  # in the dead letters already (redelivered, or a pub/sub copy)
        self._add_dead("", reason, payload, origin)

    async def claim(self, consumer: str, count: int, min_idle: float) -> list[QueuedTicket]:
        taken: list[QueuedTicket] = []
        now = self.clock.monotonic()

        # 1. Entries this consumer was given before and did not ack.
        for entry_id in self._pel_ids(lambda d: d.consumer == consumer):
            if len(taken) >= count:
                break
            delivery = self._pel[entry_id]
            delivery.count += 1
            delivery.delivered_at = now
            self._take(entry_id, delivery, taken)

        # 2. Entries another consumer has left idle for min_idle.
        def abandoned(d: _Delivery) -> bool:
            return d.consumer != consumer and now - d.delivered_at >= min_idle

        for entry_id in self._pel_ids(abandoned):
            if len(taken) >= count:
                break
            if entry_id not in self._pending:
                del self._pel[entry_id]  # XAUTOCLAIM drops deleted entries from the PEL
                continue
            delivery = self._pel[entry_id]
            delivery.consumer = consumer
            delivery.count += 1
            delivery.delivered_at = now
            self._take(entry_id, delivery, taken)

        # 3. New entries, never delivered to anyone.
        for entry_id in sorted(self._pending, key=_seq):
            if len(taken) >= count:
                break
            if _seq(entry_id) <= self._last_delivered:
                continue
            self._last_delivered = _seq(entry_id)
            delivery = _Delivery(consumer, now, 1)
            self._pel[entry_id] = delivery
            self._take(entry_id, delivery, taken)
        return taken

    async def ack(self, entry_id: str) -> None:
        self._remove_entry(entry_id)

    async def pending_count(self) -> int:
        return len(self._pending)

    async def dead_count(self) -> int:
        return len(self._dead)

    async def list_dead(self, limit: int = 100) -> Sequence[DeadLetter]:
        return list(self._dead.values())[:limit]

    async def find_dead(self, *, reason: str | None = None, limit: int = 100) -> DeadLetterSearch:
        found = [d for d in reversed(self._dead.values()) if d.matches(reason)]
        return DeadLetterSearch(found[:limit], len(found), len(self._dead))

    async def delete_dead(self, entry_ids: Sequence[str]) -> int:
        return sum(self._dead.pop(entry_id, None) is not None for entry_id in set(entry_ids))

    async def replay_dead(self, entry_ids: Sequence[str] | None = None) -> int:
        """Put dead letters back where they came from: a pending entry with its ledger back to
        ACCEPTED (attempts 0), or the payload onto its origin stream. A letter whose key lives
        again (accepted anew or created since) is dropped instead, and not counted."""
        moved = 0
        for entry_id in list(self._dead) if entry_ids is None else list(entry_ids):
            letter = self._dead.pop(entry_id, None)
            if letter is not None:
                moved += self._replay(letter)
        return moved

    async def known_dead(self, entry_ids: Sequence[str]) -> set[str]:
        return {entry_id for entry_id in entry_ids if entry_id in self._dead}

    async def in_flight_count(self) -> int:
        """Entries delivered to a consumer and not acked yet (the group's PEL)."""
        return len(self._pel)

    async def ping(self) -> bool:
        return True

    async def probe_write(self) -> None:
        """Memory takes every write (until the process itself runs out)."""

    # -- internals -------------------------------------------------------------------------

    def _new_id(self) -> str:
        self._next_id += 1
        return f"{self._next_id}-0"

    def _known(self, key: str) -> _Ledger:
        record = self._record(key)
        if record is None:
            raise NotFound(f"no ledger entry for idempotency key {key!r}")
        return record

    def _record(self, key: str) -> _Ledger | None:
        record = self._ledger.get(key)
        # Finished keys are forgotten after the retention, as the ledger hash's EXPIRE does.
        expires_at = record.expires_at if record is not None else None
        if expires_at is not None and self.clock.monotonic() >= expires_at:
            del self._ledger[key]
            return None
        return record

    def _pel_ids(self, keep: Callable[[_Delivery], bool]) -> list[str]:
        return sorted((i for i, d in self._pel.items() if keep(d)), key=_seq)

    def _remove_entry(self, entry_id: str) -> None:
        self._pending.pop(entry_id, None)
        self._queued_at.pop(entry_id, None)
        self._pel.pop(entry_id, None)

    def _kill(self, record: _Ledger, reason: str) -> None:
        record.outcome = replace(
            record.outcome, state=TicketState.DEAD, reason=reason, reason_at=self.clock.now()
        )
        record.draft = None
        record.expires_at = self.clock.monotonic() + self.retention

    def _add_dead(self, key: str, reason: str, payload: str, origin: str) -> None:
        payload, reason = cut_payload(payload, reason, self.dead_payload_bytes)
        while len(self._dead) >= self.dead_maxlen:
            del self._dead[next(iter(self._dead))]
        entry_id = self._new_id()
        self._dead[entry_id] = DeadLetter(
            entry_id=entry_id,
            reason=reason,
            payload=payload,
            failed_at=self.clock.now(),
            key=key or None,
            origin=origin,
        )

    def _take(self, entry_id: str, delivery: _Delivery, taken: list[QueuedTicket]) -> None:
        """Keep a claimed entry if it decodes; clean up or bury it otherwise."""
        fields = self._pending.get(entry_id)
        if fields is None:
            del self._pel[entry_id]  # deleted while held: only its PEL record was left
            return
        payload = fields.get("payload")
        try:
            if payload is None:
                raise PayloadError("no payload field")
            draft = decode_draft(payload)
        except PayloadError as exc:
            key = fields.get("key", "")
            if payload is None:
                payload, reason = json.dumps(fields), "undecodable entry: no payload field"
            else:
                reason = f"undecodable payload: {exc}"
            record = self._record(key) if key else None
            if (
                record is not None
                and record.entry_id == entry_id
                and not record.outcome.state.finished
            ):
                self._kill(record, reason)
            self._add_dead(key, reason, payload, PENDING_ORIGIN)
            self._remove_entry(entry_id)
            return
        taken.append(QueuedTicket(entry_id=entry_id, draft=draft, deliveries=delivery.count))

    def _replay(self, letter: DeadLetter) -> int:
        if letter.origin != PENDING_ORIGIN:
            self.streams.setdefault(letter.origin, []).append(letter.payload)
            return 1
        key = letter.key or ""
        draft: TicketDraft | None
        try:
            draft = decode_draft(letter.payload)
        except PayloadError:
            draft = None  # replayed as is; the next claim buries it again, with the reason
        if draft is not None:
            key = key or draft.key
        record = self._record(key) if key else None
        if record is not None and record.outcome.state is not TicketState.DEAD:
            return 0
        entry_id = self.add_entry({"key": key, "payload": letter.payload})
        if not key:
            return 1
        if record is None:
            record = _Ledger(
                Outcome(
                    key=key,
                    request_id=draft.request_id if draft else "",
                    state=TicketState.ACCEPTED,
                    incident_id=draft.incident_id if draft else None,
                    source=draft.source if draft else None,
                )
            )
            self._ledger[key] = record
        record.outcome = replace(
            record.outcome,
            state=TicketState.ACCEPTED,
            attempts=0,
            reason=None,
            reason_at=None,
            last_attempt_at=None,
        )
        record.entry_id = entry_id
        record.draft = letter.payload
        record.expires_at = None
        return 1


@dataclass
class InMemoryLeases:
    """The ``Leases`` port in memory (one process only).

    Args:
        clock: Times the leases (monotonic).
    """

    clock: Clock
    _held: dict[str, tuple[str, float]] = field(default_factory=dict, init=False, repr=False)

    async def acquire(self, name: str, owner: str, ttl: float) -> bool:
        return self.take(name, owner, ttl)

    def take(self, name: str, owner: str, ttl: float) -> bool:
        """``acquire``, for callers that must not yield (a store step)."""
        now = self.clock.monotonic()
        held = self._held.get(name)
        if held is not None and held[0] != owner and held[1] > now:
            return False
        self._held[name] = (owner, now + ttl)  # taken, or renewed by its owner
        return True

    def holder(self, name: str) -> str | None:
        """Who holds the lease now, if anyone."""
        held = self._held.get(name)
        if held is None or held[1] <= self.clock.monotonic():
            return None
        return held[0]

    async def release(self, name: str, owner: str) -> None:
        held = self._held.get(name)
        if held is not None and held[0] == owner:
            del self._held[name]


@dataclass
class InMemoryContactCache:
    """The ``ContactCache`` port in memory.

    Args:
        clock: Times the entries (monotonic).
        ttl: Seconds an entry lives.
        max_entries: With a bound, the least recently used entry goes first when full.
    """

    clock: Clock
    ttl: float = CONTACT_TTL
    max_entries: int | None = None
    _entries: dict[str, tuple[str, float]] = field(default_factory=dict, init=False, repr=False)

    async def get(self, identity: str) -> str | None:
        entry = self._entries.pop(identity, None)
        if entry is None:
            return None
        if self.clock.monotonic() >= entry[1]:
            return None
        self._entries[identity] = entry  # back at the end: the most recently used
        return entry[0]

    async def put(self, identity: str, contact_id: str) -> None:
        self._entries.pop(identity, None)
        self._entries[identity] = (contact_id, self.clock.monotonic() + self.ttl)
        if self.max_entries is not None and len(self._entries) > self.max_entries:
            del self._entries[next(iter(self._entries))]

    def __len__(self) -> int:
        return len(self._entries)

    async def forget(self, identity: str) -> None:
        self._entries.pop(identity, None)


@dataclass
class InMemoryTokenStore:
    """The ``TokenStore`` port in memory."""

    tokens: TokenSet | None = field(default=None, repr=False)  # never shown: secrets

    def describe(self) -> str:
        """Where the tokens are, for ``auth status`` and ``doctor``."""
        return "memory (this process only)"

    async def load(self) -> TokenSet | None:
        return self.tokens

    async def save(self, tokens: TokenSet) -> None:
        self.tokens = tokens


@dataclass
class InMemoryRefreshBudget:
    """The ``RefreshBudget`` port in memory: a sliding-window log per refresh token, for one
    process (the file token store) and tests.

    Args:
        clock: Wall time.
        limit: Refreshes allowed per refresh token in ``window``.
        window: Seconds of the sliding window.
        jitter: The source of back-off jitter, a number in [0, 1).
    """

    clock: Clock
    limit: int = 8
    window: float = 600.0
    jitter: Callable[[], float] = field(default=random.random, repr=False)
    _log: dict[str, list[datetime]] = field(default_factory=dict, init=False, repr=False)
    _paused: dict[str, datetime] = field(default_factory=dict, init=False, repr=False)
    _failures: dict[str, tuple[int, datetime]] = field(default_factory=dict, init=False, repr=False)

    async def peek(self, subject: str) -> RefreshAllowance:
        return self._look(subject)

    async def record(self, subject: str) -> None:
        self._times(subject).append(self.clock.now())
        self._failures.pop(subject, None)

    async def throttled(self, subject: str, until: datetime) -> None:
        self._times(subject).append(self.clock.now())
        current = self._paused.get(subject)
        if current is None or until > current:
            self._paused[subject] = until

    async def failed(self, subject: str, *, first: float, cap: float) -> RefreshAllowance:
        count = self._failures.get(subject, (0, self.clock.now()))[0] + 1
        delay = backoff_delay(count, first, cap, self.jitter())
        self._failures[subject] = (count, self.clock.now() + timedelta(seconds=delay))
        return self._look(subject)

    async def resume(self, subject: str) -> RefreshAllowance:
        before = self._look(subject)
        self._log.pop(subject, None)
        self._paused.pop(subject, None)
        self._failures.pop(subject, None)
        return before

    def _times(self, subject: str) -> list[datetime]:
        since = self.clock.now() - timedelta(seconds=self.window)
        times = [t for t in self._log.get(subject, []) if t > since]
        self._log[subject] = times
        return times

    def _look(self, subject: str) -> RefreshAllowance:
        now = self.clock.now()
        times = self._times(subject)
        failures, retry_at = self._failures.get(subject, (0, now))
        paused = self._paused.get(subject)
        if paused is not None and paused > now:
            return self._allowance(len(times), paused, failures, throttled=True)
        if len(times) >= self.limit:
            return self._allowance(len(times), times[0] + timedelta(seconds=self.window), failures)
        if retry_at > now:
            return self._allowance(len(times), retry_at, failures, backing_off=True)
        return self._allowance(len(times), None, failures)

    def _allowance(
        self,
        used: int,
        until: datetime | None,
        failures: int,
        *,
        throttled: bool = False,
        backing_off: bool = False,
    ) -> RefreshAllowance:
        return RefreshAllowance(
            granted=until is None,
            used=used,
            limit=self.limit,
            window=self.window,
            paused_until=until,
            throttled=throttled,
            failures=failures,
            backing_off=backing_off,
        )


# ----------------------------------------------------------------- the two-way sync


@dataclass
class InMemoryConversations:
    """The ``Conversations`` port in memory: tickets, threads and comments a test (or the
    sandbox) puts in with :meth:`add_ticket`, :meth:`add_thread`, :meth:`add_comment` and
    :meth:`set_status`; each change moves the ticket's ``modified_time``. Counts its calls
    in ``calls`` (by name), as a test of the helpdesk's cost reads them."""

    clock: Clock
    org: str = "1"
    tickets: dict[str, ConversationTicket] = field(default_factory=dict)
    threads: dict[str, Thread] = field(default_factory=dict)
    comments: dict[str, Comment] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    _next: int = field(default=1000, init=False)

    def __repr__(self) -> str:
        return (
            f"InMemoryConversations(tickets={len(self.tickets)}, threads={len(self.threads)}, "
            f"comments={len(self.comments)})"
        )

    def _id(self) -> str:
        self._next += 1
        return str(self._next)

    def _count(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1

    def _touch(self, ticket_id: str) -> ConversationTicket:
        ticket = self.tickets[ticket_id]
        ticket.state = replace(ticket.state, modified_time=self.clock.now())
        return ticket

    def add_ticket(self, ticket_id: str, *, status: str = "Open") -> TicketState_:
        now = self.clock.now()
        state = TicketState_(ticket_id, f"#{ticket_id}", status, modified_time=now)
        self.tickets[ticket_id] = ConversationTicket(state)
        return state

    def add_thread(
        self,
        ticket_id: str,
        text: str,
        *,
        direction: str = "out",
        visibility: str = "public",
        status: str = "SUCCESS",
        author: Author | None = None,
        is_description: bool = False,
        attachments: tuple[Attachment, ...] = (),
    ) -> Thread:
        self._touch(ticket_id)
        agent = direction == "out"
        thread = Thread(
            id=self._id(),
            ticket_id=ticket_id,
            direction=direction,
            visibility=visibility,
            status=status,
            channel="EMAIL",
            author=author
            or Author("9", "Agent" if agent else "Customer", "AGENT" if agent else "END_USER"),
            created_time=self.clock.now(),
            is_description=is_description,
            summary=text[:100],
            content=f"<div>{text}</div>",
            plain_text=text,
            attachments=attachments,
        )
        self.threads[thread.id] = thread
        return thread

    def add_comment(
        self,
        ticket_id: str,
        text: str,
        *,
        public: bool = True,
        author: Author | None = None,
        attachments: tuple[Attachment, ...] = (),
    ) -> Comment:
        self._touch(ticket_id)
        comment = Comment(
            id=self._id(),
            ticket_id=ticket_id,
            content=text,
            content_type="plainText",
            is_public=public,
            author=author or Author("9", "Agent", "AGENT"),
            created_time=self.clock.now(),
            plain_text=text,
            attachments=attachments,
        )
        self.comments[comment.id] = comment
        return comment

    def set_status(self, ticket_id: str, status: str) -> None:
        ticket = self._touch(ticket_id)
        closed = self.clock.now() if status.lower() == "closed" else None
        ticket.state = replace(ticket.state, status=status, closed_time=closed)

    def _ticket(self, ticket_id: str) -> ConversationTicket:
        ticket = self.tickets.get(ticket_id)
        if ticket is None:
            raise HelpdeskRejected(f"no ticket {ticket_id}", status=404)
        return ticket

    async def get_thread(self, ticket_id: str, thread_id: str) -> Thread:
        self._count("get_thread")
        self._ticket(ticket_id)
        thread = self.threads.get(thread_id)
        if thread is None or thread.ticket_id != ticket_id:
            raise HelpdeskRejected(f"no thread {thread_id} on ticket {ticket_id}", status=404)
        return thread

    async def get_comment(self, ticket_id: str, comment_id: str) -> Comment:
        self._count("get_comment")
        self._ticket(ticket_id)
        comment = self.comments.get(comment_id)
        if comment is None or comment.ticket_id != ticket_id:
            raise HelpdeskRejected(f"no comment {comment_id} on ticket {ticket_id}", status=404)
        return comment

    async def list_conversations(
        self, ticket_id: str, *, limit: int = 200, start: int = 0
    ) -> list[Thread | Comment]:
        self._count("list_conversations")
        self._ticket(ticket_id)
        items: list[Thread | Comment] = [
            replace(t, content=None, plain_text=None)
            for t in self.threads.values()
            if t.ticket_id == ticket_id
        ]
        items += [c for c in self.comments.values() if c.ticket_id == ticket_id]
        items.sort(key=lambda item: (item.created_time, int(item.id)), reverse=True)
        return items[start : start + limit]

    async def ticket_state(self, ticket_id: str) -> TicketState_:
        self._count("ticket_state")
        return self._ticket(ticket_id).state

    async def post_comment(self, ticket_id: str, text: str) -> Comment:
        """A follow-up's comment, written as the service's agent (``FollowUpDesk``)."""
        self._count("post_comment")
        self._ticket(ticket_id)
        return self.add_comment(ticket_id, text, author=Author("7", "Service", "AGENT"))

    async def list_comments(
        self, ticket_id: str, *, limit: int = 100, start: int = 0, newest_first: bool = False
    ) -> list[Comment]:
        self._count("list_comments")
        self._ticket(ticket_id)
        comments = sorted(
            (c for c in self.comments.values() if c.ticket_id == ticket_id),
            key=lambda c: (c.created_time, int(c.id)),
            reverse=newest_first,
        )
        return comments[start : start + limit]

    async def org_id(self) -> str:
        return self.org

    async def modified_tickets(
        self, since: datetime, until: datetime, *, start: int = 0, limit: int = 100
    ) -> list[TicketState_]:
        self._count("modified_tickets")
        found = [
            t.state
            for t in self.tickets.values()
            if t.state.modified_time is not None and since <= t.state.modified_time <= until
        ]
        found.sort(key=lambda state: state.modified_time or since)
        return found[start : start + limit]


@dataclass
class InMemoryThreadIndex:
    """The ``ThreadIndex`` port in this process: names → (key, expiry on ``clock``)."""

    clock: Clock
    _held: dict[str, tuple[str, float]] = field(default_factory=dict, init=False)

    def __repr__(self) -> str:
        return f"InMemoryThreadIndex(names={len(self._held)})"

    def holder(self, name: str) -> str | None:
        held = self._held.get(name)
        if held is None or self.clock.monotonic() >= held[1]:
            self._held.pop(name, None)
            return None
        return held[0]

    async def claim(
        self, names: Sequence[str], key: str, ttl: float, *, replacing: str | None = None
    ) -> str:
        for name in names:
            holder = self.holder(name)
            if holder is not None and holder not in (key, replacing):
                return holder
        until = self.clock.monotonic() + ttl
        for name in names:
            self._held[name] = (key, until)
        return key


@dataclass
class ConversationTicket:
    """A ticket of :class:`InMemoryConversations`: its state, replaced as it changes."""

    state: TicketState_


@dataclass
class InMemorySyncLog:
    """The ``SyncLog`` port in memory: the two event streams as lists of payloads (and the
    subscribers each appended payload is handed to, as the pub/sub channel would)."""

    replies: list[str] = field(default_factory=list)
    status: list[str] = field(default_factory=list)
    subscribers: list[Callable[[EventStream, str], None]] = field(default_factory=list)
    _ids: set[tuple[str, str]] = field(default_factory=set, init=False)
    _marks: dict[str, StatusMark] = field(default_factory=dict, init=False)
    _own: set[str] = field(default_factory=set, init=False)
    _cursor: datetime | None = field(default=None, init=False)
    _webhook: str | None = field(default=None, init=False)

    def __repr__(self) -> str:
        return f"InMemorySyncLog(replies={len(self.replies)}, status={len(self.status)})"

    async def append(self, stream: EventStream, event_id: str, payload: str) -> bool:
        if (stream, event_id) in self._ids:
            return False
        self._ids.add((stream, event_id))
        (self.replies if stream == "replies" else self.status).append(payload)
        for subscriber in self.subscribers:
            subscriber(stream, payload)
        return True

    async def seen(self, stream: EventStream, event_id: str) -> bool:
        return (stream, event_id) in self._ids

    async def status_mark(self, ticket_id: str) -> StatusMark | None:
        return self._marks.get(ticket_id)

    async def set_status_mark(self, ticket_id: str, expected_seq: int, mark: StatusMark) -> bool:
        current = self._marks.get(ticket_id)
        if (current.seq if current else 0) != expected_seq:
            return False
        self._marks[ticket_id] = mark
        return True

    async def record_own_comment(self, comment_id: str) -> None:
        self._own.add(comment_id)

    async def is_own_comment(self, comment_id: str) -> bool:
        return comment_id in self._own

    async def poll_cursor(self) -> datetime | None:
        return self._cursor

    async def set_poll_cursor(self, until: datetime) -> None:
        self._cursor = until

    async def registered_webhook(self) -> str | None:
        return self._webhook

    async def set_registered_webhook(self, webhook_id: str | None) -> None:
        self._webhook = webhook_id


@dataclass
class InMemorySyncInbox:
    """The ``SyncInbox`` port in memory, with the Redis inbox's hand-out rules (own entries
    first, then those idle with another consumer, then new ones)."""

    clock: Clock
    _entries: dict[int, tuple[WebhookEvent, ...]] = field(default_factory=dict, init=False)
    _stored: dict[int, datetime] = field(default_factory=dict, init=False)
    # entry → (consumer, handed out at (monotonic), times handed out)
    _held: dict[int, _Delivery] = field(default_factory=dict, init=False)
    _next: int = field(default=0, init=False)
    _given: int = field(default=0, init=False)  # entries up to this one were handed out

    def __repr__(self) -> str:
        return f"InMemorySyncInbox(entries={len(self._entries)}, held={len(self._held)})"

    async def put(self, events: Sequence[WebhookEvent]) -> str:
        self._next += 1
        self._entries[self._next] = tuple(events)
        self._stored[self._next] = self.clock.now()
        return str(self._next)

    async def claim(self, consumer: str, count: int, min_idle: float) -> list[InboxEntry]:
        now = self.clock.monotonic()
        mine = [n for n, d in self._held.items() if d.consumer == consumer]
        idle = [
            n
            for n, d in self._held.items()
            if d.consumer != consumer and now - d.delivered_at >= min_idle
        ]
        new = [n for n in self._entries if n > self._given]
        taken: list[InboxEntry] = []
        for number in sorted(mine) + sorted(idle) + new:
            if len(taken) >= count:
                break
            held = self._held.get(number)
            times = held.count + 1 if held else 1
            self._held[number] = _Delivery(consumer, now, times)
            self._given = max(self._given, number)
            taken.append(InboxEntry(str(number), self._entries[number], times))
        return taken

    async def ack(self, entry_ids: Sequence[str]) -> None:
        for entry_id in entry_ids:
            self._held.pop(int(entry_id), None)
            self._entries.pop(int(entry_id), None)
            self._stored.pop(int(entry_id), None)

    async def backlog(self) -> int:
        return len(self._entries)

    async def oldest(self) -> datetime | None:
        return min(self._stored.values(), default=None)
