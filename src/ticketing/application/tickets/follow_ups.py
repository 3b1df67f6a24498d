"""Follow-ups (THREAD_WINDOW): whether an incident joins the customer's open ticket as a
public comment, or becomes a ticket of its own.

The rule, decided once per incident and recorded in its ledger record before anything is
sent (so every later attempt, on any process, keeps to it):

1. An incident that names its ticket (``ticket_id``) joins it while it is open.
2. An incident that names its conversation (``conversation_id``) joins the ticket that
   conversation's first incident became, while it is open.
3. Otherwise, with ``THREAD_WINDOW`` set, an incident joins the open ticket the customer's
   (same phone or email) first incident of the window became.

The first incident of a thread *claims* it in the :class:`ThreadIndex` (fleet-wide, one step
for all the customer's names), so two messages racing on two processes agree on which one
opens the ticket; the other waits until that ticket exists, and then joins it. A thread whose
ticket is closed, deleted, or never came to be (its request dead or forgotten) is taken over
by the next incident, which opens a new ticket. ``POST /tickets/customer`` never threads.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from ticketing.domain.conversation import Comment
from ticketing.domain.errors import HelpdeskRejected
from ticketing.domain.model import NEW_TICKET, Joined, Outcome, TicketDraft, TicketState
from ticketing.domain.ports import FollowUpDesk, ThreadIndex, TicketLedger
from ticketing.domain.threading import follow_up_comment, is_comment_for, thread_identities

log = logging.getLogger(__name__)

# Comment pages read to find an ambiguous post again (newest first, 100 each): a post that
# may have been taken is at most minutes old, so it is on the first page but for a ticket
# that got over a hundred comments since.
_LOOK_UP_PAGES = 3
_PAGE = 100
_LOOK_UP_MARGIN = timedelta(hours=1)
# Holders taken over in one decision at most (each found dead, gone or closed).
_TAKEOVERS = 3


@dataclass(frozen=True, slots=True)
class FollowUpPolicy:
    """``window``: THREAD_WINDOW seconds (0: only incidents naming a ticket or conversation
    thread); ``conversation_ttl``: how long a conversation stays with its ticket (the
    ledger's retention, without which its ticket cannot be found again)."""

    window: float = 0.0
    conversation_ttl: float = 7 * 24 * 3600.0


@dataclass(frozen=True, slots=True)
class Waiting:
    """The customer's thread is held by a request whose ticket does not exist yet."""

    holder: str

    @property
    def reason(self) -> str:
        return f"waiting for {self.holder}, an earlier message of the thread, to become a ticket"


class FollowUps:
    """Decides where an incident goes, and adds a follow-up to its ticket as a comment."""

    def __init__(
        self,
        store: TicketLedger,
        index: ThreadIndex,
        desk: FollowUpDesk,
        policy: FollowUpPolicy | None = None,
    ) -> None:
        self._store = store
        self._index = index
        self._desk = desk
        self.policy = policy or FollowUpPolicy()

    def applies(self, draft: TicketDraft) -> bool:
        """Incidents only (``POST /tickets/customer`` keeps a ticket per request), and only
        when threading is on or the incident names its ticket or conversation."""
        if draft.incident_id is None:
            return False
        return self.policy.window > 0 or bool(draft.ticket_id or draft.conversation_id)

    async def decide(self, draft: TicketDraft, record: Outcome) -> Joined | Waiting:
        """Where the draft goes: recorded in the ledger once decided (a Waiting is not)."""
        if record.joins is not None:
            return record.joins
        joined = await self._choose(draft)
        if isinstance(joined, Joined):
            await self._store.set_join(draft.key, joined)
            if joined.new:
                log.info("%s opens a new ticket for its thread", draft.key)
            else:
                log.info("%s joins open ticket %s", draft.key, joined.ticket_id)
        return joined

    async def _choose(self, draft: TicketDraft) -> Joined | Waiting:
        if draft.ticket_id:
            named = await self._open(draft.ticket_id, None)
            if named is not None:
                return named
            log.info(
                "%s names ticket %s, which is closed or gone: it joins no ticket by it",
                draft.key,
                draft.ticket_id,
            )
        window = thread_identities(draft) if self.policy.window > 0 else ()
        if draft.conversation_id:
            names = (f"conversation:{draft.conversation_id}",)
            found = await self._thread(draft, names, self.policy.conversation_ttl)
            if found is not None:
                return found
            # A new conversation is a new ticket; the customer's window follows it when free.
            if window:
                await self._index.claim(window, draft.key, self.policy.window)
            return Joined(NEW_TICKET)
        if window:
            found = await self._thread(draft, window, self.policy.window)
            if found is not None:
                return found
        return Joined(NEW_TICKET)

    async def _thread(
        self, draft: TicketDraft, names: tuple[str, ...], ttl: float
    ) -> Joined | Waiting | None:
        """The open ticket of the thread ``names`` name, Waiting while its ticket is being
        made, or None when ``draft`` now holds the thread (a new ticket)."""
        replacing: str | None = None
        for _ in range(_TAKEOVERS):
            holder = await self._index.claim(names, draft.key, ttl, replacing=replacing)
            if holder == draft.key:
                return None
            held = await self._store.get(holder)
            if held is None or held.state is TicketState.DEAD or held.ticket_id is None:
                if held is not None and not held.state.finished:
                    return Waiting(holder)
                replacing = holder  # forgotten, or never became a ticket
                continue
            joined = await self._open(held.ticket_id, held)
            if joined is not None:
                return joined
            replacing = holder  # its ticket is closed or gone: a new one takes the thread
        return None

    async def _open(self, ticket_id: str, held: Outcome | None) -> Joined | None:
        """The ticket as a follow-up's target while it is open; None when closed or gone."""
        try:
            state = await self._desk.ticket_state(ticket_id)
        except HelpdeskRejected as exc:
            log.info("ticket %s cannot take follow-ups: %s", ticket_id, exc.message)
            return None
        if state.is_closed:
            return None
        return Joined(
            ticket_id,
            ticket_number=state.ticket_number or (held.ticket_number if held else None),
            web_url=held.web_url if held else None,
            contact_id=(held.contact_id if held else None) or state.contact_id,
        )

    async def post(self, ticket_id: str, draft: TicketDraft) -> Comment:
        """Add the follow-up to the ticket: one public comment, marked as the customer's."""
        return await self._desk.post_comment(ticket_id, follow_up_comment(draft))

    async def find(self, ticket_id: str, key: str, sent_at: datetime | None) -> Comment | None:
        """The comment an ambiguous post for ``key`` made, if the ticket has it."""
        return await find_comment(self._desk, ticket_id, key, sent_at)

    async def give_up(self, draft: TicketDraft) -> None:
        """The ticket refused the follow-up (deleted, merged, locked): a ticket of its own."""
        await self._store.set_join(draft.key, Joined(NEW_TICKET))


async def find_comment(
    desk: FollowUpDesk, ticket_id: str, key: str, sent_at: datetime | None
) -> Comment | None:
    """The comment the service wrote for ``key`` (it ends with the key's reference line) on
    the ticket, if there is one: how a post whose answer was lost is found again."""
    since = (sent_at - _LOOK_UP_MARGIN) if sent_at else None
    for page in range(_LOOK_UP_PAGES):
        comments = await desk.list_comments(
            ticket_id, limit=_PAGE, start=page * _PAGE, newest_first=True
        )
        for comment in comments:
            if is_comment_for(comment.plain_text or comment.content, key):
                return comment
        oldest = comments[-1].created_time if comments else None
        if len(comments) < _PAGE or (since and oldest and oldest < since):
            return None
    return None
