"""The contact cache on Redis: one expiring string key per customer identity."""

from __future__ import annotations

from typing import Final

from ticketing.adapters.redis.connection import RedisClient, store_errors

CONTACT_PREFIX: Final = "ticketing:contact:"
CONTACT_TTL: Final = 7 * 24 * 3600.0


class RedisContactCache:
    """The ``ContactCache`` port on Redis: ``<prefix>ticketing:contact:<identity>`` → id.

    Args:
        client: An asyncio Redis client.
        ttl: Seconds an entry lives (a contact merged or deleted in the helpdesk is looked up
            again after at most this long).
        prefix: Put before every key.
    """

    def __init__(self, client: RedisClient, *, ttl: float = CONTACT_TTL, prefix: str = "") -> None:
        self._client = client
        self._ttl_ms = max(1, int(ttl * 1000))  # PX rather than EX: tests use sub-second TTLs
        self._prefix = prefix + CONTACT_PREFIX

    def __repr__(self) -> str:
        return f"RedisContactCache(prefix={self._prefix!r}, ttl={self._ttl_ms / 1000}s)"

    async def get(self, identity: str) -> str | None:
        with store_errors(self._client, "reading the contact cache"):
            value = await self._client.get(self._prefix + identity)
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)

    async def put(self, identity: str, contact_id: str) -> None:
        with store_errors(self._client, "writing the contact cache"):
            await self._client.set(self._prefix + identity, contact_id, px=self._ttl_ms)

    async def forget(self, identity: str) -> None:
        with store_errors(self._client, "writing the contact cache"):
            await self._client.delete(self._prefix + identity)
