"""An in-memory ``AttachmentDesk`` that refuses, names and fails uploads the way Zoho Desk
(and its emulator) does, for unit tests and the contract suite; and an in-memory
``AttachmentFetcher`` serving files from a dict."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass

from ticketing.adapters.attachments.sources import BytesSource
from ticketing.adapters.clock import SystemClock
from ticketing.domain.attachments import (
    ZOHO_MAX_BYTES,
    AttachmentFetchError,
    AttachmentJob,
    AttachmentRejected,
    FileSource,
    TicketAttachment,
    attachment_name,
)
from ticketing.domain.errors import HelpdeskRejected, HelpdeskUnavailable
from ticketing.domain.ports import Clock


@dataclass(frozen=True, slots=True)
class StoredFile:
    """What an upload left on a ticket: the attachment and its bytes' digest and type."""

    attachment: TicketAttachment
    content_type: str
    sha256: str


class InMemoryAttachments:
    """Files on tickets, in dicts.

    Args:
        known_ticket: whether a ticket exists (e.g. ``lambda t: t in helpdesk.tickets``);
            every ticket does by default. An unknown one is ``HelpdeskRejected`` (404).
        clock: stamps ``created_time``.
        max_bytes: the largest file taken (Zoho's 20 MB).
        blocked_types: extensions (``exe``) or content types refused as ``blocked_type``.

    Attributes:
        files: ticket id → the files stored, oldest first.
        upload_then_fail: how many next uploads store the file and then raise
            ``HelpdeskUnavailable(sent=True)``, like an answer lost after Zoho stored it.
        calls: the operations called, in order.
    """

    def __init__(
        self,
        known_ticket: Callable[[str], bool] | None = None,
        *,
        clock: Clock | None = None,
        max_bytes: int = ZOHO_MAX_BYTES,
        blocked_types: tuple[str, ...] = (),
    ) -> None:
        self.known_ticket = known_ticket or (lambda _: True)
        self.clock = clock or SystemClock()
        self.max_bytes = max_bytes
        self.blocked_types = blocked_types
        self.files: dict[str, list[StoredFile]] = {}
        self.upload_then_fail = 0
        self.calls: list[str] = []
        self._failures: list[Exception] = []
        self._ids = itertools.count(700_000_000_001)

    def __repr__(self) -> str:
        stored = sum(len(found) for found in self.files.values())
        return f"InMemoryAttachments(tickets={len(self.files)}, files={stored})"

    def fail_next(self, error: Exception, times: int = 1) -> None:
        """The next ``times`` calls raise ``error`` and store nothing."""
        self._failures.extend([error] * times)

    def _enter(self, operation: str, ticket_id: str) -> None:
        self.calls.append(operation)
        if self._failures:
            raise self._failures.pop(0)
        if not self.known_ticket(ticket_id):
            raise HelpdeskRejected(f"no ticket {ticket_id}", status=404, code="URL_NOT_FOUND")

    async def upload_attachment(
        self,
        ticket_id: str,
        filename: str,
        content_type: str,
        source: FileSource,
        *,
        is_public: bool = False,
    ) -> TicketAttachment:
        name = attachment_name(filename)
        if source.size <= 0:
            raise AttachmentRejected(f"{name}: the file is empty", reason="empty")
        self._enter("upload_attachment", ticket_id)
        digest, size = hashlib.sha256(), 0
        async for chunk in source.chunks():
            size += len(chunk)
            if size > self.max_bytes:
                raise AttachmentRejected(
                    f"{name}: over {self.max_bytes} bytes",
                    reason="too_large",
                    status=413,
                    code="RESOURCE_SIZE_EXCEEDED",
                )
            digest.update(chunk)
        kind = content_type.split(";")[0].strip().lower()
        extension = name.rpartition(".")[2].lower() if "." in name else ""
        if (extension and extension in self.blocked_types) or kind in self.blocked_types:
            raise AttachmentRejected(
                f"{name}: this type is blocked",
                reason="blocked_type",
                status=415,
                code="UNSUPPORTED_MEDIA_TYPE",
            )
        attachment = TicketAttachment(
            id=str(next(self._ids)),
            ticket_id=ticket_id,
            name=name,
            size=size,
            is_public=is_public,
            created_time=self.clock.now(),
        )
        self.files.setdefault(ticket_id, []).append(
            StoredFile(attachment, kind, digest.hexdigest())
        )
        if self.upload_then_fail > 0:
            self.upload_then_fail -= 1
            raise HelpdeskUnavailable("the upload's answer was lost", status=500, sent=True)
        return attachment

    async def list_attachments(self, ticket_id: str) -> list[TicketAttachment]:
        self._enter("list_attachments", ticket_id)
        return [stored.attachment for stored in self.files.get(ticket_id, [])]


@dataclass(frozen=True, slots=True)
class MemoryFile:
    """A fetched file held in memory (``FetchedFile``)."""

    data: bytes
    content_type: str
    filename: str | None

    def __repr__(self) -> str:
        return f"MemoryFile({self.filename!r}, {self.content_type}, {len(self.data)} bytes)"

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def chunks(self) -> AsyncIterator[bytes]:
        return BytesSource(self.data).chunks()


class InMemoryFetcher:
    """An ``AttachmentFetcher`` over a dict of URLs, for unit tests.

    A URL in ``failures`` raises its error (once per entry in its list, then the file is
    served); a URL not in ``files`` is ``gone``; a file over ``max_bytes`` is ``too_large``;
    a declared type other than the file's is ``bad_content_type``. ``fetched`` lists every
    URL asked for, in order.
    """

    def __init__(self, *, max_bytes: int = ZOHO_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self.files: dict[str, MemoryFile] = {}
        self.failures: dict[str, list[AttachmentFetchError]] = {}
        self.fetched: list[str] = []

    def __repr__(self) -> str:
        return f"InMemoryFetcher(files={len(self.files)}, fetched={len(self.fetched)})"

    def add(
        self,
        url: str,
        data: bytes,
        content_type: str = "application/octet-stream",
        filename: str | None = None,
    ) -> None:
        self.files[url] = MemoryFile(data, content_type, filename)

    def fail(self, url: str, error: AttachmentFetchError, times: int = 1) -> None:
        self.failures.setdefault(url, []).extend([error] * times)

    def fetch(
        self, url: str, *, content_type: str | None = None
    ) -> AbstractAsyncContextManager[MemoryFile]:
        return self._fetch(url, content_type)

    @asynccontextmanager
    async def _fetch(self, url: str, declared: str | None) -> AsyncIterator[MemoryFile]:
        self.fetched.append(url)
        pending = self.failures.get(url)
        if pending:
            raise pending.pop(0)
        found = self.files.get(url)
        if found is None:
            raise AttachmentFetchError("gone", f"{url} answered 404")
        if found.size > self.max_bytes:
            raise AttachmentFetchError("too_large", f"{url} is over {self.max_bytes} bytes")
        wanted = (declared or "").split(";")[0].strip().lower()
        if wanted and wanted != found.content_type:
            raise AttachmentFetchError(
                "bad_content_type", f"{url} is {found.content_type}, the message said {wanted}"
            )
        yield found


class InMemoryAttachmentBlobs:
    """The ``AttachmentBlobs`` port in this process's memory (the store without Redis)."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}

    def __repr__(self) -> str:
        return f"InMemoryAttachmentBlobs(blobs={len(self.blobs)})"

    async def put(self, blob_id: str, chunks: AsyncIterator[bytes], ttl: float) -> int:
        data = b"".join([chunk async for chunk in chunks])
        self.blobs[blob_id] = data
        return len(data)

    async def open(self, blob_id: str) -> FileSource | None:
        data = self.blobs.get(blob_id)
        return None if data is None else BytesSource(data)

    async def delete(self, blob_ids: Sequence[str]) -> None:
        for blob_id in blob_ids:
            self.blobs.pop(blob_id, None)


class InMemoryAttachmentWork:
    """The ``AttachmentWork`` port over the in-memory store's job list (``jobs``, which its
    ``complete`` appends to), with the Redis queue's hand-out rules."""

    def __init__(self, clock: Clock, jobs: list[AttachmentJob]) -> None:
        self._clock = clock
        self.jobs = jobs
        self._held: dict[str, tuple[str, float]] = {}  # entry → (consumer, handed out at)
        self._progress: dict[str, dict[str, str]] = {}

    def __repr__(self) -> str:
        return f"InMemoryAttachmentWork(jobs={len(self.jobs)}, held={len(self._held)})"

    async def claim(self, consumer: str, count: int, min_idle: float) -> list[AttachmentJob]:
        now = self._clock.monotonic()
        taken: list[AttachmentJob] = []
        for job in list(self.jobs):
            if len(taken) >= count:
                break
            held = self._held.get(job.entry_id)
            if held is None or held[0] == consumer or now - held[1] >= min_idle:
                self._held[job.entry_id] = (consumer, now)
                taken.append(job)
        return taken

    async def ack(self, entry_id: str) -> None:
        self._held.pop(entry_id, None)
        self.jobs[:] = [job for job in self.jobs if job.entry_id != entry_id]

    async def progress(self, key: str) -> dict[str, str]:
        return dict(self._progress.get(key, {}))

    async def record(self, key: str, fields: Mapping[str, str]) -> None:
        kept = self._progress.setdefault(key, {})
        for name, value in fields.items():
            if value == "":
                kept.pop(name, None)
            else:
                kept[name] = value

    async def backlog(self) -> int:
        return len(self.jobs)
