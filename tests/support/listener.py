"""A plain HTTP/1.1 server on a loopback port that records every connection made to it and
every request read, and answers from a table of scripted responses: to prove that a fetch
was refused without any connection attempt, and to see exactly what was sent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import anyio
import anyio.abc
import httpx


@dataclass(frozen=True, slots=True)
class Seen:
    """One request as the listener read it."""

    method: str
    target: str
    headers: dict[str, str]


@dataclass(slots=True)
class Script:
    """The answer to a path: status, headers and a body; ``chunks`` of ``chunk`` bytes
    streamed after the body (a body that does not end until the client stops reading)."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    chunks: int = 0
    chunk: bytes = b""
    delay: float = 0.0


@dataclass
class Listener:
    """The server's port, the connections accepted and the requests read so far."""

    port: int
    routes: dict[str, Script]
    connections: int = 0
    requests: list[Seen] = field(default_factory=list)
    bytes_sent: int = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


async def _read_head(stream: anyio.abc.ByteStream) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = await stream.receive(4096)
        if not chunk:
            break
        data += chunk
    return data


async def _serve(listener: Listener, stream: anyio.abc.ByteStream) -> None:
    listener.connections += 1
    async with stream:
        try:
            head = await _read_head(stream)
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
            return
        if not head:
            return
        lines = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        listener.requests.append(Seen(method, target, headers))
        script = listener.routes.get(target.split("?")[0], Script(status=404, body=b"no"))
        if script.delay:
            await anyio.sleep(script.delay)
        out = {"connection": "close", **{k.lower(): v for k, v in script.headers.items()}}
        if "content-length" not in out and not script.chunks:
            out["content-length"] = str(len(script.body))
        text = f"HTTP/1.1 {script.status} X\r\n" + "".join(f"{k}: {v}\r\n" for k, v in out.items())
        try:
            await stream.send(text.encode("latin-1") + b"\r\n" + script.body)
            listener.bytes_sent += len(script.body)
            for _ in range(script.chunks):
                await stream.send(script.chunk)
                listener.bytes_sent += len(script.chunk)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            return


@asynccontextmanager
async def listening(
    routes: dict[str, Script] | None = None, *, host: str = "127.0.0.1"
) -> AsyncIterator[Listener]:
    """A listener on ``host`` (loopback; a free port) for the duration of the block."""
    server = await anyio.create_tcp_listener(local_host=host, local_port=0)
    port = server.extra(anyio.abc.SocketAttribute.local_port)  # noqa: S610 - not Django
    listener = Listener(port, dict(routes or {}))
    async with server, anyio.create_task_group() as group:

        async def handler(stream: anyio.abc.SocketStream) -> None:
            await _serve(listener, stream)

        group.start_soon(server.serve, handler)
        try:
            yield listener
        finally:
            group.cancel_scope.cancel()


class LoopbackOnly(httpx.AsyncBaseTransport):
    """A real HTTP transport that dials loopback addresses only: any other destination is
    recorded in ``refused`` and fails as a connection error without a packet sent, so a
    fetcher that regresses can never reach a private or public address from a test."""

    def __init__(self) -> None:
        self.inner: httpx.AsyncHTTPTransport | None = None
        self.refused: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        if host not in ("127.0.0.1", "::1"):
            self.refused.append(host)
            raise httpx.ConnectError(f"the test transport dials loopback only, not {host}")
        if self.inner is None:  # a pool per client: each closes its own on leaving
            self.inner = httpx.AsyncHTTPTransport()
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        if self.inner is not None:
            inner, self.inner = self.inner, None
            await inner.aclose()
