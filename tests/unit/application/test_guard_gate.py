"""The guard's call gate: every helpdesk call in a slot, 429 pauses, department found once."""

from __future__ import annotations

import anyio
import pytest

from ticketing.adapters.clock import SystemClock
from ticketing.adapters.memory_gate import InMemoryCallGate
from ticketing.adapters.memory_helpdesk import InMemoryHelpdesk
from ticketing.application.guard import GuardedHelpdesk
from ticketing.domain.breaker import BreakerState, CircuitBreaker
from ticketing.domain.errors import BreakerOpen, RateLimited
from ticketing.domain.model import Department

from tests.support.clock import ManualClock

pytestmark = pytest.mark.anyio


class SlowHelpdesk(InMemoryHelpdesk):
    """Department listings that take a while, counting how many run at once."""

    def __init__(self) -> None:
        super().__init__()
        self.running = 0
        self.peak = 0

    async def list_departments(self) -> list[Department]:
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            await anyio.sleep(0.01)
            return await super().list_departments()
        finally:
            self.running -= 1


def guarded(
    helpdesk: InMemoryHelpdesk, gate: InMemoryCallGate, clock: object, slot_wait: float = 5.0
) -> GuardedHelpdesk:
    breaker = CircuitBreaker(clock, failure_threshold=3, timeout=30)  # type: ignore[arg-type]
    return GuardedHelpdesk(helpdesk, breaker, clock, gate, slot_wait=slot_wait)  # type: ignore[arg-type]


async def test_calls_beyond_the_cap_wait_for_a_slot() -> None:
    """20 calls at once through a gate of 3: never more than 3 reach the helpdesk together,
    and every one of them is made."""
    clock = SystemClock()
    helpdesk = SlowHelpdesk()
    guard = guarded(helpdesk, InMemoryCallGate(clock, 3), clock)
    async with anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(guard.list_departments)
    assert helpdesk.peak == 3
    assert helpdesk.count("list_departments") == 20
    assert guard.gate is not None
    assert guard.gate.in_flight() == 0


async def test_no_slot_within_the_wait_is_refused_without_a_call(clock: ManualClock) -> None:
    """A call that finds every slot taken for slot_wait is refused (BreakerOpen: the ticket
    stays queued), the helpdesk never sees it, and the breaker does not count it."""
    helpdesk = InMemoryHelpdesk(clock=clock)
    gate = InMemoryCallGate(clock, 1)
    guard = guarded(helpdesk, gate, clock, slot_wait=0.02)
    taken = await gate.enter(1.0)
    assert taken.admitted
    with pytest.raises(BreakerOpen, match="ZOHO_MAX_CONCURRENCY"):
        await guard.list_departments()
    assert helpdesk.calls == []
    assert guard.breaker.snapshot().consecutive_failures == 0


async def test_a_429_pauses_the_gate_and_holds_every_call_back(clock: ManualClock) -> None:
    """A 429 with Retry-After puts the pause on the gate (where other instances see it); the
    next call is refused without reaching the helpdesk until the pause has passed."""
    helpdesk = InMemoryHelpdesk(clock=clock)
    gate = InMemoryCallGate(clock, 5)
    guard = guarded(helpdesk, gate, clock)
    helpdesk.fail_next("list_departments", RateLimited("429", retry_after=20))
    with pytest.raises(RateLimited):
        await guard.list_departments()
    assert gate.paused_for() == pytest.approx(20)
    with pytest.raises(BreakerOpen, match="429"):
        await guard.list_organizations()
    assert helpdesk.calls == ["list_departments"]
    clock.advance(21)
    assert await guard.list_organizations()
    assert gate.in_flight() == 0


async def test_a_pause_set_elsewhere_is_obeyed(clock: ManualClock) -> None:
    """A pause another instance put on the shared gate refuses this instance's calls too."""
    helpdesk = InMemoryHelpdesk(clock=clock)
    gate = InMemoryCallGate(clock, 5)
    guard = guarded(helpdesk, gate, clock)
    await gate.pause(10)
    assert not guard.available
    with pytest.raises(BreakerOpen):
        await guard.list_departments()
    assert helpdesk.calls == []


async def test_a_cancelled_call_gives_its_slot_back() -> None:
    """A call cut off mid-way (an attempt's time-out) still frees its slot."""
    clock = SystemClock()
    gate = InMemoryCallGate(clock, 1)
    guard = guarded(SlowHelpdesk(), gate, clock)
    with anyio.move_on_after(0.001):
        await guard.list_departments()
    assert gate.in_flight() == 0
    assert guard.breaker.state is BreakerState.CLOSED
    assert await guard.list_departments()


async def test_the_department_is_discovered_once_per_process(clock: ManualClock) -> None:
    """Once known, the department costs neither a helpdesk call nor a slot."""
    helpdesk = InMemoryHelpdesk(clock=clock)
    gate = InMemoryCallGate(clock, 1)
    guard = guarded(helpdesk, gate, clock)
    first = await guard.department_id()
    taken = await gate.enter(1.0)  # every slot busy: a gated call would be refused now
    assert taken.admitted
    assert [await guard.department_id() for _ in range(3)] == [first] * 3
    assert helpdesk.count("department_id") == 1


async def test_a_short_pause_is_waited_out_not_refused() -> None:
    """A call made during a pause of a second or two waits it out and is then made: a ticket
    halfway through its calls is not abandoned (and started over) for a short Retry-After."""
    clock = SystemClock()
    helpdesk = InMemoryHelpdesk(clock=clock)
    gate = InMemoryCallGate(clock, 2)
    guard = guarded(helpdesk, gate, clock)
    await gate.pause(0.2)
    assert await guard.list_departments()
    assert helpdesk.calls == ["list_departments"]
    assert gate.paused_for() == 0
