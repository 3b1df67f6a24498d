"""Read-side use cases about one request: its story (``GET /tickets/requests/{key}``,
``ticketing show``) and the pending queue listed (``GET /queue/pending``, ``ticketing queue
list``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ticketing.application.intake import scoped_key
from ticketing.domain.model import Outcome, TicketCreated, TicketState
from ticketing.domain.ports import AttachmentWork, Clock, RequestIndex, TicketLedger

# The story's state: the ledger's, except that an ACCEPTED request that has failed an
# attempt already (the ledger holds a reason) is ``queued``: waiting on the pending queue
# for the next attempt. ``accepted``: stored, no attempt has failed yet.
QUEUED = "queued"


def story_state(outcome: Outcome) -> str:
    """``accepted``, ``queued``, ``creating``, ``created``, ``appended`` or ``dead``."""
    if outcome.state is TicketState.ACCEPTED and outcome.reason is not None:
        return QUEUED
    return outcome.state.value


@dataclass(frozen=True, slots=True)
class Story:
    """What is known about one request."""

    outcome: Outcome
    state: str  # see story_state
    event: TicketCreated | None  # the created event as published (created or appended)
    attachments: dict[str, str] | None  # the attachment job's progress; None: no files job


class ShowRequest:
    """One request's story, found by its idempotency key, its request id or its incident id.

    ``client`` is an HTTP caller's key namespace: it sees only its own keys (found as it
    wrote them, or by the request id of one of them), never another client's nor an
    incident's. ``client=None`` is the operator (the CLI): any key, as stored or as bare.
    """

    def __init__(
        self,
        ledger: TicketLedger,
        index: RequestIndex,
        attachments: AttachmentWork | None = None,
    ) -> None:
        self._ledger = ledger
        self._index = index
        self._attachments = attachments

    async def __call__(self, ref: str, *, client: str | None = None) -> Story | None:
        outcome = await self._find(ref, client)
        if outcome is None:
            return None
        event = None
        if outcome.state in (TicketState.CREATED, TicketState.APPENDED):
            try:
                event = outcome.created_event()
            except ValueError:  # a record without its ticket (never written so): no event
                event = None
        progress = None
        if self._attachments is not None:
            progress = await self._attachments.progress(outcome.key) or None
        return Story(outcome, story_state(outcome), event, progress)

    async def _find(self, ref: str, client: str | None) -> Outcome | None:
        if not ref:
            return None
        own = scoped_key(client, "") if client is not None else ""
        first = scoped_key(client, ref) if client is not None else ref
        found = await self._ledger.get(first)
        if found is not None:
            return found
        key = await self._index.key_of_request(ref)
        if key is None or not key.startswith(own):
            return None
        return await self._ledger.get(key)


@dataclass(frozen=True, slots=True)
class PendingView:
    """One pending entry as listed: its key, how long it has waited, its attempts and the
    last error (with its time)."""

    entry_id: str
    key: str
    queued_at: datetime
    age: float  # seconds since it was queued
    state: str | None  # see story_state; None when its ledger is gone
    attempts: int
    last_error: str | None
    last_error_at: datetime | None


class RecentTickets:
    """The newest created events (tickets created, follow-ups appended), newest first: what
    the created-event stream still holds."""

    def __init__(self, index: RequestIndex) -> None:
        self._index = index

    async def __call__(self, limit: int = 20) -> Sequence[TicketCreated]:
        return await self._index.recent_created(limit)


class ListPending:
    """The oldest entries of the pending queue, each with its ledger's attempts and error."""

    def __init__(self, index: RequestIndex, ledger: TicketLedger, clock: Clock) -> None:
        self._index = index
        self._ledger = ledger
        self._clock = clock

    async def __call__(self, limit: int = 50) -> Sequence[PendingView]:
        now = self._clock.now()
        views: list[PendingView] = []
        for entry in await self._index.pending_entries(limit):
            outcome = await self._ledger.get(entry.key) if entry.key else None
            views.append(
                PendingView(
                    entry_id=entry.entry_id,
                    key=entry.key,
                    queued_at=entry.queued_at,
                    age=max(0.0, round((now - entry.queued_at).total_seconds(), 3)),
                    state=story_state(outcome) if outcome else None,
                    attempts=outcome.attempts if outcome else 0,
                    last_error=outcome.reason if outcome else None,
                    last_error_at=outcome.reason_at if outcome else None,
                )
            )
        return views
