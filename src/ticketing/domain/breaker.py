"""The circuit-breaker state machine: pure, time through a Clock."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from ticketing.domain.ports import Clock


class BreakerState(enum.Enum):
    """Closed: calls flow. Open: calls are refused. Half-open: one trial call is allowed."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class BreakerSnapshot:
    """A read-only view for health and metrics."""

    state: BreakerState
    consecutive_failures: int
    opened_at: float | None
    retry_in: float


class CircuitBreaker:
    """closed → open after N consecutive failures → half-open after the timeout →
    closed on one successful trial, open again on a failed one. One trial at a time.

    Callers ask :meth:`allow` before a call and report :meth:`record_success` or
    :meth:`record_failure` after it (or :meth:`record_ignored` for an outcome that says nothing
    about the helpdesk's health, such as a validation error). Not thread-safe by design: it
    lives in one event loop and never awaits.
    """

    def __init__(self, clock: Clock, *, failure_threshold: int = 5, timeout: float = 30.0) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        # NaN would never elapse and inf never recover: both would keep the breaker open for good.
        if not (timeout > 0 and math.isfinite(timeout)):
            raise ValueError("timeout must be a positive, finite number of seconds")
        self._clock = clock
        self.failure_threshold = failure_threshold
        self.timeout = timeout
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_in_flight = False
        self._trial_started_at = 0.0

    @property
    def state(self) -> BreakerState:
        """The state now; an open breaker whose timeout has passed reads as half-open."""
        if self._state is BreakerState.OPEN and self._timeout_passed():
            return BreakerState.HALF_OPEN
        return self._state

    def snapshot(self) -> BreakerSnapshot:
        """State, failure count and seconds until a trial is allowed."""
        now = self._clock.monotonic()
        retry_in = 0.0
        if self._state is BreakerState.OPEN and self._opened_at is not None:
            retry_in = max(0.0, self._opened_at + self.timeout - now)
        elif self._state is BreakerState.HALF_OPEN and self._trial_in_flight:
            # Calls are refused until the trial reports back or is given up.
            retry_in = max(0.0, self._trial_started_at + self.timeout - now)
        return BreakerSnapshot(self.state, self._failures, self._opened_at, retry_in)

    def allow(self) -> bool:
        """May a call go through now? In half-open, True for exactly one caller (the trial)."""
        if self._state is BreakerState.CLOSED:
            return True
        if self._state is BreakerState.OPEN:
            if not self._timeout_passed():
                return False
            self._state = BreakerState.HALF_OPEN
            self._trial_in_flight = False
        # HALF_OPEN: one trial; a trial that never reported back is given up after the timeout.
        if self._trial_in_flight and (
            self._clock.monotonic() - self._trial_started_at < self.timeout
        ):
            return False
        self._trial_in_flight = True
        self._trial_started_at = self._clock.monotonic()
        return True

    def record_success(self) -> None:
        """A call succeeded: reset, and close from half-open."""
        self._failures = 0
        self._state = BreakerState.CLOSED
        self._opened_at = None
        self._trial_in_flight = False

    def record_failure(self) -> None:
        """A call failed in a way that says the helpdesk is unhealthy."""
        if self._state is BreakerState.HALF_OPEN:
            self._open()
            return
        if self._state is BreakerState.OPEN:
            return
        self._failures += 1
        if self._failures >= self.failure_threshold:
            self._open()

    def record_ignored(self) -> None:
        """A call ended with an answer that is not a health signal; frees a half-open trial."""
        if self._state is BreakerState.HALF_OPEN:
            # The helpdesk answered: it is up. Close rather than keep refusing.
            self.record_success()

    def release_trial(self) -> None:
        """A call that was allowed never reached the helpdesk (no slot, cancelled while
        waiting): free a half-open trial without a verdict, so the next caller is the trial."""
        if self._state is BreakerState.HALF_OPEN:
            self._trial_in_flight = False

    def _open(self) -> None:
        self._state = BreakerState.OPEN
        self._opened_at = self._clock.monotonic()
        self._trial_in_flight = False

    def _timeout_passed(self) -> bool:
        return (
            self._opened_at is not None
            and self._clock.monotonic() - self._opened_at >= self.timeout
        )
