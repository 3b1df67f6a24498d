"""Zoho Desk's daily API credits: each call spends its weight; the budget refills at midnight."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from zoho_desk_emulator.clock import Clock
from zoho_desk_emulator.errors import DeskError

PLAIN_WEIGHT = 1
SEARCH_WEIGHT = 3


class CreditMeter:
    """The credits left today out of ``per_day``."""

    def __init__(self, clock: Clock, per_day: int) -> None:
        self.clock = clock
        self.per_day = per_day
        self.remaining = per_day
        self._day: date = clock.now().date()

    def __repr__(self) -> str:
        return f"CreditMeter({self.remaining}/{self.per_day})"

    def left(self) -> int:
        """Today's remaining API credits; the budget refills at UTC midnight."""
        today = self.clock.now().astimezone(UTC).date()
        if today != self._day:
            self._day = today
            self.remaining = self.per_day
        return self.remaining

    def set_remaining(self, credits: int) -> None:
        """Set what is left today (the day rolls over first, so the value sticks)."""
        self.left()
        self.remaining = credits

    def charge(self, weight: int) -> None:
        """Spend credits for one call, or raise ``THRESHOLD_EXCEEDED`` (429, unconfirmed)."""
        if self.left() < weight:
            now = self.clock.now().astimezone(UTC)
            midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)
            raise DeskError(
                429,
                "THRESHOLD_EXCEEDED",
                "The API credits for today have been used up.",
                headers={"Retry-After": str(max(1, int((midnight - now).total_seconds())))},
            )
        self.remaining -= weight
