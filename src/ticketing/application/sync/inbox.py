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
# An entry is never given up: one waiting on Zoho or Redis (down, throttled, the token
# lacking a scope) is published once they are back, however long that takes. What Zoho
# refuses to show (an unknown id) is handled, as nothing to publish, by the publisher.
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
        batch: int = INBOX_BATCH,
    ) -> None:
        self._inbox = inbox
        self._publisher = publisher
        self._idle = idle
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
                    waiting = exc.message
                    log.debug("sync: delivery %s waits: %s", entry.id, exc.message)
                    break  # the helpdesk or Redis is down: the rest waits too
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
