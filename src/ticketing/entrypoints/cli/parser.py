"""The argparse tree: every command, its options, and the body or process it runs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from ticketing import __version__
from ticketing.domain.model import is_entry_id
from ticketing.entrypoints.cli import supervise
from ticketing.entrypoints.cli.admin import AdminBody, with_services
from ticketing.entrypoints.cli.commands import auth, desk, doctor, queue, story, webhooks
from ticketing.entrypoints.cli.errors import EXIT_USAGE


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (the contract: a one-line reason on stderr)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"ticketing: {message} (see `{self.prog} --help`)\n")


def _count(text: str) -> int:
    """A whole number of 1 or more (a ``--limit``), checked here rather than by Redis."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected 1 or more, got {value}")
    return value


def _port(text: str) -> int:
    """A TCP port, 1 to 65535, checked here rather than when binding."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 1 to 65535, got {value}")
    return value


def _entry_id(text: str) -> str:
    """A dead-letter entry id as `queue dead` shows it (a Redis stream id, ``<ms>-<seq>``),
    checked here: Redis would refuse a malformed one as a failure of its own (exit 5)."""
    if not is_entry_id(text.strip()):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a dead-letter entry id (like 1733250000000-0, "
            "as `ticketing queue dead` lists them)"
        )
    return text.strip()


def _reason(text: str) -> str:
    """A piece of a dead letter's reason to filter on: some visible text."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected some text of a dead letter's reason")
    return text.strip()


_JSON_HELP = "machine-readable output (before or after the command)"


def _json(parser: argparse.ArgumentParser) -> None:
    """``--json`` on a command or a group of them (`queue --json status` too). SUPPRESS: left
    out here, the top-level one (before the command) stands; a default would overwrite it."""
    parser.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help=_JSON_HELP)


def _admin(parser: argparse.ArgumentParser, body: AdminBody) -> None:
    _json(parser)
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
    parser.add_argument(
        "--json",
        action="store_true",
        help="machine-readable output of an admin command (also after the command)",
    )
    sub = parser.add_subparsers(
        dest="command",
        metavar="COMMAND",
        parser_class=Parser,
        help="one of these (`ticketing COMMAND --help` for its options):",
    )

    serve = sub.add_parser("serve", help="HTTP API + queue drain + Redis consumer")
    serve.add_argument("--host", default=None, help="bind address (default: HOST or 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=None, help="port (default: PORT or 8005)")
    serve.add_argument("--no-consumer", action="store_true", help="do not consume from Redis")
    serve.add_argument("--no-drain", action="store_true", help="do not drain the queue")
    serve.set_defaults(func=supervise.serve)

    worker = sub.add_parser("worker", help="Redis consumer + queue drain, no HTTP")
    worker.set_defaults(func=supervise.worker)

    sandbox = sub.add_parser(
        "sandbox",
        help="run the built-in Zoho Desk emulator on its own port (--help for its switches)",
        add_help=False,
    )
    # `main` hands `sandbox …` to the emulator's own parser (every option and its help are
    # there); this entry is its line in `ticketing --help`.
    sandbox.set_defaults(func=lambda _args: supervise.sandbox([]))

    auth_parser = sub.add_parser("auth", help="OAuth with Zoho: setup, url, status, resume")
    _json(auth_parser)
    asub = auth_parser.add_subparsers(
        dest="auth_command",
        metavar="ACTION",
        required=True,
        parser_class=Parser,
        help="one of these (`ticketing auth ACTION --help` for its options):",
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
    _admin(a_setup, auth.setup)
    _admin(asub.add_parser("url", help="print an authorization URL"), with_services(auth.url))
    _admin(
        asub.add_parser("status", help="where the tokens are, expiry, data centre, budget"),
        auth.status,
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
        auth.resume,
    )

    _admin(sub.add_parser("whoami", help="the agent behind the token and the org ids"), auth.whoami)
    _admin(
        sub.add_parser("departments", help="list Zoho Desk departments"),
        with_services(desk.departments),
    )

    queue_parser = sub.add_parser("queue", help="inspect and drain the pending queue")
    _json(queue_parser)
    qsub = queue_parser.add_subparsers(
        dest="queue_command",
        metavar="ACTION",
        required=True,
        parser_class=Parser,
        help="one of these (`ticketing queue ACTION --help` for its options):",
    )
    _admin(
        qsub.add_parser("status", help="pending and dead-letter counts"),
        with_services(queue.status),
    )
    q_process = qsub.add_parser("process", help="create the pending tickets now")
    q_process.add_argument("--limit", type=_count, default=None, help="at most this many")
    _admin(q_process, with_services(queue.process))
    q_dead = qsub.add_parser("dead", help="list dead letters, newest first, with totals")
    q_dead.add_argument("--limit", type=_count, default=50, help="at most this many (50)")
    q_dead.add_argument(
        "--reason", type=_reason, default=None, help="only those whose reason holds this text"
    )
    _admin(q_dead, with_services(queue.dead))
    q_delete = qsub.add_parser("delete", help="delete dead letters for good")
    q_delete.add_argument(
        "entry_ids", nargs="+", type=_entry_id, help="dead-letter entry ids (see `queue dead`)"
    )
    _admin(q_delete, with_services(queue.delete))
    q_purge = qsub.add_parser(
        "purge", help="delete every dead letter with a reason (or all), after a confirmation"
    )
    which = q_purge.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--reason", type=_reason, help="those whose reason holds this text (case-insensitive)"
    )
    which.add_argument("--all", action="store_true", help="every dead letter")
    q_purge.add_argument(
        "--yes", action="store_true", help="do not ask (needed when no terminal can answer)"
    )
    _admin(q_purge, with_services(queue.purge))
    q_list = qsub.add_parser("list", help="pending tickets: key, age, attempts, last error")
    q_list.add_argument("--limit", type=_count, default=50, help="at most this many (50)")
    _admin(q_list, with_services(story.queue_list))
    q_replay = qsub.add_parser("replay", help="put dead letters back on the queue")
    q_replay.add_argument(
        "entry_ids", nargs="*", type=_entry_id, help="dead-letter entry ids (see `queue dead`)"
    )
    q_replay.add_argument("--all", action="store_true", help="every dead letter")
    q_replay.add_argument(
        "--reason",
        type=_reason,
        help="every dead letter whose reason holds this text (case-insensitive)",
    )
    _admin(q_replay, with_services(queue.replay))

    s_show = sub.add_parser("show", help="a request's story: state, ticket, attempts, error")
    s_show.add_argument(
        "ref",
        metavar="KEY|REQUEST_ID|INCIDENT_ID",
        help="an Idempotency-Key as sent, a request id (req_…) or an incident's id",
    )
    _admin(s_show, with_services(story.show))

    hooks = sub.add_parser("webhooks", help="the webhook Zoho posts agents' replies to")
    _json(hooks)
    hsub = hooks.add_subparsers(
        dest="webhooks_command",
        metavar="ACTION",
        required=True,
        parser_class=Parser,
        help="one of:",
    )
    h_setup = hsub.add_parser(
        "setup",
        help="register the webhook (thread added, comment added, status changed) with Zoho",
    )
    h_setup.add_argument(
        "--public-url",
        required=True,
        help="where Zoho reaches this service, e.g. https://tickets.example.com",
    )
    _admin(h_setup, with_services(webhooks.setup))
    _admin(
        hsub.add_parser("status", help="the webhooks Zoho has for this service"),
        with_services(webhooks.status),
    )
    _admin(
        hsub.add_parser("remove", help="delete this service's webhooks from Zoho"),
        with_services(webhooks.remove),
    )

    doctor_parser = sub.add_parser(
        "doctor",
        help="check configuration, data centre, token, scopes, org, department and Redis",
    )
    _admin(doctor_parser, doctor.check)
    doctor_parser.set_defaults(doctor=True)  # dispatched through doctor.run
    return parser


def parse(argv: Sequence[str]) -> argparse.Namespace | int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error already printed
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if not getattr(args, "func", None) and not getattr(args, "admin", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    if args.json and not getattr(args, "admin", None):
        try:
            parser.error(f"--json applies to the admin commands, not to {args.command}")
        except SystemExit as exc:
            return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    return args
