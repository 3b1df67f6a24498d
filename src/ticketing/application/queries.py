"""Read-side use cases: departments, health, the authorization URL."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from ticketing.application.guard import GuardedHelpdesk
from ticketing.application.tickets import DrainQueue
from ticketing.domain.breaker import BreakerState
from ticketing.domain.errors import TicketingError
from ticketing.domain.model import Department, DrainReport
from ticketing.domain.ports import AuthorizationServer, Credentials, QueueMonitor, QuotaMeter


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
    queue_length: int
    dead_letters: int
    breaker: str
    mode: str
    store: str
    last_error: str | None
    drain: DrainReport | None
    draining: bool
    limits: ZohoLimits | None = None

    @property
    def accepting(self) -> bool:
        """Can tickets still be accepted (healthy or degraded)?"""
        return self.status != "unhealthy"


class CheckHealth:
    """Healthy: Zoho and the store answer. Degraded: tickets are accepted and queued, Zoho is
    not taking them now. Unhealthy: the store is down, so nothing can be accepted."""

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
    ) -> None:
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
        try:
            store_ok = await self._store.ping()
            pending = await self._store.pending_count() if store_ok else 0
            dead = await self._store.dead_count() if store_ok else 0
        except TicketingError:  # StoreUnavailable among them
            store_ok, pending, dead = False, 0, 0
        breaker = self._helpdesk.breaker_state
        zoho_ok = breaker is BreakerState.CLOSED and not self._helpdesk.paused_for()
        last_error = self._helpdesk.last_error
        refreshes = await self._refresh_pause()
        if refreshes is not None:
            zoho_ok, last_error = False, refreshes
        if not store_ok:
            status = "unhealthy"
        elif zoho_ok:
            status = "healthy"
        else:
            status = "degraded"
        return HealthReport(
            status=status,
            zoho_connected=zoho_ok,
            redis_connected=store_ok and self._store_kind == "redis",
            queue_length=pending,
            dead_letters=dead,
            breaker=breaker.value,
            mode=self._mode,
            store=self._store_kind,
            last_error=last_error if not zoho_ok else None,
            drain=self._drain.state.last_report,
            draining=self._drain.state.running,
            limits=limits,
        )

    async def _refresh_pause(self) -> str | None:
        """Why token refreshes are held back now, asked fresh (the budget is the truth, so a
        lifted pause stops showing at once); None when they are not, or nobody can say."""
        if self._credentials is None:
            return None
        try:
            status = await self._credentials.report()
        except TicketingError:
            return None  # the store's or the tokens' own trouble is reported elsewhere
        budget = status.budget
        if budget is None or (budget.granted and not budget.failures):
            return None
        return budget.describe()
