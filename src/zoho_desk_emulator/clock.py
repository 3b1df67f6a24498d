"""The emulator's time source: a two-method protocol, and the host's clock as the default."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """Wall time (timezone-aware UTC) and a monotonic clock for durations.

    Any object with these two methods will do, so a test can drive the emulator with the same
    manual clock it gives the code under test.
    """

    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...


class SystemClock:
    """The host's wall time in UTC and the process's monotonic clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()
