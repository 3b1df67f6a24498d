"""The Zoho Desk calls for a ticket's attachments (``TicketAttachment.json``): upload one as a
streamed multipart body, list them; and the bytes sources an upload reads from."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, Final, TypeVar
from urllib.parse import quote

import msgspec

from ticketing.adapters.attachments.sources import BytesSource, FileObjectSource
from ticketing.adapters.zoho_desk.wire import (
    WireBool,
    WireCount,
    WireId,
    WireTime,
    parse_time,
    to_bool,
    to_count,
    to_id,
)
from ticketing.domain.attachments import (
    ZOHO_MAX_BYTES,
    AttachmentRejected,
    FileSource,
    RefusalReason,
    TicketAttachment,
    attachment_name,
)
from ticketing.domain.errors import HelpdeskRejected

T = TypeVar("T")

__all__ = ["AttachmentCalls", "BytesSource", "FileObjectSource", "WireAttachment"]

# TicketAttachment.json GET: limit 1 to 100
LIST_LIMIT: Final = 100
# Common.json errorJson codes that refuse the file itself (statuses unconfirmed: 413, 415)
_REFUSALS: Final[dict[str, RefusalReason]] = {
    "RESOURCE_SIZE_EXCEEDED": "too_large",
    "UNSUPPORTED_MEDIA_TYPE": "blocked_type",
}
_TOKEN: Final = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz")


class WireAttachment(msgspec.Struct, kw_only=True, rename="camel"):
    """attachmentResponse: ``id, name, size, href, previewurl, isPublic, creatorId,
    createdTime`` (size as a numeric string)."""

    id: WireId
    name: str | None = None
    size: WireCount = None
    href: str | None = None
    is_public: WireBool = None
    created_time: WireTime = None

    def to_domain(self, ticket_id: str) -> TicketAttachment:
        return TicketAttachment(
            id=str(to_id(self.id)),
            ticket_id=ticket_id,
            name=self.name or "",
            size=to_count(self.size) or 0,
            is_public=to_bool(self.is_public),
            href=self.href,
            created_time=parse_time(self.created_time),
        )


def _quoted(value: str) -> str:
    # What browsers (and httpx) do in a multipart header: UTF-8, with '"' and newlines escaped
    return value.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def media_type(content_type: str | None) -> str:
    """A ``type/subtype`` fit for a part header, or ``application/octet-stream``."""
    kind = (content_type or "").split(";")[0].strip().lower()
    main, slash, sub = kind.partition("/")
    if slash and main and sub and set(main) <= _TOKEN and set(sub) <= _TOKEN:
        return kind
    return "application/octet-stream"


def multipart_file(
    filename: str, content_type: str, source: FileSource, *, boundary: str | None = None
) -> Callable[[], tuple[dict[str, str], AsyncIterator[bytes]]]:
    """A ``multipart/form-data`` body with one part, ``file``, streamed from ``source``, with
    its exact ``Content-Length`` (no chunked encoding); made afresh on each call."""
    mark = boundary or secrets.token_hex(16)
    head = (
        f"--{mark}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{_quoted(filename)}"\r\n'
        f"Content-Type: {media_type(content_type)}\r\n\r\n"
    ).encode()
    tail = f"\r\n--{mark}--\r\n".encode()
    headers = {
        "Content-Type": f"multipart/form-data; boundary={mark}",
        "Content-Length": str(len(head) + source.size + len(tail)),
    }

    async def body() -> AsyncIterator[bytes]:
        yield head
        async for chunk in source.chunks():
            yield chunk
        yield tail

    return lambda: (dict(headers), body())


def _ticket(ticket_id: str) -> str:
    return f"/tickets/{quote(ticket_id, safe='')}/attachments"


class AttachmentCalls:
    """A ticket's attachments, mixed into ``ZohoDeskClient`` (its ``_call`` and error
    mapping). ``max_bytes``: the largest file sent (Zoho's 20 MB); larger ones are refused
    here without a call. ``upload_timeout``: the read and write timeout of an upload (None:
    the client's own, ``ZOHO_TIMEOUT``); keep it within the attempt's time budget."""

    max_bytes: int = ZOHO_MAX_BYTES
    upload_timeout: float | None = None

    if TYPE_CHECKING:

        async def _call(
            self,
            method: str,
            path: str,
            operation: str,
            *,
            params: dict[str, str | int] | None = None,
            json: dict[str, Any] | None = None,
            org: bool = True,
            read_timeout: float | None = None,
            stream: Callable[[], tuple[dict[str, str], AsyncIterator[bytes]]] | None = None,
        ) -> bytes | None: ...

        @staticmethod
        def _items(content: bytes | None, kind: type[T]) -> list[T]: ...

        @staticmethod
        def _one(content: bytes | None, kind: type[T], *, sent: bool) -> T: ...

    async def upload_attachment(
        self,
        ticket_id: str,
        filename: str,
        content_type: str,
        source: FileSource,
        *,
        is_public: bool = False,
    ) -> TicketAttachment:
        """``POST /tickets/{id}/attachments?isPublic=`` with one multipart part, ``file``.

        The name is made fit (``attachment_name``: at most 100 characters). A read timeout
        or a 5xx is ``HelpdeskUnavailable(sent=True)``: the file may be there, look with
        :meth:`list_attachments` (``same_file``) before sending it again.

        Raises:
            AttachmentRejected: ``too_large`` (over ``max_bytes``, or Zoho's
                ``RESOURCE_SIZE_EXCEEDED``), ``blocked_type`` (``UNSUPPORTED_MEDIA_TYPE``),
                ``empty`` (no bytes: refused before sending).
        """
        name = attachment_name(filename)
        if source.size <= 0:
            raise AttachmentRejected(f"{name}: the file is empty", reason="empty")
        if source.size > self.max_bytes:
            raise AttachmentRejected(
                f"{name}: {source.size} bytes is over Zoho Desk's {self.max_bytes}",
                reason="too_large",
            )
        try:
            content = await self._call(
                "POST",
                _ticket(ticket_id),
                "upload_attachment",
                params={"isPublic": "true" if is_public else "false"},
                read_timeout=self.upload_timeout,
                stream=multipart_file(name, content_type, source),
            )
        except HelpdeskRejected as error:
            reason = _REFUSALS.get(error.code or "")
            if reason is None:
                raise
            raise AttachmentRejected(
                f"{name}: {error.message}", reason=reason, status=error.status, code=error.code
            ) from error
        return self._one(content, WireAttachment, sent=True).to_domain(ticket_id)

    async def list_attachments(self, ticket_id: str) -> list[TicketAttachment]:
        """Every file on the ticket, oldest first: pages of 100 (about 3 credits each)."""
        found: list[TicketAttachment] = []
        start = 0
        while True:
            content = await self._call(
                "GET",
                _ticket(ticket_id),
                "list_attachments",
                params={"from": start, "limit": LIST_LIMIT, "sortBy": "createdTime"},
            )
            page = self._items(content, WireAttachment)
            found.extend(a.to_domain(ticket_id) for a in page)
            if len(page) < LIST_LIMIT:
                return found
            start += len(page)
