"""How far behind the sync is (``ticketing_sync_lag_seconds``): the age of the oldest webhook
delivery stored and not yet handled, and how long ago the poller's last complete window
ended. Both are fleet-wide (they live in the store), so every instance reports the same."""

from __future__ import annotations

from dataclasses import dataclass

from ticketing.domain.ports import Clock, SyncInbox, SyncLog


@dataclass(frozen=True, slots=True)
class SyncLag:
    """Seconds the sync is behind.

    ``inbox``: since the oldest delivery still in the inbox was stored (0 when it is empty):
    a reply Zoho told the service about that long ago may not be on the stream yet.
    ``poll``: since the end of the last window the poller completed (its cursor); a change
    made after it is not seen before the next poll. None before the first poll.
    """

    inbox: float
    poll: float | None


class MeasureLag:
    """Read :class:`SyncLag` now (for the metrics' scrape)."""

    def __init__(self, inbox: SyncInbox, log: SyncLog, clock: Clock) -> None:
        self._inbox = inbox
        self._log = log
        self._clock = clock

    async def __call__(self) -> SyncLag:
        """The lag now, on this process's clock (the inbox's times are the store's: on
        another host, their clocks' difference is in the figure).

        Raises:
            StoreUnavailable: the store did not answer (the lag is unknown, not 0).
        """
        now = self._clock.now()
        oldest = await self._inbox.oldest()
        cursor = await self._log.poll_cursor()
        return SyncLag(
            inbox=0.0 if oldest is None else max(0.0, (now - oldest).total_seconds()),
            poll=None if cursor is None else max(0.0, (now - cursor).total_seconds()),
        )
