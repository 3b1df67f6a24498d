"""The fleet-wide token refresh budget on Redis: a sliding-window log per refresh token."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Final

import redis.asyncio as aioredis

from ticketing.adapters.redis.connection import store_errors
from ticketing.domain.ports import Clock, RefreshAllowance

BUDGET_PREFIX: Final = "ticketing:oauth:refresh-budget:"
PAUSE_PREFIX: Final = "ticketing:oauth:refresh-paused:"
WINDOW: Final = 600.0  # Zoho's window: 10 access tokens per refresh token in 10 minutes

# KEYS: the log (sorted set of refresh times, ms) and the pause (a deadline in ms).
# ARGV: now (ms), window (ms), limit, a unique member, 1 to take a refresh / 0 to look.
# Counting and taking in one script: two processes can never both take the last refresh.
_SPEND = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local used = redis.call('ZCARD', KEYS[1])
local paused = tonumber(redis.call('GET', KEYS[2]) or '0')
if paused > now then
  return {0, used, paused, 1}
end
if used >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, used, tonumber(oldest[2]) + window, 0}
end
if ARGV[5] == '1' then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], window)
  used = used + 1
end
return {1, used, 0, 0}
"""

# A pause only ever moves later; it is kept a little past its deadline, then Redis drops it.
_PAUSE = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local untilms = tonumber(ARGV[1])
if untilms > current then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
return 1
"""


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _moment(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


class RedisRefreshBudget:
    """The ``RefreshBudget`` port on Redis, shared by every instance using the same keys.

    Times come from the service's clock (hosts of a fleet are NTP-synchronized), so the
    window is exact in tests with a manual clock too.

    Args:
        client: An asyncio Redis client.
        clock: Wall time.
        limit: Refreshes allowed per refresh token in ``window`` (``ZOHO_REFRESH_BUDGET``).
        window: Seconds of the sliding window.
        prefix: Put before every key.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        clock: Clock,
        *,
        limit: int,
        window: float = WINDOW,
        prefix: str = "",
    ) -> None:
        self._client = client
        self._clock = clock
        self.limit = limit
        self.window = window
        self._prefix = prefix
        self._spend = client.register_script(_SPEND)
        self._pause = client.register_script(_PAUSE)

    def __repr__(self) -> str:
        return f"RedisRefreshBudget(limit={self.limit}, window={self.window:g})"

    async def spend(self, subject: str) -> RefreshAllowance:
        return await self._run(subject, take=True)

    async def peek(self, subject: str) -> RefreshAllowance:
        return await self._run(subject, take=False)

    async def pause(self, subject: str, until: datetime) -> None:
        until_ms = _ms(until)
        keep = max(1, until_ms - _ms(self._clock.now())) + 60_000
        with store_errors(self._client, "pausing token refreshes"):
            await self._pause(keys=[self._prefix + PAUSE_PREFIX + subject], args=[until_ms, keep])

    async def _run(self, subject: str, *, take: bool) -> RefreshAllowance:
        now = _ms(self._clock.now())
        keys = [self._prefix + BUDGET_PREFIX + subject, self._prefix + PAUSE_PREFIX + subject]
        member = f"{now}-{secrets.token_hex(4)}"
        with store_errors(self._client, "counting token refreshes"):
            granted, used, until, throttled = await self._spend(
                keys=keys,
                args=[now, int(self.window * 1000), self.limit, member, 1 if take else 0],
            )
        return RefreshAllowance(
            granted=bool(granted),
            used=int(used),
            limit=self.limit,
            window=self.window,
            paused_until=_moment(int(until)) if not granted else None,
            throttled=bool(throttled),
        )
