"""The circuit breaker and the call gate wrapped around every helpdesk call."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

import anyio

from ticketing.application.guard_log import GuardLog
from ticketing.domain.breaker import BreakerState, CircuitBreaker
from ticketing.domain.errors import (
    AccountsUnavailable,
    BreakerOpen,
    HelpdeskError,
    HelpdeskUnavailable,
    RateLimited,
    RefreshPaused,
    StoreUnavailable,
)
from ticketing.domain.model import (
    Agent,
    Contact,
    Department,
    NewContact,
    Organization,
    Ticket,
    TicketRequest,
)
from ticketing.domain.ports import Admission, CallGate, Clock, Helpdesk, TicketProbe

T = TypeVar("T")

# Zoho's error code for a portal whose API credits for the day are spent.
CREDITS_SPENT = "THRESHOLD_EXCEEDED"

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CallSlots:
    """The call gate's cap (None without a gate) and the calls this process has in flight."""

    capacity: int | None
    in_flight: int


class GuardedHelpdesk:
    """A Helpdesk that refuses calls while the breaker is open and feeds it every outcome.

    Connection errors, timeouts, 5xx and 429 count as failures; validation errors and auth
    errors do not (Zoho answered), nor do the token side's failures (the accounts server, the
    refresh budget), which hold themselves back. A 429's ``Retry-After`` also holds every call
    back until it has passed, not only the one that got it: fleet-wide when the gate is shared.
    A call made during a short pause (up to ``pause_wait`` seconds) waits it out, so that a
    ticket halfway through its calls is not abandoned and started over; during a longer one it
    is refused.

    With a ``gate``, every call runs in one of its slots (``ZOHO_MAX_CONCURRENCY`` in flight
    at most, fleet-wide through Redis), waiting up to ``slot_wait`` seconds for one; a call
    that gets none is refused like one the breaker refuses (``BreakerOpen``: nothing was sent,
    the ticket stays queued). A slot covers everything the call does in turn: the token
    refresh and the organization look-up it may need, and its retry after a stale token.
    """

    def __init__(
        self,
        inner: Helpdesk,
        breaker: CircuitBreaker,
        clock: Clock,
        gate: CallGate | None = None,
        *,
        slot_wait: float = 15.0,
        pause_wait: float = 5.0,
    ) -> None:
        self.inner = inner
        self.breaker = breaker
        self.gate = gate
        self._clock = clock
        self._slot_wait = slot_wait
        self._pause_wait = pause_wait
        self._department: str | None = None
        self._paused_until = 0.0
        # When Zoho last said the day's credits are spent, and when it said they come back.
        self.credits_ran_out_at: datetime | None = None
        self.credits_back_at: datetime | None = None
        self.last_success_at: datetime | None = None
        self.last_failure_at: datetime | None = None
        self.last_error: str | None = None
        # What the log has said about Zoho's health: each change once (see GuardLog).
        self.story = GuardLog(clock)

    @property
    def breaker_state(self) -> BreakerState:
        """The circuit breaker's state now (for the drain, health and metrics)."""
        return self.breaker.state

    async def call_slots(self) -> CallSlots:
        """The call gate's cap and this process's use of it, with the pause read fresh from
        where it is shared (a pause another instance set shows here too; the store being down
        is reported elsewhere)."""
        gate = self.gate
        if gate is None:
            return CallSlots(capacity=None, in_flight=0)
        with contextlib.suppress(StoreUnavailable):
            await gate.refresh()
        return CallSlots(capacity=gate.capacity, in_flight=gate.in_flight())

    async def run_upkeep(self) -> None:
        """The call gate's upkeep (see :meth:`CallGate.run`) for as long as the process
        serves; returns at once when there is no gate."""
        if self.gate is not None:
            await self.gate.run()

    @property
    def available(self) -> bool:
        """Would a call be attempted now (breaker not open, no 429 pause)?"""
        return self.breaker.state is not BreakerState.OPEN and not self.paused_for()

    def credits_pause(self) -> tuple[datetime, datetime] | None:
        """When the day's credits ran out and when Zoho said they come back, while that has
        not passed (as this process saw it); None otherwise."""
        if self.credits_ran_out_at is None or self.credits_back_at is None:
            return None
        if self.credits_back_at <= self._clock.now():
            return None
        return self.credits_ran_out_at, self.credits_back_at

    def paused_for(self) -> float:
        """Seconds left of a Retry-After pause (this process's, or the fleet's as last seen)."""
        local = max(0.0, self._paused_until - self._clock.monotonic())
        left = max(local, self.gate.paused_for()) if self.gate is not None else local
        self.story.pause_left(left)  # a pause that began or ended is logged once
        return left

    def why_unavailable(self) -> str | None:
        """Why a call would not be attempted now (the breaker open, a pause), or would find no
        access token (refreshes paused, as last seen); None otherwise."""
        if self.breaker.state is BreakerState.OPEN:
            return self._breaker_open().message
        paused = self.paused_for()
        if paused:
            return f"Zoho calls are paused for {paused:.0f}s more: {self.story.pause_reason}"
        return self.story.refresh_pause

    async def guarded(self, call: Callable[[], Awaitable[T]], operation: str = "a call") -> T:
        """Run a Zoho call another port makes (the two-way sync's reads) under the same
        breaker, call gate and 429 pause as the ticket calls; ``operation`` names it in the
        log."""
        return await self._call(call, operation)

    async def _call(self, call: Callable[[], Awaitable[T]], operation: str) -> T:
        await self._wait_out(self.paused_for())
        if self.breaker.state is BreakerState.OPEN:
            raise self._breaker_open()  # at once, not after waiting for a slot
        if self.gate is None:
            self._allow()
            return await self._observed(call, operation)
        slot = await self._slot(self.gate)
        try:
            # Asked only now that the call can go: a half-open trial is not held by a call
            # that is still waiting for its slot.
            self._allow()
            return await self._observed(call, operation)
        finally:
            with anyio.CancelScope(shield=True):
                try:
                    await self.gate.leave(slot)
                except StoreUnavailable as exc:
                    # The slot expires on its own; the call's own outcome matters more.
                    log.warning("could not give back a Zoho call slot: %s", exc.message)

    async def _wait_out(self, pause: float) -> None:
        """Sleep through a short pause; refuse the call (BreakerOpen) during a long one, or if
        the pause is still on afterwards (another 429 extended it)."""
        if pause <= 0:
            return
        if pause <= self._pause_wait:
            await anyio.sleep(pause)
            pause = self.paused_for()
            if pause <= 0:
                return
        raise BreakerOpen(f"Zoho asked us to wait {pause:.0f}s more (429 Retry-After)")

    async def _slot(self, gate: CallGate) -> str:
        admission = await gate.enter(self._slot_wait)
        if admission.slot is None and 0 < admission.paused_for <= self._pause_wait:
            await self._wait_out(admission.paused_for)
            admission = await gate.enter(self._slot_wait)
        if admission.slot is None:
            raise self._refused(admission)
        return admission.slot

    def _allow(self) -> None:
        allowed = self.breaker.allow()
        self._note_breaker()
        if not allowed:
            raise self._breaker_open()

    def _note_breaker(self) -> None:
        self.story.breaker(self.breaker.snapshot(), self.last_error)

    def _breaker_open(self) -> BreakerOpen:
        retry_in = self.breaker.snapshot().retry_in
        return BreakerOpen(f"circuit breaker open; next trial in {retry_in:.0f}s")

    def _refused(self, admission: Admission) -> BreakerOpen:
        if admission.paused_for > 0:
            return BreakerOpen(
                f"Zoho asked us to wait {admission.paused_for:.0f}s more (429 Retry-After)"
            )
        capacity = self.gate.capacity if self.gate is not None else 0
        return BreakerOpen(
            f"all {capacity} Zoho call slots (ZOHO_MAX_CONCURRENCY) stayed busy for "
            f"{self._slot_wait:g}s"
        )

    async def _observed(self, call: Callable[[], Awaitable[T]], operation: str) -> T:
        try:
            result = await call()
        except (RefreshPaused, AccountsUnavailable) as exc:
            # The token side failed before Desk was asked: its pause and back-off live in the
            # refresh budget, and end there. Holding Desk calls here as well (in memory) would
            # outlive them; counting it as Desk failing would open the breaker on a healthy Desk.
            self.breaker.release_trial()
            self.last_failure_at = self._clock.now()
            self.last_error = exc.message
            if isinstance(exc, RefreshPaused):
                self.story.refresh_paused(operation, exc)
            else:
                self.story.error(f"{operation} (token refresh)", exc)
            self._note_breaker()
            raise
        except HelpdeskUnavailable as exc:
            self.story.error(operation, exc)
            if isinstance(exc, RateLimited) and exc.retry_after:
                if exc.code == CREDITS_SPENT:
                    self.credits_ran_out_at = self._clock.now()
                    self.credits_back_at = self._clock.now() + timedelta(seconds=exc.retry_after)
                await self._pause(exc.retry_after, _pause_reason(operation, exc))
            self.breaker.record_failure()
            self.last_failure_at = self._clock.now()
            self.last_error = exc.message
            self._note_breaker()
            raise
        except HelpdeskError as exc:
            self.story.error(operation, exc)
            self.breaker.record_ignored()
            self._note_breaker()
            raise
        except BaseException:
            # Cancelled (the attempt ran out of time, Zoho hanging) or the process dying: Zoho
            # gave no answer, so this must not close a half-open breaker and let every waiting
            # ticket through to a Zoho that may still hang. A trial without an answer failed.
            if self.breaker.state is BreakerState.HALF_OPEN:
                self.breaker.record_failure()
                self._note_breaker()
            raise
        self.breaker.record_success()
        self.last_success_at = self._clock.now()
        self.story.worked()
        self._note_breaker()
        return result

    async def _pause(self, seconds: float, reason: str) -> None:
        self.paused_for()  # an earlier pause that has ended is logged as such first
        self._paused_until = max(self._paused_until, self._clock.monotonic() + seconds)
        self.story.paused(reason, seconds)
        if self.gate is None:
            return
        try:
            with anyio.CancelScope(shield=True):
                await self.gate.pause(seconds)
        except StoreUnavailable as exc:
            log.warning("could not pause the fleet's Zoho calls: %s", exc.message)

    async def search_contacts(
        self, *, email: str | None = None, phone: str | None = None
    ) -> list[Contact]:
        return await self._call(
            lambda: self.inner.search_contacts(email=email, phone=phone), "search_contacts"
        )

    async def create_contact(self, contact: NewContact) -> Contact:
        return await self._call(lambda: self.inner.create_contact(contact), "create_contact")

    async def create_ticket(self, request: TicketRequest) -> Ticket:
        return await self._call(lambda: self.inner.create_ticket(request), "create_ticket")

    async def find_ticket(self, probe: TicketProbe) -> Ticket | None:
        return await self._call(lambda: self.inner.find_ticket(probe), "find_ticket")

    async def get_ticket(self, ticket_id: str) -> Ticket:
        return await self._call(lambda: self.inner.get_ticket(ticket_id), "get_ticket")

    async def list_departments(self) -> list[Department]:
        return await self._call(self.inner.list_departments, "list_departments")

    async def department_id(self) -> str:
        # Configured or discovered once per process: later tickets neither spend a call slot
        # nor touch the breaker for it.
        if self._department is None:
            self._department = await self._call(self.inner.department_id, "department_id")
        return self._department

    async def list_organizations(self) -> list[Organization]:
        return await self._call(self.inner.list_organizations, "list_organizations")

    async def ticket_field_values(self) -> dict[str, frozenset[str]]:
        return await self._call(self.inner.ticket_field_values, "ticket_field_values")

    async def whoami(self) -> Agent:
        return await self._call(self.inner.whoami, "whoami")


def _pause_reason(operation: str, exc: RateLimited) -> str:
    """Why Zoho holds every call back, as the pause's log lines say it."""
    if exc.code == CREDITS_SPENT:
        return f"the day's API credits are spent, {exc.code} on {operation}"
    return (
        f"Zoho answered {exc.status or 429} on {operation} with Retry-After {exc.retry_after:.0f}s"
    )
