"""The ticket use cases over in-memory adapters: exactly once, through every failure."""

from __future__ import annotations

import anyio
import pytest

from ticketing.domain.breaker import BreakerState
from ticketing.domain.errors import (
    HelpdeskAuthError,
    HelpdeskRejected,
    HelpdeskUnavailable,
    RateLimited,
)
from ticketing.domain.model import TicketState

from tests.support.harness import Harness, make_harness

pytestmark = pytest.mark.anyio


async def test_new_customer_gets_contact_and_ticket(h: Harness) -> None:
    """A first ticket creates the contact and the ticket, and publishes one event."""
    outcome, new = await h.submit(h.draft())
    assert new
    assert outcome.state is TicketState.CREATED
    assert outcome.ticket_id in h.helpdesk.tickets
    assert len(h.helpdesk.contacts) == 1
    contact = next(iter(h.helpdesk.contacts.values()))
    assert (contact.first_name, contact.last_name, contact.email) == (
        "Ana",
        "López",
        "ana@example.com",
    )
    assert outcome.contact_id == contact.id
    assert [e.ticket_id for e in h.store.events] == [outcome.ticket_id]
    assert await h.store.pending_count() == 0
    request = h.helpdesk.ticket_requests[outcome.ticket_id or ""]
    assert request.priority.value == "High"
    assert request.idempotency_key == outcome.key


async def test_returning_customer_costs_one_call(h: Harness) -> None:
    """A second ticket for the same email, in another case, reuses the contact: one Zoho call."""
    await h.submit(h.draft())
    calls_before = len(h.helpdesk.calls)
    outcome, _ = await h.submit(h.draft(email="ANA@Example.com"))
    assert outcome.state is TicketState.CREATED
    assert len(h.helpdesk.contacts) == 1
    # department_id is discovered once and cached by the real client: not a Zoho call
    zoho_calls = [c for c in h.helpdesk.calls[calls_before:] if c != "department_id"]
    assert zoho_calls == ["create_ticket"]


async def test_existing_contact_found_by_exact_match_only(h: Harness) -> None:
    """A loose search hit (xana@) is not taken for ana@; the exact contact is."""
    from ticketing.domain.model import NewContact

    decoy = await h.helpdesk.create_contact(NewContact(last_name="X", email="xana@example.com"))
    real = await h.helpdesk.create_contact(NewContact(last_name="L", email="Ana@Example.com"))
    outcome, _ = await h.submit(h.draft())
    assert outcome.contact_id == real.id != decoy.id
    assert len(h.helpdesk.contacts) == 2


async def test_repeated_key_answers_first_outcome(h: Harness) -> None:
    """The same request under the same idempotency key twice gives the first outcome and one
    ticket (another request under it is refused: test_idempotency_fingerprint)."""
    first, new1 = await h.submit(h.draft(key="order-1"))
    again, new2 = await h.submit(h.draft(key="order-1"))
    assert (new1, new2) == (True, False)
    assert again.ticket_id == first.ticket_id
    assert len(h.helpdesk.tickets) == 1
    assert len(h.store.events) == 1


async def test_outage_queues_then_drain_creates(h: Harness) -> None:
    """Zoho unreachable: the ticket is accepted and queued; the drain creates it later."""
    h.helpdesk.fail_next("search_contacts", HelpdeskUnavailable("connection refused"))
    outcome, _ = await h.submit(h.draft())
    assert outcome.state is TicketState.ACCEPTED
    assert await h.store.pending_count() == 1
    assert h.helpdesk.tickets == {}
    report = await h.drain()
    assert (report.processed, report.created, report.remaining) == (1, 1, 0)
    assert len(h.helpdesk.tickets) == 1
    assert (await h.store.get(outcome.key)).state is TicketState.CREATED  # type: ignore[union-attr]


async def test_rate_limited_create_is_retried_not_lost(h: Harness) -> None:
    """A 429 on create leaves the ticket queued; the pause passes and the drain creates it."""
    h.helpdesk.fail_next("create_ticket", RateLimited("429", retry_after=5))
    outcome, _ = await h.submit(h.draft())
    assert outcome.state is TicketState.ACCEPTED
    assert h.guarded.paused_for() == pytest.approx(5)
    assert (await h.drain()).processed == 0  # paused: the drain does not hammer Zoho
    h.later(6)
    assert (await h.drain()).created == 1
    assert len(h.helpdesk.tickets) == 1


async def test_ambiguous_create_is_looked_up_not_reposted(clock) -> None:  # type: ignore[no-untyped-def]
    """Create-then-fail: Zoho made the ticket but answered 500; the retry finds it, no duplicate."""
    h = make_harness(clock, create_then_fail=1)
    outcome, _ = await h.submit(h.draft())
    assert outcome.state is TicketState.ACCEPTED or outcome.state is TicketState.CREATING
    assert (await h.store.get(outcome.key)).state is TicketState.CREATING  # type: ignore[union-attr]
    assert len(h.helpdesk.tickets) == 1
    report = await h.drain()
    assert report.created == 1
    assert len(h.helpdesk.tickets) == 1
    assert h.helpdesk.count("create_ticket") == 1
    assert len(h.store.events) == 1


async def test_ambiguous_create_waits_for_search_lag(clock) -> None:  # type: ignore[no-untyped-def]
    """While the search may lag, a miss is not trusted; after the grace it is found."""
    h = make_harness(clock, create_then_fail=1, search_lag=20)
    outcome, _ = await h.submit(h.draft())
    h.later(5)
    first = await h.drain()
    assert first.created == 0
    assert h.helpdesk.count("create_ticket") == 1  # not re-posted inside the grace
    h.later(20)
    second = await h.drain()
    assert second.created == 1
    assert len(h.helpdesk.tickets) == 1
    assert (await h.store.get(outcome.key)).ticket_id in h.helpdesk.tickets  # type: ignore[union-attr]


async def test_ambiguous_create_that_never_happened_is_created_after_grace(h: Harness) -> None:
    """A timeout where Zoho did NOT create: after the grace the look-up misses and it is posted."""
    h.helpdesk.fail_next("create_ticket", HelpdeskUnavailable("read timeout", sent=True))
    outcome, _ = await h.submit(h.draft())
    assert h.helpdesk.tickets == {}
    h.later(31)
    assert (await h.drain()).created == 1
    assert len(h.helpdesk.tickets) == 1
    assert (await h.store.get(outcome.key)).state is TicketState.CREATED  # type: ignore[union-attr]


async def test_grace_of_a_create_without_a_recorded_end_runs_from_its_timeout(
    h: Harness,
) -> None:
    """A CREATING record with no recorded end (its process died mid-create, or an older
    version wrote it) may have had its create in flight until the attempt's timeout: the
    grace runs from there, not from when the create was sent."""
    draft = h.draft(key="k-died")
    await h.store.accept(draft)
    await h.store.mark_creating(draft.key, h.clock.now())
    timeout = h.processor.policy.attempt_timeout
    h.later(31)  # past the grace counted from the start, inside it counted from the timeout
    assert (await h.drain()).created == 0
    assert h.helpdesk.count("create_ticket") == 0
    h.later(timeout)
    assert (await h.drain()).created == 1
    assert h.helpdesk.count("create_ticket") == 1


async def test_rejected_ticket_goes_to_dead_letters(h: Harness) -> None:
    """A 422 from Zoho is permanent: dead letter with the reason, never retried."""
    h.helpdesk.fail_next(
        "create_ticket", HelpdeskRejected("invalid email", status=422, field="email")
    )
    outcome, _ = await h.submit(h.draft())
    assert outcome.state is TicketState.DEAD
    assert "invalid email" in (outcome.reason or "")
    assert await h.store.dead_count() == 1
    assert await h.store.pending_count() == 0
    letter = (await h.store.list_dead())[0]
    assert letter.key == outcome.key
    assert "Pago no reflejado" in letter.payload
    assert (await h.drain()).processed == 0


async def test_deleted_cached_contact_is_resolved_again(h: Harness) -> None:
    """Zoho refusing a cached contact id drops it from the cache and resolves afresh."""
    first, _ = await h.submit(h.draft())
    h.helpdesk.forget_contact(first.contact_id or "")
    second, _ = await h.submit(h.draft())
    assert second.state is TicketState.CREATED
    assert second.contact_id != first.contact_id
    assert second.contact_id in h.helpdesk.contacts


async def test_auth_error_keeps_ticket_queued(h: Harness) -> None:
    """Revoked credentials need an operator: the ticket stays queued, not dead."""
    h.helpdesk.fail_next("search_contacts", HelpdeskAuthError("invalid_code"))
    outcome, _ = await h.submit(h.draft())
    assert outcome.state is TicketState.ACCEPTED
    assert await h.store.dead_count() == 0
    assert await h.store.pending_count() == 1
    assert h.breaker.state is BreakerState.CLOSED


async def test_too_many_attempts_is_buried(h: Harness) -> None:
    """An entry that keeps failing ambiguously is buried after max deliveries."""
    h.helpdesk.fail_next("create_ticket", HelpdeskUnavailable("timeout", sent=False), times=10)
    outcome, _ = await h.submit(h.draft())
    for _ in range(8):
        h.later(31)
        h.breaker.record_success()
        await h.drain()
    record = await h.store.get(outcome.key)
    assert record is not None
    assert record.state is TicketState.DEAD
    assert "attempts" in (record.reason or "")


async def test_open_breaker_queues_without_calling_zoho(h: Harness) -> None:
    """After N failures the breaker opens: new tickets are queued with no Zoho call at all."""
    h.helpdesk.fail_next("search_contacts", HelpdeskUnavailable("503"), times=3)
    for i in range(3):
        await h.submit(h.draft(email=f"c{i}@example.com"))
    assert h.breaker.state is BreakerState.OPEN
    calls = len(h.helpdesk.calls)
    outcome, _ = await h.submit(h.draft(email="new@example.com"))
    assert outcome.state is TicketState.ACCEPTED
    assert len(h.helpdesk.calls) == calls
    assert (await h.drain()).processed == 0  # the drain pauses too
    h.later(31)
    report = await h.drain()
    assert report.created == 4
    assert h.breaker.state is BreakerState.CLOSED


async def test_half_open_lets_one_trial_through(h: Harness) -> None:
    """In half-open, of many concurrent submissions exactly one calls Zoho."""
    h.helpdesk.fail_next("search_contacts", HelpdeskUnavailable("503"), times=3)
    for i in range(3):
        await h.submit(h.draft(email=f"c{i}@example.com"))
    h.later(31)
    h.helpdesk.fail_next("search_contacts", HelpdeskUnavailable("still down"))
    calls = len(h.helpdesk.calls)
    async with anyio.create_task_group() as tg:
        for i in range(10):
            tg.start_soon(h.submit, h.draft(email=f"n{i}@example.com"))
    assert len(h.helpdesk.calls) - calls == 1
    assert h.breaker.state is BreakerState.OPEN
    assert await h.store.pending_count() == 13


async def test_concurrent_first_tickets_create_one_contact(h: Harness) -> None:
    """Twenty first tickets for one new customer at once create one contact."""
    async with anyio.create_task_group() as tg:
        for i in range(20):
            tg.start_soon(h.submit, h.draft(key=f"k{i}"))
    assert len(h.helpdesk.contacts) == 1
    assert len(h.helpdesk.tickets) == 20
    assert len({t.contact_id for t in h.helpdesk.tickets.values()}) == 1


async def test_two_drains_create_each_ticket_once(h: Harness) -> None:
    """Two consumers draining one queue at once never create a ticket twice."""
    h.helpdesk.fail_next("search_contacts", HelpdeskUnavailable("down"), times=1)
    h.breaker.failure_threshold = 100
    for i in range(30):
        await h.submit(h.draft(email=f"c{i}@example.com"), attempt_now=False)
    other = h.second_drain()
    async with anyio.create_task_group() as tg:
        tg.start_soon(h.drain)
        tg.start_soon(other)
    await h.drain()
    assert len(h.helpdesk.tickets) == 30
    assert await h.store.pending_count() == 0
    keys = [e.request_id for e in h.store.events]
    assert len(keys) == len(set(keys)) == 30


async def test_abandoned_entry_is_reclaimed_by_another_consumer(h: Harness) -> None:
    """An entry a crashed consumer held is taken over after the idle time and created once."""
    await h.submit(h.draft(), attempt_now=False)
    taken = await h.store.claim("crashed-worker", 10, 0)
    assert len(taken) == 1  # the crashed worker took it and never acknowledged it
    assert (await h.drain()).processed == 0  # not idle long enough yet
    h.later(h.drain._reclaim_idle + 1)
    assert (await h.drain()).created == 1
    assert len(h.helpdesk.tickets) == 1


async def test_store_failure_after_accept_answers_queued(h: Harness) -> None:
    """Redis failing after the ticket was accepted answers 'accepted', never an error."""
    from ticketing.domain.errors import StoreUnavailable

    original = h.store.mark_creating

    async def broken(key: str, at: object) -> object:
        raise StoreUnavailable("Redis went away")

    h.store.mark_creating = broken  # type: ignore[assignment,method-assign]
    outcome, new = await h.submit(h.draft())
    assert new
    assert outcome.state is TicketState.ACCEPTED
    assert await h.store.pending_count() == 1
    h.store.mark_creating = original  # type: ignore[method-assign]
    assert (await h.drain()).created == 1
    assert len(h.helpdesk.tickets) == 1


async def test_store_failing_on_the_claim_is_one_store_error_not_a_group(h: Harness) -> None:
    """Redis failing when the drain claims entries is one StoreUnavailable (a 503 on
    POST /queue/process, a one-line warning in the background drain), not an exception group
    that reads as a crash; the queued ticket is still there for the next drain."""
    from ticketing.domain.errors import StoreUnavailable

    await h.submit(h.draft(), attempt_now=False)
    original = h.store.claim

    async def broken(consumer: str, count: int, idle: float) -> object:
        raise StoreUnavailable("Redis went away")

    h.store.claim = broken  # type: ignore[assignment,method-assign]
    with pytest.raises(StoreUnavailable, match="Redis went away"):
        await h.drain()
    h.store.claim = original  # type: ignore[method-assign]
    assert (await h.drain()).created == 1
    assert len(h.helpdesk.tickets) == 1
