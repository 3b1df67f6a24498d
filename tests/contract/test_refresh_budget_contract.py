"""One contract for the token refresh budget: in memory, on fakeredis, on a real Redis and on
a Redis Cluster."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import cast

import fakeredis
import pytest
import redis.asyncio as aioredis

from ticketing.adapters.memory import InMemoryRefreshBudget
from ticketing.adapters.redis.budget import RedisRefreshBudget
from ticketing.domain.ports import RefreshBudget

from tests.support.clock import ManualClock
from tests.support.redis_cluster import cluster_client

pytestmark = pytest.mark.anyio

LIMIT = 3
SUBJECT = "0123456789abcdef"


@pytest.fixture(
    params=[
        "memory",
        "fakeredis",
        pytest.param("redis", marks=pytest.mark.redis),
        pytest.param("cluster", marks=pytest.mark.redis),
    ]
)
async def budget(
    request: pytest.FixtureRequest, clock: ManualClock, key_prefix: str
) -> AsyncIterator[RefreshBudget]:
    if request.param == "memory":
        yield InMemoryRefreshBudget(clock, limit=LIMIT)
        return
    if request.param == "fakeredis":
        client: aioredis.Redis = fakeredis.FakeAsyncRedis()
    elif request.param == "cluster":
        client = cast(aioredis.Redis, cluster_client(request.getfixturevalue("redis_cluster")))
    else:
        client = aioredis.Redis.from_url(request.getfixturevalue("real_redis_url"))
    try:
        yield RedisRefreshBudget(client, clock, limit=LIMIT, prefix=key_prefix)
    finally:
        async for key in client.scan_iter(match=f"{key_prefix}*"):
            await client.delete(key)
        await client.aclose()


async def test_counts_up_to_the_limit_then_says_until_when(
    budget: RefreshBudget, clock: ManualClock
) -> None:
    """LIMIT issued tokens are allowed; then no refresh until the oldest leaves the window."""
    first_at = clock.now()
    for used in range(1, LIMIT + 1):
        assert (await budget.peek(SUBJECT)).granted
        await budget.record(SUBJECT)
        assert (await budget.peek(SUBJECT)).used == used
        clock.advance(10)
    refused = await budget.peek(SUBJECT)
    assert not refused.granted
    assert refused.used == LIMIT
    assert refused.paused_until == first_at + timedelta(seconds=600)
    assert f"paused until {refused.paused_until:%Y-%m-%d %H:%M:%S} UTC" in refused.describe()
    assert f"{LIMIT} refreshes were made in the last 10 minutes" in refused.describe()

    clock.advance(600 - 30 + 1)  # the first refresh has left the window
    again = await budget.peek(SUBJECT)
    assert (again.granted, again.used) == (True, LIMIT - 1)


async def test_peek_counts_nothing(budget: RefreshBudget) -> None:
    """peek answers whether a refresh could happen, and counts nothing."""
    await budget.record(SUBJECT)
    for _ in range(LIMIT + 2):
        allowance = await budget.peek(SUBJECT)
        assert (allowance.granted, allowance.used, allowance.limit) == (True, 1, LIMIT)
    assert allowance.describe() == "1 of 3 refreshes used in the last 10 minutes"


async def test_zohos_refusal_counts_and_pauses_every_refresh_until_its_end(
    budget: RefreshBudget, clock: ManualClock
) -> None:
    """After Zoho throttles, nobody refreshes before the pause ends; a shorter pause does not
    shorten it; the refusals count, as Zoho counts them."""
    until = clock.now() + timedelta(seconds=60)
    await budget.throttled(SUBJECT, until)
    await budget.throttled(SUBJECT, clock.now() + timedelta(seconds=5))
    refused = await budget.peek(SUBJECT)
    assert (refused.granted, refused.throttled, refused.paused_until) == (False, True, until)
    assert refused.used == 2
    assert "Zoho refused a refresh as too many" in refused.describe()
    clock.advance(61)
    assert (await budget.peek(SUBJECT)).granted


async def test_failures_count_nothing_and_back_off_growing_then_capped(
    budget: RefreshBudget, clock: ManualClock
) -> None:
    """A failing accounts server issues nothing: no count, but each failure in a row puts
    the next try off by a jittered delay (half to all of 1, 2, 4, ... s, at most the cap)."""
    delays = []
    for failures in range(1, 8):
        allowance = await budget.failed(SUBJECT, first=1.0, cap=8.0)
        assert (allowance.granted, allowance.backing_off) == (False, True)
        assert (allowance.used, allowance.failures) == (0, failures)
        assert allowance.paused_until is not None
        delays.append((allowance.paused_until - clock.now()).total_seconds())
        assert "the accounts server failed" in allowance.describe()
        clock.advance(delays[-1])
        assert (await budget.peek(SUBJECT)).granted
    for failures, delay in enumerate(delays, start=1):
        nominal = min(8.0, 2.0 ** (failures - 1))
        assert nominal / 2 - 0.001 <= delay <= nominal
    assert (await budget.peek(SUBJECT)).used == 0


async def test_an_issued_token_ends_the_back_off(budget: RefreshBudget, clock: ManualClock) -> None:
    """The accounts server is back: the next failure starts from the first delay again."""
    for _ in range(5):
        await budget.failed(SUBJECT, first=1.0, cap=60.0)
    await budget.record(SUBJECT)
    allowance = await budget.peek(SUBJECT)
    assert (allowance.granted, allowance.failures, allowance.used) == (True, 0, 1)
    again = await budget.failed(SUBJECT, first=1.0, cap=60.0)
    assert again.failures == 1
    assert again.paused_until is not None
    assert (again.paused_until - clock.now()).total_seconds() <= 1.0


async def test_resume_lifts_every_pause_and_says_what_it_was(
    budget: RefreshBudget, clock: ManualClock
) -> None:
    """By hand: the count, Zoho's pause and the back-off are gone at once."""
    for _ in range(LIMIT):
        await budget.record(SUBJECT)
    await budget.throttled(SUBJECT, clock.now() + timedelta(seconds=600))
    await budget.failed(SUBJECT, first=30.0, cap=60.0)
    before = await budget.resume(SUBJECT)
    assert (before.granted, before.throttled, before.used) == (False, True, LIMIT + 1)
    after = await budget.peek(SUBJECT)
    assert (after.granted, after.used, after.failures) == (True, 0, 0)


async def test_subjects_have_separate_budgets(budget: RefreshBudget) -> None:
    """Each refresh token has its own window."""
    for _ in range(LIMIT):
        await budget.record(SUBJECT)
    assert not (await budget.peek(SUBJECT)).granted
    assert (await budget.peek("fedcba9876543210")).granted


@pytest.mark.redis
async def test_two_clients_share_one_budget_and_one_back_off(
    real_redis_url: str, clock: ManualClock, key_prefix: str
) -> None:
    """Two instances with their own Redis connections count into one window, and one
    instance's back-off holds the other one back too."""
    clients = [aioredis.Redis.from_url(real_redis_url) for _ in range(2)]
    try:
        budgets = [RedisRefreshBudget(c, clock, limit=LIMIT, prefix=key_prefix) for c in clients]
        await budgets[0].failed(SUBJECT, first=5.0, cap=5.0)
        assert (await budgets[1].peek(SUBJECT)).backing_off
        for i in range(LIMIT):
            await budgets[i % 2].record(SUBJECT)
        assert [(await b.peek(SUBJECT)).granted for b in budgets] == [False, False]
    finally:
        async for key in clients[0].scan_iter(match=f"{key_prefix}*"):
            await clients[0].delete(key)
        for client in clients:
            await client.aclose()
