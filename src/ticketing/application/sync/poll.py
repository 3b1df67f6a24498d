"""Polling, where there are no webhooks: one poller fleet-wide (a lease) asks the helpdesk
which tickets changed since its cursor, and catches up on those the service created."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from ticketing.application.sync.publish import Handled, SyncPublisher
from ticketing.domain.ports import Clock, Conversations, Leases, SyncLog, SyncMetrics

log = logging.getLogger(__name__)

POLL_LEASE: Final = "ticketing:sync:poller"
# Tickets per page of the modified-tickets search (Zoho's most), and pages per poll at most
# (Zoho's search stops at 999): a longer backlog is read in the next polls.
SEARCH_PAGE: Final = 100
SEARCH_PAGES: Final = 10
SEARCH_CREDITS: Final = 3


@dataclass(frozen=True, slots=True)
class PollReport:
    polled: bool  # False: another process holds the poller's lease
    changed: int = 0  # tickets the search returned
    ours: int = 0  # of those, the service's
    published: int = 0
    calls: int = 0
    credits: int = 0


class PollChanges:
    """One poll: the tickets modified since the cursor (less ``overlap``, the helpdesk's
    search lag), then, per ticket of the service's, the new conversation items and the
    status. The cursor moves only when the whole window was handled.

    Args:
        first_window: How far back the first poll looks (no cursor yet).
        follow_closed: A ticket closed longer ago than this is no longer looked at.
        lease_ttl: How long the poller's lease lasts (renewed at each poll).
    """

    def __init__(
        self,
        conversations: Conversations,
        publisher: SyncPublisher,
        log_: SyncLog,
        leases: Leases,
        clock: Clock,
        metrics: SyncMetrics,
        *,
        owner: str,
        overlap: float,
        first_window: float,
        follow_closed: float,
        lease_ttl: float,
    ) -> None:
        self._desk = conversations
        self._publisher = publisher
        self._log = log_
        self._leases = leases
        self._clock = clock
        self._metrics = metrics
        self._owner = owner
        self._overlap = timedelta(seconds=overlap)
        self._first_window = timedelta(seconds=first_window)
        self._follow_closed = timedelta(seconds=follow_closed)
        self._lease_ttl = lease_ttl

    async def __call__(self) -> PollReport:
        if not await self._leases.acquire(POLL_LEASE, self._owner, self._lease_ttl):
            return PollReport(polled=False)
        now = self._clock.now()
        cursor = await self._log.poll_cursor()
        since = (cursor - self._overlap) if cursor else now - self._first_window
        done = Handled()
        changed = ours = 0
        complete = True
        latest: datetime | None = None
        for page_number in range(SEARCH_PAGES):
            page = await self._desk.modified_tickets(
                since, now, start=page_number * SEARCH_PAGE, limit=SEARCH_PAGE
            )
            done.calls += 1
            done.credits += SEARCH_CREDITS
            changed += len(page)
            for state in page:
                if state.modified_time and (latest is None or state.modified_time > latest):
                    latest = state.modified_time
                if (
                    state.is_closed
                    and state.closed_time
                    and now - state.closed_time > (self._follow_closed)
                ):
                    continue
                origin = await self._publisher.origin(state.id)
                if origin is None:
                    continue
                ours += 1
                done.add(await self._publisher.catch_up(origin, since))
                mark = await self._publisher.status_mark(state.id)
                if self._publisher.needs_status(mark, state):
                    done.add(await self._publisher.status(origin))
            if len(page) < SEARCH_PAGE:
                break
        else:
            complete = False  # more than a poll reads: the next one goes on from here
        if done.retry:
            pass  # a ticket was busy elsewhere: the same window again next time
        elif complete:
            await self._log.set_poll_cursor(now)
        elif latest is not None:
            await self._log.set_poll_cursor(latest + self._overlap)
        self._metrics.poll_credits(done.credits)
        return PollReport(
            polled=True,
            changed=changed,
            ours=ours,
            published=done.published,
            calls=done.calls,
            credits=done.credits,
        )
