"""Operations endpoints: liveness, readiness, Prometheus metrics, request ids, API-key guard."""

from __future__ import annotations

import pytest
from dependency_injector import providers
from litestar.testing import AsyncTestClient

from ticketing.adapters.memory import InMemoryTicketStore
from ticketing.adapters.memory_helpdesk import InMemoryHelpdesk
from ticketing.container import Container
from ticketing.domain.errors import HelpdeskUnavailable

from tests.support.http import API_KEY, app_client, make_container
from tests.support.metrics import parse, sample

pytestmark = pytest.mark.anyio

FORM = {
    "customer_email": "ana@example.com",
    "customer_name": "Ana",
    "subject": "Pago",
    "description": "No llega",
    "priority": "High",
}


async def scrape(client: AsyncTestClient, **headers: str) -> dict[str, float]:  # type: ignore[type-arg]
    response = await client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse(response.text)


async def test_liveness_and_readiness_answer(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    """/health/live says alive; /health/ready is 200 while the store answers."""
    live = await client.get("/health/live")
    ready = await client.get("/health/ready")
    assert (live.status_code, live.json()) == (200, {"status": "alive"})
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "store": "memory", "store_ok": True}


class DownStore(InMemoryTicketStore):
    async def ping(self) -> bool:
        return False


async def test_readiness_is_503_when_the_store_does_not_answer(container: Container) -> None:
    """Readiness fails (503) when the store is down, while liveness still answers 200."""
    container.store.override(providers.Singleton(DownStore, container.clock))
    async with app_client(container) as client:
        ready = await client.get("/health/ready")
        live = await client.get("/health/live")
        metrics = await scrape(client)
    assert ready.status_code == 503
    assert ready.json()["status"] == "not_ready"
    assert live.status_code == 200
    assert sample(metrics, "ticketing_store_up") == 0


async def test_metrics_count_a_created_ticket_and_its_zoho_calls(
    client: AsyncTestClient,  # type: ignore[type-arg]
) -> None:
    """After one ticket: accepted and created counters, latency, Zoho calls, credits, breaker."""
    assert (await client.post("/tickets/customer", data=FORM)).status_code == 201
    m = await scrape(client)
    assert sample(m, "ticketing_tickets_total", outcome="accepted", source="http") == 1
    assert sample(m, "ticketing_tickets_total", outcome="created", source="http") == 1
    assert sample(m, "ticketing_ticket_latency_seconds_count", source="http") == 1
    created = sample(
        m, "ticketing_zoho_requests_total", endpoint="/api/v1/tickets", method="POST", status="200"
    )
    assert created == 1
    duration = sample(
        m,
        "ticketing_zoho_request_duration_seconds_count",
        endpoint="/api/v1/tickets",
        method="POST",
    )
    assert duration == 1
    credits = sample(m, "ticketing_zoho_credits_remaining")
    assert credits is not None
    assert credits > 0
    assert sample(m, "ticketing_breaker_state", state="closed") == 1
    assert sample(m, "ticketing_breaker_open") == 0
    assert sample(m, "ticketing_queue_pending") == 0
    assert sample(m, "ticketing_zoho_token_refreshes_total") == 1
    assert (
        sample(
            m,
            "ticketing_http_requests_total",
            method="POST",
            route="/tickets/customer",
            status="201",
        )
        == 1
    )


async def test_metrics_show_queue_breaker_and_invalid_input(
    memory_helpdesk: InMemoryHelpdesk,
    container: Container,
    client: AsyncTestClient,  # type: ignore[type-arg]
) -> None:
    """Zoho down: queued tickets, queue length and an open breaker show; bad input is invalid."""
    memory_helpdesk.fail_next("search_contacts", HelpdeskUnavailable("503"), times=10)
    for i in range(5):
        data = {**FORM, "customer_email": f"c{i}@example.com"}
        assert (await client.post("/tickets/customer", data=data)).status_code == 202
    bad = await client.post("/tickets/customer", data={**FORM, "customer_email": "nope"})
    assert bad.status_code == 422
    m = await scrape(client)
    assert sample(m, "ticketing_tickets_total", outcome="queued", source="http") == 5
    assert sample(m, "ticketing_tickets_total", outcome="invalid", source="http") == 1
    assert sample(m, "ticketing_queue_pending") == 5
    assert sample(m, "ticketing_queue_dead") == 0
    assert sample(m, "ticketing_breaker_state", state="open") == 1
    assert sample(m, "ticketing_breaker_open") == 1


async def test_each_app_has_its_own_registry() -> None:
    """Two apps in one process count separately (no global registry)."""
    first, second = make_container(), make_container()
    async with app_client(first) as a:
        await a.post("/tickets/customer", data=FORM)
        async with app_client(second) as b:
            m = await scrape(b)
    assert sample(m, "ticketing_tickets_total", outcome="created", source="http") is None


async def test_request_id_is_taken_echoed_and_becomes_the_tickets(
    client: AsyncTestClient,  # type: ignore[type-arg]
) -> None:
    """A sane X-Request-ID is echoed and is the ticket's request_id (not its idempotency key);
    without one, or with a hostile one, a fresh id is made."""
    given = await client.post("/tickets/customer", data=FORM, headers={"X-Request-ID": "lb-42.a"})
    assert given.headers["x-request-id"] == "lb-42.a"
    assert given.json()["request_id"] == "lb-42.a"
    assert given.json()["idempotency_key"] != "lb-42.a"
    fresh = await client.get("/health/live")
    assert fresh.headers["x-request-id"].startswith("req_")
    hostile = await client.get("/health/live", headers={"X-Request-ID": "a b\x7f" + "x" * 300})
    assert hostile.headers["x-request-id"].startswith("req_")


async def test_api_keys_guard_metrics_but_not_probes() -> None:
    """With API_KEYS: /metrics needs the key; /health, /health/live and /health/ready do not;
    a refusal is a 401 that says what to send."""
    container = make_container({"API_KEYS": API_KEY})
    async with app_client(container) as client:
        for path in ("/health", "/health/live", "/health/ready"):
            assert (await client.get(path)).status_code == 200, path
        denied = await client.get("/metrics")
        basic = await client.get("/metrics", headers={"Authorization": f"Basic {API_KEY}"})
        allowed = await client.get("/metrics", headers={"Authorization": f"Bearer {API_KEY}"})
    assert denied.status_code == basic.status_code == 401
    assert denied.headers["www-authenticate"] == "Bearer"
    assert denied.json() == {
        "error": "unauthorized",
        "message": "missing or wrong API key: send Authorization: Bearer <key>",
    }
    assert allowed.status_code == 200
