"""The events of the two-way sync, built from what the helpdesk holds (never from what a
webhook delivery says), and the rules for which threads and comments become one."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any, Final, Literal

from ticketing.domain.conversation import Author, Comment, Thread, TicketState
from ticketing.domain.model import Customer

# The status a ticket is created in (Zoho's default): a ticket first seen in another status
# has changed since the service created it.
INITIAL_STATUS: Final = "Open"

EventKind = Literal["reply", "comment"]


@dataclass(frozen=True, slots=True)
class TicketOrigin:
    """What the service recorded when it created a ticket: who asked, and why."""

    ticket_id: str
    ticket_number: str | None
    incident_id: str | None
    request_id: str | None
    customer: Customer


def is_public_agent_reply(thread: Thread) -> bool:
    """An agent's reply the customer was sent: outgoing, public, sent (not a draft, a pending
    or a failed send), by an agent, and not the ticket's description."""
    return thread.is_public_agent_reply and thread.author.is_agent and not thread.is_description


def is_public_agent_comment(comment: Comment, *, own: bool) -> bool:
    """A public comment by an agent that the service did not write itself."""
    return comment.is_public and comment.author.is_agent and not own


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z``."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("br", "p", "div", "li", "tr"):
            self.parts.append("\n")


def html_text(html: str) -> str:
    """The text of an HTML fragment (when the helpdesk gave no plain text of its own)."""
    parser = _Text()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return "\n".join(line for line in lines if line)


def thread_file_path(ticket_id: str, thread_id: str, attachment_id: str) -> str:
    """The service's path of a reply's file (an event's ``download``; the messaging side
    prefixes the service's base URL): ``GET /tickets/{t}/threads/{th}/attachments/{a}``."""
    return f"/tickets/{ticket_id}/threads/{thread_id}/attachments/{attachment_id}"


def _customer(customer: Customer) -> dict[str, str | None]:
    return {"name": customer.name, "email": customer.email, "phone": customer.phone}


def _dumps(event: dict[str, Any]) -> str:
    return json.dumps(event, ensure_ascii=False, separators=(",", ":"))


def reply_event(origin: TicketOrigin, thread: Thread, org_id: str) -> str:
    """The ``tickets:replies`` event of an agent's public reply (``kind: reply``)."""
    text = thread.plain_text
    if text is None:
        text = html_text(thread.content or thread.summary or "")
    return _message(origin, "reply", thread.id, thread.author, text, thread, org_id)


def comment_event(origin: TicketOrigin, comment: Comment, org_id: str) -> str:
    """The ``tickets:replies`` event of an agent's public comment (``kind: comment``)."""
    text = comment.plain_text
    if text is None:
        html = (comment.content_type or "html").lower() != "plaintext"
        text = html_text(comment.content) if html else comment.content
    return _message(origin, "comment", comment.id, comment.author, text, comment, org_id)


def status_event(
    origin: TicketOrigin, event_id: str, state: TicketState, previous: str, org_id: str
) -> str:
    """The ``tickets:status`` event of a status change."""
    changed = state.closed_time if state.is_closed and state.closed_time else state.modified_time
    return _dumps(
        {
            "event_id": event_id,
            "ticket_id": origin.ticket_id,
            "ticket_number": origin.ticket_number or state.ticket_number,
            "incident_id": origin.incident_id,
            "status": state.status,
            "previous_status": previous,
            "customer": _customer(origin.customer),
            "changed_at": iso(changed),
            "org_id": org_id,
        }
    )


def _message(
    origin: TicketOrigin,
    kind: EventKind,
    event_id: str,
    author: Author,
    text: str,
    item: Thread | Comment,
    org_id: str,
) -> str:
    return _dumps(
        {
            "event_id": event_id,
            "kind": kind,
            "ticket_id": origin.ticket_id,
            "ticket_number": origin.ticket_number,
            "incident_id": origin.incident_id,
            "request_id": origin.request_id,
            "customer": _customer(origin.customer),
            "author": {"name": author.name, "type": author.type},
            "text": text,
            "attachments": [
                {
                    "name": a.name,
                    "size": a.size,
                    "url": a.url,
                    # Zoho's url needs the service's token: a reply's file is fetched through
                    # the service instead. Zoho has no content route for a comment's files.
                    "download": (
                        thread_file_path(origin.ticket_id, event_id, a.id)
                        if kind == "reply" and a.id
                        else None
                    ),
                }
                for a in item.attachments
            ],
            "created_at": iso(item.created_time),
            "org_id": org_id,
        }
    )


def status_event_id(ticket_id: str, seq: int) -> str:
    """The id of a ticket's ``seq``-th status change (the same for whoever learns of it)."""
    return f"{ticket_id}:status:{seq}"
