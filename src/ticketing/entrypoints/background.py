"""Background work shared by `serve` and `worker`: the call gate's upkeep, the queue drain loop
and the inbound consumer."""

from __future__ import annotations

import functools
import logging
from typing import Final

import anyio
from anyio.abc import TaskGroup

from ticketing.application.sync.access import SYNC_SCOPES, missing_sync_scopes
from ticketing.container import Container, Services, SyncServices, redis_of
from ticketing.container.attachments import AttachmentServices
from ticketing.domain.breaker import BreakerState
from ticketing.domain.errors import HelpdeskAuthError, TicketingError
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
                    # A pass that only retried (a breaker's trial, a pause) says nothing new:
                    # the guard's lines tell the outage once; its retries stay at debug.
                    done = report.created + report.appended + report.dead
                    log.log(
                        logging.INFO if done else logging.DEBUG,
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


# In webhook mode the poller still runs, this many poll intervals apart: Zoho documents no
# redelivery, so a delivery lost (Redis down, a deploy) is caught up by the next poll.
SAFETY_POLL_INTERVALS: Final = 15
# Seconds between two looks at an empty inbox, and after a failed pass.
SYNC_TICK: Final = 0.25
SYNC_BACKOFF: Final = 5.0


async def sync_mode(sync: SyncServices) -> str:
    """SYNC_MODE, or when unset: webhook when a subscription is registered (and a token
    set), else poll."""
    if sync.mode is not None:
        return sync.mode
    registered = sync.token and await sync.log.registered_webhook()
    return "webhook" if registered else "poll"


def _denied_scopes(exc: HelpdeskAuthError, mode: str) -> list[str] | None:
    """The scopes a refusal says the sync lacks (Zoho's ``SCOPE_MISMATCH``); None for any
    other refusal (a revoked token is the credentials' trouble, reported by them)."""
    if exc.code != "SCOPE_MISMATCH":
        return None
    return [name for name, _ in SYNC_SCOPES.get(mode, ()) if name != "Desk.events.ALL"]


async def granted_missing(sync: SyncServices, mode: str) -> list[str]:
    """The scopes ``mode`` needs that Zoho did not grant the token (none when the grant is
    not known: the token store is down, or Zoho did not say)."""
    if sync.credentials is None:
        return []
    try:
        status = await sync.credentials.report()
    except TicketingError:
        return []
    return missing_sync_scopes(status.scope, mode) if status.scope else []


async def sync_forever(sync: SyncServices, mode: str) -> None:
    """Handle the inbox's webhook deliveries as they come, and poll every
    SYNC_POLL_INTERVAL (poll mode) or as a safety net (webhook mode); one poller works
    fleet-wide (a lease), the others skip. A failing pass logs once and waits a little.

    The token's scopes are checked at start and before each poll, and a call Zoho refuses
    for its scope marks them missing until a pass works again: ``sync.access`` says so
    (``/health``), in one log line per change."""
    outage = Outage(log, "sync")
    every = sync.poll_interval * (1 if mode == "poll" else SAFETY_POLL_INTERVALS)
    next_poll = anyio.current_time()
    granted = await granted_missing(sync, mode)
    denied: list[str] = []
    detail: str | None = None
    while True:
        busy = False
        waiting = False
        try:
            report = await sync.handle(sync.consumer)
            busy = report.entries > 0
            waiting = report.waiting is not None
            refused = _denied_scopes(report.denied, mode) if report.denied else None
            if refused is not None:
                denied, detail = refused, report.denied.message if report.denied else None
            elif report.done:
                denied = []
            if anyio.current_time() >= next_poll:
                next_poll = anyio.current_time() + every
                granted = await granted_missing(sync, mode)
                try:
                    polled = await sync.poll()
                except HelpdeskAuthError as exc:
                    refused = _denied_scopes(exc, mode)
                    if refused is None:
                        raise
                    denied, detail = refused, exc.message
                else:
                    if polled.polled:
                        denied = []
                    if polled.published:
                        log.info(
                            "sync poll: %d tickets changed (%d ours), %d events, %d credits",
                            polled.changed,
                            polled.ours,
                            polled.published,
                            polled.credits,
                        )
        except TicketingError as exc:
            outage.failed(type(exc).__name__, "sync failed: %s", exc.message)
            await anyio.sleep(SYNC_BACKOFF)
            continue
        except Exception as exc:
            outage.failed(type(exc).__name__, "sync crashed; trying again", exc=exc)
            await anyio.sleep(SYNC_BACKOFF)
            continue
        finally:
            sync.access.update([*granted, *denied], detail)
        outage.recovered()
        if waiting:
            # An entry waits on Zoho or Redis: handing it straight back would spin (and
            # spend its deliveries) while they are down.
            await anyio.sleep(SYNC_BACKOFF)
        elif not busy:
            await anyio.sleep(SYNC_TICK)


# Seconds between two looks at an empty attachments queue, and after a failed pass.
ATTACHMENTS_TICK: Final = 1.0
ATTACHMENTS_BACKOFF: Final = 5.0


async def attachments_forever(attachments: AttachmentServices) -> None:
    """Put the requests' files on their tickets as their jobs come (one pass after another
    while there is work); a pass that waits on Zoho or Redis backs off, and a failing one
    logs once until it works again."""
    outage = Outage(log, "attachments")
    while True:
        try:
            report = await attachments.put(attachments.consumer)
        except TicketingError as exc:
            outage.failed(type(exc).__name__, "attachments failed: %s", exc.message)
            await anyio.sleep(ATTACHMENTS_BACKOFF)
            continue
        except Exception as exc:
            outage.failed(type(exc).__name__, "attachments crashed; trying again", exc=exc)
            await anyio.sleep(ATTACHMENTS_BACKOFF)
            continue
        outage.recovered()
        if report.waiting is not None or report.done < report.jobs:
            await anyio.sleep(ATTACHMENTS_BACKOFF)
        elif not report.jobs:
            await anyio.sleep(ATTACHMENTS_TICK)


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
    if drain and services.attachments is not None:
        tg.start_soon(attachments_forever, services.attachments)
    sync = services.sync
    if (drain or consumer) and sync is not None:
        mode = await sync_mode(sync)
        if mode == "off":
            log.info("SYNC_MODE=off: agents' replies and status changes are not published")
        else:
            log.info("two-way sync: %s mode", mode)
            if services.metrics is not None:
                services.metrics.watch_sync(sync.lag)
            tg.start_soon(sync_forever, sync, mode)
    if consumer:
        redis = await redis_of(container)
        if redis is None:
            log.info("no REDIS_URL: the Redis inbound consumer is off")
        else:
            inbound = InboundConsumer(redis, services)
            tg.start_soon(inbound.run)
