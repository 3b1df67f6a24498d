"""The emulator's control API and its pure-Python helpers."""

from __future__ import annotations

import httpx
import pytest

from zoho_desk_emulator import (
    SANDBOX_DEPARTMENT_ID,
    SANDBOX_ORG_ID,
    SANDBOX_REFRESH_TOKEN,
    EmulatorState,
    FaultError,
    Faults,
)

from tests.zoho_desk_emulator.helpers import create_ticket, refresh

pytestmark = pytest.mark.anyio


async def test_state_summary_counts(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    """GET /_emulator/state counts tickets, contacts and refreshes."""
    await create_ticket(client, headers)
    summary = (await client.get("/_emulator/state")).json()
    assert summary["tickets"] == 1
    assert summary["contacts_created"] == 1
    assert summary["token_refreshes"] == 1
    assert summary["departments"] == 4
    assert summary["organizations"] == 2


async def test_faults_are_set_over_http(client: httpx.AsyncClient, state: EmulatorState) -> None:
    """POST /_emulator/faults sets switches; a bad switch is 400 and changes nothing."""
    answer = await client.post(
        "/_emulator/faults", json={"latency": 0.5, "outage": True, "deny": True}
    )
    assert answer.status_code == 200
    assert (state.faults.latency, state.faults.outage, state.faults.deny_consent) == (
        0.5,
        "503",
        True,
    )
    bad = await client.post("/_emulator/faults", json={"latency": 0, "nonsense": 1})
    assert bad.status_code == 400
    assert "nonsense" in bad.json()["error"]
    assert state.faults.latency == 0.5
    cleared = await client.post("/_emulator/faults", json={"clear": True})
    assert cleared.json() == Faults().as_json()


async def test_reset_returns_to_a_fresh_account(
    client: httpx.AsyncClient, headers: dict[str, str], state: EmulatorState
) -> None:
    """POST /_emulator/reset drops tickets and faults; the sandbox refresh token works again."""
    await create_ticket(client, headers)
    await client.post("/oauth/v2/token/revoke", params={"token": SANDBOX_REFRESH_TOKEN})
    faults = state.faults
    faults.latency = 1
    await client.post("/_emulator/reset")
    assert faults.latency == 0
    assert state.tickets == {}
    assert state.faults == Faults()
    assert state.calls == []
    assert "access_token" in (await refresh(client)).json()


async def test_tickets_listing_counts_per_key(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    """GET /_emulator/tickets?field= lists tickets with cf and counts them per key."""
    for key in ("k-1", "k-1", "k-2"):
        await create_ticket(client, headers, cf={"cf_request_key": key})
    listing = (await client.get("/_emulator/tickets", params={"field": "cf_request_key"})).json()
    assert listing["count"] == 3
    assert listing["by_key"] == {"k-1": 2, "k-2": 1}
    assert listing["data"][0]["cf"] == {"cf_request_key": "k-1"}


async def test_call_log_redacts_secrets(
    client: httpx.AsyncClient, headers: dict[str, str], state: EmulatorState
) -> None:
    """The call log keeps method, path, status and orgId, never a token."""
    await client.get("/api/v1/myinfo", headers=headers)
    await client.post("/oauth/v2/token/revoke", params={"token": SANDBOX_REFRESH_TOKEN})
    await client.get("/_emulator/state")
    calls = (await client.get("/_emulator/calls")).json()
    assert calls["by_endpoint"] == {
        "POST /oauth/v2/token": 1,
        "GET /api/v1/myinfo": 1,
        "POST /oauth/v2/token/revoke": 1,
    }
    myinfo = calls["calls"][1]
    assert myinfo["status"] == 200
    assert myinfo["headers"]["orgId"] == headers["orgId"]
    assert myinfo["headers"]["authorization"] == "Zoho-oauthtoken ***"
    assert calls["calls"][2]["query"] == {"token": "***"}
    logged = str(calls) + repr(state.calls)
    assert headers["Authorization"].split()[1] not in logged
    assert SANDBOX_REFRESH_TOKEN not in logged


def test_tickets_by_key_groups_on_a_custom_field(state: EmulatorState) -> None:
    """tickets_by_key groups tickets by a custom field's value, skipping tickets without it."""
    contact = {"lastName": "L", "email": "l@example.com"}
    for cf in ({"cf_k": "a"}, {"cf_k": "a"}, {}):
        state.create_ticket(
            SANDBOX_ORG_ID,
            {"subject": "s", "departmentId": SANDBOX_DEPARTMENT_ID, "contact": contact, "cf": cf},
            "http://zoho-emulator",
        )
    grouped = state.tickets_by_key("cf_k")
    assert {k: len(v) for k, v in grouped.items()} == {"a": 2}


def test_fault_values_are_checked() -> None:
    """Faults.apply refuses out-of-range values and leaves the switches as they were."""
    faults = Faults()
    with pytest.raises(FaultError):
        faults.apply({"error_rate": 0.5, "token_error_status": 500}, 0.0)
    with pytest.raises(FaultError):
        faults.apply({"error_rate": 2}, 0.0)
    assert faults == Faults()
    faults.apply({"rate_limit": 3, "outage": "reset"}, 0.0)
    assert (faults.rate_limit_calls, faults.outage) == (3, "reset")
