"""Fleet-wide leases on Redis: SET NX PX to take, compare-and-delete to give back."""

from __future__ import annotations

from collections.abc import Callable

from ticketing.adapters.redis.connection import RedisClient, store_errors
from ticketing.adapters.redis.scripts import LeaseScripts


class RedisLeases:
    """The ``Leases`` port on Redis: one string key per lease, holding its owner, with a TTL
    (``lua/acquire.lua``, ``lua/release.lua``; the ticket store takes ticket leases with the
    same Lua function).

    Given this process's ``holder`` (``<name>/<incarnation>``, see ``Heartbeat.holder``) and the
    heartbeat key prefix ``alive``, an owner is stored as ``<holder>/<owner>``, and a lease whose
    holder's process is gone is taken over at once instead of waited out (the contact-creation
    lock and the refresh lease of a killed process).

    Args:
        client: An asyncio Redis client.
        prefix: Put before every lease name.
        holder: This process's name and incarnation, read at each use (None, or "", for bare
            owners, never taken over).
        alive: The heartbeat key prefix ("" to wait out every holder).
    """

    def __init__(
        self,
        client: RedisClient,
        *,
        prefix: str = "",
        holder: Callable[[], str] | None = None,
        alive: str = "",
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._holder = holder
        self._alive = alive
        self._scripts = LeaseScripts(client)

    def __repr__(self) -> str:
        return f"RedisLeases(prefix={self._prefix!r})"

    def _owner(self, owner: str) -> str:
        holder = self._holder() if self._holder is not None else ""
        return f"{holder}/{owner}" if holder else owner

    async def acquire(self, name: str, owner: str, ttl: float) -> bool:
        with store_errors(self._client, f"taking lease {name!r}"):
            return await self._scripts.acquire(
                lease=self._prefix + name,
                owner=self._owner(owner),
                ms=max(1, int(ttl * 1000)),
                alive=self._alive,
            )

    async def release(self, name: str, owner: str) -> None:
        with store_errors(self._client, f"releasing lease {name!r}"):
            await self._scripts.release(lease=self._prefix + name, owner=self._owner(owner))
