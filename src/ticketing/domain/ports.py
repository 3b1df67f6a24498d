"""Ports: what the core needs from the outside world, as Protocols named after what they are."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from ticketing.domain.model import (
    Agent,
    Contact,
    DeadLetter,
    Department,
    NewContact,
    Organization,
    Outcome,
    QueuedTicket,
    Source,
    Ticket,
    TicketCreated,
    TicketDraft,
    TicketRequest,
)


class Clock(Protocol):
    """Time. The domain never reads the system clock itself."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back; for durations only."""
        ...


@dataclass(frozen=True, slots=True)
class TicketProbe:
    """What is known about a ticket whose create had an ambiguous outcome."""

    key: str
    contact_id: str
    subject: str
    created_from: datetime
    created_to: datetime


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

        By the idempotency custom field when one is configured, otherwise by contact, subject
        and creation-time window. The helpdesk's search index may lag a fresh ticket.
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

    async def whoami(self) -> Agent:
        """The agent behind the credentials."""
        ...


@dataclass(frozen=True, slots=True)
class TokenSet:
    """OAuth tokens and where they came from. Never logged (the repr leaves the tokens out)."""

    refresh_token: str | None = field(repr=False)
    access_token: str | None = field(default=None, repr=False)
    expires_at: datetime | None = None
    accounts_url: str | None = None
    api_domain: str | None = None
    scope: str | None = None


class TokenStore(Protocol):
    """Where OAuth tokens are kept between runs (a file, or Redis for a fleet)."""

    async def load(self) -> TokenSet | None:
        """The stored tokens, or None if none are stored yet."""
        ...

    async def save(self, tokens: TokenSet) -> None:
        """Store tokens atomically, readable only by this service."""
        ...


class Leases(Protocol):
    """Named, expiring, owner-checked locks (fleet-wide when backed by Redis)."""

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


class TicketStore(Protocol):
    """The durable pending queue, the idempotency ledger and the dead letters, kept together
    so that accepting, completing and burying a ticket are each one atomic step.

    A ticket is *accepted* once :meth:`accept` returns: it is then durable and will be created
    exactly once, by whichever process gets to it.
    """

    async def accept(self, draft: TicketDraft) -> tuple[Outcome, bool]:
        """Record the draft in the ledger and the pending queue, unless its key is known.

        Returns:
            The key's outcome (the first one, for a known key) and whether it was new.

        Raises:
            StoreUnavailable: nothing was stored.
        """
        ...

    async def get(self, key: str) -> Outcome | None:
        """The ledger's record for a key."""
        ...

    async def draft(self, key: str) -> TicketDraft | None:
        """The stored draft for a key that is not finished yet."""
        ...

    async def mark_creating(self, key: str, at: datetime) -> Outcome:
        """About to send a create: state CREATING, attempts + 1, last attempt time."""
        ...

    async def mark_failed(self, key: str, reason: str) -> None:
        """The create definitely did not happen: back to ACCEPTED, with the reason."""
        ...

    async def complete(self, key: str, outcome: Outcome, event: TicketCreated) -> None:
        """The ticket exists: ledger CREATED, off the pending queue, one created event out."""
        ...

    async def bury(self, key: str, reason: str) -> None:
        """The ticket can never be created: ledger DEAD, entry moved to the dead letters."""
        ...

    async def bury_raw(self, payload: str, reason: str, origin: str) -> None:
        """A message that never became a ticket (malformed): straight to the dead letters,
        remembering the stream it came from (``origin``) so that a replay puts it back there.

        The same message from the same origin is buried once while its letter is there: a
        consumer killed before acknowledging it, or a pub/sub copy reaching every instance,
        adds nothing. A replayed letter can be buried again."""
        ...

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

    async def dead_count(self) -> int:
        """Entries in the dead letters."""
        ...

    async def list_dead(self, limit: int = 100) -> Sequence[DeadLetter]:
        """The oldest dead letters."""
        ...

    async def replay_dead(self, entry_ids: Sequence[str] | None = None) -> int:
        """Move dead letters (all, or these) back to the pending queue; how many moved."""
        ...

    async def ping(self) -> bool:
        """Is the store reachable?"""
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
