"""The emulator's Desk API: headers, organizations, departments, contacts and tickets."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from zoho_desk_emulator import (
    ARCHIVE_DEPARTMENT_ID,
    BILLING_DEPARTMENT_ID,
    SANDBOX_DEPARTMENT_ID,
    SANDBOX_ORG_ID,
    SECOND_ORG_ID,
    EmulatorState,
)

from tests.support.clock import ManualClock
from tests.zoho_desk_emulator.helpers import create_ticket

pytestmark = pytest.mark.anyio


async def create_contact(
    client: httpx.AsyncClient, headers: dict[str, str], **fields: Any
) -> httpx.Response:
    return await client.post("/api/v1/contacts", headers=headers, json=fields)


# ---------------------------------------------------------------------- headers


async def test_missing_token_is_unauthorized(client: httpx.AsyncClient) -> None:
    """No Authorization header: 401 UNAUTHORIZED."""
    answer = await client.get("/api/v1/myinfo", headers={"orgId": SANDBOX_ORG_ID})
    assert answer.status_code == 401
    assert answer.json()["errorCode"] == "UNAUTHORIZED"


async def test_unknown_token_is_invalid_oauth(client: httpx.AsyncClient) -> None:
    """An unknown token: 401 INVALID_OAUTH with Zoho's message."""
    answer = await client.get(
        "/api/v1/myinfo",
        headers={"Authorization": "Zoho-oauthtoken 1000.nope", "orgId": SANDBOX_ORG_ID},
    )
    assert answer.status_code == 401
    assert answer.json() == {
        "errorCode": "INVALID_OAUTH",
        "message": "The OAuth Token you provided is invalid.",
    }


@pytest.mark.parametrize("org_id", [None, "123456"])
async def test_missing_or_foreign_org_is_a_mismatch(
    client: httpx.AsyncClient, headers: dict[str, str], org_id: str | None
) -> None:
    """A missing or unknown orgId header: 403 OAUTH_ORG_MISMATCH."""
    sent = {"Authorization": headers["Authorization"]}
    if org_id is not None:
        sent["orgId"] = org_id
    answer = await client.get("/api/v1/departments", headers=sent)
    assert answer.status_code == 403
    assert answer.json()["errorCode"] == "OAUTH_ORG_MISMATCH"


async def test_unknown_desk_path_is_url_not_found(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    """A path the emulator does not serve answers 404 URL_NOT_FOUND in Zoho's shape."""
    answer = await client.get("/api/v1/nothing", headers=headers)
    assert answer.status_code == 404
    assert answer.json()["errorCode"] == "URL_NOT_FOUND"


# ---------------------------------------------------------------------- organizations and agent


async def test_organizations_need_no_org_header(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    """/organizations works without orgId and lists the default and a second portal."""
    answer = await client.get(
        "/api/v1/organizations", headers={"Authorization": headers["Authorization"]}
    )
    orgs = answer.json()["data"]
    assert [(o["id"], o["isDefault"]) for o in orgs] == [
        (SANDBOX_ORG_ID, True),
        (SECOND_ORG_ID, False),
    ]
    assert orgs[0]["edition"] == "ENTERPRISE"
    assert {"companyName", "portalName"} <= set(orgs[0])


async def test_myinfo_names_the_agent(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    """/myinfo returns the agent with a numeric-string id."""
    me = (await client.get("/api/v1/myinfo", headers=headers)).json()
    assert me["id"].isdigit()
    assert {"firstName", "lastName", "emailId"} <= set(me)


# ---------------------------------------------------------------------- departments


async def test_departments_filter_on_enabled(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    """isEnabled=true lists Support (default) and Billing, not the disabled Archive."""
    answer = await client.get(
        "/api/v1/departments", params={"isEnabled": "true", "limit": 200}, headers=headers
    )
    data = answer.json()["data"]
    assert [(d["id"], d["name"], d["isDefault"]) for d in data] == [
        (SANDBOX_DEPARTMENT_ID, "Support", True),
        (BILLING_DEPARTMENT_ID, "Billing", False),
    ]
    disabled = await client.get(
        "/api/v1/departments", params={"isEnabled": "false"}, headers=headers
    )
    assert [d["id"] for d in disabled.json()["data"]] == [ARCHIVE_DEPARTMENT_ID]
    limited = await client.get("/api/v1/departments", params={"limit": 1}, headers=headers)
    assert len(limited.json()["data"]) == 1


async def test_empty_department_list_is_204(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    """The second portal has no disabled department: 204 with an empty body."""
    second = {**headers, "orgId": SECOND_ORG_ID}
    answer = await client.get("/api/v1/departments", params={"isEnabled": "false"}, headers=second)
    assert answer.status_code == 204
    assert answer.content == b""


# ---------------------------------------------------------------------- contacts


async def test_contact_needs_a_last_name(
    client: httpx.AsyncClient, headers: dict[str, str], state: EmulatorState
) -> None:
    """Creating a contact without lastName: 422 with a missing /lastName error."""
    answer = await create_contact(client, headers, email="ana@example.com")
    assert answer.status_code == 422
    assert answer.json()["errors"] == [
        {"fieldName": "/lastName", "errorType": "missing", "errorMessage": "lastName is mandatory"}
    ]
    assert state.contacts_created == 0


async def test_contact_is_created_and_found_by_email(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    """A created contact comes back with an id and is found by its email."""
    created = await create_contact(client, headers, lastName="López", email="Ana@Example.com")
    assert created.status_code == 200
    contact_id = created.json()["id"]
    assert contact_id.isdigit()
    found = await client.get(
        "/api/v1/contacts/search", params={"email": "ana@example.com"}, headers=headers
    )
    assert found.json() == {"data": [created.json()], "count": 1}


async def test_contact_search_is_loose(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    """Like Zoho, an email search also returns near matches, and * is a wildcard."""
    for email in ("ana@example.com", "juliana@example.com", "bob@example.org"):
        await create_contact(client, headers, lastName="X", email=email)
    loose = await client.get(
        "/api/v1/contacts/search", params={"email": "ana@example.com"}, headers=headers
    )
    assert sorted(c["email"] for c in loose.json()["data"]) == [
        "ana@example.com",
        "juliana@example.com",
    ]
    wildcard = await client.get(
        "/api/v1/contacts/search", params={"email": "*@example.org"}, headers=headers
    )
    assert [c["email"] for c in wildcard.json()["data"]] == ["bob@example.org"]
    listed = await client.get(
        "/api/v1/contacts/search",
        params={"email": "bob@example.org,ana@example.com"},
        headers=headers,
    )
    assert listed.json()["count"] == 3


async def test_contact_search_by_phone_matches_the_stored_string(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    """A phone search matches the stored string as Zoho does: exactly, or with ``*`` wildcards;
    another format of the same number is not found without them."""
    await create_contact(client, headers, lastName="X", phone="+52 1 55 1234 5678")

    async def count(term: str) -> int:
        found = await client.get("/api/v1/contacts/search", params={"phone": term}, headers=headers)
        return 0 if found.status_code == 204 else int(found.json()["count"])

    assert await count("5512345678") == 0
    assert await count("+52 1 55 1234 5678") == 1
    assert await count("*1*2*3*4*5*6*7*8") == 1


async def test_contact_search_phone_and_mobile_are_separate_fields(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    """``phone=`` never finds a number stored in ``mobile``, and ``mobile=`` never one in
    ``phone`` (Search.json: separate parameters for separate fields)."""
    await create_contact(client, headers, lastName="M", mobile="+5215512345678")
    by_phone = await client.get(
        "/api/v1/contacts/search", params={"phone": "+5215512345678"}, headers=headers
    )
    by_mobile = await client.get(
        "/api/v1/contacts/search", params={"mobile": "+5215512345678"}, headers=headers
    )
    assert by_phone.status_code == 204
    assert by_mobile.json()["count"] == 1


async def test_contact_search_without_match_is_204(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    """No match: 204 with an empty body."""
    answer = await client.get(
        "/api/v1/contacts/search", params={"email": "nobody@example.com"}, headers=headers
    )
    assert answer.status_code == 204
    assert answer.content == b""


async def test_contact_search_pages_and_sorts(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    """limit/from page the results, count is the total, sortBy orders them."""
    for name in ("Carla", "Ana", "Bea"):
        await create_contact(client, headers, lastName=name, email=f"{name}@example.com")
    page = await client.get(
        "/api/v1/contacts/search",
        params={"email": "*@example.com", "sortBy": "lastName", "limit": 2, "from": 1},
        headers=headers,
    )
    assert [c["lastName"] for c in page.json()["data"]] == ["Bea", "Carla"]
    assert page.json()["count"] == 3
    bad = await client.get(
        "/api/v1/contacts/search", params={"email": "a", "limit": 101}, headers=headers
    )
    assert bad.status_code == 422


async def test_duplicate_contact_email_is_allowed_by_default(
    client: httpx.AsyncClient, headers: dict[str, str], state: EmulatorState
) -> None:
    """By default a second contact with the same email is created; with reject, it is refused."""
    await create_contact(client, headers, lastName="A", email="ana@example.com")
    assert (await create_contact(client, headers, lastName="B", email="ana@example.com")).is_success
    state.faults.duplicate_contact_email = "reject"
    refused = await create_contact(client, headers, lastName="C", email="ANA@example.com")
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["errorType"] == "duplicate"
    assert state.contacts_created == 2


# ---------------------------------------------------------------------- tickets


async def test_ticket_is_created_with_its_fields(
    client: httpx.AsyncClient, headers: dict[str, str], clock: ManualClock
) -> None:
    """A created ticket carries id, ticketNumber, webUrl, ISO createdTime, ids and cf."""
    contact = (await create_contact(client, headers, lastName="L", email="l@example.com")).json()
    answer = await create_ticket(
        client,
        headers,
        contact=None,
        contactId=contact["id"],
        channel="whatsapp",
        description="Hola",
        cf={"cf_request_key": "k-1"},
    )
    ticket = answer.json()
    assert answer.status_code == 200
    assert ticket["id"].isdigit()
    assert ticket["ticketNumber"].isdigit()
    assert ticket["webUrl"].endswith(ticket["id"])
    assert ticket["createdTime"] == "2026-11-26T10:00:00.000Z"
    assert ticket["contactId"] == contact["id"]
    assert ticket["departmentId"] == SANDBOX_DEPARTMENT_ID
    assert ticket["cf"] == {"cf_request_key": "k-1"}
    assert ticket["channel"] == "WhatsApp"
    assert ticket["status"] == "Open"
    assert ticket["email"] == "l@example.com"


async def test_inline_contact_is_matched_by_email_or_created(
    client: httpx.AsyncClient, headers: dict[str, str], state: EmulatorState
) -> None:
    """An inline contact is created once, then matched by email for the next ticket."""
    first = (await create_ticket(client, headers)).json()
    second = (
        await create_ticket(
            client, headers, contact={"lastName": "Other", "email": "ANA@example.com"}
        )
    ).json()
    assert first["contactId"] == second["contactId"]
    assert state.contacts_created == 1
    assert state.tickets_created == 2


@pytest.mark.parametrize(
    ("fields", "field_name", "error_type"),
    [
        ({"priority": "Urgent"}, "/priority", "invalid"),
        ({"channel": "Carrier pigeon"}, "/channel", "invalid"),
        ({"subject": ""}, "/subject", "missing"),
        ({"departmentId": ARCHIVE_DEPARTMENT_ID}, "/departmentId", "invalid"),
        ({"departmentId": "42"}, "/departmentId", "invalid"),
        ({"contact": None}, "/contactId", "missing"),
        ({"contact": None, "contactId": "42"}, "/contactId", "invalid"),
        ({"contact": {"lastName": "L"}}, "/contact/email", "missing"),
        ({"contact": {"email": "l@example.com"}}, "/contact/lastName", "missing"),
        ({"cf": {"request_key": "x"}}, "/cf/request_key", "invalid"),
    ],
)
async def test_invalid_ticket_is_422(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    state: EmulatorState,
    fields: dict[str, Any],
    field_name: str,
    error_type: str,
) -> None:
    """Bad ticket data: 422 INVALID_DATA naming the field, and nothing is stored."""
    answer = await create_ticket(client, headers, **fields)
    assert answer.status_code == 422
    body = answer.json()
    assert body["errorCode"] == "INVALID_DATA"
    assert [(e["fieldName"], e["errorType"]) for e in body["errors"]] == [(field_name, error_type)]
    assert state.tickets == {}


async def test_ticket_body_must_be_json(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    """A body that is not JSON: 422."""
    answer = await client.post(
        "/api/v1/tickets", headers={**headers, "Content-Type": "application/json"}, content=b"{"
    )
    assert answer.status_code == 422


async def test_get_ticket(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    """A ticket is read back by id; an unknown id or another portal's ticket is 404."""
    ticket = (await create_ticket(client, headers)).json()
    answer = await client.get(f"/api/v1/tickets/{ticket['id']}", headers=headers)
    assert answer.json() == ticket
    unknown = await client.get("/api/v1/tickets/123", headers=headers)
    assert unknown.status_code == 404
    assert unknown.json()["errorCode"] == "URL_NOT_FOUND"
    other_org = await client.get(
        f"/api/v1/tickets/{ticket['id']}", headers={**headers, "orgId": SECOND_ORG_ID}
    )
    assert other_org.status_code == 404


async def test_ticket_search_by_custom_field(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    """customField1=cf_name:value finds exactly the ticket with that key."""
    await create_ticket(client, headers, cf={"cf_request_key": "k-1"})
    wanted = (await create_ticket(client, headers, cf={"cf_request_key": "k-2"})).json()
    answer = await client.get(
        "/api/v1/tickets/search", params={"customField1": "cf_request_key:k-2"}, headers=headers
    )
    assert answer.json()["count"] == 1
    assert answer.json()["data"][0]["id"] == wanted["id"]


async def test_ticket_search_by_contact_subject_and_time(
    client: httpx.AsyncClient, headers: dict[str, str], clock: ManualClock
) -> None:
    """contactId, subject and createdTimeRange narrow the search; no match is 204."""
    first = (await create_ticket(client, headers, subject="Payment missing")).json()
    clock.advance(1800)
    await create_ticket(client, headers, subject="Refund please")
    by_subject = await client.get(
        "/api/v1/tickets/search",
        params={"subject": "payment", "contactId": first["contactId"]},
        headers=headers,
    )
    assert [t["id"] for t in by_subject.json()["data"]] == [first["id"]]
    in_window = await client.get(
        "/api/v1/tickets/search",
        params={"createdTimeRange": "2026-11-26T09:59:00.000Z,2026-11-26T10:01:00.000Z"},
        headers=headers,
    )
    assert [t["id"] for t in in_window.json()["data"]] == [first["id"]]
    none = await client.get(
        "/api/v1/tickets/search", params={"subject": "nothing like it"}, headers=headers
    )
    assert none.status_code == 204
    short = await client.get("/api/v1/tickets/search", params={"subject": "ab"}, headers=headers)
    assert short.status_code == 422


async def test_ticket_search_all_matches_inside_the_description(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    """_all is a contains match over the ticket's columns, the description included."""
    wanted = (
        await create_ticket(client, headers, description="Hola\n\nRef: tkabcdefghij234567abcd")
    ).json()
    await create_ticket(client, headers, description="Hola\n\nRef: tkzzzzzzzzzz234567abcd")
    answer = await client.get(
        "/api/v1/tickets/search", params={"_all": "tkabcdefghij234567abcd"}, headers=headers
    )
    assert [t["id"] for t in answer.json()["data"]] == [wanted["id"]]


@pytest.mark.parametrize("term", ["ab", "x" * 101], ids=["2 chars", "101 chars"])
@pytest.mark.parametrize("path", ["/api/v1/tickets/search", "/api/v1/contacts/search"])
async def test_search_all_takes_3_to_100_characters(
    client: httpx.AsyncClient, headers: dict[str, str], term: str, path: str
) -> None:
    """_all shorter than 3 or longer than 100 characters is refused with 422 INVALID_DATA."""
    answer = await client.get(path, params={"_all": term}, headers=headers)
    assert answer.status_code == 422
    assert answer.json()["errorCode"] == "INVALID_DATA"
    assert answer.json()["errors"][0]["fieldName"] == "_all"
