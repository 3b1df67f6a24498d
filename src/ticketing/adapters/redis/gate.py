"""The Zoho call gate on Redis: a fleet-wide semaphore of expiring slots, and a shared pause."""

from __future__ import annotations

import itertools
import random
import uuid
from typing import Final

import anyio
import redis.asyncio as aioredis

from ticketing.adapters.redis.connection import store_errors
from ticketing.domain.ports import Admission, Clock

SLOTS_KEY: Final = "ticketing:zoho:slots"
PAUSE_KEY: Final = "ticketing:zoho:pause"
WAITERS_KEY: Final = "ticketing:zoho:waiting"

# KEYS: slots, pause, waiters. ARGV: process, slot, capacity, holder ttl ms, waiter ttl ms.
# Returns {granted, pause ms left, other processes waiting}. Time is Redis's own, so the
# clocks of the fleet's hosts do not matter. A slot whose holder died expires with its score.
# While other processes wait for a slot, a process that holds its fair share already
# (capacity / processes wanting slots) is refused, so a busy process cannot starve the rest.
_ENTER = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
local others = redis.call('ZCARD', KEYS[3])
if redis.call('ZSCORE', KEYS[3], ARGV[1]) then
  others = others - 1
end
local pause = redis.call('PTTL', KEYS[2])
if pause > 0 then
  return {0, pause, others}
end
local capacity = tonumber(ARGV[3])
local holders = redis.call('ZRANGE', KEYS[1], 0, -1)
local share = capacity
if others > 0 then
  share = math.ceil(capacity / (others + 1))
end
local mine = 0
local prefix = ARGV[1] .. ':'
for _, holder in ipairs(holders) do
  if string.sub(holder, 1, #prefix) == prefix then
    mine = mine + 1
  end
end
if #holders < capacity and mine < share then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[4]), ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  redis.call('ZREM', KEYS[3], ARGV[1])
  return {1, 0, others}
end
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[5]), ARGV[1])
redis.call('PEXPIRE', KEYS[3], ARGV[5])
return {0, 0, others}
"""

# KEYS: pause, waiters. ARGV: process. Returns {pause ms left, other processes waiting}.
_PEEK = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local others = redis.call('ZCOUNT', KEYS[2], now, '+inf')
local mine = redis.call('ZSCORE', KEYS[2], ARGV[1])
if mine and tonumber(mine) >= now then
  others = others - 1
end
return {redis.call('PTTL', KEYS[1]), others}
"""

# KEYS: pause. ARGV: ms. A pause only ever grows: a shorter Retry-After does not cut it.
_PAUSE = """
local left = redis.call('PTTL', KEYS[1])
if left < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
  return tonumber(ARGV[1])
end
return left
"""


class RedisCallGate:
    """The ``CallGate`` port on Redis: every process using the same Redis (and prefix) shares
    ``capacity`` slots and one pause.

    The slots are a sorted set of holders scored by their expiry, taken and counted in one Lua
    script with Redis's clock; a holder that crashed loses its slot after ``holder_ttl``. The
    pause is one key with a TTL, checked by the same script.

    Round trips are kept off the hot path: a slot given back while other calls of this process
    wait is handed to one of them directly (no Redis), unless other processes are waiting
    too, in which case it goes back to the fleet. A handed-over slot is retired to Redis after
    ``hold_for`` seconds, which renews its expiry, and the pause is re-read at least every
    ``pause_check`` seconds while slots are reused locally, so a pause set by another process
    is seen within that time.

    Args:
        client: An asyncio Redis client.
        clock: Times the local view of the pause and of slot ages (monotonic).
        capacity: Calls in flight fleet-wide (``ZOHO_MAX_CONCURRENCY``).
        prefix: Put before every key.
        holder_ttl: Seconds after which a slot whose holder never gave it back is free again;
            longer than the longest call plus ``hold_for``.
        hold_for: Seconds a slot may be handed over locally before it goes back to Redis.
        pause_check: Seconds the local view of the pause is trusted while reusing slots.
        poll: Seconds between two asks while the fleet's slots are all taken (doubling, with
            jitter, up to 4 times this).
    """

    def __init__(
        self,
        client: aioredis.Redis,
        clock: Clock,
        *,
        capacity: int,
        prefix: str = "",
        holder_ttl: float = 90.0,
        hold_for: float = 5.0,
        pause_check: float = 0.1,
        poll: float = 0.01,
    ) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        if holder_ttl <= hold_for:
            raise ValueError("holder_ttl must be longer than hold_for")
        self.capacity = capacity
        self._client = client
        self._clock = clock
        self._slots_key = prefix + SLOTS_KEY
        self._pause_key = prefix + PAUSE_KEY
        self._waiters_key = prefix + WAITERS_KEY
        self._holder_ttl_ms = int(holder_ttl * 1000)
        self._waiter_ttl_ms = max(200, int(poll * 4 * 1000 * 5))
        self._hold_for = hold_for
        self._pause_check = pause_check
        self._poll = poll
        self.process = uuid.uuid4().hex[:12]
        self._ids = itertools.count()
        self._enter = client.register_script(_ENTER)
        self._peek = client.register_script(_PEEK)
        self._pause = client.register_script(_PAUSE)
        self._local = anyio.Semaphore(capacity)  # this process never needs more
        self._ask = anyio.Lock()  # one task of this process asks Redis at a time
        self._busy: dict[str, float] = {}  # slot → when Redis granted it
        self._spare: list[tuple[str, float]] = []  # held, free for a local waiter
        self._waiting = 0
        self._wake: anyio.Event | None = None
        self._paused_until = 0.0
        self._seen_at = -1e9  # when the pause and the waiters were last read from Redis
        self._others_waiting = 0
        self.round_trips = 0

    def __repr__(self) -> str:
        return (
            f"RedisCallGate(key={self._slots_key!r}, capacity={self.capacity}, "
            f"in_flight={len(self._busy)}, paused_for={self.paused_for():.1f})"
        )

    # ------------------------------------------------------------------ the port

    async def enter(self, wait: float) -> Admission:
        paused = self.paused_for()
        if paused > 0:
            return Admission(None, paused)
        self._waiting += 1
        admission = Admission(None)
        deadline = anyio.current_time() + max(0.0, wait)
        try:
            if await self._local_permit(deadline):
                try:
                    # However short the wait, Redis is asked at least once.
                    with anyio.CancelScope(deadline=max(deadline, anyio.current_time() + 0.05)):
                        admission = await self._take()
                finally:
                    if not admission.admitted:
                        self._local.release()
        finally:
            self._waiting -= 1
            if self._waiting == 0 and self._spare:
                with anyio.CancelScope(shield=True):
                    await self._return_spares()
        if not admission.admitted and not admission.paused_for:
            return Admission(None, self.paused_for())
        return admission

    async def leave(self, slot: str) -> None:
        granted_at = self._busy.pop(slot, None)
        if granted_at is None:
            return
        self._local.release()
        young = self._clock.monotonic() - granted_at < self._hold_for
        if self._waiting > 0 and young and not self._others_waiting:
            self._spare.append((slot, granted_at))
            self._notify()
            return
        with anyio.CancelScope(shield=True):
            await self._give_back(slot)

    async def pause(self, seconds: float) -> None:
        self._note_pause(seconds)
        ms = max(1, int(seconds * 1000))
        with store_errors(self._client, "pausing Zoho calls"):
            await self._pause(keys=[self._pause_key], args=[ms])
        self.round_trips += 1

    def paused_for(self) -> float:
        return max(0.0, self._paused_until - self._clock.monotonic())

    def in_flight(self) -> int:
        return len(self._busy)

    async def refresh(self) -> float:
        await self._look()
        return self.paused_for()

    # ------------------------------------------------------------------ internals

    async def _local_permit(self, deadline: float) -> bool:
        try:
            self._local.acquire_nowait()
        except anyio.WouldBlock:
            with anyio.CancelScope(deadline=deadline):
                await self._local.acquire()
                return True
            return False
        return True

    async def _take(self) -> Admission:
        delay = self._poll
        while True:
            reused = await self._reuse()
            if reused is not None:
                return reused
            async with self._ask:
                reused = await self._reuse()  # a slot may have been handed over meanwhile
                if reused is not None:
                    return reused
                slot = f"{self.process}:{next(self._ids)}"
                with anyio.CancelScope(shield=True):  # a granted slot must never go untracked
                    granted, pause_ms = await self._ask_redis(slot)
                    if granted:
                        self._busy[slot] = self._clock.monotonic()
                        return Admission(slot)
                if pause_ms > 0:
                    return Admission(None, pause_ms / 1000)
                # Every slot is taken: wait for one of ours to come back, or ask again.
                jitter = 0.5 + random.random()  # noqa: S311 - spreads the fleet's polls
                with anyio.move_on_after(delay * jitter):
                    await self._wakeup().wait()
                delay = min(delay * 2, self._poll * 4)

    async def _reuse(self) -> Admission | None:
        """A slot this process already holds, without a round trip when the pause is fresh."""
        while self._spare:
            slot, granted_at = self._spare.pop()
            if self._clock.monotonic() - granted_at >= self._hold_for:
                with anyio.CancelScope(shield=True):
                    await self._give_back(slot)
                continue
            if self._clock.monotonic() - self._seen_at > self._pause_check:
                self._spare.append((slot, granted_at))
                with anyio.CancelScope(shield=True):
                    await self._look()
                if self._others_waiting:
                    await self._return_spares()  # the fleet is short: back it goes
                    return None
                if not self._spare:
                    continue
                slot, granted_at = self._spare.pop()
            paused = self.paused_for()
            if paused > 0:
                self._spare.append((slot, granted_at))
                return Admission(None, paused)
            self._busy[slot] = granted_at
            return Admission(slot)
        return None

    async def _ask_redis(self, slot: str) -> tuple[bool, int]:
        with store_errors(self._client, "taking a Zoho call slot"):
            granted, pause_ms, others = await self._enter(
                keys=[self._slots_key, self._pause_key, self._waiters_key],
                args=[
                    self.process,
                    slot,
                    self.capacity,
                    self._holder_ttl_ms,
                    self._waiter_ttl_ms,
                ],
            )
        self.round_trips += 1
        self._seen(int(pause_ms), int(others))
        return bool(granted), int(pause_ms)

    async def _look(self) -> None:
        with store_errors(self._client, "reading the Zoho call pause"):
            pause_ms, others = await self._peek(
                keys=[self._pause_key, self._waiters_key], args=[self.process]
            )
        self.round_trips += 1
        self._seen(int(pause_ms), int(others))

    def _seen(self, pause_ms: int, others: int) -> None:
        self._seen_at = self._clock.monotonic()
        self._others_waiting = max(0, others)
        if pause_ms > 0:
            self._note_pause(pause_ms / 1000)

    async def _give_back(self, slot: str) -> None:
        with store_errors(self._client, "giving back a Zoho call slot"):
            await self._client.zrem(self._slots_key, slot)
        self.round_trips += 1
        self._notify()  # a local waiter may take it now through Redis

    async def _return_spares(self) -> None:
        while self._spare:
            slot, _ = self._spare.pop()
            await self._give_back(slot)

    def _note_pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, self._clock.monotonic() + seconds)

    def _wakeup(self) -> anyio.Event:
        if self._wake is None:
            self._wake = anyio.Event()
        return self._wake

    def _notify(self) -> None:
        if self._wake is not None:
            self._wake.set()
            self._wake = None
