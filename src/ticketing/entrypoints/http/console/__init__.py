"""The operator console at /console: server-rendered pages over the service's use cases."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

from litestar import Router
from litestar.datastructures import CacheControlHeader
from litestar.di import Provide
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template import TemplateConfig

from ticketing.domain.errors import TicketingError
from ticketing.entrypoints.http.console import pages
from ticketing.entrypoints.http.console.session import Sessions, Shared
from ticketing.entrypoints.http.guard import WrongKeyThrottle
from ticketing.settings import Settings

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
log = logging.getLogger("ticketing.http")


def console_routers(settings: Settings) -> list[Router]:
    """The console's pages and its static files. They skip the API's Bearer guard
    (``public``): the pages check their own session cookie instead."""
    sessions = Sessions(settings.api_keys, settings.console_secret, shared=shared(settings))
    log.info("console: sessions signed with a key from %s", sessions.source)
    throttle = WrongKeyThrottle()
    routes = Router(
        path=pages.PREFIX,
        route_handlers=[
            pages.login_form,
            pages.login,
            pages.logout,
            pages.overview,
            pages.tickets,
            pages.queue,
            pages.dead,
            pages.replay,
            pages.delete,
            pages.replay_matching,
            pages.replay_matching_confirmed,
            pages.purge,
            pages.purge_confirmed,
            pages.story,
        ],
        dependencies={
            "sessions": Provide(lambda: sessions, use_cache=True, sync_to_thread=False),
            "throttle": Provide(lambda: throttle, use_cache=True, sync_to_thread=False),
            "session": Provide(pages.provide_session),
        },
        exception_handlers={
            pages.LoginRequired: pages.to_login,
            pages.CsrfRefused: pages.csrf_refused,
            TicketingError: pages.service_error,
        },
        opt={"public": True},
        include_in_schema=False,
    )
    static = create_static_files_router(
        path=f"{pages.PREFIX}/static",
        directories=[STATIC],
        opt={"public": True},
        include_in_schema=False,
        cache_control=CacheControlHeader(max_age=300),
    )
    return [routes, static]


def shared(settings: Settings) -> Shared | None:
    """What the console signs with when CONSOLE_SECRET and API_KEYS are unset: Zoho's client
    credentials, else REDIS_URL and REDIS_KEY_PREFIX (the same on every instance of a fleet);
    None without either (sandbox without Redis: one instance, a random key)."""
    if settings.zoho_client_id and settings.zoho_client_secret:
        material = f"zoho\n{settings.zoho_client_id}\n{settings.zoho_client_secret}"
        return Shared(material, "ZOHO_CLIENT_ID and ZOHO_CLIENT_SECRET")
    if settings.redis_url:
        return Shared(f"redis\n{settings.redis_url}\n{settings.redis_key_prefix}", "REDIS_URL")
    return None


def _ago(value: datetime | None) -> str:
    """``3m 12s ago`` for a moment in the past."""
    if value is None:
        return "-"
    seconds = max(0, int((datetime.now(UTC) - value).total_seconds()))
    return f"{_span(seconds)} ago"


def _span(seconds: float | int) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60}s"
    if seconds < 86400:
        return f"{seconds // 3600}h {seconds % 3600 // 60}m"
    return f"{seconds // 86400}d {seconds % 86400 // 3600}h"


def _when(value: datetime | None) -> str:
    return "-" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _engine(engine: JinjaTemplateEngine) -> None:
    engine.engine.filters.update(ago=_ago, span=_span, when=_when)


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    """Litestar's Jinja integration over the packaged templates (autoescaping on)."""
    return TemplateConfig(directory=TEMPLATES, engine=JinjaTemplateEngine, engine_callback=_engine)
