"""Pub/sub subscribers on any client: one server, or a cluster (whose classic pub/sub reaches
every node, so a subscriber on any node hears what is published on any other)."""

from __future__ import annotations

from typing import Any

from redis.asyncio.client import PubSub
from redis.asyncio.cluster import RedisCluster

from ticketing.adapters.redis.connection import RedisClient


async def open_pubsub(client: RedisClient, **options: Any) -> PubSub:
    """A pub/sub object for ``client`` (``options`` as for ``client.pubsub``).

    A cluster's pub/sub picks its node from the slot map of the client, which redis-py
    (8.x) fills only on the first ordinary command: a SUBSCRIBE sent first fails with a
    KeyError. The map is loaded here first (a round trip, once per client; it raises the
    usual connection errors when the cluster is unreachable)."""
    if isinstance(client, RedisCluster):
        await client.initialize()
    pubsub: PubSub = client.pubsub(**options)
    return pubsub
