"""The in-memory helpdesk's own behaviour: loose search, fault injection, lag and its repr."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ticketing.adapters.memory_helpdesk import InMemoryHelpdesk
from ticketing.domain.errors import HelpdeskRejected, HelpdeskUnavailable
from ticketing.domain.model import NewContact, Priority, TicketRequest
from ticketing.domain.ports import TicketProbe

from tests.support.clock import ManualClock

pytestmark = pytest.mark.anyio


async def request_for(helpdesk: InMemoryHelpdesk, key: str = "key-1") -> TicketRequest:
    contact = await helpdesk.create_contact(NewContact(last_name="López", email="ana@example.com"))
    return TicketRequest(
        subject="Pago no reflejado",
        department_id=await helpdesk.department_id(),
        contact_id=contact.id,
        description="x",
        priority=Priority.MEDIUM,
        idempotency_key=key,
    )


def probe(clock: ManualClock, key: str = "key-1") -> TicketProbe:
    return TicketProbe(key, "", "", clock.now() - timedelta(hours=1), clock.now())


async def test_email_search_is_loose_like_zohos(clock: ManualClock) -> None:
    """Searching ana@example.com also returns diana@example.com: callers must filter."""
    helpdesk = InMemoryHelpdesk(clock=clock)
    ana = await helpdesk.create_contact(NewContact(last_name="A", email="ana@example.com"))
    diana = await helpdesk.create_contact(NewContact(last_name="D", email="diana@example.com"))
    bob = await helpdesk.create_contact(NewContact(last_name="B", email="bob@example.com"))

    found = await helpdesk.search_contacts(email="ANA@example.com")
    wildcard = await helpdesk.search_contacts(email="*@example.com")

    assert [c.id for c in found] == [ana.id, diana.id]
    assert [c.id for c in wildcard] == [ana.id, diana.id, bob.id]


async def test_phone_search_matches_digits_loosely(clock: ManualClock) -> None:
    """A phone search ignores formatting and matches numbers that contain the digits."""
    helpdesk = InMemoryHelpdesk(clock=clock)
    created = await helpdesk.create_contact(NewContact(last_name="R", phone="+52 1 55 1234 5678"))
    assert [c.id for c in await helpdesk.search_contacts(phone="5512345678")] == [created.id]


async def test_fail_next_raises_the_given_error_then_recovers(clock: ManualClock) -> None:
    """An injected fault is raised the given number of times, logged, and changes nothing."""
    helpdesk = InMemoryHelpdesk(clock=clock)
    request = await request_for(helpdesk)
    boom = HelpdeskUnavailable("injected", sent=False)
    helpdesk.fail_next("create_ticket", boom, times=2)

    for _ in range(2):
        with pytest.raises(HelpdeskUnavailable) as info:
            await helpdesk.create_ticket(request)
        assert info.value is boom
    assert helpdesk.tickets == {}

    ticket = await helpdesk.create_ticket(request)
    assert list(helpdesk.tickets) == [ticket.id]
    assert helpdesk.count("create_ticket") == 3


async def test_fail_next_refuses_unknown_operations(clock: ManualClock) -> None:
    """A typo in the operation name is an error, not a fault that never fires."""
    with pytest.raises(ValueError, match="create_tickets"):
        InMemoryHelpdesk(clock=clock).fail_next("create_tickets", RuntimeError())


async def test_create_then_fail_stores_the_ticket_and_reports_an_ambiguous_failure(
    clock: ManualClock,
) -> None:
    """The ticket exists although the caller saw HelpdeskUnavailable(sent=True)."""
    helpdesk = InMemoryHelpdesk(clock=clock, create_then_fail=1)
    request = await request_for(helpdesk)

    with pytest.raises(HelpdeskUnavailable) as info:
        await helpdesk.create_ticket(request)

    assert info.value.sent is True
    assert len(helpdesk.tickets) == 1
    found = await helpdesk.find_ticket(probe(clock))
    assert found is not None
    assert found.id in helpdesk.tickets
    assert helpdesk.create_then_fail == 0


async def test_search_lag_hides_fresh_tickets(clock: ManualClock) -> None:
    """With search_lag, find_ticket misses a ticket until that many seconds have passed."""
    helpdesk = InMemoryHelpdesk(clock=clock, search_lag=5)
    ticket = await helpdesk.create_ticket(await request_for(helpdesk))

    assert await helpdesk.find_ticket(probe(clock)) is None
    clock.advance(6)
    found = await helpdesk.find_ticket(probe(clock))
    assert found is not None
    assert found.id == ticket.id


async def test_unknown_department_is_rejected_naming_the_field(clock: ManualClock) -> None:
    """Like Zoho's 422, an unknown departmentId is refused with field departmentId."""
    helpdesk = InMemoryHelpdesk(clock=clock)
    request = await request_for(helpdesk)
    bad = TicketRequest(
        subject=request.subject,
        department_id="1",
        contact_id=request.contact_id,
        description="x",
        priority=Priority.LOW,
    )
    with pytest.raises(HelpdeskRejected) as info:
        await helpdesk.create_ticket(bad)
    assert (info.value.status, info.value.field) == (422, "departmentId")


async def test_repr_summarises_state(clock: ManualClock) -> None:
    """The repr shows counts and pending faults, so a failing assertion reads well."""
    helpdesk = InMemoryHelpdesk(clock=clock)
    await helpdesk.create_contact(NewContact(last_name="R"))
    helpdesk.fail_next("whoami", RuntimeError("x"))
    assert repr(helpdesk) == (
        "InMemoryHelpdesk(contacts=1, tickets=0, calls=1, faults={'whoami': 1}, create_then_fail=0)"
    )
