"""A request's story and the pending queue listed, on the in-memory store: found by key (in
the caller's namespace only), by request_id and by incident id; the state's names; the last
error with its time; the created event; a follow-up's ticket; the files' progress."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from ticketing.adapters.memory import InMemoryTicketStore
from ticketing.adapters.memory_attachments import InMemoryAttachmentWork
from ticketing.application.intake import scoped_key
from ticketing.application.story import ListPending, ShowRequest, story_state
from ticketing.domain.model import (
    Customer,
    Joined,
    Outcome,
    Priority,
    Source,
    TicketDraft,
    TicketState,
)

from tests.support.clock import ManualClock

pytestmark = pytest.mark.anyio

CREATED_AT = datetime(2026, 11, 26, 10, 5, tzinfo=UTC)


def draft(key: str, request_id: str, **overrides: object) -> TicketDraft:
    base = TicketDraft(
        key=key,
        request_id=request_id,
        subject="Pago no reflejado",
        description="Hola",
        priority=Priority.HIGH,
        customer=Customer(email="ana@example.com"),
        source=Source.HTTP,
        received_at=datetime(2026, 11, 26, 10, 0, tzinfo=UTC),
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def created(d: TicketDraft, ticket_id: str = "901") -> Outcome:
    return replace(
        Outcome.of(d, TicketState.CREATED),
        ticket_id=ticket_id,
        ticket_number="101",
        contact_id="c-1",
        web_url=f"https://desk.example/{ticket_id}",
        created_at=CREATED_AT,
        attempts=1,
    )


@pytest.fixture
def store(clock: ManualClock) -> InMemoryTicketStore:
    return InMemoryTicketStore(clock)


@pytest.fixture
def work(store: InMemoryTicketStore, clock: ManualClock) -> InMemoryAttachmentWork:
    return InMemoryAttachmentWork(clock, store.attachment_jobs)


@pytest.fixture
def show(store: InMemoryTicketStore, work: InMemoryAttachmentWork) -> ShowRequest:
    return ShowRequest(store, store, work)


async def test_a_caller_finds_its_request_by_key_and_by_request_id(
    store: InMemoryTicketStore, show: ShowRequest
) -> None:
    """By the key as the caller wrote it (its namespace added), or by the request_id."""
    await store.accept(draft(scoped_key("alice", "order-1"), "req_a1"))
    by_key = await show("order-1", client="alice")
    by_id = await show("req_a1", client="alice")
    assert by_key is not None
    assert by_id is not None
    assert by_key.outcome.key == by_id.outcome.key == "api/alice/order-1"
    assert by_key.state == "accepted"
    assert by_key.event is None
    assert by_key.attachments is None


async def test_a_caller_never_sees_another_clients_request_nor_an_incident(
    store: InMemoryTicketStore, show: ShowRequest
) -> None:
    """Neither by key nor by request_id; an incident (a bare key) is the operator's only."""
    await store.accept(draft(scoped_key("alice", "order-1"), "req_a1"))
    await store.accept(draft("inc-7", "req_i7", incident_id="inc-7", source=Source.REDIS))
    assert await show("order-1", client="bob") is None
    assert await show("req_a1", client="bob") is None
    assert await show("inc-7", client="bob") is None
    assert await show("req_i7", client="bob") is None
    assert await show("", client="alice") is None
    operator = await show("inc-7")
    assert operator is not None
    assert operator.outcome.incident_id == "inc-7"
    by_id = await show("req_a1")
    assert by_id is not None
    assert by_id.outcome.key == "api/alice/order-1"
    assert await show("unknown") is None


async def test_a_failed_attempt_is_queued_with_the_error_and_its_time(
    store: InMemoryTicketStore, show: ShowRequest, clock: ManualClock
) -> None:
    """accepted → creating → queued (the reason and when it was recorded) → dead."""
    await store.accept(draft("k1", "r1"))
    await store.mark_creating("k1", clock.now())
    story = await show("k1")
    assert story is not None
    assert story.state == "creating"
    clock.advance(5)
    await store.mark_failed("k1", "Zoho Desk: 503")
    story = await show("k1")
    assert story is not None
    assert story.state == "queued"
    assert story.outcome.attempts == 1
    assert (story.outcome.reason, story.outcome.reason_at) == ("Zoho Desk: 503", clock.now())
    clock.advance(5)
    await store.bury("k1", "Zoho Desk refused it: email")
    story = await show("k1")
    assert story is not None
    assert story.state == "dead"
    assert story.outcome.reason_at == clock.now()


async def test_a_created_request_shows_its_ticket_event_and_files_progress(
    store: InMemoryTicketStore, show: ShowRequest, work: InMemoryAttachmentWork
) -> None:
    """The created event as published; the reason of an earlier failure is gone; the
    attachment job's progress as recorded."""
    d = draft("k1", "r1")
    await store.accept(d)
    await store.mark_failed("k1", "timeout")
    outcome = created(d)
    await store.complete("k1", outcome, outcome.created_event())
    await work.record("k1", {"0:state": "uploaded", "baseline": "0"})
    story = await show("r1")
    assert story is not None
    assert story.state == "created"
    assert story.outcome.ticket_id == "901"
    assert story.outcome.reason is None
    assert story.outcome.reason_at is None
    assert story.event == store.events[0]
    assert story.attachments == {"0:state": "uploaded", "baseline": "0"}


async def test_an_appended_follow_up_shows_the_ticket_it_joined(
    store: InMemoryTicketStore, show: ShowRequest, clock: ManualClock
) -> None:
    d = draft("k2", "r2")
    await store.accept(d)
    joined = Joined("901", ticket_number="101", web_url="https://desk.example/901")
    await store.set_join("k2", joined)
    await store.complete(
        "k2", Outcome.appended(d, joined, "c-55", clock.now()), created(d).created_event()
    )
    story = await show("k2")
    assert story is not None
    assert story.state == "appended"
    assert story.outcome.joins == joined
    assert story.outcome.comment_id == "c-55"


def test_story_state_names() -> None:
    d = draft("k", "r")
    accepted = Outcome.of(d, TicketState.ACCEPTED)
    assert story_state(accepted) == "accepted"
    assert story_state(replace(accepted, reason="503")) == "queued"
    for state in TicketState:
        if state is not TicketState.ACCEPTED:
            assert story_state(Outcome.of(d, state, reason="x")) == state.value


async def test_the_request_index_goes_with_the_ledger(
    store: InMemoryTicketStore, clock: ManualClock
) -> None:
    """Once a finished key's ledger is past the retention its request_id finds nothing."""
    d = draft("k1", "r1")
    await store.accept(d)
    outcome = created(d)
    await store.complete("k1", outcome, outcome.created_event())
    assert await store.key_of_request("r1") == "k1"
    clock.advance(store.retention + 1)
    assert await store.key_of_request("r1") is None


async def test_the_pending_queue_listed_oldest_first_with_age_attempts_and_error(
    store: InMemoryTicketStore, clock: ManualClock
) -> None:
    await store.accept(draft("k1", "r1"))
    clock.advance(30)
    await store.accept(draft("k2", "r2"))
    await store.mark_creating("k1", clock.now())
    await store.mark_failed("k1", "Zoho Desk: 503")
    clock.advance(10)
    listed = await ListPending(store, store, clock)(10)
    assert [(v.key, v.age, v.attempts, v.state) for v in listed] == [
        ("k1", 40.0, 1, "queued"),
        ("k2", 10.0, 0, "accepted"),
    ]
    assert listed[0].last_error == "Zoho Desk: 503"
    assert listed[0].last_error_at == clock.now() - timedelta(seconds=10)
    assert [v.key for v in await ListPending(store, store, clock)(1)] == ["k1"]
