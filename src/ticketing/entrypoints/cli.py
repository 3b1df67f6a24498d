"""The `ticketing` command: serve, worker, sandbox and the admin commands."""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import anyio

from ticketing import __version__
from ticketing.domain.errors import (
    ConfigurationError,
    HelpdeskAuthError,
    HelpdeskError,
    HelpdeskUnavailable,
    StoreUnavailable,
    TicketingError,
    ValidationError,
)

if TYPE_CHECKING:
    from ticketing.container import Container, Services

log = logging.getLogger("ticketing")

# Exit codes scripts can rely on.
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2  # bad arguments or configuration
EXIT_AUTH = 3  # Zoho credentials need an operator
EXIT_UNAVAILABLE = 4  # Zoho unreachable / throttling
EXIT_STORE = 5  # Redis unreachable
EXIT_PENDING = 6  # queue process finished with tickets still pending


def exit_code_for(exc: TicketingError) -> int:
    """The one mapping from service errors to exit codes."""
    if isinstance(exc, (ConfigurationError, ValidationError)):
        return EXIT_USAGE
    if isinstance(exc, HelpdeskAuthError):
        return EXIT_AUTH
    if isinstance(exc, HelpdeskUnavailable):
        return EXIT_UNAVAILABLE
    if isinstance(exc, StoreUnavailable):
        return EXIT_STORE
    if isinstance(exc, HelpdeskError):
        return EXIT_ERROR
    return EXIT_ERROR


def configure_logging(level: str = "info", settings: Any = None) -> None:
    """One redacting handler on stderr: JSON in production (LOG_FORMAT=auto), text otherwise.

    With ``settings`` (a loaded ``Settings``) its level, format and secret values are used.
    """
    from ticketing.entrypoints.logs import install

    if settings is None:
        install(level=level)
        return
    install(
        level=settings.log_level,
        fmt=settings.log_format,
        environment=settings.environment,
        secrets=settings.secrets(),
    )


def build_container() -> Container:
    from ticketing.container import Container
    from ticketing.settings import Settings

    container = Container()
    container.settings.override(Settings.load())
    return container


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


# --- commands ---------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from ticketing.entrypoints.http.app import create_app

    container = build_container()
    settings = container.settings()
    app = create_app(container, drain=not args.no_drain, consumer=not args.no_consumer)
    host = args.host or settings.host
    port = args.port or settings.port

    @app.on_startup.append
    async def _announce(app_: Any) -> None:
        describe_start(app_.state.services)
        log.info("listening on http://%s:%d (OpenAPI at /schema)", host, port)

    config = uvicorn.Config(
        app, host=host, port=port, log_config=None, access_log=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    server.run()
    return EXIT_OK if server.started else EXIT_ERROR


def cmd_worker(args: argparse.Namespace) -> int:
    from ticketing.entrypoints.background import run_background

    container = build_container()

    async def main() -> None:
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
                    from ticketing.entrypoints.http.ops import serve_ops

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

    anyio.run(main)
    return EXIT_OK


def cmd_sandbox(argv: Sequence[str]) -> int:
    """`ticketing sandbox ...` hands every option to the emulator's own parser."""
    from ticketing.adapters.zoho_desk.emulator import main as emulator_main

    return int(emulator_main(list(argv)) or 0)


def with_services(
    body: Callable[[Services, argparse.Namespace], Awaitable[int]],
) -> Callable[[argparse.Namespace], int]:
    """Run an admin command against the container's use cases, then close everything."""

    def run(args: argparse.Namespace) -> int:
        container = build_container()

        async def main() -> int:
            from ticketing.container import start, stop

            try:
                services = await start(container)
                return await body(services, args)
            finally:
                with anyio.CancelScope(shield=True):
                    await stop(container)

        return anyio.run(main)

    return run


def emit(args: argparse.Namespace, data: Any, table: Callable[[], str]) -> None:
    if getattr(args, "json", False):
        print(json.dumps(data, indent=2, default=str))
    else:
        print(table())


def render_table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


async def _departments(services: Services, args: argparse.Namespace) -> int:
    departments = await services.departments()
    data = [
        {"id": d.id, "name": d.name, "is_default": d.is_default, "is_enabled": d.is_enabled}
        for d in departments
    ]
    emit(
        args,
        data,
        lambda: render_table(
            [(d.id, d.name, "yes" if d.is_default else "") for d in departments],
            ["ID", "NAME", "DEFAULT"],
        ),
    )
    return EXIT_OK


async def _queue_status(services: Services, args: argparse.Namespace) -> int:
    figures = await services.queue_status(dead_limit=0)
    emit(
        args,
        {"pending": figures.pending, "dead": figures.dead},
        lambda: f"pending: {figures.pending}\ndead letters: {figures.dead}",
    )
    return EXIT_OK


def _progress_printer(args: argparse.Namespace, total: int) -> Callable[[Any], None]:
    interactive = sys.stderr.isatty() and not getattr(args, "json", False)

    def show(report: Any) -> None:
        done = report.processed
        if interactive:
            width = 30
            filled = int(width * min(done, total) / total) if total else width
            bar = "#" * filled + "." * (width - filled)
            sys.stderr.write(
                f"\r[{bar}] {done}/{total} processed, {report.created} created, "
                f"{report.failed} failed, {report.dead} dead"
            )
            sys.stderr.flush()
        elif not getattr(args, "json", False):
            print(
                f"progress: {done}/{total} processed, {report.created} created",
                file=sys.stderr,
            )

    return show


async def _queue_process(services: Services, args: argparse.Namespace) -> int:
    total = await services.store.pending_count()
    report = await services.drain(limit=args.limit, progress=_progress_printer(args, total))
    if sys.stderr.isatty() and not args.json:
        sys.stderr.write("\n")
    data = {
        "processed": report.processed,
        "created": report.created,
        "failed": report.failed,
        "dead": report.dead,
        "remaining": report.remaining,
        "errors": report.errors,
    }
    emit(
        args,
        data,
        lambda: "\n".join(
            [
                f"processed: {report.processed}",
                f"created: {report.created}",
                f"failed: {report.failed}",
                f"dead: {report.dead}",
                f"remaining: {report.remaining}",
                *(f"  {e}" for e in report.errors),
            ]
        ),
    )
    return EXIT_PENDING if report.failed else EXIT_OK


async def _queue_dead(services: Services, args: argparse.Namespace) -> int:
    letters = await services.store.list_dead(args.limit)
    data = [
        {
            "entry_id": d.entry_id,
            "key": d.key,
            "reason": d.reason,
            "failed_at": d.failed_at.isoformat(),
            "origin": d.origin,
            "payload": d.payload,
        }
        for d in letters
    ]
    emit(
        args,
        data,
        lambda: (
            render_table(
                [
                    (
                        d.entry_id,
                        d.key or "-",
                        d.failed_at.isoformat(timespec="seconds"),
                        d.reason[:80],
                    )
                    for d in letters
                ],
                ["ENTRY", "KEY", "FAILED AT", "REASON"],
            )
            if letters
            else "no dead letters"
        ),
    )
    return EXIT_OK


async def _queue_replay(services: Services, args: argparse.Namespace) -> int:
    ids = args.entry_ids or None
    if not ids and not args.all:
        raise ValidationError(
            "entry_ids", "name the dead-letter entry ids to replay, or pass --all"
        )
    moved = await services.replay(ids)
    emit(args, {"replayed": moved}, lambda: f"replayed {moved} dead letter(s) onto the queue")
    return EXIT_OK


async def _auth_url(services: Services, args: argparse.Namespace) -> int:
    url, state = services.auth_url()
    emit(args, {"auth_url": url, "state": state}, lambda: url)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ticketing",
        description="Customer messages in, Zoho Desk tickets out, exactly once.",
    )
    parser.add_argument("--version", action="version", version=f"ticketing {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = sub.add_parser("serve", help="HTTP API + queue drain + Redis consumer")
    serve.add_argument("--host", default=None, help="bind address (default: HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port (default: PORT or 8005)")
    serve.add_argument("--no-consumer", action="store_true", help="do not consume from Redis")
    serve.add_argument("--no-drain", action="store_true", help="do not drain the queue")
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("worker", help="Redis consumer + queue drain, no HTTP")
    worker.set_defaults(func=cmd_worker)

    sandbox = sub.add_parser(
        "sandbox",
        help="run the built-in Zoho Desk emulator on its own port (--help for its switches)",
        add_help=False,
    )
    sandbox.set_defaults(func=lambda _args: cmd_sandbox([]))

    deps = sub.add_parser("departments", help="list Zoho Desk departments")
    deps.add_argument("--json", action="store_true")
    deps.set_defaults(func=with_services(_departments))

    queue = sub.add_parser("queue", help="inspect and drain the pending queue")
    qsub = queue.add_subparsers(dest="queue_command", metavar="ACTION", required=True)
    q_status = qsub.add_parser("status", help="pending and dead-letter counts")
    q_status.add_argument("--json", action="store_true")
    q_status.set_defaults(func=with_services(_queue_status))
    q_process = qsub.add_parser("process", help="create the pending tickets now")
    q_process.add_argument("--limit", type=int, default=None)
    q_process.add_argument("--json", action="store_true")
    q_process.set_defaults(func=with_services(_queue_process))
    q_dead = qsub.add_parser("dead", help="list dead letters")
    q_dead.add_argument("--limit", type=int, default=50)
    q_dead.add_argument("--json", action="store_true")
    q_dead.set_defaults(func=with_services(_queue_dead))
    q_replay = qsub.add_parser("replay", help="put dead letters back on the queue")
    q_replay.add_argument("entry_ids", nargs="*")
    q_replay.add_argument("--all", action="store_true")
    q_replay.add_argument("--json", action="store_true")
    q_replay.set_defaults(func=with_services(_queue_replay))

    auth = sub.add_parser("auth", help="OAuth with Zoho")
    asub = auth.add_subparsers(dest="auth_command", metavar="ACTION", required=True)
    a_url = asub.add_parser("url", help="print an authorization URL")
    a_url.add_argument("--json", action="store_true")
    a_url.set_defaults(func=with_services(_auth_url))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["sandbox"]:
        return cmd_sandbox(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        from ticketing.settings import Settings

        loaded = None
        with contextlib.suppress(ConfigurationError):
            loaded = Settings.load()
        configure_logging(settings=loaded)
        return int(args.func(args))
    except TicketingError as exc:
        print(f"ticketing: {exc.message}", file=sys.stderr)
        return exit_code_for(exc)
    except KeyboardInterrupt:
        return 130
