"""The server's log through a Zoho outage, end to end: the HTTP API and the drain against the
emulator's fault switches, the log read as production writes it (JSON, with the ids). An
on-call person sees why tickets are queued, once per change, not once per retry."""

from __future__ import annotations

import io
import json
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import anyio
import pytest
from litestar.testing import AsyncTestClient

from ticketing.application.intake import ANONYMOUS_CLIENT, scoped_key
from ticketing.container import Container, Services
from ticketing.domain.model import TicketState
from ticketing.domain.ports import TicketStore
from ticketing.entrypoints import logs
from ticketing.entrypoints.background import drain_forever
from ticketing.entrypoints.http.app import create_app
from zoho_desk_emulator import EmulatorState

from tests.integration.wired import running, wait_for, wire
from tests.support.clock import ManualClock
from tests.support.containers import store_of
from tests.support.tickets import customer_draft

pytestmark = pytest.mark.anyio

Client = AsyncTestClient  # type: ignore[type-arg]


class Log:
    """The JSON lines the service wrote (as `LOG_FORMAT=json` does)."""

    def __init__(self, stream: io.StringIO) -> None:
        self._stream = stream

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self._stream.getvalue().splitlines()]

    def lines(self, text: str, *levels: str) -> list[dict[str, Any]]:
        """The events whose message contains ``text`` (at ``levels``, default any)."""
        return [
            e
            for e in self.events()
            if text in e["message"] and (not levels or e["level"] in levels)
        ]


@pytest.fixture
def log() -> Iterator[Log]:
    stream = io.StringIO()
    handler = logs.install(level="info", fmt="json", stream=stream)
    try:
        yield Log(stream)
    finally:
        logs.uninstall(handler)


def sandbox(
    clock: ManualClock, emulator: EmulatorState | None = None, **env: str
) -> tuple[Container, EmulatorState]:
    emulator = emulator or EmulatorState(clock)
    return wire(env, emulator=emulator, clock=clock), emulator


def form(subject: str) -> dict[str, str]:
    return {
        "customer_email": "ana@example.com",
        "customer_name": "Ana López",
        "subject": subject,
        "description": "Pagué ayer y no me llega la confirmación",
    }


async def post(client: Client, key: str) -> int:
    response = await client.post(
        "/tickets/customer", data=form(f"Ticket {key}"), headers={"Idempotency-Key": key}
    )
    return response.status_code


async def process(client: Client) -> dict[str, Any]:
    response = await client.post("/queue/process")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def ledger_key(key: str) -> str:
    return scoped_key(ANONYMOUS_CLIENT, key)


async def test_an_outage_tells_its_story_once_not_once_per_retry(
    clock: ManualClock, log: Log
) -> None:
    """Zoho answers 503 for six breaker timeouts while five tickets arrive: one error line
    (status, code, the call, the ticket's key and ids), one "opened" line, one "queued" line
    per ticket with its key, no line per failed trial, one "closed" line and one "created"
    line per ticket once Zoho is back."""
    container, emulator = sandbox(
        clock, CIRCUIT_BREAKER_FAILURE_THRESHOLD="2", CIRCUIT_BREAKER_TIMEOUT="30"
    )
    keys = [f"outage-{n}" for n in range(5)]
    async with Client(create_app(container, drain=False, consumer=False)) as client:
        assert await post(client, "before") == 201
        emulator.apply_faults({"outage": "503"})
        assert [await post(client, key) for key in keys] == [202] * 5
        for _ in range(6):
            clock.advance(31)
            assert (await process(client))["created"] == 0
        emulator.faults.clear()
        clock.advance(31)
        report = await process(client)
    assert (report["created"], report["remaining"]) == (5, 0)

    [error] = log.lines("Zoho error", "warning")
    assert error["logger"] == "ticketing.application.guard"
    assert error["message"].startswith(f"Zoho error on create_ticket for {ledger_key(keys[0])}: ")
    assert "503 SERVICE_UNAVAILABLE" in error["message"]
    assert error["key"] == ledger_key(keys[0])
    assert error["request_id"].startswith("req_")
    [opened] = log.lines("Zoho circuit breaker opened", "warning")
    assert "after 2 consecutive failures" in opened["message"]
    assert "next trial at " in opened["message"]
    [closed] = log.lines("Zoho circuit breaker closed", "info")
    assert "6 failed trials" in closed["message"]
    assert len(log.lines("Zoho circuit breaker")) == 2
    for key in keys:
        [queued] = log.lines(f"ticket {ledger_key(key)} queued: ")
        assert queued["key"] == ledger_key(key)
        [created] = log.lines(f"for {ledger_key(key)} after ")
        assert created["message"].startswith("created ticket ")
        assert created["key"] == ledger_key(key)
    assert "circuit breaker open" in log.lines(f"ticket {ledger_key(keys[4])} queued")[0]["message"]


async def test_a_429_with_retry_after_is_one_pause_and_one_resume(
    clock: ManualClock, log: Log
) -> None:
    """The emulator's 429 with Retry-After 5: one line says calls are paused and until when,
    drains during the pause add none, one line says they resumed."""
    container, emulator = sandbox(clock)
    async with Client(create_app(container, drain=False, consumer=False)) as client:
        assert await post(client, "first") == 201
        emulator.apply_faults({"rate_limit": {"calls": 1, "retry_after": 5}})
        assert await post(client, "limited") == 202
        assert await post(client, "meanwhile") == 202
        for _ in range(3):
            assert (await process(client))["processed"] == 0
        clock.advance(6)
        assert (await process(client))["created"] == 2

    [paused] = log.lines("Zoho calls paused", "warning")
    assert "(5s): Zoho answered 429 on create_ticket with Retry-After 5s" in paused["message"]
    [resumed] = log.lines("Zoho calls resumed", "info")
    assert "Retry-After 5s" in resumed["message"]
    [error] = log.lines("Zoho error", "warning")
    assert "429 TOO_MANY_REQUESTS" in error["message"]
    assert error["key"] == ledger_key("limited")
    [queued] = log.lines(f"ticket {ledger_key('meanwhile')} queued: ")
    assert "Zoho calls are paused for 5s more" in queued["message"]


async def test_spent_credits_are_one_pause_until_they_come_back(
    clock: ManualClock, log: Log
) -> None:
    """The day's credits spent (the emulator's THRESHOLD_EXCEEDED, Retry-After to midnight):
    one line says so and until when; one says calls resumed once they are back."""
    container, emulator = sandbox(clock)
    async with Client(create_app(container, drain=False, consumer=False)) as client:
        assert await post(client, "first") == 201
        emulator.apply_faults({"credits_remaining": 0})
        assert await post(client, "no-credits") == 202
        assert (await process(client))["processed"] == 0
        clock.advance(14 * 3600 + 1)  # the manual clock's 10:00 to past midnight
        assert (await process(client))["created"] == 1

    [paused] = log.lines("Zoho calls paused", "warning")
    assert "until 2026-11-27 00:00:00 UTC" in paused["message"]
    assert "the day's API credits are spent, THRESHOLD_EXCEEDED" in paused["message"]
    [resumed] = log.lines("Zoho calls resumed", "info")
    assert "credits are spent" in resumed["message"]


async def test_a_spent_refresh_budget_is_one_pause_and_one_resume(
    clock: ManualClock, log: Log
) -> None:
    """20-second tokens and a refresh budget of one: the second token cannot be had, so one
    line says refreshes are paused (why, until when), the ticket is queued with that reason,
    and one line says they resumed once the window has passed and a call works."""
    emulator = EmulatorState(clock, access_token_seconds=20)
    container, _ = sandbox(clock, emulator, ZOHO_REFRESH_BUDGET="1")
    async with Client(create_app(container, drain=False, consumer=False)) as client:
        assert await post(client, "first") == 201
        clock.advance(30)
        assert await post(client, "no-token") == 202
        assert (await process(client))["created"] == 0
        clock.advance(600)
        assert (await process(client))["created"] == 1

    [paused] = log.lines("Zoho token refreshes paused", "warning")
    assert "ZOHO_REFRESH_BUDGET=1" in paused["message"]
    assert " until " in paused["message"]
    [resumed] = log.lines("Zoho token refreshes resumed", "info")
    assert "a call works again" in resumed["message"]
    [queued] = log.lines(f"ticket {ledger_key('no-token')} queued: ")
    assert "ZOHO_REFRESH_BUDGET=1" in queued["message"]
    assert not log.lines("circuit breaker")
    # Said once, by the guard: not also by the token manager on every refused refresh.
    assert [e for e in log.lines("refreshes", "warning") if e["message"] != paused["message"]] == []
    written = json.dumps(log.events(), ensure_ascii=False)
    secrets = [*emulator.oauth.access_tokens, *emulator.oauth.refresh_tokens]
    assert secrets
    assert not [secret for secret in secrets if secret in written]


async def test_a_refusal_names_the_status_the_code_and_the_key(
    clock: ManualClock, log: Log
) -> None:
    """Zoho refusing the ticket (a department it does not have): one warning with the call,
    the HTTP status, Zoho's code and message, and the ticket's key and ids."""
    container, _ = sandbox(clock, ZOHO_DEPARTMENT_ID="813934000000999999")
    async with Client(create_app(container, drain=False, consumer=False)) as client:
        assert await post(client, "bad-dept") == 422

    [refused] = log.lines("Zoho error", "warning")
    message = refused["message"]
    assert message.startswith(f"Zoho error on create_ticket for {ledger_key('bad-dept')}: ")
    assert "POST /api/v1/tickets → 422 " in message
    assert refused["key"] == ledger_key("bad-dept")
    assert refused["request_id"].startswith("req_")


async def test_the_background_drain_retrying_through_an_outage_adds_no_line_per_pass(
    clock: ManualClock, log: Log
) -> None:
    """`serve`'s drain loop retrying queued tickets through a 503 outage: every failed trial
    pass stays at debug level; the log says "opened" once, "closed" once, and the pass that
    created the tickets."""
    container, emulator = sandbox(
        clock, CIRCUIT_BREAKER_FAILURE_THRESHOLD="1", CIRCUIT_BREAKER_TIMEOUT="30"
    )
    async with running(container) as services:
        created, _ = await services.submit(customer_draft(clock.now(), key="bg-0"))
        assert created.state is TicketState.CREATED
        emulator.apply_faults({"outage": "503"})
        for n in range(1, 4):
            queued, _ = await services.submit(customer_draft(clock.now(), key=f"bg-{n}"))
            assert queued.state is not TicketState.CREATED
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: drain_forever(services, interval=0.02, tick=0.02))
            for _ in range(5):  # five trials, each failing
                clock.advance(31)
                await wait_for(_one_more_pass(services), what="a pass")
            emulator.faults.clear()
            clock.advance(31)
            store = await store_of(container)
            await wait_for(lambda: _empty(store), what="the queue to empty")
            tg.cancel_scope.cancel()

    assert len(log.lines("Zoho circuit breaker opened")) == 1
    assert len(log.lines("Zoho circuit breaker closed")) == 1
    drains = log.lines("drain: ")
    assert [d["message"] for d in drains] == [
        "drain: 3 processed, 3 created, 0 failed, 0 dead, 0 remaining"
    ]


def _one_more_pass(services: Services) -> Callable[[], Awaitable[bool]]:
    """A check that the drain has finished one more pass than it had now."""
    wanted = services.drain.state.passes + 1

    async def done() -> bool:
        return services.drain.state.passes >= wanted

    return done


async def _empty(store: TicketStore) -> bool:
    return await store.pending_count() == 0
