"""The wire form of drafts and created events: one msgspec codec shared by every store."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Final

import msgspec

from ticketing.domain.attachments import AttachmentSpec
from ticketing.domain.model import Customer, Priority, Source, TicketCreated, TicketDraft

# Decoding insists on an offset: a naive time in a queue entry is ambiguous, so it is bad data.
UtcDatetime = Annotated[datetime, msgspec.Meta(tz=True)]


class PayloadError(ValueError):
    """A payload that does not decode into what it should.

    Attributes:
        field: The offending field as a dotted path (``customer.email``), or None when the
            payload is not even well-formed JSON.
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class CustomerWire(msgspec.Struct, frozen=True):
    """A :class:`~ticketing.domain.model.Customer` on the wire."""

    name: str | None = None
    email: str | None = None
    phone: str | None = None


class AttachmentWire(msgspec.Struct, frozen=True, omit_defaults=True):
    """An :class:`~ticketing.domain.attachments.AttachmentSpec` on the wire (in a draft, in
    an attachment job)."""

    filename: str
    content_type: str | None = None
    size: int | None = None
    url: str | None = None
    blob: str | None = None


class DraftWire(msgspec.Struct, frozen=True):
    """A :class:`~ticketing.domain.model.TicketDraft` on the wire (queue entries, ledger)."""

    key: str
    request_id: str
    subject: str
    description: str
    priority: Priority
    customer: CustomerWire
    source: Source
    received_at: UtcDatetime
    category: str | None = None
    channel: str | None = None
    contact_id: str | None = None
    department_id: str | None = None
    incident_id: str | None = None
    ticket_id: str | None = None
    conversation_id: str | None = None
    # Absent when there are none (drafts without files encode as they always did).
    attachments: list[AttachmentWire] | msgspec.UnsetType = msgspec.UNSET


class CreatedEventWire(msgspec.Struct, frozen=True, omit_defaults=True):
    """The created event, field for field as the service contract publishes it; a follow-up
    appended to an open ticket adds ``"status": "appended"`` and its ``comment_id``."""

    request_id: str
    incident_id: str | None
    ticket_id: str
    ticket_number: str
    contact_id: str | None
    web_url: str | None
    created_at: UtcDatetime
    source: Source
    status: str | msgspec.UnsetType = msgspec.UNSET
    comment_id: str | msgspec.UnsetType = msgspec.UNSET


_encoder = msgspec.json.Encoder()
_draft_decoder = msgspec.json.Decoder(DraftWire)
_event_decoder = msgspec.json.Decoder(CreatedEventWire)


def utc(value: datetime) -> datetime:
    """The same instant in UTC; a naive value is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def format_datetime(value: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``, the form every stored time takes."""
    return utc(value).isoformat().replace("+00:00", "Z")


def parse_datetime(text: str) -> datetime:
    """Read back what :func:`format_datetime` wrote (any ISO 8601 with an offset)."""
    return utc(datetime.fromisoformat(text))


def encode_draft(draft: TicketDraft) -> bytes:
    """The JSON of a draft, as the pending queue, the ledger and the dead letters hold it."""
    c = draft.customer
    wire = DraftWire(
        key=draft.key,
        request_id=draft.request_id,
        subject=draft.subject,
        description=draft.description,
        priority=draft.priority,
        customer=CustomerWire(name=c.name, email=c.email, phone=c.phone),
        source=draft.source,
        received_at=utc(draft.received_at),
        category=draft.category,
        channel=draft.channel,
        contact_id=draft.contact_id,
        department_id=draft.department_id,
        incident_id=draft.incident_id,
        ticket_id=draft.ticket_id,
        conversation_id=draft.conversation_id,
        attachments=[attachment_wire(a) for a in draft.attachments] or msgspec.UNSET,
    )
    return _encoder.encode(wire)


def decode_draft(data: bytes | str) -> TicketDraft:
    """A draft from its JSON.

    Raises:
        PayloadError: the payload is not JSON or a field is missing or of the wrong type.
    """
    try:
        w = _draft_decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise _payload_error(exc) from exc
    return TicketDraft(
        key=w.key,
        request_id=w.request_id,
        subject=w.subject,
        description=w.description,
        priority=w.priority,
        customer=Customer(name=w.customer.name, email=w.customer.email, phone=w.customer.phone),
        source=w.source,
        received_at=utc(w.received_at),
        category=w.category,
        channel=w.channel,
        contact_id=w.contact_id,
        department_id=w.department_id,
        incident_id=w.incident_id,
        ticket_id=w.ticket_id,
        conversation_id=w.conversation_id,
        attachments=attachment_specs(w.attachments),
    )


def attachment_wire(spec: AttachmentSpec) -> AttachmentWire:
    return AttachmentWire(
        filename=spec.filename,
        content_type=spec.content_type,
        size=spec.size,
        url=spec.url,
        blob=spec.blob,
    )


def attachment_specs(
    wires: list[AttachmentWire] | msgspec.UnsetType,
) -> tuple[AttachmentSpec, ...]:
    if isinstance(wires, msgspec.UnsetType):
        return ()
    return tuple(
        AttachmentSpec(w.filename, w.content_type, w.size, url=w.url, blob=w.blob) for w in wires
    )


_attachments_decoder = msgspec.json.Decoder(list[AttachmentWire])


def encode_attachments(specs: tuple[AttachmentSpec, ...]) -> bytes:
    """The JSON array of a job's files."""
    return _encoder.encode([attachment_wire(a) for a in specs])


def decode_attachments(data: bytes | str) -> tuple[AttachmentSpec, ...]:
    """A job's files from their JSON array.

    Raises:
        PayloadError: not such an array.
    """
    try:
        return attachment_specs(_attachments_decoder.decode(data))
    except msgspec.DecodeError as exc:
        raise _payload_error(exc) from exc


def encode_event(event: TicketCreated) -> bytes:
    """The created event's JSON, exactly the contract's fields."""
    wire = CreatedEventWire(
        request_id=event.request_id,
        incident_id=event.incident_id,
        ticket_id=event.ticket_id,
        ticket_number=event.ticket_number,
        contact_id=event.contact_id,
        web_url=event.web_url,
        created_at=utc(event.created_at),
        source=event.source,
    )
    if event.status != "created":
        wire = msgspec.structs.replace(
            wire, status=event.status, comment_id=event.comment_id or msgspec.UNSET
        )
    return _encoder.encode(wire)


def decode_event(data: bytes | str) -> TicketCreated:
    """A created event from its JSON (for subscribers and tests).

    Raises:
        PayloadError: the payload is not a created event.
    """
    try:
        w = _event_decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise _payload_error(exc) from exc
    return TicketCreated(
        request_id=w.request_id,
        incident_id=w.incident_id,
        ticket_id=w.ticket_id,
        ticket_number=w.ticket_number,
        contact_id=w.contact_id,
        web_url=w.web_url,
        created_at=utc(w.created_at),
        source=w.source,
        status=w.status if isinstance(w.status, str) else "created",
        comment_id=w.comment_id if isinstance(w.comment_id, str) else None,
    )


_AT = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_MISSING = re.compile(r"missing required field `(?P<name>[^`]+)`")


def _payload_error(exc: msgspec.DecodeError) -> PayloadError:
    """Turn msgspec's message ("Expected `str`, got `int` - at `$.customer.email`") into a
    PayloadError whose ``field`` is the dotted path, so a dead letter says what was wrong."""
    text = str(exc)
    if not isinstance(exc, msgspec.ValidationError):
        return PayloadError(f"payload is not valid JSON: {text}")
    path = ""
    at = _AT.search(text)
    if at:
        path = at.group("path").lstrip(".")
        text = text[: at.start()]
    missing = _MISSING.search(text)
    if missing:
        path = f"{path}.{missing.group('name')}" if path else missing.group("name")
    field = path or None
    return PayloadError(f"{field or 'payload'}: {text}", field)


# A dead letter keeps its payload whole up to the inbound message limit; beyond it the payload
# is cut (with a note in the reason), so one letter costs at most about this much.
DEAD_PAYLOAD_BYTES: Final = 256 * 1024


def cut_payload(payload: str, reason: str, limit: int) -> tuple[str, str]:
    """The payload whole when it fits in ``limit`` bytes (UTF-8); otherwise its first
    ``limit`` bytes (whole characters), with a note saying so appended to the reason."""
    data = payload.encode()
    if len(data) <= limit:
        return payload, reason
    kept = data[:limit].decode("utf-8", "ignore")
    return kept, f"{reason} (payload cut to its first {limit} of {len(data)} bytes)"
