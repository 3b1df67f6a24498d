"""Planted secrets never reach the logs or the answers, through real code paths: a failing
token refresh, Zoho 401s, a revoke, Bearer-keyed HTTP requests and a Redis URL with a password."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest
import respx
from litestar.testing import AsyncTestClient

from ticketing.adapters.zoho_desk.oauth import BACKOFF_FIRST
from ticketing.entrypoints.http.app import create_app
from ticketing.entrypoints.logs import install, uninstall

from tests.support.http import make_container
from tests.support.processes import free_port

pytestmark = pytest.mark.anyio

ACCOUNTS = "https://accounts.zoho.eu"
DESK = "https://desk.zoho.eu"
CLIENT_SECRET = "fake-planted-client-secret-7f3a"
REFRESH = "1000.fake-planted-refresh-7f3a.fake-planted-refresh-0042"
ACCESS = "1000.fake-planted-access-7f3a.fake-planted-access-0042"
API_KEY = "fake-planted-api-key-7f3a-0123456789"
REDIS_PASSWORD = "fake-planted-redis-password-7f3a"
PLANTED = (CLIENT_SECRET, REFRESH, ACCESS, API_KEY, REDIS_PASSWORD)


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    """Everything logged at debug level, httpx's request lines included, as the service
    formats it in production (JSON)."""
    stream = io.StringIO()
    handler = install(
        level="debug", fmt="json", stream=stream, secrets=(CLIENT_SECRET, REFRESH, API_KEY)
    )
    logging.getLogger("httpx").setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        uninstall(handler)


def zoho_env(tmp_path: Path) -> dict[str, str]:
    return {
        "ZOHO_CLIENT_ID": "1000.FAKECLIENTID7F3A",
        "ZOHO_CLIENT_SECRET": CLIENT_SECRET,
        "ZOHO_REFRESH_TOKEN": REFRESH,
        "ZOHO_ACCOUNTS_URL": ACCOUNTS,
        "ZOHO_DESK_URL": DESK,
        "ZOHO_ORG_ID": "20071234",
        "ZOHO_DEPARTMENT_ID": "30071234",
        "ZOHO_TOKEN_FILE": str(tmp_path / "tokens.json"),
        "API_KEYS": API_KEY,
        "LOG_LEVEL": "debug",
    }


def assert_clean(text: str) -> None:
    for secret in PLANTED:
        assert secret not in text, f"{secret[:12]}… leaked"


async def test_zoho_failures_and_keyed_requests_leak_nothing(
    tmp_path: Path, logs: io.StringIO
) -> None:
    """A refused refresh, then 401s from Desk, a revoke and keyed requests: the log shows what
    happened and none of the planted secret values, and neither do the answers."""
    token_answers = iter(
        [
            httpx.Response(200, json={"error": "invalid_client"}),
            httpx.Response(200, json={"access_token": ACCESS, "expires_in": 3600}),
            httpx.Response(200, json={"access_token": ACCESS, "expires_in": 3600}),
        ]
    )
    invalid = {"errorCode": "INVALID_OAUTH", "message": "The OAuth Token you provided is invalid."}
    container = make_container(zoho_env(tmp_path))
    app = create_app(container, drain=False, consumer=False)
    bearer = {"Authorization": f"Bearer {API_KEY}"}
    answers: list[str] = []
    with respx.mock(assert_all_called=False) as zoho:
        zoho.post(f"{ACCOUNTS}/oauth/v2/token").mock(side_effect=lambda _r: next(token_answers))
        zoho.post(f"{ACCOUNTS}/oauth/v2/token/revoke").mock(
            return_value=httpx.Response(200, json={"status": "success"})
        )
        zoho.route(host="desk.zoho.eu").mock(return_value=httpx.Response(401, json=invalid))
        async with AsyncTestClient(app) as client:
            ticket = await client.post(
                "/tickets/customer",
                json={"customer_email": "ana@example.com", "subject": "s", "description": "d"},
                headers=bearer,
            )
            assert ticket.status_code == 202, ticket.text
            await anyio.sleep(BACKOFF_FIRST)  # the refused refresh backs the next one off
            drained = await client.post("/queue/process", headers=bearer)
            assert "INVALID_OAUTH" in drained.text
            wrong = await client.get("/queue", headers={"Authorization": f"Bearer x{API_KEY}"})
            assert wrong.status_code == 401
            for path in ("/health", "/auth/url", "/metrics", "/queue"):
                answers.append((await client.get(path, headers=bearer)).text)
            answers += [ticket.text, drained.text, wrong.text]
            oauth = await container.oauth()
            await oauth.revoke(REFRESH)
            settings = container.settings()
            logging.getLogger("ticketing.test").info("started with %r", settings)
    text = logs.getvalue()
    assert "contacts/search" in text
    assert "401 Unauthorized" in text
    assert "token/revoke" in text  # httpx's request line, with the token masked
    assert "1000.***" in text
    assert_clean(text)
    assert_clean("\n".join(answers))


async def test_a_redis_url_password_stays_out(tmp_path: Path, logs: io.StringIO) -> None:
    """With Redis unreachable behind a password URL, readiness, health and submissions log
    and answer without the password."""
    url = f"redis://default:{REDIS_PASSWORD}@127.0.0.1:{free_port()}/0"
    container = make_container({"REDIS_URL": url})
    answers: list[str] = []
    async with AsyncTestClient(create_app(container, drain=False, consumer=False)) as client:
        ready = await client.get("/health/ready")
        assert ready.status_code == 503
        health = await client.get("/health")
        ticket = await client.post(
            "/tickets/customer",
            json={"customer_email": "ana@example.com", "subject": "s", "description": "d"},
        )
        assert ticket.status_code == 503
        answers += [ready.text, health.text, ticket.text, (await client.get("/metrics")).text]
        logging.getLogger("ticketing.test").info("settings: %r; url %s", container.settings(), url)
    text = logs.getvalue()
    assert "redis://default:***@127.0.0.1" in text
    assert_clean(text)
    assert_clean("\n".join(answers))
