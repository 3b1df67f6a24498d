"""Follow-ups (THREAD_WINDOW) over the in-memory adapters: a FollowUpDesk on the in-memory
helpdesk's tickets, and the ticket use cases wired with it."""

from __future__ import annotations

import collections
import itertools
from dataclasses import dataclass, field
from typing import Any

import anyio

from ticketing.adapters.memory import InMemoryThreadIndex
from ticketing.adapters.memory_helpdesk import InMemoryHelpdesk
from ticketing.application.guard import GuardedHelpdesk
from ticketing.application.intake import IntakePolicy, incident_ticket
from ticketing.application.tickets import DrainQueue, SubmitTicket, TicketProcessor
from ticketing.application.tickets.follow_ups import FollowUpPolicy, FollowUps
from ticketing.application.tickets.processor import ProcessingPolicy
from ticketing.domain.conversation import Author, Comment, TicketState
from ticketing.domain.errors import HelpdeskRejected, HelpdeskUnavailable
from ticketing.domain.model import TicketDraft

from tests.support.clock import ManualClock
from tests.support.harness import Harness, make_harness


@dataclass
class CommentDesk:
    """The ``FollowUpDesk`` port on an :class:`InMemoryHelpdesk`'s tickets: statuses set by
    the test, comments kept per ticket, faults queued per operation, and ``post_then_fail``
    posts that are stored and then answered with an ambiguous failure (a read timeout)."""

    helpdesk: InMemoryHelpdesk
    clock: ManualClock
    statuses: dict[str, str] = field(default_factory=dict)
    comments: dict[str, list[Comment]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    post_then_fail: int = 0
    _faults: dict[str, collections.deque[Exception]] = field(
        default_factory=lambda: collections.defaultdict(collections.deque)
    )
    _ids: Any = field(default_factory=lambda: itertools.count(900001))

    def fail_next(self, operation: str, error: Exception, times: int = 1) -> None:
        self._faults[operation].extend([error] * times)

    def count(self, operation: str) -> int:
        return self.calls.count(operation)

    def all_comments(self) -> list[Comment]:
        return [c for comments in self.comments.values() for c in comments]

    async def _enter(self, operation: str) -> None:
        self.calls.append(operation)
        await anyio.lowlevel.checkpoint()
        queue = self._faults.get(operation)
        if queue:
            raise queue.popleft()

    def _ticket(self, ticket_id: str) -> None:
        if ticket_id not in self.helpdesk.tickets:
            raise HelpdeskRejected(f"no ticket {ticket_id}", status=404, code="URL_NOT_FOUND")

    async def ticket_state(self, ticket_id: str) -> TicketState:
        await self._enter("ticket_state")
        self._ticket(ticket_id)
        ticket = self.helpdesk.tickets[ticket_id]
        status = self.statuses.get(ticket_id, "Open")
        return TicketState(ticket_id, ticket.ticket_number, status, contact_id=ticket.contact_id)

    async def post_comment(self, ticket_id: str, text: str) -> Comment:
        await self._enter("post_comment")
        self._ticket(ticket_id)
        comment = Comment(
            id=str(next(self._ids)),
            ticket_id=ticket_id,
            content=text,
            content_type="plainText",
            is_public=True,
            author=Author("7", "Service", "AGENT"),
            created_time=self.clock.now(),
            plain_text=text,
        )
        self.comments.setdefault(ticket_id, []).append(comment)
        if self.post_then_fail > 0:
            self.post_then_fail -= 1
            raise HelpdeskUnavailable("injected: stored, then the answer was lost", sent=True)
        return comment

    async def list_comments(
        self, ticket_id: str, *, limit: int = 100, start: int = 0, newest_first: bool = False
    ) -> list[Comment]:
        await self._enter("list_comments")
        self._ticket(ticket_id)
        comments = list(self.comments.get(ticket_id, []))
        if newest_first:
            comments.reverse()
        return comments[start : start + limit]


@dataclass
class Threaded:
    """The ticket use cases with follow-ups on: ``h`` the usual harness (its helpdesk, store,
    clock), ``desk`` the comments, ``index`` the threads."""

    h: Harness
    desk: CommentDesk
    index: InMemoryThreadIndex
    follow_ups: FollowUps
    processor: TicketProcessor
    submit: SubmitTicket
    drain: DrainQueue

    def incident(self, incident_id: str, text: str = "Hola", **kw: Any) -> TicketDraft:
        fields: dict[str, Any] = {
            "customer_name": "Ana López",
            "customer_email": None,
            "customer_phone": "+5215512345678",
            "subject": None,
            "category": "booking",
            "priority": "high",
            "confidence": 0.9,
            "channel": "WhatsApp",
        }
        fields.update(kw)
        return incident_ticket(
            incident_id=incident_id,
            description=text,
            received_at=self.h.clock.now(),
            policy=IntakePolicy(),
            **fields,
        )

    def second_drain(self, consumer: str = "other") -> DrainQueue:
        return DrainQueue(
            self.h.store, self.processor, self.h.guarded, consumer=consumer, concurrency=4
        )


def make_threaded(clock: ManualClock, *, window: float = 3600.0, **helpdesk_kw: Any) -> Threaded:
    h = make_harness(clock, **helpdesk_kw)
    desk = CommentDesk(h.helpdesk, clock)
    index = InMemoryThreadIndex(clock)
    follow_ups = FollowUps(h.store, index, desk, FollowUpPolicy(window=window))
    processor = TicketProcessor(
        h.store,
        h.guarded,
        h.contacts,
        clock,
        ProcessingPolicy(max_deliveries=5, ambiguous_grace=30),
        follow_ups=follow_ups,
    )
    guarded: GuardedHelpdesk = h.guarded
    return Threaded(
        h=h,
        desk=desk,
        index=index,
        follow_ups=follow_ups,
        processor=processor,
        submit=SubmitTicket(h.store, processor, guarded),
        drain=DrainQueue(h.store, processor, guarded, consumer="main", concurrency=4),
    )
