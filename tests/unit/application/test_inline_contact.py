"""Contacts and Zoho calls per ticket: the cache, and ZOHO_INLINE_CONTACT's inline contact."""

from __future__ import annotations

import anyio
import pytest

from ticketing.domain.errors import HelpdeskRejected
from ticketing.domain.model import NewContact, TicketState

from tests.support.clock import ManualClock
from tests.support.harness import Harness, make_harness

pytestmark = pytest.mark.anyio


def inline_harness(clock: ManualClock, **helpdesk_kw: object) -> Harness:
    h = make_harness(clock, **helpdesk_kw)
    h.contacts.inline = True
    return h


def zoho_calls(h: Harness, since: int = 0) -> list[str]:
    """Helpdesk operations that are Zoho calls (the department is looked up once per process
    and is not one per ticket)."""
    return [c for c in h.helpdesk.calls[since:] if c != "department_id"]


@pytest.mark.parametrize("inline", [False, True], ids=["search-then-create", "inline"])
async def test_a_returning_customer_costs_one_create_ticket_call(
    clock: ManualClock, inline: bool
) -> None:
    """Once a customer's contact is known, each of their tickets is one Zoho call."""
    h = make_harness(clock)
    h.contacts.inline = inline
    first, _ = await h.submit(h.draft("ana@example.com"))
    assert first.state is TicketState.CREATED
    before = len(h.helpdesk.calls)
    for n in range(3):
        outcome, _ = await h.submit(h.draft("ana@example.com", subject=f"Otra consulta {n}"))
        assert outcome.state is TicketState.CREATED
        assert outcome.contact_id == first.contact_id
    assert zoho_calls(h, before) == ["create_ticket"] * 3


async def test_a_first_ticket_carries_its_contact_inline_and_caches_it(
    clock: ManualClock,
) -> None:
    """A new customer with an email: one call (the ticket with contact{lastName, email}), no
    search and no contact creation; the contact Zoho made is cached for the next ticket."""
    h = inline_harness(clock)
    outcome, _ = await h.submit(h.draft("ana@example.com"))
    assert outcome.state is TicketState.CREATED
    assert zoho_calls(h) == ["create_ticket"]
    (request,) = h.helpdesk.ticket_requests.values()
    assert request.contact_id is None
    assert request.contact is not None
    assert (request.contact.last_name, request.contact.first_name) == ("López", "Ana")
    assert request.contact.email == "ana@example.com"
    assert h.helpdesk.contacts_created_inline == 1
    assert await h.cache.get("email:ana@example.com") == outcome.contact_id


async def test_an_existing_zoho_contact_is_matched_not_duplicated(clock: ManualClock) -> None:
    """A customer Zoho knows and the cache does not (a new deployment): the inline contact is
    matched by email, so the old contact gets the ticket and no second one is made."""
    h = inline_harness(clock)
    old = await h.helpdesk.create_contact(NewContact(last_name="López", email="ana@example.com"))
    outcome, _ = await h.submit(h.draft("ana@example.com"))
    assert outcome.contact_id == old.id
    assert len(h.helpdesk.contacts) == 1
    assert await h.cache.get("email:ana@example.com") == old.id


async def test_two_first_tickets_at_once_make_one_contact(clock: ManualClock) -> None:
    """The inline create runs under the customer's lock: the second first ticket waits, finds
    the contact id the first one came back with, and sends it as contactId."""
    h = inline_harness(clock)
    outcomes = []

    async def submit(n: int) -> None:
        outcome, _ = await h.submit(h.draft("new@example.com", subject=f"Pregunta {n}"))
        outcomes.append(outcome)

    async with anyio.create_task_group() as tg:
        for n in range(4):
            tg.start_soon(submit, n)
    assert [o.state for o in outcomes] == [TicketState.CREATED] * 4
    assert len(h.helpdesk.contacts) == 1
    assert len({o.contact_id for o in outcomes}) == 1
    inline = [r for r in h.helpdesk.ticket_requests.values() if r.contact is not None]
    assert len(inline) == 1
    assert zoho_calls(h) == ["create_ticket"] * 4


async def test_a_phone_only_customer_is_searched_then_created(clock: ManualClock) -> None:
    """Zoho's inline contact needs an email: a phone-only customer takes the usual path."""
    h = inline_harness(clock)
    outcome, _ = await h.submit(h.draft(None, customer_phone="+52 55 1234 5678"))  # type: ignore[arg-type]
    assert outcome.state is TicketState.CREATED
    assert zoho_calls(h) == ["search_contacts", "create_contact", "create_ticket"]


async def test_a_refused_inline_contact_falls_back_to_search_and_create(
    clock: ManualClock,
) -> None:
    """Zoho refuses the inline contact (422 on contact/…): the contact is searched for and
    created the usual way, and the ticket goes out with its contactId."""
    h = inline_harness(clock)
    h.helpdesk.fail_next(
        "create_ticket",
        HelpdeskRejected("invalid", status=422, code="INVALID_DATA", field="contact/email"),
    )
    outcome, _ = await h.submit(h.draft("ana@example.com"))
    assert outcome.state is TicketState.CREATED
    assert zoho_calls(h) == ["create_ticket", "search_contacts", "create_contact", "create_ticket"]
    assert len(h.helpdesk.contacts) == 1
    assert await h.cache.get("email:ana@example.com") == outcome.contact_id


@pytest.mark.parametrize("field", ["cf_request_key", None], ids=["by-key", "by-contact"])
async def test_an_ambiguous_inline_create_waits_then_finds_its_ticket(
    clock: ManualClock, field: str | None
) -> None:
    """Zoho made the ticket (and its contact) but the answer was lost. Within the grace period
    nothing is searched (a fresh contact may not show yet; searching would create a second
    one); after it, the contact and then the ticket are found: no duplicate of either."""
    h = inline_harness(clock, create_then_fail=1, idempotency_field=field)
    outcome, _ = await h.submit(h.draft("ana@example.com"))
    assert (await h.store.get(outcome.key)).state is TicketState.CREATING  # type: ignore[union-attr]
    calls = len(h.helpdesk.calls)
    h.later(5)
    assert (await h.drain()).created == 0
    assert zoho_calls(h, calls) == []
    h.later(30)
    assert (await h.drain()).created == 1
    assert zoho_calls(h, calls) == ["search_contacts", "find_ticket"]
    assert len(h.helpdesk.tickets) == 1
    assert len(h.helpdesk.contacts) == 1
    created = await h.store.get(outcome.key)
    assert created is not None
    assert created.state is TicketState.CREATED
