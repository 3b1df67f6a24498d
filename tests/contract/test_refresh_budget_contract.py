"""One contract for the token refresh budget: in memory, on fakeredis and on a real Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import anyio
import fakeredis
import pytest
import redis.asyncio as aioredis

from ticketing.adapters.memory import InMemoryRefreshBudget
from ticketing.adapters.redis.budget import RedisRefreshBudget
from ticketing.domain.ports import RefreshBudget

from tests.conftest import ManualClock

pytestmark = pytest.mark.anyio

LIMIT = 3
SUBJECT = "0123456789abcdef"


@pytest.fixture(params=["memory", "fakeredis", pytest.param("redis", marks=pytest.mark.redis)])
async def budget(
    request: pytest.FixtureRequest, clock: ManualClock, key_prefix: str
) -> AsyncIterator[RefreshBudget]:
    if request.param == "memory":
        yield InMemoryRefreshBudget(clock, limit=LIMIT)
        return
    if request.param == "fakeredis":
        client: aioredis.Redis = fakeredis.FakeAsyncRedis()
    else:
        client = aioredis.Redis.from_url(request.getfixturevalue("real_redis_url"))
    try:
        yield RedisRefreshBudget(client, clock, limit=LIMIT, prefix=key_prefix)
    finally:
        async for key in client.scan_iter(match=f"{key_prefix}*"):
            await client.delete(key)
        await client.aclose()


async def test_spends_up_to_the_limit_then_says_until_when(
    budget: RefreshBudget, clock: ManualClock
) -> None:
    """LIMIT refreshes are granted; the next is refused until the oldest leaves the window."""
    first_at = clock.now()
    for used in range(1, LIMIT + 1):
        allowance = await budget.spend(SUBJECT)
        assert (allowance.granted, allowance.used) == (True, used)
        clock.advance(10)
    refused = await budget.spend(SUBJECT)
    assert not refused.granted
    assert refused.used == LIMIT
    assert refused.paused_until == first_at + timedelta(seconds=600)
    assert f"paused until {refused.paused_until:%Y-%m-%d %H:%M:%S} UTC" in refused.describe()
    assert f"{LIMIT} refreshes were made in the last 10 minutes" in refused.describe()

    clock.advance(600 - 30 + 1)  # the first refresh has left the window
    again = await budget.spend(SUBJECT)
    assert (again.granted, again.used) == (True, LIMIT)


async def test_a_refused_spend_counts_nothing(budget: RefreshBudget, clock: ManualClock) -> None:
    """Asking while paused does not lengthen the pause."""
    for _ in range(LIMIT):
        await budget.spend(SUBJECT)
    for _ in range(5):
        assert not (await budget.spend(SUBJECT)).granted
    assert (await budget.peek(SUBJECT)).used == LIMIT
    clock.advance(601)
    assert (await budget.peek(SUBJECT)).used == 0


async def test_peek_spends_nothing(budget: RefreshBudget) -> None:
    """peek answers whether a refresh could happen, and counts nothing."""
    await budget.spend(SUBJECT)
    for _ in range(LIMIT + 2):
        allowance = await budget.peek(SUBJECT)
        assert (allowance.granted, allowance.used, allowance.limit) == (True, 1, LIMIT)
    assert allowance.describe() == "1 of 3 refreshes used in the last 10 minutes"


async def test_pause_holds_every_refresh_until_its_end(
    budget: RefreshBudget, clock: ManualClock
) -> None:
    """After Zoho throttles, nobody refreshes before the pause ends; a shorter pause does not
    shorten it."""
    until = clock.now() + timedelta(seconds=60)
    await budget.pause(SUBJECT, until)
    await budget.pause(SUBJECT, clock.now() + timedelta(seconds=5))
    refused = await budget.spend(SUBJECT)
    assert (refused.granted, refused.throttled, refused.paused_until) == (False, True, until)
    assert "Zoho refused a refresh as too many" in refused.describe()
    clock.advance(61)
    assert (await budget.spend(SUBJECT)).granted


async def test_subjects_have_separate_budgets(budget: RefreshBudget) -> None:
    """Each refresh token has its own window."""
    for _ in range(LIMIT):
        await budget.spend(SUBJECT)
    assert not (await budget.spend(SUBJECT)).granted
    assert (await budget.spend("fedcba9876543210")).granted


async def test_concurrent_spends_never_exceed_the_limit(budget: RefreshBudget) -> None:
    """Twenty spends at once: exactly LIMIT are granted."""
    granted: list[bool] = []

    async def spend() -> None:
        granted.append((await budget.spend(SUBJECT)).granted)

    async with anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(spend)
    assert granted.count(True) == LIMIT


@pytest.mark.redis
async def test_two_clients_share_one_budget(
    real_redis_url: str, clock: ManualClock, key_prefix: str
) -> None:
    """Two instances with their own Redis connections count into one window."""
    clients = [aioredis.Redis.from_url(real_redis_url) for _ in range(2)]
    try:
        budgets = [RedisRefreshBudget(c, clock, limit=LIMIT, prefix=key_prefix) for c in clients]
        results = [(await budgets[i % 2].spend(SUBJECT)).granted for i in range(LIMIT + 1)]
        assert results == [True] * LIMIT + [False]
    finally:
        async for key in clients[0].scan_iter(match=f"{key_prefix}*"):
            await clients[0].delete(key)
        for client in clients:
            await client.aclose()
