"""Helpers for talking to the Zoho Desk emulator in tests: the sandbox's refresh grant, Desk
headers, a valid ticket create, and a webhook subscriber."""

from __future__ import annotations

import json
from typing import Any

import anyio
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


class Receiver:
    """A webhook subscriber as an ASGI app: records every request and answers ``status``
    (or, while there are any, the next of ``statuses``), after ``release`` is set when a test
    holds it."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.status = 200
        self.statuses: list[int] = []
        self.release: anyio.Event | None = None
        self.delay = 0.0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        self.requests.append((scope["method"], headers, body))
        if self.release is not None:
            await self.release.wait()
        if self.delay:
            await anyio.sleep(self.delay)
        status = self.statuses.pop(0) if self.statuses else self.status
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    def posts(self) -> list[tuple[dict[str, str], list[dict[str, Any]]]]:
        """The deliveries (POSTs with a body): their headers and their JSON arrays."""
        return [(h, json.loads(b)) for m, h, b in self.requests if m == "POST" and b != b"[]"]

    def events(self) -> list[dict[str, Any]]:
        return [event for _, batch in self.posts() for event in batch]


SUBSCRIBER = "http://subscriber.example/webhooks/zoho/token"


def subscription(**subscriptions: Any) -> dict[str, Any]:
    """A create body for the test subscriber."""
    return {"url": SUBSCRIBER, "subscriptions": subscriptions, "name": "ticketing"}
