"""Ports of follow-ups (THREAD_WINDOW): the index of customers' and conversations' threads,
and the helpdesk calls that add a follow-up to an open ticket."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ticketing.domain.conversation import Comment, TicketState


class ThreadIndex(Protocol):
    """Which request opened a customer's (or a conversation's) current thread: names such as
    ``phone:+5215512345678`` or ``conversation:<id>`` → an idempotency key, each expiring.
    Fleet-wide with Redis, so two messages of one customer racing on two processes agree."""

    async def claim(
        self, names: Sequence[str], key: str, ttl: float, *, replacing: str | None = None
    ) -> str:
        """The key that holds the thread of any of ``names``; when none does (or the holder
        is ``replacing``, a request found dead, gone or closed), ``key`` takes all of them
        for ``ttl`` seconds, in one step, and is returned."""
        ...


class FollowUpDesk(Protocol):
    """The helpdesk calls of a follow-up: the ticket's status, a public comment, and the
    comments to look an ambiguous post up in. Each may raise ``HelpdeskUnavailable`` (with
    ``sent`` when the request may have been taken) or ``HelpdeskRejected`` (404 and the like)."""

    async def ticket_state(self, ticket_id: str) -> TicketState:
        """The ticket's status now."""
        ...

    async def post_comment(self, ticket_id: str, text: str) -> Comment:
        """Add a public plain-text comment as the service's agent."""
        ...

    async def list_comments(
        self, ticket_id: str, *, limit: int = 100, start: int = 0, newest_first: bool = False
    ) -> list[Comment]:
        """A page of the ticket's comments with their plain text."""
        ...
