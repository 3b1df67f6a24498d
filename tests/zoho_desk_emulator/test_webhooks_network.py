"""Webhook deliveries over real sockets: the emulator under uvicorn (as ``ticketing
sandbox`` serves it) POSTs to a subscriber listening on its own port, in the background."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest
import uvicorn

from zoho_desk_emulator import EmulatorState, create_emulator_app

from tests.zoho_desk_emulator.helpers import Receiver, create_ticket, desk_headers, refresh

pytestmark = pytest.mark.anyio

EMULATOR_PORT = 7301
SUBSCRIBER_PORT = 7302


@asynccontextmanager
async def serving(app: Any, port: int) -> AsyncIterator[None]:
    """``app`` on 127.0.0.1:``port`` until the block ends."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, lifespan="off", log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    async with anyio.create_task_group() as group:
        group.start_soon(server.serve)
        with anyio.fail_after(10):
            while not server.started:  # noqa: ASYNC110 - uvicorn has a flag, no event
                await anyio.sleep(0.01)
        try:
            yield
        finally:
            server.should_exit = True


async def test_a_reply_is_delivered_to_a_listening_subscriber() -> None:
    """Subscribe over HTTP (the URL check reaches the subscriber), reply through the control
    API, drain: the subscriber got the thread in a JSON array with x-zoho-event."""
    receiver = Receiver()
    state = EmulatorState()
    base = f"http://127.0.0.1:{EMULATOR_PORT}"
    url = f"http://127.0.0.1:{SUBSCRIBER_PORT}/webhooks/zoho/t0k3n"
    async with (
        serving(receiver, SUBSCRIBER_PORT),
        serving(create_emulator_app(state), EMULATOR_PORT),
        httpx.AsyncClient(base_url=base) as client,
    ):
        headers = desk_headers((await refresh(client)).json()["access_token"])
        hook = await client.post(
            "/api/v1/webhooks",
            headers=headers,
            json={"url": url, "subscriptions": {"Ticket_Thread_Add": {"direction": "out"}}},
        )
        assert hook.status_code == 200, hook.text
        ticket_id = (await create_ticket(client, headers)).json()["id"]
        await client.post(f"/_emulator/tickets/{ticket_id}/threads", json={"text": "Hola"})
        drained = (await client.post("/_emulator/webhooks/drain")).json()
    assert [d["outcome"] for d in drained["deliveries"]] == ["delivered"]
    assert receiver.requests[0][0] == "GET"
    ((headers_seen, batch),) = receiver.posts()
    assert headers_seen["x-zoho-event"] == "Ticket_Thread_Add"
    assert batch[0]["payload"]["ticketId"] == ticket_id
