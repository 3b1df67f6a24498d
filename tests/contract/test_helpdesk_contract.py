"""The Helpdesk contract: the same assertions for every implementation, so fakes cannot drift.

To run it against another implementation, write one more factory (an async context manager
taking the clock and the idempotency field, yielding a ``Helpdesk``) and add it to
``FACTORIES``; every test below then runs against it too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import timedelta
from functools import partial

import pytest

from ticketing.adapters.memory_helpdesk import InMemoryHelpdesk
from ticketing.domain.contacts import choose_contact
from ticketing.domain.errors import HelpdeskRejected
from ticketing.domain.model import Customer, NewContact, Priority, Ticket, TicketRequest
from ticketing.domain.ports import Helpdesk, TicketProbe

from tests.support.clock import ManualClock

pytestmark = pytest.mark.anyio

KEY_FIELD = "cf_request_key"

HelpdeskFactory = Callable[..., AbstractAsyncContextManager[Helpdesk]]
MakeHelpdesk = Callable[..., AbstractAsyncContextManager[Helpdesk]]


@asynccontextmanager
async def memory_helpdesk(
    clock: ManualClock, *, idempotency_field: str | None
) -> AsyncIterator[Helpdesk]:
    yield InMemoryHelpdesk(clock=clock, idempotency_field=idempotency_field)


@asynccontextmanager
async def zoho_against_emulator(
    clock: ManualClock, *, idempotency_field: str | None
) -> AsyncIterator[Helpdesk]:
    """The real Zoho client, OAuth included, against the in-process emulator."""
    import httpx

    from ticketing.adapters.memory import InMemoryTokenStore
    from ticketing.adapters.zoho_desk.client import ZohoDeskClient, build_http_client
    from ticketing.adapters.zoho_desk.oauth import TokenManager, ZohoOAuth
    from zoho_desk_emulator import (
        SANDBOX_CLIENT_ID,
        SANDBOX_CLIENT_SECRET,
        SANDBOX_REDIRECT_URI,
        SANDBOX_REFRESH_TOKEN,
        SANDBOX_SCOPE,
        EmulatorState,
        create_emulator_app,
    )

    base = "http://zoho-emulator.invalid"
    app = create_emulator_app(EmulatorState(clock))
    async with build_http_client(transport=httpx.ASGITransport(app=app)) as http:
        oauth = ZohoOAuth(
            http,
            accounts_url=base,
            client_id=SANDBOX_CLIENT_ID,
            client_secret=SANDBOX_CLIENT_SECRET,
            redirect_uri=SANDBOX_REDIRECT_URI,
            scope=SANDBOX_SCOPE,
            clock=clock,
        )
        tokens = TokenManager(
            oauth, InMemoryTokenStore(), clock, refresh_token=SANDBOX_REFRESH_TOKEN
        )
        yield ZohoDeskClient(
            http, tokens, clock, desk_url=base, idempotency_field=idempotency_field
        )


FACTORIES: dict[str, HelpdeskFactory] = {
    "memory": memory_helpdesk,
    "zoho-emulator": zoho_against_emulator,
}


@pytest.fixture(params=sorted(FACTORIES))
def make_helpdesk(request: pytest.FixtureRequest, clock: ManualClock) -> MakeHelpdesk:
    """Builds the implementation under test: ``make_helpdesk(idempotency_field=...)``."""
    return partial(FACTORIES[request.param], clock)


@pytest.fixture
async def helpdesk(make_helpdesk: MakeHelpdesk) -> AsyncIterator[Helpdesk]:
    """The implementation under test, with the idempotency custom field configured."""
    async with make_helpdesk(idempotency_field=KEY_FIELD) as implementation:
        yield implementation


async def new_ticket(
    helpdesk: Helpdesk, *, key: str = "key-1", subject: str = "Pago no reflejado"
) -> Ticket:
    contact = await helpdesk.create_contact(
        NewContact(last_name="López", first_name="Ana", email="ana@example.com")
    )
    return await helpdesk.create_ticket(
        TicketRequest(
            subject=subject,
            department_id=await helpdesk.department_id(),
            contact_id=contact.id,
            description="Hola, pagué ayer mi reserva y no me llega la confirmación",
            priority=Priority.HIGH,
            channel="Web",
            email="ana@example.com",
            idempotency_key=key,
        )
    )


def probe_for(ticket: Ticket, clock: ManualClock, *, key: str, subject: str) -> TicketProbe:
    created = ticket.created_time or clock.now()
    return TicketProbe(
        key=key,
        contact_id=ticket.contact_id or "",
        subject=subject,
        created_from=created - timedelta(minutes=1),
        created_to=created + timedelta(minutes=1),
    )


async def test_created_contact_is_found_by_a_loose_email_search(helpdesk: Helpdesk) -> None:
    """A new contact is among the email search's results, and exact filtering picks it."""
    ana = await helpdesk.create_contact(NewContact(last_name="López", email="ana@example.com"))
    await helpdesk.create_contact(NewContact(last_name="Ruiz", email="diana@example.com"))

    found = await helpdesk.search_contacts(email="ana@example.com")

    assert ana.id in {c.id for c in found}
    chosen = choose_contact(found, Customer(email="ana@example.com"))
    assert chosen is not None
    assert chosen.id == ana.id


async def test_created_contact_is_found_by_phone(helpdesk: Helpdesk) -> None:
    """A contact created with a phone is found by a phone search."""
    created = await helpdesk.create_contact(NewContact(last_name="Ruiz", phone="+525512345678"))
    found = await helpdesk.search_contacts(phone="+525512345678")
    assert created.id in {c.id for c in found}


async def test_a_number_stored_in_mobile_is_found_by_phone(helpdesk: Helpdesk) -> None:
    """A returning customer whose number sits in ``mobile`` (where WhatsApp numbers live) is
    found by a phone look-up and chosen: no second contact."""
    created = await helpdesk.create_contact(NewContact(last_name="Ruiz", mobile="+525512345678"))
    found = await helpdesk.search_contacts(phone="+525512345678")
    chosen = choose_contact(found, Customer(phone="+525512345678"))
    assert chosen is not None
    assert chosen.id == created.id


@pytest.mark.parametrize("stored", ["55 1234 5678", "+52 1 55-1234-5678", "0052 55 1234 5678"])
async def test_a_number_stored_as_a_person_types_it_is_found(
    helpdesk: Helpdesk, stored: str
) -> None:
    """A number stored with spaces, dashes, ``00``, Mexico's old ``1`` or without its country
    code is the same customer's (domain rule ``same_phone``)."""
    created = await helpdesk.create_contact(NewContact(last_name="Ruiz", phone=stored))
    found = await helpdesk.search_contacts(phone="+525512345678")
    chosen = choose_contact(found, Customer(phone="+525512345678"))
    assert chosen is not None
    assert chosen.id == created.id


# Zoho's phone search (facts page, and the emulator built from it): ``phone=`` reads only
# ``phone`` and ``mobile=`` only ``mobile``, each against the stored string, ``*`` as a
# wildcard and otherwise the whole value. The client looks for ``*1*2*3*4*5*6*7*8`` (the
# number's last 8 digits): other digits or signs may sit before and between them, nothing after.
LOOSE_PHONE_CASES = {
    "the same number": ("phone", "+525512345678", True),
    "in mobile": ("mobile", "+525512345678", True),
    "typed with spaces and a trunk 1": ("mobile", "+52 1 55 1234 5678", True),
    "another number holding the digits in order": ("phone", "+1 234 555 5678", True),
    "the digits and then a word": ("phone", "55 1234 5678 casa", False),
    "the digits out of order": ("phone", "+52 55 8765 4321", False),
    "the last digit missing": ("phone", "+52 55 1234 567", False),
}


@pytest.mark.parametrize(
    ("field", "stored", "found"), list(LOOSE_PHONE_CASES.values()), ids=list(LOOSE_PHONE_CASES)
)
async def test_a_phone_search_is_as_loose_as_zohos_wildcard(
    helpdesk: Helpdesk, field: str, stored: str, found: bool
) -> None:
    """Every implementation returns a contact from a phone search exactly when Zoho's
    ``*d*d*…*d`` wildcard search over the stored string would: the fakes cannot be looser or
    stricter than Zoho (a loose extra is then filtered out by ``choose_contact``)."""
    created = await helpdesk.create_contact(NewContact(last_name="Ruiz", **{field: stored}))
    results = await helpdesk.search_contacts(phone="+525512345678")
    assert (created.id in {c.id for c in results}) is found


async def test_a_number_in_mobile_wins_over_the_same_number_in_another_phone(
    helpdesk: Helpdesk,
) -> None:
    """``mobile`` is searched first and ``phone`` only when no mobile holds the number, so a
    contact with the number in ``mobile`` is chosen even over an older one with it in
    ``phone``."""
    await helpdesk.create_contact(NewContact(last_name="Old", phone="+525512345678"))
    newer = await helpdesk.create_contact(NewContact(last_name="New", mobile="+525512345678"))
    found = await helpdesk.search_contacts(phone="+525512345678")
    assert [c.id for c in found] == [newer.id]
    chosen = choose_contact(found, Customer(phone="+525512345678"))
    assert chosen is not None
    assert chosen.id == newer.id


async def test_the_phone_field_is_searched_when_no_mobile_holds_the_number(
    helpdesk: Helpdesk,
) -> None:
    """A loose mobile hit that is not the customer's number does not stop the ``phone``
    search: both are among the results, and the exact one is chosen."""
    loose = await helpdesk.create_contact(NewContact(last_name="Loose", mobile="+1 234 555 5678"))
    exact = await helpdesk.create_contact(NewContact(last_name="Exact", phone="+525512345678"))
    found = await helpdesk.search_contacts(phone="+525512345678")
    assert {c.id for c in found} == {loose.id, exact.id}
    chosen = choose_contact(found, Customer(phone="+525512345678"))
    assert chosen is not None
    assert chosen.id == exact.id


async def test_a_long_name_makes_a_contact(helpdesk: Helpdesk) -> None:
    """Names past Zoho's limits (firstName 40 on POST /contacts) still make a contact."""
    created = await helpdesk.create_contact(
        NewContact(last_name="B" * 100, first_name="A" * 60, email="long@example.com")
    )
    assert created.last_name


async def test_a_key_with_a_colon_is_found_by_its_own_lookup(
    helpdesk: Helpdesk, clock: ManualClock
) -> None:
    """``customField1=cf_name:value`` is ambiguous when the value holds ``:``; a key with one
    is still found by its own look-up, and never by another key's."""
    key = "api/anonymous/order:A"
    ticket = await new_ticket(helpdesk, key=key)
    found = await helpdesk.find_ticket(probe_for(ticket, clock, key=key, subject="Pago no"))
    assert found is not None
    assert found.id == ticket.id
    other = await helpdesk.find_ticket(
        probe_for(ticket, clock, key="api/anonymous/order", subject="Pago no")
    )
    assert other is None


async def test_contact_ids_are_numeric_strings(helpdesk: Helpdesk) -> None:
    """Ids come back as strings of digits, as Zoho's do."""
    created = await helpdesk.create_contact(NewContact(last_name="Ruiz", email="e@example.com"))
    assert isinstance(created.id, str)
    assert created.id.isdigit()
    assert created.last_name == "Ruiz"
    assert created.email == "e@example.com"


async def test_search_with_no_match_is_an_empty_list(helpdesk: Helpdesk) -> None:
    """Searching for an unknown email or phone returns [] rather than failing."""
    assert await helpdesk.search_contacts(email="nobody@example.com") == []
    assert await helpdesk.search_contacts(phone="+4915112345678") == []


async def test_created_ticket_has_id_number_and_contact(helpdesk: Helpdesk) -> None:
    """create_ticket returns the ticket's id, number, contact and subject; get_ticket agrees."""
    ticket = await new_ticket(helpdesk)

    assert ticket.id.isdigit()
    assert ticket.ticket_number
    assert ticket.contact_id is not None
    assert ticket.subject == "Pago no reflejado"
    fetched = await helpdesk.get_ticket(ticket.id)
    assert (fetched.id, fetched.ticket_number, fetched.contact_id) == (
        ticket.id,
        ticket.ticket_number,
        ticket.contact_id,
    )


async def test_ticket_for_an_unknown_contact_is_rejected(helpdesk: Helpdesk) -> None:
    """A create naming a contact that does not exist is refused as bad data."""
    with pytest.raises(HelpdeskRejected) as info:
        await helpdesk.create_ticket(
            TicketRequest(
                subject="Hola",
                department_id=await helpdesk.department_id(),
                contact_id="999999999999999999",
                description="x",
                priority=Priority.LOW,
            )
        )
    assert info.value.status in (400, 422)


async def test_find_ticket_by_idempotency_key(helpdesk: Helpdesk, clock: ManualClock) -> None:
    """With the key field configured, the ticket is found by its key and only by it."""
    ticket = await new_ticket(helpdesk, key="key-1")

    found = await helpdesk.find_ticket(probe_for(ticket, clock, key="key-1", subject="other"))
    missing = await helpdesk.find_ticket(
        probe_for(ticket, clock, key="key-2", subject=ticket.subject)
    )

    assert found is not None
    assert found.id == ticket.id
    assert missing is None


async def test_find_ticket_by_reference_contact_subject_and_window(
    make_helpdesk: MakeHelpdesk, clock: ManualClock
) -> None:
    """Without the key field, the key's reference (in the description), the probe's contact,
    exact subject and time window find it; the same customer and subject under another key
    find nothing (that ticket is not the other key's)."""
    async with make_helpdesk(idempotency_field=None) as helpdesk:
        ticket = await new_ticket(helpdesk, key="order-A", subject="Pago no reflejado")

        found = await helpdesk.find_ticket(
            probe_for(ticket, clock, key="order-A", subject="Pago no reflejado")
        )
        other_subject = await helpdesk.find_ticket(
            probe_for(ticket, clock, key="order-A", subject="Pago no")
        )
        other_key = await helpdesk.find_ticket(
            probe_for(ticket, clock, key="order-B", subject="Pago no reflejado")
        )

    assert found is not None
    assert found.id == ticket.id
    assert other_subject is None
    assert other_key is None


async def test_get_unknown_ticket_is_rejected_with_404(helpdesk: Helpdesk) -> None:
    """An unknown ticket id is HelpdeskRejected with status 404."""
    with pytest.raises(HelpdeskRejected) as info:
        await helpdesk.get_ticket("813934000099999999")
    assert info.value.status == 404


async def test_departments_are_listed_and_the_default_is_stable(helpdesk: Helpdesk) -> None:
    """department_id() is one of the enabled departments and the same on every call."""
    departments = await helpdesk.list_departments()
    chosen = await helpdesk.department_id()

    assert departments
    assert all(d.is_enabled for d in departments)
    assert chosen in {d.id for d in departments}
    assert await helpdesk.department_id() == chosen


async def test_organizations_and_agent_are_reported(helpdesk: Helpdesk) -> None:
    """There is at least one organization, one of them default, and an agent with an id."""
    organizations = await helpdesk.list_organizations()
    agent = await helpdesk.whoami()

    assert any(o.is_default for o in organizations)
    assert agent.id


async def test_an_inline_contact_is_created_once_then_matched_by_email(
    helpdesk: Helpdesk,
) -> None:
    """A ticket with an inline contact: the first makes the contact (searchable by email
    afterwards), the second, with the same email, gets that same contact."""

    def inline(subject: str, department: str) -> TicketRequest:
        return TicketRequest(
            subject=subject,
            department_id=department,
            contact_id=None,
            description="Hola, pagué ayer mi reserva y no me llega la confirmación",
            priority=Priority.HIGH,
            email="nuevo@example.com",
            contact=NewContact(last_name="Pérez", first_name="Luis", email="nuevo@example.com"),
        )

    department = await helpdesk.department_id()
    first = await helpdesk.create_ticket(inline("Primera consulta", department))
    second = await helpdesk.create_ticket(inline("Segunda consulta", department))
    assert first.contact_id is not None
    assert second.contact_id == first.contact_id
    found = await helpdesk.search_contacts(email="nuevo@example.com")
    chosen = choose_contact(found, Customer(email="nuevo@example.com"))
    assert chosen is not None
    assert chosen.id == first.contact_id
    assert len([c for c in found if c.email == "nuevo@example.com"]) == 1
