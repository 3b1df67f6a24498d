"""The long-running processes: `serve` (HTTP), `worker` (no HTTP) and `sandbox` (the emulator),
with their start-up banner, start-up refusals and SIGTERM handling."""

from __future__ import annotations

import argparse
import contextlib
import errno
import functools
import logging
import signal
import socket
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import anyio

from ticketing.domain.errors import ConfigurationError, TicketingError
from ticketing.entrypoints.cli.boot import build_container
from ticketing.entrypoints.cli.errors import EXIT_ERROR, EXIT_OK

if TYPE_CHECKING:
    from ticketing.container import Services

log = logging.getLogger("ticketing")


def describe_start(services: Services) -> None:
    settings = services.settings
    if services.mode == "sandbox":
        where = settings.zoho_desk_url or "the built-in Zoho Desk emulator, in-process"
        log.warning(
            "SANDBOX MODE: no ZOHO_CLIENT_ID/ZOHO_CLIENT_SECRET, tickets go to %s; "
            "nothing reaches a real Zoho Desk",
            where,
        )
    else:
        log.info(
            "Zoho Desk at %s (accounts %s)",
            services.settings.zoho_desk_url or "DC " + settings.zoho_dc,
            settings.zoho_accounts_url or settings.zoho_dc,
        )
    if not settings.redis_url:
        log.warning(
            "no REDIS_URL: the queue and idempotency ledger live in this process; "
            "nothing survives a restart"
        )
    if not settings.api_keys:
        log.warning("no API_KEYS: the HTTP API is open to anyone who can reach it")


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from ticketing.container import show_emulator_pages_at
    from ticketing.entrypoints.http.app import create_app

    container = build_container()
    settings = container.settings()
    host = args.host or settings.host
    port = args.port or settings.port
    # Bound before anything starts or says "listening": a busy port or a bad HOST is one line
    # and exit 2 (uvicorn binding after the app's start-up logged "listening", then exited 3,
    # the code of Zoho credentials).
    sockets = bind(host, port, fix="choose another --port (or PORT), or stop what holds it")
    try:
        anyio.run(_refusals_before_listening, settings)
        app = create_app(container, drain=not args.no_drain, consumer=not args.no_consumer)
        # The in-process emulator is reachable only through this server: its tickets'
        # web_url must name this address, where the app serves their pages.
        pages = show_emulator_pages_at(container.emulator_state(), url_of(browsable(host), port))

        @app.on_startup.append
        async def _announce(app_: Any) -> None:
            describe_start(app_.state.services)
            log.info(
                "listening on %s (API docs at /schema, the console at /console)", url_of(host, port)
            )
            if pages:
                log.info("the sandbox's tickets, one page each (their web_url): %s", pages)

        config = uvicorn.Config(
            app, host=host, port=port, log_config=None, access_log=False, lifespan="on"
        )
        server = uvicorn.Server(config)
        try:
            server.run(sockets=sockets)
        except SystemExit as exc:
            # uvicorn's "startup failed" is exit 3, the code of Zoho credentials here: the
            # start-up's failure is in the log above, and this is exit 1.
            if exc.code != _UVICORN_STARTUP_FAILURE:
                raise
            raise StartupFailed(
                "the service did not start: its start-up failed (the log above says why)"
            ) from None
    finally:
        for sock in sockets:
            sock.close()
    return EXIT_OK if server.started else EXIT_ERROR


_UVICORN_STARTUP_FAILURE = 3  # uvicorn.server.STARTUP_FAILURE


class StartupFailed(TicketingError):
    """The server's start-up (its lifespan) failed; uvicorn logged why."""


def browsable(host: str) -> str:
    """The host to put in a link to a server bound to ``host``: a wildcard address (every
    interface) is no place to browse to, so ``localhost`` stands in for it."""
    return "localhost" if host in ("", "0.0.0.0", "::") else host  # noqa: S104 - compared


def url_of(host: str, port: int) -> str:
    """``http://host:port``, an IPv6 address in brackets."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def bind(host: str, port: int, *, fix: str) -> list[socket.socket]:
    """Sockets bound to every address ``host`` names on ``port`` (not listening yet: the
    server listens once it is ready, so nothing connects to a service still starting).

    Raises:
        ConfigurationError: the host does not resolve or is not this machine's, or the port
            is taken or not allowed; one line naming the address and what to do.
    """
    where = f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, socket.gaierror) else str(exc)
        raise ConfigurationError(
            f"cannot listen on {host!r} port {port}: not an address or a name this machine "
            f"resolves ({reason}); set HOST (or --host) to e.g. 127.0.0.1 or 0.0.0.0"
        ) from None
    except OverflowError:
        raise ConfigurationError(f"cannot listen on {where}: a port is 1 to 65535") from None
    sockets: list[socket.socket] = []
    seen: set[tuple[int, Any]] = set()
    unavailable: OSError | None = None
    try:
        for family, kind, proto, _, address in found:
            if (family, address) in seen:
                continue
            seen.add((family, address))
            sock = socket.socket(family, kind, proto)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
            if family == socket.AF_INET6 and len(found) > 1:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                sock.close()
                # As asyncio does: an address the machine lacks (IPv6 off, for localhost's
                # ::1) is left out while another of the name's addresses can be bound.
                if exc.errno != errno.EADDRNOTAVAIL:
                    raise
                unavailable = exc
                continue
            sockets.append(sock)
        if not sockets and unavailable is not None:
            raise unavailable
    except OSError as exc:
        for sock in sockets:
            sock.close()
        raise ConfigurationError(f"cannot listen on {where}: {_bind_problem(exc, fix)}") from None
    return sockets


def _bind_problem(exc: OSError, fix: str) -> str:
    if exc.errno == errno.EADDRINUSE:
        return f"the address is already in use (another process listens there); {fix}"
    if exc.errno == errno.EADDRNOTAVAIL:
        return "that address is not one of this machine's; set HOST (or --host) to one of them"
    if exc.errno == errno.EACCES:
        return f"permission denied (a port under 1024 needs privileges); {fix}"
    return f"{exc.strerror or exc}; {fix}"


async def _refusals_before_listening(settings: Any) -> None:
    """A refusal to start (another deployment reads this one's streams) said as one line
    before the server starts: raised inside the server's lifespan it would come out as a
    traceback. The lifespan checks again (Redis may only answer then)."""
    from redis.exceptions import RedisError

    from ticketing.container import check_streams, open_redis_client

    async with contextlib.asynccontextmanager(open_redis_client)(settings) as redis:
        if redis is not None:
            with contextlib.suppress(RedisError, OSError):
                await check_streams(redis, settings, warn_legacy=False)


class _Stop:
    """The stop signal the worker got, if any (SIGINT makes its exit a Ctrl-C's)."""

    signal: signal.Signals | None = None


async def _stop_on_signals(
    scope: anyio.CancelScope,
    stop: _Stop,
    *,
    task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Cancel ``scope`` on SIGTERM (docker stop, systemd, Kubernetes) or SIGINT (Ctrl-C): the
    work in progress stops, leases and Zoho call slots go back.

    Both arrive through the event loop, from before start-up on. SIGINT is not left to
    asyncio's default (a native cancel of the main task): anyio and the container's resources
    do not always see such a cancel for what it is, and a worker could go on running after
    Ctrl-C. The receiver closes after the first signal, so a second Ctrl-C interrupts at once.
    """
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        task_status.started()
        async for signum in signals:
            stop.signal = signal.Signals(signum)
            log.info("%s: stopping", stop.signal.name)
            scope.cancel()
            return


def worker(args: argparse.Namespace) -> int:
    from ticketing.entrypoints.background import run_background

    container = build_container()
    stop_signal = _Stop()

    async def work() -> None:
        from ticketing.container import redis_of, start, stop

        try:
            services = await start(container)
            describe_start(services)
            if await redis_of(container) is None:
                log.warning(
                    "worker without REDIS_URL has no queue to share; draining in-process only"
                )
            async with anyio.create_task_group() as tg:
                await run_background(tg, container, services, drain=True, consumer=True)
                if services.settings.metrics_port:  # /metrics and the probes, no API
                    from ticketing.entrypoints.http.app import serve_ops

                    ops = functools.partial(
                        serve_ops,
                        services,
                        host=services.settings.host,
                        port=services.settings.metrics_port,
                    )
                    tg.start_soon(ops)
        finally:
            with anyio.CancelScope(shield=True):
                await stop(container)

    async def main() -> None:
        failure: Exception | None = None
        async with anyio.create_task_group() as tg:
            # Listening before start-up: a signal during it stops the start-up too.
            await tg.start(_stop_on_signals, tg.cancel_scope, stop_signal)
            try:
                await work()
            except Exception as exc:  # raised as itself below, not in an exception group
                failure = exc
            tg.cancel_scope.cancel()
        if failure is not None:
            raise failure

    anyio.run(main)
    if stop_signal.signal is signal.SIGINT:
        raise KeyboardInterrupt  # exits as Ctrl-C does everywhere else (status 130)
    return EXIT_OK


def sandbox(argv: Sequence[str]) -> int:
    """`ticketing sandbox ...` hands every option to the emulator's own parser."""
    from zoho_desk_emulator import main as emulator_main

    return int(emulator_main(list(argv), prog="ticketing sandbox") or 0)
