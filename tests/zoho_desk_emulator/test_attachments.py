"""A ticket's attachments and uploads in the emulator: what TicketAttachment.json and
Upload.json allow, the size limit and blocked types, the upload faults, the control route."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import pytest

from zoho_desk_emulator import SANDBOX_CLIENT_ID, EmulatorState

from tests.zoho_desk_emulator.helpers import create_ticket

pytestmark = pytest.mark.anyio

BOUNDARY = "test-boundary-7f3a"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


@pytest.fixture
async def ticket(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    answer = await create_ticket(client, headers)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def part(
    name: str, data: bytes, filename: str | None = "photo.png", kind: str = "image/png"
) -> bytes:
    disposition = f'form-data; name="{name}"'
    if filename is not None:
        disposition += f'; filename="{filename}"'
    return (
        (
            f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\nContent-Type: {kind}\r\n\r\n"
        ).encode()
        + data
        + b"\r\n"
    )


def body(*parts: bytes) -> bytes:
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def multipart_headers(headers: dict[str, str]) -> dict[str, str]:
    return {**headers, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


async def attach(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    ticket_id: str,
    content: bytes | AsyncIterator[bytes],
    **params: str,
) -> httpx.Response:
    return await client.post(
        f"/api/v1/tickets/{ticket_id}/attachments",
        headers=multipart_headers(headers),
        params=params,
        content=content,
    )


async def stored(client: httpx.AsyncClient, ticket_id: str) -> list[dict[str, Any]]:
    answer = await client.get(f"/_emulator/tickets/{ticket_id}/attachments")
    assert answer.status_code == 200, answer.text
    return list(answer.json()["data"])


def refused(answer: httpx.Response) -> tuple[int, str, list[tuple[str, str]]]:
    found = answer.json()
    fields = [(e["fieldName"], e["errorType"]) for e in found.get("errors", [])]
    return answer.status_code, found["errorCode"], fields


async def test_an_attachment_is_stored_and_answered_as_the_oas_says(
    client: httpx.AsyncClient, headers: dict[str, str], ticket: dict[str, Any]
) -> None:
    """200 with exactly attachmentResponse's eight properties (size a numeric string, the
    token's agent as creator, private unless isPublic=true); the control route shows the
    bytes' sha256 and the content type; one credit."""
    answer = await attach(client, headers, ticket["id"], body(part("file", PNG)))
    assert answer.status_code == 200, answer.text
    assert answer.headers["X-Rate-Limit-Request-Weight-v3"] == "1"
    got = answer.json()
    assert set(got) == {
        "id", "name", "size", "href", "previewurl", "isPublic", "creatorId", "createdTime"
    }  # fmt: skip
    assert (got["name"], got["size"], got["isPublic"]) == ("photo.png", str(len(PNG)), False)
    assert got["href"].startswith("http://zoho-emulator/api/v1/tickets/")
    public = await attach(client, headers, ticket["id"], body(part("file", b"x")), isPublic="true")
    assert public.json()["isPublic"] is True
    files = await stored(client, ticket["id"])
    assert next((f["id"], f["sha256"], f["contentType"]) for f in files) == (
        got["id"],
        hashlib.sha256(PNG).hexdigest(),
        "image/png",
    )
    assert len(files) == 2
    assert (await client.get("/_emulator/state")).json()["attachments"] == 2


@pytest.mark.parametrize(
    ("content", "field", "error_type"),
    [
        (body(), "/file", "missing"),
        (body(part("attachment", PNG)), "/attachment", "invalid"),
        (body(part("file", PNG), part("file", PNG)), "/file", "invalid"),
        (body(part("file", PNG), part("isPublic", b"true", filename=None)), "/isPublic", "invalid"),
        (body(part("file", b"")), "/file", "invalid"),
        (body(part("file", PNG, filename=None)), "/file", "invalid"),
        (body(part("file", PNG, filename="a" * 97 + ".png")), "/file", "invalid"),
        (b"--not-the-boundary\r\n", "/file", "invalid"),
    ],
    ids=[
        "no-part",
        "other-name",
        "two-files",
        "extra-field",
        "empty",
        "no-filename",
        "long-name",
        "malformed",
    ],
)
async def test_a_body_other_than_one_file_part_is_refused(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    ticket: dict[str, Any],
    content: bytes,
    field: str,
    error_type: str,
) -> None:
    """additionalProperties false and file required: 422 INVALID_DATA naming the part, and
    nothing stored."""
    answer = await attach(client, headers, ticket["id"], content)
    assert refused(answer) == (422, "INVALID_DATA", [(field, error_type)]), answer.text
    assert await stored(client, ticket["id"]) == []


async def test_a_body_that_is_not_multipart_is_refused(
    client: httpx.AsyncClient, headers: dict[str, str], ticket: dict[str, Any]
) -> None:
    """A JSON or raw body has no file part: 422 missing /file."""
    answer = await client.post(
        f"/api/v1/tickets/{ticket['id']}/attachments", headers=headers, json={"file": "x"}
    )
    assert refused(answer) == (422, "INVALID_DATA", [("/file", "missing")])


async def test_query_parameters_are_checked(
    client: httpx.AsyncClient, headers: dict[str, str], ticket: dict[str, Any]
) -> None:
    """isPublic is a boolean and the only query parameter of the create."""
    for params in ({"isPublic": "yes"}, {"public": "true"}):
        answer = await attach(client, headers, ticket["id"], body(part("file", PNG)), **params)
        assert refused(answer)[:2] == (422, "INVALID_DATA"), params
    assert await stored(client, ticket["id"]) == []


async def test_an_unknown_ticket_is_404_and_reads_no_body(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    """Like every ticket route: 404 URL_NOT_FOUND, before the file is read."""
    read = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal read
        for piece in (body(part("file", PNG)),):
            read += len(piece)
            yield piece

    for ticket_id in ("123", "abc"):
        answer = await attach(client, headers, ticket_id, chunks())
        assert refused(answer)[:2] == (404, "URL_NOT_FOUND")
    assert read == 0


async def test_a_file_over_the_limit_is_refused_without_reading_past_it(
    client: httpx.AsyncClient, headers: dict[str, str], ticket: dict[str, Any], state: EmulatorState
) -> None:
    """413 RESOURCE_SIZE_EXCEEDED; the body is read only to the limit plus one chunk, even
    when it is far larger; a file of exactly the limit is taken."""
    state.faults.upload_max_bytes = 1000
    sent = 0

    async def huge() -> AsyncIterator[bytes]:
        nonlocal sent
        head = part("file", b"")[:-2]  # the part's headers, then the bytes forever
        sent += len(head)
        yield head
        for _ in range(10_000):  # 10 MB if read to the end
            sent += 1000
            yield b"\0" * 1000

    answer = await attach(client, headers, ticket["id"], huge())
    assert refused(answer)[:2] == (413, "RESOURCE_SIZE_EXCEEDED")
    assert sent < 1000 + 2 * 1000 + 200
    exact = await attach(client, headers, ticket["id"], body(part("file", b"a" * 1000)))
    assert exact.status_code == 200, exact.text
    over = await attach(client, headers, ticket["id"], body(part("file", b"a" * 1001)))
    assert refused(over)[:2] == (413, "RESOURCE_SIZE_EXCEEDED")
    assert [f["size"] for f in await stored(client, ticket["id"])] == ["1000"]


async def test_a_declared_length_over_the_limit_is_refused_before_reading(
    client: httpx.AsyncClient, headers: dict[str, str], ticket: dict[str, Any], state: EmulatorState
) -> None:
    """A Content-Length past the file limit plus the multipart envelope: 413 at once."""
    state.faults.upload_max_bytes = 10
    content = body(part("file", b"a" * 70_000))
    answer = await attach(client, headers, ticket["id"], content)
    assert refused(answer)[:2] == (413, "RESOURCE_SIZE_EXCEEDED")


async def test_the_default_limit_is_20_mib(
    client: httpx.AsyncClient, headers: dict[str, str], ticket: dict[str, Any]
) -> None:
    """20 MiB is taken, one byte more is not."""
    limit = 20 * 1024 * 1024
    ok = await attach(client, headers, ticket["id"], body(part("file", b"a" * limit)))
    assert ok.status_code == 200, ok.text
    over = await attach(client, headers, ticket["id"], body(part("file", b"a" * (limit + 1))))
    assert refused(over)[:2] == (413, "RESOURCE_SIZE_EXCEEDED")


async def test_blocked_file_types_are_refused(
    client: httpx.AsyncClient, headers: dict[str, str], ticket: dict[str, Any]
) -> None:
    """The admin's blocked types, by extension (any case) or content type: 415
    UNSUPPORTED_MEDIA_TYPE, nothing stored; other files still go through."""
    switched = await client.post(
        "/_emulator/faults", json={"blocked_file_types": [".EXE", "image/svg+xml"]}
    )
    assert switched.json()["blocked_file_types"] == ["exe", "image/svg+xml"]
    for filename, kind in (
        ("setup.Exe", "application/octet-stream"),
        ("logo.svg", "image/svg+xml"),
    ):
        answer = await attach(
            client, headers, ticket["id"], body(part("file", PNG, filename, kind))
        )
        assert refused(answer)[:2] == (415, "UNSUPPORTED_MEDIA_TYPE"), filename
    assert await stored(client, ticket["id"]) == []
    assert (await attach(client, headers, ticket["id"], body(part("file", PNG)))).status_code == 200


@pytest.mark.parametrize(
    "value", [["exe", 3], "exe", [""], {"exe": True}], ids=["number", "text", "empty", "object"]
)
async def test_a_bad_blocked_types_switch_is_refused(client: httpx.AsyncClient, value: Any) -> None:
    """The switch takes a list of extensions or content types; anything else is a 400."""
    answer = await client.post("/_emulator/faults", json={"blocked_file_types": value})
    assert answer.status_code == 400
    assert "blocked_file_types" in answer.json()["error"]


async def test_upload_fail_answers_500_and_stores_nothing(
    client: httpx.AsyncClient, headers: dict[str, str], ticket: dict[str, Any]
) -> None:
    """upload_fail: N uploads answer 500 INTERNAL_SERVER_ERROR, then they work again."""
    await client.post("/_emulator/faults", json={"upload_fail": 2})
    statuses = [
        (await attach(client, headers, ticket["id"], body(part("file", PNG)))).status_code
        for _ in range(3)
    ]
    assert statuses == [500, 500, 200]
    assert len(await stored(client, ticket["id"])) == 1


async def test_upload_then_fail_stores_then_answers_500(
    client: httpx.AsyncClient, headers: dict[str, str], ticket: dict[str, Any]
) -> None:
    """upload_then_fail: the file is attached although the answer is a 500."""
    await client.post("/_emulator/faults", json={"upload_then_fail": 1})
    answer = await attach(client, headers, ticket["id"], body(part("file", PNG)))
    assert refused(answer)[:2] == (500, "INTERNAL_SERVER_ERROR")
    assert [f["name"] for f in await stored(client, ticket["id"])] == ["photo.png"]


async def test_upload_then_hang_stores_then_stalls(
    client: httpx.AsyncClient, headers: dict[str, str], ticket: dict[str, Any]
) -> None:
    """upload_then_hang: the file is attached and the answer comes after ``hang`` seconds,
    past the caller's patience."""
    await client.post("/_emulator/faults", json={"upload_then_hang": 1, "hang": 5})
    with anyio.move_on_after(0.3) as scope:
        await attach(client, headers, ticket["id"], body(part("file", PNG)))
    assert scope.cancelled_caught
    assert len(await stored(client, ticket["id"])) == 1


async def test_listing_pages_filters_and_sorts(
    client: httpx.AsyncClient, headers: dict[str, str], ticket: dict[str, Any]
) -> None:
    """GET lists oldest first (204 when none), pages with from/limit (limit at most 100),
    filters by isPublic, sorts by -createdTime, adds the creator with include=creator;
    a list costs 3 credits."""
    path = f"/api/v1/tickets/{ticket['id']}/attachments"
    assert (await client.get(path, headers=headers)).status_code == 204
    for n in range(3):
        public = "true" if n == 1 else "false"
        await attach(
            client, headers, ticket["id"], body(part("file", b"x", f"{n}.txt")), isPublic=public
        )
    listed = await client.get(path, headers=headers)
    assert listed.headers["X-Rate-Limit-Request-Weight-v3"] == "3"
    assert [a["name"] for a in listed.json()["data"]] == ["0.txt", "1.txt", "2.txt"]
    page = await client.get(path, headers=headers, params={"from": 1, "limit": 1})
    assert [a["name"] for a in page.json()["data"]] == ["1.txt"]
    newest = await client.get(path, headers=headers, params={"sortBy": "-createdTime"})
    assert [a["name"] for a in newest.json()["data"]] == ["2.txt", "1.txt", "0.txt"]
    public_only = await client.get(path, headers=headers, params={"isPublic": "true"})
    assert [a["name"] for a in public_only.json()["data"]] == ["1.txt"]
    creator = await client.get(path, headers=headers, params={"include": "creator"})
    assert set(creator.json()["data"][0]["creator"]) == {
        "id", "firstName", "lastName", "email", "photoURL"
    }  # fmt: skip
    for params in ({"limit": "101"}, {"limit": "0"}, {"sortBy": "name"}, {"include": "x"}):
        assert refused(await client.get(path, headers=headers, params=params))[:2] == (
            422,
            "INVALID_DATA",
        ), params


async def test_delete_removes_one_attachment(
    client: httpx.AsyncClient, headers: dict[str, str], ticket: dict[str, Any]
) -> None:
    """DELETE answers 200 with no body; the attachment is gone; a second delete, another
    ticket's attachment or an unknown one is 404."""
    first = (await attach(client, headers, ticket["id"], body(part("file", PNG)))).json()
    other = (await create_ticket(client, headers)).json()
    path = f"/api/v1/tickets/{ticket['id']}/attachments/{first['id']}"
    assert refused(
        await client.delete(
            f"/api/v1/tickets/{other['id']}/attachments/{first['id']}", headers=headers
        )
    )[:2] == (404, "URL_NOT_FOUND")
    answer = await client.delete(path, headers=headers)
    assert (answer.status_code, answer.content) == (200, b"")
    assert await stored(client, ticket["id"]) == []
    assert refused(await client.delete(path, headers=headers))[:2] == (404, "URL_NOT_FOUND")


async def test_scopes_are_the_oas_ones(
    client: httpx.AsyncClient, headers: dict[str, str], ticket: dict[str, Any], state: EmulatorState
) -> None:
    """A token without Desk.tickets (or Desk.basic for uploads): 401 SCOPE_MISMATCH;
    Desk.tickets.READ lists but does not attach."""
    state.oauth.add_refresh_token(SANDBOX_CLIENT_ID, "Desk.tickets.READ", "1000.read-only")
    token = (
        await client.post(
            "/oauth/v2/token",
            data={
                "grant_type": "refresh_token",
                "client_id": SANDBOX_CLIENT_ID,
                "client_secret": "sandbox-client-secret",
                "refresh_token": "1000.read-only",
            },
        )
    ).json()["access_token"]
    narrow = {**headers, "Authorization": f"Zoho-oauthtoken {token}"}
    path = f"/api/v1/tickets/{ticket['id']}/attachments"
    assert (await client.get(path, headers=narrow)).status_code == 204
    answer = await attach(client, narrow, ticket["id"], body(part("file", PNG)))
    assert refused(answer)[:2] == (401, "SCOPE_MISMATCH")
    upload = await client.post(
        "/api/v1/uploads", headers=multipart_headers(narrow), content=body(part("file", PNG))
    )
    assert refused(upload)[:2] == (401, "SCOPE_MISMATCH")


async def test_an_upload_is_a_temporary_file(
    client: httpx.AsyncClient, headers: dict[str, str], state: EmulatorState
) -> None:
    """POST /uploads stores the file apart from any ticket and answers uploadFileResponse
    (no isPublic); the same limits apply."""
    answer = await client.post(
        "/api/v1/uploads", headers=multipart_headers(headers), content=body(part("file", PNG))
    )
    assert answer.status_code == 200, answer.text
    got = answer.json()
    assert set(got) == {"id", "name", "size", "href", "previewurl", "creatorId", "createdTime"}
    assert got["href"].endswith(f"/api/v1/uploads/{got['id']}/contents")
    assert state.attachments.uploads[got["id"]].file.sha256 == hashlib.sha256(PNG).hexdigest()
    state.faults.upload_max_bytes = 10
    over = await client.post(
        "/api/v1/uploads", headers=multipart_headers(headers), content=body(part("file", PNG))
    )
    assert refused(over)[:2] == (413, "RESOURCE_SIZE_EXCEEDED")


async def test_the_control_route_knows_only_existing_tickets(client: httpx.AsyncClient) -> None:
    """GET /_emulator/tickets/{id}/attachments for no ticket: 400-class answer, not []."""
    answer = await client.get("/_emulator/tickets/999/attachments")
    assert answer.status_code == 404
