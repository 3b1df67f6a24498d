"""Ports of the ticket pipeline: the helpdesk, the ledger and queue, leases, contacts, the
call gate and the metrics the use cases report."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from ticketing.domain.model import (
    Agent,
    Contact,
    Customer,
    Department,
    Joined,
    NewContact,
    Organization,
    Outcome,
    QueuedTicket,
    Source,
    Ticket,
    TicketCreated,
    TicketDraft,
    TicketRequest,
    ticket_reference,
)


@dataclass(frozen=True, slots=True)
class TicketProbe:
    """What is known about a ticket whose create had an ambiguous outcome.

    The window is in the service's clock; a helpdesk with a clock of its own moves it into
    that clock before comparing it with its creation times.
    """

    key: str
    contact_id: str
    subject: str
    created_from: datetime
    created_to: datetime

    @property
    def reference(self) -> str:
        """The reference line every ticket made for this key carries in its description."""
        return ticket_reference(self.key)


class Helpdesk(Protocol):
    """The helpdesk (Zoho Desk). Implementations raise only ``HelpdeskError`` subclasses."""

    async def search_contacts(
        self, *, email: str | None = None, phone: str | None = None
    ) -> list[Contact]:
        """Contacts that *may* match the email or phone (loose: callers filter for exact).

        Returns an empty list when nothing matches.
        """
        ...

    async def create_contact(self, contact: NewContact) -> Contact:
        """Create a contact and return it with its id."""
        ...

    async def create_ticket(self, request: TicketRequest) -> Ticket:
        """Create a ticket.

        Raises:
            HelpdeskUnavailable: with ``sent=True`` when the ticket may have been created.
            HelpdeskRejected: the data was refused; ``field`` names the field when known.
        """
        ...

    async def find_ticket(self, probe: TicketProbe) -> Ticket | None:
        """Find a ticket that an earlier, ambiguous create may have made; None if not found.

        By the idempotency custom field when one is configured, otherwise by the key's
        reference (see :func:`ticket_reference`) in the description, kept only when the
        contact and subject match too and it was created within the window (in the
        helpdesk's own clock). The helpdesk's search index may lag a fresh ticket.
        """
        ...

    async def get_ticket(self, ticket_id: str) -> Ticket:
        """One ticket by id. Raises ``HelpdeskRejected`` (status 404) when it does not exist."""
        ...

    async def list_departments(self) -> list[Department]:
        """The enabled departments."""
        ...

    async def department_id(self) -> str:
        """The department new tickets go to: configured, or the default one (discovered once)."""
        ...

    async def list_organizations(self) -> list[Organization]:
        """The organizations (portals) the token can see."""
        ...

    async def ticket_field_values(self) -> dict[str, frozenset[str]]:
        """The portal's ticket picklists: each picklist field's API name (``channel``,
        ``priority``, ``category``...) and the values it allows."""
        ...

    async def whoami(self) -> Agent:
        """The agent behind the credentials."""
        ...


def lease_owner() -> str:
    """A fresh owner id for one holding of a lease (a ticket's, a customer's, a lock's): an
    owner releases only what it took itself."""
    return uuid.uuid4().hex


class Leases(Protocol):
    """Named, expiring, owner-checked locks (fleet-wide when backed by Redis), for what is
    not a ticket: a customer's contact creation, the token refresh. A ticket's own lease is
    :meth:`TicketLedger.lease`, taken in one step with its ledger record."""

    async def acquire(self, name: str, owner: str, ttl: float) -> bool:
        """Take the lease if free or expired; True when ``owner`` now holds it."""
        ...

    async def release(self, name: str, owner: str) -> None:
        """Give the lease back, only if ``owner`` still holds it."""
        ...


class ContactCache(Protocol):
    """Customer identity (normalized email or phone) → helpdesk contact id."""

    async def get(self, identity: str) -> str | None:
        """The cached contact id, or None."""
        ...

    async def put(self, identity: str, contact_id: str) -> None:
        """Remember a contact id (with the cache's time to live)."""
        ...

    async def forget(self, identity: str) -> None:
        """Drop an entry the helpdesk no longer accepts."""
        ...


@dataclass(frozen=True, slots=True)
class Accepted:
    """What :meth:`TicketLedger.accept_and_lease` did."""

    outcome: Outcome  # the key's outcome: the first one, for a known key
    new: bool  # the key was new: the draft is now in the ledger and the pending queue
    leased: bool  # the caller holds the key's lease (never for a known key)


@dataclass(frozen=True, slots=True)
class Leased:
    """A ticket's lease asked for, and its ledger record read in the same step."""

    held: bool  # the caller holds the key's lease now
    record: Outcome | None  # the ledger's record; None if the key is not in the ledger


class TicketLedger(Protocol):
    """The idempotency ledger of the ticket pipeline: one record per idempotency key, and the
    lease that lets one worker at a time act on it.

    A ticket is *accepted* once :meth:`accept` returns: it is then durable (in the ledger and
    the pending queue) and will be created exactly once, by whichever process gets to it. Only
    the holder of a ticket's *lease* (expiring, owner-checked, fleet-wide with Redis) works on
    it; the lease is taken with the ledger read (or with the accept) and given back with the
    completion, so that the common path costs no round trips of its own.

    :meth:`accept` and :meth:`accept_and_lease` are one step with and without the lease: a
    ticket that will not be tried now (the helpdesk is unavailable) is accepted unleased, so
    that any drain may take it at once rather than after a lease expires.
    """

    async def accept(self, draft: TicketDraft) -> tuple[Outcome, bool]:
        """Record the draft in the ledger and the pending queue, unless its key is known.

        Returns:
            The key's outcome (the first one, for a known key) and whether it was new.

        Raises:
            StoreUnavailable: nothing was stored.
        """
        ...

    async def accept_and_lease(self, draft: TicketDraft, owner: str, ttl: float) -> Accepted:
        """:meth:`accept`, and for a new key also its lease for ``owner`` (``ttl`` seconds),
        in one step: nobody else can start on the ticket in between.

        Raises:
            StoreUnavailable: nothing was stored.
        """
        ...

    async def lease(self, key: str, owner: str, ttl: float) -> Leased:
        """Take the key's lease for ``owner`` if it is free or expired (renew it if ``owner``
        holds it already), and read the ledger's record, in one step."""
        ...

    async def release(self, key: str, owner: str) -> None:
        """Give the key's lease back, only if ``owner`` still holds it."""
        ...

    async def get(self, key: str) -> Outcome | None:
        """The ledger's record for a key."""
        ...

    async def draft(self, key: str) -> TicketDraft | None:
        """The stored draft for a key that is not finished yet."""
        ...

    async def customer(self, key: str) -> Customer | None:
        """Who asked for a key's ticket, kept once it is created (the draft is not): what
        the two-way sync's events say about the customer."""
        ...

    async def mark_creating(self, key: str, at: datetime) -> Outcome:
        """About to send a create: state CREATING, attempts + 1, last attempt time."""
        ...

    async def mark_failed(self, key: str, reason: str) -> None:
        """The create definitely did not happen: back to ACCEPTED, with the reason."""
        ...

    async def mark_ambiguous(self, key: str, at: datetime) -> None:
        """The create sent for a CREATING key ended without an answer (failed after sending,
        timed out) at ``at``: the helpdesk may still commit it, so its search-lag grace is
        counted from here. Ignored for a key in any other state."""
        ...

    async def set_join(self, key: str, joined: Joined) -> None:
        """Record where a follow-up goes (an open ticket, or a new ticket of its own) before
        anything is sent, so that every later attempt keeps to it; ignored for a finished
        key or one not in the ledger."""
        ...

    async def owner_of(self, ticket_id: str) -> str | None:
        """The idempotency key a helpdesk ticket was recorded for by :meth:`complete`
        (remembered as long as that key's ledger record), or None."""
        ...

    async def complete(
        self, key: str, outcome: Outcome, event: TicketCreated, *, owner: str | None = None
    ) -> None:
        """The ticket exists: ledger CREATED, off the pending queue, one created event out,
        and the ticket id recorded as this key's (for :meth:`owner_of`); with ``owner``, the
        key's lease is given back in the same step. For an APPENDED outcome (a follow-up that
        became a comment) the same, with the comment recorded as this key's instead of the
        ticket (which stays the key's that created it).

        Raises:
            TicketTaken: the ticket id is recorded for another key already; nothing changed
                and the lease is kept.
        """
        ...

    async def bury(self, key: str, reason: str) -> None:
        """The ticket can never be created: ledger DEAD, entry moved to the dead letters."""
        ...


class PendingQueue(Protocol):
    """The durable queue of accepted tickets that the drain works through, shared by
    consumers (several processes may drain it at once)."""

    async def claim(self, consumer: str, count: int, min_idle: float) -> list[QueuedTicket]:
        """Up to ``count`` pending entries for this consumer: first the ones it already holds
        (not acked last time), then abandoned ones (held by another consumer idle for
        ``min_idle`` seconds), then new ones. Entries whose payload cannot be decoded are
        buried with the reason instead of being returned."""
        ...

    async def ack(self, entry_id: str) -> None:
        """Take an entry off the queue for good (its key is created or dead). An entry that is
        claimed and not acked stays with its consumer and comes back on its next claim."""
        ...

    async def pending_count(self) -> int:
        """Tickets accepted and not yet created or dead."""
        ...


class Metrics(Protocol):
    """What the use cases report for monitoring (Prometheus in production)."""

    def ticket(self, outcome: str, source: Source) -> None:
        """Count one ticket event.

        Args:
            outcome: ``accepted`` (new and durably stored), ``duplicate`` (a known key),
                ``queued`` (accepted, Zoho could not take it now), ``created``, ``dead``, or
                ``invalid`` (refused at intake; counted by the entrypoints).
            source: the entrypoint the ticket came through.
        """
        ...

    def ticket_latency(self, source: Source, seconds: float) -> None:
        """Time from the message being received to its ticket existing in the helpdesk."""
        ...

    def picklist_refused(self, field: str) -> None:
        """Count one value the helpdesk refused as not in its picklist for ``field``; the
        ticket was sent again without it."""
        ...


@dataclass(frozen=True, slots=True)
class Admission:
    """A :class:`CallGate`'s answer: the slot to make the call in, or why there is none."""

    slot: str | None
    paused_for: float = 0.0  # > 0: every call is held back this long (a 429's Retry-After)

    @property
    def admitted(self) -> bool:
        return self.slot is not None


class CallGate(Protocol):
    """Admission for helpdesk calls: at most ``capacity`` in flight at once, and a pause that
    holds every call back (Zoho's 429 ``Retry-After``). Fleet-wide when the gate is shared
    (Redis), this process only otherwise.

    Every admitted call must :meth:`leave` its slot, whatever happened to it. A holder that
    dies without leaving loses its slot after a time-out, so a crash cannot leak capacity for
    good.
    """

    capacity: int

    async def enter(self, wait: float) -> Admission:
        """A slot, waiting up to ``wait`` seconds for one to free up.

        Returns:
            Admitted with a slot; or not admitted: at once while calls are paused
            (``paused_for`` says how long), or when no slot freed up within ``wait``.
        """
        ...

    async def leave(self, slot: str) -> None:
        """Give a slot back."""
        ...

    async def pause(self, seconds: float) -> None:
        """Hold every call back for ``seconds`` from now; a longer pause in force stays."""
        ...

    def paused_for(self) -> float:
        """Seconds left of the pause, as last seen by this process (no I/O)."""
        ...

    async def refresh(self) -> float:
        """Seconds left of the pause, read from where the pause is shared (for health)."""
        ...

    def in_flight(self) -> int:
        """Slots this process holds right now."""
        ...

    async def run(self) -> None:
        """The gate's upkeep, for as long as the process serves; returns only when cancelled.

        A gate may keep a slot that has just been given back for a moment, for this
        process's next call (fewer round trips to where the slots are shared), but only while
        this runs: it gives such idle slots back once they have waited too long, and all of
        them when cancelled, so that an idle or stopping process holds none. Without it the
        gate works as well, every slot going back at once.
        """
        ...


class ProcessLiveness(Protocol):
    """This process's heartbeat, as the ticket pipeline needs it: a process sends a ticket
    create only if its heartbeat has been held since it took the ticket's lease (once it may
    have lapsed, the fleet may have taken the lease over, and a create of its own could make
    a second ticket)."""

    async def hold(self) -> int | None:
        """Make sure the heartbeat is held now (renewing it at once if that is not certain);
        the number of the current unbroken run of renewals, or None when it cannot be held
        (Redis out of reach)."""
        ...

    def held_since(self, run: int) -> bool:
        """Whether the heartbeat is surely still held and has been, unbroken, since run
        ``run`` began."""
        ...
