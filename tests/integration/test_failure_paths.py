"""Every failure path the service promises to survive, driven through the HTTP API and the use
cases against the Zoho Desk emulator's fault switches (in-process, or served on a real socket
for timeouts and refused connections) and real Redis servers, asserting on what ends up stored:
tickets in the emulator, the ledger, the queue and the dead letters."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from dependency_injector import providers
from litestar.testing import AsyncTestClient

from ticketing.adapters.redis.leases import RedisLeases
from ticketing.adapters.redis.store import CONSUMER_GROUP
from ticketing.adapters.zoho_desk.oauth import BACKOFF_CAP
from ticketing.application.intake import ANONYMOUS_CLIENT, scoped_key
from ticketing.application.tickets import ProcessingPolicy
from ticketing.container import Container, Services
from ticketing.domain.breaker import BreakerState
from ticketing.domain.errors import StoreUnavailable
from ticketing.domain.model import DrainReport, Outcome, TicketDraft, TicketState
from ticketing.domain.ports import TicketStore
from ticketing.entrypoints.http.app import create_app
from zoho_desk_emulator import EmulatorState, create_emulator_app

from tests.integration.failures import (
    REDIS_SERVER,
    Crash,
    CrashAfterCreate,
    TransportFaults,
    redis_server,
    served_emulator,
)
from tests.integration.wired import RedisBackend, running, wait_for, wire
from tests.support.clock import ManualClock
from tests.support.containers import store_of
from tests.support.env import zoho_at
from tests.support.processes import free_port
from tests.support.redis import REQUIRE_REDIS
from tests.support.tickets import customer_draft

pytestmark = pytest.mark.anyio

KEY_FIELD = "cf_request_key"
LOOKUPS = [
    pytest.param({"ZOHO_IDEMPOTENCY_FIELD": KEY_FIELD}, id="by-key-field"),
    pytest.param({}, id="by-contact-subject-window"),
]

Client = AsyncTestClient  # type: ignore[type-arg]


def form(subject: str, email: str = "ana@example.com") -> dict[str, str]:
    return {
        "customer_email": email,
        "customer_name": "Ana López",
        "subject": subject,
        "description": "Pagué ayer y no me llega la confirmación",
        "priority": "High",
    }


def desk_calls(emulator: EmulatorState, method: str | None = None, path: str = "") -> int:
    """Desk API requests the emulator answered (or failed), optionally one method and path."""
    return sum(
        1
        for c in emulator.calls
        if c.path.startswith("/api/v1" + path) and (method is None or c.method == method)
    )


def tickets(emulator: EmulatorState, subject: str) -> list[Any]:
    return [t for t in emulator.tickets.values() if t.subject == subject]


async def record_of(container: Container, key: str) -> Outcome | None:
    """The ledger record of the HTTP ``Idempotency-Key`` ``key`` (in the namespace of the one
    anonymous client these tests are, API_KEYS being unset)."""
    return await (await store_of(container)).get(scoped_key(ANONYMOUS_CLIENT, key))


async def state_of(container: Container, key: str) -> TicketState | None:
    record = await record_of(container, key)
    return None if record is None else record.state


def in_app(client: Client, container: Container, key: str) -> Outcome | None:
    """The ledger record of ``key``, read on the app's own event loop (the test client runs
    the app in another thread, and a Redis client belongs to the loop that made it)."""
    return client.blocking_portal.call(record_of, container, key)


def sandbox(clock: ManualClock, **env: str) -> tuple[Container, EmulatorState]:
    """Sandbox mode (in-process emulator, in-memory store) on a manual clock."""
    emulator = EmulatorState(clock)
    return wire(env, emulator=emulator, clock=clock), emulator


async def process(client: Client) -> dict[str, Any]:
    response = await client.post("/queue/process")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def app(container: Container, **kw: bool) -> Any:
    return create_app(container, drain=kw.get("drain", False), consumer=kw.get("consumer", False))


# ----------------------------------------------------------------------- Zoho failures


@pytest.mark.parametrize("lookup", LOOKUPS)
async def test_zoho_5xx_on_create_is_looked_up_not_reposted(
    clock: ManualClock, lookup: dict[str, str]
) -> None:
    """A 500 on create may hide a created ticket: 202, the ledger says creating, the drain
    looks first and posts again only once the search lag is allowed for; one ticket."""
    container, emulator = sandbox(clock, ZOHO_SEARCH_LAG="30", **lookup)
    async with Client(app(container)) as client:
        assert (await client.post("/tickets/customer", data=form("Primero"))).status_code == 201
        emulator.apply_faults({"error_rate": 1.0})
        response = await client.post(
            "/tickets/customer", data=form("Segundo"), headers={"Idempotency-Key": "order-5xx"}
        )
        assert response.status_code == 202, response.text
        assert response.json()["status"] == "queued"
        assert await state_of(container, "order-5xx") is TicketState.CREATING
        emulator.faults.clear()
        posts = desk_calls(emulator, "POST", "/tickets")

        inside_grace = await process(client)
        assert (inside_grace["processed"], inside_grace["created"]) == (1, 0)
        assert desk_calls(emulator, "POST", "/tickets") == posts  # looked up, not re-posted
        assert desk_calls(emulator, "GET", "/tickets/search") >= 1

        clock.advance(31)
        after_grace = await process(client)
        assert (after_grace["created"], after_grace["remaining"]) == (1, 0)
    assert len(tickets(emulator, "Segundo")) == 1
    assert emulator.tickets_created == 2
    assert await state_of(container, "order-5xx") is TicketState.CREATED


@pytest.mark.parametrize("lookup", LOOKUPS)
@pytest.mark.parametrize("search_lag", [0, 20], ids=["indexed", "search-lag"])
async def test_create_then_fail_is_found_not_duplicated(
    clock: ManualClock, lookup: dict[str, str], search_lag: int
) -> None:
    """Zoho creates the ticket and then answers 500 (the emulator's create_then_fail): the
    drain finds that ticket, after the search index caught up, and never posts a second."""
    container, emulator = sandbox(clock, ZOHO_SEARCH_LAG="30", **lookup)
    emulator.apply_faults({"create_then_fail": 1, "search_lag": search_lag})
    async with Client(app(container)) as client:
        response = await client.post(
            "/tickets/customer", data=form("Cobro doble"), headers={"Idempotency-Key": "k-ctf"}
        )
        assert response.status_code == 202, response.text
        [made] = tickets(emulator, "Cobro doble")
        assert await state_of(container, "k-ctf") is TicketState.CREATING

        first = await process(client)
        if search_lag:
            assert first["created"] == 0  # not visible yet, and the grace has not passed
            clock.advance(search_lag + 1)
            first = await process(client)
        assert (first["created"], first["remaining"]) == (1, 0)
        record = await record_of(container, "k-ctf")
    assert record is not None
    assert record.ticket_id == made.id
    assert emulator.tickets_created == 1
    assert desk_calls(emulator, "POST", "/tickets") == 1


@pytest.mark.slow
@pytest.mark.parametrize("lookup", LOOKUPS)
@pytest.mark.parametrize("search_lag", [0.0, 1.0], ids=["indexed", "search-lag"])
async def test_create_then_hang_times_out_and_is_found(
    lookup: dict[str, str], search_lag: float
) -> None:
    """Zoho creates the ticket and then hangs: the read timeout (after the request was sent)
    is ambiguous; the drain finds the ticket instead of posting it again."""
    emulator = EmulatorState()
    emulator.apply_faults({"create_then_hang": 1, "hang": 3, "search_lag": search_lag})
    with served_emulator(emulator, free_port()) as url:
        container = wire(zoho_at(url, ZOHO_TIMEOUT="0.5", ZOHO_SEARCH_LAG="5", **lookup))
        async with Client(app(container)) as client:
            response = await client.post(
                "/tickets/customer", data=form("Se colgó"), headers={"Idempotency-Key": "k-hang"}
            )
            assert response.status_code == 202, response.text
            assert await state_of(container, "k-hang") is TicketState.CREATING
            [made] = tickets(emulator, "Se colgó")

            async def drained() -> bool:
                return (await process(client))["remaining"] == 0

            await wait_for(drained, within=search_lag + 4, what="the ambiguous ticket found")
            record = await record_of(container, "k-hang")
    assert record is not None
    assert record.ticket_id == made.id
    assert emulator.tickets_created == 1
    assert desk_calls(emulator, "POST", "/tickets") == 1


async def test_connect_timeout_is_not_ambiguous(clock: ManualClock) -> None:
    """A connect timeout means the create was never sent: the ticket goes back to accepted
    (no look-up needed) and the drain posts it once."""
    container, emulator = sandbox(clock)
    faults = TransportFaults(create_emulator_app(emulator))
    container.emulator.override(providers.Object(faults))
    async with Client(app(container)) as client:
        assert (await client.post("/tickets/customer", data=form("Primero"))).status_code == 201
        faults.fail("POST", "/api/v1/tickets", httpx.ConnectTimeout)
        response = await client.post(
            "/tickets/customer", data=form("Segundo"), headers={"Idempotency-Key": "k-ct"}
        )
        assert response.status_code == 202
        record = await record_of(container, "k-ct")
        assert record is not None
        assert record.state is TicketState.ACCEPTED
        assert "could not connect" in (record.reason or "")
        assert (await process(client))["created"] == 1
    assert desk_calls(emulator, "GET", "/tickets/search") == 0
    assert len(tickets(emulator, "Segundo")) == 1


async def test_read_timeout_after_send_is_ambiguous(clock: ManualClock) -> None:
    """A read timeout after the create was sent (Zoho made it, the answer never came) leaves
    the ledger creating; the drain finds the ticket."""
    container, emulator = sandbox(clock, ZOHO_IDEMPOTENCY_FIELD=KEY_FIELD)
    faults = TransportFaults(create_emulator_app(emulator))
    container.emulator.override(providers.Object(faults))
    async with Client(app(container)) as client:
        faults.fail("POST", "/api/v1/tickets", httpx.ReadTimeout, after=True)
        response = await client.post(
            "/tickets/customer", data=form("Segundo"), headers={"Idempotency-Key": "k-rt"}
        )
        assert response.status_code == 202
        assert await state_of(container, "k-rt") is TicketState.CREATING
        assert (await process(client))["created"] == 1
    assert emulator.tickets_created == 1


async def test_rate_limited_429_holds_every_call_back_until_retry_after(
    clock: ManualClock,
) -> None:
    """A 429 with Retry-After: the ticket is queued (202), health says degraded, later tickets
    are queued without calling Zoho and the drain waits; afterwards each is created once."""
    container, emulator = sandbox(clock)
    async with Client(app(container)) as client:
        assert (await client.post("/tickets/customer", data=form("Primero"))).status_code == 201
        emulator.apply_faults({"rate_limit": {"calls": 1, "retry_after": 5}})
        assert (await client.post("/tickets/customer", data=form("Segundo"))).status_code == 202
        calls = len(emulator.calls)
        health = await client.get("/health")
        assert (health.status_code, health.json()["status"]) == (200, "degraded")
        assert "429" in health.json()["last_error"]

        assert (await client.post("/tickets/customer", data=form("Tercero"))).status_code == 202
        assert (await process(client))["processed"] == 0
        assert len(emulator.calls) == calls  # nothing reached Zoho during the pause

        clock.advance(6)
        report = await process(client)
        assert (report["created"], report["remaining"]) == (2, 0)
        assert (await client.get("/health")).json()["status"] == "healthy"
    for subject in ("Primero", "Segundo", "Tercero"):
        assert len(tickets(emulator, subject)) == 1


@pytest.mark.slow
async def test_connection_refused_queues_and_drains_once_zoho_is_back() -> None:
    """Zoho refusing connections: 202 queued, the create was not sent (no look-up needed);
    when Zoho listens again the drain creates the ticket, once."""
    emulator = EmulatorState()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    container = wire(zoho_at(url))
    async with Client(app(container)) as client:
        with served_emulator(emulator, port):
            assert (await client.post("/tickets/customer", data=form("Antes"))).status_code == 201
        # Zoho is gone: nothing listens on its port any more
        response = await client.post(
            "/tickets/customer", data=form("Durante"), headers={"Idempotency-Key": "k-refused"}
        )
        assert response.status_code == 202, response.text
        record = await record_of(container, "k-refused")
        assert record is not None
        assert record.state is TicketState.ACCEPTED
        assert "could not connect" in (record.reason or "")
        with served_emulator(emulator, port):
            report = await process(client)
        assert (report["created"], report["remaining"]) == (1, 0)
    assert len(tickets(emulator, "Durante")) == 1
    assert desk_calls(emulator, "GET", "/tickets/search") == 0


# ----------------------------------------------------------------------- the breaker


@pytest.mark.parametrize("returning", [True, False], ids=["cached-contact", "new-customers"])
async def test_half_open_lets_exactly_one_trial_through_concurrent_requests(
    clock: ManualClock, returning: bool
) -> None:
    """After the breaker's timeout, ten requests at once while Zoho is still down make one
    trial call to Zoho between them; all ten are queued and created once Zoho is back."""
    container, emulator = sandbox(
        clock, CIRCUIT_BREAKER_FAILURE_THRESHOLD="2", CIRCUIT_BREAKER_TIMEOUT="30"
    )
    async with Client(app(container)) as client:
        assert (await client.post("/tickets/customer", data=form("Primero"))).status_code == 201
        emulator.apply_faults({"outage": "503"})
        for i in range(2):
            await client.post("/tickets/customer", data=form(f"Caído {i}"))
        health = (await client.get("/health")).json()
        assert (health["breaker"], health["status"]) == ("open", "degraded")

        clock.advance(31)
        assert (await client.get("/health")).json()["breaker"] == "half_open"
        before = desk_calls(emulator)
        statuses: list[int] = []

        async def post(i: int) -> None:
            email = "ana@example.com" if returning else f"n{i}@example.com"
            response = await client.post("/tickets/customer", data=form(f"Ráfaga {i}", email))
            statuses.append(response.status_code)

        async with anyio.create_task_group() as tg:
            for i in range(10):
                tg.start_soon(post, i)
        assert desk_calls(emulator) - before == 1
        assert statuses == [202] * 10
        assert (await client.get("/health")).json()["breaker"] == "open"

        emulator.faults.clear()
        clock.advance(31)
        report = await process(client)
        assert (report["created"], report["remaining"]) == (12, 0)
    assert emulator.tickets_created == 13


async def test_cancelled_half_open_trial_does_not_close_the_breaker(clock: ManualClock) -> None:
    """A half-open trial cut off by the attempt timeout (Zoho hangs) says nothing good about
    Zoho: the breaker must not close and let every request through to a hanging Zoho."""
    emulator = EmulatorState(clock)
    container = wire(
        {"CIRCUIT_BREAKER_FAILURE_THRESHOLD": "1", "CIRCUIT_BREAKER_TIMEOUT": "30"},
        emulator=emulator,
        clock=clock,
        policy=ProcessingPolicy(attempt_timeout=0.3),
    )
    async with running(container) as services:
        # A token first: a failing accounts server backs the token side off, not the breaker.
        created, _ = await services.submit(draft(clock, "k-0"))
        assert created.state is TicketState.CREATED
        emulator.apply_faults({"outage": "503"})
        await services.submit(draft(clock, "k-1"))
        assert services.helpdesk.breaker.state is BreakerState.OPEN
        clock.advance(31)
        emulator.apply_faults({"outage": False, "latency": 2.0})
        with anyio.fail_after(5):
            trial, _ = await services.submit(draft(clock, "k-2"))
        assert trial.state is not TicketState.CREATED
        assert services.helpdesk.breaker.state is not BreakerState.CLOSED


def draft(clock: ManualClock, key: str, subject: str = "Pago no reflejado") -> TicketDraft:
    return customer_draft(clock.now(), key=key, subject=subject)


# ----------------------------------------------------------------------- health


async def test_health_reports_queue_dead_letters_and_breaker(clock: ManualClock) -> None:
    """Health counts the queue and the dead letters and shows the breaker: healthy 200,
    degraded 200 while the breaker is open."""
    # A department Zoho does not have: refused for good (a channel outside the portal's
    # picklist no longer is: the ticket is sent again without it).
    container, emulator = sandbox(
        clock, CIRCUIT_BREAKER_FAILURE_THRESHOLD="3", ZOHO_DEPARTMENT_ID="813934000000999999"
    )
    async with Client(app(container)) as client:
        rejected = await client.post("/tickets/customer", data=form("Departamento raro"))
        assert rejected.status_code == 422
        emulator.apply_faults({"outage": "503"})
        assert (await client.post("/tickets/customer", data=form("Caído"))).status_code == 202
        health = await client.get("/health")
        assert health.status_code == 200
        assert {
            k: health.json()[k] for k in ("status", "queue_length", "dead_letters", "breaker")
        } == {
            "status": "healthy",
            "queue_length": 1,
            "dead_letters": 1,
            "breaker": "closed",
        }
        for i in range(2):
            await client.post("/tickets/customer", data=form(f"Caído {i}"))
        health = await client.get("/health")
        assert health.status_code == 200
        assert {k: health.json()[k] for k in ("status", "queue_length", "breaker")} == {
            "status": "degraded",
            "queue_length": 3,
            "breaker": "open",
        }
        assert health.json()["zoho_connected"] is False


async def test_store_failing_during_a_drain_is_503_and_keeps_the_ticket(
    clock: ManualClock,
) -> None:
    """The store failing in the middle of a drain (Redis going away) answers 503
    store_unavailable, not an internal error, and the ticket stays queued for the next drain."""
    container, emulator = sandbox(clock)
    async with Client(app(container)) as client:
        emulator.apply_faults({"outage": "503"})
        queued = await client.post(
            "/tickets/customer", data=form("Luego"), headers={"Idempotency-Key": "k-drain"}
        )
        assert queued.status_code == 202
        emulator.faults.clear()
        clock.advance(BACKOFF_CAP)  # the outage's token refresh back-off has passed
        store: Any = await store_of(container)
        working = store.mark_creating

        async def unavailable(key: str, at: Any) -> Any:
            raise StoreUnavailable("Redis went away (injected)")

        store.mark_creating = unavailable
        response = await client.post("/queue/process")
        assert response.status_code == 503, response.text
        assert response.json()["error"] == "store_unavailable"
        assert await store.pending_count() == 1

        store.mark_creating = working
        report = await process(client)
        assert (report["created"], report["remaining"]) == (1, 0)
    assert len(tickets(emulator, "Luego")) == 1


# ----------------------------------------------------------------------- Redis failures

_NO_SERVER = "needs the redis-server binary (apt-get install redis-server)"
if REDIS_SERVER is None and REQUIRE_REDIS:
    # CI must run these; a skip there would hide the Redis-restart proofs.
    raise RuntimeError(f"REQUIRE_REDIS is set but this test module {_NO_SERVER}")
needs_redis_server = pytest.mark.skipif(REDIS_SERVER is None, reason=_NO_SERVER)


@pytest.mark.slow
@needs_redis_server
async def test_redis_down_at_start_then_back(tmp_path: Path) -> None:
    """With Redis down the service still starts; /health is 503 unhealthy, a ticket is 503
    with a clear body and nothing reaches Zoho or half-stays anywhere; once Redis is up the
    same request is created."""
    port = free_port()
    emulator = EmulatorState()
    container = wire({"REDIS_URL": f"redis://127.0.0.1:{port}/0"}, emulator=emulator)
    with redis_server(port, tmp_path) as server:
        async with Client(app(container, drain=True, consumer=True)) as client:
            health = await client.get("/health")
            assert health.status_code == 503
            assert (health.json()["status"], health.json()["redis_connected"]) == (
                "unhealthy",
                False,
            )
            response = await client.post(
                "/tickets/customer", data=form("Sin Redis"), headers={"Idempotency-Key": "k-r"}
            )
            assert response.status_code == 503
            body = response.json()
            assert body["error"] == "store_unavailable"
            assert "Redis" in body["message"]
            assert "nothing was stored" in body["message"]
            assert desk_calls(emulator) == 0

            server.start()
            response = await client.post(
                "/tickets/customer", data=form("Sin Redis"), headers={"Idempotency-Key": "k-r"}
            )
            assert response.status_code == 201, response.text
            health = await client.get("/health")
            assert (health.status_code, health.json()["status"]) == (200, "healthy")
            assert health.json()["redis_connected"] is True
    assert len(tickets(emulator, "Sin Redis")) == 1


@pytest.mark.slow
@needs_redis_server
@pytest.mark.parametrize("lookup", LOOKUPS)
async def test_redis_dying_mid_run_loses_nothing_accepted(
    tmp_path: Path, lookup: dict[str, str]
) -> None:
    """Redis is killed while tickets are in Zoho's hands. Every ticket the API accepted (201
    or 202) exists exactly once in Zoho after Redis is back from its append-only file and the
    queue is drained; a ticket answered 503 was never accepted and does not exist."""
    port = free_port()
    emulator = EmulatorState()
    container = wire(
        {"REDIS_URL": f"redis://127.0.0.1:{port}/0", **lookup},
        emulator=emulator,
        policy=ProcessingPolicy(attempt_timeout=1.0, ambiguous_grace=30),
    )
    with redis_server(port, tmp_path, aof=True) as server:
        server.start()
        async with Client(app(container)) as client:
            assert (
                await client.post("/tickets/customer", data=form("Calentar"))
            ).status_code == 201
            emulator.apply_faults({"latency": 0.4})
            answers: dict[str, int] = {}

            async def post(i: int) -> None:
                key = f"k-mid-{i}"
                response = await client.post(
                    "/tickets/customer",
                    data=form(f"En vuelo {i}"),
                    headers={"Idempotency-Key": key},
                )
                answers[key] = response.status_code

            async with anyio.create_task_group() as tg:
                for i in range(6):
                    tg.start_soon(post, i)
                await anyio.sleep(0.2)  # every request is inside its Zoho call now
                server.kill()
            emulator.apply_faults({"latency": 0})
            server.start()  # from the append-only file

            async def drained() -> bool:
                return (await process(client))["remaining"] == 0

            await wait_for(drained, within=15, what="the queue drained after Redis came back")
            states = {key: in_app(client, container, key) for key in answers}
    assert set(answers.values()) <= {201, 202, 503}
    for key in sorted(answers):
        made = tickets(emulator, f"En vuelo {key.rsplit('-', 1)[1]}")
        record = states[key]
        if answers[key] == 503:
            assert made == [], key
            assert record is None, key
        else:
            assert len(made) == 1, (key, answers[key], made)
            assert record is not None, key
            assert record.state is TicketState.CREATED, key
            assert record.ticket_id == made[0].id


# ----------------------------------------------------------------------- crashes


@pytest.fixture
def shared_redis(real_redis_url: str, real_redis: object, key_prefix: str) -> RedisBackend:
    """The real Redis under this test's prefix (its keys are deleted afterwards)."""
    return RedisBackend("redis", real_redis_url, key_prefix)


CRASH_POLICY = ProcessingPolicy(attempt_timeout=0.5, ambiguous_grace=30)  # lease 1 s, reclaim 1.5 s
# What a busy machine may take for a step the crash tests wait on: a deadline, never a delay.
PATIENCE = 30.0


async def gone(client: Any, key: str) -> bool:
    return not await client.exists(key)


async def idle_for(client: Any, stream: str, ms: int) -> bool:
    """Every entry pending in ``stream``'s group has been idle for ``ms`` at least."""
    entries = await client.xpending_range(stream, CONSUMER_GROUP, "-", "+", 100)
    return bool(entries) and all(int(e["time_since_delivered"]) >= ms for e in entries)


async def drain_until_created(services: Services) -> DrainReport:
    """Drain until a pass creates a ticket (a busy machine may need a pass or two more after
    the lease or the reclaim time), at most every 0.25 s, so the few extra deliveries stay
    far from QUEUE_MAX_DELIVERIES; fails after 30 s."""
    deadline = anyio.current_time() + 30
    while True:
        report = await services.drain()
        if report.created or anyio.current_time() > deadline:
            return report
        await anyio.sleep(0.25)


@contextlib.asynccontextmanager
async def crashing_and_fresh(
    shared_redis: RedisBackend, lookup: dict[str, str], emulator: EmulatorState
) -> AsyncIterator[tuple[Services, Services, TicketStore]]:
    """Two processes on the shared Redis and Zoho, both with CRASH_POLICY: the one the test
    makes crash, and a fresh one (its services and its store)."""
    env = shared_redis.env(**lookup)
    crashed = wire(env, backend=shared_redis, emulator=emulator, policy=CRASH_POLICY)
    fresh = wire(env, backend=shared_redis, emulator=emulator, policy=CRASH_POLICY)
    async with running(crashed) as dying, running(fresh) as services:
        yield dying, services, await store_of(fresh)


@pytest.mark.slow
@pytest.mark.parametrize("lookup", LOOKUPS)
async def test_crash_between_zoho_answer_and_record_is_found_by_the_next_process(
    shared_redis: RedisBackend, lookup: dict[str, str]
) -> None:
    """A process dies right after Zoho created the ticket, before recording it, its lease
    still held. A fresh process leaves the ticket alone while the lease lasts, then finds it
    by the ambiguous look-up: one ticket, one created event, nothing pending."""
    emulator = EmulatorState()
    async with crashing_and_fresh(shared_redis, lookup, emulator) as (dying, services, store):
        dying.helpdesk.inner = CrashAfterCreate(dying.helpdesk.inner)
        clock = ManualClock(dying.clock.now())
        with pytest.raises(Crash):
            await dying.submit(draft(clock, "k-crash", subject="Se cayó"))
        # What the dead process leaves: the ledger says creating, its lease is still held.
        record = await store.get("k-crash")
        assert record is not None
        assert record.state is TicketState.CREATING
        client = shared_redis.client()
        leases = RedisLeases(client, prefix=shared_redis.prefix)
        # Held for as long as the first drain may take on a busy machine, then run out on
        # the test's word (PEXPIRE): no assertion depends on how fast a drain is.
        lease = f"{shared_redis.prefix}ticket:k-crash"
        assert await leases.acquire("ticket:k-crash", "dead-process", PATIENCE)
        [made] = tickets(emulator, "Se cayó")

        held = await services.drain()
        assert (held.processed, held.created) == (1, 0)  # the lease keeps it off limits
        await client.pexpire(lease, 1)  # the lease's time is over
        await wait_for(lambda: gone(client, lease), within=PATIENCE, what="the lease to expire")
        report = await drain_until_created(services)
        assert (report.created, report.remaining) == (1, 0)
        record = await store.get("k-crash")
        events = await client.xlen(shared_redis.created)
        await client.aclose()
    assert record is not None
    assert record.ticket_id == made.id
    assert emulator.tickets_created == 1
    assert events == 1


@pytest.mark.slow
@pytest.mark.parametrize("lookup", LOOKUPS)
async def test_crash_of_a_draining_worker_is_reclaimed_and_found(
    shared_redis: RedisBackend, lookup: dict[str, str]
) -> None:
    """A worker's drain claimed an entry, Zoho created the ticket and the worker died. The
    entry waits in the dead worker's pending list until it has been idle for the reclaim
    time; another worker then takes it over and finds the ticket: no duplicate."""
    emulator = EmulatorState()
    async with crashing_and_fresh(shared_redis, lookup, emulator) as (dying, services, store):
        clock = ManualClock(dying.clock.now())
        await dying.submit(draft(clock, "k-worker", subject="Trabajador caído"), attempt_now=False)
        dying.helpdesk.inner = CrashAfterCreate(dying.helpdesk.inner)
        with pytest.raises(BaseExceptionGroup) as crash:
            await dying.drain()
        assert crash.group_contains(Crash)
        [made] = tickets(emulator, "Trabajador caído")

        # Before the reclaim time a worker leaves it alone: shown by one whose reclaim time
        # (3 x its attempt timeout) a busy machine cannot reach during the test.
        patient = wire(
            shared_redis.env(**lookup),
            backend=shared_redis,
            emulator=emulator,
            policy=ProcessingPolicy(attempt_timeout=PATIENCE, ambiguous_grace=30),
        )
        async with running(patient) as patient_services:
            early = await patient_services.drain()
        assert early.processed == 0  # still in the dead worker's pending list
        async with shared_redis.connected() as client:
            reclaim_ms = int(CRASH_POLICY.attempt_timeout * 3 * 1000)
            await wait_for(
                lambda: idle_for(client, shared_redis.pending, reclaim_ms),
                within=PATIENCE,
                what="the entry to be idle for the reclaim time",
            )
        report = await drain_until_created(services)
        assert (report.created, report.remaining) == (1, 0)
        record = await store.get("k-worker")
        in_flight = await store.in_flight_count()  # type: ignore[attr-defined]
    assert record is not None
    assert record.ticket_id == made.id
    assert emulator.tickets_created == 1
    assert in_flight == 0
