"""A half-open trial that never reaches Zoho gives no verdict on Zoho's health."""

from __future__ import annotations

import pytest

from ticketing.adapters.memory_gate import InMemoryCallGate
from ticketing.adapters.memory_helpdesk import InMemoryHelpdesk
from ticketing.application.guard import GuardedHelpdesk
from ticketing.domain.breaker import BreakerState, CircuitBreaker
from ticketing.domain.errors import BreakerOpen, HelpdeskUnavailable

from tests.support.clock import ManualClock

pytestmark = pytest.mark.anyio


async def test_gate_refusal_in_half_open_keeps_the_breaker_half_open(
    clock: ManualClock,
) -> None:
    """No call slot for the trial: the breaker stays half-open and the next call is the trial."""
    helpdesk = InMemoryHelpdesk(clock=clock)
    gate = InMemoryCallGate(clock, capacity=1)
    breaker = CircuitBreaker(clock, failure_threshold=1, timeout=30)
    guard = GuardedHelpdesk(helpdesk, breaker, clock, gate, slot_wait=0)
    helpdesk.fail_next("list_departments", HelpdeskUnavailable("503"))
    with pytest.raises(HelpdeskUnavailable):
        await guard.list_departments()
    assert breaker.state is BreakerState.OPEN
    clock.advance(30)
    held = await gate.enter(0)  # someone else holds the only slot
    assert held.admitted
    with pytest.raises(BreakerOpen):
        await guard.list_departments()
    assert breaker.state is BreakerState.HALF_OPEN
    assert helpdesk.count("list_departments") == 1  # Zoho was not asked again
    assert held.slot is not None
    await gate.leave(held.slot)
    assert await guard.list_departments()
    assert breaker.state is BreakerState.CLOSED
