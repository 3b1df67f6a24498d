"""Fixtures for the Zoho Desk emulator tests: a state on a manual clock and an in-process client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from ticketing.adapters.zoho_desk.emulator import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_DEPARTMENT_ID,
    SANDBOX_ORG_ID,
    SANDBOX_REFRESH_TOKEN,
    EmulatorState,
    create_emulator_app,
)

from tests.support.clock import ManualClock

BASE_URL = "http://zoho-emulator"


@pytest.fixture
def state(clock: ManualClock) -> EmulatorState:
    return EmulatorState(clock)


@pytest.fixture
async def client(state: EmulatorState) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_emulator_app(state))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        yield http


def refresh_params(refresh_token: str = SANDBOX_REFRESH_TOKEN, **overrides: str) -> dict[str, str]:
    """The sandbox client's refresh grant, with any parameter replaced."""
    return {
        "grant_type": "refresh_token",
        "client_id": SANDBOX_CLIENT_ID,
        "client_secret": SANDBOX_CLIENT_SECRET,
        "refresh_token": refresh_token,
        **overrides,
    }


async def refresh(
    client: httpx.AsyncClient, refresh_token: str = SANDBOX_REFRESH_TOKEN
) -> httpx.Response:
    return await client.post("/oauth/v2/token", data=refresh_params(refresh_token))


def desk_headers(access_token: str, org_id: str = SANDBOX_ORG_ID) -> dict[str, str]:
    return {"Authorization": f"Zoho-oauthtoken {access_token}", "orgId": org_id}


@pytest.fixture
async def headers(client: httpx.AsyncClient) -> dict[str, str]:
    """Desk headers with a fresh access token for the default organization."""
    answer = await refresh(client)
    return desk_headers(answer.json()["access_token"])


async def create_ticket(
    client: httpx.AsyncClient, headers: dict[str, str], **fields: Any
) -> httpx.Response:
    body: dict[str, Any] = {
        "subject": "Payment not shown",
        "departmentId": SANDBOX_DEPARTMENT_ID,
        "contact": {"lastName": "López", "firstName": "Ana", "email": "ana@example.com"},
        "priority": "High",
    }
    body.update(fields)
    # None leaves a property out: Zoho's schema refuses an explicit null contact
    body = {name: value for name, value in body.items() if value is not None}
    return await client.post("/api/v1/tickets", headers=headers, json=body)
