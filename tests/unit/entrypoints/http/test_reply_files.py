"""GET /tickets/{t}/threads/{th}/attachments/{a}: a file of an agent's reply, streamed from
Zoho (the in-process emulator) to the messaging side; only on the service's own tickets;
400 for ids that are not digits, 503 with Retry-After when Zoho is down; and the whole way
from a reply with a file to the event's ``download`` path and back to the same bytes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from ticketing.container import Container
from ticketing.container.zoho import SANDBOX_BASE_URL
from zoho_desk_emulator import SANDBOX_DEPARTMENT_ID, SANDBOX_ORG_ID

from tests.support.http import API_KEY, OLD_FORM, app_client, make_container

pytestmark = pytest.mark.anyio

PHOTO = bytes(range(256)) * 300  # 76,800 bytes, every byte value


async def our_ticket(client: AsyncTestClient[Any]) -> str:
    """A ticket the service created (so the ledger records it as ours)."""
    created = await client.post("/tickets/customer", data=OLD_FORM)
    assert created.status_code == 201, created.text
    return str(created.json()["ticket_id"])


def reply_with(
    container: Container,
    ticket_id: str,
    *files: tuple[str, str, bytes],
    **options: Any,
) -> tuple[str, list[str]]:
    """An agent's reply with files, made in the emulator: its id and its files' ids."""
    thread = container.emulator_state().conversations.add_thread(
        ticket_id, text="Aquí está", files=files, base_url=SANDBOX_BASE_URL, **options
    )
    return thread.id, [f.id for f in thread.files]


def path(ticket_id: str, thread_id: str, file_id: str) -> str:
    return f"/tickets/{ticket_id}/threads/{thread_id}/attachments/{file_id}"


async def test_a_reply_file_streams_with_its_type_and_name(
    container: Container, client: AsyncTestClient[Any]
) -> None:
    """The exact bytes, Zoho's type and size, and the name in Content-Disposition (ASCII
    fallback with quotes and slashes replaced, the exact name in filename*)."""
    ticket = await our_ticket(client)
    thread, (photo, note) = reply_with(
        container,
        ticket,
        ("recibo.png", "image/png", PHOTO),
        ('pagó "final"/v2.txt', "text/plain", b"ok"),
    )
    got = await client.get(path(ticket, thread, photo))
    assert got.status_code == 200, got.text
    assert got.content == PHOTO
    assert got.headers["content-type"] == "image/png"
    assert got.headers["content-length"] == str(len(PHOTO))
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["content-disposition"] == (
        "attachment; filename=\"recibo.png\"; filename*=UTF-8''recibo.png"
    )
    other = await client.get(path(ticket, thread, note))
    assert other.content == b"ok"
    assert other.headers["content-disposition"] == (
        'attachment; filename="pago _final__v2.txt"; '
        "filename*=UTF-8''pag%C3%B3%20%22final%22%2Fv2.txt"
    )


async def test_what_is_not_a_file_of_our_replies_is_404(
    container: Container, client: AsyncTestClient[Any]
) -> None:
    """A ticket the service did not create, an unknown file, another ticket's thread, a
    private note's file and a customer's message's file: 404 with one JSON error line."""
    ticket = await our_ticket(client)
    other = await our_ticket(client)
    state = container.emulator_state()
    foreign = state.desk.create_ticket(
        SANDBOX_ORG_ID,
        {
            "subject": "ajeno",
            "departmentId": SANDBOX_DEPARTMENT_ID,
            "contact": {"lastName": "Otro", "email": "otro@example.com"},
        },
        SANDBOX_BASE_URL,
    ).id
    file = ("a.png", "image/png", b"x")
    thread, (file_id,) = reply_with(container, ticket, file)
    foreign_thread, (foreign_file,) = reply_with(container, foreign, file)
    private, (private_file,) = reply_with(container, ticket, file, visibility="private")
    incoming, (incoming_file,) = reply_with(container, ticket, file, direction="in")
    for asked in (
        path(foreign, foreign_thread, foreign_file),
        path(ticket, thread, "999"),
        path(other, thread, file_id),
        path(ticket, private, private_file),
        path(ticket, incoming, incoming_file),
        path(ticket, "123", file_id),
    ):
        answer = await client.get(asked)
        assert answer.status_code == 404, (asked, answer.text)
        assert answer.json()["error"] == "not_found"
        assert "\n" not in answer.json()["message"]


@pytest.mark.parametrize(
    "asked",
    [
        path("abc", "1", "2"),
        path("1", "1x", "2"),
        path("1", "2", "-3"),
        path("1", "2", "1" * 31),
    ],
)
async def test_ids_that_are_not_digits_are_400(
    container: Container, client: AsyncTestClient[Any], asked: str
) -> None:
    """Zoho's ids are digits: anything else is refused before any Zoho call."""
    before = len(container.emulator_state().calls)
    answer = await client.get(asked)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "bad_request"
    assert len(container.emulator_state().calls) == before


async def test_zoho_down_is_503_with_retry_after(
    container: Container, client: AsyncTestClient[Any]
) -> None:
    """Zoho answering 500s: 503 with Retry-After, then (the breaker open) 503 with no call
    made at all."""
    ticket = await our_ticket(client)
    thread, (file_id,) = reply_with(container, ticket, ("a.png", "image/png", b"x"))
    state = container.emulator_state()
    state.apply_faults({"error_rate": 1.0})
    answers = [await client.get(path(ticket, thread, file_id)) for _ in range(8)]
    assert {a.status_code for a in answers} == {503}
    assert all(int(a.headers["retry-after"]) >= 1 for a in answers)
    assert answers[0].json()["error"] == "zoho_unavailable"
    calls = len(state.calls)
    late = await client.get(path(ticket, thread, file_id))
    assert late.status_code == 503
    assert len(state.calls) == calls  # the breaker refused it: nothing sent


async def test_api_keys_guard_the_route() -> None:
    """With API_KEYS set, the route needs the Bearer key like the other ticket routes."""
    container = make_container({"API_KEYS": API_KEY})
    bearer = {"Authorization": f"Bearer {API_KEY}"}
    async with app_client(container) as client:
        created = await client.post("/tickets/customer", data=OLD_FORM, headers=bearer)
        ticket = created.json()["ticket_id"]
        thread, (file_id,) = reply_with(container, ticket, ("a.png", "image/png", b"x"))
        denied = await client.get(path(ticket, thread, file_id))
        allowed = await client.get(path(ticket, thread, file_id), headers=bearer)
    assert denied.status_code == 401
    assert (allowed.status_code, allowed.content) == (200, b"x")


async def test_a_reply_events_download_path_gives_back_the_same_bytes(
    container: Container, client: AsyncTestClient[Any]
) -> None:
    """An agent replies with a file in the emulator; the sync publishes the reply; the
    event's attachment keeps name, size and Zoho's url and gains ``download``, the service
    path that answers the file's exact bytes."""
    ticket = await our_ticket(client)
    thread, (file_id,) = reply_with(container, ticket, ("recibo.png", "image/png", PHOTO))
    sync = await container.sync()
    origin = await sync.publisher.origin(ticket)
    assert origin is not None
    await sync.publisher.thread(origin, thread)
    log = await container.sync_log()
    (payload,) = log.replies
    (attachment,) = json.loads(payload)["attachments"]
    assert attachment == {
        "name": "recibo.png",
        "size": len(PHOTO),
        "url": f"{SANDBOX_BASE_URL}/api/v1/tickets/{ticket}/threads/{thread}/attachments/"
        f"{file_id}/content",
        "download": path(ticket, thread, file_id),
    }
    got = await client.get(attachment["download"])
    assert got.status_code == 200
    assert got.content == PHOTO
