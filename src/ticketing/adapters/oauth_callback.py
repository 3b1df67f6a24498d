"""The loopback HTTP server that receives Zoho's OAuth redirect during ``auth setup``."""

from __future__ import annotations

import html
import ipaddress
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

import anyio
from anyio.abc import SocketStream
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from anyio.streams.stapled import MultiListener

from ticketing.domain.errors import ConfigurationError

log = logging.getLogger(__name__)

MAX_HEAD = 16 * 1024
REGISTER_HINT = (
    "register a loopback redirect URI such as http://localhost:8888/callback for the client "
    "in the Zoho API console and set ZOHO_REDIRECT_URI to exactly that; or, on a machine "
    "without a browser, use `ticketing auth url` and ZOHO_AUTHORIZATION_CODE"
)


@dataclass(eq=False)
class _Redirect:
    """One request to the callback path, waiting for the use case's answer."""

    params: dict[str, str]
    answer: tuple[int, str] | None = None
    done: anyio.Event = field(default_factory=anyio.Event)

    def settle(self, status: int, message: str) -> None:
        if self.answer is None:
            self.answer = (status, message)
        self.done.set()


class _Inbox:
    """The ``CallbackInbox`` port: redirects in arrival order, and the answer to the last."""

    def __init__(self, redirects: MemoryObjectReceiveStream[_Redirect]) -> None:
        self._redirects = redirects
        self._current: _Redirect | None = None

    async def receive(self) -> Mapping[str, str]:
        self._current = await self._redirects.receive()
        return dict(self._current.params)

    async def reply(self, ok: bool, message: str) -> None:
        if self._current is not None:
            self._current.settle(200 if ok else 400, message)


class LoopbackCallbackServer:
    """The ``CallbackServer`` port: a tiny HTTP/1.1 server on the redirect URI's loopback
    port, listening only while ``auth setup`` waits.

    It answers the browser only once the use case has decided (tokens stored, or why not),
    so the page says what the terminal says. Other paths get 404; a second redirect while one
    is being handled gets 409.

    Args:
        redirect_uri: ``ZOHO_REDIRECT_URI``; must be ``http://`` on ``localhost`` or a
            loopback address, with the port Zoho will redirect to.
        read_timeout: seconds a connection may take to send its request.
        reply_timeout: seconds a browser is kept waiting for the outcome.
    """

    def __init__(
        self, redirect_uri: str, *, read_timeout: float = 10.0, reply_timeout: float = 60.0
    ) -> None:
        self.redirect_uri = redirect_uri
        parts = urlsplit(redirect_uri)
        self.host = (parts.hostname or "").lower()
        self.path = parts.path or "/"
        self._read_timeout = read_timeout
        self._reply_timeout = reply_timeout

    def check(self) -> int:
        """The port to listen on, once the URI is known to be loopback http.

        Raises:
            ConfigurationError: it is not.
        """
        uri = self.redirect_uri
        parts = urlsplit(uri)
        if parts.scheme != "http":
            raise ConfigurationError(
                f"ZOHO_REDIRECT_URI {uri} is not a plain http:// URL, which the local callback "
                f"server of `ticketing auth setup` needs: {REGISTER_HINT}"
            )
        if not _loopback(self.host):
            raise ConfigurationError(
                f"ZOHO_REDIRECT_URI {uri} does not point at this machine (localhost or a "
                f"loopback address), so `ticketing auth setup` cannot receive the redirect: "
                f"{REGISTER_HINT}"
            )
        try:
            return parts.port or 80
        except ValueError:
            raise ConfigurationError(f"ZOHO_REDIRECT_URI {uri} has an invalid port") from None

    def __repr__(self) -> str:
        return f"LoopbackCallbackServer({self.redirect_uri!r})"

    def listen(self) -> AbstractAsyncContextManager[_Inbox]:
        return self._listen()

    @asynccontextmanager
    async def _listen(self) -> AsyncIterator[_Inbox]:
        listener = await self._bind()
        send, receive = anyio.create_memory_object_stream[_Redirect](1)
        waiting: list[_Redirect] = []
        handlers = _Counter()

        async def handle(stream: SocketStream) -> None:
            async with stream:
                with handlers:
                    await self._handle(stream, send, waiting)

        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(listener.serve, handle)
                try:
                    yield _Inbox(receive)
                finally:
                    # Browsers still waiting learn that it is over; then stop listening.
                    for redirect in waiting:
                        redirect.settle(
                            500, "The authorization did not complete; see the terminal."
                        )
                    with anyio.move_on_after(2, shield=True):
                        await handlers.idle()
                    tg.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            # The caller's own error, raised inside the server's task group: give it back
            # as it was raised, not wrapped.
            if len(group.exceptions) == 1:
                raise group.exceptions[0] from None
            raise
        finally:
            with anyio.CancelScope(shield=True):
                await listener.aclose()
                send.close()
                receive.close()

    async def _bind(self) -> MultiListener[SocketStream]:
        port = self.check()
        hosts = ["127.0.0.1", "::1"] if self.host == "localhost" else [self.host.strip("[]")]
        listeners: list[MultiListener[SocketStream]] = []
        for number, host in enumerate(hosts):
            try:
                listeners.append(await anyio.create_tcp_listener(local_host=host, local_port=port))
            except OSError as exc:
                if number > 0:  # ::1 beside 127.0.0.1 is a nicety (IPv6 may be off)
                    log.debug("not listening on [%s]:%d: %s", host, port, exc)
                    continue
                for opened in listeners:
                    await opened.aclose()
                raise ConfigurationError(
                    f"cannot listen on {host}:{port} for the OAuth callback "
                    f"({exc.strerror or exc}): stop whatever uses port {port}, or "
                    f"{REGISTER_HINT}"
                ) from None
        if len(listeners) == 1:
            return listeners[0]
        return MultiListener(listeners)

    async def _handle(
        self,
        stream: SocketStream,
        redirects: MemoryObjectSendStream[_Redirect],
        waiting: list[_Redirect],
    ) -> None:
        try:
            with anyio.fail_after(self._read_timeout):
                head = await _read_head(stream)
        except (TimeoutError, anyio.EndOfStream, anyio.BrokenResourceError, OSError, ValueError):
            return
        method, _, rest = head.partition(" ")
        target = rest.split(" ", 1)[0]
        parts = urlsplit(target)
        if method != "GET":
            await _respond(stream, 405, "Only the browser's redirect (GET) is expected here.")
            return
        if parts.path != self.path:
            await _respond(stream, 404, f"Not found: the OAuth callback is {self.path}.")
            return
        redirect = _Redirect(dict(parse_qsl(parts.query, keep_blank_values=True)))
        try:
            redirects.send_nowait(redirect)
        except (anyio.WouldBlock, anyio.ClosedResourceError, anyio.BrokenResourceError):
            await _respond(
                stream, 409, "An authorization is already being handled; see the terminal."
            )
            return
        waiting.append(redirect)
        with anyio.move_on_after(self._reply_timeout):
            await redirect.done.wait()
        status, message = redirect.answer or (504, "No answer in time; see the terminal.")
        await _respond(stream, status, message)


class _Counter:
    """How many connections are being handled; ``idle()`` waits for none."""

    def __init__(self) -> None:
        self.active = 0
        self._idle: anyio.Event | None = None

    def __enter__(self) -> None:
        self.active += 1

    def __exit__(self, *exc: object) -> None:
        self.active -= 1
        if not self.active and self._idle is not None:
            self._idle.set()

    async def idle(self) -> None:
        if self.active:
            self._idle = anyio.Event()
            await self._idle.wait()


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


async def _read_head(stream: SocketStream) -> str:
    data = b""
    while b"\r\n\r\n" not in data and b"\n\n" not in data:
        chunk = await stream.receive()
        data += chunk
        if len(data) > MAX_HEAD:
            raise ValueError("request head too large")
    first_line = data.split(b"\n", 1)[0].rstrip(b"\r")
    return first_line.decode("latin-1")


async def _respond(stream: SocketStream, status: int, message: str) -> None:
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}.get(
        status, "Error"
    )
    title = "ticketing: Zoho authorized" if status == 200 else "ticketing: not authorized"
    body = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title></head><body>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(message)}</p>"
        "<p>You can close this tab.</p></body></html>"
    ).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Content-Type: text/html; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Cache-Control: no-store\r\n"
        "Referrer-Policy: no-referrer\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    with suppress(anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
        await stream.send(head + body)
