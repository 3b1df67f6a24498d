"""Operations endpoints and middleware: request ids, liveness, readiness, Prometheus metrics."""

from __future__ import annotations

import logging
import re
import time
from typing import Any

import anyio
import msgspec
from litestar import MediaType, Request, Response, get
from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.openapi.datastructures import ResponseSpec
from litestar.types import (
    ASGIApp,
    HTTPResponseBodyEvent,
    HTTPResponseStartEvent,
    Message,
    Receive,
    Scope,
    Send,
)

from ticketing.adapters.prometheus import CONTENT_TYPE
from ticketing.application import context
from ticketing.application.intake import new_request_id
from ticketing.domain.model import Source
from ticketing.entrypoints.http import openapi
from ticketing.entrypoints.http.guard import api_key_guard

log = logging.getLogger("ticketing.http")

REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
# Probes and scrapes come every few seconds: their lines only at debug level.
_QUIET = frozenset({"/health", "/health/live", "/health/ready", "/metrics"})


class LiveOut(msgspec.Struct, kw_only=True):
    status: str  # alive


class ReadyOut(msgspec.Struct, kw_only=True):
    status: str  # ready | not_ready
    store: str  # memory | redis
    store_ok: bool


def request_id_from(value: str | None) -> str:
    """The caller's ``X-Request-ID`` when it is a sane token, else a fresh id."""
    if value and _REQUEST_ID.match(value):
        return value
    return new_request_id()


_ENCODED_SLASH = re.compile(rb"%2f", re.IGNORECASE)
_ENCODED_SLASH_BODY = msgspec.json.encode(
    {
        "error": "bad_request",
        "message": "an encoded slash (%2F) in the path is refused; write / instead",
        "field": "path",
    }
)


def encoded_slash(scope: Scope) -> bool:
    """True when the path as sent holds ``%2F``, which the server would decode into a ``/``
    that routing then follows (and a front proxy's path rules never saw)."""
    raw = scope.get("raw_path")
    return bool(raw) and bool(_ENCODED_SLASH.search(raw.split(b"?", 1)[0]))


def request_context_middleware(app: ASGIApp) -> ASGIApp:
    """Bind a request id (the caller's ``X-Request-ID`` or a new one) for every log line of
    the request, echo it in the response, count the request and log one line for it.

    Put around the whole app (:func:`wrap_outermost`), so that answers the router gives
    itself (404, 405) are counted too; a path with an encoded slash is refused here, 400,
    before routing.
    """

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        given = None
        for name, value in scope.get("headers", []):
            if name.lower() == b"x-request-id":
                given = value.decode("latin-1")
                break
        rid = request_id_from(given)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                MutableScopeHeaders.from_message(message)[REQUEST_ID_HEADER] = rid
            await send(message)

        with context.bind(request_id=rid):
            try:
                if encoded_slash(scope):
                    await _answer(send_with_id, 400, _ENCODED_SLASH_BODY)
                else:
                    await app(scope, receive, send_with_id)
            finally:
                _record(scope, status, time.perf_counter() - started)

    return middleware


def wrap_outermost(app: Any) -> None:
    """Put :func:`request_context_middleware` around all of a Litestar app, router included
    (Litestar's own ``middleware=`` runs only once a route has matched)."""
    app.asgi_handler = request_context_middleware(app.asgi_handler)


async def _answer(send: Send, status: int, body: bytes) -> None:
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
    }
    await send(start)
    end: HTTPResponseBodyEvent = {"type": "http.response.body", "body": body, "more_body": False}
    await send(end)


def _record(scope: Scope, status: int, seconds: float) -> None:
    method = str(scope.get("method", "GET"))
    path = str(scope.get("path", ""))
    route = str(scope.get("path_template") or "other")  # set by the router once matched
    app = scope.get("app")
    services = getattr(getattr(app, "state", None), "services", None)
    metrics = getattr(services, "metrics", None)
    if metrics is not None:
        metrics.http_request(method, route, status)
    level = logging.DEBUG if path in _QUIET and status < 500 else logging.INFO
    log.log(level, "%s %s → %d in %.0f ms", method, _printable(path), status, seconds * 1000)


def _printable(path: str, limit: int = 200) -> str:
    """The path as a log line can show it: every request is logged, unknown paths too, so a
    decoded ``%0A`` must not forge a line of its own; long paths are cut."""
    text = "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in path[:limit])
    return text + "…" if len(path) > limit else text


def count_invalid(request: Request[Any, Any, Any]) -> None:
    """A ticket submission refused at intake (4xx): counted as outcome ``invalid``."""
    if request.method != "POST" or not request.url.path.startswith("/tickets"):
        return
    services = getattr(request.app.state, "services", None)
    if services is not None and services.metrics is not None:
        services.metrics.ticket("invalid", Source.HTTP)


@get(
    "/health/live",
    operation_id="getLiveness",
    summary="Liveness: the process answers",
    tags=["ops"],
    opt={"public": True},
    sync_to_thread=False,
)
def live() -> LiveOut:
    """Always 200 while the process can answer HTTP; restart it when this fails."""
    return LiveOut(status="alive")


@get(
    "/health/ready",
    operation_id="getReadiness",
    summary="Readiness: tickets can be accepted (the store answers)",
    tags=["ops"],
    opt={"public": True},
    responses={
        503: ResponseSpec(
            data_container=ReadyOut,
            description="The store does not answer: send no traffic here",
            generate_examples=False,
        )
    },
)
async def ready(request: Request[Any, Any, Any]) -> Response[ReadyOut]:
    """200 when a ticket would be accepted durably now, 503 when the store does not answer."""
    services = request.app.state.services
    try:
        ok = bool(await services.store.ping())
    except Exception as exc:  # any failure of the store means "not ready", never a 500
        log.warning("readiness: the store did not answer: %s", exc)
        ok = False
    kind = "redis" if services.settings.redis_url else "memory"
    body = ReadyOut(status="ready" if ok else "not_ready", store=kind, store_ok=ok)
    return Response(body, status_code=200 if ok else 503, media_type=MediaType.JSON)


@get(
    "/metrics",
    operation_id="getMetrics",
    summary="Prometheus metrics (needs the API key when API_KEYS is set)",
    tags=["ops"],
    media_type=CONTENT_TYPE,
    responses=openapi.GUARDED,
)
async def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    """The text exposition format; queue, dead-letter and breaker figures are read now."""
    collector = request.app.state.services.metrics
    body = await collector.scrape() if collector is not None else b""
    return Response(body, media_type=CONTENT_TYPE)


def create_ops_app(services: Any, api_keys: tuple[str, ...] = ()) -> Any:
    """A small app with only the probes and /metrics, for ``ticketing worker`` (METRICS_PORT):
    workers have no API, but their counters must be scrapeable too."""
    from litestar import Litestar
    from litestar.exceptions import HTTPException

    from ticketing.entrypoints.http.errors import handle_http_exception

    app = Litestar(
        route_handlers=[live, ready, metrics],
        guards=[api_key_guard(api_keys)],
        exception_handlers={HTTPException: handle_http_exception},
        openapi_config=None,
        logging_config=None,
        debug=False,
    )
    app.state.services = services
    wrap_outermost(app)
    return app


async def serve_ops(services: Any, *, host: str, port: int) -> None:
    """Serve :func:`create_ops_app` until cancelled."""
    import uvicorn

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
