"""A ticket's attachments on the wire: the exact upload (path, query, headers, one multipart
part named file with its filename and type, an exact Content-Length, streamed in chunks),
the list's paging, and Zoho's answers and refusals in domain terms."""

from __future__ import annotations

import io
import tempfile
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import multipart
import pytest
import respx

from ticketing.adapters.attachments.sources import CHUNK, BytesSource, FileObjectSource
from ticketing.adapters.zoho_desk.attachments import media_type, multipart_file
from ticketing.adapters.zoho_desk.client import ZohoDeskClient
from ticketing.domain.attachments import AttachmentRejected
from ticketing.domain.errors import (
    HelpdeskAuthError,
    HelpdeskRejected,
    HelpdeskUnavailable,
    RateLimited,
)
from zoho_desk_emulator.constraints import CREATE_ATTACHMENT_QUERY, LIST_ATTACHMENTS, validate

from tests.support.zoho import ACCESS, ACCOUNTS, DESK, ORG, REFRESHED, token_body

pytestmark = pytest.mark.anyio

API = f"{DESK}/api/v1"
TICKET_ID = "813934000024070001"
PATH = f"{API}/tickets/{TICKET_ID}/attachments"
ANSWER = {
    "id": "813934000024090001",
    "name": "pase.jpg",
    "size": "12734",
    "href": f"{PATH}/813934000024090001/content",
    "previewurl": f"{PATH}/813934000024090001/content?inline=true",
    "isPublic": False,
    "creatorId": "4000000008692",
    "createdTime": "2026-11-26T10:05:00.000Z",
}


def parts(request: httpx.Request) -> list[tuple[str | None, str | None, str | None, bytes]]:
    """The multipart parts of a request: (name, filename, content type, bytes)."""
    kind, options = multipart.parse_options_header(request.headers["Content-Type"])
    assert kind == "multipart/form-data"
    parser = multipart.PushMultipartParser(options["boundary"], strict=True)
    found: list[tuple[str | None, str | None, str | None, bytes]] = []
    data = b""
    segment: Any = None
    for event in [*parser.parse(request.content), *parser.parse(b"")]:
        if isinstance(event, multipart.MultipartSegment):
            segment, data = event, b""
        elif event is None:
            found.append((segment.name, segment.filename, segment.content_type, data))
        else:
            data += event
    assert parser.closed
    return found


def zoho_error(status: int, code: str, message: str = "refused") -> httpx.Response:
    return httpx.Response(status, json={"errorCode": code, "message": message})


async def test_an_upload_is_one_file_part_with_an_exact_length(
    router: respx.MockRouter, desk: ZohoDeskClient
) -> None:
    """POST /tickets/{id}/attachments?isPublic=false, Zoho's token and orgId, a multipart
    body of exactly one part named file with the filename and type, Content-Length exact
    and no chunked encoding; the answer is a TicketAttachment."""
    route = router.post(PATH).respond(200, json=ANSWER)
    photo = bytes(range(256)) * 50
    got = await desk.upload_attachment(TICKET_ID, "pase.jpg", "image/jpeg", BytesSource(photo))
    (call,) = route.calls
    request = call.request
    assert request.method == "POST"
    assert urlsplit(str(request.url)).path == f"/api/v1/tickets/{TICKET_ID}/attachments"
    query = dict(parse_qsl(urlsplit(str(request.url)).query))
    assert query == {"isPublic": "false"}
    assert validate(CREATE_ATTACHMENT_QUERY, query) == []
    assert request.headers["Authorization"] == f"Zoho-oauthtoken {ACCESS}"
    assert request.headers["orgId"] == ORG
    assert "transfer-encoding" not in request.headers
    assert int(request.headers["Content-Length"]) == len(request.content)
    assert parts(request) == [("file", "pase.jpg", "image/jpeg", photo)]
    assert (got.id, got.ticket_id, got.name, got.size, got.is_public) == (
        ANSWER["id"],
        TICKET_ID,
        "pase.jpg",
        12734,
        False,
    )
    assert got.created_time is not None
    assert desk.calls["upload_attachment"] == 1


async def test_a_public_upload_says_so(router: respx.MockRouter, desk: ZohoDeskClient) -> None:
    """is_public=True is isPublic=true in the query."""
    route = router.post(PATH).respond(200, json={**ANSWER, "isPublic": True})
    got = await desk.upload_attachment(
        TICKET_ID, "a.txt", "text/plain", BytesSource(b"x"), is_public=True
    )
    assert dict(parse_qsl(urlsplit(str(route.calls[0].request.url)).query)) == {"isPublic": "true"}
    assert got.is_public


class CountingFile(io.BytesIO):
    """A file that records the size of every read."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.reads: list[int] = []

    def read(self, size: int | None = -1, /) -> bytes:
        self.reads.append(-1 if size is None else size)
        return super().read(size)


async def test_a_file_is_read_in_chunks_never_whole(
    router: respx.MockRouter, desk: ZohoDeskClient
) -> None:
    """A 1 MiB file is read in chunks of at most 64 KiB, from its start (even when its
    position was elsewhere), and sent whole."""
    data = bytes(range(256)) * 4096
    file = CountingFile(data)
    file.seek(500)
    route = router.post(PATH).respond(200, json=ANSWER)
    await desk.upload_attachment(
        TICKET_ID, "big.bin", "application/octet-stream", FileObjectSource(file, len(data))
    )
    assert parts(route.calls[0].request)[0][3] == data
    assert file.reads
    assert max(file.reads) <= CHUNK
    assert len(file.reads) >= len(data) // CHUNK


async def test_a_file_shorter_than_its_size_fails_the_upload(desk: ZohoDeskClient) -> None:
    """A source that ends early is an error, never a truncated file sent as complete."""
    with tempfile.TemporaryFile() as file:
        file.write(b"short")
        source = FileObjectSource(file, 100)
        with pytest.raises(OSError, match="early"):
            async for _ in source.chunks():
                pass


async def test_names_and_types_are_quoted_and_cleaned(
    router: respx.MockRouter, desk: ZohoDeskClient
) -> None:
    """A name with quotes, a path and non-ASCII letters goes as UTF-8 with the quote
    replaced and the path dropped; a content type with parameters loses them, a malformed
    one is application/octet-stream."""
    route = router.post(PATH).respond(200, json=ANSWER)
    await desk.upload_attachment(
        TICKET_ID, 'C:\\fotos\\"año".png', "image/PNG; charset=binary", BytesSource(b"x")
    )
    await desk.upload_attachment(TICKET_ID, "a\r\nb.txt", "not a type", BytesSource(b"x"))
    first, second = (parts(call.request)[0] for call in route.calls)
    assert first[:3] == ("file", "_año_.png", "image/png")
    assert second[:3] == ("file", "a_b.txt", "application/octet-stream")
    assert media_type("text/plain") == "text/plain"
    assert media_type("text/") == "application/octet-stream"


async def test_the_boundary_never_appears_in_the_head(desk: ZohoDeskClient) -> None:
    """The body is the head, the bytes and the closing boundary, and its length matches."""
    made = multipart_file("a.txt", "text/plain", BytesSource(b"hello"), boundary="b0und")
    headers, chunks = made()
    body = b"".join([chunk async for chunk in chunks])
    assert body == (
        b'--b0und\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\nhello\r\n--b0und--\r\n"
    )
    assert headers == {
        "Content-Type": "multipart/form-data; boundary=b0und",
        "Content-Length": str(len(body)),
    }


async def test_a_file_over_20_mib_or_empty_is_refused_without_a_call(
    router: respx.MockRouter, desk: ZohoDeskClient
) -> None:
    """Over Zoho's 20 MiB: too_large; no bytes: empty; neither reaches Zoho."""
    route = router.post(PATH).respond(200, json=ANSWER)

    class Huge:
        size = 20 * 1024 * 1024 + 1

        def chunks(self) -> Any:
            raise AssertionError("never read")

    with pytest.raises(AttachmentRejected) as large:
        await desk.upload_attachment(TICKET_ID, "a.mp4", "video/mp4", Huge())
    with pytest.raises(AttachmentRejected) as empty:
        await desk.upload_attachment(TICKET_ID, "a.txt", "text/plain", BytesSource(b""))
    assert (large.value.reason, empty.value.reason) == ("too_large", "empty")
    assert not route.called


@pytest.mark.parametrize(
    ("status", "code", "reason"),
    [
        (413, "RESOURCE_SIZE_EXCEEDED", "too_large"),
        (400, "RESOURCE_SIZE_EXCEEDED", "too_large"),
        (415, "UNSUPPORTED_MEDIA_TYPE", "blocked_type"),
        (422, "UNSUPPORTED_MEDIA_TYPE", "blocked_type"),
    ],
)
async def test_zoho_refusing_the_file_is_a_permanent_refusal_with_its_reason(
    router: respx.MockRouter, desk: ZohoDeskClient, status: int, code: str, reason: str
) -> None:
    """Read by errorCode whatever the status (the statuses are unconfirmed)."""
    router.post(PATH).mock(return_value=zoho_error(status, code, "no"))
    with pytest.raises(AttachmentRejected) as info:
        await desk.upload_attachment(
            TICKET_ID, "a.exe", "application/x-msdownload", BytesSource(b"x")
        )
    assert (info.value.reason, info.value.status, info.value.code) == (reason, status, code)
    assert isinstance(info.value, HelpdeskRejected)
    assert "a.exe" in info.value.message


async def test_other_answers_keep_the_client_s_classification(
    router: respx.MockRouter, desk: ZohoDeskClient
) -> None:
    """422 INVALID_DATA: HelpdeskRejected (not a file refusal); 404: no ticket; 500 and a
    read timeout: HelpdeskUnavailable sent (look before re-sending); a refused connection:
    not sent; 429: RateLimited; 403: an auth error."""
    answers: list[Any] = [
        zoho_error(422, "INVALID_DATA"),
        zoho_error(404, "URL_NOT_FOUND"),
        zoho_error(500, "INTERNAL_SERVER_ERROR"),
        httpx.ReadTimeout("slow"),
        httpx.ConnectError("refused"),
        httpx.Response(429, headers={"Retry-After": "7"}, json={"errorCode": "TOO_MANY_REQUESTS"}),
        zoho_error(403, "FORBIDDEN"),
    ]
    router.post(PATH).mock(side_effect=answers)
    got: list[Exception] = []
    for _ in answers:
        try:
            await desk.upload_attachment(TICKET_ID, "a.txt", "text/plain", BytesSource(b"x"))
        except Exception as error:
            got.append(error)
    kinds = [type(e) for e in got]
    assert kinds == [
        HelpdeskRejected,
        HelpdeskRejected,
        HelpdeskUnavailable,
        HelpdeskUnavailable,
        HelpdeskUnavailable,
        RateLimited,
        HelpdeskAuthError,
    ]
    assert [getattr(e, "sent", None) for e in got[2:5]] == [True, True, False]
    assert got[1].status == 404  # type: ignore[attr-defined]
    assert got[5].retry_after == 7.0  # type: ignore[attr-defined]


async def test_invalid_oauth_sends_the_whole_file_again(
    router: respx.MockRouter, desk: ZohoDeskClient
) -> None:
    """After one INVALID_OAUTH and a refresh, the retry carries the whole body again."""
    router.post(f"{ACCOUNTS}/oauth/v2/token").respond(200, json=token_body())
    route = router.post(PATH).mock(
        side_effect=[zoho_error(401, "INVALID_OAUTH"), httpx.Response(200, json=ANSWER)]
    )
    data = b"z" * (3 * CHUNK + 5)
    await desk.upload_attachment(TICKET_ID, "a.bin", "image/png", BytesSource(data))
    assert [parts(c.request)[0][3] for c in route.calls] == [data, data]
    assert route.calls[1].request.headers["Authorization"] == f"Zoho-oauthtoken {REFRESHED}"


async def test_listing_pages_through_every_attachment(
    router: respx.MockRouter, desk: ZohoDeskClient
) -> None:
    """GET pages of 100 oldest first until a short page; each query is one Zoho allows;
    204 is none."""
    first = [{**ANSWER, "id": str(9000 + n), "name": f"{n}.jpg"} for n in range(100)]
    route = router.get(PATH).mock(
        side_effect=[
            httpx.Response(200, json={"data": first}),
            httpx.Response(200, json={"data": [{**ANSWER, "id": "9100", "size": 5}]}),
        ]
    )
    found = await desk.list_attachments(TICKET_ID)
    assert len(found) == 101
    assert (found[0].name, found[100].id, found[100].size) == ("0.jpg", "9100", 5)
    queries = [dict(parse_qsl(urlsplit(str(c.request.url)).query)) for c in route.calls]
    assert queries == [
        {"from": "0", "limit": "100", "sortBy": "createdTime"},
        {"from": "100", "limit": "100", "sortBy": "createdTime"},
    ]
    assert all(validate(LIST_ATTACHMENTS, q) == [] for q in queries)
    router.get(f"{API}/tickets/1/attachments").respond(204)
    assert await desk.list_attachments("1") == []


async def test_a_garbled_upload_answer_is_ambiguous(
    router: respx.MockRouter, desk: ZohoDeskClient
) -> None:
    """A 200 that is not an attachment: HelpdeskUnavailable sent (the file may be there)."""
    router.post(PATH).respond(200, text="<html>proxy</html>")
    with pytest.raises(HelpdeskUnavailable) as info:
        await desk.upload_attachment(TICKET_ID, "a.txt", "text/plain", BytesSource(b"x"))
    assert info.value.sent
