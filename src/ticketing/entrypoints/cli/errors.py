"""Exit codes, and the one place an error becomes a line on stderr and an exit code."""

from __future__ import annotations

import logging
import sys

from ticketing.domain.errors import (
    ConfigurationError,
    HelpdeskAuthError,
    HelpdeskUnavailable,
    NotFound,
    StoreUnavailable,
    TicketingError,
    ValidationError,
)

log = logging.getLogger("ticketing")

# Exit codes scripts can rely on.
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2  # bad arguments (one naming nothing that exists, too) or configuration
EXIT_AUTH = 3  # Zoho credentials need an operator
EXIT_UNAVAILABLE = 4  # Zoho unreachable / throttling
EXIT_STORE = 5  # Redis unreachable
EXIT_PENDING = 6  # queue process finished with tickets still pending
EXIT_INTERRUPTED = 130  # Ctrl-C


def exit_code_for(exc: TicketingError) -> int:
    """The one mapping from service errors to exit codes."""
    # An argument that names nothing (an unknown dead-letter id) is a bad argument: the
    # operator fixes the command line. Not 1 (a failure to retry), not 4 (Zoho's).
    if isinstance(exc, (ConfigurationError, ValidationError, NotFound)):
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


def one_line(text: str) -> str:
    return " ".join(text.split())


def fail(exc: BaseException) -> int:
    """The one place an error becomes a line on stderr and an exit code."""
    if isinstance(exc, TicketingError):
        print(f"ticketing: {one_line(exc.message)}", file=sys.stderr)
        return exit_code_for(exc)
    if isinstance(exc, KeyboardInterrupt):
        print("ticketing: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    log.debug("unexpected error", exc_info=exc)
    detail = one_line(str(exc))[:200]
    print(
        f"ticketing: unexpected {type(exc).__name__}{': ' + detail if detail else ''} "
        "(LOG_LEVEL=debug shows the traceback)",
        file=sys.stderr,
    )
    return EXIT_ERROR
