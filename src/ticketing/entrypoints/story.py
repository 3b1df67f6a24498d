"""A request's story and the pending queue as the API and the CLI show them (msgspec)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

import msgspec

from ticketing.adapters.codec import encode_event
from ticketing.application.intake import caller_key
from ticketing.application.story import PendingView, Story

REQUESTS_PATH = "/tickets/requests"


def request_location(key: str) -> str:
    """Where a request's story is read: ``/tickets/requests/<the key as its caller wrote it>``."""
    return f"{REQUESTS_PATH}/{quote(caller_key(key), safe=':')}"


class TicketRefOut(msgspec.Struct, kw_only=True):
    id: str
    number: str | None
    url: str | None


class LastErrorOut(msgspec.Struct, kw_only=True):
    message: str
    at: datetime | None  # when it was recorded (None: recorded by an older version)


class JoinedOut(msgspec.Struct, kw_only=True):
    """Where a follow-up goes: an open ticket (its comment once appended), or a new ticket."""

    new_ticket: bool
    ticket_id: str | None
    ticket_number: str | None
    web_url: str | None
    comment_id: str | None


class StoryOut(msgspec.Struct, kw_only=True):
    """``GET /tickets/requests/{key}``: what is known about one request."""

    key: str  # the idempotency key (as its caller wrote it, over HTTP)
    request_id: str
    incident_id: str | None
    source: str | None
    # accepted (stored, no attempt failed yet), queued (an attempt failed: waiting for the
    # next), creating (a create was sent, outcome unknown), created, appended, dead
    state: str
    ticket: TicketRefOut | None
    contact_id: str | None
    attempts: int
    last_attempt_at: datetime | None
    last_error: LastErrorOut | None
    created_event: dict[str, Any] | None  # the created event, as published
    joined: JoinedOut | None  # follow-ups (THREAD_WINDOW) only
    attachments: dict[str, str] | None  # the files job's progress; None: no files


def story_out(story: Story, *, caller: bool) -> StoryOut:
    """The story's wire form; ``caller``: the key as an HTTP caller wrote it (its namespace
    cut off), else as stored."""
    o = story.outcome
    ticket = None
    if o.ticket_id is not None:
        ticket = TicketRefOut(id=o.ticket_id, number=o.ticket_number, url=o.web_url)
    joined = None
    if o.joins is not None:
        new = o.joins.new
        joined = JoinedOut(
            new_ticket=new,
            ticket_id=None if new else o.joins.ticket_id,
            ticket_number=o.joins.ticket_number,
            web_url=o.joins.web_url,
            comment_id=o.comment_id,
        )
    event = msgspec.json.decode(encode_event(story.event)) if story.event else None
    return StoryOut(
        key=caller_key(o.key) if caller else o.key,
        request_id=o.request_id,
        incident_id=o.incident_id,
        source=o.source.value if o.source else None,
        state=story.state,
        ticket=ticket,
        contact_id=o.contact_id,
        attempts=o.attempts,
        last_attempt_at=o.last_attempt_at,
        last_error=LastErrorOut(message=o.reason, at=o.reason_at) if o.reason else None,
        created_event=event,
        joined=joined,
        attachments=story.attachments,
    )


class PendingOut(msgspec.Struct, kw_only=True):
    entry_id: str
    key: str
    queued_at: datetime
    age_seconds: float
    state: str | None  # None: its ledger record is gone
    attempts: int
    last_error: str | None
    last_error_at: datetime | None


class PendingListOut(msgspec.Struct, kw_only=True):
    """``GET /queue/pending``: the oldest pending entries."""

    entries: list[PendingOut]
    count: int


def pending_out(views: list[PendingView]) -> PendingListOut:
    entries = [
        PendingOut(
            entry_id=v.entry_id,
            key=v.key,
            queued_at=v.queued_at,
            age_seconds=v.age,
            state=v.state,
            attempts=v.attempts,
            last_error=v.last_error,
            last_error_at=v.last_error_at,
        )
        for v in views
    ]
    return PendingListOut(entries=entries, count=len(entries))
