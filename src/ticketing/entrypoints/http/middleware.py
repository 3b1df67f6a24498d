"""The middleware around the whole app: request ids, the one log line and the request counter
per request, the refusal of encoded slashes before routing, and the reading of a refused
request's unread body so that its client can read the refusal."""

from __future__ import annotations

import logging
import re
import time
from typing import Any

import anyio
import msgspec
from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.types import (
    ASGIApp,
    HTTPResponseBodyEvent,
    HTTPResponseStartEvent,
    Message,
    Receive,
    ReceiveMessage,
    Scope,
    Send,
)

from ticketing.application import context
from ticketing.application.intake import new_request_id
from ticketing.entrypoints.http.deps import Running
from ticketing.entrypoints.http.errors import error_body

log = logging.getLogger("ticketing.http")

REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
# Probes and scrapes come every few seconds: their lines only at debug level.
_QUIET = frozenset({"/health", "/health/live", "/health/ready", "/metrics"})


def request_id_from(value: str | None) -> str:
    """The caller's ``X-Request-ID`` when it is a sane token, else a fresh id."""
    if value and _REQUEST_ID.match(value):
        return value
    return new_request_id()


_ENCODED_SLASH = re.compile(rb"%2f", re.IGNORECASE)
_ENCODED_SLASH_BODY = msgspec.json.encode(
    error_body(
        "bad_request", "an encoded slash (%2F) in the path is refused; write / instead", "path"
    )
)


def encoded_slash(scope: Scope) -> bool:
    """True when the path as sent holds ``%2F``, which the server would decode into a ``/``
    that routing then follows (and a front proxy's path rules never saw)."""
    raw = scope.get("raw_path")
    return bool(raw) and bool(_ENCODED_SLASH.search(raw.split(b"?", 1)[0]))


def request_context_middleware(app: ASGIApp, running: Running) -> ASGIApp:
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
        path = str(scope.get("path", ""))  # as asked: a mounted app cuts the scope's own
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
                _record(running, scope, path, status, time.perf_counter() - started)

    return middleware


# How much of an unread body is read and thrown away after an early answer, at most.
DRAIN_MAX_BYTES = 64 * 1024 * 1024
DRAIN_MAX_SECONDS = 10.0


def drain_unread_body(
    app: ASGIApp,
    *,
    max_bytes: int = DRAIN_MAX_BYTES,
    max_seconds: float = DRAIN_MAX_SECONDS,
) -> ASGIApp:
    """Let a client read an answer given before its body was read to the end (a 413, a 401).

    Closing a socket that still holds unread data makes the kernel answer with a reset, and a
    client still sending then gets ECONNRESET instead of the answer. So such an answer says
    ``Connection: close``, goes out whole at once, and is completed only once the rest of the
    body has been read and thrown away (at most ``max_bytes`` or ``max_seconds``; then the
    connection is closed anyway). A client that asked ``Expect: 100-continue`` and was never
    told to continue has sent no body: nothing is read for it.
    """

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or not _has_body(scope):
            await app(scope, receive, send)
            return
        body_read = continued = False
        unread = False

        async def tracked_receive() -> ReceiveMessage:
            nonlocal body_read, continued
            continued = True  # the server says 100 Continue, if asked, on the first receive
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_read = True
            return message

        async def draining_send(message: Message) -> None:
            nonlocal unread
            if message["type"] == "http.response.start":
                unread = not body_read and (continued or not _expects_continue(scope))
                if unread:  # the same headers helper that sets X-Request-ID
                    MutableScopeHeaders.from_message(message)["connection"] = "close"
            elif (
                message["type"] == "http.response.body"
                and unread
                and not body_read
                and not message.get("more_body", False)
            ):
                # The answer whole now, so the client can read it while it still sends.
                await send({**message, "more_body": True})
                await _discard(receive, max_bytes, max_seconds)
                end: HTTPResponseBodyEvent = {
                    "type": "http.response.body",
                    "body": b"",
                    "more_body": False,
                }
                message = end
            await send(message)

        await app(scope, tracked_receive, draining_send)

    return middleware


def _has_body(scope: Scope) -> bool:
    for name, value in scope.get("headers", []):
        name = name.lower()
        if name == b"transfer-encoding":
            return True
        if name == b"content-length":
            return value.strip() not in (b"", b"0")
    return False


def _expects_continue(scope: Scope) -> bool:
    return any(
        name.lower() == b"expect" and value.strip().lower() == b"100-continue"
        for name, value in scope.get("headers", [])
    )


async def _discard(receive: Receive, max_bytes: int, max_seconds: float) -> None:
    """Read and drop the rest of the request body: to its end, a disconnect, or a cap."""
    read = 0
    with anyio.move_on_after(max_seconds):
        while read <= max_bytes:
            message = await receive()
            if message["type"] != "http.request":
                return
            read += len(message.get("body", b""))
            if not message.get("more_body", False):
                return


def wrap_outermost(app: Any, running: Running) -> None:
    """Put :func:`request_context_middleware` around all of a Litestar app, router included
    (Litestar's own ``middleware=`` runs only once a route has matched), and
    :func:`drain_unread_body` around that, so that every early answer is readable."""
    app.asgi_handler = drain_unread_body(request_context_middleware(app.asgi_handler, running))


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


def _record(running: Running, scope: Scope, path: str, status: int, seconds: float) -> None:
    method = str(scope.get("method", "GET"))
    route = str(scope.get("path_template") or "other")  # set by the router once matched
    metrics = running.metrics()
    if metrics is not None:
        metrics.http_request(method, route, status)
    level = logging.DEBUG if path in _QUIET and status < 500 else logging.INFO
    log.log(level, "%s %s → %d in %.0f ms", method, _printable(path), status, seconds * 1000)


def _printable(path: str, limit: int = 200) -> str:
    """The path as a log line can show it: every request is logged, unknown paths too, so a
    decoded ``%0A`` must not forge a line of its own; long paths are cut."""
    text = "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in path[:limit])
    return text + "…" if len(path) > limit else text
