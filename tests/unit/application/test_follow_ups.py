"""Follow-ups (THREAD_WINDOW): a customer's next incident joins their open ticket as one
public comment, exactly once, whatever fails; otherwise a ticket of its own."""

from __future__ import annotations

import anyio
import pytest

from ticketing.adapters.codec import decode_event, encode_event
from ticketing.domain.errors import HelpdeskRejected, HelpdeskUnavailable
from ticketing.domain.model import TicketState
from ticketing.domain.threading import carries_reference, is_comment_for

from tests.support.clock import ManualClock
from tests.support.follow_ups import Threaded, make_threaded

pytestmark = pytest.mark.anyio


@pytest.fixture
def t(clock: ManualClock) -> Threaded:
    return make_threaded(clock)


async def test_a_follow_up_within_the_window_becomes_one_comment_on_the_open_ticket(
    t: Threaded,
) -> None:
    first, _ = await t.submit(t.incident("inc-1", "Mi vuelo fue cancelado"))
    t.h.later(120)
    second, _ = await t.submit(t.incident("inc-2", "Reserva ABC123, ¿me ayudan?"))

    assert first.state is TicketState.CREATED
    assert second.state is TicketState.APPENDED
    assert second.ticket_id == first.ticket_id
    assert second.ticket_number == first.ticket_number
    assert len(t.h.helpdesk.tickets) == 1
    [comment] = t.desk.all_comments()
    assert second.comment_id == comment.id
    assert comment.is_public
    assert "Reserva ABC123, ¿me ayudan?" in comment.content
    assert comment.content.startswith("Message from the customer (Ana López, +525512345678)")
    assert is_comment_for(comment.content, "inc-2")
    assert carries_reference(comment.content)  # the sync knows it for the service's own
    # One created event each; the follow-up's says "appended" and names the joined ticket.
    created, appended = t.h.store.events
    assert created.status == "created"
    assert appended.status == "appended"
    assert appended.ticket_id == first.ticket_id
    assert appended.incident_id == "inc-2"
    assert appended.comment_id == comment.id


async def test_the_appended_event_on_the_wire_adds_status_and_comment_only(t: Threaded) -> None:
    await t.submit(t.incident("inc-1"))
    await t.submit(t.incident("inc-2"))
    created, appended = t.h.store.events
    assert b'"status"' not in encode_event(created)  # a created event is as it always was
    wire = encode_event(appended)
    assert b'"status":"appended"' in wire
    assert decode_event(wire) == appended


async def test_window_zero_keeps_a_ticket_per_incident_and_costs_nothing_more(
    clock: ManualClock,
) -> None:
    t = make_threaded(clock, window=0)
    for n in range(3):
        outcome, _ = await t.submit(t.incident(f"inc-{n}"))
        assert outcome.state is TicketState.CREATED
    assert len(t.h.helpdesk.tickets) == 3
    assert t.desk.calls == []


async def test_the_same_email_threads_too(t: Threaded) -> None:
    first, _ = await t.submit(
        t.incident("inc-1", customer_email="ana@example.com", customer_phone=None)
    )
    second, _ = await t.submit(
        t.incident("inc-2", customer_email="ANA@example.com", customer_phone="+5215599999999")
    )
    assert second.state is TicketState.APPENDED
    assert second.ticket_id == first.ticket_id


async def test_another_customer_gets_a_ticket_of_their_own(t: Threaded) -> None:
    await t.submit(t.incident("inc-1"))
    other, _ = await t.submit(t.incident("inc-2", customer_phone="+5215587654321"))
    assert other.state is TicketState.CREATED
    assert len(t.h.helpdesk.tickets) == 2


async def test_after_the_window_a_new_ticket_opens_and_the_next_message_joins_it(
    t: Threaded,
) -> None:
    first, _ = await t.submit(t.incident("inc-1"))
    t.h.later(3601)
    second, _ = await t.submit(t.incident("inc-2"))
    third, _ = await t.submit(t.incident("inc-3"))
    assert second.state is TicketState.CREATED
    assert second.ticket_id != first.ticket_id
    assert third.state is TicketState.APPENDED
    assert third.ticket_id == second.ticket_id


async def test_a_closed_ticket_takes_no_follow_up_the_next_message_opens_a_new_one(
    t: Threaded,
) -> None:
    first, _ = await t.submit(t.incident("inc-1"))
    assert first.ticket_id is not None
    t.desk.statuses[first.ticket_id] = "Closed"
    second, _ = await t.submit(t.incident("inc-2"))
    third, _ = await t.submit(t.incident("inc-3"))
    assert second.state is TicketState.CREATED
    assert third.state is TicketState.APPENDED
    assert third.ticket_id == second.ticket_id
    assert [c.ticket_id for c in t.desk.all_comments()] == [second.ticket_id]


async def test_a_deleted_ticket_takes_no_follow_up(t: Threaded) -> None:
    first, _ = await t.submit(t.incident("inc-1"))
    del t.h.helpdesk.tickets[first.ticket_id or ""]
    second, _ = await t.submit(t.incident("inc-2"))
    assert second.state is TicketState.CREATED
    assert t.desk.all_comments() == []


async def test_an_incident_naming_its_open_ticket_joins_it_without_a_window(
    clock: ManualClock,
) -> None:
    t = make_threaded(clock, window=0)
    first, _ = await t.submit(t.incident("inc-1"))
    later, _ = await t.submit(
        t.incident("inc-2", customer_phone="+5215587654321", ticket_id=first.ticket_id)
    )
    assert later.state is TicketState.APPENDED
    assert later.ticket_id == first.ticket_id
    t.desk.statuses[first.ticket_id or ""] = "Closed"
    closed, _ = await t.submit(t.incident("inc-3", ticket_id=int(first.ticket_id or "0")))
    assert closed.state is TicketState.CREATED  # a closed ticket: a ticket of its own


async def test_an_incident_naming_its_conversation_joins_that_conversations_ticket(
    clock: ManualClock,
) -> None:
    t = make_threaded(clock, window=0)
    a, _ = await t.submit(t.incident("inc-1", conversation_id="wa-conv-1"))
    b, _ = await t.submit(t.incident("inc-2", conversation_id="wa-conv-2"))
    a2, _ = await t.submit(t.incident("inc-3", conversation_id="wa-conv-1"))
    assert (a.state, b.state, a2.state) == (
        TicketState.CREATED,
        TicketState.CREATED,
        TicketState.APPENDED,
    )
    assert a2.ticket_id == a.ticket_id
    assert b.ticket_id != a.ticket_id


async def test_http_customer_tickets_never_thread(t: Threaded) -> None:
    await t.submit(t.incident("inc-1"))
    person = t.h.draft(email=None, customer_phone="+5215512345678")
    outcome, _ = await t.submit(person)
    assert outcome.state is TicketState.CREATED
    assert len(t.h.helpdesk.tickets) == 2


async def test_a_repeated_incident_adds_no_second_comment(t: Threaded) -> None:
    await t.submit(t.incident("inc-1"))
    once, new = await t.submit(t.incident("inc-2"))
    again, again_new = await t.submit(t.incident("inc-2"))
    assert (new, again_new) == (True, False)
    assert again.state is TicketState.APPENDED
    assert again.comment_id == once.comment_id
    assert len(t.desk.all_comments()) == 1
    assert t.desk.count("post_comment") == 1


async def test_a_follow_up_waits_while_the_first_message_is_queued_then_joins(
    t: Threaded,
) -> None:
    """Zoho down: the first message is queued; the second must not open a second ticket."""
    t.h.helpdesk.fail_next("create_ticket", HelpdeskUnavailable("503"), times=1)
    first, _ = await t.submit(t.incident("inc-1"))
    second, _ = await t.submit(t.incident("inc-2"))
    assert first.state is TicketState.ACCEPTED
    assert second.state is TicketState.ACCEPTED
    assert second.reason is not None
    assert "inc-1" in second.reason
    t.h.later(60)
    for _ in range(3):  # whichever order the drain takes them in
        await t.drain()
    one = await t.h.store.get("inc-1")
    two = await t.h.store.get("inc-2")
    assert one is not None
    assert two is not None
    assert one.state is TicketState.CREATED
    assert two.state is TicketState.APPENDED
    assert two.ticket_id == one.ticket_id
    assert len(t.h.helpdesk.tickets) == 1
    assert len(t.desk.all_comments()) == 1


async def test_messages_racing_on_two_workers_make_one_ticket_and_comments(t: Threaded) -> None:
    for n in range(6):
        await t.h.store.accept(t.incident(f"inc-{n}", f"message {n}"))
    other = t.second_drain()
    for _ in range(8):
        async with anyio.create_task_group() as tg:
            tg.start_soon(t.drain)
            tg.start_soon(other)
        t.h.later(1)
    states = [(await t.h.store.get(f"inc-{n}")) for n in range(6)]
    assert all(s is not None and s.state.finished for s in states)
    assert len(t.h.helpdesk.tickets) == 1
    assert len(t.desk.all_comments()) == 5
    assert len({c.content for c in t.desk.all_comments()}) == 5


async def test_an_ambiguous_comment_is_looked_up_not_posted_twice(t: Threaded) -> None:
    _first, _ = await t.submit(t.incident("inc-1"))
    t.desk.post_then_fail = 1
    second, _ = await t.submit(t.incident("inc-2"))
    assert second.state is TicketState.CREATING  # Zoho may have it: not re-posted blindly
    assert len(t.desk.all_comments()) == 1
    await t.drain()
    done = await t.h.store.get("inc-2")
    assert done is not None
    assert done.state is TicketState.APPENDED
    assert t.desk.count("post_comment") == 1
    assert len(t.desk.all_comments()) == 1
    assert done.comment_id == t.desk.all_comments()[0].id


async def test_an_ambiguous_comment_that_never_landed_is_posted_after_the_grace(
    t: Threaded,
) -> None:
    await t.submit(t.incident("inc-1"))
    t.desk.fail_next("post_comment", HelpdeskUnavailable("read timeout", sent=True))
    second, _ = await t.submit(t.incident("inc-2"))
    assert second.state is TicketState.CREATING
    t.h.later(5)
    await t.drain()  # inside the grace: looked up, not re-posted
    assert t.desk.count("post_comment") == 1
    t.h.later(30)
    await t.drain()
    done = await t.h.store.get("inc-2")
    assert done is not None
    assert done.state is TicketState.APPENDED
    assert t.desk.count("post_comment") == 2
    assert len(t.desk.all_comments()) == 1


async def test_zoho_down_before_the_comment_queues_it_then_it_is_added_once(
    t: Threaded,
) -> None:
    await t.submit(t.incident("inc-1"))
    t.desk.fail_next("post_comment", HelpdeskUnavailable("connection refused"))
    second, _ = await t.submit(t.incident("inc-2"))
    assert second.state is TicketState.ACCEPTED
    await t.drain()
    done = await t.h.store.get("inc-2")
    assert done is not None
    assert done.state is TicketState.APPENDED
    assert len(t.desk.all_comments()) == 1


async def test_a_refused_comment_becomes_a_ticket_of_its_own(t: Threaded) -> None:
    await t.submit(t.incident("inc-1"))
    t.desk.fail_next("post_comment", HelpdeskRejected("ticket is merged", status=422))
    second, _ = await t.submit(t.incident("inc-2"))
    assert second.state is TicketState.CREATED
    assert len(t.h.helpdesk.tickets) == 2
    assert t.desk.all_comments() == []
    await t.drain()
    assert len(t.h.helpdesk.tickets) == 2  # decided once: no comment, no third ticket


async def test_the_decision_is_kept_across_attempts(t: Threaded) -> None:
    """Once a follow-up is set to join a ticket, a later attempt keeps to it even if the
    thread has moved on (its holder replaced) in between."""
    first, _ = await t.submit(t.incident("inc-1"))
    t.desk.fail_next("post_comment", HelpdeskUnavailable("503"))
    await t.submit(t.incident("inc-2"))
    record = await t.h.store.get("inc-2")
    assert record is not None
    assert record.joins is not None
    assert record.joins.ticket_id == first.ticket_id
    t.h.later(3601)  # the window is over; the decision stands
    await t.drain()
    done = await t.h.store.get("inc-2")
    assert done is not None
    assert done.state is TicketState.APPENDED
    assert done.ticket_id == first.ticket_id


async def test_a_dead_first_message_frees_the_thread(t: Threaded) -> None:
    t.h.helpdesk.fail_next("create_ticket", HelpdeskRejected("bad", status=422))
    first, _ = await t.submit(t.incident("inc-1"))
    assert first.state is TicketState.DEAD
    second, _ = await t.submit(t.incident("inc-2"))
    assert second.state is TicketState.CREATED
