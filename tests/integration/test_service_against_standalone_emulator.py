"""The service pointed at a standalone emulator behaves as in sandbox mode, on the real wire."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient

from ticketing.entrypoints.http.app import create_app
from zoho_desk_emulator import (
    SANDBOX_ORG_ID,
)

from tests.integration.wired import wire
from tests.support.env import sandbox_client_at
from tests.support.http import OLD_FORM
from tests.support.processes import standalone_emulator

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


async def control(emulator_url: str, what: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=emulator_url, timeout=5) as http:
        body: dict[str, Any] = (await http.get(f"/_emulator/{what}")).json()
        return body


def service_env(emulator_url: str, tmp_path: Path) -> dict[str, str]:
    return sandbox_client_at(emulator_url, ZOHO_TOKEN_FILE=str(tmp_path / "tokens.json"))


async def test_second_ticket_same_email_reuses_contact_and_lookups(
    emulator_url: str, tmp_path: Path
) -> None:
    """Two tickets, one email in two cases: one contact, one search, one org/department
    lookup, one token refresh; every Desk call carries the token and orgId headers."""
    container = wire(service_env(emulator_url, tmp_path))
    async with AsyncTestClient(create_app(container, drain=False, consumer=False)) as client:
        first = await client.post("/tickets/customer", data=OLD_FORM)
        second = await client.post(
            "/tickets/customer", data={**OLD_FORM, "customer_email": "Test@EXAMPLE.com"}
        )
        health = (await client.get("/health")).json()
    assert first.status_code == second.status_code == 201, (first.text, second.text)
    assert first.json()["contact_id"] == second.json()["contact_id"]
    assert health["mode"] == "zoho"

    state = await control(emulator_url, "state")
    calls = await control(emulator_url, "calls")
    by_endpoint = calls["by_endpoint"]
    assert state["contacts_created"] == 1, state
    assert state["tickets_created"] == 2, state
    assert by_endpoint.get("GET /api/v1/contacts/search") == 1, by_endpoint
    assert by_endpoint.get("POST /api/v1/contacts") == 1, by_endpoint
    assert by_endpoint.get("POST /api/v1/tickets") == 2, by_endpoint
    assert by_endpoint.get("GET /api/v1/organizations") == 1, by_endpoint
    assert by_endpoint.get("GET /api/v1/departments") == 1, by_endpoint
    assert by_endpoint.get("POST /oauth/v2/token") == 1, by_endpoint
    desk_calls = [c for c in calls["calls"] if c["path"].startswith("/api/v1/")]
    for call in desk_calls:
        assert call["headers"].get("authorization", "").startswith("Zoho-oauthtoken "), call
        if call["path"] != "/api/v1/organizations":
            assert call["headers"].get("orgId") == SANDBOX_ORG_ID, call
    # tokens were persisted for the next start, and only this service can read them
    token_file = tmp_path / "tokens.json"
    assert token_file.exists()
    assert token_file.stat().st_mode & 0o077 == 0


async def test_restart_reuses_stored_access_token(emulator_url: str, tmp_path: Path) -> None:
    """A restarted service takes the stored, unexpired access token: no second refresh."""
    env = service_env(emulator_url, tmp_path)
    for _ in range(2):
        async with AsyncTestClient(create_app(wire(env), drain=False, consumer=False)) as client:
            response = await client.get("/departments")
            assert response.status_code == 200, response.text
    calls = await control(emulator_url, "calls")
    assert calls["by_endpoint"].get("POST /oauth/v2/token") == 1, calls["by_endpoint"]


async def test_standalone_emulator_sends_one_date_in_its_skewed_clock() -> None:
    """`ticketing sandbox --clock-skew 300`: each Desk answer has one Date header (uvicorn's
    own is off), five minutes ahead of the host's clock."""
    with standalone_emulator("--clock-skew", "300") as url:
        async with httpx.AsyncClient(base_url=url, timeout=5) as http:
            before = datetime.now(UTC)
            answer = await http.get("/api/v1/organizations")
    [date] = answer.headers.get_list("date")
    ahead = (parsedate_to_datetime(date) - before).total_seconds()
    assert 298 <= ahead <= 302
