"""The sync's scopes and its place behind the ticket calls' guard: a token without the sync's
scopes is reported once per change (and tickets keep being created); the sync's reads are
refused with the ticket calls while the breaker is open, and their failures open it."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, cast

import anyio
import pytest

from ticketing.adapters.memory import InMemoryConversations
from ticketing.application.guard import GuardedHelpdesk
from ticketing.application.sync.access import SyncAccess, missing_sync_scopes
from ticketing.application.sync.guard import GuardedConversations
from ticketing.container import SyncServices
from ticketing.domain.breaker import BreakerState, CircuitBreaker
from ticketing.domain.conversation import TicketState
from ticketing.domain.errors import BreakerOpen, HelpdeskAuthError, HelpdeskUnavailable
from ticketing.domain.ports import TokenStatus
from ticketing.entrypoints.background import sync_forever
from ticketing.settings import DEFAULT_SCOPE

from tests.support.clock import ManualClock
from tests.support.sync import sync_world

pytestmark = pytest.mark.anyio


def test_the_default_scope_covers_both_modes() -> None:
    assert missing_sync_scopes(DEFAULT_SCOPE, "webhook") == []
    assert missing_sync_scopes(DEFAULT_SCOPE, "poll") == []
    older = "Desk.tickets.ALL,Desk.contacts.ALL,Desk.basic.ALL,Desk.search.READ"
    assert missing_sync_scopes(older, "webhook") == ["Desk.events.ALL"]
    assert missing_sync_scopes(older, "poll") == []
    assert missing_sync_scopes(older + " Desk.webhooks.READ", "webhook") == []
    assert missing_sync_scopes("Desk.tickets.CREATE", "poll") == [
        "Desk.tickets.READ",
        "Desk.search.READ",
    ]


class ScopedDesk(InMemoryConversations):
    """The fake helpdesk, refusing the search for its scope while ``refuse`` is set."""

    refuse = True
    wanted = 0
    reached: anyio.Event | None = None

    async def polled(self, n: int) -> None:
        """Wait until the search was asked ``n`` times in all."""
        reached = self.reached = anyio.Event()
        self.wanted = n
        if self.calls.get("modified_tickets", 0) < n:
            await reached.wait()

    async def modified_tickets(
        self, since: datetime, until: datetime, *, start: int = 0, limit: int = 100
    ) -> list[TicketState]:
        self._count("modified_tickets")
        if self.reached is not None and self.calls["modified_tickets"] >= self.wanted:
            self.reached.set()
        if self.refuse:
            raise HelpdeskAuthError("401 SCOPE_MISMATCH", status=401, code="SCOPE_MISMATCH")
        return await super().modified_tickets(since, until, start=start, limit=limit)


class Granted:
    """Credentials that report only the granted scope."""

    def __init__(self, scope: str) -> None:
        self.scope = scope

    async def report(self) -> TokenStatus:
        return TokenStatus(store="memory", authorized=True, scope=self.scope)


async def test_a_refused_scope_is_logged_once_and_shown_until_it_is_granted(
    clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    desk = ScopedDesk(clock)
    w = sync_world(clock, conversations=desk)
    access = SyncAccess()
    sync = SyncServices(
        consumer="c1",
        mode="poll",
        token=None,
        receive=w.receive,
        handle=w.handle,
        poll=w.poll,
        publisher=w.publisher,
        inbox=w.inbox,
        log=w.log,
        poll_interval=0.01,
        webhooks=cast(Any, None),
        access=access,
        credentials=cast(Any, Granted(DEFAULT_SCOPE)),
    )
    caplog.set_level(logging.INFO, "ticketing.application.sync.access")

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(sync_forever, sync, "poll")
            await desk.polled(3)
            assert access.missing == ("Desk.tickets.READ", "Desk.search.READ")
            assert access.reauthorize is not None
            assert "ticketing auth setup" in access.reauthorize
            desk.refuse = False
            await desk.polled(5)
            tg.cancel_scope.cancel()
    assert access.missing == ()
    assert access.reauthorize is None
    lines = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert len(lines) == 2, lines  # one when it went missing, one when it came back
    assert lines[0][0] == "WARNING"
    assert "Desk.tickets.READ" in lines[0][1]
    assert "tickets are still created" in lines[0][1]
    assert lines[1][0] == "INFO"


async def test_a_grant_without_desk_events_is_missing_in_webhook_mode(
    clock: ManualClock,
) -> None:
    w = sync_world(clock)
    access = Watched()
    sync = SyncServices(
        consumer="c1",
        mode="webhook",
        token=None,
        receive=w.receive,
        handle=w.handle,
        poll=w.poll,
        publisher=w.publisher,
        inbox=w.inbox,
        log=w.log,
        poll_interval=60.0,
        webhooks=cast(Any, None),
        access=access,
        credentials=cast(Any, Granted("Desk.tickets.ALL,Desk.search.READ")),
    )
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(sync_forever, sync, "webhook")
            await access.changed.wait()
            tg.cancel_scope.cancel()
    assert access.missing == ("Desk.events.ALL",)


class Watched(SyncAccess):
    def __init__(self) -> None:
        super().__init__()
        self.changed = anyio.Event()

    def update(self, missing: list[str] | tuple[str, ...], detail: str | None = None) -> None:
        super().update(missing, detail)
        if self.missing:
            self.changed.set()


class FailingDesk(InMemoryConversations):
    async def ticket_state(self, ticket_id: str) -> TicketState:
        self._count("ticket_state")
        raise HelpdeskUnavailable("503 from Zoho", status=503)


async def test_the_sync_reads_share_the_ticket_calls_breaker(clock: ManualClock) -> None:
    desk = FailingDesk(clock)
    breaker = CircuitBreaker(clock, failure_threshold=2, timeout=30.0)
    guard = GuardedHelpdesk(cast(Any, None), breaker, clock)
    guarded = GuardedConversations(desk, guard)
    for _ in range(2):
        with pytest.raises(HelpdeskUnavailable):
            await guarded.ticket_state("1")
    # The sync's failures opened the breaker the ticket calls go through too...
    assert guard.breaker_state is BreakerState.OPEN
    # ...and while it is open the sync's reads are refused without reaching Zoho.
    with pytest.raises(BreakerOpen):
        await guarded.ticket_state("1")
    with pytest.raises(BreakerOpen):
        await guarded.modified_tickets(clock.now(), clock.now())
    assert desk.calls == {"ticket_state": 2}
    # A refused scope is Zoho answering: it does not count against the breaker.
    breaker = CircuitBreaker(clock, failure_threshold=1, timeout=30.0)
    scoped = GuardedConversations(
        ScopedDesk(clock), GuardedHelpdesk(cast(Any, None), breaker, clock)
    )
    with pytest.raises(HelpdeskAuthError):
        await scoped.modified_tickets(clock.now(), clock.now())
    assert breaker.state is BreakerState.CLOSED
