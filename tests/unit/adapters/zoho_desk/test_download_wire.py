"""A thread attachment's download on the wire (Thread.json getThreadAttachmentContent): the
exact path and headers, the body streamed in chunks, errors mapped as every call's; and the
same call against the in-process emulator."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator

import httpx
import pytest
import respx

from ticketing.adapters.zoho_desk.client import ZohoDeskClient
from ticketing.domain.errors import (
    HelpdeskAuthError,
    HelpdeskError,
    HelpdeskRejected,
    HelpdeskUnavailable,
    RateLimited,
)
from zoho_desk_emulator import SANDBOX_DEPARTMENT_ID, SANDBOX_ORG_ID, EmulatorState

from tests.support.clock import ManualClock
from tests.support.sync import EMULATOR, emulator_client
from tests.support.zoho import ACCESS, ACCOUNTS, DESK, ORG, REFRESHED, token_body

pytestmark = pytest.mark.anyio

PATH = f"{DESK}/api/v1/tickets/81393/threads/81394/attachments/9001/content"
DATA = bytes(range(256)) * 1024  # 256 KiB: several chunks


def zoho_error(status: int, code: str) -> httpx.Response:
    return httpx.Response(status, json={"errorCode": code, "message": "refused"})


async def _all(chunks: AsyncIterator[bytes]) -> list[bytes]:
    return [c async for c in chunks]


async def test_a_download_is_one_get_streamed_in_chunks(
    router: respx.MockRouter, desk: ZohoDeskClient
) -> None:
    """GET the content path with the token and orgId, no query; the type and size come from
    Zoho's headers and the bytes arrive in chunks of at most 64 KiB, whole."""
    route = router.get(PATH).respond(
        200, content=DATA, headers={"Content-Type": "image/png", "Content-Length": str(len(DATA))}
    )
    async with desk.download_thread_attachment("81393", "81394", "9001") as download:
        assert (download.content_type, download.size) == ("image/png", len(DATA))
        chunks = await _all(download.chunks)
    assert b"".join(chunks) == DATA
    assert len(chunks) > 1
    assert max(len(c) for c in chunks) <= 64 * 1024
    request = route.calls.last.request
    assert request.url.query == b""
    assert request.headers["Authorization"] == f"Zoho-oauthtoken {ACCESS}"
    assert request.headers["orgId"] == ORG
    assert desk.calls["download_thread_attachment"] == 1


async def test_a_compressed_answer_has_no_size_and_comes_decoded(
    router: respx.MockRouter, desk: ZohoDeskClient
) -> None:
    """With Content-Encoding gzip, Content-Length is the compressed length: no size is
    claimed, and the chunks are the file's own bytes."""
    packed = gzip.compress(DATA)
    router.get(PATH).respond(
        200,
        content=packed,
        headers={
            "Content-Type": "image/png",
            "Content-Encoding": "gzip",
            "Content-Length": str(len(packed)),
        },
    )
    async with desk.download_thread_attachment("81393", "81394", "9001") as download:
        assert download.size is None
        assert b"".join(await _all(download.chunks)) == DATA


async def test_download_errors_map_like_every_call(
    router: respx.MockRouter, desk: ZohoDeskClient
) -> None:
    """404 is HelpdeskRejected (status 404), 422 rejected, 500 unavailable, 429 rate limited,
    403 an auth error; a connection refused is unavailable and never sent."""
    route = router.get(PATH)
    got: list[Exception] = []
    for answer in (
        zoho_error(404, "URL_NOT_FOUND"),
        zoho_error(422, "INVALID_DATA"),
        zoho_error(500, "INTERNAL_SERVER_ERROR"),
        httpx.Response(429, json={"errorCode": "TOO_MANY_REQUESTS"}, headers={"Retry-After": "7"}),
        zoho_error(403, "FORBIDDEN"),
        httpx.ConnectError("refused"),
    ):
        route.mock(side_effect=[answer])
        with pytest.raises(HelpdeskError) as caught:
            await desk.open_thread_attachment("81393", "81394", "9001")
        got.append(caught.value)
    kinds = [type(e) for e in got]
    assert kinds == [
        HelpdeskRejected,
        HelpdeskRejected,
        HelpdeskUnavailable,
        RateLimited,
        HelpdeskAuthError,
        HelpdeskUnavailable,
    ]
    assert got[0].status == 404  # type: ignore[attr-defined]
    assert got[3].retry_after == 7.0  # type: ignore[attr-defined]
    assert got[5].sent is False  # type: ignore[attr-defined]


async def test_non_digit_ids_are_refused_before_sending(
    router: respx.MockRouter, desk: ZohoDeskClient
) -> None:
    """An id that is not digits (Zoho's pattern) is rejected with nothing sent."""
    route = router.get(url__regex=r".*/content").respond(200)
    for ids in (("x", "1", "2"), ("1", "../2", "3"), ("1", "2", "")):
        with pytest.raises(HelpdeskRejected):
            await desk.open_thread_attachment(*ids)
    assert not route.called


async def test_invalid_oauth_refreshes_once_then_downloads(
    router: respx.MockRouter, desk: ZohoDeskClient
) -> None:
    """401 INVALID_OAUTH: one refresh, then the same GET with the new token."""
    router.post(f"{ACCOUNTS}/oauth/v2/token").respond(200, json=token_body())
    route = router.get(PATH).mock(
        side_effect=[zoho_error(401, "INVALID_OAUTH"), httpx.Response(200, content=b"ok")]
    )
    async with desk.download_thread_attachment("81393", "81394", "9001") as download:
        assert b"".join(await _all(download.chunks)) == b"ok"
        assert download.content_type == "application/octet-stream"
    assert route.calls[1].request.headers["Authorization"] == f"Zoho-oauthtoken {REFRESHED}"


async def test_a_reply_file_downloads_from_the_emulator(clock: ManualClock) -> None:
    """An agent replies with a file in the emulator: the client downloads the exact bytes
    from the href's route, and an unknown file is HelpdeskRejected 404."""
    state = EmulatorState(clock)
    ticket = state.desk.create_ticket(
        SANDBOX_ORG_ID,
        {
            "subject": "Pago",
            "departmentId": SANDBOX_DEPARTMENT_ID,
            "contact": {"lastName": "López", "email": "ana@example.com"},
            "description": "Hola",
            "channel": "WhatsApp",
        },
        EMULATOR,
    )
    thread = state.conversations.add_thread(
        ticket.id,
        text="El recibo",
        files=[("recibo.pdf", "application/pdf", DATA)],
        base_url=EMULATOR,
    )
    file_id = thread.files[0].id
    async with emulator_client(state, clock) as zoho:
        async with zoho.download_thread_attachment(ticket.id, thread.id, file_id) as download:
            assert (download.content_type, download.size) == ("application/pdf", len(DATA))
            assert b"".join(await _all(download.chunks)) == DATA
        with pytest.raises(HelpdeskRejected) as missing:
            await zoho.open_thread_attachment(ticket.id, thread.id, "1")
    assert missing.value.status == 404
