"""The circuit breaker's state machine, driven by a manual clock."""

from __future__ import annotations

import pytest

from ticketing.domain.breaker import BreakerSnapshot, BreakerState, CircuitBreaker

from tests.support.clock import ManualClock

CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN
THRESHOLD = 3
TIMEOUT = 30.0


@pytest.fixture
def breaker(clock: ManualClock) -> CircuitBreaker:
    return CircuitBreaker(clock, failure_threshold=THRESHOLD, timeout=TIMEOUT)


def _fail(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        assert breaker.allow()
        breaker.record_failure()


def _open(breaker: CircuitBreaker) -> None:
    _fail(breaker, THRESHOLD)
    assert breaker.state is OPEN


def _half_open_with_trial(breaker: CircuitBreaker, clock: ManualClock) -> None:
    _open(breaker)
    clock.advance(TIMEOUT)
    assert breaker.allow()
    assert breaker.state is HALF_OPEN


def test_starts_closed_and_allows_calls(breaker: CircuitBreaker) -> None:
    """A new breaker is closed, counts nothing and lets every call through."""
    assert breaker.state is CLOSED
    assert all(breaker.allow() for _ in range(10))
    assert breaker.snapshot() == BreakerSnapshot(CLOSED, 0, None, 0.0)


def test_opens_after_threshold_consecutive_failures(breaker: CircuitBreaker) -> None:
    """N-1 failures keep it closed; the N-th consecutive failure opens it."""
    _fail(breaker, THRESHOLD - 1)
    assert breaker.state is CLOSED
    assert breaker.snapshot().consecutive_failures == THRESHOLD - 1
    _fail(breaker, 1)
    assert breaker.state is OPEN
    assert breaker.snapshot().consecutive_failures == THRESHOLD


def test_success_resets_the_failure_count(breaker: CircuitBreaker) -> None:
    """Only consecutive failures count: a success in between starts over."""
    _fail(breaker, THRESHOLD - 1)
    breaker.record_success()
    assert breaker.snapshot().consecutive_failures == 0
    _fail(breaker, THRESHOLD - 1)
    assert breaker.state is CLOSED


def test_ignored_outcomes_neither_count_nor_reset_when_closed(breaker: CircuitBreaker) -> None:
    """A non-health outcome (e.g. a validation error) leaves the failure count as it was."""
    _fail(breaker, THRESHOLD - 1)
    breaker.record_ignored()
    assert breaker.snapshot().consecutive_failures == THRESHOLD - 1
    _fail(breaker, 1)
    assert breaker.state is OPEN


def test_threshold_of_one_opens_on_first_failure(clock: ManualClock) -> None:
    """With a threshold of 1 a single failure opens the breaker."""
    breaker = CircuitBreaker(clock, failure_threshold=1, timeout=5)
    breaker.record_failure()
    assert breaker.state is OPEN
    assert not breaker.allow()


def test_open_refuses_calls_until_the_timeout(breaker: CircuitBreaker, clock: ManualClock) -> None:
    """While open and before the timeout every call is refused."""
    _open(breaker)
    for _ in range(5):
        assert not breaker.allow()
    clock.advance(TIMEOUT - 0.001)
    assert not breaker.allow()
    assert breaker.state is OPEN


def test_failures_while_open_change_nothing(breaker: CircuitBreaker, clock: ManualClock) -> None:
    """Late failures of calls started before opening neither count nor push the timeout back."""
    _open(breaker)
    clock.advance(TIMEOUT / 2)
    breaker.record_failure()
    assert breaker.snapshot().consecutive_failures == THRESHOLD
    clock.advance(TIMEOUT / 2)
    assert breaker.allow()


def test_half_open_after_the_timeout(breaker: CircuitBreaker, clock: ManualClock) -> None:
    """Once the timeout has passed the breaker reads half-open and lets a trial through."""
    _open(breaker)
    clock.advance(TIMEOUT)
    assert breaker.state is HALF_OPEN
    assert breaker.allow()
    assert breaker.state is HALF_OPEN


def test_exactly_one_trial_at_a_time(breaker: CircuitBreaker, clock: ManualClock) -> None:
    """Among many allow() calls in half-open, exactly one is the trial."""
    _open(breaker)
    clock.advance(TIMEOUT + 5)
    granted = [breaker.allow() for _ in range(50)]
    assert granted.count(True) == 1
    assert granted[0] is True
    clock.advance(TIMEOUT - 0.001)
    assert not breaker.allow()


def test_trial_success_closes(breaker: CircuitBreaker, clock: ManualClock) -> None:
    """A successful trial closes the breaker and clears the count."""
    _half_open_with_trial(breaker, clock)
    breaker.record_success()
    assert breaker.state is CLOSED
    assert breaker.snapshot() == BreakerSnapshot(CLOSED, 0, None, 0.0)
    assert all(breaker.allow() for _ in range(5))
    _fail(breaker, THRESHOLD - 1)
    assert breaker.state is CLOSED


def test_trial_failure_reopens_for_a_full_timeout(
    breaker: CircuitBreaker, clock: ManualClock
) -> None:
    """A failed trial reopens the breaker, and the timeout counts again from that failure."""
    _half_open_with_trial(breaker, clock)
    clock.advance(10)
    breaker.record_failure()
    assert breaker.state is OPEN
    snap = breaker.snapshot()
    assert snap.opened_at == clock.monotonic()
    assert snap.retry_in == TIMEOUT
    clock.advance(TIMEOUT - 0.001)
    assert not breaker.allow()
    clock.advance(0.001)
    assert breaker.allow()
    assert not breaker.allow()


def test_ignored_trial_closes(breaker: CircuitBreaker, clock: ManualClock) -> None:
    """A trial that ends with a non-health answer proves the helpdesk is up: the breaker closes."""
    _half_open_with_trial(breaker, clock)
    breaker.record_ignored()
    assert breaker.state is CLOSED
    assert breaker.snapshot().consecutive_failures == 0
    assert breaker.allow()
    assert breaker.allow()


def test_ignored_while_open_changes_nothing(breaker: CircuitBreaker, clock: ManualClock) -> None:
    """record_ignored while open neither closes the breaker nor lets calls through."""
    _open(breaker)
    breaker.record_ignored()
    assert breaker.state is OPEN
    assert not breaker.allow()


def test_lost_trial_is_given_up_after_the_timeout(
    breaker: CircuitBreaker, clock: ManualClock
) -> None:
    """A trial that never reports back blocks others only for one timeout, then a new one runs."""
    _half_open_with_trial(breaker, clock)
    clock.advance(TIMEOUT - 0.001)
    assert not breaker.allow()
    clock.advance(0.001)
    assert breaker.allow()
    assert not breaker.allow()
    breaker.record_success()
    assert breaker.state is CLOSED


def test_snapshot_retry_in_counts_down(breaker: CircuitBreaker, clock: ManualClock) -> None:
    """retry_in is the time left before a trial is allowed, never negative."""
    _open(breaker)
    opened = clock.monotonic()
    assert breaker.snapshot() == BreakerSnapshot(OPEN, THRESHOLD, opened, TIMEOUT)
    clock.advance(12)
    assert breaker.snapshot().retry_in == pytest.approx(TIMEOUT - 12)
    clock.advance(100)
    snap = breaker.snapshot()
    assert snap.state is HALF_OPEN
    assert snap.retry_in == 0.0


def test_snapshot_retry_in_while_a_trial_runs(breaker: CircuitBreaker, clock: ManualClock) -> None:
    """While a trial is in flight, retry_in is the time until it is given up."""
    _half_open_with_trial(breaker, clock)
    clock.advance(10)
    snap = breaker.snapshot()
    assert snap.state is HALF_OPEN
    assert snap.retry_in == pytest.approx(TIMEOUT - 10)


@pytest.mark.parametrize("threshold", [0, -1])
def test_threshold_must_be_at_least_one(clock: ManualClock, threshold: int) -> None:
    """A threshold below 1 is refused at construction."""
    with pytest.raises(ValueError, match="failure_threshold"):
        CircuitBreaker(clock, failure_threshold=threshold)


@pytest.mark.parametrize("timeout", [0, -1.0, float("nan"), float("inf")])
def test_timeout_must_be_positive_and_finite(clock: ManualClock, timeout: float) -> None:
    """A zero, negative, NaN or infinite timeout is refused (NaN/inf would never recover)."""
    with pytest.raises(ValueError, match="timeout"):
        CircuitBreaker(clock, timeout=timeout)


def test_defaults_match_the_contract(clock: ManualClock) -> None:
    """Defaults are the contract's CIRCUIT_BREAKER_* defaults: 5 failures, 30 seconds."""
    breaker = CircuitBreaker(clock)
    assert (breaker.failure_threshold, breaker.timeout) == (5, 30.0)


def test_release_trial_frees_half_open_without_a_verdict(clock: ManualClock) -> None:
    """A trial that never reached the helpdesk leaves the breaker half-open for the next one."""
    breaker = CircuitBreaker(clock, failure_threshold=1, timeout=10)
    breaker.allow()
    breaker.record_failure()
    clock.advance(10)
    assert breaker.allow()
    assert not breaker.allow()
    breaker.release_trial()
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow()
    assert not breaker.allow()


def test_release_trial_when_closed_changes_nothing(clock: ManualClock) -> None:
    """Outside half-open, releasing a trial is a no-op."""
    breaker = CircuitBreaker(clock, failure_threshold=2, timeout=10)
    breaker.record_failure()
    breaker.release_trial()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.snapshot().consecutive_failures == 1
