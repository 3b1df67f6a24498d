"""/health reports where the service stands against Zoho's limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from zoho_desk_emulator import EmulatorState

from tests.support.http import app_client, make_container
from tests.unit.entrypoints.http.test_zoho_calls_per_ticket import ticket

pytestmark = pytest.mark.anyio


async def test_health_shows_credits_left_and_the_concurrency_cap() -> None:
    """After a call, the credits Zoho said are left today, the cap and nothing in flight."""
    container = make_container({"ZOHO_MAX_CONCURRENCY": "7"})
    state: EmulatorState = container.emulator_state()
    async with app_client(container) as client:
        assert (await client.get("/health")).json()["zoho_limits"]["credits_remaining"] is None
        assert (await client.post("/tickets/customer", json=ticket("a@example.com"))).is_success
        body = (await client.get("/health")).json()
    assert body["zoho_limits"] == {
        "credits_remaining": state.credits_left(),
        "max_concurrency": 7,
        "calls_in_flight": 0,
        "paused_for": 0.0,
    }
    assert body["status"] == "healthy"


async def test_health_is_degraded_while_zoho_asks_to_wait() -> None:
    """A 429 with Retry-After: tickets are still accepted (queued), health says degraded and
    how long the pause has left."""
    container = make_container()
    state: EmulatorState = container.emulator_state()
    state.apply_faults({"rate_limit_calls": 1, "retry_after": 40})
    async with app_client(container) as client:
        queued = await client.post("/tickets/customer", json=ticket("a@example.com"))
        response = await client.get("/health")
    assert queued.status_code == 202
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert 35 < body["zoho_limits"]["paused_for"] <= 40


async def test_health_says_when_credits_ran_out_and_when_they_come_back() -> None:
    """THRESHOLD_EXCEEDED: the ticket is queued, health is degraded and says when Zoho said
    the credits were spent and when they come back (its Retry-After)."""
    container = make_container()
    state: EmulatorState = container.emulator_state()
    async with app_client(container) as client:
        state.apply_faults({"credits_remaining": 0})
        queued = await client.post("/tickets/customer", json=ticket("a@example.com"))
        body = (await client.get("/health")).json()
    assert queued.status_code == 202
    assert body["status"] == "degraded"
    limits = body["zoho_limits"]
    ran_out = datetime.fromisoformat(limits["credits_ran_out_at"])
    back = datetime.fromisoformat(limits["credits_back_at"])
    midnight = datetime.combine(ran_out.date() + timedelta(days=1), datetime.min.time(), UTC)
    assert abs((back - midnight).total_seconds()) <= 2  # the emulator's Retry-After
    assert abs(limits["paused_for"] - (back - ran_out).total_seconds()) <= 2
    assert "credits are spent; back at" in body["last_error"]
