"""Ports of the two-way sync: the helpdesk's conversations, the sync's durable state and its
output streams, and the inbox of webhook deliveries."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from ticketing.domain.conversation import (
    Comment,
    Thread,
    TicketState,
    WebhookEvent,
    WebhookSubscription,
)

# The two output streams: ``tickets:replies`` (replies and comments), ``tickets:status``.
EventStream = Literal["replies", "status"]


class Conversations(Protocol):
    """What the sync reads from the helpdesk: threads, comments, a ticket's state, and the
    tickets that changed. Every call may raise ``HelpdeskUnavailable`` (try again later) or
    ``HelpdeskRejected`` (404: no such ticket, thread or comment)."""

    async def get_thread(self, ticket_id: str, thread_id: str) -> Thread:
        """One thread of ``ticket_id`` with its plain text.

        Raises:
            HelpdeskRejected: the ticket has no such thread.
        """
        ...

    async def get_comment(self, ticket_id: str, comment_id: str) -> Comment:
        """One comment of ``ticket_id`` with its plain text.

        Raises:
            HelpdeskRejected: the ticket has no such comment.
        """
        ...

    async def list_conversations(
        self, ticket_id: str, *, limit: int = 200, start: int = 0
    ) -> list[Thread | Comment]:
        """A page of the ticket's threads (summaries, no text) and comments, newest first."""
        ...

    async def ticket_state(self, ticket_id: str) -> TicketState:
        """The ticket's status now.

        Raises:
            HelpdeskRejected: no such ticket.
        """
        ...

    async def org_id(self) -> str:
        """The helpdesk organization the service works in."""
        ...

    async def modified_tickets(
        self, since: datetime, until: datetime, *, start: int = 0, limit: int = 100
    ) -> list[TicketState]:
        """The tickets modified in ``[since, until]``, oldest change first (a page)."""
        ...


@dataclass(frozen=True, slots=True)
class StatusMark:
    """The last status the sync published (or first saw) for a ticket, and how many status
    events it has published for it: the next change's event id is ``<ticket>:status:<seq+1>``."""

    status: str
    seq: int


class SyncLog(Protocol):
    """The sync's durable state and its output: each event appended once per event id,
    whoever appends it and however often; the status each ticket was last seen in; the
    service's own comments; the poller's cursor."""

    async def append(self, stream: EventStream, event_id: str, payload: str) -> bool:
        """Append ``payload`` to ``stream`` (and publish it on its channel) unless an event
        with ``event_id`` was appended there before; True when this call appended it."""
        ...

    async def seen(self, stream: EventStream, event_id: str) -> bool:
        """True when an event with ``event_id`` was appended to ``stream`` (a look before a
        fetch that would cost the helpdesk's credits for nothing)."""
        ...

    async def status_mark(self, ticket_id: str) -> StatusMark | None:
        """The ticket's status mark; None before the sync saw the ticket."""
        ...

    async def set_status_mark(self, ticket_id: str, expected_seq: int, mark: StatusMark) -> bool:
        """Replace the ticket's mark by ``mark`` if its sequence is still ``expected_seq``
        (0 for no mark); False when another process moved it first."""
        ...

    async def record_own_comment(self, comment_id: str) -> None:
        """A comment the service itself wrote (a customer's follow-up): never an event."""
        ...

    async def is_own_comment(self, comment_id: str) -> bool: ...

    async def poll_cursor(self) -> datetime | None:
        """Up to when the poller has looked (the helpdesk's clock); None before the first poll."""
        ...

    async def set_poll_cursor(self, until: datetime) -> None: ...

    async def registered_webhook(self) -> str | None:
        """The id of the webhook ``ticketing webhooks setup`` registered; None when none is."""
        ...

    async def set_registered_webhook(self, webhook_id: str | None) -> None: ...


@dataclass(frozen=True, slots=True)
class InboxEntry:
    """One stored webhook delivery: its events, and how often it was handed out."""

    id: str
    events: Sequence[WebhookEvent]
    deliveries: int = 1


class SyncInbox(Protocol):
    """Webhook deliveries, stored before the helpdesk is answered and handled after; an entry
    stays until it is acknowledged, and one a consumer left (it died) goes to another."""

    async def put(self, events: Sequence[WebhookEvent]) -> str:
        """Store one delivery's events durably; returns the entry id.

        Raises:
            StoreUnavailable: nothing was stored.
        """
        ...

    async def claim(self, consumer: str, count: int, min_idle: float) -> list[InboxEntry]:
        """Entries to handle: the consumer's own unacknowledged ones, those others left idle
        for ``min_idle`` seconds, then new ones; at most ``count``."""
        ...

    async def ack(self, entry_ids: Sequence[str]) -> None:
        """Done with these entries (their events are on the streams, or never will be)."""
        ...

    async def backlog(self) -> int:
        """Entries stored and not acknowledged yet."""
        ...

    async def oldest(self) -> datetime | None:
        """When the oldest entry not acknowledged yet was stored (handed out or not); None
        when there is none."""
        ...


class SyncMetrics(Protocol):
    """What the sync counts."""

    def sync_event(self, kind: str) -> None:
        """An event appended: ``reply``, ``comment`` or ``status``."""
        ...

    def sync_skipped(self, reason: str) -> None:
        """Something a delivery or a poll pointed at that gave no event: ``unknown`` (the
        helpdesk does not hold it: forged, or deleted), ``foreign`` (a ticket the service did
        not create), ``private`` (not a public agent reply or comment)."""
        ...

    def webhook_delivery(self, outcome: str) -> None:
        """A webhook request: ``stored``, ``malformed``, ``too_large``, ``wrong_token``,
        ``unavailable`` (not stored: Redis down), ``bad_signature`` (refused: signed, not
        by the helpdesk for us), ``unsigned`` (refused: no signature where one is required)."""
        ...

    def webhook_signature(self, check: str) -> None:
        """The signature check of a delivery: ``verified``, ``bad``, ``unsigned`` (none
        there), ``unverified`` (the keys could not be had: stored unchecked)."""
        ...

    def reply_latency(self, seconds: float) -> None:
        """From the agent's reply (its time in the helpdesk) to its event on the stream."""
        ...

    def poll_credits(self, credits: int) -> None:
        """Helpdesk API credits a poll spent."""
        ...


class DeliverySignatures(Protocol):
    """The helpdesk's signature on a webhook delivery (Zoho: the ``X-ZDesk-JWT`` header)."""

    async def verify(self, token: str, *, org_id: str, webhook_ids: Collection[str]) -> str:
        """Check ``token`` was signed by the helpdesk for organization ``org_id`` and one of
        ``webhook_ids`` (any webhook of the organization when empty) and is current.

        Returns:
            The id of the webhook the token was issued for.

        Raises:
            SignatureInvalid: it was not (the message says what failed).
            SignatureUnverifiable: the helpdesk's keys could not be fetched.
        """
        ...


class WebhookRegistry(Protocol):
    """The helpdesk's webhook subscriptions (``ticketing webhooks setup|status|remove``)."""

    async def list_webhooks(self) -> list[WebhookSubscription]: ...

    async def create_webhook(
        self,
        url: str,
        subscriptions: Mapping[str, Any],
        *,
        name: str | None = None,
        description: str | None = None,
        enabled: bool = True,
    ) -> WebhookSubscription:
        """Register ``url`` for ``subscriptions``; the helpdesk first checks that the URL
        answers (a GET).

        Raises:
            HelpdeskRejected: the URL did not answer, the edition has no webhooks, or the
                token lacks the scope.
        """
        ...

    async def delete_webhook(self, webhook_id: str) -> None: ...
