"""A ticket's attachments and temporary uploads, as ``TicketAttachment.json`` and
``Upload.json`` describe them: the multipart intake (streamed, never more than the size limit
plus one byte of a file read), the refusals (too large, a blocked type) and the records.

OAS findings (``zoho/zohodesk-oas`` ``v1.0``):
- ``POST /tickets/{ticketId}/attachments``: query ``isPublic`` (boolean) only; body
  ``multipart/form-data`` with ``file`` (binary) required and ``additionalProperties: false``;
  scope ``Desk.tickets.UPDATE``; 200 ``attachmentResponse`` (``id, name, size, href,
  previewurl, isPublic, creatorId, createdTime``, all required, ``name`` ≤ 100) or 422.
- ``GET`` the same path: ``include`` (``creator``), ``limit`` 1–100, ``isPublic``, ``from``,
  ``sortBy`` ``-?createdTime``; scope ``Desk.tickets.READ``; 200 ``{"data": [...]}`` or 204.
- ``DELETE /tickets/{ticketId}/attachments/{attachmentId}``: ``Desk.tickets.UPDATE``; 200
  with no body (``emptyResponse``), 403.
- ``POST /uploads``: ``Desk.basic.CREATE``; the same ``file``-only body; 200 with ``id,
  name, size, href, previewurl, creatorId, createdTime`` (the example adds ``isPublic``).
- ``Common.json`` ``errorJson.errorCode`` lists ``RESOURCE_SIZE_EXCEEDED`` and
  ``UNSUPPORTED_MEDIA_TYPE`` between ``METHOD_NOT_ALLOWED`` (405) and ``INVALID_DATA``
  (422), in HTTP status order: 413 and 415 here (the statuses are unconfirmed; a client
  must go by the ``errorCode``).
Unconfirmed and chosen strict: an empty file, a part without a filename, a name over 100
characters and a second ``file`` part are 422 ``INVALID_DATA`` on ``/file``.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import multipart

from zoho_desk_emulator.desk import Desk
from zoho_desk_emulator.errors import DeskError, FieldError, invalid_data
from zoho_desk_emulator.faults import Faults
from zoho_desk_emulator.records import zoho_time
from zoho_desk_emulator.sandbox import SANDBOX_AGENT_ID

NAME_MAX: Final = 100  # attachmentResponse.name maxLength
# what a multipart body may carry beside the file itself (boundaries, part headers)
ENVELOPE_MAX: Final = 64 * 1024


@dataclass(frozen=True, slots=True)
class ReceivedFile:
    """The one ``file`` part of an upload: its name, type, size and digest (not its bytes)."""

    name: str
    content_type: str
    size: int
    sha256: str


@dataclass(slots=True)
class AttachmentRecord:
    """A file attached to a ticket, or a temporary upload (``ticket_id`` None)."""

    id: str
    org_id: str
    ticket_id: str | None
    file: ReceivedFile
    is_public: bool
    creator_id: str
    created_time: datetime
    base_url: str

    def href(self) -> str:
        if self.ticket_id is None:
            return f"{self.base_url}/api/v1/uploads/{self.id}/contents"
        return f"{self.base_url}/api/v1/tickets/{self.ticket_id}/attachments/{self.id}/content"

    def as_zoho(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.file.name,
            "size": str(self.file.size),
            "href": self.href(),
            "previewurl": self.href() + "?inline=true",
            "isPublic": self.is_public,
            "creatorId": self.creator_id,
            "createdTime": zoho_time(self.created_time),
        }

    def as_control(self) -> dict[str, Any]:
        """The control API's view: what Zoho shows plus the type and the bytes' digest."""
        return {
            **self.as_zoho(),
            "ticketId": self.ticket_id,
            "orgId": self.org_id,
            "contentType": self.file.content_type,
            "sha256": self.file.sha256,
        }


def _file_error(message: str, error_type: str = "invalid") -> DeskError:
    return invalid_data(FieldError("/file", error_type, message))


def too_large(limit: int) -> DeskError:
    return DeskError(
        413,
        "RESOURCE_SIZE_EXCEEDED",
        f"The file exceeds the maximum size allowed ({limit} bytes).",
    )


async def receive_file(
    content_type: str | None,
    content_length: str | None,
    chunks: AsyncIterator[bytes],
    faults: Faults,
) -> ReceivedFile:
    """Read a multipart body holding exactly one part, ``file``, hashing it as it comes.

    Stops reading once the file passes ``faults.upload_max_bytes`` (413
    ``RESOURCE_SIZE_EXCEEDED``), or the body passes it plus ``ENVELOPE_MAX``; a declared
    ``Content-Length`` over that is refused before anything is read.
    """
    limit = faults.upload_max_bytes
    kind, options = multipart.parse_options_header(content_type or "")
    boundary = options.get("boundary")
    if kind != "multipart/form-data" or not boundary:
        raise _file_error("the body is multipart/form-data with one part named file", "missing")
    if content_length and content_length.isdigit() and int(content_length) > limit + ENVELOPE_MAX:
        raise too_large(limit)
    parser = multipart.PushMultipartParser(boundary, max_segment_count=8)
    received: ReceivedFile | None = None
    current: multipart.MultipartSegment | None = None
    digest = hashlib.sha256()
    size = body_read = 0
    try:
        async for chunk in chunks:
            if not chunk:
                continue
            body_read += len(chunk)
            if body_read > limit + ENVELOPE_MAX:
                raise too_large(limit)
            for event in parser.parse(chunk):
                if isinstance(event, multipart.MultipartSegment):
                    current = _check_part(event, received)
                    digest, size = hashlib.sha256(), 0
                elif event is None:
                    assert current is not None
                    received = _finish(current, size, digest.hexdigest())
                    current = None
                else:
                    size += len(event)
                    if size > limit:
                        raise too_large(limit)
                    digest.update(event)
        for _ in parser.parse(b""):
            pass
    except multipart.ParserError as error:
        raise _file_error(f"the multipart body is malformed: {error}") from None
    if received is None:
        raise _file_error("the file part is missing", "missing")
    _check_type(received, faults.blocked_file_types)
    return received


def _check_part(
    segment: multipart.MultipartSegment, received: ReceivedFile | None
) -> multipart.MultipartSegment:
    if segment.name != "file":
        # additionalProperties: false
        raise invalid_data(
            FieldError(f"/{segment.name}", "invalid", "only the file part is accepted")
        )
    if received is not None:
        raise _file_error("exactly one file part is accepted")
    if not segment.filename:
        raise _file_error("the file part has no filename")
    if len(segment.filename) > NAME_MAX:
        raise _file_error(f"the file name is longer than {NAME_MAX} characters")
    return segment


def _finish(segment: multipart.MultipartSegment, size: int, sha256: str) -> ReceivedFile:
    if size == 0:
        raise _file_error("the file is empty")
    kind = (segment.content_type or "application/octet-stream").split(";")[0].strip().lower()
    return ReceivedFile(str(segment.filename), kind, size, sha256)


def _check_type(received: ReceivedFile, blocked: tuple[str, ...]) -> None:
    extension = received.name.rpartition(".")[2].lower() if "." in received.name else ""
    if (extension and extension in blocked) or received.content_type in blocked:
        raise DeskError(
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            f"Files of this type ({extension or received.content_type}) cannot be attached.",
        )


class Attachments:
    """The attachments of one emulated account's tickets, and its temporary uploads."""

    def __init__(self, desk: Desk) -> None:
        self.desk = desk
        self.records: dict[str, AttachmentRecord] = {}
        self.uploads: dict[str, AttachmentRecord] = {}

    def __repr__(self) -> str:
        return f"Attachments(attached={len(self.records)}, uploads={len(self.uploads)})"

    def ticket_id(self, org_id: str, ticket_id: str) -> str:
        """The ticket's id, or 404 ``URL_NOT_FOUND`` like every ticket route."""
        return self.desk.get_ticket(org_id, ticket_id).id

    def attach(
        self, org_id: str, ticket_id: str, file: ReceivedFile, *, is_public: bool, base_url: str
    ) -> AttachmentRecord:
        ticket = self.desk.get_ticket(org_id, ticket_id)
        now = self.desk.now()
        record = AttachmentRecord(
            self.desk.new_id(), org_id, ticket.id, file, is_public, SANDBOX_AGENT_ID, now, base_url
        )
        self.records[record.id] = record
        ticket.touch(now)
        return record

    def upload(self, org_id: str, file: ReceivedFile, *, base_url: str) -> AttachmentRecord:
        now = self.desk.now()
        record = AttachmentRecord(
            self.desk.new_id(), org_id, None, file, False, SANDBOX_AGENT_ID, now, base_url
        )
        self.uploads[record.id] = record
        return record

    def of_ticket(self, ticket_id: str) -> list[AttachmentRecord]:
        """A ticket's attachments, oldest first (any portal: for the control API)."""
        return sorted(
            (r for r in self.records.values() if r.ticket_id == ticket_id),
            key=lambda r: (r.created_time, int(r.id)),
        )

    def listing(
        self, org_id: str, ticket_id: str, params: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        """``GET /tickets/{id}/attachments``: oldest first unless ``sortBy=-createdTime``."""
        found = self.of_ticket(self.ticket_id(org_id, ticket_id))
        if "isPublic" in params:
            wanted = params["isPublic"] == "true"
            found = [r for r in found if r.is_public == wanted]
        if params.get("sortBy", "").startswith("-"):
            found.reverse()
        start = int(params.get("from", "0"))
        limit = int(params.get("limit", "100"))
        page = found[start : start + limit]
        with_creator = "creator" in params.get("include", "")
        return [r.as_zoho() | ({"creator": _creator()} if with_creator else {}) for r in page]

    def delete(self, org_id: str, ticket_id: str, attachment_id: str) -> None:
        ticket = self.ticket_id(org_id, ticket_id)
        record = self.records.get(attachment_id)
        if record is None or record.ticket_id != ticket or record.org_id != org_id:
            raise DeskError(404, "URL_NOT_FOUND", "The URL you requested could not be found.")
        del self.records[attachment_id]


def _creator() -> dict[str, Any]:
    # listAllAttachmentResponse data[].creator: exactly these five properties
    return {
        "id": SANDBOX_AGENT_ID,
        "firstName": "Sandbox",
        "lastName": "Agent",
        "email": "agent@sandbox.invalid",
        "photoURL": None,
    }
