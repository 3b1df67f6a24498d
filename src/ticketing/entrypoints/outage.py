"""The log of a loop that retries (the background drain, the inbound consumer's loops): an
outage is two lines, not one per retry."""

from __future__ import annotations

import logging
import time


class Outage:
    """The log of a loop that retries: one warning when it starts failing (or fails in
    another way), one info when it works again, and the retries in between at debug level,
    so an outage of an hour is two lines, not one per pass.

    Args:
        logger: where the lines go.
        what: the loop's name at the start of the recovery line, e.g. ``"drain"``.
    """

    def __init__(self, logger: logging.Logger, what: str) -> None:
        self._log = logger
        self._what = what
        self.failing: str | None = None  # the kind of failure being reported, None when well
        self._since = 0.0
        self.repeats = 0  # failures since the warning, logged at debug level

    def failed(
        self, kind: str, message: str, *args: object, exc: BaseException | None = None
    ) -> None:
        """A pass failed with a failure of ``kind``: the warning (``message % args``, with the
        traceback of ``exc`` when given) the first time, a debug line on every repeat."""
        if self.failing == kind:
            self.repeats += 1
            self._log.debug(message, *args)
            return
        if self.failing is None:
            self._since = time.monotonic()
        self.failing, self.repeats = kind, 0
        self._log.warning(message, *args, exc_info=exc)

    def begin(self, kind: str) -> None:
        """An outage of ``kind`` starts that another line has said already: its retries
        are logged at debug level only."""
        if self.failing is None:
            self._since = time.monotonic()
        self.failing, self.repeats = kind, 0

    def recovered(self, *, say: bool = True) -> None:
        """A pass worked: the info line when it ends an outage (unless ``say`` is false:
        another line says it), nothing otherwise."""
        if self.failing is None:
            return
        if not say:
            self.failing, self.repeats = None, 0
            return
        self._log.info(
            "%s works again after %.0fs of failures (%s, %d retries)",
            self._what,
            time.monotonic() - self._since,
            self.failing,
            self.repeats + 1,
        )
        self.failing, self.repeats = None, 0
