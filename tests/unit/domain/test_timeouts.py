"""Every timing derived from the attempt timeout, pinned for the default and another value."""

from __future__ import annotations

import dataclasses

import pytest

from ticketing.domain.timeouts import Timeouts, reclaim_every
from ticketing.settings import Settings


@pytest.mark.parametrize(
    ("attempt", "expected"),
    [
        # Unset QUEUE_ATTEMPT_TIMEOUT (60 s): the values the service has always used.
        (None, (60.0, 120.0, 180.0, 240.0, 120.0, 70.0, 5.0, 60.0, 60.0, 60.0)),
        # QUEUE_ATTEMPT_TIMEOUT=4: the multiples follow it; the gate's hold and slack do not.
        (4, (4.0, 8.0, 12.0, 16.0, 8.0, 14.0, 5.0, 4.0, 4.0, 4.0)),
    ],
)
def test_an_attempt_timeout_gives_these_timings(
    attempt: float | None, expected: tuple[float, ...]
) -> None:
    """Every timing derived from the attempt timeout, pinned: the default and another."""
    if attempt is None:
        attempt = Settings.load({}, dotenv=None).attempt_timeout
    timeouts = Timeouts.from_attempt(attempt)
    assert (
        timeouts.attempt,
        timeouts.lease,
        timeouts.queue_reclaim_idle,
        timeouts.inbound_reclaim_idle,
        timeouts.inbound_reclaim_every,
        timeouts.gate_holder_ttl,
        timeouts.gate_hold_for,
        timeouts.contact_lock_ttl,
        timeouts.contact_lock_wait,
        timeouts.ambiguous_attempt_end,
    ) == expected


@pytest.mark.parametrize("attempt", [1.0, 30.0, 60.0, 3600.0])
def test_each_timing_outlives_the_one_it_must_outlive(attempt: float) -> None:
    """A lease outlives an attempt, a reclaim outlives a lease, the inbound reclaim the queue's."""
    timeouts = Timeouts.from_attempt(attempt)
    assert timeouts.contact_lock_ttl <= timeouts.attempt < timeouts.gate_holder_ttl
    assert timeouts.attempt < timeouts.lease < timeouts.queue_reclaim_idle
    assert timeouts.queue_reclaim_idle < timeouts.inbound_reclaim_idle


def test_timings_are_a_frozen_value() -> None:
    """Nobody changes a deployment's timings after they were derived."""
    timeouts = Timeouts.from_attempt(60)
    with pytest.raises(dataclasses.FrozenInstanceError):
        timeouts.attempt = 1.0  # type: ignore[misc]
    assert timeouts == Timeouts(attempt=60.0)


def test_a_reclaim_looks_twice_per_idle_time() -> None:
    """A consumer given its own idle time looks for abandoned entries every half of it."""
    assert reclaim_every(0.3) == pytest.approx(0.15)
