"""The fleet-wide token refresh budget on Redis: a sliding-window log per refresh token,
Zoho's own pause, and the back-off from a failing accounts server."""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final

import redis.asyncio as aioredis

from ticketing.adapters.redis.connection import store_errors
from ticketing.domain.ports import Clock, RefreshAllowance

BUDGET_PREFIX: Final = "ticketing:oauth:refresh-budget:"
PAUSE_PREFIX: Final = "ticketing:oauth:refresh-paused:"
BACKOFF_PREFIX: Final = "ticketing:oauth:refresh-backoff:"
WINDOW: Final = 600.0  # Zoho's window: 10 access tokens per refresh token in 10 minutes

# KEYS: the log (sorted set of counted refreshes, ms), the pause (a deadline in ms), the
# back-off (a hash: failures in a row, and the deadline of the next try in ms).
# ARGV: now (ms), window (ms), limit.
# Returns {granted, used, until, reason, failures}; reason 1 Zoho's pause, 2 the count,
# 3 the back-off.
_LOOK = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local used = redis.call('ZCARD', KEYS[1])
local failures = tonumber(redis.call('HGET', KEYS[3], 'failures') or '0')
local paused = tonumber(redis.call('GET', KEYS[2]) or '0')
if paused > now then
  return {0, used, paused, 1, failures}
end
if used >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, used, tonumber(oldest[2]) + window, 2, failures}
end
local retry = tonumber(redis.call('HGET', KEYS[3], 'until') or '0')
if retry > now then
  return {0, used, retry, 3, failures}
end
return {1, used, 0, 0, failures}
"""

# KEYS: the log, the back-off. ARGV: now (ms), window (ms), a unique member.
# A token was issued: counted, and the accounts server is evidently back.
_RECORD = """
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('DEL', KEYS[2])
return 1
"""

# KEYS: the log, the pause. ARGV: now (ms), window (ms), a unique member, the pause's end
# (ms), how long to keep the pause key (ms). Zoho's refusal counts; a pause only moves later.
_THROTTLED = """
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local current = tonumber(redis.call('GET', KEYS[2]) or '0')
if tonumber(ARGV[4]) > current then
  redis.call('SET', KEYS[2], ARGV[4], 'PX', ARGV[5])
end
return 1
"""

# KEYS: the back-off. ARGV: now (ms), first delay (ms), cap (ms), jitter in [0, 1),
# how long to keep the key after the deadline (ms). Same rule as ports.backoff_delay.
_FAILED = """
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
local exponent = math.min(failures - 1, 30)
local delay = math.min(tonumber(ARGV[3]), tonumber(ARGV[2]) * 2 ^ exponent)
delay = math.floor(delay * (0.5 + tonumber(ARGV[4]) / 2))
local retry = tonumber(ARGV[1]) + delay
redis.call('HSET', KEYS[1], 'until', retry)
redis.call('PEXPIRE', KEYS[1], delay + tonumber(ARGV[5]))
return failures
"""


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _moment(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


class RedisRefreshBudget:
    """The ``RefreshBudget`` port on Redis, shared by every instance using the same keys.

    Nothing of it is copied into a process's memory: every instance asks Redis before each
    refresh, so deleting the keys (or ``ticketing auth resume``) lifts a pause fleet-wide.
    Times come from the service's clock (hosts of a fleet are NTP-synchronized), so the
    window is exact in tests with a manual clock too.

    Args:
        client: An asyncio Redis client.
        clock: Wall time.
        limit: Refreshes allowed per refresh token in ``window`` (``ZOHO_REFRESH_BUDGET``).
        window: Seconds of the sliding window.
        prefix: Put before every key.
        jitter: The source of back-off jitter, a number in [0, 1).
    """

    def __init__(
        self,
        client: aioredis.Redis,
        clock: Clock,
        *,
        limit: int,
        window: float = WINDOW,
        prefix: str = "",
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._client = client
        self._clock = clock
        self.limit = limit
        self.window = window
        self._prefix = prefix
        self._jitter = jitter
        self._look = client.register_script(_LOOK)
        self._record = client.register_script(_RECORD)
        self._throttled = client.register_script(_THROTTLED)
        self._failed = client.register_script(_FAILED)

    def __repr__(self) -> str:
        return f"RedisRefreshBudget(limit={self.limit}, window={self.window:g})"

    async def peek(self, subject: str) -> RefreshAllowance:
        now = _ms(self._clock.now())
        with store_errors(self._client, "counting token refreshes"):
            granted, used, until, reason, failures = await self._look(
                keys=self._keys(subject), args=[now, self._window_ms, self.limit]
            )
        return RefreshAllowance(
            granted=bool(granted),
            used=int(used),
            limit=self.limit,
            window=self.window,
            paused_until=_moment(int(until)) if not granted else None,
            throttled=int(reason) == 1,
            failures=int(failures),
            backing_off=int(reason) == 3,
        )

    async def record(self, subject: str) -> None:
        log, _, backoff = self._keys(subject)
        with store_errors(self._client, "counting a token refresh"):
            await self._record(keys=[log, backoff], args=self._member_args())

    async def throttled(self, subject: str, until: datetime) -> None:
        log, pause, _ = self._keys(subject)
        until_ms = _ms(until)
        keep = max(1, until_ms - _ms(self._clock.now())) + 60_000
        with store_errors(self._client, "pausing token refreshes"):
            await self._throttled(keys=[log, pause], args=[*self._member_args(), until_ms, keep])

    async def failed(self, subject: str, *, first: float, cap: float) -> RefreshAllowance:
        backoff = self._keys(subject)[2]
        now = _ms(self._clock.now())
        args = [now, int(first * 1000), int(cap * 1000), self._jitter(), self._window_ms]
        with store_errors(self._client, "backing off token refreshes"):
            await self._failed(keys=[backoff], args=args)
        return await self.peek(subject)

    async def resume(self, subject: str) -> RefreshAllowance:
        before = await self.peek(subject)
        with store_errors(self._client, "lifting the token refresh pause"):
            await self._client.delete(*self._keys(subject))
        return before

    @property
    def _window_ms(self) -> int:
        return int(self.window * 1000)

    def _member_args(self) -> list[int | str]:
        now = _ms(self._clock.now())
        return [now, self._window_ms, f"{now}-{secrets.token_hex(4)}"]

    def _keys(self, subject: str) -> list[str]:
        return [
            self._prefix + BUDGET_PREFIX + subject,
            self._prefix + PAUSE_PREFIX + subject,
            self._prefix + BACKOFF_PREFIX + subject,
        ]
