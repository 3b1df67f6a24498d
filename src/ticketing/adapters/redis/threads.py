"""The index of customers' and conversations' threads on Redis (THREAD_WINDOW): one string
per name (``ticketing:thread:phone:+52…``, ``ticketing:thread:conversation:<id>``) holding
the idempotency key of the request that opened the thread, expiring with the window."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from ticketing.adapters.redis.connection import RedisClient, store_errors
from ticketing.adapters.redis.layout import KeyLayout
from ticketing.adapters.redis.scripts import register
from ticketing.adapters.redis.streams import text

THREAD_PREFIX: Final = "ticketing:thread:"


class RedisThreadIndex:
    """The ``ThreadIndex`` port on Redis: a claim is one script (``lua/thread_claim.lua``)
    over every name of the customer, so two processes racing on one customer's messages
    agree on which of them opens the thread. In a cluster the names are the service's own
    keys (the pending stream's slot), so the script may touch several."""

    def __init__(
        self, client: RedisClient, *, prefix: str = "", layout: KeyLayout | None = None
    ) -> None:
        self._client = client
        self._prefix = (layout or KeyLayout()).own(prefix + THREAD_PREFIX)
        self._claim = register(client, "thread_claim")

    def __repr__(self) -> str:
        return f"RedisThreadIndex(prefix={self._prefix!r})"

    async def claim(
        self, names: Sequence[str], key: str, ttl: float, *, replacing: str | None = None
    ) -> str:
        keys = [self._prefix + name for name in names]
        with store_errors(self._client, f"claiming the thread of {key!r}"):
            holder = await self._claim(
                keys=keys, args=[key, max(1, int(ttl * 1000)), replacing or ""]
            )
        return text(holder)
