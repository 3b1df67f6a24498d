"""The Zoho Desk adapter on the wire: exact requests, and Zoho's answers in domain terms."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx
import pytest
import respx

from ticketing.adapters.zoho_desk.client import ZohoDeskClient, build_http_client
from ticketing.adapters.zoho_desk.hosts import DC_HOSTS, dc_for_accounts_url, resolve_hosts
from ticketing.adapters.zoho_desk.oauth import TokenManager, ZohoOAuth
from ticketing.adapters.zoho_desk.wire import parse_time
from ticketing.domain.errors import (
    ConfigurationError,
    HelpdeskAuthError,
    HelpdeskRejected,
    HelpdeskUnavailable,
    RateLimited,
)
from ticketing.domain.model import NewContact, Priority, TicketRequest
from ticketing.domain.ports import TicketProbe
from ticketing.settings import DATA_CENTRES

from tests.support.clock import ManualClock
from tests.support.concurrency import answer_late, concurrently
from tests.support.zoho import (
    ACCESS,
    ACCOUNTS,
    CLIENT_ID,
    CLIENT_SECRET,
    DESK,
    ORG,
    REFRESH,
    REFRESHED,
    MemoryTokenStore,
    token_body,
)

pytestmark = pytest.mark.anyio

API = f"{DESK}/api/v1"
AUTH = f"Zoho-oauthtoken {ACCESS}"

CONTACT_ISO = {
    "id": "813934000024065112",
    "lastName": "López",
    "firstName": "Ana",
    "email": "ana@example.com",
    "phone": "+52 1 55 1234 5678",
    "createdTime": "2022-09-23T08:59:08.000Z",
    "ownerId": "813934000000139001",
    "customFields": {"cf_x": None},
}
TICKET = {
    "id": "813934000024070001",
    "ticketNumber": "1042",
    "subject": "Pago no reflejado",
    "status": "Open",
    "statusType": "Open",
    "priority": "High",
    "channel": "WhatsApp",
    "departmentId": "7001",
    "contactId": "813934000024065112",
    "email": "ana@example.com",
    "webUrl": "https://desk.zoho.eu/support/acme/ShowHomePage.do#Cases/dv/813934000024070001",
    "createdTime": "2026-11-26T10:00:01.000Z",
    "modifiedTime": "2026-11-26T10:00:01.000Z",
    "threadCount": "1",
    "cf": {"cf_request_key": "key-1"},
}


def query(request: httpx.Request) -> dict[str, str]:
    """The request's query string as a plain dict (one value per name)."""
    return {k: v[0] for k, v in parse_qs(urlsplit(str(request.url)).query).items()}


def zoho_error(status: int, code: str, message: str = "", **extra: object) -> httpx.Response:
    return httpx.Response(status, json={"errorCode": code, "message": message, **extra})


def request_for(key: str | None = "key-1") -> TicketRequest:
    return TicketRequest(
        subject="Pago no reflejado",
        department_id="7001",
        contact_id="813934000024065112",
        description="Hola, pagué ayer mi reserva",
        priority=Priority.HIGH,
        channel="WhatsApp",
        category="billing",
        email="ana@example.com",
        idempotency_key=key,
    )


# ---------------------------------------------------------------- data centres


@pytest.mark.parametrize(
    ("dc", "accounts", "desk"),
    [
        ("us", "https://accounts.zoho.com", "https://desk.zoho.com"),
        ("eu", "https://accounts.zoho.eu", "https://desk.zoho.eu"),
        ("in", "https://accounts.zoho.in", "https://desk.zoho.in"),
        ("au", "https://accounts.zoho.com.au", "https://desk.zoho.com.au"),
        ("jp", "https://accounts.zoho.jp", "https://desk.zoho.jp"),
        ("ca", "https://accounts.zohocloud.ca", "https://desk.zohocloud.ca"),
        ("sa", "https://accounts.zoho.sa", "https://desk.zoho.sa"),
        ("cn", "https://accounts.zoho.com.cn", "https://desk.zoho.com.cn"),
        ("uk", "https://accounts.zoho.uk", "https://desk.zoho.uk"),  # Desk host unconfirmed
        ("sg", "https://accounts.zoho.sg", "https://desk.zoho.sg"),
        ("ae", "https://accounts.zoho.ae", "https://desk.zoho.ae"),
    ],
)
def test_each_data_centre_maps_to_its_two_hosts(dc: str, accounts: str, desk: str) -> None:
    """Every DC of the facts table resolves to its accounts and Desk roots, and back."""
    assert resolve_hosts(dc, None, None) == (accounts, desk)
    assert resolve_hosts(dc.upper(), "", None) == (accounts, desk)
    assert dc_for_accounts_url(accounts + "/") == dc
    assert set(DC_HOSTS) == {"us", "eu", "in", "au", "jp", "ca", "sa", "cn", "uk", "sg", "ae"}
    assert set(DATA_CENTRES) == set(DC_HOSTS)  # what ZOHO_DC accepts is what has hosts


def test_explicit_urls_win_over_the_data_centre() -> None:
    """ZOHO_ACCOUNTS_URL / ZOHO_DESK_URL override ZOHO_DC, each on its own."""
    assert resolve_hosts("us", "http://127.0.0.1:9000/", "http://127.0.0.1:9001") == (
        "http://127.0.0.1:9000",
        "http://127.0.0.1:9001",
    )
    assert resolve_hosts("eu", None, "http://emu:1") == ("https://accounts.zoho.eu", "http://emu:1")
    assert resolve_hosts("nowhere", "http://a", "http://d") == ("http://a", "http://d")


def test_unknown_data_centre_is_a_configuration_error_naming_zoho_dc() -> None:
    """An unknown ZOHO_DC is refused with the variable's name and the valid values."""
    with pytest.raises(ConfigurationError, match="ZOHO_DC") as info:
        resolve_hosts("xx", None, None)
    assert "eu" in info.value.message


def test_unknown_accounts_host_has_no_data_centre() -> None:
    """A host that is not a Zoho accounts host (e.g. the API domain) maps to no DC."""
    assert dc_for_accounts_url("https://www.zohoapis.eu") is None
    assert dc_for_accounts_url("accounts.zoho.com.au") == "au"
    assert dc_for_accounts_url("") is None


async def test_api_domain_from_the_token_is_never_used_for_desk_calls(
    router: respx.MockRouter, http: httpx.AsyncClient, oauth: ZohoOAuth, clock: ManualClock
) -> None:
    """After a refresh returning api_domain www.zohoapis.eu, Desk calls still go to desk.zoho.eu."""
    manager = TokenManager(oauth, MemoryTokenStore(), clock, refresh_token=REFRESH)
    router.post(f"{ACCOUNTS}/oauth/v2/token").respond(200, json=token_body())
    zohoapis = router.route(host="www.zohoapis.eu").respond(500)
    desk_route = router.get(f"{API}/tickets/1").respond(200, json=TICKET)
    client = ZohoDeskClient(http, manager, clock, desk_url=DESK, org_id=ORG)

    await client.get_ticket("1")

    assert desk_route.call_count == 1
    assert zohoapis.call_count == 0
    assert (await manager.status())["api_domain"] == "https://www.zohoapis.eu"


# ---------------------------------------------------------------- OAuth requests


async def test_authorization_url_asks_for_offline_access_and_consent(oauth: ZohoOAuth) -> None:
    """The consent URL carries code flow, offline access, forced consent, comma scopes, state."""
    url = oauth.authorization_url("state-123")
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{ACCOUNTS}/oauth/v2/auth"
    assert {k: v[0] for k, v in parse_qs(parts.query).items()} == {
        "client_id": CLIENT_ID,
        "response_type": "code",
        "redirect_uri": "http://localhost:8888/callback",
        "scope": "Desk.tickets.ALL,Desk.contacts.ALL,Desk.basic.ALL,Desk.search.READ",
        "access_type": "offline",
        "prompt": "consent",
        "state": "state-123",
    }


async def test_exchange_code_posts_the_form_to_the_named_accounts_server(
    router: respx.MockRouter, oauth: ZohoOAuth, clock: ManualClock
) -> None:
    """The code goes, form-encoded, to the callback's accounts-server, not the configured one."""
    route = router.post("https://accounts.zoho.com.au/oauth/v2/token").respond(
        200, json=token_body(ACCESS, refresh_token=REFRESH)
    )
    tokens = await oauth.exchange_code(
        "1000.fake-code", accounts_server="https://accounts.zoho.com.au"
    )
    request = route.calls.last.request
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qs(request.content.decode()) == {
        "grant_type": ["authorization_code"],
        "client_id": [CLIENT_ID],
        "client_secret": [CLIENT_SECRET],
        "redirect_uri": ["http://localhost:8888/callback"],
        "code": ["1000.fake-code"],
    }
    assert tokens.refresh_token == REFRESH
    assert tokens.access_token == ACCESS
    assert tokens.accounts_url == "https://accounts.zoho.com.au"
    assert tokens.expires_at == clock.now() + timedelta(seconds=3600)


async def test_refresh_posts_the_refresh_form(router: respx.MockRouter, oauth: ZohoOAuth) -> None:
    """A refresh sends grant_type=refresh_token with the client credentials, as a form."""
    route = router.post(f"{ACCOUNTS}/oauth/v2/token").respond(200, json=token_body())
    tokens = await oauth.refresh(REFRESH)
    assert parse_qs(route.calls.last.request.content.decode()) == {
        "grant_type": ["refresh_token"],
        "client_id": [CLIENT_ID],
        "client_secret": [CLIENT_SECRET],
        "refresh_token": [REFRESH],
    }
    assert (tokens.access_token, tokens.refresh_token) == (REFRESHED, REFRESH)


async def test_revoke_posts_the_token_as_a_query_parameter(
    router: respx.MockRouter, oauth: ZohoOAuth
) -> None:
    """Revoke is POST /oauth/v2/token/revoke?token=<refresh token>."""
    route = router.post(f"{ACCOUNTS}/oauth/v2/token/revoke").respond(
        200, json={"status": "success"}
    )
    await oauth.revoke(REFRESH)
    assert route.calls.last.request.method == "POST"
    assert query(route.calls.last.request) == {"token": REFRESH}


# ---------------------------------------------------------------- Desk requests


async def test_search_contacts_sends_email_org_and_token(
    router: respx.MockRouter, desk: ZohoDeskClient
) -> None:
    """GET /contacts/search?email=…&limit=50 with the Zoho-oauthtoken and orgId headers."""
    numeric = {**CONTACT_ISO, "id": 813934000024065113, "createdTime": 1663923548000}
    route = router.get(f"{API}/contacts/search").respond(
        200, json={"data": [CONTACT_ISO, numeric], "count": "2"}
    )

    found = await desk.search_contacts(email="ana@example.com")

    request = route.calls.last.request
    assert request.method == "GET"
    assert query(request) == {"email": "ana@example.com", "limit": "50"}
    assert request.headers["Authorization"] == AUTH
    assert request.headers["orgId"] == ORG
    assert [c.id for c in found] == ["813934000024065112", "813934000024065113"]
    expected_time = datetime(2022, 9, 23, 8, 59, 8, tzinfo=UTC)
    assert [c.created_time for c in found] == [expected_time, expected_time]
    assert found[0].first_name == "Ana"
    assert found[0].phone == "+52 1 55 1234 5678"


async def test_search_contacts_by_phone(router: respx.MockRouter, desk: ZohoDeskClient) -> None:
    """Without an email the search goes by phone: ``mobile``, then ``phone`` (Zoho searches
    them separately), each for the number's last 8 digits with wildcards between them, so
    that any way of writing the number is found."""
    route = router.get(f"{API}/contacts/search").respond(204)
    assert await desk.search_contacts(phone="+525512345678") == []
    term = "*1*2*3*4*5*6*7*8"
    assert [query(call.request) for call in route.calls] == [
        {"mobile": term, "limit": "50"},
        {"phone": term, "limit": "50"},
    ]


async def test_search_contacts_by_a_phone_without_digits_sends_nothing(
    router: respx.MockRouter, desk: ZohoDeskClient
) -> None:
    """No digits, no search: the wildcard term would match every contact."""
    route = router.get(f"{API}/contacts/search").respond(204)
    assert await desk.search_contacts(phone="n/a") == []
    assert route.call_count == 0


async def test_search_contacts_by_phone_stops_at_a_mobile_match(
    router: respx.MockRouter, desk: ZohoDeskClient
) -> None:
    """A contact whose ``mobile`` is the number ends the look-up: one call."""
    found = {"id": "1", "lastName": "R", "mobile": "+52 1 55 1234 5678"}
    route = router.get(f"{API}/contacts/search").respond(200, json={"data": [found], "count": 1})
    contacts = await desk.search_contacts(phone="+525512345678")
    assert [c.id for c in contacts] == ["1"]
    assert route.call_count == 1


async def test_search_with_no_match_is_204_and_an_empty_list(
    router: respx.MockRouter, desk: ZohoDeskClient
) -> None:
    """A 204 with an empty body is an empty result, never parsed as JSON."""
    router.get(f"{API}/contacts/search").respond(204, content=b"")
    assert await desk.search_contacts(email="nobody@example.com") == []


async def test_create_contact_posts_only_the_given_fields(
    router: respx.MockRouter, desk: ZohoDeskClient
) -> None:
    """POST /contacts with lastName, firstName and email; absent phone is left out."""
    route = router.post(f"{API}/contacts").respond(200, json=CONTACT_ISO)
    created = await desk.create_contact(
        NewContact(last_name="López", first_name="Ana", email="ana@example.com")
    )
    request = route.calls.last.request
    assert json.loads(request.content) == {
        "lastName": "López",
        "firstName": "Ana",
        "email": "ana@example.com",
    }
    assert request.headers["orgId"] == ORG
    assert request.headers["Authorization"] == AUTH
    assert created.id == "813934000024065112"


async def test_create_ticket_posts_the_ticket_with_the_idempotency_field(
    router: respx.MockRouter, http: httpx.AsyncClient, tokens: TokenManager, clock: ManualClock
) -> None:
    """POST /tickets carries every present field, priority's value, cf{field: key}, and the
    description ends with the key's reference line (pinned: tickets made by an older version
    must still be found)."""
    desk = ZohoDeskClient(
        http, tokens, clock, desk_url=DESK, org_id=ORG, idempotency_field="cf_request_key"
    )
    route = router.post(f"{API}/tickets").respond(200, json=TICKET)

    ticket = await desk.create_ticket(request_for("key-1"))

    assert json.loads(route.calls.last.request.content) == {
        "subject": "Pago no reflejado",
        "departmentId": "7001",
        "contactId": "813934000024065112",
        "description": "Hola, pagué ayer mi reserva\n\nRef: tkxyuxivdjpdrxhhtnnwuf",
        "priority": "High",
        "channel": "WhatsApp",
        "category": "billing",
        "email": "ana@example.com",
        "cf": {"cf_request_key": "key-1"},
    }
    assert (ticket.id, ticket.ticket_number, ticket.contact_id) == (
        "813934000024070001",
        "1042",
        "813934000024065112",
    )
    assert ticket.web_url == TICKET["webUrl"]
    assert ticket.created_time == datetime(2026, 11, 26, 10, 0, 1, tzinfo=UTC)


async def test_create_ticket_without_idempotency_field_sends_no_cf(
    router: respx.MockRouter, desk: ZohoDeskClient
) -> None:
    """Without ZOHO_IDEMPOTENCY_FIELD no cf is sent, and numeric ids come back as strings."""
    numeric = {**TICKET, "id": 813934000024070001, "ticketNumber": 1042, "contactId": 5}
    route = router.post(f"{API}/tickets").respond(200, json=numeric)
    ticket = await desk.create_ticket(request_for("key-1"))
    assert "cf" not in json.loads(route.calls.last.request.content)
    assert (ticket.id, ticket.ticket_number, ticket.contact_id) == (
        "813934000024070001",
        "1042",
        "5",
    )


async def test_find_ticket_by_custom_field_filters_and_picks_the_oldest(
    router: respx.MockRouter, http: httpx.AsyncClient, tokens: TokenManager, clock: ManualClock
) -> None:
    """With the field set: customField1=<field>:<key>; other keys dropped; oldest wins."""
    desk = ZohoDeskClient(
        http, tokens, clock, desk_url=DESK, org_id=ORG, idempotency_field="cf_request_key"
    )
    newer = {**TICKET, "id": "9", "createdTime": "2026-11-26T10:00:05.000Z"}
    older = {**TICKET, "id": "10", "createdTime": 1795687200000}  # 2026-11-26T10:00:00Z
    other = {**TICKET, "id": "1", "cf": {"cf_request_key": "key-10"}}
    route = router.get(f"{API}/tickets/search").respond(
        200, json={"data": [newer, other, older], "count": 3}
    )
    probe = TicketProbe("key-1", "5", "Pago no reflejado", clock.now(), clock.now())

    found = await desk.find_ticket(probe)

    assert query(route.calls.last.request) == {
        "customField1": "cf_request_key:key-1",
        "limit": "50",
    }
    assert found is not None
    assert found.id == "10"


async def test_find_ticket_by_reference_keeps_only_this_contact_subject_and_window(
    router: respx.MockRouter, desk: ZohoDeskClient
) -> None:
    """Without the field: _all=<the key's reference> and nothing else; of what comes back
    only a ticket of the same contact and exact subject, whose description (when the result
    has one) carries the reference and created within the window, is taken."""
    ref = "Hola\n\nRef: tkxyuxivdjpdrxhhtnnwuf"
    loose = {**TICKET, "id": "1", "subject": "Pago no reflejado (2)", "description": ref}
    other_contact = {**TICKET, "id": "2", "contactId": "99", "description": ref}
    unreferenced = {**TICKET, "id": "3", "description": "Ref: tkxyuxivdjpdrxhhtnnwu (typed)"}
    too_old = {**TICKET, "id": "4", "createdTime": "2026-11-26T09:00:00.000Z"}
    exact = {**TICKET, "id": "5"}  # the search result has no description: fine
    route = router.get(f"{API}/tickets/search").respond(
        200, json={"data": [loose, other_contact, unreferenced, too_old, exact]}
    )
    start = datetime(2026, 11, 26, 9, 59, tzinfo=UTC)
    probe = TicketProbe(
        "key-1", "813934000024065112", "Pago no reflejado", start, start + timedelta(minutes=5)
    )

    found = await desk.find_ticket(probe)

    assert query(route.calls.last.request) == {"_all": "tkxyuxivdjpdrxhhtnnwuf", "limit": "50"}
    assert found is not None
    assert found.id == "5"


async def test_find_ticket_compares_creation_times_in_zohos_clock(
    router: respx.MockRouter, desk: ZohoDeskClient, clock: ManualClock
) -> None:
    """Zoho's clock is 5 minutes ahead of ours (its Date header says so): a ticket it stamped
    10:05 (our 10:00) is inside our 9:59-10:01 window moved into Zoho's clock, though by our
    clock it would be 4 minutes past the window's end."""
    zoho_now = clock.now() + timedelta(minutes=5)
    stamped = {**TICKET, "createdTime": "2026-11-26T10:05:00.000Z"}
    router.get(f"{API}/tickets/search").respond(
        200,
        json={"data": [stamped]},
        headers={"Date": zoho_now.strftime("%a, %d %b %Y %H:%M:%S GMT")},
    )
    window = clock.now() - timedelta(minutes=1), clock.now() + timedelta(minutes=1)
    probe = TicketProbe("key-1", "813934000024065112", "Pago no reflejado", *window)

    found = await desk.find_ticket(probe)

    assert desk.clock_offset is not None
    assert 299 <= desk.clock_offset <= 301
    assert found is not None
    assert found.id == TICKET["id"]


async def test_find_ticket_with_no_match_is_none(
    router: respx.MockRouter, desk: ZohoDeskClient, clock: ManualClock
) -> None:
    """A 204 from the ticket search means no ticket."""
    router.get(f"{API}/tickets/search").respond(204)
    probe = TicketProbe("k", "5", "subject", clock.now(), clock.now())
    assert await desk.find_ticket(probe) is None


async def test_departments_and_organizations_requests(
    router: respx.MockRouter, desk: ZohoDeskClient
) -> None:
    """Departments are asked with isEnabled=true&limit=200; /organizations goes without orgId."""
    departments = router.get(f"{API}/departments").respond(
        200,
        json={
            "data": [
                {"id": 7001, "name": "Support", "isEnabled": True, "isDefault": True},
                {"id": "7002", "name": "Billing", "isEnabled": "true", "isDefault": "false"},
            ]
        },
    )
    orgs = router.get(f"{API}/organizations").respond(
        200,
        json={
            "data": [{"id": 20071234, "companyName": "Acme", "isDefault": True, "edition": "FREE"}]
        },
    )

    listed = await desk.list_departments()
    organizations = await desk.list_organizations()

    assert query(departments.calls.last.request) == {"isEnabled": "true", "limit": "200"}
    assert departments.calls.last.request.headers["orgId"] == ORG
    assert [(d.id, d.name, d.is_default) for d in listed] == [
        ("7001", "Support", True),
        ("7002", "Billing", False),
    ]
    assert "orgId" not in orgs.calls.last.request.headers
    assert orgs.calls.last.request.headers["Authorization"] == AUTH
    assert [(o.id, o.name, o.is_default, o.edition) for o in organizations] == [
        ("20071234", "Acme", True, "FREE")
    ]


async def test_whoami_reads_myinfo(router: respx.MockRouter, desk: ZohoDeskClient) -> None:
    """GET /myinfo becomes the agent's id, full name and email."""
    route = router.get(f"{API}/myinfo").respond(
        200,
        json={
            "id": 813934000000139001,
            "firstName": "Eva",
            "lastName": "Ruiz",
            "emailId": "eva@example.com",
        },
    )
    agent = await desk.whoami()
    assert route.calls.last.request.headers["orgId"] == ORG
    assert (agent.id, agent.name, agent.email) == (
        "813934000000139001",
        "Eva Ruiz",
        "eva@example.com",
    )


# ---------------------------------------------------------------- discovery


async def test_org_is_discovered_once_under_concurrency(
    router: respx.MockRouter, http: httpx.AsyncClient, tokens: TokenManager, clock: ManualClock
) -> None:
    """Twenty concurrent first calls do one /organizations lookup and all use the default org."""

    orgs_body = {
        "data": [
            {"id": "111", "companyName": "Old", "isDefault": False},
            {"id": "222", "companyName": "Main", "isDefault": True},
        ]
    }
    orgs = router.get(f"{API}/organizations").mock(side_effect=answer_late(orgs_body))
    search = router.get(f"{API}/contacts/search").respond(204)
    desk = ZohoDeskClient(http, tokens, clock, desk_url=DESK, department_id="7001")

    async with anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(lambda: desk.search_contacts(email="a@example.com"))

    assert orgs.call_count == 1
    assert search.call_count == 20
    assert {c.request.headers["orgId"] for c in search.calls} == {"222"}
    assert desk.calls["list_organizations"] == 1


async def test_department_is_discovered_once_under_concurrency(
    router: respx.MockRouter, http: httpx.AsyncClient, tokens: TokenManager, clock: ManualClock
) -> None:
    """Twenty concurrent department_id() calls do one lookup and pick the default enabled one."""

    departments_body = {
        "data": [
            {"id": "7003", "name": "Sales", "isEnabled": True, "isDefault": False},
            {"id": "7009", "name": "Support", "isEnabled": True, "isDefault": True},
        ]
    }
    route = router.get(f"{API}/departments").mock(side_effect=answer_late(departments_body))
    desk = ZohoDeskClient(http, tokens, clock, desk_url=DESK, org_id=ORG)
    results = await concurrently(20, desk.department_id)

    assert route.call_count == 1
    assert results == ["7009"] * 20


async def test_no_organization_is_an_auth_error_with_a_fix(
    router: respx.MockRouter, http: httpx.AsyncClient, tokens: TokenManager, clock: ManualClock
) -> None:
    """A token that sees no organization (204) fails with a hint about ZOHO_DC / ZOHO_ORG_ID."""
    router.get(f"{API}/organizations").respond(204)
    desk = ZohoDeskClient(http, tokens, clock, desk_url=DESK)
    with pytest.raises(HelpdeskAuthError, match="ZOHO_ORG_ID"):
        await desk.search_contacts(email="a@example.com")


# ---------------------------------------------------------------- errors


async def test_invalid_oauth_refreshes_once_and_retries_once(
    router: respx.MockRouter, desk: ZohoDeskClient, store: MemoryTokenStore
) -> None:
    """401 INVALID_OAUTH: one refresh, then the same call again with the new token."""
    refresh = router.post(f"{ACCOUNTS}/oauth/v2/token").respond(200, json=token_body())
    route = router.post(f"{API}/tickets").mock(
        side_effect=[
            zoho_error(401, "INVALID_OAUTH", "The OAuth Token you provided is invalid."),
            httpx.Response(200, json=TICKET),
        ]
    )

    ticket = await desk.create_ticket(request_for())

    assert ticket.id == TICKET["id"]
    assert refresh.call_count == 1
    assert [c.request.headers["Authorization"] for c in route.calls] == [
        AUTH,
        f"Zoho-oauthtoken {REFRESHED}",
    ]
    assert store.tokens is not None
    assert store.tokens.access_token == REFRESHED
    assert desk.calls["create_ticket"] == 2


async def test_a_second_invalid_oauth_is_an_auth_error(
    router: respx.MockRouter, desk: ZohoDeskClient
) -> None:
    """If the refreshed token is refused too, the call fails with HelpdeskAuthError, no loop."""
    refresh = router.post(f"{ACCOUNTS}/oauth/v2/token").respond(200, json=token_body())
    route = router.get(f"{API}/tickets/1").respond(
        401,
        json={"errorCode": "INVALID_OAUTH", "message": "The OAuth Token you provided is invalid."},
    )
    with pytest.raises(HelpdeskAuthError) as info:
        await desk.get_ticket("1")
    assert info.value.status == 401
    assert info.value.code == "INVALID_OAUTH"
    assert "ZOHO_DC" in info.value.message
    assert route.call_count == 2
    assert refresh.call_count == 1


async def test_concurrent_invalid_oauth_causes_one_refresh(
    router: respx.MockRouter, desk: ZohoDeskClient
) -> None:
    """Ten calls rejected with the same token lead to a single refresh; all then succeed."""
    refresh = router.post(f"{ACCOUNTS}/oauth/v2/token").respond(200, json=token_body())

    def answer(request: httpx.Request) -> httpx.Response:
        if request.headers["Authorization"] == AUTH:
            return zoho_error(401, "INVALID_OAUTH")
        return httpx.Response(204)

    route = router.get(f"{API}/contacts/search").mock(side_effect=answer)

    async def search(i: int) -> None:
        await desk.search_contacts(email=f"u{i}@example.com")

    async with anyio.create_task_group() as tg:
        for i in range(10):
            tg.start_soon(search, i)

    assert refresh.call_count == 1
    assert route.call_count == 20


@pytest.mark.parametrize(
    ("status", "code", "hint"),
    [
        (401, "UNAUTHORIZED", "ticketing auth setup"),
        (403, "OAUTH_ORG_MISMATCH", "ZOHO_ORG_ID"),
        (400, "OAUTH_ORG_MISMATCH", "ZOHO_ORG_ID"),
        (403, "SCOPE_MISMATCH", "ZOHO_SCOPE"),
        (403, "FORBIDDEN", "permissions"),
        (401, "SOMETHING_NEW", "ZOHO_DC"),
    ],
)
async def test_auth_failures_carry_a_fix_hint(
    router: respx.MockRouter, desk: ZohoDeskClient, status: int, code: str, hint: str
) -> None:
    """401/403 (and OAUTH_ORG_MISMATCH whatever its status) become HelpdeskAuthError with a fix."""
    refresh = router.post(f"{ACCOUNTS}/oauth/v2/token").respond(200, json=token_body())
    router.get(f"{API}/departments").mock(return_value=zoho_error(status, code, "nope"))
    with pytest.raises(HelpdeskAuthError) as info:
        await desk.list_departments()
    assert (info.value.status, info.value.code) == (status, code)
    assert hint in info.value.message
    assert refresh.call_count == 0


async def test_validation_error_names_the_field_without_its_slash(
    router: respx.MockRouter, desk: ZohoDeskClient
) -> None:
    """422 with errors[].fieldName "/contactId" is HelpdeskRejected(field="contactId")."""
    router.post(f"{API}/tickets").respond(
        422,
        json={
            "errorCode": "INVALID_DATA",
            "message": "The data is invalid due to validation restrictions",
            "errors": [
                {
                    "fieldName": "/contactId",
                    "errorType": "invalid",
                    "errorMessage": "no such contact",
                }
            ],
        },
    )
    with pytest.raises(HelpdeskRejected) as info:
        await desk.create_ticket(request_for())
    assert (info.value.status, info.value.code, info.value.field) == (
        422,
        "INVALID_DATA",
        "contactId",
    )


@pytest.mark.parametrize(("status", "code"), [(400, "INVALID_DATA"), (404, "URL_NOT_FOUND")])
async def test_other_client_errors_are_rejections(
    router: respx.MockRouter, desk: ZohoDeskClient, status: int, code: str
) -> None:
    """400 and 404 are permanent: HelpdeskRejected with the status and code, no field."""
    router.get(f"{API}/tickets/404").respond(status, json={"errorCode": code, "message": "x"})
    with pytest.raises(HelpdeskRejected) as info:
        await desk.get_ticket("404")
    assert (info.value.status, info.value.code, info.value.field) == (status, code, None)


async def test_429_is_rate_limited_with_retry_after(
    router: respx.MockRouter, desk: ZohoDeskClient
) -> None:
    """429 TOO_MANY_REQUESTS becomes RateLimited with Retry-After's seconds; nothing was sent."""
    router.post(f"{API}/tickets").respond(
        429,
        json={"errorCode": "TOO_MANY_REQUESTS", "message": "slow down"},
        headers={"Retry-After": "17"},
    )
    with pytest.raises(RateLimited) as info:
        await desk.create_ticket(request_for())
    assert info.value.retry_after == 17.0
    assert info.value.sent is False
    assert info.value.status == 429


async def test_retry_after_as_an_http_date(
    router: respx.MockRouter, desk: ZohoDeskClient, clock: ManualClock
) -> None:
    """A Retry-After given as an HTTP date is turned into seconds from the clock's now."""
    router.get(f"{API}/departments").respond(
        429, headers={"Retry-After": "Thu, 26 Nov 2026 10:01:30 GMT"}
    )
    with pytest.raises(RateLimited) as info:
        await desk.list_departments()
    assert info.value.retry_after == 90.0


async def test_daily_credits_spent_without_retry_after_waits_until_utc_midnight(
    router: respx.MockRouter, desk: ZohoDeskClient
) -> None:
    """THRESHOLD_EXCEEDED without Retry-After: the guess is the next UTC midnight (14 h from
    10:00), and the message says it is a guess."""
    router.post(f"{API}/tickets").respond(
        429, json={"errorCode": "THRESHOLD_EXCEEDED", "message": "credits spent"}
    )
    with pytest.raises(RateLimited) as info:
        await desk.create_ticket(request_for())
    assert info.value.code == "THRESHOLD_EXCEEDED"
    assert info.value.retry_after == 14 * 3600
    assert "back at 2026-11-27 00:00:00 UTC, a guess: no Retry-After" in info.value.message


@pytest.mark.parametrize(
    "retry_after", ["5400", "Thu, 26 Nov 2026 11:30:00 GMT"], ids=["seconds", "http-date"]
)
async def test_daily_credits_spent_waits_for_zohos_retry_after(
    router: respx.MockRouter, desk: ZohoDeskClient, retry_after: str
) -> None:
    """THRESHOLD_EXCEEDED with Retry-After (seconds or an HTTP date): that is when credits
    come back (the portal's day need not be UTC's), not UTC midnight."""
    router.post(f"{API}/tickets").respond(
        429,
        json={"errorCode": "THRESHOLD_EXCEEDED", "message": "credits spent"},
        headers={"Retry-After": retry_after},
    )
    with pytest.raises(RateLimited) as info:
        await desk.create_ticket(request_for())
    assert info.value.retry_after == 5400.0
    assert "back at 2026-11-26 11:30:00 UTC, Zoho's Retry-After" in info.value.message


async def test_server_error_is_unavailable_and_maybe_sent(
    router: respx.MockRouter, desk: ZohoDeskClient
) -> None:
    """A 500 (even as an HTML page) is HelpdeskUnavailable(sent=True): the create may exist."""
    router.post(f"{API}/tickets").respond(502, text="<html>Bad gateway</html>")
    with pytest.raises(HelpdeskUnavailable) as info:
        await desk.create_ticket(request_for())
    assert type(info.value) is HelpdeskUnavailable
    assert (info.value.status, info.value.sent) == (502, True)


@pytest.mark.parametrize(
    ("error", "sent"),
    [
        (httpx.ConnectError("refused"), False),
        (httpx.ConnectTimeout("slow connect"), False),
        (httpx.PoolTimeout("pool"), False),
        (httpx.ReadTimeout("slow read"), True),
        (httpx.WriteTimeout("slow write"), True),
        (httpx.RemoteProtocolError("peer closed"), True),
        (httpx.ReadError("reset"), True),
    ],
)
async def test_transport_errors_say_whether_the_request_was_sent(
    router: respx.MockRouter, desk: ZohoDeskClient, error: Exception, sent: bool
) -> None:
    """Connect failures were never sent; read/protocol failures may have created the ticket."""
    router.post(f"{API}/tickets").mock(side_effect=error)
    with pytest.raises(HelpdeskUnavailable) as info:
        await desk.create_ticket(request_for())
    assert info.value.sent is sent
    assert info.value.__cause__ is error


async def test_undecodable_create_answer_is_ambiguous(
    router: respx.MockRouter, desk: ZohoDeskClient
) -> None:
    """A 200 whose body is not a ticket may still mean a created ticket: sent=True."""
    router.post(f"{API}/tickets").respond(200, text="not json")
    with pytest.raises(HelpdeskUnavailable) as info:
        await desk.create_ticket(request_for())
    assert info.value.sent is True


async def test_credits_and_call_counts_are_kept(
    router: respx.MockRouter, desk: ZohoDeskClient
) -> None:
    """The last X-Rate-Limit-Remaining-v3 and per-operation call counts are recorded."""
    router.get(f"{API}/contacts/search").respond(204, headers={"X-Rate-Limit-Remaining-v3": "4980"})
    router.post(f"{API}/contacts").respond(
        200, json=CONTACT_ISO, headers={"X-Rate-Limit-Remaining-v3": "4979"}
    )
    before = desk.credits_remaining
    await desk.search_contacts(email="ana@example.com")
    await desk.search_contacts(email="ana@example.com")
    await desk.create_contact(NewContact(last_name="López"))
    assert (before, desk.credits_remaining) == (None, 4979)
    assert desk.calls == {"search_contacts": 2, "create_contact": 1}


# ---------------------------------------------------------------- wire details


@pytest.mark.parametrize(
    "value",
    [
        "2022-09-23T08:59:08.000Z",
        "2022-09-23T08:59:08Z",
        1663923548000,
        "1663923548000",
        1663923548,
    ],
)
def test_times_are_read_from_iso_or_epoch(value: str | int) -> None:
    """ISO strings, epoch milliseconds (number or string) and epoch seconds all parse to UTC."""
    assert parse_time(value) == datetime(2022, 9, 23, 8, 59, 8, tzinfo=UTC)


def test_unreadable_times_are_dropped() -> None:
    """A time Zoho writes in an unknown format becomes None instead of failing the call."""
    assert parse_time("yesterday") is None
    assert parse_time(None) is None


async def test_build_http_client_sets_separate_timeouts() -> None:
    """The client has a short connect/pool timeout and the full timeout for reads and writes."""
    client = build_http_client(timeout=20.0, max_connections=7)
    try:
        assert client.timeout == httpx.Timeout(connect=5.0, read=20.0, write=20.0, pool=5.0)
    finally:
        await client.aclose()
