"""Attachments between the real Zoho client and the emulator served by uvicorn on a loopback
port: real sockets, so a client timeout really fires while the emulator stores and stalls,
and a body far over the limit meets a server that stops reading it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import pytest
import uvicorn

from ticketing.adapters.attachments.sources import BytesSource
from ticketing.adapters.memory import InMemoryTokenStore
from ticketing.adapters.zoho_desk.client import ZohoDeskClient, build_http_client
from ticketing.adapters.zoho_desk.oauth import TokenManager, ZohoOAuth
from ticketing.domain.attachments import same_file
from ticketing.domain.errors import HelpdeskUnavailable
from zoho_desk_emulator import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_DEPARTMENT_ID,
    SANDBOX_ORG_ID,
    SANDBOX_REDIRECT_URI,
    SANDBOX_REFRESH_TOKEN,
    SANDBOX_SCOPE,
    EmulatorState,
    create_emulator_app,
)

from tests.support.clock import ManualClock
from tests.support.processes import free_port

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


@pytest.fixture
def state(clock: ManualClock) -> EmulatorState:
    return EmulatorState(clock)


@pytest.fixture
async def base_url(state: EmulatorState) -> AsyncIterator[str]:
    """The emulator served by uvicorn in this process, on a free loopback port."""
    port = free_port()
    config = uvicorn.Config(
        create_emulator_app(state),
        host="127.0.0.1",
        port=port,
        access_log=False,
        log_level="warning",
        lifespan="off",
        date_header=False,
    )
    server = uvicorn.Server(config)
    async with anyio.create_task_group() as group:
        group.start_soon(server.serve)
        with anyio.fail_after(10):
            while not server.started:  # noqa: ASYNC110 - uvicorn has a flag, not an event
                await anyio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
        server.should_exit = True


@pytest.fixture
async def zoho(base_url: str, clock: ManualClock) -> AsyncIterator[ZohoDeskClient]:
    """The real client, with a 1 s timeout, over real sockets."""
    async with build_http_client(timeout=1.0) as http:
        oauth = ZohoOAuth(
            http,
            accounts_url=base_url,
            client_id=SANDBOX_CLIENT_ID,
            client_secret=SANDBOX_CLIENT_SECRET,
            redirect_uri=SANDBOX_REDIRECT_URI,
            scope=SANDBOX_SCOPE,
            clock=clock,
        )
        tokens = TokenManager(
            oauth, InMemoryTokenStore(), clock, refresh_token=SANDBOX_REFRESH_TOKEN
        )
        yield ZohoDeskClient(http, tokens, clock, desk_url=base_url)


def new_ticket(state: EmulatorState, base_url: str) -> str:
    body: dict[str, Any] = {
        "subject": "Comprobante de pago",
        "departmentId": SANDBOX_DEPARTMENT_ID,
        "contact": {"lastName": "López", "email": "ana@example.com"},
    }
    return state.desk.create_ticket(SANDBOX_ORG_ID, body, base_url).id


async def test_an_upload_whose_answer_times_out_is_found_by_listing(
    zoho: ZohoDeskClient, state: EmulatorState, base_url: str
) -> None:
    """The emulator stores the file and stalls past the client's 1 s timeout: the upload is
    HelpdeskUnavailable(sent=True) within the timeout, and listing finds the file once, so
    it is not sent again."""
    ticket = new_ticket(state, base_url)
    state.faults.upload_then_hang = 1
    state.faults.hang = 2.5
    photo = bytes(range(256)) * 1000
    started = anyio.current_time()
    with pytest.raises(HelpdeskUnavailable) as lost:
        await zoho.upload_attachment(ticket, "comprobante.jpg", "image/jpeg", BytesSource(photo))
    assert lost.value.sent
    assert anyio.current_time() - started < 3
    found = same_file(await zoho.list_attachments(ticket), "comprobante.jpg", len(photo))
    assert len(found) == 1
    assert len(state.attachments.of_ticket(ticket)) == 1


async def test_a_body_far_over_the_limit_is_cut_off(
    state: EmulatorState, base_url: str, zoho: ZohoDeskClient
) -> None:
    """25 MB sent raw (the client itself refuses it before sending) without a length:
    the emulator answers 413 RESOURCE_SIZE_EXCEEDED having read about the limit, or the
    client sees its write fail when the server stops reading; nothing is stored."""
    ticket = new_ticket(state, base_url)
    token = await zoho._tokens.access_token()
    boundary = "b0und"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="v.mp4"\r\n'
        "Content-Type: video/mp4\r\n\r\n"
    ).encode()

    async def body() -> AsyncIterator[bytes]:
        yield head
        for _ in range(25 * 16):  # 25 MiB in 64 KiB chunks
            yield b"\0" * 65536
        yield f"\r\n--{boundary}--\r\n".encode()

    async with httpx.AsyncClient(base_url=base_url, timeout=30) as raw:
        try:
            answer = await raw.post(
                f"/api/v1/tickets/{ticket}/attachments",
                headers={
                    "Authorization": f"Zoho-oauthtoken {token}",
                    "orgId": SANDBOX_ORG_ID,
                    "Content-Type": f"multipart/form-data; boundary={boundary}",
                },
                content=body(),
            )
        except (httpx.WriteError, httpx.RemoteProtocolError, httpx.ReadError):
            pass  # the server stopped reading and closed: a refusal too (413 was seen here)
        else:
            assert answer.status_code == 413, answer.text
            assert answer.json()["errorCode"] == "RESOURCE_SIZE_EXCEEDED"
    assert state.attachments.of_ticket(ticket) == []
