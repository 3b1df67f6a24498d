"""Contract fixtures: the key namespace of a test on the Redis Cluster (the cluster itself is
the session's, see tests/conftest.py)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import cast

import pytest
import redis.asyncio as aioredis

from ticketing.adapters.redis.connection import prepare

from tests.support.redis_cluster import LocalCluster, cluster_client


@pytest.fixture
def key_prefix(request: pytest.FixtureRequest) -> str:
    """A unique key namespace per test. On the cluster (a ``cluster`` parameter) it is a hash
    tag, ``{t…}:``, so that every key the test names lands in one slot, as the service's own
    keys do in production (``KeyLayout``); a module that builds its stores with the cluster's
    ``KeyLayout`` itself (``CLUSTER_LAYOUT = True``) gets a plain one, and so streams in
    slots of their own, as the contract's streams are."""
    name = f"t{uuid.uuid4().hex[:10]}"
    callspec = getattr(request.node, "callspec", None)
    on_cluster = callspec is not None and "cluster" in callspec.params.values()
    if on_cluster and not getattr(request.module, "CLUSTER_LAYOUT", False):
        return "{" + name + "}:"
    return name + ":"


@pytest.fixture
async def cluster_redis(redis_cluster: LocalCluster) -> AsyncIterator[aioredis.Redis]:
    """A client on the session's Redis Cluster (emptied before the test), closed after it;
    typed as the plain client the contract tests speak to (a cluster speaks the same
    commands)."""
    client = cluster_client(redis_cluster)
    await prepare(client)  # as the service does before its concurrent work
    try:
        yield cast(aioredis.Redis, client)
    finally:
        await client.aclose()
