"""Submitting a ticket: accept it durably, then try to create it right away."""

from __future__ import annotations

import logging

from ticketing.application import context
from ticketing.application.guard import GuardedHelpdesk
from ticketing.application.intake import caller_key
from ticketing.application.tickets.processor import TicketProcessor
from ticketing.domain.errors import IdempotencyKeyReused, StoreUnavailable
from ticketing.domain.model import Outcome, Source, TicketDraft, same_request
from ticketing.domain.ports import Metrics, TicketLedger

log = logging.getLogger(__name__)


class SubmitTicket:
    """Accept a ticket durably, then try to create it right away.

    Returns CREATED when the helpdesk took it now, ACCEPTED (queued) when it could not, DEAD
    when it refused it, and for a key seen before, that key's first outcome. A key seen
    before with another request (see ``request_fingerprint``) is refused when a client sent
    it (``IdempotencyKeyReused``); an incident redelivered with other content keeps the
    first, with a warning (a stream has nobody to refuse it to).
    """

    def __init__(
        self,
        store: TicketLedger,
        processor: TicketProcessor,
        helpdesk: GuardedHelpdesk,
        *,
        metrics: Metrics | None = None,
    ):
        self._store = store
        self._processor = processor
        self._helpdesk = helpdesk
        self._metrics = metrics

    async def finish(self, draft: TicketDraft) -> Outcome:
        """Attempt an accepted, unfinished ticket now (its lease taken over if the process
        that held it is gone); one whose lease a living process holds is left to it. The
        draft attempted is the one accepted under its key (a redelivery may differ)."""
        return await self._processor.process(await self._store.draft(draft.key) or draft)

    async def __call__(
        self, draft: TicketDraft, *, attempt_now: bool = True
    ) -> tuple[Outcome, bool]:
        """Returns the outcome and whether the key was new."""
        # Every line logged on the way (queued, refused, the Zoho calls) names the ticket.
        with context.bind(
            request_id=draft.request_id, incident_id=draft.incident_id, key=draft.key
        ):
            return await self._submit(draft, attempt_now)

    async def _submit(self, draft: TicketDraft, attempt_now: bool) -> tuple[Outcome, bool]:
        owner = self._processor.new_owner()
        leased = False
        # Decided once: a ticket leased here is attempted here (an attempt that finds the
        # breaker open meanwhile leaves it queued and gives the lease back).
        attempt = attempt_now and self._helpdesk.available
        # A process that cannot hold its heartbeat takes no lease: it only queues the ticket.
        run = await self._processor.hold() if attempt else None
        attempt = attempt and run is not None
        if attempt:
            # Accepted and leased in one step: the attempt needs no round trip of its own.
            try:
                accepted = await self._store.accept_and_lease(
                    draft, owner, self._processor.lease_ttl
                )
            except StoreUnavailable:
                # The lease may have been taken before the step failed (or was not confirmed).
                self._processor.give_back_later(draft.key, owner)
                raise
            outcome, new, leased = accepted.outcome, accepted.new, accepted.leased
        else:
            outcome, new = await self._store.accept(draft)
        if not new and not same_request(draft, outcome):
            self._another_request(draft, outcome)
        self._count("accepted" if new else "duplicate", draft)
        if not new:
            return outcome, False
        if not attempt:
            self._queued(draft, self._not_attempted(attempt_now, run))
            return outcome, True
        try:
            if leased:
                result = await self._processor.process_leased(draft, owner, outcome, run=run or 0)
            else:
                result = await self._processor.process(draft)
            if not result.state.finished:
                self._queued(draft, result.reason or self._helpdesk.why_unavailable())
            return result, True
        except StoreUnavailable as exc:
            # Accepted already (the step above succeeded): the ticket is durable, so the
            # caller hears "queued", not an error that would tempt it to send it again.
            log.warning("store failed after accepting %s: %s", draft.key, exc.message)
            self._count("queued", draft)
            return outcome, True

    def _queued(self, draft: TicketDraft, reason: str | None) -> None:
        """The ticket goes to the queue: counted, and said once (its retries are not)."""
        self._count("queued", draft)
        log.info(
            "ticket %s queued: %s", draft.key, reason or "not created yet; the drain tries again"
        )

    def _not_attempted(self, attempt_now: bool, run: int | None) -> str:
        if not attempt_now:
            return "left to the drain"
        why = self._helpdesk.why_unavailable()
        if why is not None:
            return why
        if run is None:
            return "this process cannot hold its heartbeat now; left to the drain"
        return "not attempted now; left to the drain"

    def _another_request(self, draft: TicketDraft, first: Outcome) -> None:
        """A known key with another request: refused to a client; an incident keeps its
        first content (logged once per redelivery)."""
        if draft.source is not Source.REDIS:
            raise IdempotencyKeyReused(caller_key(draft.key))
        log.warning(
            "incident %s delivered again with other content: the first is kept (%s), this "
            "one is ignored",
            draft.incident_id or draft.key,
            first.state.value,
        )

    def _count(self, outcome: str, draft: TicketDraft) -> None:
        if self._metrics is not None:
            self._metrics.ticket(outcome, draft.source)
