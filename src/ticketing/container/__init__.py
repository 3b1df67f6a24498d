"""The composition root: which adapter backs which port, decided once from the settings.

Two decisions are made once and read everywhere: the backend (:mod:`.backend`: Redis when
REDIS_URL is set, else in-process adapters) and the token storage (:mod:`.zoho`: where the
OAuth tokens live). Every builder is typed by what it provides, so mypy holds each adapter to
its port; :mod:`.services` builds what the entrypoints get. This module wires them into one
dependency-injector container and opens and closes it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import cast

from dependency_injector import containers, providers
from redis.exceptions import RedisError

from ticketing.adapters.clock import SystemClock
from ticketing.adapters.prometheus import PrometheusMetrics
from ticketing.adapters.redis.connection import RedisClient
from ticketing.adapters.redis.store import CONSUMER_GROUP
from ticketing.adapters.redis.streams import StreamUse, claim_streams, legacy_consumed
from ticketing.adapters.token_file import FileTokenStore
from ticketing.application.auth import AuthStatus, ResumeRefreshes, SetupAuthorization, Whoami
from ticketing.application.contacts import ContactResolver
from ticketing.application.doctor import Doctor
from ticketing.application.intake import IntakePolicy
from ticketing.application.operations import (
    CheckReadiness,
    DeleteDeadLetters,
    ListDeadLetters,
    QueueStatus,
    RejectMessage,
    ReplayDeadLetters,
)
from ticketing.application.queries import AuthorizationUrl, ListDepartments
from ticketing.application.story import ListPending, RecentTickets, ShowRequest
from ticketing.application.sync.access import SyncAccess
from ticketing.application.tickets import (
    DrainQueue,
    ProcessingPolicy,
    SubmitTicket,
    TicketProcessor,
)
from ticketing.container.attachments import build_attachments
from ticketing.container.backend import (
    Backend,
    InProcessBackend,
    RedisBackend,
    _call_gate,
    _contact_cache,
    _leases,
    _store,
    build_backend,
    build_contact_cache,
    build_heartbeat,
    build_redis_facts,
    open_heartbeat,
    open_redis_client,
    store_kind,
)
from ticketing.container.services import (
    AdminServices,
    Services,
    build_health,
    build_helpdesk,
    build_take_over,
    consumer_name,
    lease_holder,
    process_name,
    watch_metrics,
)
from ticketing.container.sync import (
    SyncServices,
    build_follow_ups,
    build_sync,
    build_sync_inbox,
    build_sync_log,
    build_webhook_signatures,
)
from ticketing.container.zoho import (
    REFRESH_LOCK,
    SANDBOX_BASE_URL,
    SANDBOX_PAGES_PATH,
    TokenStorage,
    ZohoEndpoints,
    build_browser,
    build_callback_server,
    build_emulator_app,
    build_emulator_pages,
    build_emulator_state,
    build_oauth,
    build_refresh_budget,
    build_refresh_lock,
    build_token_manager,
    build_token_store,
    build_zoho_client,
    build_zoho_config,
    build_zoho_endpoints,
    decide_token_storage,
    open_http_client,
    sent_picklist_values,
    show_emulator_pages_at,
)
from ticketing.domain.breaker import CircuitBreaker
from ticketing.domain.ports import Clock
from ticketing.domain.timeouts import Timeouts
from ticketing.settings import SPEC, Settings

__all__ = [
    "REFRESH_LOCK",
    "SANDBOX_BASE_URL",
    "SANDBOX_PAGES_PATH",
    "AdminServices",
    "Backend",
    "Container",
    "InProcessBackend",
    "RedisBackend",
    "Services",
    "SyncServices",
    "TokenStorage",
    "ZohoEndpoints",
    "admin_of",
    "build_backend",
    "build_contact_cache",
    "build_zoho_endpoints",
    "check_streams",
    "consumer_name",
    "open_http_client",
    "open_redis_client",
    "redis_of",
    "show_emulator_pages_at",
    "start",
    "stop",
    "store_kind",
]

log = logging.getLogger(__name__)


class Container(containers.DeclarativeContainer):
    """Adapters for ports, decided from the settings; override any provider in tests."""

    settings = providers.Singleton(Settings.load)
    clock: providers.Provider[Clock] = providers.Singleton(SystemClock)
    endpoints = providers.Singleton(build_zoho_endpoints, settings)
    mode = endpoints.provided.mode
    emulator_state = providers.Singleton(build_emulator_state, endpoints)
    emulator = providers.Singleton(build_emulator_app, emulator_state)
    emulator_pages = providers.Singleton(build_emulator_pages, emulator_state)
    metrics = providers.Singleton(PrometheusMetrics)
    http = providers.Resource(open_http_client, settings, emulator, metrics)
    redis = providers.Resource(open_redis_client, settings)
    timeouts = providers.Singleton(Timeouts.from_attempt, settings.provided.attempt_timeout)
    # This process's heartbeat (with Redis), its name claimed and renewed while the container
    # is open (``liveness``); the leases read its name at each use.
    heartbeat = providers.Singleton(build_heartbeat, settings, redis, timeouts)
    liveness = providers.Resource(open_heartbeat, heartbeat, settings)

    # The backend: Redis or this process, decided once; the four adapters below come from it.
    backend = providers.Singleton(build_backend, settings, redis, clock, heartbeat)
    store = providers.Singleton(_store, backend)
    leases = providers.Singleton(_leases, backend)
    contact_cache = providers.Singleton(_contact_cache, backend)
    call_gate = providers.Singleton(_call_gate, backend)

    # The OAuth tokens: where they live is decided once, and every token adapter reads it.
    token_storage = providers.Singleton(decide_token_storage, settings, endpoints)
    token_file = providers.Singleton(FileTokenStore, settings.provided.zoho_token_file)
    token_store = providers.Singleton(
        build_token_store, settings, token_storage, token_file, backend
    )
    refresh_budget = providers.Singleton(
        build_refresh_budget, settings, token_storage, backend, clock
    )
    refresh_lock = providers.Singleton(
        build_refresh_lock, settings, token_storage, token_file, backend
    )

    oauth = providers.Singleton(build_oauth, settings, endpoints, http, clock)
    tokens = providers.Singleton(
        build_token_manager,
        settings,
        endpoints,
        oauth,
        token_store,
        clock,
        refresh_lock,
        refresh_budget,
    )
    zoho = providers.Singleton(build_zoho_client, settings, endpoints, http, tokens, clock)

    breaker = providers.Singleton(
        CircuitBreaker,
        clock,
        failure_threshold=settings.provided.circuit_breaker_failure_threshold,
        timeout=settings.provided.circuit_breaker_timeout,
    )
    helpdesk = providers.Singleton(build_helpdesk, settings, zoho, breaker, clock, call_gate)
    contacts = providers.Singleton(
        ContactResolver,
        helpdesk,
        contact_cache,
        leases,
        clock,
        lock_ttl=timeouts.provided.contact_lock_ttl,
        lock_wait=timeouts.provided.contact_lock_wait,
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
    follow_ups = providers.Singleton(
        build_follow_ups, settings, redis, store, zoho, helpdesk, clock
    )
    processor = providers.Singleton(
        TicketProcessor,
        store,
        helpdesk,
        contacts,
        clock,
        processing,
        metrics=metrics,
        holder=providers.Callable(lease_holder, liveness),
        liveness=liveness,
        follow_ups=follow_ups,
    )
    submit = providers.Singleton(SubmitTicket, store, processor, helpdesk, metrics=metrics)
    drain = providers.Singleton(
        DrainQueue,
        store,
        processor,
        helpdesk,
        consumer=providers.Callable(process_name, liveness),
        take_over=providers.Callable(build_take_over, store, liveness, timeouts),
        take_over_every=timeouts.provided.takeover_every,
        # Twice the Zoho cap in progress: while some tickets do their Redis steps, others
        # keep every call slot busy; the call gate, not this, holds Zoho to the cap.
        concurrency=providers.Callable(lambda s: 2 * s.zoho_max_concurrency, settings),
    )
    sync_access = providers.Singleton(SyncAccess)
    health = providers.Singleton(
        build_health, backend, endpoints, store, helpdesk, drain, zoho, tokens, sync_access
    )
    # The two-way sync: its log and inbox (Redis or this process) and use cases.
    sync_log = providers.Singleton(build_sync_log, settings, redis)
    sync_inbox = providers.Singleton(build_sync_inbox, settings, redis, clock)
    sync = providers.Singleton(
        build_sync,
        settings,
        zoho,
        helpdesk,
        store,
        sync_log,
        sync_inbox,
        leases,
        clock,
        metrics,
        consumer=providers.Callable(process_name, liveness),
        access=sync_access,
        credentials=tokens,
        signatures=providers.Singleton(
            build_webhook_signatures, http, endpoints.provided.desk_url, clock
        ),
    )
    attachments = providers.Singleton(
        build_attachments,
        settings,
        redis,
        store,
        zoho,
        helpdesk,
        processor,
        clock,
        metrics,
        consumer=providers.Callable(process_name, liveness),
    )
    services = providers.Singleton(
        Services,
        settings=settings,
        clock=clock,
        policy=policy,
        helpdesk=helpdesk,
        submit=submit,
        drain=drain,
        health=health,
        departments=providers.Singleton(ListDepartments, helpdesk),
        auth_url=providers.Singleton(AuthorizationUrl, oauth),
        queue_status=providers.Singleton(QueueStatus, store, store),
        dead_letters=providers.Singleton(ListDeadLetters, store),
        replay=providers.Singleton(ReplayDeadLetters, store),
        delete_dead=providers.Singleton(DeleteDeadLetters, store),
        ready=providers.Singleton(
            CheckReadiness, store, store_kind=providers.Callable(store_kind, backend)
        ),
        reject=providers.Singleton(RejectMessage, store),
        story=providers.Singleton(ShowRequest, store, store, attachments.provided.work),
        pending=providers.Singleton(ListPending, store, store, clock),
        recent=providers.Singleton(RecentTickets, store),
        mode=mode,
        metrics=providers.Singleton(watch_metrics, metrics, store, helpdesk, tokens, zoho),
        liveness=liveness,
        sync=sync,
        attachments=attachments,
    )

    # The admin commands (auth setup/status, whoami, doctor): resolved by the CLI only.
    zoho_config = providers.Singleton(build_zoho_config, settings, endpoints, token_storage)
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
            facts=providers.Singleton(build_redis_facts, settings, redis, heartbeat),
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
        try:
            await check_streams(redis, services.settings)
        except (RedisError, OSError) as exc:
            # A service starts with Redis down (and is not ready, and says so); the consumer
            # checks again once Redis answers.
            log.debug("could not check who else reads this deployment's streams: %s", exc)
    return services


async def check_streams(
    redis: RedisClient, settings: Settings, *, warn_legacy: bool = True
) -> None:
    """Refuse to share a stream with another deployment; warn (unless ``warn_legacy`` is
    False) when a prefix set on a running deployment leaves work behind on the unprefixed
    names it used before."""
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
    """Close what :func:`start` opened (HTTP pool, Redis connections); the heartbeat first,
    while Redis is still open to delete it."""
    if container.liveness.initialized:
        await cast(Awaitable[None], container.liveness.shutdown())
    await cast(Awaitable[None], container.shutdown_resources())


async def admin_of(container: Container) -> AdminServices:
    """The admin use cases (after :func:`start`)."""
    return await cast(Awaitable[AdminServices], container.admin())


async def redis_of(container: Container) -> RedisClient | None:
    """The Redis client, or None in in-process mode."""
    return await cast(Awaitable["RedisClient | None"], container.redis())
