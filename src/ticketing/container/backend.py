"""The backend: Redis or in-process adapters for the store, leases, contact cache and call
gate, decided once (:func:`build_backend`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from functools import cached_property
from typing import Literal, Protocol

from redis.exceptions import RedisError

from ticketing.adapters.memory import (
    InMemoryContactCache,
    InMemoryLeases,
    InMemoryTicketStore,
)
from ticketing.adapters.memory_gate import InMemoryCallGate
from ticketing.adapters.redis.budget import RedisRefreshBudget
from ticketing.adapters.redis.cache import RedisContactCache
from ticketing.adapters.redis.connection import RedisClient, connect, prepare
from ticketing.adapters.redis.facts import RedisServerFacts
from ticketing.adapters.redis.gate import RedisCallGate
from ticketing.adapters.redis.layout import KeyLayout
from ticketing.adapters.redis.leases import RedisLeases
from ticketing.adapters.redis.liveness import ALIVE_PREFIX, Heartbeat
from ticketing.adapters.redis.replication import ReplicaWait
from ticketing.adapters.redis.store import (
    ATTACHMENTS_STREAM,
    LEASE_PREFIX,
    LEDGER_PREFIX,
    OUTBOX_STREAM,
    OWNER_PREFIX,
    REPLAYED_PREFIX,
    RedisTicketStore,
)
from ticketing.adapters.redis.tokens import RedisTokenStore
from ticketing.adapters.tiered_cache import TwoTierContactCache
from ticketing.domain.errors import ConfigurationError
from ticketing.domain.ports import (
    CallGate,
    Clock,
    ContactCache,
    Leases,
    RedisFacts,
    RefreshBudget,
    TicketStore,
    TokenStore,
)
from ticketing.domain.timeouts import Timeouts
from ticketing.settings import Settings

# Said by whoever finds the tokens must be shared in Redis without one.
TOKENS_NEED_REDIS = "ZOHO_TOKEN_STORE=redis needs REDIS_URL; set it, or ZOHO_TOKEN_STORE=file"
# Contact ids a process keeps in memory in front of Redis (about 200 bytes each).
LOCAL_CONTACTS = 50_000


async def open_redis_client(settings: Settings) -> AsyncIterator[RedisClient | None]:
    """The Redis client when REDIS_URL is set; None means in-process stores."""
    if not settings.redis_url:
        yield None
        return
    client = connect(
        settings.redis_url, mode=settings.redis_mode, sentinel_master=settings.redis_sentinel_master
    )
    await prepare(client)
    try:
        yield client
    finally:
        await client.aclose()


def key_layout(settings: Settings) -> KeyLayout:
    """Where this deployment's keys live (the one place that decides it): in cluster mode, the
    service's own keys in the pending stream's hash slot; elsewhere, the names as they were."""
    return KeyLayout.for_mode(settings.redis_mode, settings.ticket_queue_name)


def own_prefix(settings: Settings) -> str:
    """What the service's own keys start with: REDIS_KEY_PREFIX, behind the cluster's hash
    tag in cluster mode (:func:`key_layout`)."""
    return key_layout(settings).own(settings.redis_key_prefix)


def build_heartbeat(
    settings: Settings, redis: RedisClient | None, timeouts: Timeouts
) -> Heartbeat | None:
    """This process's heartbeat with Redis (None without); its name is claimed when the
    container opens (:func:`open_heartbeat`)."""
    if redis is None:
        return None
    return Heartbeat(
        redis,
        prefix=own_prefix(settings),
        ttl=timeouts.heartbeat_ttl,
        every=timeouts.heartbeat_every,
    )


async def open_heartbeat(
    heartbeat: Heartbeat | None, settings: Settings
) -> AsyncIterator[Heartbeat | None]:
    """Claim this process's name (CONSUMER_NAME or ``<host>-<slot>``) and renew its heartbeat
    in the background while the container is open; delete it when it closes, so the fleet
    takes over what this process leaves at once. Every process that reads the groups (serve,
    worker, a CLI run) opens it: a consumer without a heartbeat is taken for dead."""
    if heartbeat is None:
        yield None
        return
    await heartbeat.claim(settings.consumer_name)
    renewing = asyncio.create_task(heartbeat.run(), name=f"heartbeat {heartbeat.name}")
    try:
        yield heartbeat
    finally:
        renewing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewing
        with contextlib.suppress(RedisError, OSError):
            await heartbeat.end()


def build_redis_facts(
    settings: Settings, redis: RedisClient | None, heartbeat: Heartbeat | None
) -> RedisFacts | None:
    """What the doctor reads of the Redis server and the fleet (leaving out the doctor's own
    heartbeat); None without Redis."""
    if redis is None:
        return None
    return RedisServerFacts(
        redis,
        prefix=own_prefix(settings),
        own=heartbeat,
        wait_replicas=settings.redis_wait_replicas,
    )


class Backend(Protocol):
    """The adapters that either live in this process or are shared through Redis, chosen
    once (:func:`build_backend`). Each is built on first use and kept."""

    # Where tickets are kept, as ``/health`` and ``/ready`` name it.
    kind: Literal["redis", "memory"]

    @property
    def store(self) -> TicketStore: ...

    @property
    def leases(self) -> Leases: ...

    @property
    def contact_cache(self) -> ContactCache: ...

    @property
    def call_gate(self) -> CallGate: ...

    def shared_tokens(self, imported_from: TokenStore) -> TokenStore:
        """A token store the fleet shares, importing ``imported_from`` once."""
        ...

    def shared_refresh_budget(self) -> RefreshBudget:
        """A refresh budget the fleet shares."""
        ...


class InProcessBackend:
    """Everything in this process: nothing survives a restart, nothing is shared."""

    kind: Literal["redis", "memory"] = "memory"

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self._settings = settings
        self._clock = clock

    @cached_property
    def store(self) -> TicketStore:
        # The start-up log says nothing survives a restart.
        settings = self._settings
        return InMemoryTicketStore(
            self._clock,
            retention=settings.ledger_retention,
            dead_maxlen=settings.dead_letter_maxlen,
        )

    @cached_property
    def leases(self) -> Leases:
        return InMemoryLeases(self._clock)

    @cached_property
    def contact_cache(self) -> ContactCache:
        return InMemoryContactCache(self._clock, ttl=self._settings.contact_cache_ttl)

    @cached_property
    def call_gate(self) -> CallGate:
        """ZOHO_MAX_CONCURRENCY calls in flight in this process."""
        return InMemoryCallGate(self._clock, self._settings.zoho_max_concurrency)

    def shared_tokens(self, imported_from: TokenStore) -> TokenStore:
        raise ConfigurationError(TOKENS_NEED_REDIS)

    def shared_refresh_budget(self) -> RefreshBudget:
        raise ConfigurationError(TOKENS_NEED_REDIS)


class RedisBackend:
    """Everything shared by the fleet through one Redis, under REDIS_KEY_PREFIX (in a cluster,
    every key of the service's own in the pending stream's hash slot: :func:`key_layout`)."""

    kind: Literal["redis", "memory"] = "redis"

    def __init__(
        self,
        settings: Settings,
        redis: RedisClient,
        clock: Clock,
        heartbeat: Heartbeat | None = None,
    ) -> None:
        self._settings = settings
        self._redis = redis
        self._clock = clock
        self._layout = key_layout(settings)
        self._prefix = self._layout.own(settings.redis_key_prefix)
        self._heartbeat = heartbeat

    @cached_property
    def store(self) -> TicketStore:
        settings = self._settings
        return RedisTicketStore(
            self._redis,
            self._clock,
            # Untagged: the store puts its keys where the layout says.
            ledger_prefix=settings.redis_key_prefix + LEDGER_PREFIX,
            lease_prefix=settings.redis_key_prefix + LEASE_PREFIX,
            owner_prefix=settings.redis_key_prefix + OWNER_PREFIX,
            alive_prefix=settings.redis_key_prefix + ALIVE_PREFIX,
            outbox=settings.redis_key_prefix + OUTBOX_STREAM,
            # The attachments worker reads its jobs under the prefix too (RedisAttachmentWork).
            attachments=settings.redis_key_prefix + ATTACHMENTS_STREAM,
            replayed_prefix=settings.redis_key_prefix + REPLAYED_PREFIX,
            pending=settings.ticket_queue_name,
            dead=settings.dead_letter_stream,
            created=settings.created_stream,
            retention=settings.ledger_retention,
            dead_maxlen=settings.dead_letter_maxlen,
            layout=self._layout,
            replicas=ReplicaWait(
                self._redis,
                anchor=settings.ticket_queue_name,
                replicas=settings.redis_wait_replicas,
                timeout=settings.redis_wait_timeout,
            )
            if settings.redis_wait_replicas
            else None,
        )

    @cached_property
    def leases(self) -> Leases:
        if self._heartbeat is None:
            return RedisLeases(self._redis, prefix=self._prefix)
        heartbeat = self._heartbeat
        return RedisLeases(
            self._redis,
            prefix=self._prefix,
            # Read at each use: the name is claimed when the container opens.
            holder=lambda: heartbeat.holder,
            alive=self._prefix + ALIVE_PREFIX,
        )

    @cached_property
    def contact_cache(self) -> ContactCache:
        """Redis, with a short-lived copy in this process in front of it (unless
        CONTACT_CACHE_LOCAL_TTL is 0)."""
        settings = self._settings
        shared = RedisContactCache(self._redis, ttl=settings.contact_cache_ttl, prefix=self._prefix)
        local_ttl = min(settings.contact_cache_local_ttl, settings.contact_cache_ttl)
        if local_ttl <= 0:
            return shared
        near = InMemoryContactCache(self._clock, ttl=local_ttl, max_entries=LOCAL_CONTACTS)
        return TwoTierContactCache(near, shared)

    @cached_property
    def call_gate(self) -> CallGate:
        """ZOHO_MAX_CONCURRENCY calls in flight across the fleet."""
        timeouts = Timeouts.from_attempt(self._settings.attempt_timeout)
        return RedisCallGate(
            self._redis,
            self._clock,
            capacity=self._settings.zoho_max_concurrency,
            prefix=self._prefix,
            holder_ttl=timeouts.gate_holder_ttl,
            hold_for=timeouts.gate_hold_for,
            # Its slots are freed as soon as its heartbeat is gone (built after the name is
            # claimed; before, an id of its own, whose slots only expire).
            process=self._heartbeat.holder if self._heartbeat is not None else "",
            alive=self._prefix + ALIVE_PREFIX,
        )

    def shared_tokens(self, imported_from: TokenStore) -> TokenStore:
        return RedisTokenStore(self._redis, prefix=self._prefix, import_from=imported_from)

    def shared_refresh_budget(self) -> RefreshBudget:
        return RedisRefreshBudget(
            self._redis,
            self._clock,
            limit=self._settings.zoho_refresh_budget,
            prefix=self._prefix,
        )


def build_backend(
    settings: Settings,
    redis: RedisClient | None,
    clock: Clock,
    heartbeat: Heartbeat | None = None,
) -> Backend:
    """The one place that decides between Redis and in-process adapters (with Redis, this
    process's ``heartbeat`` names the holder of its leases)."""
    if redis is None:
        return InProcessBackend(settings, clock)
    return RedisBackend(settings, redis, clock, heartbeat)


def store_kind(backend: Backend) -> Literal["redis", "memory"]:
    """Where tickets are kept, as ``/health`` and ``/ready`` name it: the backend's choice."""
    return backend.kind


def _store(backend: Backend) -> TicketStore:
    return backend.store


def _leases(backend: Backend) -> Leases:
    return backend.leases


def _contact_cache(backend: Backend) -> ContactCache:
    return backend.contact_cache


def _call_gate(backend: Backend) -> CallGate:
    return backend.call_gate


def build_contact_cache(
    settings: Settings, redis: RedisClient | None, clock: Clock
) -> ContactCache:
    """The contact cache the backend for ``redis`` provides."""
    return build_backend(settings, redis, clock).contact_cache
