"""A process sends a ticket create only while its heartbeat has been held, unbroken, since it
took the ticket's lease: once it may have lapsed, the fleet may have taken the lease over, and
a create of its own could make a second ticket."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from ticketing.application.tickets import SubmitTicket, TicketProcessor
from ticketing.application.tickets.processor import LAPSED
from ticketing.domain.model import TicketState

from tests.support.clock import ManualClock
from tests.support.harness import Harness, make_harness

pytestmark = pytest.mark.anyio


@dataclass
class Heart:
    """A heartbeat whose answers the test decides: ``run`` is the current unbroken run (None:
    cannot be held); ``lapse_after`` checks of ``held_since`` pass before it breaks."""

    run: int | None = 1
    lapse_after: int = 1_000
    checks: list[int] = field(default_factory=list)

    async def hold(self) -> int | None:
        return self.run

    def held_since(self, run: int) -> bool:
        self.checks.append(run)
        return run == self.run and len(self.checks) <= self.lapse_after


def processor_with(harness: Harness, heart: Heart) -> TicketProcessor:
    return TicketProcessor(
        harness.store,
        harness.guarded,
        harness.contacts,
        harness.clock,
        harness.processor.policy,
        liveness=heart,
    )


async def test_a_heartbeat_broken_since_the_lease_sends_nothing_and_leaves_it_accepted(
    clock: ManualClock,
) -> None:
    harness = make_harness(clock)
    draft = harness.draft(key="order-1")
    await harness.store.accept(draft)

    outcome = await processor_with(harness, Heart(lapse_after=0)).process(draft)

    assert harness.helpdesk.count("create_ticket") == 0
    assert harness.helpdesk.tickets == {}
    assert outcome.state is TicketState.ACCEPTED
    assert outcome.reason == LAPSED
    record = await harness.store.get(draft.key)
    assert record is not None
    assert record.state is TicketState.ACCEPTED


async def test_a_heartbeat_lost_while_marking_leaves_an_ambiguous_attempt_never_sent(
    clock: ManualClock,
) -> None:
    """Held before the CREATING mark, broken after it: nothing is sent, and the record says
    the attempt ended now, so whoever takes the ticket looks it up before posting it once."""
    harness = make_harness(clock)
    draft = harness.draft(key="order-2")
    await harness.store.accept(draft)

    outcome = await processor_with(harness, Heart(lapse_after=1)).process(draft)

    assert harness.helpdesk.count("create_ticket") == 0
    assert outcome.state is TicketState.CREATING
    assert outcome.reason == LAPSED
    assert outcome.attempt_ended_at == clock.now()

    harness.later(31)  # another process, its heartbeat held: one ticket after the grace
    done = await processor_with(harness, Heart()).process(draft)
    assert done.state is TicketState.CREATED
    assert len(harness.helpdesk.tickets) == 1


async def test_a_run_that_began_after_the_lease_is_not_enough(clock: ManualClock) -> None:
    """The heartbeat lapsed and was set again (a new run) after the lease was taken: held
    now, but the lease may have been taken over meanwhile, so nothing is sent."""
    harness = make_harness(clock)
    draft = harness.draft(key="order-3")
    await harness.store.accept(draft)
    heart = Heart(run=1)
    processor = processor_with(harness, heart)
    owner = processor.new_owner()
    leased = await harness.store.lease(draft.key, owner, processor.lease_ttl)
    heart.run = 2  # renewed after a lapse

    outcome = await processor.process_leased(draft, owner, leased.record, run=1)  # type: ignore[arg-type]

    assert harness.helpdesk.count("create_ticket") == 0
    assert outcome.reason == LAPSED


async def test_without_a_heartbeat_a_submit_only_queues_and_a_drain_takes_no_lease(
    clock: ManualClock,
) -> None:
    harness = make_harness(clock)
    processor = processor_with(harness, Heart(run=None))
    submit = SubmitTicket(harness.store, processor, harness.guarded)
    draft = harness.draft(key="order-4")

    outcome, new = await submit(draft)
    assert new
    assert outcome.state is TicketState.ACCEPTED
    again = await processor.process(draft)
    assert again.state is TicketState.ACCEPTED
    assert harness.helpdesk.count("create_ticket") == 0
    assert harness.store.lease_holder(draft.key) is None


async def test_a_held_heartbeat_changes_nothing(clock: ManualClock) -> None:
    harness = make_harness(clock)
    processor = processor_with(harness, Heart())
    outcome, _ = await SubmitTicket(harness.store, processor, harness.guarded)(
        harness.draft(key="order-5")
    )

    assert outcome.state is TicketState.CREATED
    assert outcome.ticket_id in harness.helpdesk.tickets
