"""The sync's scopes and its place behind the ticket calls' guard: a token without the sync's
scopes is reported once per change (and tickets keep being created); the sync's reads are
refused with the ticket calls while the breaker is open, and their failures open it."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime
from typing import Any, cast

import anyio
import pytest

from ticketing.adapters.memory import InMemoryConversations
from ticketing.application.doctor import Doctor
from ticketing.application.guard import GuardedHelpdesk
from ticketing.application.sync.access import SyncAccess, missing_sync_scopes
from ticketing.application.sync.guard import GuardedConversations
from ticketing.application.sync.lag import MeasureLag
from ticketing.container import SyncServices
from ticketing.domain.breaker import BreakerState, CircuitBreaker
from ticketing.domain.conversation import TicketState
from ticketing.domain.errors import BreakerOpen, HelpdeskAuthError, HelpdeskUnavailable
from ticketing.domain.ports import TokenStatus
from ticketing.entrypoints.background import sync_forever
from ticketing.settings import DEFAULT_SCOPE

from tests.support.clock import ManualClock
from tests.support.http import app_client, make_container
from tests.support.sync import SyncWorld, sync_world
from tests.unit.application.test_doctor_redis import NoTokens, Server, Store, config
from tests.unit.entrypoints.http.test_zoho_calls_per_ticket import ticket

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
    sync = services_of(w, "poll", access, Granted(DEFAULT_SCOPE), poll_interval=0.01)
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
    sync = services_of(w, "webhook", access, Granted("Desk.tickets.ALL,Desk.search.READ"))
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(sync_forever, sync, "webhook")
            await access.changed.wait()
            tg.cancel_scope.cancel()
    assert access.missing == ("Desk.events.ALL",)


def services_of(
    w: SyncWorld, mode: str, access: SyncAccess, granted: Granted, *, poll_interval: float = 60.0
) -> SyncServices:
    """The sync's services on the fakes of ``w``, with ``access`` watching the scopes that
    ``granted`` holds."""
    return SyncServices(
        consumer="c1",
        mode=mode,
        token=None,
        receive=w.receive,
        handle=w.handle,
        poll=w.poll,
        publisher=w.publisher,
        inbox=w.inbox,
        log=w.log,
        poll_interval=poll_interval,
        webhooks=cast(Any, None),
        access=access,
        lag=MeasureLag(w.inbox, w.log, w.clock),
        credentials=cast(Any, granted),
    )


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


async def test_health_says_what_to_reauthorize_and_tickets_are_still_created() -> None:
    container = make_container()
    container.sync_access().update(["Desk.events.ALL"])
    async with app_client(container) as client:
        created = await client.post("/tickets/customer", json=ticket("a@example.com"))
        body = (await client.get("/health")).json()
    assert created.status_code == 201
    assert body["status"] == "healthy"
    assert "Desk.events.ALL" in body["sync_reauthorize"]
    assert "ticketing auth setup" in body["sync_reauthorize"]
    container.sync_access().update([])
    async with app_client(container) as client:
        assert "sync_reauthorize" not in (await client.get("/health")).json()


async def test_doctor_warns_about_the_sync_scopes() -> None:
    report = await Doctor(
        config(),  # ZOHO_SCOPE without Desk.events.ALL; no tokens to say what was granted
        NoTokens(),  # type: ignore[arg-type]
        Server(),  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        Store(),  # type: ignore[arg-type]
    )()
    check = {c.name: c for c in report.checks}["sync scopes"]
    assert check.status == "warn"
    assert check.detail == (
        "ZOHO_SCOPE lacks Desk.events.ALL: the two-way sync cannot use webhooks "
        "(tickets are still created)"
    )
    assert check.fix == "add them to ZOHO_SCOPE and run `ticketing auth setup` again"
    report = await Doctor(
        replace(config(), scope=DEFAULT_SCOPE),
        NoTokens(),  # type: ignore[arg-type]
        Server(),  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        Store(),  # type: ignore[arg-type]
    )()
    assert {c.name: c for c in report.checks}["sync scopes"].status == "ok"
