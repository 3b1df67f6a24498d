"""ZOHO_MAX_CONCURRENCY and 429 pauses across instances that share Redis: the call gate."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator

import anyio
import pytest

from ticketing.adapters.clock import SystemClock
from ticketing.adapters.redis.gate import RedisCallGate
from ticketing.container import Services
from ticketing.domain.model import TicketDraft, TicketState
from zoho_desk_emulator import EmulatorState

from tests.integration.wired import RedisBackend, running, wire
from tests.support.containers import store_of
from tests.support.tickets import customer_draft

pytestmark = pytest.mark.anyio


def draft(services: Services, email: str) -> TicketDraft:
    return customer_draft(
        services.clock.now(),
        customer_email=email,
        description="Pagué ayer y no llega la confirmación",
    )


def statuses(emulator: EmulatorState) -> list[int]:
    return [call.status for call in emulator.calls if call.path.startswith("/api/v1/")]


@contextlib.asynccontextmanager
async def hogged(busy: RedisCallGate, *, between: float = 0.0) -> AsyncIterator[None]:
    """Six callers keep every slot of ``busy`` (capacity 2) taken with back-to-back calls,
    ``between`` seconds apart, until the block ends; it starts once they hold both."""
    stop = anyio.Event()
    full = anyio.Event()  # both slots held at once
    peak = 0

    async def hog() -> None:
        nonlocal peak
        while not stop.is_set():
            admission = await busy.enter(10.0)
            if admission.slot is None:
                continue
            peak = max(peak, busy.in_flight())
            if peak == 2:
                full.set()
            await anyio.sleep(0.02)
            await busy.leave(admission.slot)
            if between:
                await anyio.sleep(between)  # the client posts its next ticket

    async with anyio.create_task_group() as tg:
        for _ in range(6):
            tg.start_soon(hog)
        with anyio.fail_after(30):  # a condition, not a moment: a busy machine is slow
            await full.wait()
        assert peak == 2  # the busy process holds the whole fleet's capacity
        try:
            yield
        finally:
            stop.set()


async def test_two_instances_sharing_redis_never_exceed_the_cap(backend: RedisBackend) -> None:
    """Two instances, ZOHO_MAX_CONCURRENCY=3 each, an emulator that answers 429 beyond 3 in
    flight: 24 concurrent tickets all get created and Zoho never says 429."""
    emulator = EmulatorState(max_concurrency=3)
    emulator.apply_faults({"latency": 0.03})
    env = backend.env(ZOHO_MAX_CONCURRENCY="3")
    outcomes: list[TicketState] = []
    async with (
        running(wire(env, backend=backend, emulator=emulator)) as first,
        running(wire(env, backend=backend, emulator=emulator)) as second,
    ):

        async def submit(services: Services, n: int) -> None:
            outcome, _ = await services.submit(draft(services, f"c{n % 8}@example.com"))
            outcomes.append(outcome.state)

        async with anyio.create_task_group() as tg:
            for n in range(24):
                tg.start_soon(submit, first if n % 2 else second, n)
    assert outcomes == [TicketState.CREATED] * 24
    assert 429 not in statuses(emulator)
    assert emulator.tickets_created == 24
    assert emulator.contacts_created == 8  # and one contact per customer, fleet-wide


async def test_a_429_in_one_instance_pauses_calls_in_another(backend: RedisBackend) -> None:
    """Zoho answers one instance 429 with Retry-After: the other instance's next ticket is
    queued without any call to Zoho, and both see the pause."""
    emulator = EmulatorState()
    emulator.apply_faults({"rate_limit_calls": 1, "retry_after": 30})
    env = backend.env()
    other = wire(env, backend=backend, emulator=emulator)
    async with (
        running(wire(env, backend=backend, emulator=emulator)) as first,
        running(other) as second,
    ):
        outcome, _ = await first.submit(draft(first, "ana@example.com"))
        assert outcome.state is TicketState.ACCEPTED  # queued: Zoho said 429
        assert statuses(emulator) == [429]
        assert first.helpdesk.paused_for() > 25

        outcome, _ = await second.submit(draft(second, "bob@example.com"))
        assert outcome.state is TicketState.ACCEPTED
        assert statuses(emulator) == [429]  # the second instance sent nothing
        assert second.helpdesk.paused_for() > 25
        assert await (await store_of(other)).pending_count() == 2


async def test_a_crashed_holders_slot_is_recovered(backend: RedisBackend) -> None:
    """A process that took the only slot and died never gives it back: the slot frees itself
    after the holder time-out, and another process gets it."""
    async with backend.connected() as crashed, backend.connected() as alive:
        clock = SystemClock()
        dead = RedisCallGate(
            crashed, clock, capacity=1, prefix=backend.prefix, holder_ttl=0.4, hold_for=0.1
        )
        assert (await dead.enter(1.0)).admitted  # ... and the process dies holding it
        other = RedisCallGate(alive, clock, capacity=1, prefix=backend.prefix)
        assert not (await other.enter(0.05)).admitted
        admission = await other.enter(5.0)
        assert admission.admitted


async def test_a_busy_process_cannot_starve_another(backend: RedisBackend) -> None:
    """One process keeps every slot busy with its own queue of calls; a call from a second
    process still gets a slot (its fair share) instead of waiting for the first to run dry."""
    async with backend.connected() as busy_client, backend.connected() as other_client:
        clock = SystemClock()
        busy = RedisCallGate(busy_client, clock, capacity=2, prefix=backend.prefix)
        other = RedisCallGate(other_client, clock, capacity=2, prefix=backend.prefix)
        async with hogged(busy):
            admission = await other.enter(5.0)
            assert admission.admitted
            assert admission.slot is not None
            await other.leave(admission.slot)


async def test_slots_are_namespaced_by_the_key_prefix(backend: RedisBackend) -> None:
    """Two deployments on one Redis with different REDIS_KEY_PREFIX do not share slots."""
    async with backend.connected() as client:
        clock = SystemClock()
        one = RedisCallGate(client, clock, capacity=1, prefix=backend.prefix + "a:")
        two = RedisCallGate(client, clock, capacity=1, prefix=backend.prefix + f"{uuid.uuid4()}:")
        assert (await one.enter(1.0)).admitted
        assert (await two.enter(0.05)).admitted
