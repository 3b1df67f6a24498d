"""Ports: what the core needs from the outside world, as Protocols named after what they are."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
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
    ticket_reference,
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


@dataclass(frozen=True, slots=True)
class TokenSet:
    """OAuth tokens and where they came from. Never logged (the repr leaves the tokens out)."""

    refresh_token: str | None = field(repr=False)
    access_token: str | None = field(default=None, repr=False)
    expires_at: datetime | None = None
    accounts_url: str | None = None
    api_domain: str | None = None
    scope: str | None = None
    lifetime: float | None = None  # seconds the access token was issued for (None: unknown)


class TokenStore(Protocol):
    """Where OAuth tokens are kept between runs (a file, or Redis for a fleet)."""

    async def load(self) -> TokenSet | None:
        """The stored tokens, or None if none are stored yet."""
        ...

    async def save(self, tokens: TokenSet) -> None:
        """Store tokens atomically, readable only by this service."""
        ...


class AuthorizationServer(Protocol):
    """The OAuth authorization server (Zoho Accounts) of a server-based client."""

    accounts_url: str

    def authorization_url(self, state: str) -> str:
        """The consent URL a person opens to grant this service offline access."""
        ...

    async def exchange_code(self, code: str, *, accounts_server: str | None = None) -> TokenSet:
        """Exchange an authorization code, at the accounts server the callback named.

        Raises:
            HelpdeskAuthError: ``code`` is ``invalid_code`` (expired or used) or
                ``invalid_client`` (wrong id or secret, or another data centre).
            HelpdeskUnavailable: the accounts server is unreachable or throttling.
        """
        ...

    async def verify_client(self) -> None:
        """Check the client id and secret without spending a refresh.

        Raises:
            HelpdeskAuthError: the accounts server does not know this client (``invalid_client``).
            HelpdeskUnavailable: the accounts server is unreachable or throttling.
        """
        ...

    def data_centre(self, accounts_url: str) -> str | None:
        """The data centre (``us``, ``eu``, …) an accounts URL belongs to; None if unknown."""
        ...

    def trusts(self, accounts_url: str) -> bool:
        """May the client secret be sent to this accounts server (a Zoho host, or the
        configured one)?"""
        ...


@dataclass(frozen=True, slots=True)
class RefreshAllowance:
    """Where one refresh token stands against the fleet-wide refresh budget.

    ``granted`` says whether a refresh could happen now; ``paused_until`` says when the next
    one may when it cannot. ``used`` counts what Zoho counts: access tokens issued, and
    attempts Zoho refused as too many. ``failures`` counts the accounts server's failures in
    a row (nothing issued, so not counted in ``used``); they back the next try off.
    """

    granted: bool
    used: int
    limit: int
    window: float
    paused_until: datetime | None = None
    throttled: bool = False  # paused because Zoho itself refused, not because of our count
    failures: int = 0
    backing_off: bool = False  # paused because the accounts server failed, not for a count

    def describe(self) -> str:
        """One line for an error, ``/health`` or ``auth status``."""
        minutes = f"{self.window / 60:g} minutes"
        if self.paused_until is not None and not self.granted:
            until = self.paused_until.strftime("%Y-%m-%d %H:%M:%S UTC")
            if self.throttled:
                return (
                    f"Zoho token refreshes are paused until {until}: Zoho refused a refresh as "
                    f"too many ({self.used} refreshes counted in the last {minutes})"
                )
            if self.backing_off:
                return (
                    f"Zoho token refreshes are backed off until {until}: the accounts server "
                    f"failed {self.failures} time(s) in a row (nothing was issued, so nothing "
                    "was counted against ZOHO_REFRESH_BUDGET)"
                )
            return (
                f"Zoho token refreshes are paused until {until}: {self.used} refreshes were made "
                f"in the last {minutes} (ZOHO_REFRESH_BUDGET={self.limit}; Zoho blocks a "
                "refresh token after 10)"
            )
        used = f"{self.used} of {self.limit} refreshes used in the last {minutes}"
        if self.failures:
            return (
                f"the Zoho accounts server failed the last {self.failures} token refresh(es); "
                f"the next call tries again ({used})"
            )
        return used


def backoff_delay(failures: int, first: float, cap: float, jitter: float) -> float:
    """Seconds to wait after ``failures`` failures in a row: ``first`` doubled per failure,
    at most ``cap``, then scaled by ``0.5 + jitter / 2`` (``jitter`` in [0, 1)) so that a
    fleet's retries spread out instead of arriving together."""
    exponent = min(max(failures, 1) - 1, 30)
    return min(cap, first * 2.0**exponent) * (0.5 + max(0.0, min(jitter, 1.0)) / 2)


class RefreshBudget(Protocol):
    """What Zoho counts against a refresh token (access tokens issued, and refusals as too
    many: 10 per refresh token in 10 minutes, then blocked for the rest of the window),
    counted across every process that shares the budget so the fleet stays under it; and
    the back-off from a failing accounts server, shared the same way.

    ``subject`` names the refresh token without being it (a fingerprint). Every pause it
    holds ends with its reason: the window sliding on, Zoho's pause passing, a success after
    failures, or :meth:`resume`.
    """

    async def peek(self, subject: str) -> RefreshAllowance:
        """Where the budget stands, without counting; ``granted`` says if a refresh could
        happen now (not over the budget, not paused by Zoho, not backing off)."""
        ...

    async def record(self, subject: str) -> None:
        """Zoho issued an access token: count it, and end any back-off."""
        ...

    async def throttled(self, subject: str, until: datetime) -> None:
        """Zoho refused a refresh as too many: count it, and no refresh before ``until``
        (a shorter pause never shortens a longer one)."""
        ...

    async def failed(self, subject: str, *, first: float, cap: float) -> RefreshAllowance:
        """The accounts server failed (nothing issued, nothing counted): one more failure in
        a row, and no refresh before a jittered ``backoff_delay`` has passed."""
        ...

    async def resume(self, subject: str) -> RefreshAllowance:
        """Lift everything that holds refreshes back (the count, Zoho's pause, the back-off),
        by hand; returns where the budget stood before."""
        ...


@dataclass(frozen=True, slots=True)
class TokenStatus:
    """Facts about the OAuth tokens, never their values."""

    store: str  # where they are kept, e.g. "file .zoho_tokens.json" or "redis key …"
    authorized: bool  # a refresh token is stored or configured
    access_token_expires_at: datetime | None = None
    accounts_url: str | None = None
    data_centre: str | None = None
    scope: str | None = None
    refresh_token_from_env: bool = False
    authorization_code_pending: bool = False
    refreshes: int = 0  # by this process
    budget: RefreshAllowance | None = None
    budget_shared: bool = False  # counted in Redis for the fleet, not in this process only


class Credentials(Protocol):
    """The access-token source (Zoho's OAuth tokens, refreshed and shared)."""

    async def access_token(self) -> str:
        """A valid access token, refreshed first when it is about to expire.

        Raises:
            HelpdeskAuthError: no refresh token, or Zoho refused it or the client.
            RateLimited: refreshes are paused (the budget is spent, or Zoho throttles).
            HelpdeskUnavailable: the accounts server or the shared token store is unreachable.
        """
        ...

    async def adopt(self, tokens: TokenSet) -> None:
        """Take tokens from a fresh authorization: store them and use them from now on."""
        ...

    async def report(self) -> TokenStatus:
        """Non-secret facts about the tokens and the refresh budget."""
        ...

    async def resume(self) -> RefreshAllowance | None:
        """Lift every pause on refreshing (the budget's count, Zoho's pause, the back-off)
        wherever the budget is kept; where it stood before, or None without a refresh token.

        Raises:
            StoreUnavailable: the shared store cannot be reached.
        """
        ...


class Browser(Protocol):
    """Whatever can show a person a URL."""

    def open(self, url: str) -> bool:
        """Try to open ``url``; False when there is no browser here."""
        ...


class CallbackInbox(Protocol):
    """The redirects that reached a listening callback server."""

    async def receive(self) -> Mapping[str, str]:
        """The query parameters of the next redirect to the callback path."""
        ...

    async def reply(self, ok: bool, message: str) -> None:
        """Answer the browser that made the last redirect with a short page."""
        ...


class CallbackServer(Protocol):
    """The local HTTP server that an OAuth redirect URI points at."""

    def listen(self) -> AbstractAsyncContextManager[CallbackInbox]:
        """Listen on the redirect URI's port until the context ends.

        Raises:
            ConfigurationError: the URI is not a loopback http URL, or its port is taken.
        """
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


@dataclass(frozen=True, slots=True)
class Accepted:
    """What :meth:`TicketStore.accept_and_lease` did."""

    outcome: Outcome  # the key's outcome: the first one, for a known key
    new: bool  # the key was new: the draft is now in the ledger and the pending queue
    leased: bool  # the caller holds the key's lease (never for a known key)


@dataclass(frozen=True, slots=True)
class Leased:
    """A ticket's lease asked for, and its ledger record read in the same step."""

    held: bool  # the caller holds the key's lease now
    record: Outcome | None  # the ledger's record; None if the key is not in the ledger


class TicketStore(Protocol):
    """The durable pending queue, the idempotency ledger and the dead letters, kept together
    so that accepting, completing and burying a ticket are each one atomic step.

    A ticket is *accepted* once :meth:`accept` returns: it is then durable and will be created
    exactly once, by whichever process gets to it. Only the holder of a ticket's *lease*
    (expiring, owner-checked, fleet-wide with Redis) works on it; the lease is taken with the
    ledger read (or with the accept) and given back with the completion, so that the common
    path costs no round trips of its own.
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

    async def owner_of(self, ticket_id: str) -> str | None:
        """The idempotency key a helpdesk ticket was recorded for by :meth:`complete`
        (remembered as long as that key's ledger record), or None."""
        ...

    async def complete(
        self, key: str, outcome: Outcome, event: TicketCreated, *, owner: str | None = None
    ) -> None:
        """The ticket exists: ledger CREATED, off the pending queue, one created event out,
        and the ticket id recorded as this key's (for :meth:`owner_of`); with ``owner``, the
        key's lease is given back in the same step.

        Raises:
            TicketTaken: the ticket id is recorded for another key already; nothing changed
                and the lease is kept.
        """
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


class QuotaMeter(Protocol):
    """What the helpdesk last said about its API quota (Zoho's daily credits)."""

    @property
    def credits_remaining(self) -> int | None:
        """Credits left today per the last ``X-Rate-Limit-Remaining-v3``; None before any."""
        ...
