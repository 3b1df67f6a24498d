"""The Redis call gate keeps an idle slot for a moment (``linger``) while its upkeep runs, so
calls that follow one another closely cost no round trips, without holding the fleet's slots
from other processes, and without exceeding the fleet's capacity."""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import AsyncIterator

import anyio
import pytest
import redis.asyncio as aioredis
from dependency_injector import providers

from ticketing.adapters.clock import SystemClock
from ticketing.adapters.redis.gate import SLOTS_KEY, RedisCallGate
from ticketing.entrypoints.background import run_background
from zoho_desk_emulator import EmulatorState

from tests.integration.test_fleet_gate import draft, hogged
from tests.integration.wired import RedisBackend, running, wait_for, wire

pytestmark = pytest.mark.anyio


@pytest.fixture
async def client(backend: RedisBackend) -> AsyncIterator[aioredis.Redis]:
    async with backend.connected() as redis:
        yield redis


def gate(
    client: aioredis.Redis, backend: RedisBackend, capacity: int, **options: float
) -> RedisCallGate:
    return RedisCallGate(client, SystemClock(), capacity=capacity, prefix=backend.prefix, **options)


async def holders(client: aioredis.Redis, backend: RedisBackend) -> list[str]:
    """The slots taken in Redis right now."""
    taken = await client.zrange(backend.prefix + SLOTS_KEY, 0, -1)
    return [raw.decode() if isinstance(raw, bytes) else str(raw) for raw in taken]


@contextlib.asynccontextmanager
async def upkeep(*gates: RedisCallGate) -> AsyncIterator[None]:
    """The gates' ``run()`` loops, running for the block and cancelled after it."""
    async with anyio.create_task_group() as tg:
        for each in gates:
            tg.start_soon(each.run)
        await anyio.sleep(0.01)  # the loops have started
        try:
            yield
        finally:
            tg.cancel_scope.cancel()


async def call(gate: RedisCallGate, *, wait: float = 5.0, lasts: float = 0.0) -> str:
    """One call through the gate: take a slot, hold it ``lasts`` seconds, give it back."""
    admission = await gate.enter(wait)
    assert admission.slot is not None
    await anyio.sleep(lasts)
    await gate.leave(admission.slot)
    return admission.slot


async def test_calls_a_few_ms_apart_reuse_one_lingering_slot(
    client: aioredis.Redis, backend: RedisBackend
) -> None:
    """With the upkeep running, twenty calls 5 ms apart take one slot from Redis and no round
    trip after that; the slot stays taken in Redis while it lingers, and is given back once
    ``linger`` passes without a call."""
    linger = 0.3
    one = gate(client, backend, 2, linger=linger, pause_check=30.0)
    async with upkeep(one):
        slots = set()
        for _ in range(20):
            slots.add(await call(one))
            await anyio.sleep(0.005)
        assert one.round_trips == 1  # the first grant, nothing since
        assert len(slots) == 1
        assert await holders(client, backend) == list(slots)  # lingering, still ours
        assert one.in_flight() == 0

        async def given_back() -> bool:
            return await holders(client, backend) == []

        await wait_for(given_back, within=10, what="the idle slot to go back after its linger")
        assert one.round_trips == 2  # ... and one ZREM when the linger ran out

        await call(one)  # the next call asks Redis again
        assert one.round_trips == 3


async def test_a_lingering_slot_still_sees_a_pause_set_elsewhere(
    client: aioredis.Redis, backend: RedisBackend
) -> None:
    """Reusing a lingering slot re-reads the shared pause every ``pause_check``: a 429 pause
    set by another process refuses this process's next call within that time."""
    one = gate(client, backend, 2, linger=5.0, pause_check=0.05)
    other = gate(client, backend, 2)
    async with upkeep(one):
        await call(one)
        await other.pause(10)
        await anyio.sleep(0.06)
        refused = await one.enter(1.0)
        assert not refused.admitted
        assert refused.paused_for > 5


async def test_calls_in_step_share_one_read_of_the_pause(
    client: aioredis.Redis, backend: RedisBackend
) -> None:
    """Five calls reuse five lingering slots at the same moment, after ``pause_check`` has
    passed: the pause is read from Redis once for all of them, not once each."""
    one = gate(client, backend, 5, linger=5.0, pause_check=0.05)
    async with upkeep(one):
        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(lambda: call(one, lasts=0.02))
        assert len(await holders(client, backend)) == 5
        await anyio.sleep(0.06)
        trips = one.round_trips
        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(lambda: call(one, lasts=0.02))
        assert one.round_trips == trips + 1
        assert len(await holders(client, backend)) == 5


async def test_without_the_upkeep_a_slot_goes_back_on_leave(
    client: aioredis.Redis, backend: RedisBackend
) -> None:
    """No ``run()``: nothing lingers, every call costs its two round trips as before."""
    one = gate(client, backend, 2, linger=5.0)
    for n in range(1, 4):
        admission = await one.enter(1.0)
        assert admission.slot is not None
        assert await holders(client, backend) == [admission.slot]
        await one.leave(admission.slot)
        assert await holders(client, backend) == []
        assert one.round_trips == 2 * n


async def test_a_zero_linger_keeps_nothing_even_with_the_upkeep(
    client: aioredis.Redis, backend: RedisBackend
) -> None:
    """``linger=0`` turns lingering off: run() just waits to be cancelled."""
    one = gate(client, backend, 2, linger=0)
    async with upkeep(one):
        await call(one)
        assert await holders(client, backend) == []
        assert one.round_trips == 2


async def test_another_process_gets_a_lingering_slot_within_the_linger(
    client: aioredis.Redis, backend: RedisBackend
) -> None:
    """Process A lingers the only slot of the fleet; process B, asking for it, gets it once
    A's linger has run out (plus B's polling), not after the holder time-out."""
    linger = 0.3
    async with backend.connected() as other_client:
        a = gate(client, backend, 1, linger=linger)
        b = RedisCallGate(other_client, SystemClock(), capacity=1, prefix=backend.prefix)
        async with upkeep(a):
            slot = await call(a)
            assert await holders(client, backend) == [slot]  # A lingers it
            started = time.monotonic()
            admission = await b.enter(5.0)
            took = time.monotonic() - started
            assert admission.slot is not None
            # Far below the holder time-out (90 s), the alternative: a busy machine may add
            # a second or two to linger + polling.
            assert took < linger + 5
            assert await holders(client, backend) == [admission.slot]
            await b.leave(admission.slot)


async def test_a_busy_lingering_process_cannot_starve_another(
    client: aioredis.Redis, backend: RedisBackend
) -> None:
    """One process with its upkeep running keeps every slot busy with back-to-back calls; a
    call from a second process still gets a slot, within a bounded time."""
    busy = gate(client, backend, 2)
    async with backend.connected() as other_client:
        other = RedisCallGate(other_client, SystemClock(), capacity=2, prefix=backend.prefix)
        async with upkeep(busy), hogged(busy, between=0.002):
            started = time.monotonic()
            admission = await other.enter(5.0)
            took = time.monotonic() - started
            assert admission.slot is not None
            assert took < 1.0
            await other.leave(admission.slot)


async def test_cancelling_the_upkeep_gives_every_spare_back(
    client: aioredis.Redis, backend: RedisBackend
) -> None:
    """Three slots linger; cancelling run() (the process stops) gives them all back in one
    round trip, and from then on a slot goes back on leave again."""
    one = gate(client, backend, 3, linger=30.0)
    async with upkeep(one):
        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(lambda: call(one, lasts=0.05))
        assert len(await holders(client, backend)) == 3  # all three linger
        trips = one.round_trips
    assert await holders(client, backend) == []
    assert one.round_trips == trips + 1

    admission = await one.enter(1.0)
    assert admission.slot is not None
    await one.leave(admission.slot)
    assert await holders(client, backend) == []


async def test_two_lingering_processes_never_exceed_the_fleets_capacity(
    client: aioredis.Redis, backend: RedisBackend
) -> None:
    """Two processes, both lingering, calls at random moments from both: never more than
    capacity calls in flight nor slots taken in Redis, every call gets through, and slots
    were reused without Redis (fewer than two round trips per call)."""
    capacity = 2
    async with backend.connected() as other_client:
        gates = [
            gate(client, backend, capacity, linger=0.05),
            RedisCallGate(other_client, SystemClock(), capacity=capacity, prefix=backend.prefix),
        ]
        in_flight = peak = done = 0
        taken_peak = 0
        finished = anyio.Event()
        rng = random.Random(7)

        async def caller(gate: RedisCallGate) -> None:
            nonlocal in_flight, peak, done
            for _ in range(12):
                admission = await gate.enter(10.0)
                assert admission.slot is not None
                in_flight += 1
                peak = max(peak, in_flight)
                await anyio.sleep(rng.uniform(0.002, 0.01))
                in_flight -= 1
                await gate.leave(admission.slot)
                done += 1
                await anyio.sleep(rng.choice([0.0, 0.003, 0.01, 0.08]))

        async def sample() -> None:
            nonlocal taken_peak
            async with backend.connected() as sampler:
                while not finished.is_set():
                    taken = await sampler.zcard(backend.prefix + SLOTS_KEY)
                    taken_peak = max(taken_peak, taken)
                    await anyio.sleep(0.001)

        async with upkeep(*gates), anyio.create_task_group() as outer:
            outer.start_soon(sample)
            async with anyio.create_task_group() as tg:
                for n in range(8):
                    tg.start_soon(caller, gates[n % 2])
            finished.set()
        assert done == 8 * 12
        assert peak <= capacity
        assert 1 <= taken_peak <= capacity
        assert sum(each.round_trips for each in gates) < 2 * done
        assert await holders(client, backend) == []  # the upkeeps gave everything back


async def test_run_background_starts_the_upkeep_and_a_stop_gives_slots_back(
    backend: RedisBackend,
) -> None:
    """The service's background work runs the gate's upkeep: a ticket's calls leave their slot
    lingering, and cancelling the background work (shutdown) gives it back to Redis."""
    emulator = EmulatorState()
    env = backend.env(ZOHO_MAX_CONCURRENCY="3")
    container = wire(env, backend=backend, emulator=emulator)
    container.call_gate.override(
        providers.Singleton(
            RedisCallGate,
            container.redis,
            container.clock,
            capacity=3,
            prefix=backend.prefix,
            linger=30.0,
        )
    )
    async with backend.connected() as client, running(container) as services:
        async with anyio.create_task_group() as tg:
            await run_background(tg, container, services, drain=False, consumer=False)
            await anyio.sleep(0.01)
            outcome, _ = await services.submit(draft(services, "ana@example.com"))
            assert outcome.ticket_id is not None
            assert len(await holders(client, backend)) == 1  # lingering after the calls
            tg.cancel_scope.cancel()
        assert await holders(client, backend) == []
