"""The entry points: `main` (the console script) and `run` (one admin command on a running
event loop, for tests)."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import anyio

from ticketing.domain.errors import ConfigurationError
from ticketing.entrypoints.cli import supervise
from ticketing.entrypoints.cli.admin import run_admin
from ticketing.entrypoints.cli.boot import configure_logging
from ticketing.entrypoints.cli.commands import doctor
from ticketing.entrypoints.cli.errors import EXIT_USAGE, fail
from ticketing.entrypoints.cli.parser import parse

if TYPE_CHECKING:
    from ticketing.container import Container


async def dispatch(args: argparse.Namespace, container: Container | None) -> int:
    if getattr(args, "doctor", False):
        return await doctor.run(args, container)
    return await run_admin(args.admin, args, container)


async def run(argv: Sequence[str], *, container: Container | None = None) -> int:
    """Run one admin command on the running event loop, exactly as :func:`main` would
    (errors become one line and an exit code); ``container`` replaces the one built from
    the settings (tests)."""
    args = parse(argv)
    if isinstance(args, int):
        return args
    if not getattr(args, "admin", None):
        raise ValueError(f"{args.command} is not an admin command")
    try:
        return await dispatch(args, container)
    except Exception as exc:
        return fail(exc)


def run_quietly(args: argparse.Namespace, *, verbose: bool) -> int:
    """An admin command's output is its result: only warnings besides it (unless
    LOG_LEVEL=debug); the logger's level is restored afterwards."""
    logger = logging.getLogger("ticketing")
    previous = logger.level
    if not verbose:
        logger.setLevel(logging.WARNING)
    try:
        return anyio.run(dispatch, args, None)
    finally:
        logger.setLevel(previous)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["sandbox"]:
        try:
            return supervise.sandbox(argv[1:])
        except SystemExit as exc:  # the emulator's own parser: --help, or a bad option
            return exc.code if isinstance(exc.code, int) else EXIT_USAGE
        except KeyboardInterrupt as exc:
            return fail(exc)
    args = parse(argv)
    if isinstance(args, int):
        return args
    try:
        from ticketing.settings import Settings

        loaded = None
        with contextlib.suppress(ConfigurationError):
            loaded = Settings.load()
        configure_logging(settings=loaded)
        if getattr(args, "admin", None):
            return run_quietly(args, verbose=loaded is not None and loaded.log_level == "debug")
        return int(args.func(args))
    except (Exception, KeyboardInterrupt) as exc:
        return fail(exc)
