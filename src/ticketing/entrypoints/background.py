"""Background work shared by `serve` and `worker`: the call gate's upkeep, the queue drain loop
and the inbound consumer."""

from __future__ import annotations

import functools
import logging

import anyio
from anyio.abc import TaskGroup

from ticketing.container import Container, Services, redis_of
from ticketing.domain.breaker import BreakerState
from ticketing.domain.errors import TicketingError
from ticketing.entrypoints.consumer import InboundConsumer
from ticketing.entrypoints.outage import Outage

log = logging.getLogger(__name__)


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
        tg.start_soon(services.drain.take_over_forever)
    if consumer:
        redis = await redis_of(container)
        if redis is None:
            log.info("no REDIS_URL: the Redis inbound consumer is off")
        else:
            inbound = InboundConsumer(redis, services)
            tg.start_soon(inbound.run)
