"""Zoho's wire formats for the two-way sync (``Thread.json``, ``TicketComment.json``,
``Conversation.json``, ``Ticket.json``, ``Webhook.json``) as lenient msgspec Structs, their
domain conversions, and the request bodies the sync sends."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import msgspec

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
from ticketing.domain.conversation import (
    Attachment,
    Author,
    Comment,
    Thread,
    TicketState,
    WebhookEvent,
    WebhookSubscription,
)

# TicketComment.json addCommentPayload.content
COMMENT_MAX: Final = 32000
# Webhook.json: the create's url is at most 500 characters, the update's at most 100
WEBHOOK_URL_MAX: Final = 500
WEBHOOK_UPDATE_URL_MAX: Final = 100
# What the sync subscribes to: agents' (outgoing) threads, comments, and status changes
# with the state before (Zoho has no status event: a Ticket_Update filtered on "status").
SYNC_SUBSCRIPTIONS: Final[Mapping[str, Any]] = {
    "Ticket_Thread_Add": {"direction": "out"},
    "Ticket_Comment_Add": None,
    "Ticket_Update": {"fields": ["status"], "includePrevState": True},
}


class WirePerson(msgspec.Struct, kw_only=True, rename="camel"):
    """A thread's ``author`` or a comment's ``commenter``. ``type`` is a string, though one
    of Zoho's examples has it as a one-element list."""

    id: WireId | None = None
    name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    type: str | list[str] | None = None

    def to_domain(self) -> Author:
        kind = self.type[0] if isinstance(self.type, list) and self.type else self.type
        name = self.name or " ".join(p for p in (self.first_name, self.last_name) if p)
        return Author(
            id=to_id(self.id),
            name=name,
            type=kind if isinstance(kind, str) else None,
            email=self.email or None,
        )


_NOBODY: Final = WirePerson()


class WireAttachment(msgspec.Struct, kw_only=True):
    id: WireId | None = None
    name: str | None = None
    size: WireCount = None
    href: str | None = None

    def to_domain(self) -> Attachment:
        return Attachment(
            id=to_id(self.id), name=self.name or "", size=to_count(self.size), url=self.href
        )


class WireThread(msgspec.Struct, kw_only=True, rename="camel"):
    """A thread as listed (a summary) or fetched (``content``, ``plainText``)."""

    id: WireId
    ticket_id: WireId | None = None
    direction: str | None = None
    visibility: str | None = None
    status: str | None = None
    channel: str | None = None
    author: WirePerson | None = None
    created_time: WireTime = None
    is_description_thread: WireBool = None
    summary: str | None = None
    content: str | None = None
    plain_text: str | None = None
    attachments: list[WireAttachment] | None = None

    def to_domain(self, ticket_id: str) -> Thread:
        return Thread(
            id=str(to_id(self.id)),
            ticket_id=to_id(self.ticket_id) or ticket_id,
            direction=self.direction,
            visibility=self.visibility,
            status=self.status,
            channel=self.channel,
            author=(self.author or _NOBODY).to_domain(),
            created_time=parse_time(self.created_time),
            is_description=to_bool(self.is_description_thread),
            summary=self.summary,
            content=self.content,
            plain_text=self.plain_text,
            attachments=tuple(a.to_domain() for a in self.attachments or ()),
        )


class WireComment(msgspec.Struct, kw_only=True, rename="camel"):
    id: WireId | None = None
    ticket_id: WireId | None = None
    content: str | None = None
    content_type: str | None = None
    plain_text: str | None = None
    is_public: WireBool = None
    commenter_id: WireId | None = None
    commenter: WirePerson | None = None
    commented_time: WireTime = None
    attachments: list[WireAttachment] | None = None

    def to_domain(self, ticket_id: str) -> Comment:
        author = (self.commenter or WirePerson(id=self.commenter_id)).to_domain()
        if author.id is None and self.commenter_id is not None:
            author = Author(to_id(self.commenter_id), author.name, author.type, author.email)
        plain = self.plain_text
        if plain is None and (self.content_type or "").lower() == "plaintext":
            plain = self.content
        return Comment(
            id=str(to_id(self.id) or ""),
            ticket_id=to_id(self.ticket_id) or ticket_id,
            content=self.content or "",
            content_type=self.content_type,
            is_public=to_bool(self.is_public),
            author=author,
            created_time=parse_time(self.commented_time),
            plain_text=plain,
            attachments=tuple(a.to_domain() for a in self.attachments or ()),
        )


class WireConversation(msgspec.Struct, kw_only=True, rename="camel"):
    """An item of ``GET /conversations``: a thread or a comment, told apart by ``type``
    (the fields of both; each is read as its own kind)."""

    type: str | None = None
    id: WireId | None = None
    direction: str | None = None
    visibility: str | None = None
    status: str | None = None
    channel: str | None = None
    author: WirePerson | None = None
    created_time: WireTime = None
    is_description_thread: WireBool = None
    summary: str | None = None
    content: str | None = None
    content_type: str | None = None
    plain_text: str | None = None
    is_public: WireBool = None
    commenter_id: WireId | None = None
    commenter: WirePerson | None = None
    commented_time: WireTime = None
    attachments: list[WireAttachment] | None = None

    def item(self, ticket_id: str) -> Thread | Comment:
        if (self.type or "").lower() == "comment":
            comment = msgspec.convert(self, WireComment, from_attributes=True)
            return comment.to_domain(ticket_id)
        return msgspec.convert(self, WireThread, from_attributes=True).to_domain(ticket_id)


class WireTicketState(msgspec.Struct, kw_only=True, rename="camel"):
    id: WireId
    ticket_number: WireId | None = None
    status: str | None = None
    status_type: str | None = None
    modified_time: WireTime = None
    closed_time: WireTime = None
    department_id: WireId | None = None
    contact_id: WireId | None = None

    def to_domain(self) -> TicketState:
        return TicketState(
            id=str(to_id(self.id)),
            ticket_number=to_id(self.ticket_number) or "",
            status=self.status,
            status_type=self.status_type,
            modified_time=parse_time(self.modified_time),
            closed_time=parse_time(self.closed_time),
            department_id=to_id(self.department_id),
            contact_id=to_id(self.contact_id),
        )


class WireWebhook(msgspec.Struct, kw_only=True, rename="camel"):
    id: WireId
    url: str | None = None
    name: str | None = None
    description: str | None = None
    subscriptions: dict[str, Any] | None = None
    is_enabled: WireBool = None
    created_time: WireTime = None

    def to_domain(self) -> WebhookSubscription:
        return WebhookSubscription(
            id=str(to_id(self.id)),
            url=self.url or "",
            subscriptions=dict(self.subscriptions or {}),
            enabled=to_bool(self.is_enabled, default=True),
            name=self.name,
            description=self.description,
            created_time=parse_time(self.created_time),
        )


def webhook_body(
    subscriptions: Mapping[str, Any],
    *,
    url: str | None = None,
    name: str | None = None,
    description: str | None = None,
    enabled: bool | None = None,
) -> dict[str, Any]:
    """The JSON for ``POST /webhooks`` (``url`` given) or ``PATCH /webhooks/{id}``:
    ``subscriptions`` always (the update requires it too), the rest when given."""
    body: dict[str, Any] = {"subscriptions": {k: v for k, v in subscriptions.items()}}
    if url is not None:
        body["url"] = url
    if name is not None:
        body["name"] = name
    if description is not None:
        body["description"] = description
    if enabled is not None:
        body["isEnabled"] = enabled
    return body


# the events whose payload is the ticket itself (the others carry a ticketId)
_TICKET_EVENTS: Final = frozenset({"Ticket_Add", "Ticket_Update", "Ticket_Delete"})


class WireEvent(msgspec.Struct, kw_only=True, rename="camel"):
    """One element of a delivery's array (facts page: ``eventType``, ``eventTime`` in epoch
    milliseconds, ``orgId``, ``payload``, ``prevState`` when asked for)."""

    event_type: str
    event_time: WireTime = None
    org_id: WireId | None = None
    payload: dict[str, Any] | None = None
    prev_state: dict[str, Any] | None = None

    def to_domain(self) -> WebhookEvent:
        payload = self.payload or {}
        previous = self.prev_state or {}
        ticket_events = self.event_type in _TICKET_EVENTS
        resource = to_id(payload.get("id"))
        return WebhookEvent(
            event_type=self.event_type,
            org_id=to_id(self.org_id),
            ticket_id=resource if ticket_events else to_id(payload.get("ticketId")),
            resource_id=resource,
            event_time=parse_time(self.event_time),
            status=payload.get("status") if ticket_events else None,
            previous_status=previous.get("status") if ticket_events else None,
        )


def decode_delivery(body: bytes) -> list[WebhookEvent]:
    """A webhook delivery's events: a JSON array (any number; one object is read as one).
    Raises ``msgspec.DecodeError`` when the body is neither."""
    try:
        events = msgspec.json.decode(body, type=list[WireEvent])
    except msgspec.ValidationError:
        events = [msgspec.json.decode(body, type=WireEvent)]
    return [e.to_domain() for e in events]
