"""Zoho: where it is, the sandbox emulator, the HTTP client, the OAuth tokens (where they
live, decided once as a :class:`TokenStorage`) and the Desk client."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import httpx
from litestar import Litestar

from ticketing.adapters.browser import SystemBrowser
from ticketing.adapters.lease_lock import LeaseLock
from ticketing.adapters.memory import (
    InMemoryRefreshBudget,
    InMemoryTokenStore,
)
from ticketing.adapters.oauth_callback import LoopbackCallbackServer
from ticketing.adapters.prometheus import PrometheusMetrics
from ticketing.adapters.token_file import FileTokenStore
from ticketing.adapters.zoho_desk.client import ZohoDeskClient, build_http_client
from ticketing.adapters.zoho_desk.hosts import resolve_hosts
from ticketing.adapters.zoho_desk.oauth import FleetLock, TokenManager, ZohoOAuth
from ticketing.application.auth import (
    ZohoConfig,
)
from ticketing.container.backend import TOKENS_NEED_REDIS, Backend
from ticketing.domain.errors import ConfigurationError
from ticketing.domain.model import Priority
from ticketing.domain.ports import (
    Browser,
    CallbackServer,
    Clock,
    RefreshBudget,
    TokenStore,
)
from ticketing.settings import Settings, redact_url_password, token_file_exposed
from zoho_desk_emulator import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_REFRESH_TOKEN,
    EmulatorState,
    create_emulator_app,
    create_pages_app,
)

# The composition root logs as one module, wherever the builder lives.
log = logging.getLogger("ticketing.container")


SANDBOX_BASE_URL = "http://zoho-emulator.invalid"
# Where `ticketing serve` serves the in-process emulator's pages (its tickets, each ticket's
# web_url): nothing else reaches that emulator over HTTP.
SANDBOX_PAGES_PATH = "/sandbox"
# The lease held around every token refresh when Redis is the token store.
REFRESH_LOCK = "ticketing:oauth:refresh-lock"
# Contact ids a process keeps in memory in front of Redis (about 200 bytes each).


@dataclass(frozen=True)
class ZohoEndpoints:
    """Where Zoho is and who we are to it (the sandbox's built-in client in sandbox mode)."""

    accounts_url: str
    desk_url: str
    client_id: str
    client_secret: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    sandbox: bool

    @property
    def mode(self) -> str:
        """``sandbox`` or ``zoho``, as ``/health`` and the start-up log say it."""
        return "sandbox" if self.sandbox else "zoho"


def build_zoho_endpoints(settings: Settings) -> ZohoEndpoints:
    if settings.sandbox:
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


def build_emulator_state(endpoints: ZohoEndpoints) -> EmulatorState | None:
    """The in-process Zoho Desk emulator's state, when sandbox mode talks to it (not to a
    standalone one); None otherwise."""
    if not endpoints.sandbox or endpoints.desk_url != SANDBOX_BASE_URL:
        return None
    return EmulatorState()


def build_emulator_app(state: EmulatorState | None) -> Litestar | None:
    return create_emulator_app(state) if state is not None else None


def build_emulator_pages(state: EmulatorState | None) -> Litestar | None:
    """The in-process emulator's pages for people (read-only), for the HTTP API to mount at
    :data:`SANDBOX_PAGES_PATH`; None without an in-process emulator."""
    return create_pages_app(state, root=SANDBOX_PAGES_PATH) if state is not None else None


def show_emulator_pages_at(state: EmulatorState | None, service_url: str) -> str | None:
    """Make the in-process emulator's new tickets carry a ``web_url`` under ``service_url``
    (where the HTTP API serves the pages) instead of its unreachable in-process address;
    the pages' root URL, or None without an in-process emulator."""
    if state is None:
        return None
    state.web_url_base = service_url.rstrip("/") + SANDBOX_PAGES_PATH
    return state.web_url_base + "/"


async def open_http_client(
    settings: Settings, app: Litestar | None, metrics: PrometheusMetrics | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """One pooled HTTP client per process, closed at shutdown; every request is metered."""
    # Litestar's ASGI signature is narrower than the one httpx declares; it is an ASGI app.
    transport = httpx.ASGITransport(app=cast(Any, app)) if app is not None else None
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


@dataclass(frozen=True)
class TokenStorage:
    """Where the OAuth tokens live, decided once: ``memory`` (sandbox), ``file`` (one host)
    or ``redis`` (a fleet). The token store, the refresh budget, the refresh lock and the
    admin tools' :class:`ZohoConfig` all read it."""

    kind: Literal["memory", "file", "redis"]

    @property
    def shared(self) -> bool:
        """Kept in Redis for the fleet: the refresh budget and lock are shared there too."""
        return self.kind == "redis"


def decide_token_storage(settings: Settings, endpoints: ZohoEndpoints) -> TokenStorage:
    """memory (sandbox), or ZOHO_TOKEN_STORE: file | redis (auto: redis when REDIS_URL is set).

    Raises:
        ConfigurationError: ZOHO_TOKEN_STORE=redis without REDIS_URL.
    """
    if endpoints.sandbox:
        return TokenStorage("memory")
    kind = settings.zoho_token_store
    if kind == "auto":
        kind = "redis" if settings.redis_url else "file"
    if kind == "redis" and not settings.redis_url:
        raise ConfigurationError(TOKENS_NEED_REDIS)
    return TokenStorage("redis" if kind == "redis" else "file")


def build_token_store(
    settings: Settings, storage: TokenStorage, token_file: FileTokenStore, backend: Backend
) -> TokenStore:
    """The token store: shared in Redis for a fleet (importing a token file once), a file for
    one host, memory in sandbox mode."""
    if storage.kind == "memory":
        return InMemoryTokenStore()
    if storage.kind == "redis":
        return backend.shared_tokens(token_file)
    if token_file.is_readable_by_others():
        log.warning(
            "ZOHO_TOKEN_FILE %s is readable by other users: run `chmod 600 %s` "
            "(ENVIRONMENT=production refuses to start like this)",
            token_file.path,
            token_file.path,
        )
    return token_file


def build_refresh_budget(
    settings: Settings, storage: TokenStorage, backend: Backend, clock: Clock
) -> RefreshBudget:
    """ZOHO_REFRESH_BUDGET refreshes per refresh token per 10 minutes: counted in Redis when
    the tokens are shared there, else in this process."""
    if storage.shared:
        return backend.shared_refresh_budget()
    return InMemoryRefreshBudget(clock, limit=settings.zoho_refresh_budget)


def build_refresh_lock(
    settings: Settings, storage: TokenStorage, token_file: FileTokenStore, backend: Backend
) -> FleetLock | None:
    """What keeps token refreshes one at a time beyond this process: a Redis lease for a
    fleet, the token file's ``flock`` for processes sharing the file; none in memory."""
    if storage.kind == "redis":
        # One refresh at a time across the fleet; the lease outlives the slowest refresh.
        return LeaseLock(
            backend.leases,
            REFRESH_LOCK,
            ttl=settings.zoho_timeout + 15,
            what="the Zoho token refresh lock",
        )
    if storage.kind == "file":
        return token_file.lock
    return None


def build_oauth(
    settings: Settings, endpoints: ZohoEndpoints, http: httpx.AsyncClient, clock: Clock
) -> ZohoOAuth:
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
    oauth: ZohoOAuth,
    store: TokenStore,
    clock: Clock,
    fleet_lock: FleetLock | None,
    budget: RefreshBudget,
) -> TokenManager:
    return TokenManager(
        oauth,
        store,
        clock,
        refresh_token=endpoints.refresh_token,
        authorization_code=settings.zoho_authorization_code,
        fleet_lock=fleet_lock,
        budget=budget,
    )


def build_zoho_client(
    settings: Settings,
    endpoints: ZohoEndpoints,
    http: httpx.AsyncClient,
    tokens: TokenManager,
    clock: Clock,
) -> ZohoDeskClient:
    return ZohoDeskClient(
        http,
        tokens,
        clock,
        desk_url=endpoints.desk_url,
        org_id=settings.zoho_org_id,
        department_id=settings.zoho_department_id,
        idempotency_field=settings.zoho_idempotency_field,
    )


def sent_picklist_values(settings: Settings) -> list[tuple[str, str, str]]:
    """The picklist values the service sends, with where each comes from (for the doctor)."""
    return [
        ("channel", settings.default_channel, "DEFAULT_CHANNEL, for HTTP tickets"),
        ("channel", "WhatsApp", "incidents without a channel"),
        *(("priority", p.value, "the priority map") for p in Priority),
    ]


def build_zoho_config(
    settings: Settings, endpoints: ZohoEndpoints, storage: TokenStorage
) -> ZohoConfig:
    """The settings' view of Zoho for the admin use cases (no secrets)."""
    return ZohoConfig(
        mode=endpoints.mode,
        environment=settings.environment,
        data_centre=settings.zoho_dc,
        accounts_url=endpoints.accounts_url,
        explicit_urls=bool(settings.zoho_accounts_url or settings.zoho_desk_url),
        desk_url=endpoints.desk_url,
        redirect_uri=settings.zoho_redirect_uri,
        scope=settings.zoho_scope,
        client_id=endpoints.client_id,
        redis=redact_url_password(settings.redis_url) if settings.redis_url else None,
        org_id=settings.zoho_org_id,
        department_id=settings.zoho_department_id,
        token_store=storage.kind,
        token_file_exposed=storage.kind == "file" and token_file_exposed(settings.zoho_token_file),
        refresh_token_in_env=bool(settings.zoho_refresh_token) and not endpoints.sandbox,
    )


def build_browser() -> Browser:
    return SystemBrowser()


def build_callback_server(settings: Settings) -> CallbackServer:
    return LoopbackCallbackServer(settings.zoho_redirect_uri)
