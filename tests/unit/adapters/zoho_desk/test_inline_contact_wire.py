"""The ticket's inline contact on the wire: what is posted, and what Zoho (the emulator) does."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
import respx

from ticketing.adapters.clock import SystemClock
from ticketing.adapters.memory import InMemoryTokenStore
from ticketing.adapters.zoho_desk.client import ZohoDeskClient
from ticketing.adapters.zoho_desk.oauth import TokenManager, ZohoOAuth
from ticketing.domain.errors import HelpdeskRejected
from ticketing.domain.model import NewContact, Priority, TicketRequest
from zoho_desk_emulator import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_DEPARTMENT_ID,
    SANDBOX_REFRESH_TOKEN,
    EmulatorState,
    create_emulator_app,
)

from tests.support.zoho import DESK, ORG
from tests.unit.adapters.zoho_desk.test_wire_respx import API, TICKET

pytestmark = pytest.mark.anyio

ANA = NewContact(last_name="López", first_name="Ana", email="ana@example.com")


def inline_request(contact: NewContact = ANA, department: str = "7001") -> TicketRequest:
    return TicketRequest(
        subject="Pago no reflejado",
        department_id=department,
        contact_id=None,
        description="Hola, pagué ayer mi reserva",
        priority=Priority.HIGH,
        channel="WhatsApp",
        email=contact.email,
        idempotency_key="key-1",
        contact=contact,
    )


def test_a_request_needs_a_contact_id_or_an_inline_contact_with_an_email() -> None:
    """Neither a contact id nor an inline contact with an email: refused before any call."""
    with pytest.raises(ValueError, match="contact"):
        inline_request(NewContact(last_name="López"))


async def test_inline_contact_is_posted_instead_of_a_contact_id(
    router: respx.MockRouter, desk: ZohoDeskClient
) -> None:
    """POST /tickets carries contact{lastName, firstName, email} and no contactId; the
    ticket's contactId (the contact Zoho matched or made) comes back."""
    route = router.post(f"{API}/tickets").respond(200, json=TICKET)
    ticket = await desk.create_ticket(inline_request())
    body = json.loads(route.calls.last.request.content)
    assert "contactId" not in body
    assert body["contact"] == {"lastName": "López", "firstName": "Ana", "email": "ana@example.com"}
    assert body["subject"] == "Pago no reflejado"
    assert route.calls.last.request.headers["orgId"] == ORG
    assert ticket.contact_id == TICKET["contactId"]


@pytest.fixture
async def emulated() -> AsyncIterator[tuple[EmulatorState, ZohoDeskClient]]:
    """The Zoho client against the in-process emulator."""
    state = EmulatorState()
    transport = httpx.ASGITransport(app=create_emulator_app(state))
    clock = SystemClock()
    async with httpx.AsyncClient(transport=transport) as http:
        oauth = ZohoOAuth(
            http,
            accounts_url=DESK,
            client_id=SANDBOX_CLIENT_ID,
            client_secret=SANDBOX_CLIENT_SECRET,
            redirect_uri="http://localhost:8888/callback",
            scope="Desk.tickets.ALL",
            clock=clock,
        )
        tokens = TokenManager(
            oauth, InMemoryTokenStore(), clock, refresh_token=SANDBOX_REFRESH_TOKEN
        )
        yield state, ZohoDeskClient(http, tokens, clock, desk_url=DESK)


async def test_zoho_creates_the_contact_once_then_matches_it_by_email(
    emulated: tuple[EmulatorState, ZohoDeskClient],
) -> None:
    """First inline ticket: the contact is made with the ticket (one call). Second: the same
    email is matched to that contact, whatever its case, and no second contact appears."""
    state, desk = emulated
    first = await desk.create_ticket(inline_request(department=SANDBOX_DEPARTMENT_ID))
    again = NewContact(last_name="López", email="ANA@example.com")
    second = await desk.create_ticket(inline_request(again, department=SANDBOX_DEPARTMENT_ID))
    assert first.contact_id is not None
    assert second.contact_id == first.contact_id
    assert state.contacts_created == 1
    posts = [c.path for c in state.calls if c.method == "POST" and c.path.startswith("/api/")]
    assert posts == ["/api/v1/tickets", "/api/v1/tickets"]


async def test_an_invalid_inline_contact_is_rejected_naming_the_field(
    emulated: tuple[EmulatorState, ZohoDeskClient],
) -> None:
    """Zoho's 422 for a bad inline email names contact/email, the field the processor uses
    to fall back to searching and creating the contact."""
    _, desk = emulated
    bad = NewContact(last_name="López", email="not-an-email")
    with pytest.raises(HelpdeskRejected) as info:
        await desk.create_ticket(inline_request(bad, department=SANDBOX_DEPARTMENT_ID))
    assert (info.value.field or "").startswith("contact")
