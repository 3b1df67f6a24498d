"""Containers wired like production over one shared Redis (real or fakeredis) and one shared
Zoho Desk emulator, so that several "instances" of the service can be run in one test."""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import anyio
import fakeredis
import redis.asyncio as aioredis
from dependency_injector import providers

from ticketing.application.tickets import ProcessingPolicy
from ticketing.container import Container, Services, redis_of, start, stop
from ticketing.domain.ports import Clock, TicketStore
from ticketing.entrypoints.consumer import InboundConsumer
from zoho_desk_emulator import EmulatorState

from tests.support.containers import container_with, store_of
from tests.support.events import EVENT_FIELDS

CONTRACT_EVENT_KEYS = set(EVENT_FIELDS)


def _prefixed(name: str) -> property:
    """A read-only attribute: ``name`` under the backend's key prefix."""
    return property(lambda backend: f"{backend.prefix}{name}")


@dataclass
class RedisBackend:
    """Where the test's Redis is: a real server (``url``) or a fakeredis server, and the key
    prefix that isolates this test's keys."""

    kind: str  # "redis" | "fakeredis"
    url: str
    prefix: str
    server: fakeredis.FakeServer | None = None

    def client(self) -> aioredis.Redis:
        """A fresh client for the test's own reads and writes."""
        if self.server is not None:
            return fakeredis.FakeAsyncRedis(server=self.server)
        return aioredis.Redis.from_url(self.url)

    @contextlib.asynccontextmanager
    async def connected(self) -> AsyncIterator[aioredis.Redis]:
        """A fresh client (as ``client()``), closed after the block."""
        client = self.client()
        try:
            yield client
        finally:
            await client.aclose()

    # The default stream names, under this test's prefix.
    inbound = _prefixed("tickets:classify:result")
    pending = _prefixed("tickets:pending")
    dead = _prefixed("tickets:dead")
    created = _prefixed("tickets:created")

    def env(self, **extra: str) -> dict[str, str]:
        """Settings as production reads them, every name under this test's prefix."""
        return {
            "REDIS_URL": self.url,
            "REDIS_KEY_PREFIX": self.prefix,
            "INBOUND_STREAM": self.inbound,
            "TICKET_QUEUE_NAME": self.pending,
            "TICKET_DEAD_LETTER_NAME": self.dead,
            "TICKET_CREATED_NAME": self.created,
            **extra,
        }


async def _fake_redis(server: fakeredis.FakeServer) -> AsyncIterator[aioredis.Redis]:
    client = fakeredis.FakeAsyncRedis(server=server)
    try:
        yield client
    finally:
        await client.aclose()


def wire(
    env: dict[str, str],
    *,
    backend: RedisBackend | None = None,
    emulator: EmulatorState | None = None,
    clock: Clock | None = None,
    policy: ProcessingPolicy | None = None,
) -> Container:
    """A production container with these settings; fakeredis, a shared emulator, a clock and
    a processing policy swapped in where given."""
    resources: dict[str, providers.Provider[Any]] = {}
    if backend is not None and backend.server is not None:
        resources["redis"] = providers.Resource(_fake_redis, backend.server)
    return container_with(
        env, resources=resources, emulator_state=emulator, clock=clock, processing=policy
    )


class Instance(NamedTuple):
    """A started instance: what its entrypoints get, its inbound consumer, and its raw store
    (for the test's assertions: the services never carry it)."""

    services: Services
    consumer: InboundConsumer
    store: TicketStore


@contextlib.asynccontextmanager
async def running(container: Container) -> AsyncIterator[Services]:
    """The container's services, started and always stopped."""
    try:
        yield await start(container)
    finally:
        with anyio.CancelScope(shield=True):
            await stop(container)


@contextlib.asynccontextmanager
async def instance(
    backend: RedisBackend,
    emulator: EmulatorState,
    *,
    name: str | None = None,
    policy: ProcessingPolicy | None = None,
    **env: str,
) -> AsyncIterator[Instance]:
    """One instance of the service (its own container and consumer) on the shared Redis and
    emulator."""
    container = wire(backend.env(**env), backend=backend, emulator=emulator, policy=policy)
    name = name or f"instance-{uuid.uuid4().hex[:6]}"
    async with with_consumer(container, name, reclaim_idle_ms=60_000) as running_instance:
        yield running_instance


@contextlib.asynccontextmanager
async def with_consumer(
    container: Container, name: str, *, block_ms: int = 50, **options: Any
) -> AsyncIterator[Instance]:
    """The container's services, started, an inbound consumer ``name`` on its Redis with its
    group in place, and the container's store."""
    async with running(container) as services:
        redis = await redis_of(container)
        assert redis is not None
        consumer = InboundConsumer(redis, services, consumer=name, block_ms=block_ms, **options)
        await consumer.ensure_group()
        yield Instance(services, consumer, await store_of(container))


def incident(incident_id: str, **overrides: Any) -> dict[str, Any]:
    """A classified incident in the contract's shape."""
    body: dict[str, Any] = {
        "incident_id": incident_id,
        "customer": {"name": "Ana López", "email": "ana@example.com"},
        "subject": "Pago no reflejado",
        "description": "Hola, pagué ayer mi reserva y no me llega la confirmación",
        "category": "billing",
        "priority": "alta",
        "confidence": 0.91,
        "channel": "WhatsApp",
        "received_at": "2026-11-26T10:00:00Z",
    }
    body.update(overrides)
    return body


def dumps(body: dict[str, Any]) -> str:
    return json.dumps(body, ensure_ascii=False)


async def wait_for(
    check: Callable[[], Awaitable[bool]], *, within: float = 10.0, what: str = "condition"
) -> None:
    """Poll ``check`` until it is true; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await anyio.sleep(0.02)


async def pel_size(client: aioredis.Redis, stream: str, group: str) -> int:
    """Entries of ``stream`` delivered to ``group`` and not acknowledged."""
    summary = await client.xpending(stream, group)
    return int(summary["pending"])
