"""The emulator's pages for people: the tickets newest first at `/`, and one page per ticket
at the path of its `webUrl`, escaped, with a 404 page for a ticket that is not there."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from litestar.testing import AsyncTestClient

from zoho_desk_emulator import EmulatorState, create_emulator_app, create_pages_app

from tests.support.clock import ManualClock
from tests.zoho_desk_emulator.helpers import create_ticket, desk_headers, refresh

pytestmark = pytest.mark.anyio

Client = AsyncTestClient  # type: ignore[type-arg]
BASE_URL = "http://zoho-emulator.local"


@pytest.fixture
async def pages(state: EmulatorState) -> AsyncIterator[Client]:
    """The whole emulator under Litestar's test client."""
    async with AsyncTestClient(app=create_emulator_app(state), base_url=BASE_URL) as client:
        yield client


async def _ticket(client: Client, **fields: Any) -> dict[str, Any]:
    headers = desk_headers((await refresh(client)).json()["access_token"])
    answer = await create_ticket(client, headers, **fields)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def test_a_tickets_web_url_opens_its_page(pages: Client) -> None:
    """The webUrl of a created ticket is a page of the emulator's: number, subject, status,
    priority, channel, category, the contact, the description and the created time."""
    ticket = await _ticket(
        pages,
        subject="Payment not shown",
        description="I paid on Monday.\nStill pending.",
        channel="WhatsApp",
        category="Billing",
        phone="+5215512345678",
        contact={"firstName": "Ana", "lastName": "López", "email": "ana@example.com"},
    )
    url = urlsplit(ticket["webUrl"])
    assert f"{url.scheme}://{url.netloc}" == BASE_URL
    assert url.path == f"/agent/sandbox/tickets/details/{ticket['id']}"
    page = await pages.get(url.path)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    for shown in (
        f"#{ticket['ticketNumber']} Payment not shown",
        "Open",
        "High",
        "WhatsApp",
        "Billing",
        "Ana López",
        "ana@example.com",
        "+5215512345678",
        "I paid on Monday.\nStill pending.",
        ticket["createdTime"],
    ):
        assert shown in page.text, shown


async def test_the_page_lists_threads_comments_and_files(pages: Client) -> None:
    """An agent's reply with a file, a comment and an attachment all show on the page, each
    file by its name."""
    ticket = await _ticket(pages)
    headers = desk_headers((await refresh(pages)).json()["access_token"])
    reply = await pages.post(
        f"/_emulator/tickets/{ticket['id']}/threads",
        json={
            "text": "We are on it.",
            "attachments": [
                {
                    "name": "steps.txt",
                    "content_type": "text/plain",
                    "data": base64.b64encode(b"1. wait").decode(),
                }
            ],
        },
    )
    assert reply.status_code == 200, reply.text
    comment = await pages.post(
        f"/_emulator/tickets/{ticket['id']}/comments", json={"text": "Refund approved."}
    )
    assert comment.status_code == 200, comment.text
    attached = await pages.post(
        f"/api/v1/tickets/{ticket['id']}/attachments",
        headers=headers,
        files={"file": ("receipt.pdf", b"%PDF-1.4 receipt", "application/pdf")},
    )
    assert attached.status_code == 200, attached.text
    page = (await pages.get(urlsplit(ticket["webUrl"]).path)).text
    for shown in (
        "Threads (2)",
        "We are on it.",
        "steps.txt",
        "Comments (1)",
        "Refund approved.",
        "Attachments (1)",
        "receipt.pdf",
    ):
        assert shown in page, shown


async def test_customer_text_is_escaped_never_markup(pages: Client) -> None:
    """A subject, a description and a name holding HTML are shown as text: no script runs,
    and the page allows none (Content-Security-Policy)."""
    ticket = await _ticket(
        pages,
        subject="<script>alert(1)</script>",
        description='<img src=x onerror="alert(2)">',
        contact={"lastName": "<b>Bold</b>", "email": "x@example.com"},
    )
    answer = await pages.get(urlsplit(ticket["webUrl"]).path)
    page = answer.text
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img" not in page
    assert "&lt;img src=x onerror=&quot;alert(2)&quot;&gt;" in page
    assert "<b>Bold</b>" not in page
    assert "&lt;b&gt;Bold&lt;/b&gt;" in page
    assert "default-src 'none'" in answer.headers["content-security-policy"]
    index = (await pages.get("/")).text
    assert "<script>" not in index
    assert "&lt;script&gt;" in index


@pytest.mark.parametrize(
    "path",
    [
        "/agent/sandbox/tickets/details/123456789",
        "/agent/sandbox/tickets/details/<script>",
        "/agent/elsewhere/tickets/nothing",
    ],
)
async def test_an_unknown_ticket_is_a_404_page(pages: Client, path: str) -> None:
    """A ticket that is not there (or a page path that names nothing) is an HTML 404 that
    links back to the tickets; what the path said is escaped."""
    answer = await pages.get(path)
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("text/html")
    assert "Not found" in answer.text
    assert '<a href="/">All tickets</a>' in answer.text
    assert "<script>" not in answer.text


async def test_a_ticket_is_not_shown_under_another_portal(pages: Client) -> None:
    """The page path names the ticket's portal: another portal's name is a 404."""
    ticket = await _ticket(pages)
    answer = await pages.get(f"/agent/sandbox2/tickets/details/{ticket['id']}")
    assert answer.status_code == 404


async def test_the_index_lists_tickets_newest_first_with_links(
    pages: Client, clock: ManualClock
) -> None:
    """`/` lists every ticket, newest first, each linking to its page, and names the control
    API's listings."""
    first = await _ticket(pages, subject="First")
    clock.advance(60)
    second = await _ticket(pages, subject="Second")
    index = await pages.get("/")
    assert index.status_code == 200
    text = index.text
    assert "2 ticket(s), newest first" in text
    assert text.index("Second") < text.index("First")
    for ticket in (first, second):
        assert f'href="{urlsplit(ticket["webUrl"]).path}"' in text
    for listing in ("/_emulator/state", "/_emulator/tickets", "/_emulator/calls"):
        assert f'href="{listing}"' in text


async def test_an_empty_index_says_so(pages: Client) -> None:
    """With no ticket the index says how to make one."""
    answer = await pages.get("/")
    assert answer.status_code == 200
    assert "No tickets yet" in answer.text


async def test_pages_are_never_logged_faulted_or_charged(
    pages: Client, state: EmulatorState
) -> None:
    """During an outage the pages still answer, and they add nothing to the call log."""
    ticket = await _ticket(pages)
    calls = len(state.calls)
    state.apply_faults({"outage": True})
    assert (await pages.get("/")).status_code == 200
    assert (await pages.get(urlsplit(ticket["webUrl"]).path)).status_code == 200
    assert len(state.calls) == calls


async def test_the_web_url_base_is_where_the_pages_are_served(pages: Client) -> None:
    """With `web_url_base` set (a service serving the pages itself), new webUrls start there."""
    state = pages.app.emulator  # type: ignore[attr-defined]
    state.web_url_base = "http://127.0.0.1:8005/sandbox/zoho"
    ticket = await _ticket(pages)
    assert ticket["webUrl"] == (
        f"http://127.0.0.1:8005/sandbox/zoho/agent/sandbox/tickets/details/{ticket['id']}"
    )


async def test_the_pages_app_serves_pages_and_nothing_else(state: EmulatorState) -> None:
    """`create_pages_app` (what a service mounts) serves the pages over the same state, and
    neither the Desk API nor the control API."""
    ticket = state.create_ticket(
        "900000001",
        {"subject": "Shown", "departmentId": "900000000000010001", "contactId": None}
        | {"contact": {"lastName": "L", "email": "l@example.com"}},
        "http://host",
    )
    async with AsyncTestClient(app=create_pages_app(state)) as client:
        page = await client.get(urlsplit(ticket.web_url).path)
        assert page.status_code == 200
        assert "Shown" in page.text
        for path in ("/api/v1/organizations", "/_emulator/state"):
            missing = await client.get(path)
            assert missing.status_code == 404
            assert missing.headers["content-type"].startswith("text/html")
