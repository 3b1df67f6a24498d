"""The HTTP edges: every answer (router's, guard's, size limit's) carries an X-Request-ID and is
logged and counted; encoded slashes never reach routing; wrong API keys are slowed per client
address while good keys from elsewhere go on."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from ticketing.entrypoints.http.app import create_app
from ticketing.entrypoints.http.guard import WRONG_KEY_LIMIT, WrongKeyThrottle

from tests.integration.wired import running
from tests.support.http import API_KEY, make_container
from tests.support.metrics import parse, sample

pytestmark = pytest.mark.anyio

FORM = {"customer_email": "ana@example.com", "subject": "Pago", "description": "No llega"}
GOOD = {"Authorization": f"Bearer {API_KEY}"}
WRONG = {"Authorization": "Bearer 1000.fake-wrong-key-000000"}


@pytest.fixture
async def app() -> AsyncIterator[Litestar]:
    """The API with API_KEYS set and a small body limit, its services started on the test's
    event loop (so clients at several addresses can share it)."""
    container = make_container({"API_KEYS": API_KEY, "MAX_BODY_BYTES": "1024"})
    app = create_app(container, drain=False, consumer=False)
    async with running(container) as services:
        app.state.services = services
        yield app


def at(app: Litestar, address: str) -> httpx.AsyncClient:
    """A client whose requests come from ``address``."""
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://service")


async def metrics(client: httpx.AsyncClient) -> dict[str, float]:
    response = await client.get("/metrics", headers=GOOD)
    assert response.status_code == 200
    return parse(response.text)


@pytest.mark.parametrize(
    ("method", "path", "headers", "status"),
    [
        ("GET", "/no/such/path", GOOD, 404),
        ("DELETE", "/tickets/customer", GOOD, 405),
        ("GET", "/queue", {}, 401),
        ("POST", "/tickets/customer", GOOD, 413),
    ],
    ids=["not-found", "method-not-allowed", "guard-refusal", "too-large"],
)
async def test_every_answer_has_a_request_id_and_is_logged_and_counted(
    app: Litestar,
    caplog: pytest.LogCaptureFixture,
    method: str,
    path: str,
    headers: dict[str, str],
    status: int,
) -> None:
    """Answers the router, the guard or the size limit give have the caller's X-Request-ID,
    one log line and a count in ticketing_http_requests_total."""
    body = {**FORM, "description": "x" * 4000} if status == 413 else None
    async with at(app, "10.0.0.1") as client:
        with caplog.at_level(logging.INFO, logger="ticketing.http"):
            response = await client.request(
                method, path, data=body, headers={"X-Request-ID": "edge-1", **headers}
            )
        m = await metrics(client)
    assert response.status_code == status
    assert response.headers["x-request-id"] == "edge-1"
    assert [r for r in caplog.records if f"{method} {path} → {status}" in r.getMessage()]
    route = "other" if status in (404, 405) else path
    assert sample(
        m, "ticketing_http_requests_total", method=method, route=route, status=str(status)
    )


async def test_an_unknown_path_is_logged_on_one_line(
    app: Litestar, caplog: pytest.LogCaptureFixture
) -> None:
    """A 404's path is attacker-chosen: a decoded newline is escaped, not a forged log line,
    and a long path is cut."""
    async with at(app, "10.0.0.1") as client:
        with caplog.at_level(logging.INFO, logger="ticketing.http"):
            forged = await client.get("/x%0A2026-12-03 INFO forged%0D", headers=GOOD)
            long = await client.get("/" + "y" * 5000, headers=GOOD)
    assert forged.status_code == long.status_code == 404
    lines = [r.getMessage() for r in caplog.records if "→ 404" in r.getMessage()]
    assert len(lines) == 2
    assert lines[0].startswith("GET /x\\x0a2026-12-03 INFO forged\\x0d → 404")
    assert all("\n" not in line and "\r" not in line for line in lines)
    assert len(lines[1]) < 300


@pytest.mark.parametrize("path", ["/tickets%2Fcustomer", "/tickets%2fcustomer", "/queue%2Fprocess"])
async def test_an_encoded_slash_is_refused_before_routing(app: Litestar, path: str) -> None:
    """``%2F`` (any case) in the path is a 400 naming the path, never decoded into a route a
    front proxy's path rules did not see; the refusal has a request id and is counted."""
    async with at(app, "10.0.0.1") as client:
        response = await client.post(path, data=FORM, headers=GOOD)
        plain = await client.post("/tickets/customer", data=FORM, headers=GOOD)
        m = await metrics(client)
    assert response.status_code == 400
    assert response.json() == {
        "error": "bad_request",
        "message": "an encoded slash (%2F) in the path is refused; write / instead",
        "field": "path",
    }
    assert response.headers["x-request-id"].startswith("req_")
    assert sample(m, "ticketing_http_requests_total", method="POST", route="other", status="400")
    assert plain.status_code == 201
    created = sample(m, "ticketing_tickets_total", outcome="created", source="http")
    assert created == 1  # the refused one never reached the handler


async def test_an_encoded_slash_in_the_query_is_left_alone(app: Litestar) -> None:
    """Only the path is checked: %2F in a query value is ordinary data."""
    async with at(app, "10.0.0.1") as client:
        response = await client.post(
            "/tickets/customer?customer_name=Ana%2FLopez", data=FORM, headers=GOOD
        )
    assert response.status_code == 201


async def test_wrong_keys_are_slowed_per_address(app: Litestar) -> None:
    """After WRONG_KEY_LIMIT wrong keys, the address gets 429 with Retry-After whatever it
    sends (its good key too, the key is not even checked); another address's good key works."""
    async with at(app, "10.0.0.66") as guesser, at(app, "10.0.0.7") as other:
        refusals = [
            (await guesser.get("/queue", headers=WRONG)).status_code for _ in range(WRONG_KEY_LIMIT)
        ]
        throttled = await guesser.get("/queue", headers=WRONG)
        own_good = await guesser.get("/queue", headers=GOOD)
        elsewhere = await other.get("/queue", headers=GOOD)
        probe = await guesser.get("/health/live")
    assert refusals == [401] * WRONG_KEY_LIMIT
    assert throttled.status_code == own_good.status_code == 429
    assert 1 <= int(throttled.headers["retry-after"]) <= 60
    assert throttled.json()["error"] == "too_many_requests"
    assert throttled.headers["x-request-id"]
    assert elsewhere.status_code == 200
    assert probe.status_code == 200  # public endpoints are never throttled


def test_the_throttle_forgets_after_its_window_and_stays_bounded() -> None:
    """An address may try again once its window ends; past the address cap the oldest
    address is forgotten, so memory stays bounded whatever the number of addresses."""
    now = [0.0]
    throttle = WrongKeyThrottle(limit=3, window=60, max_addresses=100, clock=lambda: now[0])
    for _ in range(3):
        throttle.failed("a")
    assert throttle.retry_after("a") == 60
    now[0] = 59.5
    assert throttle.retry_after("a") == 0.5
    now[0] = 60
    assert throttle.retry_after("a") is None
    assert not throttle.failed("a")  # a fresh window: one failure of three

    for n in range(10_000):
        throttle.failed(f"10.1.{n // 256}.{n % 256}")
    assert len(throttle) == 100
    assert throttle.retry_after("10.1.39.15") is None  # the last address, one failure


async def test_without_api_keys_nothing_is_throttled() -> None:
    """With no API_KEYS there is no key to guess: requests are never refused for it."""
    async with AsyncTestClient(create_app(make_container(), drain=False, consumer=False)) as client:
        statuses = {
            (await client.get("/queue", headers=WRONG)).status_code
            for _ in range(WRONG_KEY_LIMIT + 5)
        }
    assert statuses == {200}
