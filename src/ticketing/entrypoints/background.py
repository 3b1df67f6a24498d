"""Background work shared by `serve` and `worker`: the call gate's upkeep, the queue drain loop
and the inbound consumer."""

from __future__ import annotations

import functools
import logging
import time
from typing import TYPE_CHECKING

import anyio
from anyio.abc import TaskGroup

from ticketing.domain.breaker import BreakerState
from ticketing.domain.errors import TicketingError

if TYPE_CHECKING:
    from ticketing.container import Container, Services

log = logging.getLogger(__name__)


class Outage:
    """The log of a loop that retries: one warning when it starts failing (or fails in
    another way), one info when it works again, and the retries in between at debug level,
    so an outage of an hour is two lines, not one per pass.

    Args:
        logger: where the lines go.
        what: the loop's name at the start of the recovery line, e.g. ``"drain"``.
    """

    def __init__(self, logger: logging.Logger, what: str) -> None:
        self._log = logger
        self._what = what
        self.failing: str | None = None  # the kind of failure being reported, None when well
        self._since = 0.0
        self.repeats = 0  # failures since the warning, logged at debug level

    def failed(
        self, kind: str, message: str, *args: object, exc: BaseException | None = None
    ) -> None:
        """A pass failed with a failure of ``kind``: the warning (``message % args``, with the
        traceback of ``exc`` when given) the first time, a debug line on every repeat."""
        if self.failing == kind:
            self.repeats += 1
            self._log.debug(message, *args)
            return
        if self.failing is None:
            self._since = time.monotonic()
        self.failing, self.repeats = kind, 0
        self._log.warning(message, *args, exc_info=exc)

    def begin(self, kind: str) -> None:
        """An outage of ``kind`` starts that another line has said already: its retries
        are logged at debug level only."""
        if self.failing is None:
            self._since = time.monotonic()
        self.failing, self.repeats = kind, 0

    def recovered(self, *, say: bool = True) -> None:
        """A pass worked: the info line when it ends an outage (unless ``say`` is false:
        another line says it), nothing otherwise."""
        if self.failing is None:
            return
        if not say:
            self.failing, self.repeats = None, 0
            return
        self._log.info(
            "%s works again after %.0fs of failures (%s, %d retries)",
            self._what,
            time.monotonic() - self._since,
            self.failing,
            self.repeats + 1,
        )
        self.failing, self.repeats = None, 0


async def drain_forever(services: Services, *, interval: float, tick: float = 0.5) -> None:
    """Drain every ``interval`` seconds, and at once when the breaker closes again. A drain
    that keeps failing (Redis down or misconfigured) logs once when it starts and once when
    it works again (see :class:`Outage`)."""
    helpdesk = services.helpdesk
    last_state = helpdesk.breaker_state
    outage = Outage(log, "drain")
    waited = interval  # drain once at start: tickets may be waiting from before a restart
    while True:
        state = helpdesk.breaker_state
        reopened = state is BreakerState.CLOSED and last_state is not BreakerState.CLOSED
        last_state = state
        if waited >= interval or reopened:
            waited = 0.0
            try:
                report = await services.drain()
                if report.processed:
                    log.info(
                        "drain: %d processed, %d created, %d failed, %d dead, %d remaining",
                        report.processed,
                        report.created,
                        report.failed,
                        report.dead,
                        report.remaining,
                    )
            except TicketingError as exc:
                outage.failed(type(exc).__name__, "drain failed: %s", exc.message)
            except Exception as exc:
                outage.failed(
                    type(exc).__name__, "drain crashed; trying again in %ss", interval, exc=exc
                )
            else:
                outage.recovered()
        step = min(tick, interval)
        await anyio.sleep(step)
        waited += step


async def run_background(
    tg: TaskGroup, container: Container, services: Services, *, drain: bool, consumer: bool
) -> None:
    """Start the call gate's upkeep, the drain loop and, with Redis, the inbound consumer in
    ``tg``. Cancelling ``tg`` stops them; the gate then gives back the call slots it kept."""
    tg.start_soon(services.helpdesk.run_upkeep)
    if drain:
        tg.start_soon(
            functools.partial(
                drain_forever, services, interval=services.settings.queue_retry_interval
            )
        )
    if consumer:
        from ticketing.container import redis_of

        redis = await redis_of(container)
        if redis is None:
            log.info("no REDIS_URL: the Redis inbound consumer is off")
        else:
            from ticketing.entrypoints.consumer import InboundConsumer

            inbound = InboundConsumer(redis, services)
            tg.start_soon(inbound.run)
