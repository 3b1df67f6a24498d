"""The AttachmentDesk contract: the same assertions on the in-memory fake and on the real Zoho
client against the emulator (multipart on the wire, Zoho's refusals mapped), so the fake
the attachment work's tests use cannot drift from Zoho."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Protocol

import pytest

from ticketing.adapters.memory_attachments import InMemoryAttachments
from ticketing.adapters.zoho_desk.attachments import BytesSource
from ticketing.domain.attachments import AttachmentRejected, same_file
from ticketing.domain.errors import HelpdeskRejected, HelpdeskUnavailable
from ticketing.domain.ports import AttachmentDesk
from zoho_desk_emulator import SANDBOX_DEPARTMENT_ID, SANDBOX_ORG_ID, EmulatorState

from tests.support.clock import ManualClock
from tests.support.sync import EMULATOR, emulator_client

pytestmark = pytest.mark.anyio

PHOTO = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40


class Desk(Protocol):
    desk: AttachmentDesk

    def ticket(self) -> str: ...

    def limit(self, max_bytes: int) -> None: ...

    def block(self, *types: str) -> None: ...

    def fail_uploads(self, times: int) -> None: ...

    def fail_after_storing(self, times: int) -> None: ...

    def stored(self, ticket_id: str) -> list[tuple[str, str]]: ...


@dataclass
class FakeDesk:
    desk: InMemoryAttachments = field(default_factory=InMemoryAttachments)
    tickets: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.desk.known_ticket = self.tickets.__contains__

    def ticket(self) -> str:
        ticket_id = str(600_000 + len(self.tickets))
        self.tickets.add(ticket_id)
        return ticket_id

    def limit(self, max_bytes: int) -> None:
        self.desk.max_bytes = max_bytes

    def block(self, *types: str) -> None:
        self.desk.blocked_types = types

    def fail_uploads(self, times: int) -> None:
        self.desk.fail_next(HelpdeskUnavailable("500", status=500, sent=True), times)

    def fail_after_storing(self, times: int) -> None:
        self.desk.upload_then_fail = times

    def stored(self, ticket_id: str) -> list[tuple[str, str]]:
        return [(f.attachment.name, f.sha256) for f in self.desk.files.get(ticket_id, [])]


@dataclass
class EmulatorDesk:
    state: EmulatorState
    desk: AttachmentDesk

    def ticket(self) -> str:
        body = {
            "subject": "Foto del pase de abordar",
            "departmentId": SANDBOX_DEPARTMENT_ID,
            "contact": {"lastName": "López", "email": "ana@example.com"},
        }
        return self.state.desk.create_ticket(SANDBOX_ORG_ID, body, EMULATOR).id

    def limit(self, max_bytes: int) -> None:
        self.state.faults.upload_max_bytes = max_bytes

    def block(self, *types: str) -> None:
        self.state.faults.blocked_file_types = types

    def fail_uploads(self, times: int) -> None:
        self.state.faults.upload_fail = times

    def fail_after_storing(self, times: int) -> None:
        self.state.faults.upload_then_fail = times

    def stored(self, ticket_id: str) -> list[tuple[str, str]]:
        return [(r.file.name, r.file.sha256) for r in self.state.attachments.of_ticket(ticket_id)]


@asynccontextmanager
async def fake(clock: ManualClock) -> AsyncIterator[Desk]:
    yield FakeDesk(InMemoryAttachments(clock=clock))


@asynccontextmanager
async def emulated(clock: ManualClock) -> AsyncIterator[Desk]:
    state = EmulatorState(clock)
    async with emulator_client(state, clock) as client:
        yield EmulatorDesk(state, client)


FACTORIES: dict[str, Callable[[ManualClock], AbstractAsyncContextManager[Desk]]] = {
    "memory": fake,
    "zoho-emulator": emulated,
}


@pytest.fixture(params=sorted(FACTORIES))
async def desk(request: pytest.FixtureRequest, clock: ManualClock) -> AsyncIterator[Desk]:
    async with FACTORIES[request.param](clock) as made:
        yield made


async def test_an_uploaded_file_is_listed_with_its_name_size_and_visibility(desk: Desk) -> None:
    """Upload, then list: the same id, name, size and visibility; the bytes stored are the
    bytes sent."""
    ticket = desk.ticket()
    sent = await desk.desk.upload_attachment(
        ticket, "pase.jpg", "image/jpeg", BytesSource(PHOTO), is_public=True
    )
    second = await desk.desk.upload_attachment(ticket, "nota.txt", "text/plain", BytesSource(b"hi"))
    assert (sent.name, sent.size, sent.is_public, second.is_public) == (
        "pase.jpg",
        len(PHOTO),
        True,
        False,
    )
    listed = await desk.desk.list_attachments(ticket)
    assert [(a.id, a.name, a.size, a.is_public) for a in listed] == [
        (sent.id, "pase.jpg", len(PHOTO), True),
        (second.id, "nota.txt", 2, False),
    ]
    assert desk.stored(ticket)[0] == ("pase.jpg", hashlib.sha256(PHOTO).hexdigest())


async def test_a_ticket_without_files_lists_none(desk: Desk) -> None:
    """Zoho's 204 is an empty list."""
    assert await desk.desk.list_attachments(desk.ticket()) == []


async def test_an_unknown_ticket_is_rejected_with_404(desk: Desk) -> None:
    """Uploading to or listing a ticket that is not there: HelpdeskRejected 404."""
    with pytest.raises(HelpdeskRejected) as upload:
        await desk.desk.upload_attachment("999", "a.txt", "text/plain", BytesSource(b"x"))
    with pytest.raises(HelpdeskRejected) as listing:
        await desk.desk.list_attachments("999")
    assert (upload.value.status, listing.value.status) == (404, 404)
    assert not isinstance(upload.value, AttachmentRejected)


async def test_too_large_blocked_and_empty_files_are_refused_with_their_reason(
    desk: Desk,
) -> None:
    """RESOURCE_SIZE_EXCEEDED is too_large, UNSUPPORTED_MEDIA_TYPE blocked_type, no bytes
    empty: each an AttachmentRejected (permanent), and nothing is stored."""
    ticket = desk.ticket()
    desk.limit(100)
    desk.block("exe")
    with pytest.raises(AttachmentRejected) as large:
        await desk.desk.upload_attachment(ticket, "a.bin", "image/png", BytesSource(b"a" * 101))
    with pytest.raises(AttachmentRejected) as blocked:
        await desk.desk.upload_attachment(ticket, "setup.EXE", "image/png", BytesSource(b"MZ"))
    with pytest.raises(AttachmentRejected) as empty:
        await desk.desk.upload_attachment(ticket, "vacío.txt", "text/plain", BytesSource(b""))
    assert (large.value.reason, blocked.value.reason, empty.value.reason) == (
        "too_large",
        "blocked_type",
        "empty",
    )
    assert (large.value.code, blocked.value.code) == (
        "RESOURCE_SIZE_EXCEEDED",
        "UNSUPPORTED_MEDIA_TYPE",
    )
    assert desk.stored(ticket) == []
    ok = await desk.desk.upload_attachment(ticket, "a.bin", "image/png", BytesSource(b"a" * 100))
    assert ok.size == 100


async def test_a_long_or_path_like_name_is_made_fit(desk: Desk) -> None:
    """Zoho keeps names of 100 characters at most: the stem is cut, the extension kept; a
    path keeps only its last segment."""
    ticket = desk.ticket()
    long = await desk.desk.upload_attachment(
        ticket, "factura-" + "x" * 200 + ".pdf", "application/pdf", BytesSource(b"%PDF")
    )
    path = await desk.desk.upload_attachment(
        ticket, '../../etc/pass"wd.txt', "text/plain", BytesSource(b"x")
    )
    assert (len(long.name), long.name[-4:], path.name) == (100, ".pdf", "pass_wd.txt")


async def test_a_server_error_is_retryable_and_stores_nothing(desk: Desk) -> None:
    """A 5xx before storing: HelpdeskUnavailable, nothing on the ticket; the next try works."""
    ticket = desk.ticket()
    desk.fail_uploads(1)
    with pytest.raises(HelpdeskUnavailable):
        await desk.desk.upload_attachment(ticket, "a.txt", "text/plain", BytesSource(b"x"))
    assert desk.stored(ticket) == []
    await desk.desk.upload_attachment(ticket, "a.txt", "text/plain", BytesSource(b"x"))
    assert len(desk.stored(ticket)) == 1


async def test_a_lost_answer_is_found_by_name_and_size(desk: Desk) -> None:
    """Stored, then the answer lost: HelpdeskUnavailable(sent=True), and the file is found
    once by listing (same_file), so it is not sent again."""
    ticket = desk.ticket()
    desk.fail_after_storing(1)
    with pytest.raises(HelpdeskUnavailable) as lost:
        await desk.desk.upload_attachment(ticket, "pase.jpg", "image/jpeg", BytesSource(PHOTO))
    assert lost.value.sent
    found = same_file(await desk.desk.list_attachments(ticket), "pase.jpg", len(PHOTO))
    assert len(found) == 1
    assert same_file(await desk.desk.list_attachments(ticket), "pase.jpg", len(PHOTO) + 1) == []
