"""Helpers for talking to the Zoho Desk emulator in tests: the sandbox's refresh grant, Desk
headers, and a valid ticket create."""

from __future__ import annotations

from typing import Any

import httpx

from zoho_desk_emulator import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_DEPARTMENT_ID,
    SANDBOX_ORG_ID,
    SANDBOX_REFRESH_TOKEN,
)

BASE_URL = "http://zoho-emulator"


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
