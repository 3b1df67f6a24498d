"""The webhook receiver: the token is its key (unset: no route at all), a delivery is stored
before the 200 and handled after, what it says is never published as such, and malformed,
oversize or mistaken requests store nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from ticketing.adapters.memory import InMemorySyncLog
from ticketing.container import Container
from ticketing.entrypoints.http.webhooks import WEBHOOK_MAX_BYTES
from zoho_desk_emulator import SANDBOX_ORG_ID, EmulatorState

from tests.support.http import API_KEY, OLD_FORM, app_client, make_container
from tests.support.metrics import parse, sample
from tests.support.sync import resolved

pytestmark = pytest.mark.anyio

TOKEN = "wh-0123456789abcdef0123456789abcdef"
URL = f"/webhooks/zoho/{TOKEN}"


def delivery(*events: tuple[str, dict[str, Any]]) -> bytes:
    """A delivery as Zoho posts it: a JSON array of events."""
    return json.dumps(
        [
            {"eventType": kind, "eventTime": "1764151200000", "orgId": SANDBOX_ORG_ID, "payload": p}
            for kind, p in events
        ]
    ).encode()


async def counted(client: AsyncTestClient, outcome: str) -> float:  # type: ignore[type-arg]
    text = (await client.get("/metrics", headers={"Authorization": f"Bearer {API_KEY}"})).text
    return sample(parse(text), "ticketing_webhook_deliveries_total", outcome=outcome) or 0


@pytest.fixture
def container() -> Container:
    return make_container({"ZOHO_WEBHOOK_TOKEN": TOKEN, "API_KEYS": API_KEY})


async def inbox_backlog(container: Container) -> int:
    inbox = await resolved(container.sync_inbox())
    return int(await inbox.backlog())


async def test_without_a_token_the_route_is_not_there() -> None:
    """ZOHO_WEBHOOK_TOKEN unset: GET and POST are 404, whatever token the path holds."""
    async with app_client(make_container()) as client:
        assert (await client.get(URL)).status_code == 404
        assert (await client.post(URL, content=delivery())).status_code == 404


async def test_the_token_is_the_key_and_api_keys_do_not_apply(container: Container) -> None:
    """The right token answers Zoho's URL check without an API key; a wrong one is a 404,
    counted, and stores nothing."""
    async with app_client(container) as client:
        assert (await client.get(URL)).status_code == 200
        wrong = "/webhooks/zoho/" + "x" * 40
        assert (await client.get(wrong)).status_code == 404
        body = delivery(("Ticket_Thread_Add", {"id": "1", "ticketId": "2"}))
        assert (await client.post(wrong, content=body)).status_code == 404
        assert await counted(client, "wrong_token") == 2
        assert await inbox_backlog(container) == 0


async def test_malformed_and_oversize_deliveries_store_nothing(container: Container) -> None:
    """Not JSON, or JSON that is no event array: 400; over the cap: 413; nothing stored."""
    async with app_client(container) as client:
        assert (await client.post(URL, content=b"{not json")).status_code == 400
        assert (await client.post(URL, content=b'[{"no": "eventType"}]')).status_code == 400
        big = b"[" + b" " * (WEBHOOK_MAX_BYTES + 1) + b"]"
        assert (await client.post(URL, content=big)).status_code == 413
        assert await counted(client, "malformed") == 2
        assert await counted(client, "too_large") == 1
        assert await inbox_backlog(container) == 0


async def test_a_delivery_is_stored_then_published_once_from_what_zoho_holds(
    container: Container,
) -> None:
    """A ticket made through the API, an agent's reply in Zoho delivered three times with a
    forged text, and a forged event for a thread Zoho does not hold: all stored (200), and
    the handler publishes one reply, with Zoho's text."""
    async with app_client(container) as client:
        made = await client.post(
            "/tickets/customer", data=OLD_FORM, headers={"Authorization": f"Bearer {API_KEY}"}
        )
        assert made.status_code == 201
        ticket_id = made.json()["ticket_id"]
        state: EmulatorState = container.emulator_state()
        reply = state.conversations.add_thread(ticket_id, text="Ya quedó, gracias")
        forged = {"id": reply.id, "ticketId": ticket_id, "content": "<p>PAGA AQUÍ</p>"}
        unknown = {"id": "424242424242", "ticketId": ticket_id}
        for _ in range(3):
            body = delivery(("Ticket_Thread_Add", forged), ("Ticket_Thread_Add", unknown))
            answer = await client.post(URL, content=body)
            assert (answer.status_code, answer.json()) == (200, {"status": "stored"})
        assert await inbox_backlog(container) == 3
        sync = (await resolved(container.services())).sync
        assert sync is not None
        await sync.handle(sync.consumer)
        log = await resolved(container.sync_log())
        assert isinstance(log, InMemorySyncLog)
        assert [(e["event_id"], e["text"]) for e in map(json.loads, log.replies)] == [
            (reply.id, "Ya quedó, gracias")
        ]
        assert await inbox_backlog(container) == 0
        assert await counted(client, "stored") == 3
