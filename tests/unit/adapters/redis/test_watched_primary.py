"""The sentinel-managed pool follows a failover as soon as the sentinels name the new primary:
"the primary is down" (sentinels answering) is asked again a second later; only sentinels
that do not answer at all earn the longer pause. Through redis-py's own discover_master."""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio.sentinel import Sentinel
from redis.exceptions import ConnectionError as RedisConnectionError

from ticketing.adapters.redis import connection
from ticketing.adapters.redis.connection import WatchedPrimaryPool

pytestmark = pytest.mark.anyio

MASTER = "mymaster"


class FakeSentinel:
    """A sentinel's answer to SENTINEL MASTERS: the primary's port, down, or no answer."""

    def __init__(self) -> None:
        self.answer: str | int = 7201  # a port, "down" or "silent"
        self.asked = 0

    async def sentinel_masters(self) -> dict[str, Any]:
        self.asked += 1
        if self.answer == "silent":
            raise RedisConnectionError("Connection refused")
        flags = "master,s_down,o_down" if self.answer == "down" else "master"
        port = 7201 if self.answer == "down" else self.answer
        return {
            MASTER: {
                "ip": "127.0.0.1",
                "port": port,
                "is_master": True,
                "is_sdown": "s_down" in flags,
                "is_odown": "o_down" in flags,
                "flags": flags,
                "num-other-sentinels": 2,
            }
        }

    async def aclose(self) -> None:
        return None


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def setup(monkeypatch: pytest.MonkeyPatch) -> tuple[WatchedPrimaryPool, FakeSentinel, Clock]:
    fake = FakeSentinel()
    manager = Sentinel([])  # type: ignore[no-untyped-call]
    manager.sentinels = [fake]
    pool = WatchedPrimaryPool(MASTER, manager)
    pool.master_address = ("127.0.0.1", 7201)
    clock = Clock()
    monkeypatch.setattr(connection.time, "monotonic", clock)

    async def no_connection(*args: Any, **kwargs: Any) -> None:
        return None

    # Only the check before taking a connection is under test, not a connection.
    monkeypatch.setattr(connection.SentinelConnectionPool, "get_connection", no_connection)
    return pool, fake, clock


async def test_a_primary_reported_down_is_asked_about_again_a_second_later(
    setup: tuple[WatchedPrimaryPool, FakeSentinel, Clock],
) -> None:
    pool, fake, clock = setup
    fake.answer = "down"  # the old primary crashed; no new one elected yet
    await pool.get_connection()
    assert fake.asked == 1
    fake.answer = 7202  # the sentinels promote the replica
    clock.now += connection.PRIMARY_CHECK_EVERY
    await pool.get_connection()
    assert fake.asked == 2
    assert pool.master_address == ("127.0.0.1", 7202)


async def test_sentinels_that_do_not_answer_are_left_alone_for_a_while(
    setup: tuple[WatchedPrimaryPool, FakeSentinel, Clock],
) -> None:
    pool, fake, clock = setup
    fake.answer = "silent"
    await pool.get_connection()
    clock.now += connection.PRIMARY_CHECK_EVERY
    await pool.get_connection()
    assert fake.asked == 1  # not asked again within the pause
    clock.now += connection.PRIMARY_CHECK_BACKOFF
    fake.answer = 7202
    await pool.get_connection()
    assert (fake.asked, pool.master_address) == (2, ("127.0.0.1", 7202))
