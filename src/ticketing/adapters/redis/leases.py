"""Fleet-wide leases on Redis: SET NX PX to take, compare-and-delete to give back."""

from __future__ import annotations

import redis.asyncio as aioredis

from ticketing.adapters.redis.connection import store_errors
from ticketing.adapters.redis.scripts import LeaseScripts


class RedisLeases:
    """The ``Leases`` port on Redis: one string key per lease, holding its owner, with a TTL
    (``lua/acquire.lua``, ``lua/release.lua``; the ticket store takes ticket leases with the
    same Lua function).

    Args:
        client: An asyncio Redis client.
        prefix: Put before every lease name.
    """

    def __init__(self, client: aioredis.Redis, *, prefix: str = "") -> None:
        self._client = client
        self._prefix = prefix
        self._scripts = LeaseScripts(client)

    def __repr__(self) -> str:
        return f"RedisLeases(prefix={self._prefix!r})"

    async def acquire(self, name: str, owner: str, ttl: float) -> bool:
        with store_errors(self._client, f"taking lease {name!r}"):
            return await self._scripts.acquire(
                lease=self._prefix + name, owner=owner, ms=max(1, int(ttl * 1000))
            )

    async def release(self, name: str, owner: str) -> None:
        with store_errors(self._client, f"releasing lease {name!r}"):
            await self._scripts.release(lease=self._prefix + name, owner=owner)
