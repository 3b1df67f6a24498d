"""Read-side use cases: departments, health, the authorization URL."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from ticketing.application.guard import GuardedHelpdesk
from ticketing.application.sync.access import SyncAccess
from ticketing.application.tickets import DrainQueue
from ticketing.domain.breaker import BreakerState
from ticketing.domain.errors import TicketingError
from ticketing.domain.model import Department, DrainReport
from ticketing.domain.ports import (
    AuthorizationServer,
    Credentials,
    QueueMonitor,
    QuotaMeter,
    TokenStatus,
)


class ListDepartments:
    """The helpdesk's enabled departments."""

    def __init__(self, helpdesk: GuardedHelpdesk) -> None:
        self._helpdesk = helpdesk

    async def __call__(self) -> list[Department]:
        return await self._helpdesk.list_departments()


class AuthorizationUrl:
    """A consent URL with a fresh random ``state``."""

    def __init__(self, server: AuthorizationServer) -> None:
        self._server = server

    def __call__(self, state: str | None = None) -> tuple[str, str]:
        """Returns (url, state)."""
        state = state or secrets.token_urlsafe(24)
        return self._server.authorization_url(state), state


@dataclass(frozen=True, slots=True)
class ZohoLimits:
    """Where the service stands against Zoho's limits."""

    credits_remaining: int | None  # API credits left today, per Zoho's last answer
    max_concurrency: int | None  # calls allowed in flight (fleet-wide with Redis)
    in_flight: int  # calls this process has in flight now
    paused_for: float  # seconds left of a 429's Retry-After pause (fleet-wide with Redis)
    credits_ran_out_at: datetime | None = None  # Zoho said THRESHOLD_EXCEEDED (this process)
    credits_back_at: datetime | None = None  # per its Retry-After (else a UTC-midnight guess)


@dataclass(frozen=True, slots=True)
class HealthReport:
    """What ``GET /health`` says."""

    status: str  # healthy | degraded | unhealthy
    zoho_connected: bool
    redis_connected: bool
    queue_length: int | None  # None: unknown (the store did not answer), never a false 0
    dead_letters: int | None  # likewise
    breaker: str
    mode: str
    store: str
    last_error: str | None
    drain: DrainReport | None
    draining: bool
    limits: ZohoLimits | None = None
    store_error: str | None = None  # why tickets cannot be accepted durably now
    credentials_ok: bool | None = None  # False: an operator must act; None: not known here
    tokens: TokenStatus | None = None  # the tokens' non-secret facts and the refresh budget
    # The scopes the two-way sync lacks and how to get them (tickets are still created).
    sync_reauthorize: str | None = None

    @property
    def accepting(self) -> bool:
        """Can tickets still be accepted (healthy or degraded)?"""
        return self.status != "unhealthy"


@dataclass(frozen=True, slots=True)
class StoreCheck:
    """What the store said: reachable, the figures (None when unread), why not ready."""

    reachable: bool
    pending: int | None = None
    dead: int | None = None
    error: str | None = None  # set when a ticket would not be accepted durably now


class CheckHealth:
    """Healthy: Zoho and the store answer. Degraded: tickets are accepted and queued, Zoho is
    not taking them now (or its credentials need an operator). Unhealthy: the store is down
    or refuses writes (e.g. full), so nothing can be accepted."""

    def __init__(
        self,
        store: QueueMonitor,
        helpdesk: GuardedHelpdesk,
        drain: DrainQueue,
        *,
        mode: str,
        store_kind: str,
        quota: QuotaMeter | None = None,
        credentials: Credentials | None = None,
        sync_access: SyncAccess | None = None,
    ) -> None:
        self._sync_access = sync_access
        self._store = store
        self._helpdesk = helpdesk
        self._drain = drain
        self._mode = mode
        self._store_kind = store_kind
        self._quota = quota
        self._credentials = credentials

    async def limits(self) -> ZohoLimits:
        """Credits left, the concurrency cap and its use, and the pause, read fresh."""
        slots = await self._helpdesk.call_slots()
        credits = self._helpdesk.credits_pause()
        return ZohoLimits(
            credits_remaining=self._quota.credits_remaining if self._quota else None,
            max_concurrency=slots.capacity,
            in_flight=slots.in_flight,
            paused_for=round(self._helpdesk.paused_for(), 1),
            credits_ran_out_at=credits[0] if credits else None,
            credits_back_at=credits[1] if credits else None,
        )

    async def __call__(self) -> HealthReport:
        limits = await self.limits()
        store = await self.check_store()
        breaker = self._helpdesk.breaker_state
        zoho_ok = breaker is BreakerState.CLOSED and not self._helpdesk.paused_for()
        last_error = self._helpdesk.last_error
        tokens = await self.tokens()
        credentials_ok, problem = self._credentials_problem(tokens)
        if problem is not None:
            zoho_ok, last_error = False, problem
        store_ok = store.error is None
        if not store_ok:
            status = "unhealthy"
        elif zoho_ok:
            status = "healthy"
        else:
            status = "degraded"
        return HealthReport(
            status=status,
            zoho_connected=zoho_ok,
            redis_connected=store.reachable and self._store_kind == "redis",
            queue_length=store.pending,
            dead_letters=store.dead,
            breaker=breaker.value,
            mode=self._mode,
            store=self._store_kind,
            last_error=last_error if not zoho_ok else None,
            drain=self._drain.state.last_report,
            draining=self._drain.state.running,
            limits=limits,
            store_error=store.error,
            credentials_ok=credentials_ok,
            tokens=tokens,
            sync_reauthorize=self._sync_access.reauthorize if self._sync_access else None,
        )

    async def check_store(self) -> StoreCheck:
        """Reachable, the figures when they can be read, and whether it takes a write the
        way an acceptance needs (a full Redis answers PING and refuses every ticket)."""
        try:
            reachable = await self._store.ping()
        except TicketingError as exc:  # StoreUnavailable among them
            return StoreCheck(False, error=exc.message)
        if not reachable:
            return StoreCheck(False, error=f"the {self._store_kind} store does not answer")
        pending: int | None = None
        dead: int | None = None
        try:
            pending = await self._store.pending_count()
            dead = await self._store.dead_count()
        except TicketingError as exc:
            return StoreCheck(False, pending, dead, error=exc.message)
        try:
            await self._store.probe_write()
        except TicketingError as exc:
            return StoreCheck(True, pending, dead, error=exc.message)
        return StoreCheck(True, pending, dead)

    async def tokens(self) -> TokenStatus | None:
        """The tokens' non-secret facts and the refresh budget (the report carries them for
        the console); None without credentials here or when they cannot be read now."""
        if self._credentials is None:
            return None
        try:
            return await self._credentials.report()
        except TicketingError:
            return None

    @staticmethod
    def _credentials_problem(status: TokenStatus | None) -> tuple[bool | None, str | None]:
        """Whether the credentials work without an operator (None: cannot say), and why Zoho
        is not being asked for tokens now: they need an operator (``ticketing auth
        setup``), or refreshes are held back. From a fresh report (the budget is the truth,
        so a lifted pause stops showing at once)."""
        if status is None:  # the store's or the tokens' own trouble is reported elsewhere
            return None, None
        if status.needs_operator is not None:
            return False, f"Zoho credentials need an operator: {status.needs_operator}"
        budget = status.budget
        if budget is None or (budget.granted and not budget.failures):
            return status.authorized, None
        return status.authorized, budget.describe()
