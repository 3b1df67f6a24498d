"""The emulator's fault switches, credits and concurrency cap."""

from __future__ import annotations

import time
from datetime import timedelta
from email.utils import parsedate_to_datetime

import anyio
import httpx
import pytest

from zoho_desk_emulator import EmulatorState, create_emulator_app
from zoho_desk_emulator.faults import FaultError

from tests.support.clock import ManualClock
from tests.zoho_desk_emulator.helpers import BASE_URL, create_ticket, refresh

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("path", ["/api/v1/organizations", "/oauth/v2/token"])
async def test_outage_answers_503_everywhere_but_control(
    client: httpx.AsyncClient, state: EmulatorState, path: str
) -> None:
    """During an outage Desk and accounts answer 503; the control API still works."""
    state.faults.outage = "503"
    answer = await client.request("GET" if "api" in path else "POST", path)
    assert answer.status_code == 503
    assert (await client.get("/_emulator/state")).status_code == 200


async def test_outage_reset_drops_the_connection(
    client: httpx.AsyncClient, state: EmulatorState
) -> None:
    """With outage=reset the client gets a transport error, logged as status 0."""
    state.faults.outage = "reset"
    with pytest.raises(httpx.TransportError):
        await client.get("/api/v1/organizations")
    assert state.calls[-1].status == 0


async def test_latency_delays_desk_calls(
    client: httpx.AsyncClient, headers: dict[str, str], state: EmulatorState
) -> None:
    """latency adds that many seconds to each Desk call."""
    state.faults.latency = 0.05
    started = time.monotonic()
    await client.get("/api/v1/myinfo", headers=headers)
    assert time.monotonic() - started >= 0.05


async def test_error_rate_one_fails_every_call_and_stores_nothing(
    client: httpx.AsyncClient, headers: dict[str, str], state: EmulatorState
) -> None:
    """error_rate=1: every Desk call is 500 INTERNAL_SERVER_ERROR and no ticket is made."""
    state.faults.error_rate = 1.0
    answer = await create_ticket(client, headers)
    assert answer.status_code == 500
    assert answer.json()["errorCode"] == "INTERNAL_SERVER_ERROR"
    assert state.tickets == {}


async def test_error_rate_is_reproducible_with_a_seed(clock: ManualClock) -> None:
    """Two emulators with the same seed fail the same calls."""
    patterns = []
    for _ in range(2):
        state = EmulatorState(clock, seed=7)
        transport = httpx.ASGITransport(app=create_emulator_app(state))
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            token = (await refresh(client)).json()["access_token"]
            state.faults.error_rate = 0.5
            pattern = []
            for _ in range(20):
                answer = await client.get(
                    "/api/v1/organizations",
                    headers={"Authorization": f"Zoho-oauthtoken {token}"},
                )
                pattern.append(answer.status_code)
        patterns.append(pattern)
    assert patterns[0] == patterns[1]
    assert {200, 500} == set(patterns[0])


async def test_rate_limit_for_the_next_calls(
    client: httpx.AsyncClient, headers: dict[str, str], state: EmulatorState
) -> None:
    """rate_limit K answers the next K calls with 429 and Retry-After, then recovers."""
    state.apply_faults({"rate_limit": {"calls": 2, "retry_after": 3}})
    for _ in range(2):
        answer = await client.get("/api/v1/myinfo", headers=headers)
        assert answer.status_code == 429
        assert answer.headers["retry-after"] == "3"
        assert answer.json()["errorCode"] == "TOO_MANY_REQUESTS"
    assert (await client.get("/api/v1/myinfo", headers=headers)).status_code == 200


async def test_rate_limit_for_a_window(
    client: httpx.AsyncClient, headers: dict[str, str], state: EmulatorState, clock: ManualClock
) -> None:
    """rate_limit with seconds answers 429 until the window has passed."""
    state.apply_faults({"rate_limit": {"seconds": 5}})
    assert (await client.get("/api/v1/myinfo", headers=headers)).status_code == 429
    clock.advance(4.9)
    assert (await client.get("/api/v1/myinfo", headers=headers)).status_code == 429
    clock.advance(0.1)
    assert (await client.get("/api/v1/myinfo", headers=headers)).status_code == 200


async def test_create_then_fail_stores_the_ticket_and_answers_500(
    client: httpx.AsyncClient, headers: dict[str, str], state: EmulatorState
) -> None:
    """create_then_fail: the ticket exists although the answer was 500; only K times."""
    state.faults.create_then_fail = 1
    failed = await create_ticket(client, headers, cf={"cf_request_key": "k-1"})
    assert failed.status_code == 500
    assert len(state.tickets_by_key("cf_request_key")["k-1"]) == 1
    assert (await create_ticket(client, headers)).status_code == 200
    assert state.tickets_created == 2


async def test_create_then_hang_stores_the_ticket_and_keeps_the_client_waiting(
    client: httpx.AsyncClient, headers: dict[str, str], state: EmulatorState
) -> None:
    """create_then_hang: the ticket is stored, the answer does not come before the timeout."""
    state.apply_faults({"create_then_hang": 1, "hang": 5})
    with anyio.move_on_after(0.2) as scope:
        await create_ticket(client, headers, cf={"cf_request_key": "k-9"})
    assert scope.cancelled_caught
    assert list(state.tickets_by_key("cf_request_key")) == ["k-9"]
    with anyio.fail_after(1):
        assert (await create_ticket(client, headers)).status_code == 200


async def test_search_lag_hides_fresh_tickets(
    client: httpx.AsyncClient, headers: dict[str, str], state: EmulatorState, clock: ManualClock
) -> None:
    """A ticket younger than search_lag is not found by search, though GET finds it."""
    state.faults.search_lag = 5
    ticket = (await create_ticket(client, headers, cf={"cf_request_key": "k-1"})).json()
    params = {"customField1": "cf_request_key:k-1"}
    hidden = await client.get("/api/v1/tickets/search", params=params, headers=headers)
    assert hidden.status_code == 204
    got = await client.get(f"/api/v1/tickets/{ticket['id']}", headers=headers)
    assert got.status_code == 200
    clock.advance(5)
    shown = await client.get("/api/v1/tickets/search", params=params, headers=headers)
    assert shown.json()["data"][0]["id"] == ticket["id"]


# ---------------------------------------------------------------------- credits and concurrency


async def test_credit_headers_on_every_answer(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    """Plain calls cost 1 credit, searches 3; both headers come on every Desk answer."""
    plain = await client.get("/api/v1/myinfo", headers=headers)
    search = await client.get(
        "/api/v1/contacts/search", params={"email": "x@example.com"}, headers=headers
    )
    assert plain.headers["x-rate-limit-remaining-v3"] == "99999"
    assert plain.headers["x-rate-limit-request-weight-v3"] == "1"
    assert search.headers["x-rate-limit-remaining-v3"] == "99996"
    assert search.headers["x-rate-limit-request-weight-v3"] == "3"
    refused = await client.get("/api/v1/myinfo", headers={"orgId": headers["orgId"]})
    assert refused.headers["x-rate-limit-request-weight-v3"] == "0"


async def test_threshold_exceeded_when_credits_are_spent(clock: ManualClock) -> None:
    """With the day's credits spent, calls answer THRESHOLD_EXCEEDED until the next day."""
    state = EmulatorState(clock, credits_per_day=2)
    transport = httpx.ASGITransport(app=create_emulator_app(state))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        auth = {
            "Authorization": f"Zoho-oauthtoken {(await refresh(client)).json()['access_token']}"
        }
        for _ in range(2):
            assert (await client.get("/api/v1/organizations", headers=auth)).status_code == 200
        spent = await client.get("/api/v1/organizations", headers=auth)
        assert spent.status_code == 429
        assert spent.json()["errorCode"] == "THRESHOLD_EXCEEDED"
        assert spent.headers["x-rate-limit-remaining-v3"] == "0"
        assert spent.headers["retry-after"] == str(14 * 3600)  # seconds, as Zoho sends it
        clock.advance(14 * 3600)  # past UTC midnight
        auth["Authorization"] = f"Zoho-oauthtoken {(await refresh(client)).json()['access_token']}"
        assert (await client.get("/api/v1/organizations", headers=auth)).status_code == 200


async def test_concurrency_cap_answers_429(
    client: httpx.AsyncClient, headers: dict[str, str], state: EmulatorState
) -> None:
    """More than max_concurrency calls in flight: the extra one is 429 with Retry-After."""
    state.max_concurrency = 2
    state.faults.latency = 0.1
    statuses: list[int] = []
    retry_after: list[str] = []

    async def call() -> None:
        answer = await client.get("/api/v1/myinfo", headers=headers)
        statuses.append(answer.status_code)
        if answer.status_code == 429:
            retry_after.append(answer.headers["retry-after"])
            assert answer.json()["errorCode"] == "TOO_MANY_REQUESTS"

    async with anyio.create_task_group() as tasks:
        for _ in range(3):
            tasks.start_soon(call)
    assert sorted(statuses) == [200, 200, 429]
    assert retry_after == ["1"]
    assert state.in_flight == 0


async def test_date_header_is_zohos_clock_skew_included(
    client: httpx.AsyncClient, headers: dict[str, str], state: EmulatorState, clock: ManualClock
) -> None:
    """Every Desk answer carries an HTTP Date in Zoho's clock; clock_skew moves it and the
    createdTime Zoho stamps alike."""
    plain = await client.get("/api/v1/myinfo", headers=headers)
    assert parsedate_to_datetime(plain.headers["date"]) == clock.now()
    state.apply_faults({"clock_skew": -300})
    ticket = await create_ticket(client, headers)
    skewed = clock.now() - timedelta(minutes=5)
    assert parsedate_to_datetime(ticket.headers["date"]) == skewed
    assert ticket.json()["createdTime"] == "2026-11-26T09:55:00.000Z"
    with pytest.raises(FaultError):
        state.apply_faults({"clock_skew": "soon"})


async def test_create_late_commits_after_the_delay_even_when_nobody_waits(
    client: httpx.AsyncClient, headers: dict[str, str], state: EmulatorState, clock: ManualClock
) -> None:
    """create_late: the create is committed commit_delay seconds after it arrived, stamped
    then, though the client gave up long before; the next create is immediate again."""
    state.apply_faults({"create_late": 1, "commit_delay": 30})
    with anyio.move_on_after(0.2) as scope:
        await create_ticket(client, headers, cf={"cf_request_key": "k-late"})
    assert scope.cancelled_caught
    state.settle()
    assert state.tickets_by_key("cf_request_key") == {}
    clock.advance(30)
    params = {"customField1": "cf_request_key:k-late"}
    found = await client.get("/api/v1/tickets/search", params=params, headers=headers)
    assert found.json()["data"][0]["createdTime"] == "2026-11-26T10:00:30.000Z"
    with anyio.fail_after(1):
        assert (await create_ticket(client, headers)).status_code == 200
    assert state.tickets_created == 2
