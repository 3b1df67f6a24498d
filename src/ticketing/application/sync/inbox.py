"""Webhook deliveries: stored before the helpdesk is answered (:class:`ReceiveDelivery`),
handled after (:class:`HandleDeliveries`), acknowledged only once their events are appended."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from ticketing.application.sync.publish import Handled, SyncPublisher
from ticketing.domain.conversation import WebhookEvent
from ticketing.domain.errors import HelpdeskAuthError, HelpdeskError, StoreUnavailable
from ticketing.domain.ports import SyncInbox, SyncMetrics

log = logging.getLogger(__name__)

# Seconds an entry handed out and not acknowledged stays with its consumer before another
# takes it (its process died, or Zoho kept failing it).
INBOX_IDLE: Final = 60.0
# Times an entry is handed out before it is given up (logged and acknowledged): a delivery
# that fails this often fails for a reason no retry mends; polling catches its changes up.
INBOX_MAX_DELIVERIES: Final = 50
INBOX_BATCH: Final = 20


class ReceiveDelivery:
    """Store a webhook delivery's events durably (the receiver answers 200 after this)."""

    def __init__(self, inbox: SyncInbox, metrics: SyncMetrics) -> None:
        self._inbox = inbox
        self._metrics = metrics

    async def __call__(self, events: Sequence[WebhookEvent]) -> str:
        """Returns the inbox entry's id.

        Raises:
            StoreUnavailable: not stored; the helpdesk must be answered with an error so that
                it (or the poller) tries again.
        """
        try:
            entry_id = await self._inbox.put(events)
        except StoreUnavailable:
            self._metrics.webhook_delivery("unavailable")
            raise
        self._metrics.webhook_delivery("stored")
        return entry_id


@dataclass(frozen=True, slots=True)
class InboxReport:
    entries: int = 0  # handed out
    done: int = 0  # acknowledged
    published: int = 0  # events appended
    waiting: str | None = None  # why an entry waits (the helpdesk or Redis failing)
    denied: HelpdeskAuthError | None = None  # the helpdesk refused the token (its scope)


class HandleDeliveries:
    """One pass over the inbox: each stored delivery's events are published (fetched from the
    helpdesk), and the entry acknowledged only when every event is on its stream or never
    will be. An entry whose handling fails (the helpdesk or Redis down, a crash) stays, and
    is handed out again: to this consumer at its next pass, to another after ``idle``."""

    def __init__(
        self,
        inbox: SyncInbox,
        publisher: SyncPublisher,
        *,
        idle: float = INBOX_IDLE,
        max_deliveries: int = INBOX_MAX_DELIVERIES,
        batch: int = INBOX_BATCH,
    ) -> None:
        self._inbox = inbox
        self._publisher = publisher
        self._idle = idle
        self._max_deliveries = max_deliveries
        self._batch = batch

    async def __call__(self, consumer: str) -> InboxReport:
        entries = await self._inbox.claim(consumer, self._batch, self._idle)
        done: list[str] = []
        published = 0
        waiting: str | None = None
        denied: HelpdeskAuthError | None = None
        try:
            for entry in entries:
                handled = Handled()
                try:
                    for event in entry.events:
                        handled.add(await self._publisher.handle(event))
                except (HelpdeskError, StoreUnavailable) as exc:
                    if isinstance(exc, HelpdeskAuthError):
                        denied = exc
                    if entry.deliveries < self._max_deliveries:
                        waiting = exc.message
                        log.debug("sync: delivery %s waits: %s", entry.id, exc.message)
                        break  # the helpdesk or Redis is down: the rest waits too
                    log.error(
                        "sync: delivery %s given up after %d attempts: %s",
                        entry.id,
                        entry.deliveries,
                        exc.message,
                    )
                    done.append(entry.id)
                    continue
                published += handled.published
                if not handled.retry:
                    done.append(entry.id)
        finally:
            if done:
                await self._inbox.ack(done)
        return InboxReport(
            entries=len(entries),
            done=len(done),
            published=published,
            waiting=waiting,
            denied=denied,
        )
