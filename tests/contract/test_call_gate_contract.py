"""One contract for the Zoho call gate: in memory, on fakeredis, on a real Redis and on a
Redis Cluster."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import anyio
import fakeredis
import pytest
import redis.asyncio as aioredis

from ticketing.adapters.clock import SystemClock
from ticketing.adapters.memory_gate import InMemoryCallGate
from ticketing.adapters.redis.gate import RedisCallGate
from ticketing.domain.ports import CallGate

pytestmark = pytest.mark.anyio

GateFactory = Callable[[int], CallGate]


@pytest.fixture(params=["memory", "fakeredis", "redis", "cluster", "sentinel"])
def make_gate(request: pytest.FixtureRequest, key_prefix: str) -> GateFactory:
    """Builds gates of a given capacity; the Redis ones of one test share their keys."""
    clock = SystemClock()
    if request.param == "memory":
        return lambda capacity: InMemoryCallGate(clock, capacity)
    client: aioredis.Redis
    if request.param == "fakeredis":
        client = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
    elif request.param == "cluster":
        client = cast(aioredis.Redis, request.getfixturevalue("cluster_redis"))
    elif request.param == "sentinel":
        client = cast(aioredis.Redis, request.getfixturevalue("sentinel_redis"))
    else:
        client = cast(aioredis.Redis, request.getfixturevalue("real_redis"))
    return lambda capacity: RedisCallGate(client, clock, capacity=capacity, prefix=key_prefix)


async def test_admits_up_to_capacity_then_refuses_after_the_wait(make_gate: GateFactory) -> None:
    """Capacity slots are handed out; the next caller waits, and gets none if none frees up."""
    gate = make_gate(2)
    first, second = await gate.enter(1.0), await gate.enter(1.0)
    assert first.admitted
    assert second.admitted
    assert first.slot != second.slot
    third = await gate.enter(0.05)
    assert not third.admitted
    assert third.paused_for == 0
    assert gate.in_flight() == 2


async def test_a_slot_given_back_admits_a_waiting_caller(make_gate: GateFactory) -> None:
    """A waiter is admitted as soon as a holder leaves."""
    gate = make_gate(1)
    held = await gate.enter(1.0)
    assert held.slot is not None
    got: list[bool] = []

    async def waiter() -> None:
        admission = await gate.enter(5.0)
        got.append(admission.admitted)
        if admission.slot:
            await gate.leave(admission.slot)

    async with anyio.create_task_group() as tg:
        tg.start_soon(waiter)
        await anyio.sleep(0.05)
        assert got == []
        await gate.leave(held.slot)
    assert got == [True]
    assert gate.in_flight() == 0


async def test_never_more_than_capacity_in_flight_under_contention(
    make_gate: GateFactory,
) -> None:
    """Many callers at once: at most capacity hold a slot at any moment, and all get one."""
    gate = make_gate(3)
    in_flight = peak = done = 0

    async def call() -> None:
        nonlocal in_flight, peak, done
        admission = await gate.enter(10.0)
        assert admission.slot is not None
        in_flight += 1
        peak = max(peak, in_flight)
        await anyio.sleep(0.01)
        in_flight -= 1
        await gate.leave(admission.slot)
        done += 1

    async with anyio.create_task_group() as tg:
        for _ in range(30):
            tg.start_soon(call)
    assert (peak, done) == (3, 30)


async def test_a_pause_refuses_every_caller_until_it_has_passed(make_gate: GateFactory) -> None:
    """After pause(s) no slot is handed out (the answer says how long); afterwards they are."""
    gate = make_gate(5)
    await gate.pause(0.3)
    refused = await gate.enter(1.0)
    assert not refused.admitted
    assert 0 < refused.paused_for <= 0.3
    assert 0 < gate.paused_for() <= 0.3
    await anyio.sleep(0.35)
    assert (await gate.enter(1.0)).admitted


async def test_a_shorter_pause_does_not_cut_a_longer_one(make_gate: GateFactory) -> None:
    """Two 429s with different Retry-Afters: the longer wait stands."""
    gate = make_gate(5)
    await gate.pause(5)
    await gate.pause(0.1)
    assert gate.paused_for() > 4


async def test_leaving_twice_or_an_unknown_slot_changes_nothing(make_gate: GateFactory) -> None:
    """leave() is idempotent: a slot cannot be given back twice to free two places."""
    gate = make_gate(1)
    admission = await gate.enter(1.0)
    assert admission.slot is not None
    await gate.leave(admission.slot)
    await gate.leave(admission.slot)
    await gate.leave("not-a-slot")
    assert (await gate.enter(1.0)).admitted
    assert not (await gate.enter(0.05)).admitted


async def test_no_wait_still_takes_a_free_slot(make_gate: GateFactory) -> None:
    """enter(0) does not wait for a slot, but takes one that is free."""
    gate = make_gate(1)
    assert (await gate.enter(0)).admitted
    assert not (await gate.enter(0)).admitted


async def test_run_serves_until_cancelled_and_then_holds_nothing(make_gate: GateFactory) -> None:
    """While run() runs, calls go through as usual; cancelling it (the process stops) ends it
    at once, and no slot stays taken: a gate on the same keys gets the whole capacity."""
    gate = make_gate(2)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(gate.run)
            for _ in range(3):
                admission = await gate.enter(1.0)
                assert admission.slot is not None
                await gate.leave(admission.slot)
            tg.cancel_scope.cancel()
    assert gate.in_flight() == 0
    after = make_gate(2)
    assert (await after.enter(0)).admitted
    assert (await after.enter(0)).admitted
