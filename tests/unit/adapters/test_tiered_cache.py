"""The two-tier contact cache: this process's memory in front of Redis (fakeredis here)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import fakeredis
import pytest

from ticketing.adapters.memory import InMemoryContactCache
from ticketing.adapters.redis.cache import RedisContactCache
from ticketing.adapters.tiered_cache import TwoTierContactCache
from ticketing.container import build_contact_cache
from ticketing.settings import Settings

from tests.support.clock import ManualClock

pytestmark = pytest.mark.anyio

ANA = "email:ana@example.com"


class CountingRedis(fakeredis.FakeAsyncRedis):
    """fakeredis, counting the commands sent (each one a round trip on a real Redis)."""

    commands = 0

    async def execute_command(self, *args: object, **options: object) -> object:
        type(self).commands += 1
        return await super().execute_command(*args, **options)


@pytest.fixture
async def redis() -> AsyncIterator[CountingRedis]:
    client = CountingRedis(server=fakeredis.FakeServer())
    CountingRedis.commands = 0
    yield client
    await client.aclose()


def tiers(redis: CountingRedis, clock: ManualClock, **near: object) -> TwoTierContactCache:
    return TwoTierContactCache(
        InMemoryContactCache(clock, ttl=60, **near),  # type: ignore[arg-type]
        RedisContactCache(redis, ttl=3600),
    )


async def test_a_known_contact_costs_no_round_trip(
    redis: CountingRedis, clock: ManualClock
) -> None:
    """After a put, gets are answered from memory: Redis is not asked again."""
    cache = tiers(redis, clock)
    await cache.put(ANA, "c-1")
    sent = CountingRedis.commands
    assert [await cache.get(ANA) for _ in range(5)] == ["c-1"] * 5
    assert CountingRedis.commands == sent
    assert await redis.get("ticketing:contact:" + ANA) == b"c-1"  # the fleet knows it too


async def test_a_contact_another_process_cached_is_read_once(
    redis: CountingRedis, clock: ManualClock
) -> None:
    """A miss in memory reads Redis once, then keeps the answer."""
    await RedisContactCache(redis).put(ANA, "c-9")  # another process
    cache = tiers(redis, clock)
    sent = CountingRedis.commands
    assert await cache.get(ANA) == "c-9"
    assert await cache.get(ANA) == "c-9"
    assert CountingRedis.commands == sent + 1
    assert await cache.get("email:nadie@example.com") is None


async def test_the_memory_tier_expires_and_redis_is_asked_again(
    redis: CountingRedis, clock: ManualClock
) -> None:
    """Once the short time to live passes, Redis decides again: an id another process
    dropped there is not used past it."""
    cache = tiers(redis, clock)
    await cache.put(ANA, "c-1")
    await RedisContactCache(redis).forget(ANA)  # another process found c-1 stale
    assert await cache.get(ANA) == "c-1"  # within the memory tier's time to live
    clock.advance(61)
    assert await cache.get(ANA) is None


async def test_forget_drops_both_tiers(redis: CountingRedis, clock: ManualClock) -> None:
    cache = tiers(redis, clock)
    await cache.put(ANA, "c-1")
    await cache.forget(ANA)
    assert await cache.get(ANA) is None
    assert await redis.get("ticketing:contact:" + ANA) is None


async def test_the_memory_tier_is_bounded_least_recently_used_first(
    clock: ManualClock,
) -> None:
    """With max_entries, the entry used longest ago goes when a new one comes in."""
    near = InMemoryContactCache(clock, ttl=60, max_entries=2)
    await near.put("a", "1")
    await near.put("b", "2")
    assert await near.get("a") == "1"  # a is now the most recently used
    await near.put("c", "3")
    assert len(near) == 2
    assert (await near.get("a"), await near.get("b"), await near.get("c")) == ("1", None, "3")


@pytest.mark.parametrize(
    ("local_ttl", "tiered"), [("60", True), ("0", False)], ids=["default", "off"]
)
async def test_the_container_puts_memory_in_front_of_redis(
    redis: CountingRedis, clock: ManualClock, local_ttl: str, tiered: bool
) -> None:
    """With Redis, CONTACT_CACHE_LOCAL_TTL (default 60 s) puts a bounded memory tier in front;
    0 leaves Redis alone. The memory tier never outlives CONTACT_CACHE_TTL."""
    settings = Settings.load(
        {
            "REDIS_URL": "redis://127.0.0.1:6379/0",
            "CONTACT_CACHE_LOCAL_TTL": local_ttl,
            "CONTACT_CACHE_TTL": "30",
        },
        dotenv=None,
    )
    cache = build_contact_cache(settings, redis, clock)
    assert isinstance(cache, TwoTierContactCache) is tiered
    if isinstance(cache, TwoTierContactCache):
        assert isinstance(cache.near, InMemoryContactCache)
        assert cache.near.ttl == 30
        assert cache.near.max_entries is not None
        assert isinstance(cache.far, RedisContactCache)
