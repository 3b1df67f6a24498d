"""The emulator is as strict as Zoho's published description (constraints.py), by default."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from zoho_desk_emulator import EmulatorState, create_emulator_app

from tests.support.clock import ManualClock
from tests.zoho_desk_emulator.helpers import BASE_URL, create_ticket, desk_headers, refresh

pytestmark = pytest.mark.anyio


def errors_of(answer: httpx.Response) -> list[tuple[str, str]]:
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["errorCode"] == "INVALID_DATA"
    return [(e["fieldName"], e["errorType"]) for e in body["errors"]]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        # Ticket.json createTicketRequest.contact: additionalProperties false
        (
            {"contact": {"lastName": "L", "email": "l@example.com", "phone": "+5215512345678"}},
            ("/contact/phone", "invalid"),
        ),
        (
            {"contact": {"lastName": "L", "email": "l@example.com", "mobile": "+5215512345678"}},
            ("/contact/mobile", "invalid"),
        ),
        # the inline contact's email pattern: ASCII, no "!"
        ({"contact": {"lastName": "L", "email": "a!b@example.com"}}, ("/contact/email", "invalid")),
        (
            {"contact": {"lastName": "L" * 201, "email": "l@example.com"}},
            ("/contact/lastName", "invalid"),
        ),
        (
            {"contact": {"lastName": "L", "firstName": "F" * 101, "email": "l@example.com"}},
            ("/contact/firstName", "invalid"),
        ),
        ({"subject": "s" * 1001}, ("/subject", "invalid")),
        ({"email": "e" * 140 + "@example.com"}, ("/email", "invalid")),
        ({"cf": {"cf_request_key": "order#1"}}, ("/cf/cf_request_key", "invalid")),
        ({"cf": {"cf_request_key": "k" * 256}}, ("/cf/cf_request_key", "invalid")),
        ({"isUrgent": True}, ("/isUrgent", "invalid")),
        ({"category": "Network outage"}, ("/category", "invalid")),
        ({"classification": "Rant"}, ("/classification", "invalid")),
    ],
)
async def test_create_ticket_refuses_what_zoho_refuses(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    fields: dict[str, Any],
    expected: tuple[str, str],
) -> None:
    """Unknown properties, over-long values, bad patterns and unknown picklist values: 422
    INVALID_DATA naming the field."""
    assert expected in errors_of(await create_ticket(client, headers, **fields))


async def test_create_ticket_takes_a_subject_of_1000(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    """``commonKeys.subject`` allows 1000 characters (the old emulator refused 256)."""
    answer = await create_ticket(client, headers, subject="s" * 1000)
    assert answer.status_code == 200


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"lastName": "L", "firstName": "F" * 41}, ("/firstName", "invalid")),
        ({"lastName": "L" * 201}, ("/lastName", "invalid")),
        ({"lastName": "L", "phone": "5" * 51}, ("/phone", "invalid")),
        ({"lastName": "L", "mobile": "+52#55"}, ("/mobile", "invalid")),
        ({"lastName": "L", "email": ".a@example.com"}, ("/email", "invalid")),
        ({"lastName": "L", "whatsapp": "+5215512345678"}, ("/whatsapp", "invalid")),
        ({"firstName": "F"}, ("/lastName", "missing")),
    ],
)
async def test_create_contact_refuses_what_zoho_refuses(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    fields: dict[str, Any],
    expected: tuple[str, str],
) -> None:
    """``POST /contacts`` (Contact.json contactjson): firstName 40, lastName 200, phone and
    mobile 50 with Zoho's pattern, no unknown properties, lastName mandatory."""
    answer = await client.post("/api/v1/contacts", headers=headers, json=fields)
    assert expected in errors_of(answer)


@pytest.mark.parametrize(
    ("path", "params", "expected"),
    [
        ("/api/v1/contacts/search", {"phone": "1", "whatever": "x"}, "whatever"),
        ("/api/v1/contacts/search", {"email": ",".join(["a@b.co"] * 31)}, "email"),
        ("/api/v1/tickets/search", {"customField1": "cf_k:v", "limit": "101"}, "limit"),
        ("/api/v1/tickets/search", {"createdTimeRange": "yesterday,today"}, "createdTimeRange"),
        ("/api/v1/departments", {"isEnabled": "yes"}, "isEnabled"),
        ("/api/v1/myinfo", {"include": "profile"}, "include"),
        ("/api/v1/organizationFields", {}, "module"),
    ],
)
async def test_query_parameters_are_checked(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    path: str,
    params: dict[str, str],
    expected: str,
) -> None:
    """Unknown, over-long, out-of-range or malformed query parameters: 422 naming them."""
    answer = await client.get(path, params=params, headers=headers)
    assert expected in [name for name, _ in errors_of(answer)]


async def test_a_portal_without_whatsapp_refuses_the_channel(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    """The control switch removes a picklist value: that portal then refuses it, and
    ``organizationFields`` no longer lists it; adding a value makes it acceptable."""
    removed = await client.post(
        "/_emulator/picklists", json={"field": "channel", "remove": ["WhatsApp"]}
    )
    assert "WhatsApp" not in removed.json()["allowedValues"]
    assert ("/channel", "invalid") in errors_of(
        await create_ticket(client, headers, channel="WhatsApp")
    )
    fields = await client.get(
        "/api/v1/organizationFields", params={"module": "tickets"}, headers=headers
    )
    channel = next(f for f in fields.json()["data"] if f["apiName"] == "channel")
    assert "WhatsApp" not in channel["allowedValues"]
    assert "Email" in channel["allowedValues"]

    await client.post("/_emulator/picklists", json={"field": "channel", "add": ["SMS"]})
    answer = await create_ticket(client, headers, channel="sms")
    assert answer.status_code == 200
    assert answer.json()["channel"] == "SMS"


async def test_picklist_switch_refuses_an_unknown_list(client: httpx.AsyncClient) -> None:
    """A typo in the control call is a 400 naming the lists, not a silent no-op."""
    answer = await client.post("/_emulator/picklists", json={"field": "chanel", "add": ["x"]})
    assert answer.status_code == 400
    assert "channel" in answer.json()["error"]


async def test_organization_fields_lists_the_default_picklists(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    """Seeded with Zoho's defaults: priorities, statuses, channels."""
    answer = await client.get(
        "/api/v1/organizationFields", params={"module": "tickets"}, headers=headers
    )
    allowed = {f["apiName"]: f["allowedValues"] for f in answer.json()["data"]}
    assert allowed["priority"] == ["High", "Medium", "Low"]
    assert "Open" in allowed["status"]
    assert "WhatsApp" in allowed["channel"]


async def test_lenient_keeps_the_old_behaviour(clock: ManualClock) -> None:
    """``lenient`` (demos only) accepts an inline contact's phone and an unknown category."""
    state = EmulatorState(clock, lenient=True)
    transport = httpx.ASGITransport(app=create_emulator_app(state))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        headers = desk_headers((await refresh(http)).json()["access_token"])
        answer = await create_ticket(
            http,
            headers,
            category="Network outage",
            contact={"lastName": "L", "email": "l@example.com", "phone": "+5215512345678"},
        )
    assert answer.status_code == 200


# Zoho's name limits (zohodesk-oas v1.0): Contact.json commonJson firstName 40, lastName 200;
# Ticket.json createTicketRequest.contact firstName 100, lastName 200. Counted in characters,
# not bytes: "Ñ" is one.
CONTACT_NAMES = [("firstName", 40), ("lastName", 200)]
INLINE_NAMES = [("firstName", 100), ("lastName", 200)]


@pytest.mark.parametrize(("field", "limit"), CONTACT_NAMES)
@pytest.mark.parametrize("letter", ["F", "Ñ", "李"])
async def test_create_contact_takes_a_name_up_to_zohos_limit_and_no_more(
    client: httpx.AsyncClient, headers: dict[str, str], field: str, limit: int, letter: str
) -> None:
    """``POST /contacts``: a name of exactly the limit is taken, one character more is 422
    naming the field, whatever the script (the service's cuts rely on both)."""
    fields = {"lastName": "L", field: letter * limit}
    taken = await client.post("/api/v1/contacts", headers=headers, json=fields)
    assert taken.status_code == 200, taken.text
    assert taken.json()[field] == letter * limit
    fields[field] = letter * (limit + 1)
    refused = await client.post("/api/v1/contacts", headers=headers, json=fields)
    assert (f"/{field}", "invalid") in errors_of(refused)


@pytest.mark.parametrize(("field", "limit"), INLINE_NAMES)
@pytest.mark.parametrize("letter", ["F", "Ñ"])
async def test_an_inline_contact_takes_a_name_up_to_zohos_limit_and_no_more(
    client: httpx.AsyncClient, headers: dict[str, str], field: str, limit: int, letter: str
) -> None:
    """``POST /tickets`` inline ``contact``: the same, at its own (longer) limits."""
    contact = {"lastName": "L", "email": f"{field}{limit}@example.com", field: letter * limit}
    taken = await create_ticket(client, headers, contact=contact)
    assert taken.status_code == 200, taken.text
    contact[field] = letter * (limit + 1)
    refused = await create_ticket(client, headers, contact=contact)
    assert (f"/contact/{field}", "invalid") in errors_of(refused)
