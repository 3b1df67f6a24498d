"""Processing one accepted ticket: create it in the helpdesk exactly once, under its lease."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import timedelta

import anyio

from ticketing.application import context
from ticketing.application.contacts import ContactClaim, ContactResolver
from ticketing.application.guard import GuardedHelpdesk
from ticketing.application.tickets.follow_ups import FollowUps, Waiting
from ticketing.domain.conversation import Comment
from ticketing.domain.errors import (
    BreakerOpen,
    HelpdeskAuthError,
    HelpdeskRejected,
    HelpdeskUnavailable,
    StoreUnavailable,
    TicketTaken,
)
from ticketing.domain.model import (
    Joined,
    NewContact,
    Outcome,
    Ticket,
    TicketDraft,
    TicketRequest,
    TicketState,
)
from ticketing.domain.ports import (
    Clock,
    Metrics,
    ProcessLiveness,
    TicketLedger,
    TicketProbe,
    lease_owner,
)
from ticketing.domain.timeouts import Timeouts

log = logging.getLogger(__name__)

LAPSED = (
    "this process's heartbeat may have lapsed (Redis out of reach or the process starved), so "
    "the fleet may have taken the ticket over; left to whoever holds it"
)

LOOK_UP_MARGIN = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class ProcessingPolicy:
    """How hard and how carefully to try."""

    max_deliveries: int = 20
    # An ambiguous create is looked up before it is re-posted; the helpdesk's search can lag
    # a fresh ticket, and a create cut off by a timeout can still be committed after it, so
    # a miss is trusted only this long after the attempt ENDED (not after it began).
    ambiguous_grace: float = 30.0
    # Longest one attempt can take (contact resolution + create, with timeouts); leases and
    # the reclaim idle time are set well above it.
    attempt_timeout: float = 60.0


@dataclass(slots=True)
class _Attempt:
    """One attempt at a ticket under its lease: the lease's owner, and whether the lease went
    back already (with the completion, in the same step)."""

    owner: str
    released: bool = False
    # The heartbeat's run when the lease was taken (None without a heartbeat).
    run: int | None = None
    # The ticket had been queued before this attempt (a drain's retry), and how many sends
    # the ledger counts so far: the line of its creation says so.
    retry: bool = False
    attempts: int = 0


class TicketProcessor:
    """Creates one accepted ticket in the helpdesk, exactly once.

    Only the holder of the ticket's lease (the store's, fleet-wide) works on it. An ambiguous
    earlier attempt (state CREATING) is looked up before anything is re-posted.
    """

    def __init__(
        self,
        store: TicketLedger,
        helpdesk: GuardedHelpdesk,
        contacts: ContactResolver,
        clock: Clock,
        policy: ProcessingPolicy | None = None,
        *,
        on_created: Callable[[TicketDraft, Outcome], None] | None = None,
        metrics: Metrics | None = None,
        holder: str = "",
        liveness: ProcessLiveness | None = None,
        follow_ups: FollowUps | None = None,
    ) -> None:
        self._store = store
        self._helpdesk = helpdesk
        self._contacts = contacts
        self._clock = clock
        self.policy = policy or ProcessingPolicy()
        self._on_created = on_created
        self._metrics = metrics
        self._holder = holder
        # This process's heartbeat (None: none, as with the in-process backend): a create is
        # sent only while it has been held, unbroken, since the ticket's lease was taken.
        self._liveness = liveness
        # THREAD_WINDOW: incidents that join the customer's open ticket as comments.
        self._follow_ups = follow_ups
        # Leases whose giving back failed (Redis out of reach, a failover): given back before
        # the next lease is taken, not left to expire (twice the attempt timeout) while this
        # living process is the only one that may free them.
        self._unreleased: set[tuple[str, str]] = set()

    def new_owner(self) -> str:
        """A fresh owner for one holding of a ticket's lease: ``<holder>/<token>`` when this
        process has a heartbeat (``holder`` is its name and incarnation), so that the fleet
        can take the lease over as soon as the process is gone."""
        return f"{self._holder}/{lease_owner()}" if self._holder else lease_owner()

    @property
    def lease_ttl(self) -> float:
        """Seconds a ticket's lease lasts: well over one attempt, which is cut off before."""
        return Timeouts.from_attempt(self.policy.attempt_timeout).lease

    async def process(self, draft: TicketDraft) -> Outcome:
        """Try to create the ticket now; returns the key's outcome afterwards.

        Transient failures leave the ticket ACCEPTED (or CREATING when ambiguous) for a later
        drain; permanent ones bury it in the dead letters. A ticket whose lease another
        process holds is left to it.
        """
        with _naming(draft):
            run = await self.hold()
            if run is None:
                return await self._current(draft)  # no heartbeat: left to a process with one
            owner = self.new_owner()
            leased = await self._store.lease(draft.key, owner, self.lease_ttl)
            if not leased.held:
                return leased.record or _accepted(draft)
            return await self._attempt(draft, _Attempt(owner, run=run, retry=True), leased.record)

    async def hold(self) -> int | None:
        """Before taking a lease: the heartbeat's current run (0 without a heartbeat), or None
        when this process cannot hold its heartbeat now (then it takes no lease)."""
        await self._give_back()
        if self._liveness is None:
            return 0
        return await self._liveness.hold()

    def give_back_later(self, key: str, owner: str) -> None:
        """A lease ``owner`` may hold and could not give back now: given back before the next
        lease is taken (harmless if it was never taken)."""
        self._unreleased.add((key, owner))

    async def _give_back(self) -> None:
        for key, owner in sorted(self._unreleased):
            try:
                await self._store.release(key, owner)
            except StoreUnavailable:
                return  # still out of reach: the next one tries again
            self._unreleased.discard((key, owner))

    async def process_leased(
        self, draft: TicketDraft, owner: str, record: Outcome, *, run: int = 0
    ) -> Outcome:
        """:meth:`process` for a ticket whose lease ``owner`` took with its acceptance
        (``record`` is what the acceptance returned; ``run`` what :meth:`hold` said before
        it); the lease is given back afterwards."""
        retry = record.attempts > 0 or record.reason is not None
        with _naming(draft):
            return await self._attempt(draft, _Attempt(owner, run=run, retry=retry), record)

    async def _attempt(
        self, draft: TicketDraft, attempt: _Attempt, record: Outcome | None
    ) -> Outcome:
        try:
            with anyio.fail_after(self.policy.attempt_timeout):
                # No record only if the store lost it: worked on as accepted, never as created.
                return await self._process_leased(draft, attempt, record or _accepted(draft))
        except TimeoutError:
            log.warning(
                "attempt for %s took longer than %ss", draft.key, self.policy.attempt_timeout
            )
            with anyio.CancelScope(shield=True):
                current = await self._current(draft)
                if current.state is TicketState.CREATING and current.attempt_ended_at is None:
                    # The create in flight was cut off here: the grace runs from now.
                    ended = self._clock.now()
                    await self._store.mark_ambiguous(draft.key, ended)
                    current = replace(current, attempt_ended_at=ended)
            return current
        finally:
            if not attempt.released:
                with anyio.CancelScope(shield=True):
                    try:
                        await self._store.release(draft.key, attempt.owner)
                    except StoreUnavailable:
                        self.give_back_later(draft.key, attempt.owner)
                        raise

    async def _current(self, draft: TicketDraft) -> Outcome:
        outcome = await self._store.get(draft.key)
        return outcome or _accepted(draft)

    async def _process_leased(
        self, draft: TicketDraft, attempt: _Attempt, record: Outcome
    ) -> Outcome:
        if record.state.finished:
            return record
        if record.attempts >= self.policy.max_deliveries:
            return await self._bury(
                draft, f"gave up after {record.attempts} attempts: {record.reason}"
            )
        try:
            if self._follow_ups is not None and self._follow_ups.applies(draft):
                joined = await self._follow_ups.decide(draft, record)
                if isinstance(joined, Waiting):
                    log.info("%s is not tried yet: %s", draft.key, joined.reason)
                    return replace(record, reason=joined.reason)
                if not joined.new:
                    appended = await self._append(draft, attempt, record, joined)
                    if appended is not None:
                        return appended
                    record = await self._current(draft)  # refused: a ticket of its own
            ambiguous = record.state is TicketState.CREATING
            if not ambiguous and not draft.contact_id and self._contacts.inline_for(draft.customer):
                return await self._create_first(draft, attempt)
            if ambiguous and await self._inline_contact_may_lag(draft, record):
                return record  # its contact may not be searchable yet; look again later
            contact_id = draft.contact_id or await self._contacts.resolve(
                draft.customer, channel=draft.channel
            )
            department_id = draft.department_id or await self._helpdesk.department_id()
            if ambiguous:
                found = await self._look_up(draft, contact_id)
                if found is not None:
                    log.info("ambiguous create of %s had succeeded: %s", draft.key, found.id)
                    try:
                        return await self._complete(draft, found, attempt)
                    except TicketTaken as exc:
                        # Recorded for another key between the look-up and now: not ours.
                        log.warning("look-up for %s: %s; not taken", draft.key, exc.message)
                if self._waited(record) < self.policy.ambiguous_grace:
                    return record  # the search may not show it yet; look again later
            return await self._create(draft, attempt, contact_id, department_id)
        except BreakerOpen:
            return record
        except HelpdeskAuthError as exc:
            # An operator must fix credentials; keep the ticket, do not bury it.
            await self._store.mark_failed(draft.key, exc.message)
            return replace(record, reason=exc.message)
        except HelpdeskUnavailable as exc:
            # Before the create (contact, department, look-up): nothing new was sent, and an
            # earlier ambiguous attempt stays ambiguous.
            if record.state is not TicketState.CREATING:
                await self._store.mark_failed(draft.key, exc.message)
            return replace(record, reason=exc.message)
        except HelpdeskRejected as exc:
            return await self._bury(draft, f"Zoho refused it: {exc.message}")

    async def _append(
        self, draft: TicketDraft, attempt: _Attempt, record: Outcome, joined: Joined
    ) -> Outcome | None:
        """A follow-up onto the open ticket ``joined``: one public comment, exactly once.
        None when the ticket refused it (a new ticket is then made instead)."""
        assert self._follow_ups is not None
        ticket_id = joined.ticket_id
        if record.state is TicketState.CREATING:
            # An earlier post may have been taken: looked up before anything is re-posted.
            found = await self._follow_ups.find(ticket_id, draft.key, record.last_attempt_at)
            if found is not None:
                log.info("ambiguous comment of %s had been added: %s", draft.key, found.id)
                return await self._appended(draft, joined, found, attempt)
            if self._waited(record) < self.policy.ambiguous_grace:
                return record  # a post cut off by a timeout may still land; look again later
        if (lapsed := await self._mark_sending(draft, attempt)) is not None:
            return lapsed
        try:
            comment = await self._follow_ups.post(ticket_id, draft)
        except (HelpdeskUnavailable, HelpdeskAuthError) as exc:
            return await self._not_done(draft, exc, f"comment on {ticket_id}")
        except HelpdeskRejected as exc:
            # Definitely not added (the ticket was deleted, merged or cannot take comments).
            await self._store.mark_failed(draft.key, exc.message)
            log.warning(
                "Zoho refused %s as a comment on ticket %s (%s): it becomes a ticket of its own",
                draft.key,
                ticket_id,
                exc.message,
            )
            await self._follow_ups.give_up(draft)
            return None
        return await self._appended(draft, joined, comment, attempt)

    async def _appended(
        self, draft: TicketDraft, joined: Joined, comment: Comment, attempt: _Attempt
    ) -> Outcome:
        at = comment.created_time or self._clock.now()
        outcome = await self._record(
            draft, Outcome.appended(draft, joined, comment.id, at), attempt
        )
        log.info(
            "appended %s to ticket %s (#%s) as comment %s",
            draft.key,
            joined.ticket_id,
            joined.ticket_number,
            comment.id,
        )
        return outcome

    def _waited(self, record: Outcome) -> float:
        """Seconds since the last create ended. Without a recorded end (its process died, or
        the record predates it), the latest it could have ended: when its timeout cut it off."""
        ended = record.attempt_ended_at
        if ended is None and record.last_attempt_at is not None:
            latest = Timeouts.from_attempt(self.policy.attempt_timeout).ambiguous_attempt_end
            ended = record.last_attempt_at + timedelta(seconds=latest)
        return (self._clock.now() - ended).total_seconds() if ended else 1e9

    async def _inline_contact_may_lag(self, draft: TicketDraft, record: Outcome) -> bool:
        """After an ambiguous create that may have carried its contact inline, Zoho may have
        made the contact then; its search can lag a fresh contact as it lags a fresh ticket,
        and searching too early would create a second contact (and, without the idempotency
        field, miss the ticket by contact and post it again). So such a contact is searched
        for only once the grace period has passed."""
        if draft.contact_id or not self._contacts.inline_for(draft.customer):
            return False
        if await self._contacts.cached(draft.customer):
            return False
        return self._waited(record) < self.policy.ambiguous_grace

    async def _create_first(self, draft: TicketDraft, attempt: _Attempt) -> Outcome:
        """A ticket whose contact may be new: sent with the contact inline when it is, under
        the customer's lock, so the customer's next ticket finds the contact id it got."""
        department_id = draft.department_id or await self._helpdesk.department_id()
        async with self._contacts.claim(draft.customer, channel=draft.channel) as claim:
            return await self._create(draft, attempt, claim.contact_id, department_id, claim=claim)

    async def _create(
        self,
        draft: TicketDraft,
        attempt: _Attempt,
        contact_id: str | None,
        department_id: str,
        *,
        claim: ContactClaim | None = None,
    ) -> Outcome:
        # Values the portal's picklists lack, dropped (and kept in the description) so far.
        dropped: list[str] = []
        contact_retried = False
        while True:  # at most one post per picklist field, and one for a stale contact
            if (lapsed := await self._mark_sending(draft, attempt)) is not None:
                return lapsed
            inline = claim.new_contact if claim is not None and contact_id is None else None
            request = self._request(draft, contact_id, department_id, inline=inline)
            for name in dropped:
                request = _without(request, name)
            try:
                ticket = await self._helpdesk.create_ticket(request)
            except (HelpdeskUnavailable, HelpdeskAuthError) as exc:
                return await self._not_done(draft, exc, "create")
            except HelpdeskRejected as exc:
                # The create definitely did not happen.
                await self._store.mark_failed(draft.key, exc.message)
                refused = request.without_picklist_value(exc.field)
                if refused is not None and exc.field is not None:
                    # A picklist never costs a message: sent again at once without the value.
                    dropped.append(exc.field)
                    self._picklist_refused(draft, exc.field, refused[1])
                    continue
                stale_contact = (exc.field or "").lower().startswith("contact")
                if not contact_retried and stale_contact and not draft.contact_id:
                    contact_retried = True
                    if inline is not None and claim is not None:
                        # Zoho refused the inline contact: find or create it the usual way.
                        contact_id = await claim.find_or_create()
                        continue
                    # A cached contact that was deleted or merged in Zoho: resolve afresh.
                    await self._contacts.forget(draft.customer)
                    contact_id = await self._contacts.resolve(draft.customer, channel=draft.channel)
                    continue
                raise
            outcome = await self._complete(draft, ticket, attempt)
            if inline is not None and claim is not None and ticket.contact_id:
                await self._learn(claim, ticket.contact_id)
            return outcome

    async def _mark_sending(self, draft: TicketDraft, attempt: _Attempt) -> Outcome | None:
        """Mark the key CREATING before a create or a comment is sent; the outcome to answer
        with instead when this process's heartbeat may have lapsed (nothing is sent then)."""
        if self._lapsed(draft, attempt, "before marking it"):
            return replace(await self._current(draft), reason=LAPSED)
        marked = await self._store.mark_creating(draft.key, self._clock.now())
        attempt.attempts = marked.attempts
        if self._lapsed(draft, attempt, "after marking it"):
            # Marked CREATING but never sent: recorded as an attempt that ended now, so
            # whoever takes it looks it up (and finds nothing) before posting it.
            await self._store.mark_ambiguous(draft.key, self._clock.now())
            return replace(await self._current(draft), reason=LAPSED)
        return None

    async def _not_done(
        self, draft: TicketDraft, exc: HelpdeskUnavailable | HelpdeskAuthError, what: str
    ) -> Outcome:
        """A create or a comment that failed for now: ambiguous when it may have been taken
        (it stays CREATING, looked up before anything is posted again, once the grace from
        now has passed), else back to ACCEPTED with the reason."""
        if isinstance(exc, HelpdeskUnavailable) and exc.sent:
            log.warning("%s of %s is ambiguous: %s", what, draft.key, exc.message)
            await self._store.mark_ambiguous(draft.key, self._clock.now())
        else:
            await self._store.mark_failed(draft.key, exc.message)
        return replace(await self._current(draft), reason=exc.message)

    def _lapsed(self, draft: TicketDraft, attempt: _Attempt, when: str) -> bool:
        """True (and one warning) when this process's heartbeat may have lapsed since the
        ticket's lease was taken."""
        if self._liveness is None or attempt.run is None:
            return False
        if self._liveness.held_since(attempt.run):
            return False
        log.warning("not creating %s (%s): %s", draft.key, when, LAPSED)
        return True

    def _picklist_refused(self, draft: TicketDraft, name: str, value: str) -> None:
        log.warning(
            "Zoho Desk refused %s %r for %s (not in the portal's picklist): sending it "
            "without it, the value kept in the description; fix: add the value to the "
            "portal's %s picklist (see `ticketing doctor`)",
            name,
            value,
            draft.key,
            name,
        )
        if self._metrics is not None:
            self._metrics.picklist_refused(name)

    async def _learn(self, claim: ContactClaim, contact_id: str) -> None:
        try:
            await claim.remember(contact_id)
        except StoreUnavailable as exc:
            # The ticket is recorded already; the next ticket only costs the search again.
            log.warning("could not cache contact %s: %s", contact_id, exc.message)

    def _request(
        self,
        draft: TicketDraft,
        contact_id: str | None,
        department_id: str,
        *,
        inline: NewContact | None = None,
    ) -> TicketRequest:
        return TicketRequest(
            subject=draft.subject,
            department_id=department_id,
            contact_id=contact_id,
            contact=inline,
            description=draft.description,
            priority=draft.priority,
            category=draft.category,
            channel=draft.channel,
            email=draft.customer.email,
            phone=draft.customer.phone,
            idempotency_key=draft.key,
            customer_name=draft.customer.name,
        )

    async def _look_up(self, draft: TicketDraft, contact_id: str) -> Ticket | None:
        """The ticket an ambiguous create made, unless the ledger records it for another key
        (a reference or key field typed into another ticket, a search that matches loosely):
        that one is never taken."""
        now = self._clock.now()
        probe = TicketProbe(
            key=draft.key,
            contact_id=contact_id,
            subject=draft.subject,
            # Wide margins: instances' clocks may disagree; the reference does the matching.
            created_from=draft.received_at - LOOK_UP_MARGIN,
            created_to=now + LOOK_UP_MARGIN,
        )
        found = await self._helpdesk.find_ticket(probe)
        if found is None:
            return None
        owner = await self._store.owner_of(found.id)
        if owner is not None and owner != draft.key:
            log.warning(
                "look-up for %s found ticket %s, which belongs to %s: not taken",
                draft.key,
                found.id,
                owner,
            )
            return None
        return found

    async def _complete(self, draft: TicketDraft, ticket: Ticket, attempt: _Attempt) -> Outcome:
        at = ticket.created_time or self._clock.now()
        outcome = await self._record(draft, Outcome.created(draft, ticket, at), attempt)
        if attempt.retry:
            # The end of a queued ticket's story: how long it waited and how often it was sent.
            log.info(
                "created ticket %s (#%s) for %s after %d attempt(s), %.0fs after it was received",
                ticket.id,
                ticket.ticket_number,
                draft.key,
                max(attempt.attempts, 1),
                (self._clock.now() - draft.received_at).total_seconds(),
            )
        else:
            log.info("created ticket %s (#%s) for %s", ticket.id, ticket.ticket_number, draft.key)
        return outcome

    async def _record(self, draft: TicketDraft, outcome: Outcome, attempt: _Attempt) -> Outcome:
        """Zoho has the ticket (or the comment): recorded with its event, the lease given
        back in the same step, announced and counted."""
        with anyio.CancelScope(shield=True):
            # Recording what Zoho holds must not be cancelled half-way.
            await self._store.complete(
                draft.key, outcome, outcome.created_event(), owner=attempt.owner
            )
            attempt.released = True
        if self._on_created:
            self._on_created(draft, outcome)
        if self._metrics is not None:
            self._metrics.ticket(outcome.state.value, draft.source)
            waited = (self._clock.now() - draft.received_at).total_seconds()
            self._metrics.ticket_latency(draft.source, waited)
        return outcome

    async def _bury(self, draft: TicketDraft, reason: str) -> Outcome:
        await self._store.bury(draft.key, reason)
        if self._metrics is not None:
            self._metrics.ticket("dead", draft.source)
        log.warning("ticket %s moved to the dead letters: %s", draft.key, reason)
        return Outcome.of(draft, TicketState.DEAD, reason=reason)


def _naming(draft: TicketDraft) -> AbstractContextManager[None]:
    """Every log line of an attempt, here and in the adapters, names the ticket."""
    return context.bind(request_id=draft.request_id, incident_id=draft.incident_id, key=draft.key)


def _without(request: TicketRequest, name: str) -> TicketRequest:
    refused = request.without_picklist_value(name)
    return request if refused is None else refused[0]


def _accepted(draft: TicketDraft) -> Outcome:
    """What to answer for a key whose ledger record is missing (the store lost it)."""
    return Outcome(draft.key, draft.request_id, TicketState.ACCEPTED)
