"""The sync's helpdesk reads behind the ticket calls' circuit breaker and call gate: one
budget of Zoho calls in flight, one 429 pause, one breaker for the whole process (fleet)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from ticketing.application.guard import GuardedHelpdesk
from ticketing.domain.conversation import Comment, Thread, TicketState
from ticketing.domain.ports import Conversations, FollowUpDesk


class HelpdeskConversations(Conversations, FollowUpDesk, Protocol):
    """What the Zoho client (or a fake) offers: the sync's reads and the follow-ups' calls."""


class GuardedConversations:
    """A :class:`Conversations` and :class:`FollowUpDesk` whose every call goes through
    ``guard`` (refused with ``BreakerOpen`` while the breaker is open, the fleet is paused or
    no slot frees up)."""

    def __init__(self, inner: HelpdeskConversations, guard: GuardedHelpdesk) -> None:
        self._inner = inner
        self._guard = guard

    async def get_thread(self, ticket_id: str, thread_id: str) -> Thread:
        return await self._guard.guarded(
            lambda: self._inner.get_thread(ticket_id, thread_id), "get_thread"
        )

    async def get_comment(self, ticket_id: str, comment_id: str) -> Comment:
        return await self._guard.guarded(
            lambda: self._inner.get_comment(ticket_id, comment_id), "get_comment"
        )

    async def list_conversations(
        self, ticket_id: str, *, limit: int = 200, start: int = 0
    ) -> list[Thread | Comment]:
        return await self._guard.guarded(
            lambda: self._inner.list_conversations(ticket_id, limit=limit, start=start),
            "list_conversations",
        )

    async def ticket_state(self, ticket_id: str) -> TicketState:
        return await self._guard.guarded(
            lambda: self._inner.ticket_state(ticket_id), "ticket_state"
        )

    async def post_comment(self, ticket_id: str, text: str) -> Comment:
        return await self._guard.guarded(
            lambda: self._inner.post_comment(ticket_id, text), "post_comment"
        )

    async def list_comments(
        self, ticket_id: str, *, limit: int = 100, start: int = 0, newest_first: bool = False
    ) -> list[Comment]:
        return await self._guard.guarded(
            lambda: self._inner.list_comments(
                ticket_id, limit=limit, start=start, newest_first=newest_first
            ),
            "list_comments",
        )

    async def org_id(self) -> str:
        # Looked up once per process and cached by the client (every guarded call above
        # needs it first anyway): not worth a call slot each event.
        return await self._inner.org_id()

    async def modified_tickets(
        self, since: datetime, until: datetime, *, start: int = 0, limit: int = 100
    ) -> list[TicketState]:
        return await self._guard.guarded(
            lambda: self._inner.modified_tickets(since, until, start=start, limit=limit),
            "modified_tickets",
        )
