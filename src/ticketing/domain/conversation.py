"""A ticket's conversation as the helpdesk reports it (threads, comments, status) and the
webhook subscriptions that announce changes: the two-way sync's value types."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Author:
    """Who wrote a thread or a comment; ``type`` is the helpdesk's (``AGENT``, ``END_USER``)."""

    id: str | None
    name: str
    type: str | None = None
    email: str | None = None

    @property
    def is_agent(self) -> bool:
        return (self.type or "").upper() == "AGENT"


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file on a thread or comment; ``url`` needs the helpdesk's token to download."""

    id: str | None
    name: str
    size: int | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Download:
    """A file coming from the helpdesk, headers read, body not yet: read ``chunks`` once,
    then ``close`` (also when the reading stops early). ``size`` when the helpdesk said it."""

    content_type: str
    size: int | None
    chunks: AsyncIterator[bytes]
    close: Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Thread:
    """One message of a ticket: ``direction`` in (the customer's) or out (an agent's);
    ``content`` (HTML) and ``plain_text`` only when the thread was fetched on its own."""

    id: str
    ticket_id: str
    direction: str | None
    visibility: str | None
    status: str | None
    channel: str | None
    author: Author
    created_time: datetime | None = None
    is_description: bool = False
    summary: str | None = None
    content: str | None = None
    plain_text: str | None = None
    attachments: tuple[Attachment, ...] = ()

    @property
    def is_public_agent_reply(self) -> bool:
        """An agent's answer the customer was sent: outgoing, public, sent successfully
        (drafts, pending and failed sends are outgoing too)."""
        return (
            self.direction == "out"
            and self.visibility == "public"
            and (self.status or "").upper() == "SUCCESS"
        )


@dataclass(frozen=True, slots=True)
class Comment:
    """A comment on a ticket; ``plain_text`` is the text whatever ``content_type`` is."""

    id: str
    ticket_id: str
    content: str
    content_type: str | None
    is_public: bool
    author: Author
    created_time: datetime | None = None
    plain_text: str | None = None
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True, slots=True)
class TicketState:
    """What the sync watches on a ticket: its status and when it last changed."""

    id: str
    ticket_number: str
    status: str | None
    status_type: str | None = None
    modified_time: datetime | None = None
    closed_time: datetime | None = None
    department_id: str | None = None
    contact_id: str | None = None

    @property
    def is_closed(self) -> bool:
        return (self.status_type or self.status or "").lower() == "closed"


@dataclass(frozen=True, slots=True)
class WebhookSubscription:
    """A webhook registered with the helpdesk: the events it sends to ``url`` and their
    filters (the helpdesk's own shape, e.g. ``{"Ticket_Thread_Add": {"direction": "out"}}``)."""

    id: str
    url: str
    subscriptions: Mapping[str, Any] = field(default_factory=dict)
    enabled: bool = True
    name: str | None = None
    description: str | None = None
    created_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """One event of a webhook delivery, reduced to what says where to look: the event, the
    ticket, the thread or comment (``resource_id``; the ticket's own id for ticket events)
    and, for updates, the status after and before. Nothing in it is trusted: what the sync
    publishes is fetched from the helpdesk by these ids."""

    event_type: str
    org_id: str | None
    ticket_id: str | None
    resource_id: str | None
    event_time: datetime | None = None
    status: str | None = None
    previous_status: str | None = None
