"""Draining the pending queue: claim entries in a stream of batches and process them."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import anyio

from ticketing.application.guard import GuardedHelpdesk
from ticketing.application.tickets.processor import TicketProcessor
from ticketing.domain.breaker import BreakerState
from ticketing.domain.errors import StoreUnavailable, TicketingError
from ticketing.domain.model import DrainReport, Outcome, QueuedTicket, TicketState
from ticketing.domain.ports import PendingQueue
from ticketing.domain.timeouts import Timeouts

log = logging.getLogger(__name__)

# Moves the pending entries of processes that are gone to this consumer; returns how many
# processes were gone.
TakeOver = Callable[[], Awaitable[int]]


@dataclass
class DrainState:
    """What the drain has done, for health and the CLI."""

    running: bool = False
    passes: int = 0
    last_report: DrainReport | None = None
    totals: DrainReport = field(default_factory=DrainReport)


class _PassRun:
    """The book-keeping of one streaming drain pass."""

    def __init__(self, report: DrainReport) -> None:
        self.report = report
        self.unfinished = 0  # claimed and not finished yet (waiting for a worker or running)
        self.outstanding = 0  # claimed and not acked: unfinished, or left for the next pass
        self.store_failures: list[StoreUnavailable] = []
        self._changed = anyio.Event()

    def started(self, entry: QueuedTicket) -> None:
        self.unfinished += 1
        self.outstanding += 1

    def finished(self, entry: QueuedTicket, outcome: Outcome | None) -> None:
        self.unfinished -= 1
        if outcome is not None:
            report = self.report
            report.processed += 1
            if outcome.state is TicketState.CREATED:
                report.created += 1
                self.outstanding -= 1
            elif outcome.state is TicketState.APPENDED:
                report.appended += 1
                self.outstanding -= 1
            elif outcome.state is TicketState.DEAD:
                report.dead += 1
                self.outstanding -= 1
            else:
                report.failed += 1
                if outcome.reason and len(report.errors) < 10:
                    report.errors.append(f"{entry.draft.key}: {outcome.reason}")
        self._changed.set()
        self._changed = anyio.Event()

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        while not condition():
            await self._changed.wait()


class DrainQueue:
    """Work through the pending queue: several processes can drain it at once.

    Each pass claims batches for this process's consumer (its own unfinished entries, then
    entries abandoned by dead consumers, then new ones) and processes up to ``concurrency`` of
    them at once, claiming the next batch before the last one has finished. Zoho's cap on calls
    in flight is the helpdesk's call gate's business, so ``concurrency`` may exceed it (tickets
    between two calls then leave their slot to another). A pass stops when the breaker opens,
    Zoho asks to wait, or nothing new comes back.
    """

    def __init__(
        self,
        store: PendingQueue,
        processor: TicketProcessor,
        helpdesk: GuardedHelpdesk,
        *,
        consumer: str,
        concurrency: int = 10,
        batch_size: int = 50,
        reclaim_idle: float | None = None,
        take_over: TakeOver | None = None,
        take_over_every: float | None = None,
    ) -> None:
        self._store = store
        self._processor = processor
        self._helpdesk = helpdesk
        self.consumer = consumer
        self._limiter = anyio.CapacityLimiter(concurrency)
        self._batch = batch_size
        self._reclaim_idle = (
            reclaim_idle
            or Timeouts.from_attempt(processor.policy.attempt_timeout).queue_reclaim_idle
        )
        self._take_over = take_over
        self.take_over_every = (
            take_over_every
            or Timeouts.from_attempt(processor.policy.attempt_timeout).takeover_every
        )
        self.state = DrainState()
        self._pass_lock = anyio.Lock()

    async def take_over_forever(self) -> None:
        """Every ``take_over_every`` seconds, take over the pending entries of processes
        that are gone (their heartbeat expired) and drain at once when one was, so their
        tickets (those in their pending lists, and those whose lease they held) wait for the
        heartbeat, not for the attempt-sized reclaim or the next drain. Returns at once
        without Redis (nothing is shared, nothing to take)."""
        if self._take_over is None:
            return
        while True:
            await anyio.sleep(self.take_over_every)
            try:
                if gone := await self._take_over():
                    log.info("took over the pending tickets of processes that are gone (%d)", gone)
                    await self()
            except TicketingError as exc:
                log.debug("taking over dead processes' tickets: %s", exc.message)
            except Exception:
                log.exception("taking over dead processes' tickets crashed; trying again")

    async def __call__(
        self,
        *,
        limit: int | None = None,
        progress: Callable[[DrainReport], None] | None = None,
    ) -> DrainReport:
        """One pass; ``limit`` caps how many entries it processes."""
        async with self._pass_lock:
            self.state.running = True
            try:
                report = await self._pass(limit, progress)
            finally:
                self.state.running = False
            self.state.passes += 1
            self.state.last_report = report
            totals = self.state.totals
            totals.processed += report.processed
            totals.created += report.created
            totals.appended += report.appended
            totals.failed += report.failed
            totals.dead += report.dead
            return report

    async def _pass(
        self, limit: int | None, progress: Callable[[DrainReport], None] | None
    ) -> DrainReport:
        """Claim and process entries as a stream: the next batch is claimed while the last
        ones are still being worked on, so Zoho's call slots never wait for a whole batch to
        finish (or for the acks and the next claim)."""
        report = DrainReport()
        run = _PassRun(report)
        seen: set[str] = set()
        claimed = 0
        async with anyio.create_task_group() as tg:
            while limit is None or claimed < limit:
                # Claim more once no more than one batch's worth is left to start.
                await run.wait_until(lambda: run.unfinished <= self._batch)
                if self._helpdesk.breaker_state is BreakerState.HALF_OPEN:
                    # One trial first; the rest follow once it has closed the breaker.
                    await run.wait_until(lambda: run.unfinished == 0)
                state = self._helpdesk.breaker_state
                if state is BreakerState.OPEN or self._helpdesk.paused_for():
                    break
                want = self._batch if limit is None else min(self._batch, limit - claimed)
                if state is BreakerState.HALF_OPEN:
                    want = 1
                # This consumer's own entries come first in a claim: the ones still being
                # worked on and the ones left unfinished, which ``seen`` filters out.
                try:
                    batch = await self._store.claim(
                        self.consumer, run.outstanding + want, self._reclaim_idle
                    )
                except StoreUnavailable as exc:
                    # Raised here it would leave the task group as an exception group (a
                    # crash, a 500): recorded like a worker's, and raised alone below.
                    run.store_failures.append(exc)
                    break
                fresh = [entry for entry in batch if entry.entry_id not in seen]
                if not fresh:
                    break
                seen.update(entry.entry_id for entry in fresh)
                claimed += len(fresh)
                for entry in fresh:
                    run.started(entry)
                    tg.start_soon(self._work, run, entry)
                if progress:
                    progress(report)
        if run.store_failures:
            # One StoreUnavailable (a 503, a logged warning), not an exception group that
            # reads as a crash; what did finish was recorded by the store already.
            raise run.store_failures[0]
        report.remaining = await self._store.pending_count()
        if progress:
            progress(report)
        return report

    async def _work(self, run: _PassRun, entry: QueuedTicket) -> None:
        try:
            async with self._limiter:
                outcome = await self._processor.process(entry.draft)
                if outcome.state.finished:
                    await self._store.ack(entry.entry_id)
        except StoreUnavailable as exc:
            # The entry stays with this consumer and comes back on the next claim.
            run.store_failures.append(exc)
            run.finished(entry, None)
            return
        except BaseException:
            run.finished(entry, None)
            raise
        run.finished(entry, outcome)
