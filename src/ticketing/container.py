"""The composition root: which adapter backs which port, decided once from the settings."""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from typing import Any, cast

import httpx
import redis.asyncio as aioredis
from dependency_injector import containers, providers

from ticketing.adapters.clock import SystemClock
from ticketing.adapters.prometheus import PrometheusMetrics
from ticketing.application.auth import (
    AuthStatus,
    ResumeRefreshes,
    SetupAuthorization,
    Whoami,
    ZohoConfig,
)
from ticketing.application.contacts import ContactResolver
from ticketing.application.doctor import Doctor
from ticketing.application.guard import GuardedHelpdesk
from ticketing.application.intake import IntakePolicy
from ticketing.application.operations import QueueStatus, ReplayDeadLetters
from ticketing.application.queries import (
    AuthorizationUrl,
    CheckHealth,
    ListDepartments,
)
from ticketing.application.tickets import (
    DrainQueue,
    ProcessingPolicy,
    SubmitTicket,
    TicketProcessor,
)
from ticketing.domain.breaker import CircuitBreaker
from ticketing.domain.model import Priority
from ticketing.domain.ports import (
    Browser,
    CallbackServer,
    CallGate,
    Clock,
    ContactCache,
    Leases,
    QuotaMeter,
    RefreshBudget,
    TicketStore,
    TokenStore,
)
from ticketing.settings import Settings

log = logging.getLogger(__name__)

SANDBOX_BASE_URL = "http://zoho-emulator.invalid"
# The lease held around every token refresh when Redis is the token store.
REFRESH_LOCK = "ticketing:oauth:refresh-lock"
# Contact ids a process keeps in memory in front of Redis (about 200 bytes each).
LOCAL_CONTACTS = 50_000


@dataclass(frozen=True)
class ZohoEndpoints:
    """Where Zoho is and who we are to it (the sandbox's built-in client in sandbox mode)."""

    accounts_url: str
    desk_url: str
    client_id: str
    client_secret: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    sandbox: bool


def build_zoho_endpoints(settings: Settings) -> ZohoEndpoints:
    from ticketing.adapters.zoho_desk.hosts import resolve_hosts

    if settings.sandbox:
        from ticketing.adapters.zoho_desk.emulator import (
            SANDBOX_CLIENT_ID,
            SANDBOX_CLIENT_SECRET,
            SANDBOX_REFRESH_TOKEN,
        )

        return ZohoEndpoints(
            accounts_url=settings.zoho_accounts_url or SANDBOX_BASE_URL,
            desk_url=settings.zoho_desk_url or SANDBOX_BASE_URL,
            client_id=SANDBOX_CLIENT_ID,
            client_secret=SANDBOX_CLIENT_SECRET,
            refresh_token=settings.zoho_refresh_token or SANDBOX_REFRESH_TOKEN,
            sandbox=True,
        )
    accounts, desk = resolve_hosts(
        settings.zoho_dc, settings.zoho_accounts_url, settings.zoho_desk_url
    )
    assert settings.zoho_client_id
    assert settings.zoho_client_secret
    return ZohoEndpoints(
        accounts_url=accounts,
        desk_url=desk,
        client_id=settings.zoho_client_id,
        client_secret=settings.zoho_client_secret,
        refresh_token=settings.zoho_refresh_token,
        sandbox=False,
    )


def build_emulator_state(endpoints: ZohoEndpoints) -> Any:
    """The in-process Zoho Desk emulator's state, when sandbox mode talks to it (not to a
    standalone one); None otherwise."""
    if not endpoints.sandbox or endpoints.desk_url != SANDBOX_BASE_URL:
        return None
    from ticketing.adapters.zoho_desk.emulator import EmulatorState

    return EmulatorState()


def build_emulator_app(state: Any) -> Any:
    if state is None:
        return None
    from ticketing.adapters.zoho_desk.emulator import create_emulator_app

    return create_emulator_app(state)


async def open_http_client(
    settings: Settings, app: Any, metrics: PrometheusMetrics | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """One pooled HTTP client per process, closed at shutdown; every request is metered."""
    from ticketing.adapters.zoho_desk.client import build_http_client

    transport = httpx.ASGITransport(app=app) if app is not None else None
    client = build_http_client(
        timeout=settings.zoho_timeout,
        transport=transport,
        max_connections=max(20, settings.zoho_max_concurrency * 2),
        instrument=metrics.instrument if metrics is not None else None,
    )
    try:
        yield client
    finally:
        await client.aclose()


async def open_redis_client(settings: Settings) -> AsyncIterator[aioredis.Redis | None]:
    """The Redis client when REDIS_URL is set; None means in-process stores."""
    if not settings.redis_url:
        yield None
        return
    from ticketing.adapters.redis.connection import connect

    client = connect(settings.redis_url)
    try:
        yield client
    finally:
        await client.aclose()


def build_ticket_store(
    settings: Settings, redis: aioredis.Redis | None, clock: Clock
) -> TicketStore:
    if redis is None:
        from ticketing.adapters.memory import InMemoryTicketStore

        # The start-up log says nothing survives a restart.
        return InMemoryTicketStore(
            clock, retention=settings.ledger_retention, dead_maxlen=settings.dead_letter_maxlen
        )
    from ticketing.adapters.redis.store import (
        LEASE_PREFIX,
        LEDGER_PREFIX,
        OWNER_PREFIX,
        RedisTicketStore,
    )

    return RedisTicketStore(
        redis,
        clock,
        ledger_prefix=settings.redis_key_prefix + LEDGER_PREFIX,
        lease_prefix=settings.redis_key_prefix + LEASE_PREFIX,
        owner_prefix=settings.redis_key_prefix + OWNER_PREFIX,
        pending=settings.ticket_queue_name,
        dead=settings.dead_letter_stream,
        created=settings.created_stream,
        retention=settings.ledger_retention,
        dead_maxlen=settings.dead_letter_maxlen,
    )


def build_leases(settings: Settings, redis: aioredis.Redis | None, clock: Clock) -> Leases:
    if redis is None:
        from ticketing.adapters.memory import InMemoryLeases

        return InMemoryLeases(clock)
    from ticketing.adapters.redis.leases import RedisLeases

    return RedisLeases(redis, prefix=settings.redis_key_prefix)


def build_contact_cache(
    settings: Settings, redis: aioredis.Redis | None, clock: Clock
) -> ContactCache:
    if redis is None:
        from ticketing.adapters.memory import InMemoryContactCache

        return InMemoryContactCache(clock, ttl=settings.contact_cache_ttl)
    from ticketing.adapters.redis.cache import RedisContactCache

    shared = RedisContactCache(
        redis, ttl=settings.contact_cache_ttl, prefix=settings.redis_key_prefix
    )
    local_ttl = min(settings.contact_cache_local_ttl, settings.contact_cache_ttl)
    if local_ttl <= 0:
        return shared
    from ticketing.adapters.memory import InMemoryContactCache
    from ticketing.adapters.tiered_cache import TwoTierContactCache

    near = InMemoryContactCache(clock, ttl=local_ttl, max_entries=LOCAL_CONTACTS)
    return TwoTierContactCache(near, shared)


def build_call_gate(settings: Settings, redis: aioredis.Redis | None, clock: Clock) -> CallGate:
    """ZOHO_MAX_CONCURRENCY calls in flight: fleet-wide through Redis, else in this process."""
    if redis is None:
        from ticketing.adapters.memory_gate import InMemoryCallGate

        return InMemoryCallGate(clock, settings.zoho_max_concurrency)
    from ticketing.adapters.redis.gate import RedisCallGate

    hold_for = 5.0
    return RedisCallGate(
        redis,
        clock,
        capacity=settings.zoho_max_concurrency,
        prefix=settings.redis_key_prefix,
        # A crashed holder's slot comes back after this; a live call never lasts longer
        # than one attempt (the attempt is cut off then).
        holder_ttl=settings.attempt_timeout + hold_for + 5.0,
        hold_for=hold_for,
    )


def token_store_kind(settings: Settings, endpoints: ZohoEndpoints) -> str:
    """memory (sandbox), or ZOHO_TOKEN_STORE: file | redis (auto: redis when REDIS_URL is set)."""
    if endpoints.sandbox:
        return "memory"
    kind = settings.zoho_token_store
    if kind == "auto":
        kind = "redis" if settings.redis_url else "file"
    if kind == "redis" and not settings.redis_url:
        from ticketing.domain.errors import ConfigurationError

        raise ConfigurationError(
            "ZOHO_TOKEN_STORE=redis needs REDIS_URL; set it, or ZOHO_TOKEN_STORE=file"
        )
    return kind


def build_token_store(
    settings: Settings, endpoints: ZohoEndpoints, redis: aioredis.Redis | None
) -> TokenStore:
    """The token store: shared in Redis for a fleet (importing a token file once), a file for
    one host, memory in sandbox mode."""
    kind = token_store_kind(settings, endpoints)
    if kind == "memory":
        from ticketing.adapters.memory import InMemoryTokenStore

        return InMemoryTokenStore()
    from ticketing.adapters.token_file import FileTokenStore

    file_store = FileTokenStore(settings.zoho_token_file)
    if kind == "file":
        if file_store.is_readable_by_others():
            log.warning(
                "ZOHO_TOKEN_FILE %s is readable by other users: run `chmod 600 %s` "
                "(ENVIRONMENT=production refuses to start like this)",
                file_store.path,
                file_store.path,
            )
        return file_store
    from ticketing.adapters.redis.tokens import RedisTokenStore

    assert redis is not None
    return RedisTokenStore(redis, prefix=settings.redis_key_prefix, import_from=file_store)


def build_refresh_budget(
    settings: Settings, endpoints: ZohoEndpoints, redis: aioredis.Redis | None, clock: Clock
) -> RefreshBudget:
    """ZOHO_REFRESH_BUDGET refreshes per refresh token per 10 minutes: counted in Redis when
    the tokens are shared there, else in this process."""
    if token_store_kind(settings, endpoints) == "redis":
        from ticketing.adapters.redis.budget import RedisRefreshBudget

        assert redis is not None
        return RedisRefreshBudget(
            redis, clock, limit=settings.zoho_refresh_budget, prefix=settings.redis_key_prefix
        )
    from ticketing.adapters.memory import InMemoryRefreshBudget

    return InMemoryRefreshBudget(clock, limit=settings.zoho_refresh_budget)


def build_oauth(
    settings: Settings, endpoints: ZohoEndpoints, http: httpx.AsyncClient, clock: Clock
) -> Any:
    from ticketing.adapters.zoho_desk.oauth import ZohoOAuth

    return ZohoOAuth(
        http,
        accounts_url=endpoints.accounts_url,
        client_id=endpoints.client_id,
        client_secret=endpoints.client_secret,
        redirect_uri=settings.zoho_redirect_uri,
        scope=settings.zoho_scope,
        clock=clock,
    )


def build_token_manager(
    settings: Settings,
    endpoints: ZohoEndpoints,
    oauth: Any,
    store: TokenStore,
    clock: Clock,
    leases: Leases,
    budget: RefreshBudget,
) -> Any:
    from ticketing.adapters.redis.tokens import RedisTokenStore
    from ticketing.adapters.token_file import FileTokenStore
    from ticketing.adapters.zoho_desk.oauth import FleetLock, TokenManager

    fleet_lock: FleetLock | None = None
    if isinstance(store, RedisTokenStore):
        from ticketing.adapters.lease_lock import LeaseLock

        # One refresh at a time across the fleet; the lease outlives the slowest refresh.
        fleet_lock = LeaseLock(
            leases,
            REFRESH_LOCK,
            ttl=settings.zoho_timeout + 15,
            what="the Zoho token refresh lock",
        )
    elif isinstance(store, FileTokenStore):
        fleet_lock = store.lock
    return TokenManager(
        oauth,
        store,
        clock,
        refresh_token=endpoints.refresh_token,
        authorization_code=settings.zoho_authorization_code,
        fleet_lock=fleet_lock,
        budget=budget,
    )


def sent_picklist_values(settings: Settings) -> list[tuple[str, str, str]]:
    """The picklist values the service sends, with where each comes from (for the doctor)."""
    return [
        ("channel", settings.default_channel, "DEFAULT_CHANNEL, for HTTP tickets"),
        ("channel", "WhatsApp", "incidents without a channel"),
        *(("priority", p.value, "the priority map") for p in Priority),
    ]


def build_zoho_config(settings: Settings, endpoints: ZohoEndpoints) -> ZohoConfig:
    """The settings' view of Zoho for the admin use cases (no secrets)."""
    from ticketing.settings import redact_url_password, token_file_exposed

    kind = token_store_kind(settings, endpoints)
    return ZohoConfig(
        mode=_mode(endpoints),
        environment=settings.environment,
        data_centre=settings.zoho_dc,
        accounts_url=endpoints.accounts_url,
        desk_url=endpoints.desk_url,
        explicit_urls=bool(settings.zoho_accounts_url or settings.zoho_desk_url),
        redirect_uri=settings.zoho_redirect_uri,
        scope=settings.zoho_scope,
        client_id=endpoints.client_id,
        org_id=settings.zoho_org_id,
        department_id=settings.zoho_department_id,
        redis=redact_url_password(settings.redis_url) if settings.redis_url else None,
        token_store=kind,
        token_file_exposed=kind == "file" and token_file_exposed(settings.zoho_token_file),
        refresh_token_in_env=bool(settings.zoho_refresh_token) and not endpoints.sandbox,
    )


def build_browser() -> Browser:
    from ticketing.adapters.browser import SystemBrowser

    return SystemBrowser()


def build_callback_server(settings: Settings) -> CallbackServer:
    from ticketing.adapters.oauth_callback import LoopbackCallbackServer

    return LoopbackCallbackServer(settings.zoho_redirect_uri)


@dataclass(frozen=True)
class AdminServices:
    """The admin commands' use cases (the CLI asks for these besides :class:`Services`)."""

    config: ZohoConfig
    whoami: Whoami
    auth_status: AuthStatus
    resume_refreshes: ResumeRefreshes
    setup_auth: SetupAuthorization
    doctor: Doctor


def build_zoho_client(
    settings: Settings, endpoints: ZohoEndpoints, http: httpx.AsyncClient, tokens: Any, clock: Clock
) -> Any:
    from ticketing.adapters.zoho_desk.client import ZohoDeskClient

    return ZohoDeskClient(
        http,
        tokens,
        clock,
        desk_url=endpoints.desk_url,
        org_id=settings.zoho_org_id,
        department_id=settings.zoho_department_id,
        idempotency_field=settings.zoho_idempotency_field,
    )


@dataclass(frozen=True)
class Services:
    """Everything an entrypoint needs, built once per process."""

    settings: Settings
    clock: Clock
    policy: IntakePolicy
    store: TicketStore
    helpdesk: GuardedHelpdesk
    submit: SubmitTicket
    processor: TicketProcessor
    drain: DrainQueue
    health: CheckHealth
    departments: ListDepartments
    auth_url: AuthorizationUrl
    queue_status: QueueStatus
    replay: ReplayDeadLetters
    mode: str
    metrics: PrometheusMetrics | None = None


def watch_metrics(
    metrics: PrometheusMetrics,
    store: TicketStore,
    helpdesk: GuardedHelpdesk,
    tokens: Any,
    quota: QuotaMeter,
) -> PrometheusMetrics:
    """Point the scrape-time gauges at this process's store, breaker, token manager and the
    helpdesk client's last view of Zoho's credits."""
    metrics.watch(
        store=store,
        breaker_state=lambda: helpdesk.breaker_state,
        token_refreshes=lambda: int(getattr(tokens, "refreshes", 0)),
        credits_remaining=lambda: quota.credits_remaining,
    )
    return metrics


def consumer_name() -> str:
    """A name for this process's queue consumer: host, pid and a random suffix."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def _mode(endpoints: ZohoEndpoints) -> str:
    return "sandbox" if endpoints.sandbox else "zoho"


def _store_kind(settings: Settings) -> str:
    return "redis" if settings.redis_url else "memory"


class Container(containers.DeclarativeContainer):
    """Adapters for ports, decided from the settings; override any provider in tests."""

    settings = providers.Singleton(Settings.load)
    clock: providers.Provider[Clock] = providers.Singleton(SystemClock)
    endpoints = providers.Singleton(build_zoho_endpoints, settings)
    emulator_state = providers.Singleton(build_emulator_state, endpoints)
    emulator = providers.Singleton(build_emulator_app, emulator_state)
    metrics = providers.Singleton(PrometheusMetrics)
    http = providers.Resource(open_http_client, settings, emulator, metrics)
    redis = providers.Resource(open_redis_client, settings)

    store = providers.Singleton(build_ticket_store, settings, redis, clock)
    leases = providers.Singleton(build_leases, settings, redis, clock)
    contact_cache = providers.Singleton(build_contact_cache, settings, redis, clock)
    token_store = providers.Singleton(build_token_store, settings, endpoints, redis)
    refresh_budget = providers.Singleton(build_refresh_budget, settings, endpoints, redis, clock)

    oauth = providers.Singleton(build_oauth, settings, endpoints, http, clock)
    tokens = providers.Singleton(
        build_token_manager, settings, endpoints, oauth, token_store, clock, leases, refresh_budget
    )
    zoho = providers.Singleton(build_zoho_client, settings, endpoints, http, tokens, clock)

    breaker = providers.Singleton(
        CircuitBreaker,
        clock,
        failure_threshold=settings.provided.circuit_breaker_failure_threshold,
        timeout=settings.provided.circuit_breaker_timeout,
    )
    call_gate = providers.Singleton(build_call_gate, settings, redis, clock)
    helpdesk = providers.Singleton(
        GuardedHelpdesk, zoho, breaker, clock, call_gate, slot_wait=settings.provided.zoho_timeout
    )
    # Contact creation is part of an attempt and cut off with it: a lock that outlives the
    # attempt would only stall the customer's next tickets after a crash.
    contacts = providers.Singleton(
        ContactResolver,
        helpdesk,
        contact_cache,
        leases,
        clock,
        lock_ttl=settings.provided.attempt_timeout,
        lock_wait=settings.provided.attempt_timeout,
        inline=settings.provided.zoho_inline_contact,
    )
    policy = providers.Singleton(
        IntakePolicy,
        default_priority=settings.provided.default_priority,
        low_confidence_threshold=settings.provided.low_confidence_threshold,
        low_confidence_priority=settings.provided.low_confidence_priority,
        default_channel=settings.provided.default_channel,
        default_phone_country=settings.provided.default_phone_country,
    )
    processing = providers.Singleton(
        ProcessingPolicy,
        max_deliveries=settings.provided.queue_max_deliveries,
        ambiguous_grace=settings.provided.zoho_search_lag,
        attempt_timeout=settings.provided.attempt_timeout,
    )
    processor = providers.Singleton(
        TicketProcessor, store, helpdesk, contacts, clock, processing, metrics=metrics
    )
    submit = providers.Singleton(SubmitTicket, store, processor, helpdesk, metrics=metrics)
    drain = providers.Singleton(
        DrainQueue,
        store,
        processor,
        helpdesk,
        consumer=providers.Callable(consumer_name),
        # Twice the Zoho cap in progress: while some tickets do their Redis steps, others
        # keep every call slot busy; the call gate, not this, holds Zoho to the cap.
        concurrency=providers.Callable(lambda s: 2 * s.zoho_max_concurrency, settings),
    )
    health = providers.Singleton(
        CheckHealth,
        store,
        helpdesk,
        drain,
        mode=providers.Callable(_mode, endpoints),
        store_kind=providers.Callable(_store_kind, settings),
        quota=zoho,
        credentials=tokens,
    )
    services = providers.Singleton(
        Services,
        settings=settings,
        clock=clock,
        policy=policy,
        store=store,
        helpdesk=helpdesk,
        submit=submit,
        processor=processor,
        drain=drain,
        health=health,
        departments=providers.Singleton(ListDepartments, helpdesk),
        auth_url=providers.Singleton(AuthorizationUrl, oauth),
        queue_status=providers.Singleton(QueueStatus, store, store),
        replay=providers.Singleton(ReplayDeadLetters, store),
        mode=providers.Callable(_mode, endpoints),
        metrics=providers.Singleton(watch_metrics, metrics, store, helpdesk, tokens, zoho),
    )

    # The admin commands (auth setup/status, whoami, doctor): resolved by the CLI only.
    zoho_config = providers.Singleton(build_zoho_config, settings, endpoints)
    browser = providers.Singleton(build_browser)
    callback_server = providers.Singleton(build_callback_server, settings)
    whoami = providers.Singleton(Whoami, helpdesk, org_id=settings.provided.zoho_org_id)
    admin = providers.Singleton(
        AdminServices,
        config=zoho_config,
        whoami=whoami,
        auth_status=providers.Singleton(AuthStatus, tokens, zoho_config),
        resume_refreshes=providers.Singleton(ResumeRefreshes, tokens),
        setup_auth=providers.Singleton(
            SetupAuthorization, oauth, callback_server, browser, tokens, whoami, zoho_config
        ),
        doctor=providers.Singleton(
            Doctor,
            zoho_config,
            tokens,
            oauth,
            helpdesk,
            store,
            quota=zoho,
            credits_pause=helpdesk.provided.credits_pause,
            picklist_values=providers.Callable(sent_picklist_values, settings),
        ),
    )


async def start(container: Container) -> Services:
    """Open the container's resources and build the services (everything async is awaited).

    Raises:
        ConfigurationError: another deployment (another REDIS_KEY_PREFIX) reads the same queue,
            dead letters or inbound stream and group.
    """
    await cast(Awaitable[None], container.init_resources())
    services = await cast(Awaitable[Services], container.services())
    redis = await redis_of(container)
    if redis is not None:
        from redis.exceptions import RedisError

        try:
            await check_streams(redis, services.settings)
        except (RedisError, OSError) as exc:
            # A service starts with Redis down (and is not ready, and says so); the consumer
            # checks again once Redis answers.
            log.debug("could not check who else reads this deployment's streams: %s", exc)
    return services


async def check_streams(
    redis: aioredis.Redis, settings: Settings, *, warn_legacy: bool = True
) -> None:
    """Refuse to share a stream with another deployment; warn (unless ``warn_legacy`` is
    False) when a prefix set on a running deployment leaves work behind on the unprefixed
    names it used before."""
    from ticketing.adapters.redis.store import CONSUMER_GROUP
    from ticketing.adapters.redis.streams import StreamUse, claim_streams, legacy_consumed
    from ticketing.settings import SPEC

    uses = [
        StreamUse("TICKET_QUEUE_NAME", settings.ticket_queue_name, CONSUMER_GROUP),
        StreamUse("TICKET_DEAD_LETTER_NAME", settings.dead_letter_stream, "dead letters"),
        StreamUse("INBOUND_STREAM", settings.inbound_stream, settings.inbound_group),
    ]
    await claim_streams(redis, settings.redis_key_prefix, uses)
    if not warn_legacy:
        return
    consumed = {"ticket_queue_name": uses[0], "inbound_stream": uses[2]}
    for name, use in consumed.items():
        if not settings.derived_name(name):
            continue
        legacy = SPEC[name]["default"]
        backlog = await legacy_consumed(redis, legacy, use.reader)
        if backlog is not None:
            log.warning(
                "%s is %s under REDIS_KEY_PREFIX, but %s (%d entries) is still read by group "
                "%s: if that was this deployment, set %s=%s to keep reading it (and point the "
                "publisher at it), or drain it first",
                use.setting,
                use.stream,
                legacy,
                backlog,
                use.reader,
                use.setting,
                legacy,
            )


async def stop(container: Container) -> None:
    """Close what :func:`start` opened (HTTP pool, Redis connections)."""
    await cast(Awaitable[None], container.shutdown_resources())


async def admin_of(container: Container) -> AdminServices:
    """The admin use cases (after :func:`start`)."""
    return await cast(Awaitable[AdminServices], container.admin())


async def redis_of(container: Container) -> aioredis.Redis | None:
    """The Redis client, or None in in-process mode."""
    return await cast(Awaitable["aioredis.Redis | None"], container.redis())
