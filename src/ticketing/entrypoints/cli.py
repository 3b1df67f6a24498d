"""The `ticketing` command: serve, worker, sandbox and the admin commands."""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NoReturn

import anyio

from ticketing import __version__
from ticketing.domain.errors import (
    ConfigurationError,
    HelpdeskAuthError,
    HelpdeskUnavailable,
    StoreUnavailable,
    TicketingError,
    ValidationError,
)

if TYPE_CHECKING:
    from ticketing.application.auth import AuthReport, Identity, SetupOutcome
    from ticketing.application.doctor import DoctorReport
    from ticketing.container import AdminServices, Container, Services

log = logging.getLogger("ticketing")

# Exit codes scripts can rely on.
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2  # bad arguments or configuration
EXIT_AUTH = 3  # Zoho credentials need an operator
EXIT_UNAVAILABLE = 4  # Zoho unreachable / throttling
EXIT_STORE = 5  # Redis unreachable
EXIT_PENDING = 6  # queue process finished with tickets still pending
EXIT_INTERRUPTED = 130  # Ctrl-C


def exit_code_for(exc: TicketingError) -> int:
    """The one mapping from service errors to exit codes."""
    if isinstance(exc, (ConfigurationError, ValidationError)):
        return EXIT_USAGE
    if isinstance(exc, HelpdeskAuthError):
        return EXIT_AUTH
    # Before HelpdeskUnavailable: a Zoho call that failed because the shared token store
    # (Redis) is down is Redis's fault (TokenStoreUnavailable is both).
    if isinstance(exc, StoreUnavailable):
        return EXIT_STORE
    if isinstance(exc, HelpdeskUnavailable):
        return EXIT_UNAVAILABLE
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


# --- long-running commands --------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from ticketing.entrypoints.http.app import create_app

    container = build_container()
    settings = container.settings()
    anyio.run(_refusals_before_listening, settings)
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


async def _stop_on_sigterm(
    scope: anyio.CancelScope, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
) -> None:
    """Cancel ``scope`` on SIGTERM: docker stop, systemd and Kubernetes ask with it, and the
    work in progress then stops the way Ctrl-C stops it (leases and Zoho call slots go back)."""
    with anyio.open_signal_receiver(signal.SIGTERM) as signals:
        task_status.started()
        async for _ in signals:
            log.info("SIGTERM: stopping")
            scope.cancel()
            return


def cmd_worker(args: argparse.Namespace) -> int:
    from ticketing.entrypoints.background import run_background

    container = build_container()

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

    async def main() -> None:
        failure: Exception | None = None
        async with anyio.create_task_group() as tg:
            await tg.start(_stop_on_sigterm, tg.cancel_scope)  # listening before start-up
            try:
                await work()
            except Exception as exc:  # raised as itself below, not in an exception group
                failure = exc
            tg.cancel_scope.cancel()
        if failure is not None:
            raise failure

    anyio.run(main)
    return EXIT_OK


def cmd_sandbox(argv: Sequence[str]) -> int:
    """`ticketing sandbox ...` hands every option to the emulator's own parser."""
    from zoho_desk_emulator import main as emulator_main

    return int(emulator_main(list(argv)) or 0)


# --- admin commands: the same use cases as the other entrypoints ----------------------


@dataclass(frozen=True)
class Admin:
    """What an admin command runs against: the services, the admin use cases, the container."""

    services: Services
    admin: AdminServices
    container: Container


AdminBody = Callable[[Admin, argparse.Namespace], Awaitable[int]]


async def run_admin(
    body: AdminBody, args: argparse.Namespace, container: Container | None = None
) -> int:
    """Build (or take) the container, start it, run the command, close everything."""
    from ticketing.container import admin_of, start, stop

    container = container or build_container()
    if getattr(args, "no_browser", False):
        from dependency_injector import providers

        from ticketing.adapters.browser import NoBrowser

        container.browser.override(providers.Object(NoBrowser()))
    try:
        services = await start(container)
        admin = await admin_of(container)
        return await body(Admin(services, admin, container), args)
    finally:
        with anyio.CancelScope(shield=True):
            await stop(container)


def with_services(
    body: Callable[[Services, argparse.Namespace], Awaitable[int]],
) -> AdminBody:
    """An admin command that needs only the services."""

    async def run(ctx: Admin, args: argparse.Namespace) -> int:
        return await body(ctx.services, args)

    return run


def emit(args: argparse.Namespace, data: Any, table: Callable[[], str]) -> None:
    if getattr(args, "json", False):
        print(json.dumps(data, indent=2, default=str))
    else:
        print(table())


def say(line: str = "") -> None:
    """Talk to the operator (progress, instructions): stderr, so stdout stays the result."""
    print(line, file=sys.stderr, flush=True)


def render_table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render_fields(rows: Sequence[tuple[str, Any]]) -> str:
    """``name  value`` lines, names aligned; a value with line breaks continues indented."""
    width = max((len(name) for name, _ in rows), default=0)
    lines = []
    for name, value in rows:
        text = "" if value is None else str(value)
        first, *rest = text.split("\n") or [""]
        lines.append(f"{name.ljust(width)}  {first}".rstrip())
        lines.extend(f"{' ' * width}  {more}" for more in rest)
    return "\n".join(lines)


def when(moment: datetime | None, now: datetime | None = None) -> str:
    """A time for people: UTC, and how far from now."""
    if moment is None:
        return "-"
    now = now or datetime.now(UTC)
    text = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    seconds = (moment - now).total_seconds()
    minutes = round(abs(seconds) / 60)
    span = f"{minutes} min" if minutes < 120 else f"{minutes / 60:.1f} h"
    return f"{text} (in {span})" if seconds >= 0 else f"{text} ({span} ago)"


class ProgressBar:
    """A progress bar on stderr: redrawn in place on a terminal, a line per tenth otherwise,
    nothing with ``--json``."""

    def __init__(self, args: argparse.Namespace, total: int, what: str) -> None:
        self.total = total
        self.what = what
        self.enabled = not getattr(args, "json", False)
        self.interactive = self.enabled and sys.stderr.isatty()
        self._shown = -1
        self._drawn = False

    def show(self, done: int, extra: str = "") -> None:
        if not self.enabled:
            return
        total = max(self.total, done)
        tenth = int(10 * done / total) if total else 10
        suffix = f", {extra}" if extra else ""
        if self.interactive:
            width = 30
            filled = int(width * done / total) if total else width
            bar = "#" * filled + "." * (width - filled)
            sys.stderr.write(f"\r[{bar}] {done}/{total} {self.what}{suffix}")
            sys.stderr.flush()
            self._drawn = True
        elif tenth != self._shown:
            self._shown = tenth
            say(f"{self.what}: {done}/{total}{suffix}")

    def close(self) -> None:
        if self._drawn:
            sys.stderr.write("\n")
            sys.stderr.flush()


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
        lambda: render_fields([("pending", figures.pending), ("dead letters", figures.dead)]),
    )
    return EXIT_OK


async def _queue_process(services: Services, args: argparse.Namespace) -> int:
    total = await services.store.pending_count()
    if args.limit is not None:
        total = min(total, args.limit)
    bar = ProgressBar(args, total, "processed")

    def progress(report: Any) -> None:
        bar.show(report.processed, f"{report.created} created, {report.failed} failed")

    try:
        report = await services.drain(limit=args.limit, progress=progress)
    finally:
        bar.close()
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
        lambda: render_fields(
            [
                ("processed", report.processed),
                ("created", report.created),
                ("failed", report.failed),
                ("dead", report.dead),
                ("remaining", report.remaining),
                *(("error", e) for e in report.errors),
            ]
        ),
    )
    return EXIT_PENDING if report.failed or report.remaining else EXIT_OK


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


REPLAY_BATCH = 100


async def _queue_replay(services: Services, args: argparse.Namespace) -> int:
    ids: list[str] = list(args.entry_ids)
    if not ids and not args.all:
        raise ValidationError(
            "entry_ids", "name the dead-letter entry ids to replay, or pass --all"
        )
    if args.all:
        total = await services.store.dead_count()
    else:
        total = len(ids)
    bar = ProgressBar(args, total, "replayed")
    moved = 0
    try:
        if args.all:
            # In batches, oldest first, so a long replay shows progress; stops when a batch
            # moves nothing (entries that keep failing to move cannot loop forever).
            while True:
                batch = [d.entry_id for d in await services.store.list_dead(REPLAY_BATCH)]
                if not batch:
                    break
                done = await services.replay(batch)
                moved += done
                bar.show(moved)
                if not done:
                    break
        else:
            for start in range(0, len(ids), REPLAY_BATCH):
                moved += await services.replay(ids[start : start + REPLAY_BATCH])
                bar.show(moved)
    finally:
        bar.close()
    emit(args, {"replayed": moved}, lambda: f"replayed {moved} dead letter(s) onto the queue")
    return EXIT_OK


async def _auth_url(services: Services, args: argparse.Namespace) -> int:
    url, state = services.auth_url()
    emit(args, {"auth_url": url, "state": state}, lambda: url)
    return EXIT_OK


def _identity_json(identity: Identity) -> dict[str, Any]:
    return {
        "agent": {
            "id": identity.agent.id,
            "name": identity.agent.name,
            "email": identity.agent.email,
        },
        "org_id": identity.org_id,
        "organizations": [
            {"id": o.id, "name": o.name, "is_default": o.is_default, "edition": o.edition}
            for o in identity.organizations
        ],
    }


def _identity_text(identity: Identity) -> str:
    agent = identity.agent
    who = agent.name or "(no name)"
    if agent.email:
        who += f" <{agent.email}>"
    rows = [
        (o.id, o.name, "yes" if o.is_default else "", "yes" if o.id == identity.org_id else "")
        for o in identity.organizations
    ]
    head = render_fields(
        [("agent", who), ("agent id", agent.id), ("org in use", identity.org_id or "-")]
    )
    return head + "\n\n" + render_table(rows, ["ORG ID", "NAME", "DEFAULT", "IN USE"])


async def _whoami(ctx: Admin, args: argparse.Namespace) -> int:
    identity = await ctx.admin.whoami()
    emit(args, _identity_json(identity), lambda: _identity_text(identity))
    return EXIT_OK


def _status_json(report: AuthReport) -> dict[str, Any]:
    token = report.token
    budget = token.budget
    return {
        "authorized": token.authorized,
        "store": token.store,
        "access_token_expires_at": (
            token.access_token_expires_at.isoformat() if token.access_token_expires_at else None
        ),
        "data_centre": token.data_centre,
        "accounts_url": token.accounts_url,
        "configured_data_centre": report.config.data_centre,
        "data_centre_mismatch": report.data_centre_mismatch,
        "scope": token.scope,
        "refresh_token_from_env": token.refresh_token_from_env,
        "authorization_code_pending": token.authorization_code_pending,
        "refresh_budget": (
            {
                "used": budget.used,
                "limit": budget.limit,
                "window_seconds": budget.window,
                "paused_until": budget.paused_until.isoformat() if budget.paused_until else None,
                "summary": budget.describe(),
            }
            if budget
            else None
        ),
        "mode": report.config.mode,
    }


def _status_text(report: AuthReport) -> str:
    token = report.token
    if token.authorized and report.config.sandbox:
        authorized = "yes (the emulator's sandbox token)"
    elif token.authorized:
        authorized = "yes" + (" (ZOHO_REFRESH_TOKEN)" if token.refresh_token_from_env else "")
    else:
        authorized = "no: run `ticketing auth setup`"
    rows: list[tuple[str, Any]] = [
        ("mode", report.config.mode),
        ("store", token.store),
        ("authorized", authorized),
        (
            "access token",
            f"valid until {when(token.access_token_expires_at)}"
            if token.access_token_expires_at
            else "none yet (one is fetched at the first Zoho call)",
        ),
        (
            "data centre",
            f"{token.data_centre or 'not a Zoho host'} (accounts {token.accounts_url}; "
            f"ZOHO_DC={report.config.data_centre})",
        ),
        ("scope", token.scope or report.config.scope),
        ("refresh budget", token.budget.describe() if token.budget else "-"),
    ]
    if report.data_centre_mismatch:
        rows.append(("warning", report.data_centre_mismatch))
    if token.authorization_code_pending:
        rows.append(("note", "ZOHO_AUTHORIZATION_CODE is set and not exchanged yet"))
    return render_fields(rows)


async def _auth_status(ctx: Admin, args: argparse.Namespace) -> int:
    report = await ctx.admin.auth_status()
    emit(args, _status_json(report), lambda: _status_text(report))
    if not report.token.authorized:
        raise HelpdeskAuthError(
            f"no Zoho refresh token in {report.token.store}: run `ticketing auth setup`"
        )
    return EXIT_OK


async def _auth_resume(ctx: Admin, args: argparse.Namespace) -> int:
    outcome = await ctx.admin.resume_refreshes()
    data = {"lifted": outcome.lifted, "was": outcome.before.describe(), "store": outcome.store}
    emit(args, data, outcome.describe)
    return EXIT_OK


def _setup_json(outcome: SetupOutcome) -> dict[str, Any]:
    return {
        "authorized": True,
        **_identity_json(outcome.identity),
        "data_centre": outcome.data_centre,
        "accounts_server": outcome.accounts_server,
        "store": outcome.store,
        "browser_opened": outcome.browser_opened,
        "notes": list(outcome.notes),
    }


def _setup_text(outcome: SetupOutcome) -> str:
    lines = [
        f"Authorized: tokens stored in {outcome.store}.",
        f"Data centre {outcome.data_centre or '?'} (accounts server {outcome.accounts_server}).",
        "",
        _identity_text(outcome.identity),
    ]
    lines += [f"\nnote: {note}" for note in outcome.notes]
    return "\n".join(lines)


async def _auth_setup(ctx: Admin, args: argparse.Namespace) -> int:
    config = ctx.admin.config
    port_hint = config.redirect_uri.split("//", 1)[-1].split("/", 1)[0].rsplit(":", 1)[-1]

    def on_url(url: str) -> None:
        say(f"Listening for Zoho's redirect on {config.redirect_uri}")
        say("Open this URL, sign in to Zoho as the Desk agent the service should act as, and")
        say("accept (the code it sends back lives about 2 minutes):")
        say()
        say(f"  {url}")
        say()

    def on_browser(opened: bool) -> None:
        if opened:
            say("Opened it in your browser.")
        else:
            say(
                "No browser here: open the URL above yourself. From another machine, forward "
                f"the port first: ssh -L {port_hint}:localhost:{port_hint} <this host>"
            )
        say(f"Waiting up to {args.timeout:g}s for the redirect... (Ctrl-C to stop)")

    outcome = await ctx.admin.setup_auth(wait=args.timeout, on_url=on_url, on_browser=on_browser)
    emit(args, _setup_json(outcome), lambda: _setup_text(outcome))
    return EXIT_OK


STATUS_LABEL = {"ok": "OK", "warn": "WARN", "fail": "FAIL", "skip": "SKIP"}


def _doctor_text(report: DoctorReport) -> str:
    width = max(len(c.name) for c in report.checks)
    lines = []
    for check in report.checks:
        label = STATUS_LABEL.get(check.status, check.status.upper())
        lines.append(f"{label:<5} {check.name.ljust(width)}  {check.detail}")
        if check.fix and check.status in ("fail", "warn"):
            lines.append(f"{'':<5} {''.ljust(width)}  fix: {check.fix}")
    failed = sum(c.status == "fail" for c in report.checks)
    warned = sum(c.status == "warn" for c in report.checks)
    summary = f"{failed} check(s) failed" if failed else "all checks passed"
    if warned:
        summary += f", {warned} warning(s)"
    return "\n".join([*lines, "", summary])


def _doctor_json(report: DoctorReport) -> dict[str, Any]:
    return {
        "ok": report.ok,
        "checks": [
            {"name": c.name, "status": c.status, "detail": c.detail, "fix": c.fix}
            for c in report.checks
        ],
    }


def _doctor_result(args: argparse.Namespace, report: DoctorReport) -> int:
    """Print the report; the exit code is the first failed check's."""
    emit(args, _doctor_json(report), lambda: _doctor_text(report))
    failure = report.first_failure
    if failure is None:
        return EXIT_OK
    return exit_code_for(failure.error) if failure.error is not None else EXIT_ERROR


async def _doctor(ctx: Admin, args: argparse.Namespace) -> int:
    return _doctor_result(args, await ctx.admin.doctor())


async def run_doctor(args: argparse.Namespace, container: Container | None = None) -> int:
    """``doctor`` reports a configuration that cannot even be loaded as its first check."""
    from ticketing.application.doctor import configuration_failed

    try:
        container = container or build_container()
        return await run_admin(_doctor, args, container)
    except ConfigurationError as exc:
        return _doctor_result(args, configuration_failed(exc))


# --- the parser and the entry point ----------------------------------------------------


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (the contract: a one-line reason on stderr)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"ticketing: {message} (see `{self.prog} --help`)\n")


def _admin(parser: argparse.ArgumentParser, body: AdminBody) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(admin=body)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="ticketing",
        description="Customer messages in, Zoho Desk tickets out, exactly once.",
        epilog=(
            "Exit codes: 0 ok, 1 error, 2 bad arguments or configuration, 3 Zoho credentials "
            "need an operator, 4 Zoho unreachable or throttling, 5 Redis unreachable, "
            "6 queue left pending, 130 interrupted."
        ),
    )
    parser.add_argument("--version", action="version", version=f"ticketing {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

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

    auth = sub.add_parser("auth", help="OAuth with Zoho: setup, url, status, resume")
    asub = auth.add_subparsers(
        dest="auth_command", metavar="ACTION", required=True, parser_class=Parser
    )
    a_setup = asub.add_parser(
        "setup",
        help="one-time consent: local callback server, browser, code exchange, tokens stored",
    )
    a_setup.add_argument(
        "--timeout", type=float, default=300.0, help="seconds to wait for the consent (300)"
    )
    a_setup.add_argument(
        "--no-browser", action="store_true", help="only print the URL, never open a browser"
    )
    _admin(a_setup, _auth_setup)
    _admin(asub.add_parser("url", help="print an authorization URL"), with_services(_auth_url))
    _admin(
        asub.add_parser("status", help="where the tokens are, expiry, data centre, budget"),
        _auth_status,
    )
    _admin(
        asub.add_parser(
            "resume",
            help="lift a token refresh pause (budget, Zoho's throttle, back-off) for the fleet",
            description=(
                "Lift every pause on refreshing the Zoho access token, for every instance "
                "sharing the Redis token store. Exit codes: 0 lifted (or nothing was paused), "
                "2 tokens are not shared (ZOHO_TOKEN_STORE=file: restart instead), 3 no "
                "refresh token, 5 Redis unreachable."
            ),
        ),
        _auth_resume,
    )

    _admin(sub.add_parser("whoami", help="the agent behind the token and the org ids"), _whoami)
    _admin(
        sub.add_parser("departments", help="list Zoho Desk departments"),
        with_services(_departments),
    )

    queue = sub.add_parser("queue", help="inspect and drain the pending queue")
    qsub = queue.add_subparsers(
        dest="queue_command", metavar="ACTION", required=True, parser_class=Parser
    )
    _admin(
        qsub.add_parser("status", help="pending and dead-letter counts"),
        with_services(_queue_status),
    )
    q_process = qsub.add_parser("process", help="create the pending tickets now")
    q_process.add_argument("--limit", type=int, default=None, help="at most this many")
    _admin(q_process, with_services(_queue_process))
    q_dead = qsub.add_parser("dead", help="list dead letters")
    q_dead.add_argument("--limit", type=int, default=50)
    _admin(q_dead, with_services(_queue_dead))
    q_replay = qsub.add_parser("replay", help="put dead letters back on the queue")
    q_replay.add_argument("entry_ids", nargs="*", help="dead-letter entry ids")
    q_replay.add_argument("--all", action="store_true", help="every dead letter")
    _admin(q_replay, with_services(_queue_replay))

    doctor = sub.add_parser(
        "doctor",
        help="check configuration, data centre, token, scopes, org, department and Redis",
    )
    _admin(doctor, _doctor)
    doctor.set_defaults(doctor=True)  # dispatched through run_doctor
    return parser


def _parse(argv: Sequence[str]) -> argparse.Namespace | int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error already printed
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if not getattr(args, "func", None) and not getattr(args, "admin", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    return args


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _fail(exc: BaseException) -> int:
    """The one place an error becomes a line on stderr and an exit code."""
    if isinstance(exc, TicketingError):
        print(f"ticketing: {_one_line(exc.message)}", file=sys.stderr)
        return exit_code_for(exc)
    if isinstance(exc, KeyboardInterrupt):
        print("ticketing: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    log.debug("unexpected error", exc_info=exc)
    detail = _one_line(str(exc))[:200]
    print(
        f"ticketing: unexpected {type(exc).__name__}{': ' + detail if detail else ''} "
        "(LOG_LEVEL=debug shows the traceback)",
        file=sys.stderr,
    )
    return EXIT_ERROR


async def _dispatch(args: argparse.Namespace, container: Container | None) -> int:
    if getattr(args, "doctor", False):
        return await run_doctor(args, container)
    return await run_admin(args.admin, args, container)


async def run(argv: Sequence[str], *, container: Container | None = None) -> int:
    """Run one admin command on the running event loop, exactly as :func:`main` would
    (errors become one line and an exit code); ``container`` replaces the one built from
    the settings (tests)."""
    args = _parse(argv)
    if isinstance(args, int):
        return args
    if not getattr(args, "admin", None):
        raise ValueError(f"{args.command} is not an admin command")
    try:
        return await _dispatch(args, container)
    except Exception as exc:
        return _fail(exc)


def _run_quietly(args: argparse.Namespace, *, verbose: bool) -> int:
    """An admin command's output is its result: only warnings besides it (unless
    LOG_LEVEL=debug); the logger's level is restored afterwards."""
    logger = logging.getLogger("ticketing")
    previous = logger.level
    if not verbose:
        logger.setLevel(logging.WARNING)
    try:
        return anyio.run(_dispatch, args, None)
    finally:
        logger.setLevel(previous)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["sandbox"]:
        try:
            return cmd_sandbox(argv[1:])
        except SystemExit as exc:  # the emulator's own parser: --help, or a bad option
            return exc.code if isinstance(exc.code, int) else EXIT_USAGE
        except KeyboardInterrupt as exc:
            return _fail(exc)
    args = _parse(argv)
    if isinstance(args, int):
        return args
    try:
        from ticketing.settings import Settings

        loaded = None
        with contextlib.suppress(ConfigurationError):
            loaded = Settings.load()
        configure_logging(settings=loaded)
        if getattr(args, "admin", None):
            return _run_quietly(args, verbose=loaded is not None and loaded.log_level == "debug")
        return int(args.func(args))
    except (Exception, KeyboardInterrupt) as exc:
        return _fail(exc)
