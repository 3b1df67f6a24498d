"""The two-way sync's Zoho calls on the wire: exact paths, queries, bodies and headers, each
request within Zoho's published constraints, and Zoho's answers in domain terms."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import msgspec
import pytest
import respx

from ticketing.adapters.zoho_desk.client import ZohoDeskClient
from ticketing.adapters.zoho_desk.wire_sync import SYNC_SUBSCRIPTIONS, WireThread, decode_delivery
from ticketing.domain.conversation import Comment, Thread
from ticketing.domain.errors import HelpdeskAuthError, HelpdeskRejected, ValidationError
from zoho_desk_emulator.constraints import ALL_SCHEMAS, TICKET_ID_PATTERN, validate

from tests.support.zoho import ACCESS, DESK, ORG

pytestmark = pytest.mark.anyio

API = f"{DESK}/api/v1"
TICKET_ID = "813934000024070001"
AUTHOR = {"id": "4000000008692", "name": "Jade Tywin", "type": "AGENT", "email": "j@zylker.com"}
THREAD = {
    "id": "813934000024080001",
    "direction": "out",
    "visibility": "public",
    "status": "SUCCESS",
    "channel": "EMAIL",
    "author": AUTHOR,
    "createdTime": "2026-11-26T10:05:00.000Z",
    "isDescriptionThread": False,
    "summary": "Ya lo revisamos",
    "attachments": [{"id": "9", "name": "f.png", "size": "12734", "href": "https://x/9"}],
}
COMMENT = {
    "id": "4000000529001",
    "content": "<div>Hola</div>",
    "contentType": "html",
    "plainText": "Hola",
    "isPublic": True,
    "commentedTime": 1485266818193,
    "commenterId": "4000000008692",
    "commenter": {**AUTHOR, "type": ["AGENT"]},  # as in Zoho's own example
}
WEBHOOK = {
    "id": "1234567800",
    "url": "https://bridge.example/webhooks/zoho/t0k3n",
    "name": "ticketing",
    "subscriptions": dict(SYNC_SUBSCRIPTIONS),
    "isEnabled": True,
    "createdTime": "2026-11-26T10:00:00.000Z",
    "type": "CUSTOMER_WEBHOOK",
}


def query(request: httpx.Request) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(str(request.url)).query, keep_blank_values=True))


def checked(request: httpx.Request, operation: str) -> None:
    """The request's headers are Zoho's, its ids numeric, and its query or body passes the
    emulator's copy of Zoho's schema for ``operation``."""
    assert request.headers["Authorization"] == f"Zoho-oauthtoken {ACCESS}"
    assert request.headers["orgId"] == ORG
    ids = urlsplit(str(request.url)).path.removeprefix("/api/v1/").split("/")[1::2]
    assert all(re.fullmatch(TICKET_ID_PATTERN, i) for i in ids if i != "search"), ids
    schema = ALL_SCHEMAS[operation]
    data: Any = query(request) if schema.query else json.loads(request.content)
    assert validate(schema, data) == [], data


async def test_threads_are_listed_fetched_and_read_as_domain_threads(
    router: respx.MockRouter, desk: ZohoDeskClient
) -> None:
    """List: limit/from (newest first by default); one thread with include=plainText; the
    latest public one; 204s are empty lists and None."""
    base = f"{API}/tickets/{TICKET_ID}"
    listed = router.get(f"{base}/threads").respond(200, json={"data": [THREAD]})
    one = router.get(f"{base}/threads/{THREAD['id']}").respond(
        200, json={**THREAD, "content": "<p>Ya lo revisamos</p>", "plainText": "Ya lo revisamos"}
    )
    latest = router.get(f"{base}/latestThread").respond(204)

    (thread,) = await desk.list_threads(TICKET_ID, limit=50, start=10)
    got = await desk.get_thread(TICKET_ID, str(THREAD["id"]))
    assert await desk.latest_thread(TICKET_ID, public_only=True) is None

    assert query(listed.calls.last.request) == {"limit": "50", "from": "10"}
    checked(listed.calls.last.request, "GET /api/v1/tickets/{ticketId}/threads")
    assert query(one.calls.last.request) == {"include": "plainText"}
    checked(one.calls.last.request, "GET /api/v1/tickets/{ticketId}/threads/{threadId}")
    assert query(latest.calls.last.request) == {"include": "plainText", "needPublic": "true"}
    checked(latest.calls.last.request, "GET /api/v1/tickets/{ticketId}/latestThread")
    assert thread.ticket_id == TICKET_ID
    assert thread.is_public_agent_reply
    assert thread.author.is_agent
    assert thread.created_time == datetime(2026, 11, 26, 10, 5, tzinfo=UTC)
    assert thread.attachments[0].size == 12734
    assert thread.content is None
    assert (got.content, got.plain_text) == ("<p>Ya lo revisamos</p>", "Ya lo revisamos")
    router.get(f"{base}/threads").respond(204)
    assert await desk.list_threads(TICKET_ID) == []


@pytest.mark.parametrize(
    ("changes", "reply"),
    [
        ({}, True),
        ({"visibility": "private"}, False),
        ({"status": "DRAFT"}, False),
        ({"status": "FAILED"}, False),
        ({"direction": "in"}, False),
    ],
)
def test_only_sent_public_outgoing_threads_are_agent_replies(
    changes: dict[str, str], reply: bool
) -> None:
    """Drafts, failed sends, private threads and the customer's own are not replies."""

    wire = msgspec.json.decode(json.dumps({**THREAD, **changes}), type=WireThread)
    assert wire.to_domain(TICKET_ID).is_public_agent_reply is reply


async def test_comments_go_as_plain_text_and_come_back_with_plain_text(
    router: respx.MockRouter, desk: ZohoDeskClient
) -> None:
    """POST body {content, isPublic, contentType: plainText}; lists ask for plainText in
    commentedTime order; the commenter's type may come as a list."""
    base = f"{API}/tickets/{TICKET_ID}/comments"
    posted = router.post(base).respond(200, json=COMMENT)
    listed = router.get(base).respond(200, json={"data": [COMMENT]})
    one = router.get(f"{base}/{COMMENT['id']}").respond(200, json=COMMENT)

    comment = await desk.add_comment(TICKET_ID, "Hola\nsoy Ana", public=False)
    (listed_comment,) = await desk.list_comments(TICKET_ID, newest_first=True)
    await desk.get_comment(TICKET_ID, str(COMMENT["id"]))

    assert json.loads(posted.calls.last.request.content) == {
        "content": "Hola\nsoy Ana",
        "isPublic": False,
        "contentType": "plainText",
    }
    checked(posted.calls.last.request, "POST /api/v1/tickets/{ticketId}/comments")
    assert query(listed.calls.last.request) == {
        "include": "plainText",
        "limit": "100",
        "from": "0",
        "sortBy": "-commentedTime",
    }
    checked(listed.calls.last.request, "GET /api/v1/tickets/{ticketId}/comments")
    checked(one.calls.last.request, "GET /api/v1/tickets/{ticketId}/comments/{commentId}")
    assert comment.author.is_agent
    assert (comment.plain_text, comment.is_public) == ("Hola", True)
    assert comment.created_time == datetime(2017, 1, 24, 14, 6, 58, 193000, tzinfo=UTC)
    assert listed_comment == comment


async def test_a_comment_zoho_would_refuse_is_never_sent(
    router: respx.MockRouter, desk: ZohoDeskClient
) -> None:
    """Empty or over 32,000 characters: ValidationError before any request."""
    route = router.post(f"{API}/tickets/{TICKET_ID}/comments").respond(200, json=COMMENT)
    for text in ("  ", "x" * 32001):
        with pytest.raises(ValidationError):
            await desk.add_comment(TICKET_ID, text)
    assert route.call_count == 0


async def test_conversations_mix_threads_and_comments(
    router: respx.MockRouter, desk: ZohoDeskClient
) -> None:
    """Each item becomes a Thread or a Comment by its type."""
    route = router.get(f"{API}/tickets/{TICKET_ID}/conversations").respond(
        200,
        json={"data": [{**COMMENT, "type": "comment"}, {**THREAD, "type": "thread"}]},
    )
    items = await desk.list_conversations(TICKET_ID)
    assert [type(i) for i in items] == [Comment, Thread]
    assert query(route.calls.last.request) == {"limit": "200", "from": "0"}
    checked(route.calls.last.request, "GET /api/v1/tickets/{ticketId}/conversations")


async def test_ticket_state_and_tickets_modified_in_a_range(
    router: respx.MockRouter, desk: ZohoDeskClient
) -> None:
    """The state reads status, statusType and the times; polling is a search by
    modifiedTimeRange (ISO,ISO) sorted by modifiedTime, at most 100 from at most 999."""
    state = {
        "id": TICKET_ID,
        "ticketNumber": "1042",
        "status": "Closed",
        "statusType": "Closed",
        "modifiedTime": "2026-11-26T11:00:00.000Z",
        "closedTime": "2026-11-26T11:00:00.000Z",
    }
    router.get(f"{API}/tickets/{TICKET_ID}").respond(200, json=state)
    search = router.get(f"{API}/tickets/search").respond(200, json={"data": [state], "count": 1})

    got = await desk.ticket_state(TICKET_ID)
    since = datetime(2026, 11, 26, 10, 59, tzinfo=UTC)
    (found,) = await desk.modified_tickets(
        since, datetime(2026, 11, 26, 11, 1, 30, 250000, tzinfo=UTC), start=100, limit=500
    )

    assert got.is_closed
    assert got.closed_time == datetime(2026, 11, 26, 11, tzinfo=UTC)
    assert found == got
    assert query(search.calls.last.request) == {
        "modifiedTimeRange": "2026-11-26T10:59:00.000Z,2026-11-26T11:01:30.250Z",
        "sortBy": "modifiedTime",
        "from": "100",
        "limit": "100",
    }
    checked(search.calls.last.request, "GET /api/v1/tickets/search")
    with pytest.raises(ValueError, match="999"):
        await desk.modified_tickets(since, since, start=1000)


async def test_webhook_subscriptions_on_the_wire(
    router: respx.MockRouter, desk: ZohoDeskClient
) -> None:
    """Create posts url, subscriptions, name, description, isEnabled; update always sends
    subscriptions; delete takes Zoho's empty 200; an empty list is 204."""
    created = router.post(f"{API}/webhooks").respond(200, json=WEBHOOK)
    updated = router.patch(f"{API}/webhooks/{WEBHOOK['id']}").respond(
        200, json={**WEBHOOK, "isEnabled": False}
    )
    deleted = router.delete(f"{API}/webhooks/{WEBHOOK['id']}").respond(200)
    router.get(f"{API}/webhooks").respond(204)

    hook = await desk.create_webhook(
        str(WEBHOOK["url"]), SYNC_SUBSCRIPTIONS, name="ticketing", description="agent replies"
    )
    off = await desk.update_webhook(hook.id, SYNC_SUBSCRIPTIONS, enabled=False)
    await desk.delete_webhook(hook.id)

    assert json.loads(created.calls.last.request.content) == {
        "url": WEBHOOK["url"],
        "subscriptions": {
            "Ticket_Thread_Add": {"direction": "out"},
            "Ticket_Comment_Add": None,
            "Ticket_Update": {"fields": ["status"], "includePrevState": True},
        },
        "name": "ticketing",
        "description": "agent replies",
        "isEnabled": True,
    }
    checked(created.calls.last.request, "POST /api/v1/webhooks")
    assert json.loads(updated.calls.last.request.content) == {
        "subscriptions": dict(SYNC_SUBSCRIPTIONS),
        "isEnabled": False,
    }
    checked(updated.calls.last.request, "PATCH /api/v1/webhooks/{webhookId}")
    assert deleted.call_count == 1
    assert (hook.id, hook.enabled, off.enabled) == ("1234567800", True, False)
    assert hook.subscriptions == SYNC_SUBSCRIPTIONS
    assert await desk.list_webhooks() == []


async def test_webhook_refusals_become_domain_errors(
    router: respx.MockRouter, desk: ZohoDeskClient
) -> None:
    """422 on the URL check: rejected, naming the field; a missing scope or edition: an
    auth error; an update URL over 100 characters is never sent."""
    route = router.post(f"{API}/webhooks")
    route.respond(
        422,
        json={
            "errorCode": "INVALID_DATA",
            "message": "The data is invalid due to validation restrictions",
            "errors": [{"fieldName": "/url", "errorType": "invalid", "errorMessage": "no 200"}],
        },
    )
    with pytest.raises(HelpdeskRejected) as rejected:
        await desk.create_webhook("https://bridge.example/hook", SYNC_SUBSCRIPTIONS)
    assert rejected.value.field == "url"
    route.respond(401, json={"errorCode": "SCOPE_MISMATCH", "message": "scope"})
    with pytest.raises(HelpdeskAuthError, match=r"Desk\.events\.ALL"):
        await desk.create_webhook("https://bridge.example/hook", SYNC_SUBSCRIPTIONS)
    route.respond(403, json={"errorCode": "LICENSE_ACCESS_LIMITED", "message": "edition"})
    with pytest.raises(HelpdeskAuthError):
        await desk.create_webhook("https://bridge.example/hook", SYNC_SUBSCRIPTIONS)
    patch = router.patch(f"{API}/webhooks/1").respond(200, json=WEBHOOK)
    with pytest.raises(ValidationError):
        await desk.update_webhook("1", SYNC_SUBSCRIPTIONS, url="https://bridge.example/" + "x" * 90)
    assert patch.call_count == 0


def test_a_delivery_reads_as_events_pointing_at_what_to_fetch() -> None:
    """Thread and comment events name their ticket and their own id; a status update its
    ticket, the status and the one before; one bare object is read as one event."""
    body = json.dumps(
        [
            {
                "eventType": "Ticket_Thread_Add",
                "eventTime": "1764151200000",
                "orgId": ORG,
                "payload": {**THREAD, "ticketId": TICKET_ID, "content": "<p>x</p>"},
            },
            {
                "eventType": "Ticket_Update",
                "eventTime": 1764151260000,
                "orgId": int(ORG),
                "payload": {"id": TICKET_ID, "status": "Closed"},
                "prevState": {"id": TICKET_ID, "status": "Open"},
            },
        ]
    ).encode()
    thread, update = decode_delivery(body)
    assert (thread.ticket_id, thread.resource_id) == (TICKET_ID, THREAD["id"])
    assert thread.event_time == datetime(2025, 11, 26, 10, 0, tzinfo=UTC)
    assert (update.ticket_id, update.status, update.previous_status) == (
        TICKET_ID,
        "Closed",
        "Open",
    )
    assert update.org_id == ORG
    (one,) = decode_delivery(json.dumps({"eventType": "Ticket_Comment_Add"}).encode())
    assert (one.ticket_id, one.resource_id) == (None, None)
    with pytest.raises(msgspec.DecodeError):
        decode_delivery(b"not json")
