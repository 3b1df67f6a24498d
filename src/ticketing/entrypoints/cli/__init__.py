"""The `ticketing` command: serve, worker, sandbox and the admin commands.

``runner`` is the entry point, ``parser`` the argparse tree, ``commands`` the admin command
bodies, ``render`` what they print, ``supervise`` the long-running processes, ``errors`` the
exit codes and the one-line failures.
"""

from ticketing.entrypoints.cli.boot import build_container, configure_logging
from ticketing.entrypoints.cli.errors import (
    EXIT_AUTH,
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PENDING,
    EXIT_STORE,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    exit_code_for,
)
from ticketing.entrypoints.cli.runner import main, run

__all__ = [
    "EXIT_AUTH",
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_PENDING",
    "EXIT_STORE",
    "EXIT_UNAVAILABLE",
    "EXIT_USAGE",
    "build_container",
    "configure_logging",
    "exit_code_for",
    "main",
    "run",
]
