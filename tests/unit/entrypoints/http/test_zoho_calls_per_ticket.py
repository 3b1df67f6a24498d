"""Zoho calls per ticket, end to end: HTTP in, the emulator's call log out."""

from __future__ import annotations

from collections import Counter

import anyio
import pytest

from zoho_desk_emulator import SANDBOX_ORG_ID, EmulatorState

from tests.support.http import app_client, make_container

pytestmark = pytest.mark.anyio


def ticket(email: str, n: int = 0) -> dict[str, str]:
    return {
        "customer_email": email,
        "customer_name": "Ana López",
        "subject": f"Pago no reflejado {n}",
        "description": "Pagué ayer y no llega la confirmación",
        "priority": "High",
    }


def desk_calls(state: EmulatorState, since: int = 0) -> list[str]:
    return [f"{c.method} {c.path}" for c in state.calls[since:] if c.path.startswith("/api/")]


@pytest.mark.parametrize("inline", ["false", "true"])
async def test_a_returning_customer_costs_one_zoho_call(inline: str) -> None:
    """After a customer's first ticket, each further ticket is exactly one Desk call: the
    ticket itself (the contact comes from the cache, org and department from memory)."""
    container = make_container({"ZOHO_INLINE_CONTACT": inline})
    state: EmulatorState = container.emulator_state()
    async with app_client(container) as client:
        first = await client.post("/tickets/customer", json=ticket("ana@example.com"))
        assert first.status_code == 201
        since = len(state.calls)
        for n in range(1, 4):
            again = await client.post("/tickets/customer", json=ticket("ana@example.com", n))
            assert again.status_code == 201
            assert again.json()["contact_id"] == first.json()["contact_id"]
    assert desk_calls(state, since) == ["POST /api/v1/tickets"] * 3


@pytest.mark.parametrize(
    ("inline", "per_new_customer"),
    [
        ("false", ["GET /api/v1/contacts/search", "POST /api/v1/contacts", "POST /api/v1/tickets"]),
        ("true", ["POST /api/v1/tickets"]),
    ],
)
async def test_a_first_time_customer_costs_three_calls_or_one_inline(
    inline: str, per_new_customer: list[str]
) -> None:
    """A new customer: search, create contact, create ticket; with ZOHO_INLINE_CONTACT the
    ticket alone, with the contact inline."""
    container = make_container({"ZOHO_INLINE_CONTACT": inline})
    state: EmulatorState = container.emulator_state()
    async with app_client(container) as client:
        warm = await client.post("/tickets/customer", json=ticket("first@example.com"))
        assert warm.status_code == 201
        since = len(state.calls)
        response = await client.post("/tickets/customer", json=ticket("new@example.com"))
        assert response.status_code == 201
    assert desk_calls(state, since) == per_new_customer
    assert state.contacts_created == 2


async def test_token_org_and_department_are_found_once_per_process() -> None:
    """Eight first tickets at once: one token refresh, one organization look-up and one
    department look-up between them."""
    container = make_container()
    state: EmulatorState = container.emulator_state()
    async with app_client(container) as client:
        codes: list[int] = []

        async def post(n: int) -> None:
            response = await client.post("/tickets/customer", json=ticket(f"c{n}@example.com"))
            codes.append(response.status_code)

        async with anyio.create_task_group() as tg:
            for n in range(8):
                tg.start_soon(post, n)
    assert codes == [201] * 8
    calls = Counter(f"{c.method} {c.path}" for c in state.calls)
    assert calls["POST /oauth/v2/token"] == 1
    assert calls["GET /api/v1/organizations"] == 1
    assert calls["GET /api/v1/departments"] == 1
    assert calls["POST /api/v1/tickets"] == 8


async def test_a_first_time_customer_with_email_and_phone_is_one_call_inline() -> None:
    """With ZOHO_INLINE_CONTACT, a new customer with an email *and* a phone is still one Desk
    call: the inline contact carries only lastName, firstName and email (Zoho refuses a phone
    there), and the phone goes on the ticket's own ``phone``."""
    container = make_container({"ZOHO_INLINE_CONTACT": "true"})
    state: EmulatorState = container.emulator_state()
    async with app_client(container) as client:
        warm = await client.post("/tickets/customer", json=ticket("first@example.com"))
        assert warm.status_code == 201
        since = len(state.calls)
        body = {**ticket("new@example.com"), "customer_phone": "+52 1 55 1234 5678"}
        response = await client.post("/tickets/customer", json=body)
        assert response.status_code == 201
    assert desk_calls(state, since) == ["POST /api/v1/tickets"]
    created = state.tickets[response.json()["ticket_id"]]
    assert created.phone == "+525512345678"


def phone_ticket(phone: str, channel: str = "WhatsApp") -> dict[str, str]:
    return {
        "customer_phone": phone,
        "subject": "Sin señal",
        "description": "No tengo señal desde ayer",
        "channel": channel,
    }


async def test_a_new_whatsapp_customer_keeps_the_number_in_mobile() -> None:
    """A phone-only customer new to Zoho costs two searches (mobile, then phone), the contact
    and the ticket; a WhatsApp number is stored in the contact's ``mobile``."""
    container = make_container()
    state: EmulatorState = container.emulator_state()
    async with app_client(container) as client:
        warm = await client.post("/tickets/customer", json=ticket("first@example.com"))
        assert warm.status_code == 201
        since = len(state.calls)
        response = await client.post("/tickets/customer", json=phone_ticket("+52 55 1234 5678"))
        assert response.status_code == 201
    assert desk_calls(state, since) == [
        "GET /api/v1/contacts/search",
        "GET /api/v1/contacts/search",
        "POST /api/v1/contacts",
        "POST /api/v1/tickets",
    ]
    contact = state.contacts[response.json()["contact_id"]]
    assert (contact.mobile, contact.phone) == ("+525512345678", None)


@pytest.mark.parametrize(
    ("field", "stored"),
    [("mobile", "+5215512345678"), ("phone", "55 1234 5678"), ("phone", "0052-55-1234-5678")],
)
async def test_a_returning_customer_is_found_in_mobile_or_phone_in_any_format(
    field: str, stored: str
) -> None:
    """A contact an agent made in Zoho, with the number in ``mobile`` or in ``phone`` and
    written as a person types it, is the customer's: no second contact is created."""
    container = make_container()
    state: EmulatorState = container.emulator_state()
    existing = state.create_contact(SANDBOX_ORG_ID, {"lastName": "Ruiz", field: stored})
    async with app_client(container) as client:
        response = await client.post("/tickets/customer", json=phone_ticket("+52 55 1234 5678"))
        assert response.status_code == 201
    assert response.json()["contact_id"] == existing.id
    assert state.contacts_created == 1
