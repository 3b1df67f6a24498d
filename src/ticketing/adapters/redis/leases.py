"""Fleet-wide leases on Redis: SET NX PX to take, compare-and-delete to give back."""

from __future__ import annotations

import redis.asyncio as aioredis

from ticketing.adapters.redis.connection import store_errors

# Taking a lease the owner already holds renews it (a worker extending its own lease must not
# be told that someone else has it); anyone else only gets it once it is free or expired.
# A Lua function, so that the ticket store's scripts take ticket leases the same way.
TAKE_LUA = """
local function take(key, owner, ms)
  if redis.call('GET', key) == owner then
    redis.call('PEXPIRE', key, ms)
    return 1
  end
  if redis.call('SET', key, owner, 'NX', 'PX', ms) then
    return 1
  end
  return 0
end
"""
_ACQUIRE = TAKE_LUA + "return take(KEYS[1], ARGV[1], ARGV[2])\n"

# Only the holder may release: a lease that expired and was taken by another stays theirs.
RELEASE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisLeases:
    """The ``Leases`` port on Redis: one string key per lease, holding its owner, with a TTL.

    Args:
        client: An asyncio Redis client.
        prefix: Put before every lease name.
    """

    def __init__(self, client: aioredis.Redis, *, prefix: str = "") -> None:
        self._client = client
        self._prefix = prefix
        self._acquire = client.register_script(_ACQUIRE)
        self._release = client.register_script(RELEASE_SCRIPT)

    def __repr__(self) -> str:
        return f"RedisLeases(prefix={self._prefix!r})"

    async def acquire(self, name: str, owner: str, ttl: float) -> bool:
        with store_errors(self._client, f"taking lease {name!r}"):
            taken = await self._acquire(
                keys=[self._prefix + name], args=[owner, max(1, int(ttl * 1000))]
            )
        return bool(taken)

    async def release(self, name: str, owner: str) -> None:
        with store_errors(self._client, f"releasing lease {name!r}"):
            await self._release(keys=[self._prefix + name], args=[owner])
