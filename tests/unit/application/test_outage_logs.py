"""The log tells why tickets are queued: one line per change of Zoho's health (the breaker,
a pause, an error), not one per retry, and one line per ticket queued and created."""

from __future__ import annotations

import io
import json
import logging

import pytest

from ticketing.adapters.memory_gate import InMemoryCallGate
from ticketing.adapters.memory_helpdesk import InMemoryHelpdesk
from ticketing.application import context
from ticketing.application.guard import GuardedHelpdesk
from ticketing.domain.breaker import BreakerState, CircuitBreaker
from ticketing.domain.errors import (
    HelpdeskAuthError,
    HelpdeskRejected,
    HelpdeskUnavailable,
    RateLimited,
    RefreshPaused,
)
from ticketing.domain.model import TicketState
from ticketing.entrypoints import logs

from tests.support.clock import ManualClock
from tests.support.harness import Harness

pytestmark = pytest.mark.anyio

OUTAGE = HelpdeskUnavailable(
    "Zoho Desk GET /api/v1/contacts/search → 503 SERVICE_UNAVAILABLE: try later",
    status=503,
    code="SERVICE_UNAVAILABLE",
)


@pytest.fixture
def caplog(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="ticketing")
    return caplog


def said(caplog: pytest.LogCaptureFixture, text: str, level: int = logging.INFO) -> list[str]:
    """The messages at ``level`` or above that contain ``text``."""
    return [r.getMessage() for r in caplog.records if r.levelno >= level and text in r.getMessage()]


async def test_an_outage_is_one_opened_line_one_queued_line_per_ticket_and_one_closed_line(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """A sustained 503: the breaker opens once (failures, last error, next trial), each
    ticket is queued once with its key and reason, ten failed trials add no line above
    debug, and recovery is one closed line and one created line per ticket."""
    trials = 10
    h.helpdesk.fail_next("search_contacts", OUTAGE, times=3 + trials)
    keys = [f"k-{n}" for n in range(6)]
    for key in keys:
        outcome, _ = await h.submit(h.draft(key=key))
        assert outcome.state is TicketState.ACCEPTED
    assert h.breaker.state is BreakerState.OPEN
    for _ in range(trials):
        h.later(31)
        assert (await h.drain()).created == 0
    h.later(31)
    report = await h.drain()
    assert (report.created, report.remaining) == (len(keys), 0)

    [opened] = said(caplog, "circuit breaker opened", logging.WARNING)
    assert "after 3 consecutive failures" in opened
    assert "503 SERVICE_UNAVAILABLE" in opened
    assert "next trial at 2026-11-26 10:00:30 UTC (in 30s)" in opened
    [closed] = said(caplog, "circuit breaker closed")
    assert f"after {31 * (trials + 1):.0f}s open" in closed
    assert f"{trials} failed trials" in closed
    assert len(said(caplog, "Zoho circuit breaker")) == 2  # not one per trial
    assert len(said(caplog, "Zoho circuit breaker", logging.DEBUG)) > 2  # trials: debug
    # The same 503 again and again: reported once, its repeats at debug.
    [error] = said(caplog, "Zoho error", logging.WARNING)
    assert error.startswith("Zoho error on search_contacts for k-0: ")
    for key in keys:
        [queued] = said(caplog, f"ticket {key} queued: ")
        reason = queued.split(": ", 1)[1]
        expected = "503 SERVICE_UNAVAILABLE" if key in keys[:3] else "circuit breaker open"
        assert expected in reason
        [created] = said(caplog, f"for {key} after ")
        assert created.startswith("created ticket ")
        assert "attempt(s)" in created


async def test_a_429_pause_is_one_start_line_and_one_end_line(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """A 429 with Retry-After: one error line, one pause line saying until when, tickets
    queued meanwhile saying so, drains during the pause add nothing, one resumed line."""
    h.helpdesk.fail_next(
        "create_ticket",
        RateLimited(
            "Zoho Desk POST /api/v1/tickets → 429 TOO_MANY_REQUESTS",
            status=429,
            code="TOO_MANY_REQUESTS",
            retry_after=30,
        ),
    )
    for key in ("r-1", "r-2", "r-3"):
        await h.submit(h.draft(key=key))
    for _ in range(5):
        h.later(5)
        assert (await h.drain()).processed == 0
    h.later(6)
    assert (await h.drain()).created == 3

    [paused] = said(caplog, "Zoho calls paused", logging.WARNING)
    assert paused.startswith("Zoho calls paused until 2026-11-26 10:00:30 UTC (30s): ")
    assert "429 on create_ticket with Retry-After 30s" in paused
    [resumed] = said(caplog, "Zoho calls resumed")
    assert "ended at 2026-11-26 10:00:30 UTC" in resumed
    assert len(said(caplog, "Zoho calls paused", logging.DEBUG)) == 1  # not per drain
    [error] = said(caplog, "Zoho error", logging.WARNING)
    assert error.startswith("Zoho error on create_ticket for r-1: ")
    assert "429 TOO_MANY_REQUESTS" in error
    [later] = said(caplog, "ticket r-2 queued: ")
    assert "Zoho calls are paused for 30s more" in later


async def test_spent_credits_are_one_pause_line_until_they_come_back(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """THRESHOLD_EXCEEDED: one line saying the day's credits are spent and until when, one
    when calls resume."""
    h.helpdesk.fail_next(
        "search_contacts",
        RateLimited(
            "Zoho Desk GET /api/v1/contacts/search → 429 THRESHOLD_EXCEEDED",
            status=429,
            code="THRESHOLD_EXCEEDED",
            retry_after=3600,
        ),
    )
    for key in ("c-1", "c-2"):
        await h.submit(h.draft(key=key))
    h.later(1800)
    assert (await h.drain()).processed == 0
    h.later(1801)
    assert (await h.drain()).created == 2

    [paused] = said(caplog, "Zoho calls paused", logging.WARNING)
    assert "until 2026-11-26 11:00:00 UTC (3600s)" in paused
    assert "the day's API credits are spent, THRESHOLD_EXCEEDED on search_contacts" in paused
    [resumed] = said(caplog, "Zoho calls resumed")
    assert "credits are spent" in resumed


async def test_a_refresh_budget_pause_is_one_start_line_and_one_end_line(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """Token refreshes paused (the budget spent): one line with the reason and until when,
    the tickets queued with it, the breaker left closed, one resumed line when a call works."""
    message = (
        "Zoho token refreshes are paused until 2026-11-26 10:10:00 UTC: 8 refreshes were made "
        "in the last 10 minutes (ZOHO_REFRESH_BUDGET=8; Zoho blocks a refresh token after 10)"
    )
    h.helpdesk.fail_next(
        "search_contacts",
        RefreshPaused(message, code="refresh_budget", retry_after=600),
        times=4,
    )
    for key in ("t-1", "t-2"):
        await h.submit(h.draft(key=key))
    assert (await h.drain()).created == 0
    assert h.breaker.state is BreakerState.CLOSED
    h.later(600)
    assert (await h.drain()).created == 2

    [paused] = said(caplog, "token refreshes paused", logging.WARNING)
    assert paused == f"Zoho token refreshes paused (refresh_budget): {message}; tickets are queued"
    [resumed] = said(caplog, "token refreshes resumed")
    assert "after 600s (since 2026-11-26 10:00:00 UTC)" in resumed
    [queued] = said(caplog, "ticket t-2 queued: ")
    assert "until 2026-11-26 10:10:00 UTC" in queued
    assert not said(caplog, "circuit breaker")


async def test_a_refusal_is_a_line_with_status_code_and_key_carrying_the_ids(
    h: Harness,
) -> None:
    """A 4xx: one warning naming the call, the status, Zoho's code and the ticket's key, with
    the ticket's ids attached in the JSON log."""
    h.helpdesk.fail_next(
        "create_ticket",
        HelpdeskRejected(
            "Zoho Desk POST /api/v1/tickets → 422 INVALID_DATA: The department does not exist "
            "(field departmentId)",
            status=422,
            code="INVALID_DATA",
            field="departmentId",
        ),
    )
    stream = io.StringIO()
    handler = logs.install(level="info", fmt="json", stream=stream)
    try:
        outcome, _ = await h.submit(h.draft(key="bad-dept"))
    finally:
        logs.uninstall(handler)
    assert outcome.state is TicketState.DEAD
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    [refused] = [e for e in events if e["message"].startswith("Zoho error")]
    assert refused["level"] == "warning"
    assert refused["logger"] == "ticketing.application.guard"
    assert refused["message"].startswith("Zoho error on create_ticket for bad-dept: ")
    assert "422 INVALID_DATA: The department does not exist" in refused["message"]
    assert refused["key"] == "bad-dept"
    assert refused["request_id"] == outcome.request_id


async def test_every_refusal_is_told_but_a_repeated_auth_error_only_once(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """Refusals concern their own ticket: each is a line. The same 401 on every retry is
    one line until a call works; another kind of error is a new line."""
    rejected = HelpdeskRejected("no such ticket", status=404, code="URL_NOT_FOUND")
    h.helpdesk.fail_next("get_ticket", rejected, times=2)
    for _ in range(2):
        with context.bind(key="k-404"), pytest.raises(HelpdeskRejected):
            await h.guarded.get_ticket("1")
    lines = said(caplog, "Zoho error on get_ticket", logging.WARNING)
    expected = "Zoho error on get_ticket for k-404: no such ticket (HTTP 404 URL_NOT_FOUND)"
    assert lines == [expected] * 2

    denied = HelpdeskAuthError("Zoho Desk → 401 INVALID_OAUTH", status=401, code="INVALID_OAUTH")
    h.helpdesk.fail_next("list_departments", denied, times=5)
    for n in range(5):
        with context.bind(key=f"k-{n}"), pytest.raises(HelpdeskAuthError):
            await h.guarded.list_departments()
    assert len(said(caplog, "401 INVALID_OAUTH", logging.WARNING)) == 1
    assert len(said(caplog, "401 INVALID_OAUTH", logging.DEBUG)) == 5
    await h.guarded.list_departments()  # works: the next 401 is news again
    h.helpdesk.fail_next("list_departments", denied)
    with context.bind(key="k-again"), pytest.raises(HelpdeskAuthError):
        await h.guarded.list_departments()
    assert len(said(caplog, "401 INVALID_OAUTH", logging.WARNING)) == 2


async def test_a_call_for_no_ticket_leaves_its_error_to_its_caller(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """A CLI command or the sync failing says so in its own one line: the guard's error
    line stays at debug, and does not hide the next ticket's error line."""
    h.helpdesk.fail_next("list_departments", OUTAGE)
    with pytest.raises(HelpdeskUnavailable):
        await h.guarded.list_departments()
    assert not said(caplog, "Zoho error", logging.WARNING)
    assert said(caplog, "Zoho error on list_departments: ", logging.DEBUG)
    h.helpdesk.fail_next("search_contacts", OUTAGE)
    await h.submit(h.draft(key="after-cli"))
    [error] = said(caplog, "Zoho error", logging.WARNING)
    assert error.startswith("Zoho error on search_contacts for after-cli: ")


async def test_the_fleets_pause_through_the_gate_is_told_once_by_each_instance(
    clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Another instance's 429 pauses the shared gate: this instance says its calls are
    paused once, however often it looks, and once that they resumed."""
    gate = InMemoryCallGate(clock, capacity=2)
    guard = GuardedHelpdesk(
        InMemoryHelpdesk(clock=clock), CircuitBreaker(clock, failure_threshold=3), clock, gate
    )
    await gate.pause(20)
    for _ in range(5):
        assert guard.paused_for() > 0
        assert not guard.available
    clock.advance(21)
    assert guard.paused_for() == 0
    assert guard.paused_for() == 0
    [paused] = said(caplog, "Zoho calls paused", logging.WARNING)
    assert "another instance got a 429" in paused
    assert len(said(caplog, "Zoho calls resumed")) == 1


async def test_breaker_lines_of_two_instances_are_their_own(
    clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Each process's guard logs its own breaker's transitions, and only those."""
    guards = [
        GuardedHelpdesk(
            InMemoryHelpdesk(clock=clock), CircuitBreaker(clock, failure_threshold=1), clock
        )
        for _ in range(2)
    ]
    first = guards[0].inner
    assert isinstance(first, InMemoryHelpdesk)
    first.fail_next("whoami", OUTAGE)
    with context.bind(key="k-tip"), pytest.raises(HelpdeskUnavailable):
        await guards[0].whoami()
    await guards[1].whoami()
    [opened] = [r for r in caplog.records if "breaker opened" in r.getMessage()]
    assert "after 1 consecutive failures" in opened.getMessage()
    assert guards[1].breaker_state is BreakerState.CLOSED
