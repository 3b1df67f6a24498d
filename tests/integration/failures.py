"""Fault tools for the failure-path tests: the emulator served over a real socket (so timeouts
and refused connections are real), a Redis server that can be stopped and started again, an
ASGI wrapper that fails the transport, and a helpdesk that "crashes" after Zoho answered."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import redis
import uvicorn

from ticketing.domain.model import Ticket, TicketRequest
from zoho_desk_emulator import EmulatorState, create_emulator_app


@contextlib.contextmanager
def served_emulator(state: EmulatorState, port: int) -> Iterator[str]:
    """Serve the emulator's ``state`` with uvicorn on ``port``, in a thread of its own (the
    HTTP test client blocks the test's event loop while the app answers); the same state can
    be served again on the same port after this exits, as Zoho coming back."""
    config = uvicorn.Config(
        create_emulator_app(state),
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
        lifespan="off",
        date_header=False,  # the emulator sends Zoho's own Date (its clock may be skewed)
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"emulator-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the emulator did not start on port {port}")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


class TransportFaults:
    """An ASGI wrapper around the emulator that fails the next requests to a path the way a
    network does: the exception reaches the HTTP client as it would from a socket. With
    ``after=True`` the request is served first (Zoho did the work) and the answer is lost."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._next: dict[tuple[str, str], list[tuple[type[httpx.TransportError], bool]]] = {}

    def fail(
        self, method: str, path: str, error: type[httpx.TransportError], *, after: bool = False
    ) -> None:
        self._next.setdefault((method, path), []).append((error, after))

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        queue = self._next.get((scope.get("method", ""), scope.get("path", "")))
        if scope["type"] != "http" or not queue:
            await self.app(scope, receive, send)
            return
        error, after = queue.pop(0)
        if after:

            async def swallow(message: Any) -> None:
                return None

            await self.app(scope, receive, swallow)
        raise error(f"injected {error.__name__}")


class Crash(BaseException):
    """The process died here (not an error anyone handles)."""


class CrashAfterCreate:
    """Wraps a helpdesk: ``create_ticket`` reaches Zoho, then the process "dies" before it
    can record the answer (the next ``crashes`` calls)."""

    def __init__(self, inner: Any, crashes: int = 1) -> None:
        self._inner = inner
        self.crashes = crashes
        self.created: list[Ticket] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def create_ticket(self, request: TicketRequest) -> Ticket:
        ticket: Ticket = await self._inner.create_ticket(request)
        if self.crashes > 0:
            self.crashes -= 1
            self.created.append(ticket)
            raise Crash(f"killed after Zoho created ticket {ticket.id}")
        return ticket


REDIS_SERVER = shutil.which("redis-server")


class RedisServer:
    """A redis-server of the test's own on a free port, to stop and start at will.

    With ``aof`` the data lives in an append-only file fsynced on every write, as the README
    asks of production, so a restart (even after SIGKILL) brings back everything accepted.
    """

    def __init__(
        self, port: int, directory: Path, *, aof: bool = False, extra: Sequence[str] = ()
    ) -> None:
        self.port = port
        self._extra = tuple(extra)
        self.url = f"redis://127.0.0.1:{port}/0"
        self._dir = directory
        self._aof = aof
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert REDIS_SERVER is not None
        persistence = (
            ["--appendonly", "yes", "--appendfsync", "always"]
            if self._aof
            else [
                "--appendonly",
                "no",
            ]
        )
        self._process = subprocess.Popen(  # noqa: S603 - the machine's redis-server, fixed args
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                *persistence,
                "--dir",
                str(self._dir),
                "--daemonize",
                "no",
                *self._extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2, socket_timeout=0.5)
        try:
            while True:
                try:
                    if client.ping():
                        return
                except redis.RedisError:
                    pass
                if self._process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start on port {self.port}")
                time.sleep(0.02)
        finally:
            client.close()

    def kill(self) -> None:
        """Stop at once, as a crash or a lost machine would (SIGKILL)."""
        if self._process is not None:
            self._process.kill()
            self._process.wait(timeout=10)
            self._process = None

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None


@contextlib.contextmanager
def redis_server(
    port: int, directory: Path, *, aof: bool = False, extra: Sequence[str] = ()
) -> Iterator[RedisServer]:
    """A RedisServer (not started yet) that is always stopped at the end; ``extra`` are more
    redis-server arguments."""
    server = RedisServer(port, directory, aof=aof, extra=extra)
    try:
        yield server
    finally:
        server.kill()
