"""The fleet-wide token refresh budget on Redis: a sliding-window log per refresh token,
Zoho's own pause, and the back-off from a failing accounts server."""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final, TypedDict

from ticketing.adapters.redis.connection import RedisClient, store_errors
from ticketing.adapters.redis.scripts import BudgetScripts
from ticketing.domain.ports import Clock, RefreshAllowance

BUDGET_PREFIX: Final = "ticketing:oauth:refresh-budget:"
PAUSE_PREFIX: Final = "ticketing:oauth:refresh-paused:"
BACKOFF_PREFIX: Final = "ticketing:oauth:refresh-backoff:"
WINDOW: Final = 600.0  # Zoho's window: 10 access tokens per refresh token in 10 minutes


class _Member(TypedDict):
    now: int
    window: int
    member: str


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _moment(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


class RedisRefreshBudget:
    """The ``RefreshBudget`` port on Redis, shared by every instance using the same keys.

    Nothing of it is copied into a process's memory: every instance asks Redis before each
    refresh, so deleting the keys (or ``ticketing auth resume``) lifts a pause fleet-wide.
    Times come from the service's clock (hosts of a fleet are NTP-synchronized), so the
    window is exact in tests with a manual clock too.

    Args:
        client: An asyncio Redis client.
        clock: Wall time.
        limit: Refreshes allowed per refresh token in ``window`` (``ZOHO_REFRESH_BUDGET``).
        window: Seconds of the sliding window.
        prefix: Put before every key.
        jitter: The source of back-off jitter, a number in [0, 1).
    """

    def __init__(
        self,
        client: RedisClient,
        clock: Clock,
        *,
        limit: int,
        window: float = WINDOW,
        prefix: str = "",
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._client = client
        self._clock = clock
        self.limit = limit
        self.window = window
        self._prefix = prefix
        self._jitter = jitter
        self._scripts = BudgetScripts(client)

    def __repr__(self) -> str:
        return f"RedisRefreshBudget(limit={self.limit}, window={self.window:g})"

    async def peek(self, subject: str) -> RefreshAllowance:
        now = _ms(self._clock.now())
        with store_errors(self._client, "counting token refreshes"):
            log, pause, backoff = self._keys(subject)
            granted, used, until, reason, failures = await self._scripts.look(
                log=log,
                pause=pause,
                backoff=backoff,
                now=now,
                window=self._window_ms,
                limit=self.limit,
            )
        return RefreshAllowance(
            granted=bool(granted),
            used=used,
            limit=self.limit,
            window=self.window,
            paused_until=_moment(until) if not granted else None,
            throttled=reason == 1,
            failures=failures,
            backing_off=reason == 3,
        )

    async def record(self, subject: str) -> None:
        log, _, backoff = self._keys(subject)
        with store_errors(self._client, "counting a token refresh"):
            await self._scripts.record(log=log, backoff=backoff, **self._member())

    async def throttled(self, subject: str, until: datetime) -> None:
        log, pause, _ = self._keys(subject)
        until_ms = _ms(until)
        keep = max(1, until_ms - _ms(self._clock.now())) + 60_000
        with store_errors(self._client, "pausing token refreshes"):
            await self._scripts.throttled(
                log=log, pause=pause, **self._member(), until=until_ms, keep_ms=keep
            )

    async def failed(self, subject: str, *, first: float, cap: float) -> RefreshAllowance:
        backoff = self._keys(subject)[2]
        now = _ms(self._clock.now())
        with store_errors(self._client, "backing off token refreshes"):
            await self._scripts.failed(
                backoff=backoff,
                now=now,
                first=int(first * 1000),
                cap=int(cap * 1000),
                jitter=self._jitter(),
                keep_ms=self._window_ms,
            )
        return await self.peek(subject)

    async def resume(self, subject: str) -> RefreshAllowance:
        before = await self.peek(subject)
        with store_errors(self._client, "lifting the token refresh pause"):
            await self._client.delete(*self._keys(subject))
        return before

    @property
    def _window_ms(self) -> int:
        return int(self.window * 1000)

    def _member(self) -> _Member:
        """Now, the window, and a unique member for one counted refresh."""
        now = _ms(self._clock.now())
        return {"now": now, "window": self._window_ms, "member": f"{now}-{secrets.token_hex(4)}"}

    def _keys(self, subject: str) -> list[str]:
        return [
            self._prefix + BUDGET_PREFIX + subject,
            self._prefix + PAUSE_PREFIX + subject,
            self._prefix + BACKOFF_PREFIX + subject,
        ]
