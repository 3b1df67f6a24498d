"""Run the Zoho Desk emulator on its own port, from Python or the command line."""

from __future__ import annotations

import argparse
import contextlib
import errno
import socket
import sys
from collections.abc import Sequence
from typing import NoReturn

import anyio
import uvicorn

from zoho_desk_emulator.app import create_emulator_app
from zoho_desk_emulator.faults import FaultError
from zoho_desk_emulator.state import EmulatorState


async def run_standalone(
    host: str = "127.0.0.1",
    port: int = 8900,
    state: EmulatorState | None = None,
    sockets: list[socket.socket] | None = None,
) -> None:
    """Serve the emulator with uvicorn until the process is told to stop (Ctrl-C, SIGTERM);
    on ``sockets`` when given (already bound: see :func:`bind`)."""
    config = uvicorn.Config(
        create_emulator_app(state),
        host=host,
        port=port,
        # the access log would print revoke's ?token=; the emulator's own call log redacts it
        access_log=False,
        log_level="warning",
        lifespan="off",
        date_header=False,  # the emulator sends Zoho's own Date (its clock may be skewed)
    )
    await uvicorn.Server(config).serve(sockets=sockets)


class BindError(Exception):
    """The emulator cannot listen where it was asked to; the message names the address."""


def bind(host: str, port: int) -> list[socket.socket]:
    """A socket bound to each address ``host`` names on ``port``, before anything says where
    the emulator listens (uvicorn binding later printed the address, then failed).

    Raises:
        BindError: a host that does not resolve or is not this machine's, a busy port.
    """
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, socket.gaierror) else str(exc)
        raise BindError(
            f"cannot listen on {host!r} port {port}: not an address or a name this machine "
            f"resolves ({reason}); pass --host 127.0.0.1 or another of its addresses"
        ) from None
    sockets: list[socket.socket] = []
    seen: set[tuple[int, object]] = set()
    unavailable: OSError | None = None
    try:
        for family, kind, proto, _, address in found:
            if (family, address) in seen:
                continue
            seen.add((family, address))
            sock = socket.socket(family, kind, proto)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6 and len(found) > 1:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                sock.close()
                if exc.errno != errno.EADDRNOTAVAIL:  # as asyncio: skip an address it lacks
                    raise
                unavailable = exc
                continue
            sockets.append(sock)
        if not sockets and unavailable is not None:
            raise unavailable
    except OSError as exc:
        for sock in sockets:
            sock.close()
        if exc.errno == errno.EADDRINUSE:
            reason = "the address is already in use; pass another --port, or stop what holds it"
        elif exc.errno == errno.EADDRNOTAVAIL:
            reason = "that address is not one of this machine's; pass one of its addresses"
        else:
            reason = str(exc.strerror or exc)
        raise BindError(f"cannot listen on {where}: {reason}") from None
    return sockets


# the fault switches with an option of the same name (given: set; left out: off)
_SWITCHES = (
    "latency",
    "error_rate",
    "search_lag",
    "outage",
    "clock_skew",
    "token_error_status",
    "duplicate_contact_email",
    "webhook_batch",
    "webhook_redeliveries",
    "webhook_duplicates",
    "webhook_signature",
)


def _port(text: str) -> int:
    """A TCP port, 1 to 65535."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 1 to 65535, got {value}")
    return value


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error naming the command and where its help is."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser(prog: str = "python -m zoho_desk_emulator") -> argparse.ArgumentParser:
    """The command line of the standalone emulator, every option with its help; ``prog`` is
    the name usage and errors show."""
    parser = _Parser(
        prog=prog,
        description=(
            "The built-in Zoho Desk emulator: the accounts server, the Desk API, a page per "
            "ticket (each ticket's webUrl) and the /_emulator control API, on one port."
        ),
        epilog=(
            "Open http://HOST:PORT/ for the tickets, newest first. The control API (faults, "
            "reset, tickets, calls, webhooks) is under /_emulator: see the README."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=_port, default=8900, help="port (default 8900)")
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the random faults (error-rate) (default 0)"
    )
    parser.add_argument(
        "--credits-per-day",
        type=int,
        default=100_000,
        help="API credits a day, refilled at UTC midnight (default 100000)",
    )
    parser.add_argument(
        "--max-concurrency",
        type=int,
        default=25,
        help="Desk calls answered at once; more get 429 TOO_MANY_REQUESTS (default 25)",
    )
    parser.add_argument(
        "--edition",
        default="Enterprise",
        help="the portal's edition: webhooks need Professional or Enterprise (default Enterprise)",
    )
    parser.add_argument("--latency", type=float, help="seconds added to each Desk call")
    parser.add_argument("--error-rate", type=float, help="fraction of Desk calls answering 500")
    parser.add_argument("--search-lag", type=float, help="seconds before a ticket is searchable")
    parser.add_argument(
        "--outage", choices=["503", "reset"], help="every call fails: 503, or a dropped connection"
    )
    parser.add_argument(
        "--clock-skew", type=float, help="seconds Zoho's clock is ahead (negative: behind)"
    )
    parser.add_argument(
        "--token-error-status",
        type=int,
        choices=[200, 400],
        help="status of OAuth error answers: 400 (default) or 200 (Zoho has sent both)",
    )
    parser.add_argument(
        "--expires-in-ms", action="store_true", help="token answers give expires_in in milliseconds"
    )
    parser.add_argument(
        "--lenient",
        action="store_true",
        help="accept what Zoho's API description refuses (old behaviour; demos only)",
    )
    parser.add_argument(
        "--duplicate-contact-email",
        choices=["allow", "reject"],
        help="a second contact with the same email: allow (default) or reject (422)",
    )
    parser.add_argument("--webhook-batch", type=int, help="events per webhook delivery (1)")
    parser.add_argument(
        "--webhook-redeliveries", type=int, help="times a failed delivery is sent again (0)"
    )
    parser.add_argument(
        "--webhook-duplicates", type=int, help="extra copies of each delivered batch (0)"
    )
    parser.add_argument(
        "--webhook-signature",
        choices=["valid", "bad", "none"],
        help="X-ZDesk-JWT on deliveries: valid (default), bad (another key), none",
    )
    return parser


def main(argv: Sequence[str] | None = None, *, prog: str = "python -m zoho_desk_emulator") -> int:
    """Parse the options, set the switches, serve; 0 on a clean stop, 2 on bad options.

    ``prog`` is the command name usage and errors show (a program embedding the emulator
    passes its own, e.g. ``ticketing sandbox``)."""
    args = build_parser(prog).parse_args(argv)
    state = EmulatorState(
        seed=args.seed,
        credits_per_day=args.credits_per_day,
        max_concurrency=args.max_concurrency,
        edition=args.edition,
        lenient=args.lenient,
    )
    switches = {name: getattr(args, name) for name in _SWITCHES}
    switches["expires_in_ms"] = args.expires_in_ms or None  # a flag: only ever switched on
    try:
        state.apply_faults({k: v for k, v in switches.items() if v is not None})
    except FaultError as error:
        print(f"{prog}: {error}", file=sys.stderr)
        return 2
    try:
        sockets = bind(args.host, args.port)
    except BindError as error:
        print(f"{prog}: {error}", file=sys.stderr)
        return 2
    url = (
        f"http://[{args.host}]:{args.port}"
        if ":" in args.host
        else f"http://{args.host}:{args.port}"
    )
    print(
        f"Zoho Desk emulator on {url} (its tickets: {url}/, control API: {url}/_emulator/state)",
        file=sys.stderr,
        flush=True,
    )
    try:
        with contextlib.suppress(KeyboardInterrupt):
            anyio.run(run_standalone, args.host, args.port, state, sockets)
    finally:
        for sock in sockets:
            sock.close()
    return 0
