"""Files on threads in the emulator: the control API's ``attachments``, the thread's
``attachments[{id,name,size,href}]`` and Thread.json's content route that serves the bytes."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from zoho_desk_emulator import EmulatorState
from zoho_desk_emulator.conversations import THREAD_FILE_MAX

from tests.zoho_desk_emulator.helpers import create_ticket

pytestmark = pytest.mark.anyio

PHOTO = bytes(range(256)) * 40  # not text: every byte value, 10,240 bytes


def _file(name: str, data: bytes, kind: str = "image/png") -> dict[str, str]:
    return {"name": name, "content_type": kind, "data": base64.b64encode(data).decode()}


@pytest.fixture
async def ticket(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    answer = await create_ticket(client, headers)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def _reply_with_files(
    client: httpx.AsyncClient, ticket_id: str, *files: dict[str, str]
) -> dict[str, Any]:
    answer = await client.post(
        f"/_emulator/tickets/{ticket_id}/threads",
        json={"text": "Aquí está el recibo", "attachments": list(files)},
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def test_a_reply_with_files_lists_them_and_serves_their_bytes(
    client: httpx.AsyncClient, headers: dict[str, str], ticket: dict[str, Any]
) -> None:
    """The thread lists each file as Zoho does (size a string, href to the content route);
    the list shows hasAttach and the count; the content route answers the exact bytes, the
    type given, and charges one credit."""
    thread = await _reply_with_files(
        client, ticket["id"], _file("recibo.png", PHOTO), _file("nota.txt", b"ok", "text/plain")
    )
    first, second = thread["attachments"]
    assert set(first) == {"id", "name", "size", "href"}
    assert (first["name"], first["size"]) == ("recibo.png", str(len(PHOTO)))
    path = f"/api/v1/tickets/{ticket['id']}/threads/{thread['id']}/attachments/{first['id']}"
    assert first["href"].endswith(f"{path}/content")
    listed = await client.get(f"/api/v1/tickets/{ticket['id']}/threads", headers=headers)
    item = next(t for t in listed.json()["data"] if t["id"] == thread["id"])
    assert (item["hasAttach"], item["attachmentCount"]) == (True, "2")
    got = await client.get(first["href"], headers=headers)
    assert got.status_code == 200, got.text
    assert got.content == PHOTO
    assert got.headers["content-type"] == "image/png"
    assert got.headers["X-Rate-Limit-Request-Weight-v3"] == "1"
    assert "recibo.png" in got.headers["content-disposition"]
    other = await client.get(second["href"], headers=headers)
    assert other.content == b"ok"


async def test_the_content_route_refuses_as_zoho_does(
    client: httpx.AsyncClient, headers: dict[str, str], ticket: dict[str, Any], state: EmulatorState
) -> None:
    """Unknown file, another ticket's thread, no such ticket: 404 URL_NOT_FOUND; a non-digit
    id: 422 (Thread.json's pattern); no token: 401; another portal's orgId: refused; a query
    parameter: 422."""
    thread = await _reply_with_files(client, ticket["id"], _file("a.png", PHOTO))
    file_id = thread["attachments"][0]["id"]
    other = (await create_ticket(client, headers)).json()
    base = "/api/v1/tickets"
    for path in (
        f"{base}/{ticket['id']}/threads/{thread['id']}/attachments/999/content",
        f"{base}/{other['id']}/threads/{thread['id']}/attachments/{file_id}/content",
        f"{base}/123/threads/{thread['id']}/attachments/{file_id}/content",
    ):
        answer = await client.get(path, headers=headers)
        assert (answer.status_code, answer.json()["errorCode"]) == (404, "URL_NOT_FOUND"), path
    good = f"{base}/{ticket['id']}/threads/{thread['id']}/attachments/{file_id}/content"
    bad_id = await client.get(
        good.replace(f"/attachments/{file_id}", "/attachments/x1"), headers=headers
    )
    assert (bad_id.status_code, bad_id.json()["errorCode"]) == (422, "INVALID_DATA")
    no_token = await client.get(good, headers={"orgId": headers["orgId"]})
    assert no_token.status_code == 401
    with_query = await client.get(good, headers=headers, params={"inline": "true"})
    assert with_query.status_code == 422


async def test_control_refuses_bad_files(client: httpx.AsyncClient, ticket: dict[str, Any]) -> None:
    """Each malformed file is a 400 with a reason, and no thread is added."""
    path = f"/_emulator/tickets/{ticket['id']}/threads"
    too_big = base64.b64encode(b"x" * (THREAD_FILE_MAX + 1)).decode()
    for files in (
        "a.png",
        [{"name": "a.png", "data": "AA=="}],
        [{"name": "", "content_type": "image/png", "data": "AA=="}],
        [{"name": "a.png", "content_type": "png", "data": "AA=="}],
        [{"name": "a.png", "content_type": "image/png", "data": "not base64!"}],
        [{"name": "a.png", "content_type": "image/png", "data": ""}],
        [{"name": "a.png", "content_type": "image/png", "data": too_big}],
    ):
        answer = await client.post(path, json={"text": "x", "attachments": files})
        assert answer.status_code == 400, (files if len(str(files)) < 200 else "big", answer.text)
        assert answer.json()["error"]
    control = await client.get("/_emulator/state")
    assert control.json()["threads"] == 1  # the description only
