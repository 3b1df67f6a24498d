"""The HTTP API: old request forms, status codes, idempotency, errors naming the field."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import litestar.concurrency
import pytest
from litestar.testing import AsyncTestClient

from ticketing.adapters.memory_helpdesk import InMemoryHelpdesk
from ticketing.container import Container
from ticketing.domain.errors import HelpdeskRejected, HelpdeskUnavailable

from tests.support.http import API_KEY, OLD_FORM, app_client, make_container

pytestmark = pytest.mark.anyio


async def test_old_curl_form_creates_ticket(client: AsyncTestClient, container: Container) -> None:  # type: ignore[type-arg]
    """The old `curl -d` form body answers 201 with the ticket, contact and URL."""
    response = await client.post("/tickets/customer", data=OLD_FORM)
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "created"
    for key in ("ticket_id", "ticket_number", "contact_id", "web_url"):
        assert body[key], key
    emulator = container.emulator_state()
    assert emulator.tickets_created == 1
    assert emulator.contacts_created == 1


async def test_json_sent_as_a_form_is_a_400_saying_which_header_to_send(
    client: AsyncTestClient, container: Container
) -> None:  # type: ignore[type-arg]
    """`curl -d '{…}'` without a header labels JSON a form: a 400 that says to send
    Content-Type: application/json, not a 422 about a missing email; nothing is queued."""
    body = b'{"customer_email": "ana@example.com", "subject": "Pago", "description": "Hola"}'
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    response = await client.post("/tickets/customer", content=body, headers=form)
    assert response.status_code == 400
    answer = response.json()
    assert (answer["error"], answer["field"]) == ("bad_request", "body")
    assert "Content-Type: application/json" in answer["message"]
    assert "application/x-www-form-urlencoded" in answer["message"]
    assert await (await container.store()).pending_count() == 0
    assert container.emulator_state().calls == []


async def test_query_parameters_and_json_are_accepted(
    client: AsyncTestClient, container: Container
) -> None:  # type: ignore[type-arg]
    """The same fields as query parameters and as JSON create tickets too, one contact."""
    by_query = await client.post("/tickets/customer", params=OLD_FORM)
    by_json = await client.post(
        "/tickets/customer", json={**OLD_FORM, "customer_email": "TEST@Example.com"}
    )
    assert (by_query.status_code, by_json.status_code) == (201, 201)
    assert by_query.json()["contact_id"] == by_json.json()["contact_id"]
    assert container.emulator_state().contacts_created == 1
    assert container.emulator_state().tickets_created == 2


async def test_phone_only_customer(client: AsyncTestClient) -> None:
    """A customer with only a phone number gets a ticket."""
    response = await client.post(
        "/tickets/customer",
        json={"customer_phone": "+52 1 55 1234 5678", "subject": "Hola", "description": "d"},
    )
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({**OLD_FORM, "customer_email": "not-an-email"}, "customer_email"),
        # outside Zoho's email pattern (Ticket.json): Zoho would refuse the ticket
        ({**OLD_FORM, "customer_email": "ana!lopez@example.com"}, "customer_email"),
        ({**OLD_FORM, "customer_email": "ana#1@example.com"}, "customer_email"),
        ({k: v for k, v in OLD_FORM.items() if k != "subject"}, "subject"),
        # the contract: an unknown priority is the caller's error on HTTP (incidents get the
        # default priority instead, noted on the ticket)
        ({**OLD_FORM, "priority": "whenever"}, "priority"),
        ({**OLD_FORM, "description": "x" * 40_000}, "description"),
        ({k: v for k, v in OLD_FORM.items() if k != "customer_email"}, "customer_email"),
        (
            {k: v for k, v in OLD_FORM.items() if k != "customer_email"}
            | {"customer_phone": "55 1234 5678"},
            "customer_phone",
        ),
        (
            {**OLD_FORM, "customer_email": "ana@@example", "customer_phone": "call me"},
            "customer_email",
        ),
    ],
)
async def test_invalid_input_names_the_field_and_reaches_nothing(
    client: AsyncTestClient,
    container: Container,
    fields: dict[str, str],
    field: str,  # type: ignore[type-arg]
) -> None:
    """Bad input is a 422 naming the field, and no Zoho call or queue entry happens."""
    response = await client.post("/tickets/customer", data=fields)
    assert response.status_code == 422
    assert response.json()["field"] == field
    assert container.emulator_state().calls == []
    assert await (await container.store()).pending_count() == 0


async def test_a_channel_the_emulated_portal_lacks_still_makes_the_ticket(
    client: AsyncTestClient,  # type: ignore[type-arg]
    container: Container,
) -> None:
    """Through the emulator, which refuses a channel outside its picklist with Zoho's 422:
    201, the ticket without a channel, the value kept before the reference line."""
    response = await client.post(
        "/tickets/customer", data={**OLD_FORM, "channel": "Carrier Pigeon"}
    )
    assert response.status_code == 201, response.text
    (ticket,) = container.emulator_state().tickets.values()
    assert ticket.channel is None
    body, reference = ticket.description.rsplit("\n\nRef: ", 1)
    assert body.endswith('[channel "Carrier Pigeon" is not in this portal\'s picklist]')
    assert reference.startswith("tk")


LENIENT = {
    "subject over its limit": ({"subject": "palabra " * 40}, "[Subject, whole: palabra"),
    "name over its limit": ({"customer_name": "Ana " * 30}, "[Customer name, whole: Ana Ana"),
    "category over its limit": ({"category": "c" * 101}, "[category 'ccc"),
    "channel over its limit": ({"channel": "c" * 51}, "[channel 'ccc"),
    "invalid phone beside a valid email": (
        {"customer_phone": "call me"},
        "[customer_phone 'call me' dropped",
    ),
}


@pytest.mark.parametrize(("change", "note"), LENIENT.values(), ids=LENIENT.keys())
async def test_optional_or_cosmetic_fields_never_refuse_the_ticket(
    client: AsyncTestClient,  # type: ignore[type-arg]
    container: Container,
    change: dict[str, str],
    note: str,
) -> None:
    """What was refused with 422 before and is neither required nor the customer's identity
    becomes a ticket: the whole value or the reason it was dropped heads the description."""
    response = await client.post("/tickets/customer", data={**OLD_FORM, **change})
    assert response.status_code == 201, response.text
    (ticket,) = container.emulator_state().tickets.values()
    assert ticket.description.startswith(note)
    assert "\n\nTesting" in ticket.description


async def test_oversize_body_is_413(client: AsyncTestClient, container: Container) -> None:  # type: ignore[type-arg]
    """A multi-megabyte body is refused with 413 before anything else."""
    response = await client.post(
        "/tickets/customer", data={**OLD_FORM, "description": "x" * 3_000_000}
    )
    assert response.status_code == 413
    assert response.json()["field"] == "body"
    assert container.emulator_state().calls == []


async def test_malformed_json_is_400(client: AsyncTestClient) -> None:
    """A body that is not JSON says so, with a 400."""
    response = await client.post(
        "/tickets/customer", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["field"] == "body"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"subject": "x", "extra": ' + b"[" * 2000 + b"]" * 2000 + b"}", "application/json"),
        (b'{"subject": "x", "extra": ' + b'{"a": ' * 2000 + b"1" + b"}" * 2001, ""),
        (b"[" * 100_000, "application/json"),  # never closed
    ],
    ids=["arrays", "objects-no-content-type", "unclosed"],
)
async def test_deeply_nested_json_is_400_without_a_traceback(
    client: AsyncTestClient,  # type: ignore[type-arg]
    container: Container,
    caplog: pytest.LogCaptureFixture,
    body: bytes,
    content_type: str,
) -> None:
    """JSON nested thousands deep is refused by a scan of the raw body, before it is
    decoded: 400 naming the nesting limit, no RecursionError, no traceback, nothing stored."""
    headers = {"content-type": content_type} if content_type else {}
    response = await client.post("/tickets/customer", content=body, headers=headers)
    assert response.status_code == 400, response.text
    answer = response.json()
    assert answer["field"] == "body"
    assert "levels deep; the limit is 32" in answer["message"]
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    assert container.emulator_state().calls == []
    assert await (await container.store()).pending_count() == 0


async def test_json_nested_within_the_limit_and_brackets_in_strings_are_fine(
    client: AsyncTestClient,  # type: ignore[type-arg]
) -> None:
    """Brackets inside strings are text, not nesting: a description full of them is taken."""
    response = await client.post(
        "/tickets/customer",
        json={**OLD_FORM, "description": '[{"quoted \\" [' * 500 + "}]"},
    )
    assert response.status_code == 201, response.text


async def test_idempotency_key_replays_first_outcome(
    client: AsyncTestClient, container: Container
) -> None:  # type: ignore[type-arg]
    """A repeated Idempotency-Key answers the first outcome and creates nothing new."""
    headers = {"Idempotency-Key": "order-42"}
    first = await client.post("/tickets/customer", data=OLD_FORM, headers=headers)
    second = await client.post("/tickets/customer", data=OLD_FORM, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.json()["ticket_id"] == first.json()["ticket_id"]
    assert second.headers["Idempotent-Replayed"] == "true"
    assert container.emulator_state().tickets_created == 1


async def test_idempotency_key_reused_with_another_request_is_a_422_naming_it(
    client: AsyncTestClient,  # type: ignore[type-arg]
    container: Container,
) -> None:
    """Stripe's rule: the same key with another request is refused (422, the key named);
    the same request as JSON with the priority spelled otherwise still replays."""
    headers = {"Idempotency-Key": "order-43"}
    first = await client.post("/tickets/customer", data=OLD_FORM, headers=headers)
    assert first.status_code == 201
    other = await client.post(
        "/tickets/customer", data={**OLD_FORM, "subject": "Another issue"}, headers=headers
    )
    assert other.status_code == 422
    body = other.json()
    assert (body["error"], body["field"]) == ("idempotency_key_reused", "Idempotency-Key")
    assert body["message"].startswith("'order-43' was first sent with another request")
    assert "Idempotent-Replayed" not in other.headers
    same = await client.post(
        "/tickets/customer", json={**OLD_FORM, "priority": "high"}, headers=headers
    )
    assert same.status_code == 201
    assert same.json()["ticket_id"] == first.json()["ticket_id"]
    assert container.emulator_state().tickets_created == 1


async def test_zoho_down_answers_202_and_keeps_ticket(
    memory_helpdesk: InMemoryHelpdesk,
    container: Container,
    client: AsyncTestClient,  # type: ignore[type-arg]
) -> None:
    """Zoho unreachable: 202 queued, the ticket is stored, and the drain creates it later."""
    memory_helpdesk.fail_next("search_contacts", HelpdeskUnavailable("connection refused"))
    response = await client.post("/tickets/customer", data=OLD_FORM)
    assert response.status_code == 202
    assert response.json()["status"] == "queued"
    queue = (await client.get("/queue")).json()
    assert queue["pending"] == 1
    health = (await client.get("/health")).json()
    assert health["queue_length"] == 1
    processed = (await client.post("/queue/process")).json()
    assert processed == {
        "processed": 1,
        "created": 1,
        "failed": 0,
        "remaining": 0,
        "dead": 0,
        "errors": [],
    }
    assert len(memory_helpdesk.tickets) == 1


async def test_zoho_rejection_is_422_and_dead_lettered(
    memory_helpdesk: InMemoryHelpdesk,
    container: Container,
    client: AsyncTestClient,  # type: ignore[type-arg]
) -> None:
    """Zoho refusing the ticket answers 422 with its reason; the ticket is in the dead letters."""
    memory_helpdesk.fail_next(
        "create_ticket",
        HelpdeskRejected("email is not valid", status=422, field="email"),
    )
    response = await client.post("/tickets/customer", data=OLD_FORM)
    assert response.status_code == 422
    assert response.json()["status"] == "rejected"
    queue = (await client.get("/queue")).json()
    assert queue["dead"] == 1
    assert "email is not valid" in queue["dead_letters"][0]["reason"]


async def test_a_channel_the_portal_lacks_still_makes_the_ticket(
    memory_helpdesk: InMemoryHelpdesk,
    client: AsyncTestClient,  # type: ignore[type-arg]
) -> None:
    """A picklist never costs a message: 201, the value kept in the description."""
    memory_helpdesk.picklists["channel"] = {"Email", "Phone", "Web"}
    response = await client.post("/tickets/customer", data={**OLD_FORM, "channel": "SMS"})
    assert response.status_code == 201
    (sent,) = memory_helpdesk.ticket_requests.values()
    assert sent.channel is None
    assert sent.description.endswith('[channel "SMS" is not in this portal\'s picklist]')
    assert (await client.get("/queue")).json()["dead"] == 0


async def test_health_has_contract_keys(client: AsyncTestClient) -> None:
    """GET /health carries the contract's keys and says sandbox mode."""
    response = await client.get("/health")
    assert response.status_code == 200
    body = response.json()
    for key in ("status", "service", "zoho_connected", "redis_connected", "queue_length"):
        assert key in body
    assert body["service"] == "ticket-service"
    assert body["status"] == "healthy"
    assert body["mode"] == "sandbox"


async def test_health_degraded_while_breaker_open(
    memory_helpdesk: InMemoryHelpdesk,
    container: Container,
    client: AsyncTestClient,  # type: ignore[type-arg]
) -> None:
    """With the breaker open, health says degraded (200: tickets are still accepted)."""
    memory_helpdesk.fail_next("search_contacts", HelpdeskUnavailable("503"), times=10)
    for i in range(5):
        await client.post(
            "/tickets/customer", data={**OLD_FORM, "customer_email": f"c{i}@example.com"}
        )
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["zoho_connected"] is False
    assert response.json()["queue_length"] == 5


async def test_departments_and_auth_url(client: AsyncTestClient) -> None:
    """/departments lists the enabled departments; /auth/url asks for offline access."""
    departments = (await client.get("/departments")).json()
    assert {d["name"] for d in departments["data"]} == {"Support", "Billing"}
    auth = (await client.get("/auth/url")).json()
    assert "access_type=offline" in auth["auth_url"]
    assert "prompt=consent" in auth["auth_url"]
    assert auth["state"] in auth["auth_url"]


async def test_admin_ticket_needs_default_contact(client: AsyncTestClient) -> None:
    """POST /tickets without DEFAULT_CONTACT_ID configured is a clear 422."""
    response = await client.post("/tickets", data={"subject": "s", "description": "d"})
    assert response.status_code == 422
    assert "DEFAULT_CONTACT_ID" in response.json()["message"]


async def test_admin_ticket_under_default_contact() -> None:
    """POST /tickets creates a ticket under DEFAULT_CONTACT_EMAIL's contact."""
    container = make_container({"DEFAULT_CONTACT_EMAIL": "ops@example.com"})
    async with app_client(container) as client:
        response = await client.post("/tickets", data={"subject": "Ops", "description": "d"})
    assert response.status_code == 201, response.text
    assert container.emulator_state().contacts_created == 1


async def test_api_keys_guard_everything_but_health() -> None:
    """With API_KEYS set, endpoints need the Bearer key; /health stays open."""
    container = make_container({"API_KEYS": API_KEY})
    async with app_client(container) as client:
        assert (await client.get("/health")).status_code == 200
        denied = await client.post("/tickets/customer", data=OLD_FORM)
        wrong = await client.get("/queue", headers={"Authorization": "Bearer nope"})
        allowed = await client.get("/queue", headers={"Authorization": f"Bearer {API_KEY}"})
    assert denied.status_code == 401
    assert wrong.status_code == 401
    assert allowed.status_code == 200
    assert container.emulator_state().calls == []


async def test_openapi_names_operations(client: AsyncTestClient) -> None:
    """The OpenAPI document at /schema names every operation."""
    schema = (await client.get("/schema/openapi.json")).json()
    operation_ids = {op["operationId"] for path in schema["paths"].values() for op in path.values()}
    assert {"createCustomerTicket", "createTicket", "getHealth", "processQueue"} <= operation_ids


class CountingExecutor(ThreadPoolExecutor):
    """A thread pool that counts the work handed to it."""

    submitted = 0

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        CountingExecutor.submitted += 1
        return super().submit(fn, *args, **kwargs)


@pytest.mark.parametrize("keys", [{}, {"API_KEYS": API_KEY}], ids=["open", "api-keys"])
async def test_requests_run_on_the_event_loop_without_a_thread_hop(
    keys: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ticket, the queue and the health check are served without handing any step (the API
    key guard included) to a worker thread: a thread hop per request costs latency under load."""
    executor = CountingExecutor(max_workers=1)
    monkeypatch.setattr(litestar.concurrency, "get_asyncio_executor", lambda: executor)
    CountingExecutor.submitted = 0
    bearer = {"Authorization": f"Bearer {API_KEY}"}
    try:
        container = make_container(keys)
        async with app_client(container) as client:
            created = await client.post("/tickets/customer", data=OLD_FORM, headers=bearer)
            queue = await client.get("/queue", headers=bearer)
            health = await client.get("/health")
            submitted = CountingExecutor.submitted
            # The yardstick works: a plain function handed to Litestar does go to the pool.
            await litestar.concurrency.sync_to_thread(lambda: None)
    finally:
        executor.shutdown()
    assert (created.status_code, queue.status_code, health.status_code) == (201, 200, 200)
    assert submitted == 0
    assert CountingExecutor.submitted == 1
