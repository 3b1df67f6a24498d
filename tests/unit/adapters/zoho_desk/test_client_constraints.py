"""The Zoho adapter held to Zoho's published description, not to the emulator.

Every request the adapter makes, for realistic and edge-case inputs, is recorded (respx) and
validated against the constraint data in ``zoho_desk_emulator/constraints.py`` (copied from
``zoho/zohodesk-oas``, each schema naming its source). The emulator validates against the same
data, so the client and the emulator cannot drift apart.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
import respx

from ticketing.adapters.zoho_desk.client import ZohoDeskClient
from ticketing.adapters.zoho_desk.oauth import TokenManager
from ticketing.application.intake import MAX_DESCRIPTION, MAX_NAME, MAX_SUBJECT, scoped_key
from ticketing.domain.contacts import new_contact_for, normalize_email, normalize_phone
from ticketing.domain.model import Customer, Priority, TicketRequest
from ticketing.domain.ports import TicketProbe
from zoho_desk_emulator.constraints import (
    ALL_SCHEMAS,
    DEFAULT_PICKLISTS,
    TICKET_ID_PATTERN,
    Schema,
    validate,
)

from tests.support.clock import ManualClock
from tests.support.zoho import DESK, ORG
from tests.unit.adapters.zoho_desk.test_wire_respx import CONTACT_ISO, TICKET

pytestmark = pytest.mark.anyio

API = f"{DESK}/api/v1"
KEY_FIELD = "cf_request_key"

# Names as people and intake send them: long (intake allows 100), unicode, one word, odd.
NAMES = [
    "Ana López",
    "Ana María de los Ángeles Fernández-Castillo y Rodríguez de la Peña Montenegro",
    "A" * 60 + " " + "B" * 39,
    "X" * MAX_NAME,
    "Þórunn Ýr Guðmundsdóttir",
    "李小龙",
    "O'Brien Jr.",
    "   Ana   ",
    "🔥💯 Zoë 😀 Ñandú 👨\u200d👩\u200d👧",
    "A" * 38 + "👨\u200d👩\u200d👧 Zoe\u0301 " + "Ñ" * 40,
]
EMAILS = [
    "ana@example.com",
    "ana.lopez+tickets@mail.example.co.uk",
    "o'brien&sons~x@example.ie",
    "_x@a-b.example.museum",
    "a" * 64 + "@" + ".".join(["b" * 40] * 2) + ".com",
]
PHONES = ["+52 1 55 1234 5678", "0044 20 7946 0958", "+1 (415) 555-0123", "+86 138 0013 8000"]
KEYS = [
    "order-A",
    "wa-3EB0C767D3B5A1F2",
    "api/anonymous/order:A",
    "api/web-shop/a.b_c-d:e:f",
    scoped_key("client-with-a-long-name", "k" * 200),
    scoped_key("x", ":" * 200),
]
CHANNELS = ["WhatsApp", "Web"]


def customers() -> list[Customer]:
    """Every combination intake can produce, normalized as intake does."""
    people: list[Customer] = []
    for n, name in enumerate(NAMES):
        email = normalize_email(EMAILS[n % len(EMAILS)])
        phone = normalize_phone(PHONES[n % len(PHONES)])
        people += [
            Customer(name=name, email=email),
            Customer(name=name, phone=phone),
            Customer(name=name, email=email, phone=phone),
        ]
    people += [Customer(email=normalize_email(e)) for e in EMAILS]
    people += [Customer(phone=normalize_phone(p)) for p in PHONES]
    return people


class Recorder:
    """Answers every Desk call plausibly and keeps (method, path, query, body)."""

    def __init__(self, router: respx.MockRouter) -> None:
        self.seen: list[tuple[str, str, dict[str, str], Any]] = []
        router.route(host=urlsplit(DESK).hostname).mock(side_effect=self.answer)

    def answer(self, request: httpx.Request) -> httpx.Response:
        url = urlsplit(str(request.url))
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        body = json.loads(request.content) if request.content else None
        self.seen.append((request.method, url.path, params, body))
        if request.method == "POST" and url.path.endswith("/contacts"):
            return httpx.Response(200, json=CONTACT_ISO)
        if url.path.endswith("/organizations"):
            return httpx.Response(200, json={"data": [{"id": ORG, "isDefault": True}]})
        if url.path.endswith("/departments"):
            return httpx.Response(200, json={"data": [{"id": "7001", "isDefault": True}]})
        if url.path.endswith("/organizationFields"):
            field = {"apiName": "channel", "allowedValues": [{"value": "Web"}]}
            return httpx.Response(200, json={"data": [field]})
        if url.path.endswith("/myinfo"):
            return httpx.Response(200, json={"id": "1", "firstName": "A", "lastName": "B"})
        if request.method == "POST" or url.path.startswith("/api/v1/tickets/"):
            return httpx.Response(200, json=TICKET)
        return httpx.Response(204)


def schema_for(method: str, path: str) -> tuple[Schema, str | None]:
    """The schema of one request, and the path id it carries, if any."""
    route = path.removeprefix("/api/v1")
    if method == "GET" and route.startswith("/tickets/") and route != "/tickets/search":
        return ALL_SCHEMAS["GET /api/v1/tickets/{ticketId}"], route.removeprefix("/tickets/")
    return ALL_SCHEMAS[f"{method} /api/v1{route}"], None


def check_everything(recorder: Recorder) -> set[str]:
    """Validate each recorded request; the endpoints seen."""
    problems: list[str] = []
    seen: set[str] = set()
    for method, path, params, body in recorder.seen:
        schema, path_id = schema_for(method, path)
        seen.add(schema.source)
        if path_id is not None and re.fullmatch(TICKET_ID_PATTERN, path_id) is None:
            problems.append(f"{method} {path}: ticketId {path_id!r}")
        if schema.query:
            found = validate(schema, params)
        else:
            found = validate(schema, body, DEFAULT_PICKLISTS)
            if params:
                problems.append(f"{method} {path}: unexpected query {params}")
        problems += [f"{method} {path}: {v.field}: {v.message}" for v in found]
    assert not problems, "\n".join(problems[:20])
    return seen


@pytest.fixture
def keyed_desk(http: httpx.AsyncClient, tokens: TokenManager, clock: ManualClock) -> ZohoDeskClient:
    return ZohoDeskClient(
        http, tokens, clock, desk_url=DESK, department_id="7001", idempotency_field=KEY_FIELD
    )


async def test_every_request_the_adapter_makes_is_one_zoho_accepts(
    router: respx.MockRouter, keyed_desk: ZohoDeskClient, desk: ZohoDeskClient, clock: ManualClock
) -> None:
    """Contacts (POST and both searches), tickets (by contact id and inline, every key shape,
    long and unicode text), the look-ups with and without the key field, a ticket by id,
    departments, organizations and the agent: all within Zoho's constraints."""
    recorder = Recorder(router)
    for customer in customers():
        for channel in CHANNELS:
            new = new_contact_for(customer, channel=channel)
            await desk.create_contact(new)
            await desk.search_contacts(email=customer.email, phone=customer.phone)
    long_subject = "Ñ" * MAX_SUBJECT
    long_text = "ü" * MAX_DESCRIPTION
    for n, key in enumerate(KEYS):
        customer = customers()[n * 3 + 2]
        for contact_id, inline in (
            ("813934000024065112", None),
            (None, new_contact_for(customer, channel=CHANNELS[n % 2])),
        ):
            request = TicketRequest(
                subject=long_subject if n % 2 else "Pago no reflejado",
                department_id="7001",
                contact_id=contact_id,
                description=long_text if n % 2 else "Hola",
                priority=list(Priority)[n % len(Priority)],
                category="Billing" if n % 2 else None,
                channel=CHANNELS[n % 2],
                email=customer.email,
                phone=customer.phone,
                idempotency_key=key,
                contact=inline,
            )
            await keyed_desk.create_ticket(request)
            await desk.create_ticket(request)
        now = clock.now()
        probe = TicketProbe(
            key=key,
            contact_id="813934000024065112",
            subject="Pago no reflejado",
            created_from=now - timedelta(minutes=5),
            created_to=now + timedelta(minutes=5),
        )
        await keyed_desk.find_ticket(probe)
        await desk.find_ticket(probe)
    await desk.get_ticket("813934000024070001")
    await keyed_desk.list_departments()
    await keyed_desk.list_organizations()
    await keyed_desk.org_id()  # discovery: GET /organizations without orgId
    await desk.whoami()
    await desk.ticket_field_values()  # doctor's picklist check
    seen = check_everything(recorder)
    used = {
        "POST /api/v1/tickets",
        "POST /api/v1/contacts",
        "GET /api/v1/contacts/search",
        "GET /api/v1/tickets/search",
        "GET /api/v1/tickets/{ticketId}",
        "GET /api/v1/departments",
        "GET /api/v1/organizations",
        "GET /api/v1/myinfo",
        "GET /api/v1/organizationFields",
    }
    assert {ALL_SCHEMAS[name].source for name in used} <= seen


def test_the_constraint_data_names_its_sources() -> None:
    """Each schema says which OAS file and schema it was copied from."""
    for name, schema in ALL_SCHEMAS.items():
        assert schema.source.split()[0].endswith(".json"), name


_BAD: list[tuple[str, Callable[[dict[str, Any]], None]]] = [
    ("inline phone", lambda b: b["contact"].update(phone="+525512345678")),
    ("first name 101", lambda b: b["contact"].update(firstName="F" * 101)),
    ("subject 1001", lambda b: b.update(subject="s" * 1001)),
    ("key with #", lambda b: b.update(cf={KEY_FIELD: "order#1"})),
    ("unknown channel", lambda b: b.update(channel="SMS")),
]


@pytest.mark.parametrize(("what", "spoil"), _BAD, ids=[w for w, _ in _BAD])
def test_the_check_refuses_what_zoho_refuses(
    what: str, spoil: Callable[[dict[str, Any]], None]
) -> None:
    """The checker itself is not a rubber stamp: each known refusal is caught."""
    body: dict[str, Any] = {
        "subject": "Pago",
        "departmentId": "7001",
        "contact": {"lastName": "López", "email": "ana@example.com"},
        "priority": "High",
    }
    assert validate(ALL_SCHEMAS["POST /api/v1/tickets"], body, DEFAULT_PICKLISTS) == []
    spoil(body)
    assert validate(ALL_SCHEMAS["POST /api/v1/tickets"], body, DEFAULT_PICKLISTS), what


async def test_the_old_inline_contact_would_have_been_refused() -> None:
    """The body the adapter used to send for a first-time customer with email and phone
    (the phone inside the inline contact) breaks Ticket.json's additionalProperties: false."""
    old = {
        "subject": "Pago",
        "departmentId": "7001",
        "contact": {"lastName": "López", "email": "ana@example.com", "phone": "+525512345678"},
    }
    found = validate(ALL_SCHEMAS["POST /api/v1/tickets"], old, DEFAULT_PICKLISTS)
    assert [v.field for v in found] == ["contact/phone"]


def test_a_raw_key_with_a_colon_is_ambiguous_in_a_search() -> None:
    """``customField1=cf_request_key:api/x/order:A`` has no single reading; the encoded key
    the adapter searches for has one."""
    from ticketing.adapters.zoho_desk.wire import custom_field_value

    search = ALL_SCHEMAS["GET /api/v1/tickets/search"]
    raw = {"customField1": f"{KEY_FIELD}:api/x/order:A"}
    assert [v.field for v in validate(search, raw)] == ["customField1"]
    encoded = {"customField1": f"{KEY_FIELD}:{custom_field_value('api/x/order:A')}"}
    assert validate(search, encoded) == []
