"""Zoho's health in the log: one line per change (breaker, pauses, errors), not per retry."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from ticketing.application import context
from ticketing.domain.breaker import BreakerSnapshot, BreakerState
from ticketing.domain.errors import (
    HelpdeskAuthError,
    HelpdeskError,
    HelpdeskRejected,
    RefreshPaused,
)
from ticketing.domain.ports import Clock

# The guard's own logger: every line about Zoho's health comes from one name.
log = logging.getLogger("ticketing.application.guard")


def at(when: datetime) -> str:
    """A time as the lines show it (UTC, to the second)."""
    return f"{when:%Y-%m-%d %H:%M:%S} UTC"


def for_key() -> str:
    """`` for <key>`` when a ticket is being worked on (its ids ride on the record too)."""
    key = context.current().get("key")
    return f" for {key}" if key else ""


@dataclass(slots=True)
class _Pause:
    """A pause on every Zoho call this process reported as started."""

    reason: str
    since: datetime
    until: datetime


class GuardLog:
    """The transitions of one process's guard around Zoho, each logged once.

    - the circuit breaker: a warning when it opens (failures, the last error, the next
      trial), an info line when it closes; its half-open trials at debug level;
    - a pause on every call (a 429's ``Retry-After``, the day's API credits spent, or the
      fleet's pause seen through the call gate): a warning when it starts, an info line once
      it has ended;
    - a pause on token refreshes (the refresh budget spent, Zoho throttling refreshes, the
      accounts server backed off): a warning when it starts or its reason changes, an info
      line when a call works again;
    - an error Zoho answers a ticket's call with: a refusal of its data (4xx) every time (it
      concerns that ticket); an outage-like error (5xx, transport, 429, credentials) when it
      differs from the last one reported since a call last worked, the repeats at debug
      level. A call made for no ticket (a CLI command, the sync) is reported by its caller;
      here at debug level only.

    Lines logged while a ticket is worked on carry its ids (``request_id``, ``incident_id``,
    ``key``) through the log filter; the key is also named in the per-ticket messages.
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._breaker = BreakerState.CLOSED  # as last seen by this process
        self._opened_at: datetime | None = None
        self._trials_failed = 0
        self._error: tuple[str, int | None, str | None] | None = None
        self._pause: _Pause | None = None
        self._refresh: str | None = None  # the refresh pause's code, while one is reported
        self._refresh_since: datetime | None = None
        self.refresh_pause: str | None = None  # what it said last (why, until when)

    # ------------------------------------------------------------------ the breaker

    def breaker(self, snapshot: BreakerSnapshot, last_error: str | None) -> None:
        """The breaker as it is after the guard drove it: logs a change since last time."""
        state, before = snapshot.state, self._breaker
        if state is before:
            return
        self._breaker = state
        now = self._clock.now()
        if before is BreakerState.CLOSED:
            self._opened_at, self._trials_failed = now, 0
            log.warning(
                "Zoho circuit breaker opened after %d consecutive failures (last error: %s); "
                "tickets are queued; next trial at %s (in %.0fs)",
                snapshot.consecutive_failures,
                last_error or "unknown",
                at(now + timedelta(seconds=snapshot.retry_in)),
                snapshot.retry_in,
            )
        elif state is BreakerState.CLOSED:
            opened = self._opened_at or now
            log.info(
                "Zoho circuit breaker closed: calls flow again after %.0fs open "
                "(since %s, %d failed trials)",
                (now - opened).total_seconds(),
                at(opened),
                self._trials_failed,
            )
            self._opened_at, self._trials_failed = None, 0
        elif state is BreakerState.HALF_OPEN:
            log.debug("Zoho circuit breaker half-open: one trial call goes through")
        else:  # the trial failed: open again
            self._trials_failed += 1
            log.debug(
                "Zoho circuit breaker trial failed (%s); still open, next trial in %.0fs",
                last_error or "no answer",
                snapshot.retry_in,
            )

    # ------------------------------------------------------------------ Zoho's errors

    def error(self, operation: str, exc: HelpdeskError) -> None:
        """Zoho failed ``operation`` (answered with an error, or did not answer)."""
        line = "Zoho error on %s%s: %s%s"
        args = (operation, for_key(), exc.message, _status(exc))
        if "key" not in context.current():
            # Not for a ticket (a CLI command, the sync, a probe): its caller reports it, in
            # one line of its own; the breaker and the pauses still say what it changed.
            log.debug(line, *args)
            return
        if isinstance(exc, HelpdeskRejected):
            log.warning(line, *args)  # that ticket's data: every time
            return
        kind = "auth" if isinstance(exc, HelpdeskAuthError) else "unavailable"
        signature = (kind, exc.status, exc.code)
        if signature == self._error:
            log.debug(line, *args)
            return
        self._error = signature
        log.warning(line, *args)

    def worked(self) -> None:
        """A call worked: the errors reported so far are over, and so is a refresh pause."""
        self._error = None
        if self._refresh is not None:
            since = self._refresh_since or self._clock.now()
            log.info(
                "Zoho token refreshes resumed: a call works again after %.0fs (since %s)",
                (self._clock.now() - since).total_seconds(),
                at(since),
            )
            self._refresh, self._refresh_since, self.refresh_pause = None, None, None

    # ------------------------------------------------------------------ pauses

    @property
    def pause_reason(self) -> str:
        """Why calls are paused, as last reported."""
        return self._pause.reason if self._pause is not None else "429 Retry-After"

    def paused(self, reason: str, seconds: float) -> None:
        """Every call is held back ``seconds`` from now, for ``reason``."""
        now = self._clock.now()
        until = now + timedelta(seconds=seconds)
        current = self._pause
        if current is not None and current.reason == reason:
            if until > current.until:
                current.until = until
                log.debug("Zoho calls stay paused until %s: %s", at(until), reason)
            return
        if current is not None and until <= current.until:
            return  # a shorter pause inside the one reported
        self._pause = _Pause(reason, now, until)
        log.warning(
            "Zoho calls paused until %s (%.0fs): %s; tickets are queued",
            at(until),
            seconds,
            reason,
        )

    def pause_left(self, seconds: float) -> None:
        """The pause as the guard sees it now: ``seconds`` left (0: none). Reports a pause
        that has ended, and one the fleet set (another instance's 429 through the call gate)."""
        current = self._pause
        if seconds > 0:
            if current is None:
                self.paused("another instance got a 429 (the fleet's call gate)", seconds)
            return
        if current is None:
            return
        self._pause = None
        log.info(
            "Zoho calls resumed: the pause since %s ended at %s (%s)",
            at(current.since),
            at(min(current.until, self._clock.now())),
            current.reason,
        )

    def refresh_paused(self, operation: str, exc: RefreshPaused) -> None:
        """No access token can be had now: refreshes are paused (the message says why and
        until when)."""
        code = exc.code or "paused"
        self.refresh_pause = exc.message
        if code == self._refresh:
            log.debug("%s%s: %s", operation, for_key(), exc.message)
            return
        if self._refresh is None:
            self._refresh_since = self._clock.now()
        self._refresh = code
        log.warning("Zoho token refreshes paused (%s): %s; tickets are queued", code, exc.message)


def _status(exc: HelpdeskError) -> str:
    """The HTTP status and Zoho's code, when the message does not say them already."""
    if exc.status is None or str(exc.status) in exc.message:
        return ""
    return f" (HTTP {exc.status}{' ' + exc.code if exc.code else ''})"
