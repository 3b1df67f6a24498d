"""Threads, comments, conversations and ticket updates in the emulator: what Thread.json,
TicketComment.json, Conversation.json and Ticket.json allow, and what the answers hold."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from zoho_desk_emulator import EmulatorState

from tests.support.clock import ManualClock
from tests.zoho_desk_emulator.helpers import create_ticket

pytestmark = pytest.mark.anyio


@pytest.fixture
async def ticket(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    answer = await create_ticket(client, headers, description="Hola,\nmi pago no aparece")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def reply(client: httpx.AsyncClient, ticket_id: str, **fields: Any) -> dict[str, Any]:
    answer = await client.post(f"/_emulator/tickets/{ticket_id}/threads", json=fields)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def refused(answer: httpx.Response) -> tuple[int, str, list[tuple[str, str]]]:
    body = answer.json()
    fields = [(e["fieldName"], e["errorType"]) for e in body.get("errors", [])]
    return answer.status_code, body["errorCode"], fields


async def test_a_new_ticket_has_its_description_thread(
    client: httpx.AsyncClient, headers: dict[str, str], ticket: dict[str, Any]
) -> None:
    """The description is the first thread: incoming, public, sent, by the contact; the list
    carries a summary and never the content; the thread itself has HTML and plain text."""
    path = f"/api/v1/tickets/{ticket['id']}/threads"
    listed = await client.get(path, headers=headers)
    assert listed.status_code == 200
    assert listed.headers["X-Rate-Limit-Request-Weight-v3"] == "3"
    (item,) = listed.json()["data"]
    assert item["isDescriptionThread"] is True
    assert (item["direction"], item["visibility"], item["status"]) == ("in", "public", "SUCCESS")
    assert item["author"]["type"] == "END_USER"
    assert "content" not in item
    assert "plainText" not in item
    one = await client.get(f"{path}/{item['id']}", headers=headers, params={"include": "plainText"})
    assert one.headers["X-Rate-Limit-Request-Weight-v3"] == "1"
    assert one.json()["content"] == "<div>Hola,<br />mi pago no aparece</div>"
    assert one.json()["plainText"] == "Hola,\nmi pago no aparece"
    without = await client.get(f"{path}/{item['id']}", headers=headers)
    assert "plainText" not in without.json()


async def test_agent_replies_come_newest_first_and_latest_thread_filters(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    ticket: dict[str, Any],
    clock: ManualClock,
) -> None:
    """Threads list newest first unless sortBy=sendDateTime; latestThread skips private
    threads with needPublic, and answers 204 when nothing matches."""
    clock.advance(1)
    public = await reply(client, ticket["id"], content="<p>Ya lo <b>revisamos</b></p>")
    clock.advance(1)
    private = await reply(client, ticket["id"], text="nota interna", visibility="private")
    base = f"/api/v1/tickets/{ticket['id']}"
    newest = (await client.get(f"{base}/threads", headers=headers)).json()["data"]
    assert [t["id"] for t in newest[:2]] == [private["id"], public["id"]]
    oldest = await client.get(f"{base}/threads", headers=headers, params={"sortBy": "sendDateTime"})
    assert oldest.json()["data"][0]["isDescriptionThread"] is True
    latest = await client.get(
        f"{base}/latestThread",
        headers=headers,
        params={"needPublic": "true", "include": "plainText"},
    )
    assert latest.json()["id"] == public["id"]
    assert latest.json()["plainText"] == "Ya lo revisamos"
    assert latest.json()["author"]["type"] == "AGENT"
    failed = await client.get(
        f"{base}/latestThread", headers=headers, params={"threadStatus": "failed"}
    )
    assert failed.status_code == 204
    assert failed.content == b""


async def test_comments_by_api_and_by_control(
    client: httpx.AsyncClient, headers: dict[str, str], ticket: dict[str, Any], clock: ManualClock
) -> None:
    """A comment posted with a token is the agent's; the control adds the contact's; the list
    is oldest first with plainText on request; conversations hold threads and comments."""
    base = f"/api/v1/tickets/{ticket['id']}"
    posted = await client.post(
        f"{base}/comments",
        headers=headers,
        json={"content": "Mensaje del cliente", "isPublic": True, "contentType": "plainText"},
    )
    assert posted.status_code == 200, posted.text
    assert posted.json()["commenter"]["type"] == "AGENT"
    assert posted.json()["isPublic"] is True
    clock.advance(1)
    control = await client.post(
        f"/_emulator/tickets/{ticket['id']}/comments",
        json={"content": "<div>desde el portal</div>", "by": "end_user", "isPublic": False},
    )
    assert control.status_code == 200, control.text
    listed = await client.get(f"{base}/comments", headers=headers, params={"include": "plainText"})
    assert [c["plainText"] for c in listed.json()["data"]] == [
        "Mensaje del cliente",
        "desde el portal",
    ]
    assert listed.json()["data"][1]["commenter"]["type"] == "END_USER"
    one = await client.get(f"{base}/comments/{posted.json()['id']}", headers=headers)
    assert one.json()["content"] == "Mensaje del cliente"
    conversation = (await client.get(f"{base}/conversations", headers=headers)).json()["data"]
    assert [c["type"] for c in conversation] == ["comment", "comment", "thread"]
    got = (await client.get(base, headers=headers)).json()
    assert (got["commentCount"], got["threadCount"]) == ("2", "1")


async def test_a_status_change_moves_modified_and_closed_time(
    client: httpx.AsyncClient, headers: dict[str, str], ticket: dict[str, Any], clock: ManualClock
) -> None:
    """PATCH status Closed: statusType and closedTime follow, modifiedTime moves; the same
    status again changes nothing; a search by modifiedTimeRange finds the ticket."""
    clock.advance(60)
    path = f"/api/v1/tickets/{ticket['id']}"
    closed = await client.patch(path, headers=headers, json={"status": "closed"})
    assert closed.status_code == 200, closed.text
    body = closed.json()
    assert (body["status"], body["statusType"]) == ("Closed", "Closed")
    assert body["modifiedTime"] == body["closedTime"] == "2026-11-26T10:01:00.000Z"
    clock.advance(60)
    again = await client.patch(path, headers=headers, json={"status": "Closed"})
    assert again.json()["modifiedTime"] == "2026-11-26T10:01:00.000Z"
    found = await client.get(
        "/api/v1/tickets/search",
        headers=headers,
        params={
            "modifiedTimeRange": "2026-11-26T10:00:30.000Z,2026-11-26T10:02:00.000Z",
            "sortBy": "-modifiedTime",
        },
    )
    assert [t["id"] for t in found.json()["data"]] == [ticket["id"]]
    before = await client.get(
        "/api/v1/tickets/search",
        headers=headers,
        params={"modifiedTimeRange": "2026-11-26T09:00:00.000Z,2026-11-26T10:00:30.000Z"},
    )
    assert before.status_code == 204
    listed = await client.get(
        "/api/v1/tickets", headers=headers, params={"status": "Closed", "sortBy": "-recentThread"}
    )
    assert [t["id"] for t in listed.json()["data"]] == [ticket["id"]]
    assert listed.headers["X-Rate-Limit-Request-Weight-v3"] == "3"


async def test_a_lagging_search_sees_a_change_late(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    ticket: dict[str, Any],
    clock: ManualClock,
    state: EmulatorState,
) -> None:
    """With search_lag, a search by modifiedTimeRange finds a change only once the index
    has caught up: a poller must overlap its windows by the lag."""
    state.apply_faults({"search_lag": 30})
    clock.advance(60)
    await client.post(f"/_emulator/tickets/{ticket['id']}/status", json={"status": "Closed"})
    window = {"modifiedTimeRange": "2026-11-26T10:00:50.000Z,2026-11-26T10:01:10.000Z"}
    search = "/api/v1/tickets/search"
    assert (await client.get(search, headers=headers, params=window)).status_code == 204
    clock.advance(31)
    found = await client.get(search, headers=headers, params=window)
    assert [t["id"] for t in found.json()["data"]] == [ticket["id"]]


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "expected"),
    [
        # TicketComment.json addCommentPayload
        ("POST", "/comments", {"json": {"isPublic": True}}, ("/content", "missing")),
        ("POST", "/comments", {"json": {"content": "x" * 32001}}, ("/content", "invalid")),
        (
            "POST",
            "/comments",
            {"json": {"content": "x", "contentType": "markdown"}},
            ("/contentType", "invalid"),
        ),
        (
            "POST",
            "/comments",
            {"json": {"content": "x", "isPublic": "true"}},
            ("/isPublic", "invalid"),
        ),
        ("POST", "/comments", {"json": {"content": "x", "author": "me"}}, ("/author", "invalid")),
        # the comment list: limit 1-100, sortBy commentedTime
        ("GET", "/comments", {"params": {"limit": "101"}}, ("limit", "invalid")),
        ("GET", "/comments", {"params": {"sortBy": "createdTime"}}, ("sortBy", "invalid")),
        ("GET", "/comments", {"params": {"include": "attachments"}}, ("include", "invalid")),
        # Thread.json: threads, the latest thread, conversations
        ("GET", "/threads", {"params": {"limit": "0"}}, ("limit", "invalid")),
        ("GET", "/threads", {"params": {"sortBy": "createdTime"}}, ("sortBy", "invalid")),
        ("GET", "/threads", {"params": {"include": "plainText"}}, ("include", "invalid")),
        (
            "GET",
            "/latestThread",
            {"params": {"threadStatus": "draft"}},
            ("threadStatus", "invalid"),
        ),
        ("GET", "/latestThread", {"params": {"needPublic": "yes"}}, ("needPublic", "invalid")),
        ("GET", "/latestThread", {"params": {"include": "content"}}, ("include", "invalid")),
        ("GET", "/conversations", {"params": {"limit": "201"}}, ("limit", "invalid")),
        # Ticket.json: the update takes the create's fields; the status is a picklist
        ("PATCH", "", {"json": {"status": "Solved"}}, ("/status", "invalid")),
        ("PATCH", "", {"json": {"isUrgent": True}}, ("/isUrgent", "invalid")),
        ("PATCH", "", {"json": {"subject": "s" * 1001}}, ("/subject", "invalid")),
    ],
)
async def test_refuses_what_the_description_refuses(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    ticket: dict[str, Any],
    method: str,
    path: str,
    kwargs: dict[str, Any],
    expected: tuple[str, str],
) -> None:
    """Each bad request is a 422 INVALID_DATA naming the field."""
    answer = await client.request(
        method, f"/api/v1/tickets/{ticket['id']}{path}", headers=headers, **kwargs
    )
    status, code, fields = refused(answer)
    assert (status, code) == (422, "INVALID_DATA"), answer.text
    assert expected in fields


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v1/tickets", {"sortBy": "modifiedTime"}),  # the list cannot sort by it: search
        ("/api/v1/tickets", {"limit": "101"}),
        ("/api/v1/tickets/search", {"modifiedTimeRange": "yesterday,today"}),
    ],
)
async def test_ticket_lists_refuse_what_they_do_not_take(
    client: httpx.AsyncClient, headers: dict[str, str], path: str, params: dict[str, str]
) -> None:
    """GET /tickets has no modifiedTime sort (a search does); ranges are ISO,ISO."""
    answer = await client.get(path, headers=headers, params=params)
    assert refused(answer)[:2] == (422, "INVALID_DATA"), answer.text


async def test_unknown_ids_are_404_and_a_narrow_token_is_refused(
    client: httpx.AsyncClient, headers: dict[str, str], ticket: dict[str, Any], state: EmulatorState
) -> None:
    """Another ticket's thread, an unknown comment, a ticket of nobody: 404 URL_NOT_FOUND; a
    token without Desk.tickets scopes: 401 SCOPE_MISMATCH."""
    other = (await create_ticket(client, headers)).json()
    threads = (await client.get(f"/api/v1/tickets/{other['id']}/threads", headers=headers)).json()
    thread_id = threads["data"][0]["id"]
    for path in (
        f"/api/v1/tickets/{ticket['id']}/threads/{thread_id}",
        f"/api/v1/tickets/{ticket['id']}/comments/{thread_id}",
        "/api/v1/tickets/123/threads",
        "/api/v1/tickets/abc/latestThread",
    ):
        answer = await client.get(path, headers=headers)
        assert refused(answer)[:2] == (404, "URL_NOT_FOUND"), path
    state.oauth.add_refresh_token(
        "1000.fake-sandbox-client-id", "Desk.contacts.ALL", "1000.narrow-refresh"
    )
    narrow = await client.post(
        "/oauth/v2/token",
        data={
            "grant_type": "refresh_token",
            "client_id": "1000.fake-sandbox-client-id",
            "client_secret": "sandbox-client-secret",
            "refresh_token": "1000.narrow-refresh",
        },
    )
    token = narrow.json()["access_token"]
    answer = await client.get(
        f"/api/v1/tickets/{ticket['id']}/threads",
        headers={**headers, "Authorization": f"Zoho-oauthtoken {token}"},
    )
    assert refused(answer)[:2] == (401, "SCOPE_MISMATCH")


async def test_control_switches_refuse_bad_input(
    client: httpx.AsyncClient, ticket: dict[str, Any]
) -> None:
    """Unknown tickets, fields and values are 400s with a reason, never a Desk change."""
    base = f"/_emulator/tickets/{ticket['id']}"
    for path, body in (
        ("/_emulator/tickets/1/threads", {"text": "x"}),
        (f"{base}/threads", {"text": "x", "status": "SENT"}),
        (f"{base}/threads", {"text": "x", "channel": "WHATSAPP"}),
        (f"{base}/threads", {"text": " "}),
        (f"{base}/threads", {"text": "x", "mood": "happy"}),
        (f"{base}/comments", {"text": "x", "by": "bot"}),
        (f"{base}/status", {"status": "Solved"}),
    ):
        answer = await client.post(path, json=body)
        assert answer.status_code == 400, (path, body, answer.text)
        assert answer.json()["error"]
