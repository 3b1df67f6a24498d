"""`create_app()` (the API) and `create_ops_app()` (a worker's probes and /metrics): they only
assemble the routes, guard, error handlers and middleware of the modules beside this one.
Nothing runs at import."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import uvicorn
from litestar import Litestar, asgi
from litestar.exceptions import HTTPException
from litestar.handlers import ASGIRouteHandler
from litestar.types import Receive, Scope, Send

from ticketing.container import SANDBOX_PAGES_PATH, Container, Services, start, stop
from ticketing.entrypoints.background import run_background
from ticketing.entrypoints.http import docs, downloads, ops, stories, webhooks
from ticketing.entrypoints.http.console import console_routers, template_config
from ticketing.entrypoints.http.deps import Running
from ticketing.entrypoints.http.errors import ErrorHandlers
from ticketing.entrypoints.http.guard import api_key_guard
from ticketing.entrypoints.http.middleware import wrap_outermost
from ticketing.entrypoints.http.tickets import TicketController

log = logging.getLogger("ticketing.http")


def create_app(
    container: Container,
    *,
    drain: bool = True,
    consumer: bool = True,
) -> Litestar:
    """The HTTP API over the container's use cases; background drain and consumer optional."""
    running = Running()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        try:
            services = await start(container)
            running.start(services)
            async with anyio.create_task_group() as tg:
                await run_background(tg, container, services, drain=drain, consumer=consumer)
                try:
                    yield
                finally:
                    tg.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await stop(container)

    settings = container.settings()
    pages = container.emulator_pages()
    app = Litestar(
        route_handlers=[
            *([_sandbox_pages(pages)] if pages is not None else []),
            TicketController,
            ops.QueueController,
            ops.health,
            ops.departments,
            ops.auth_url,
            ops.live,
            ops.ready,
            ops.metrics,
            webhooks.webhook_check,
            webhooks.webhook_receive,
            downloads.reply_attachment,
            stories.RequestController,
            stories.pending,
            docs.assets_router(),
            *console_routers(settings),
        ],
        template_config=template_config(),
        dependencies=running.dependencies(),
        guards=[api_key_guard(settings.api_keys)],
        lifespan=[lifespan],
        exception_handlers=ErrorHandlers(running).all(),
        request_max_body_size=settings.max_body_bytes,
        openapi_config=docs.openapi_config(),
        debug=False,
        logging_config=None,
    )
    running.bind(app)
    wrap_outermost(app, running)
    return app


def _sandbox_pages(pages: Litestar) -> ASGIRouteHandler:
    """The in-process emulator's pages (its tickets; each sandbox ticket's ``web_url`` leads
    here), read-only, behind the API key like every other route."""

    @asgi(SANDBOX_PAGES_PATH, is_mount=True, copy_scope=True, include_in_schema=False)
    async def sandbox_pages(scope: Scope, receive: Receive, send: Send) -> None:
        await pages(scope, receive, send)

    return sandbox_pages


def create_ops_app(services: Services, api_keys: tuple[str, ...] = ()) -> Litestar:
    """A small app with only the probes and /metrics, for ``ticketing worker`` (METRICS_PORT):
    workers have no API, but their counters must be scrapeable too."""
    running = Running()
    app = Litestar(
        route_handlers=[ops.live, ops.ready, ops.metrics],
        dependencies=running.dependencies(),
        guards=[api_key_guard(api_keys)],
        exception_handlers={HTTPException: ErrorHandlers(running).http_exception},
        openapi_config=None,
        logging_config=None,
        debug=False,
    )
    running.bind(app)
    running.start(services)
    wrap_outermost(app, running)
    return app


async def serve_ops(services: Services, *, host: str, port: int) -> None:
    """Serve :func:`create_ops_app` until cancelled."""
    app = create_ops_app(services, services.settings.api_keys)
    config = uvicorn.Config(
        app, host=host, port=port, log_config=None, access_log=False, lifespan="off"
    )
    server = uvicorn.Server(config)
    stopped = anyio.Event()

    async def run() -> None:
        # Shielded, so that a cancel becomes a clean shutdown (sockets closed) below.
        with anyio.CancelScope(shield=True):
            try:
                await server.serve()
            finally:
                stopped.set()

    log.info("worker metrics and probes on http://%s:%d/metrics", host, port)
    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        try:
            await stopped.wait()
        finally:
            server.should_exit = True
            with anyio.CancelScope(shield=True):
                await stopped.wait()
