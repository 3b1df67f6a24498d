"""Publish what changed on a ticket the service created: fetch it from the helpdesk by id,
decide whether it is an event, and append it once per helpdesk id."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from ticketing.application.sync.events import (
    INITIAL_STATUS,
    TicketOrigin,
    comment_event,
    is_public_agent_comment,
    is_public_agent_reply,
    reply_event,
    status_event,
    status_event_id,
)
from ticketing.domain.conversation import Comment, Thread, TicketState, WebhookEvent
from ticketing.domain.errors import HelpdeskRejected
from ticketing.domain.model import Customer
from ticketing.domain.model import TicketState as LedgerState
from ticketing.domain.ports import (
    Clock,
    Conversations,
    EventStream,
    Leases,
    StatusMark,
    SyncLog,
    SyncMetrics,
    TicketLedger,
    lease_owner,
)
from ticketing.domain.threading import carries_reference

log = logging.getLogger(__name__)

# A ticket's status is worked out under this lease (``<prefix><ticket id>``), so that two
# processes never number two different changes alike.
STATUS_LEASE: Final = "ticketing:sync:status-lease:"
STATUS_LEASE_TTL: Final = 30.0
# Conversation items read per page while catching up (Zoho's most).
CONVERSATION_PAGE: Final = 200


@dataclass(slots=True)
class Handled:
    """What handling a change gave: events appended, and whether it must be tried again
    (another process was working out the same ticket's status)."""

    published: int = 0
    retry: bool = False
    calls: int = 0  # helpdesk calls made
    credits: int = 0  # their cost in helpdesk API credits (list 3, single resource 1)

    def add(self, other: Handled) -> None:
        self.published += other.published
        self.retry = self.retry or other.retry
        self.calls += other.calls
        self.credits += other.credits


class SyncPublisher:
    """Turns "something changed on ticket T" into events, whoever said so (a webhook, a poll).

    Nothing comes from the announcement but ids: the thread, comment or ticket is fetched
    from the helpdesk, so an id the helpdesk does not hold publishes nothing. Only tickets
    the ledger records as the service's are looked at. Replies and comments are appended
    once per helpdesk id; a status change once per change of the ticket's last known status
    (its :class:`StatusMark`).
    """

    def __init__(
        self,
        conversations: Conversations,
        ledger: TicketLedger,
        log: SyncLog,
        leases: Leases,
        clock: Clock,
        metrics: SyncMetrics,
    ) -> None:
        self._desk = conversations
        self._ledger = ledger
        self._log = log
        self._leases = leases
        self._clock = clock
        self._metrics = metrics

    async def origin(self, ticket_id: str) -> TicketOrigin | None:
        """What the service recorded for a ticket it created; None for any other ticket."""
        key = await self._ledger.owner_of(ticket_id)
        if key is None:
            return None
        outcome = await self._ledger.get(key)
        if outcome is None or outcome.state is not LedgerState.CREATED:
            return None
        customer = await self._ledger.customer(key) or Customer()
        return TicketOrigin(
            ticket_id=ticket_id,
            ticket_number=outcome.ticket_number,
            incident_id=outcome.incident_id,
            request_id=outcome.request_id,
            customer=customer,
        )

    async def handle(self, event: WebhookEvent) -> Handled:
        """One webhook event: the thread, comment or status it points at."""
        if not event.ticket_id:
            self._metrics.sync_skipped("unknown")
            return Handled()
        origin = await self.origin(event.ticket_id)
        if origin is None:
            self._metrics.sync_skipped("foreign")
            return Handled()
        if event.event_type == "Ticket_Thread_Add" and event.resource_id:
            return await self.thread(origin, event.resource_id)
        if event.event_type == "Ticket_Comment_Add" and event.resource_id:
            return await self.comment(origin, event.resource_id)
        if event.event_type == "Ticket_Update":
            return await self.status(origin)
        return Handled()

    async def thread(self, origin: TicketOrigin, thread_id: str) -> Handled:
        """A thread of the ticket: an event if it is a public agent reply."""
        if await self._log.seen("replies", thread_id):
            return Handled()
        try:
            thread = await self._desk.get_thread(origin.ticket_id, thread_id)
        except HelpdeskRejected as exc:
            return self._unknown(exc, "thread", thread_id, calls=1)
        done = Handled(calls=1, credits=1)
        if not is_public_agent_reply(thread):
            self._metrics.sync_skipped("private")
            return done
        payload = reply_event(origin, thread, await self._desk.org_id())
        done.published += await self._append("replies", "reply", thread.id, payload, thread)
        return done

    async def comment(self, origin: TicketOrigin, comment_id: str) -> Handled:
        """A comment on the ticket: an event if it is a public agent comment (not ours)."""
        if await self._log.seen("replies", comment_id):
            return Handled()
        try:
            comment = await self._desk.get_comment(origin.ticket_id, comment_id)
        except HelpdeskRejected as exc:
            return self._unknown(exc, "comment", comment_id, calls=1)
        done = Handled(calls=1, credits=1)
        # The service's own (a follow-up it added): recorded, or ending with its reference
        # line, which it may carry before the record is written.
        own = carries_reference(comment.plain_text or comment.content) or (
            await self._log.is_own_comment(comment.id)
        )
        if not is_public_agent_comment(comment, own=own):
            self._metrics.sync_skipped("private")
            return done
        payload = comment_event(origin, comment, await self._desk.org_id())
        done.published += await self._append("replies", "comment", comment.id, payload, comment)
        return done

    async def status(self, origin: TicketOrigin) -> Handled:
        """The ticket's status now against the last one known: one event per change.

        The change is numbered from the mark (``<ticket>:status:<n>``) and appended once by
        that id before the mark moves, under a per-ticket lease: a crash in between appends
        nothing twice (the same id again), and a webhook and a poll of one change agree on it.
        """
        owner = lease_owner()
        name = STATUS_LEASE + origin.ticket_id
        if not await self._leases.acquire(name, owner, STATUS_LEASE_TTL):
            return Handled(retry=True)
        try:
            return await self._status(origin)
        finally:
            await self._leases.release(name, owner)

    async def _status(self, origin: TicketOrigin) -> Handled:
        mark = await self._log.status_mark(origin.ticket_id)
        try:
            state = await self._desk.ticket_state(origin.ticket_id)
        except HelpdeskRejected as exc:
            return self._unknown(exc, "ticket", origin.ticket_id, calls=1)
        done = Handled(calls=1, credits=1)
        if not state.status:
            return done
        seq = mark.seq if mark else 0
        previous = mark.status if mark else INITIAL_STATUS
        if state.status == previous:
            if mark is None:  # first seen as created: the baseline
                await self._log.set_status_mark(origin.ticket_id, 0, StatusMark(state.status, 0))
            return done
        event_id = status_event_id(origin.ticket_id, seq + 1)
        payload = status_event(origin, event_id, state, previous, await self._desk.org_id())
        done.published += await self._append("status", "status", event_id, payload, None)
        await self._log.set_status_mark(origin.ticket_id, seq, StatusMark(state.status, seq + 1))
        return done

    def needs_status(self, mark: StatusMark | None, state: TicketState) -> bool:
        """Whether a ticket state seen in a listing differs from the last known status
        (the poller then asks for the ticket itself, under the lease)."""
        previous = mark.status if mark else INITIAL_STATUS
        return bool(state.status) and state.status != previous

    async def status_mark(self, ticket_id: str) -> StatusMark | None:
        return await self._log.status_mark(ticket_id)

    async def catch_up(self, origin: TicketOrigin, since: datetime | None) -> Handled:
        """Every public agent reply and comment of the ticket from ``since`` on (all when
        None) that is not on the stream yet: a page of the conversation, then one fetch per
        item not seen before."""
        done = Handled()
        start = 0
        while True:
            page = await self._desk.list_conversations(
                origin.ticket_id, limit=CONVERSATION_PAGE, start=start
            )
            done.calls += 1
            done.credits += 3
            fresh = [item for item in page if _after(item, since)]
            for item in _oldest_first(fresh):
                if isinstance(item, Thread):
                    if item.direction == "out" and not item.is_description:
                        done.add(await self.thread(origin, item.id))
                elif item.is_public:
                    done.add(await self.comment(origin, item.id))
            if len(page) < CONVERSATION_PAGE or len(fresh) < len(page):
                return done
            start += CONVERSATION_PAGE

    async def _append(
        self,
        stream: EventStream,
        kind: str,
        event_id: str,
        payload: str,
        item: Thread | Comment | None,
    ) -> int:
        appended = await self._log.append(stream, event_id, payload)
        if not appended:
            return 0
        self._metrics.sync_event(kind)
        if item is not None and item.created_time is not None:
            lag = (self._clock.now() - item.created_time).total_seconds()
            self._metrics.reply_latency(max(0.0, lag))
        log.info("sync: %s %s published", kind, event_id)
        return 1

    def _unknown(self, exc: HelpdeskRejected, what: str, item_id: str, *, calls: int) -> Handled:
        # Refused for good (404, or an id it cannot read): forged, deleted, or another's.
        self._metrics.sync_skipped("unknown")
        log.warning(
            "sync: the helpdesk has no %s %s (%s): nothing published", what, item_id, exc.message
        )
        return Handled(calls=calls, credits=calls)


def _after(item: Thread | Comment, since: datetime | None) -> bool:
    return since is None or item.created_time is None or item.created_time >= since


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def _oldest_first(items: Iterable[Thread | Comment]) -> list[Thread | Comment]:
    # Listed newest first: reversed, items of the same time keep their order too.
    return sorted(reversed(list(items)), key=lambda item: item.created_time or _EPOCH)
