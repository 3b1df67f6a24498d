"""A process whose heartbeat may have lapsed sends no ticket create: by then the fleet may
have taken the ticket's lease over, and a create sent now could make a second ticket."""

from __future__ import annotations

import pytest

from ticketing.application.tickets import TicketProcessor
from ticketing.application.tickets.processor import LAPSED
from ticketing.domain.model import TicketState

from tests.support.clock import ManualClock
from tests.support.harness import Harness, make_harness

pytestmark = pytest.mark.anyio


def with_heartbeat(harness: Harness, answers: list[bool]) -> TicketProcessor:
    """The harness's processor, asking ``answers`` in turn whether its heartbeat is held."""
    asked = iter(answers)
    processor = harness.processor
    return TicketProcessor(
        harness.store,
        harness.guarded,
        harness.contacts,
        harness.clock,
        processor.policy,
        alive=lambda: next(asked),
    )


async def test_a_lapsed_heartbeat_sends_nothing_and_leaves_the_ticket_accepted(
    clock: ManualClock,
) -> None:
    harness = make_harness(clock)
    draft = harness.draft(key="order-1")
    await harness.store.accept(draft)

    outcome = await with_heartbeat(harness, [False]).process(draft)

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
    """Held before the CREATING mark, lapsed after it: nothing is sent, and the record says the
    attempt ended now, so whoever takes the ticket looks it up before posting it once."""
    harness = make_harness(clock)
    draft = harness.draft(key="order-2")
    await harness.store.accept(draft)

    outcome = await with_heartbeat(harness, [True, False]).process(draft)

    assert harness.helpdesk.count("create_ticket") == 0
    assert outcome.state is TicketState.CREATING
    assert outcome.reason == LAPSED
    assert outcome.attempt_ended_at == clock.now()

    # Another process, heartbeat held, finishes it: one ticket after the grace.
    other = with_heartbeat(harness, [True] * 10)
    harness.later(31)
    done = await other.process(draft)
    assert done.state is TicketState.CREATED
    assert len(harness.helpdesk.tickets) == 1


async def test_a_held_heartbeat_changes_nothing(clock: ManualClock) -> None:
    harness = make_harness(clock)
    draft = harness.draft(key="order-3")
    await harness.store.accept(draft)

    outcome = await with_heartbeat(harness, [True, True]).process(draft)

    assert outcome.state is TicketState.CREATED
    assert outcome.ticket_id in harness.helpdesk.tickets
