"""The API-key guard: who the caller is (its key's namespace), and a brake on key guessing."""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, TooManyRequestsException
from litestar.handlers.base import BaseRouteHandler

from ticketing.application.intake import ANONYMOUS_CLIENT, api_client

log = logging.getLogger("ticketing.http")

# Wrong keys one client address may send per window before it is refused without a check.
WRONG_KEY_LIMIT = 20
WRONG_KEY_WINDOW = 60.0
# Addresses remembered at once (about 200 bytes each); the oldest is forgotten first.
WRONG_KEY_ADDRESSES = 10_000

CLIENT_STATE = "api_client"


class WrongKeyThrottle:
    """Counts wrong keys per client address in fixed windows; bounded memory."""

    def __init__(
        self,
        *,
        limit: int = WRONG_KEY_LIMIT,
        window: float = WRONG_KEY_WINDOW,
        max_addresses: int = WRONG_KEY_ADDRESSES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limit = limit
        self._window = window
        self._max = max_addresses
        self._clock = clock
        self._failures: dict[str, tuple[float, int]] = {}  # address -> (window start, count)

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def window(self) -> float:
        return self._window

    def __len__(self) -> int:
        return len(self._failures)

    def retry_after(self, address: str) -> float | None:
        """Seconds until ``address`` may try again, or None while it may try now."""
        entry = self._failures.get(address)
        if entry is None:
            return None
        start, count = entry
        left = start + self._window - self._clock()
        if left <= 0:
            del self._failures[address]
            return None
        return left if count >= self._limit else None

    def failed(self, address: str) -> bool:
        """Count a wrong key from ``address``; True when that one reached the limit."""
        now = self._clock()
        entry = self._failures.pop(address, None)
        if entry is None or now - entry[0] >= self._window:
            if len(self._failures) >= self._max:
                self._forget(now)
            entry = (now, 0)
        count = entry[1] + 1
        self._failures[address] = (entry[0], count)  # re-inserted: the order is last failure
        return count == self._limit

    def _forget(self, now: float) -> None:
        expired = [a for a, (start, _) in self._failures.items() if now - start >= self._window]
        for address in expired:
            del self._failures[address]
        while len(self._failures) >= self._max:
            del self._failures[next(iter(self._failures))]


def api_key_guard(keys: tuple[str, ...], throttle: WrongKeyThrottle | None = None) -> Any:
    """When keys are set, every endpoint but ``GET /health`` needs a Bearer key.

    The guard leaves the caller's namespace (:func:`api_client` of the key that matched, or
    the anonymous one without keys) in the request's state under ``api_client``. An address
    that sent ``WRONG_KEY_LIMIT`` wrong keys within ``WRONG_KEY_WINDOW`` seconds gets 429
    with ``Retry-After``, whatever it sends, until that window ends.
    """
    encoded = [(k.encode(), api_client(k)) for k in keys]
    brake = throttle or WrongKeyThrottle()

    # A coroutine: Litestar runs a plain function guard in a worker thread, which costs every
    # request a thread hop (and, under load, a wait for the GIL and the event loop's wake-up).
    async def guard(
        connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
    ) -> None:
        if not encoded:
            connection.state[CLIENT_STATE] = ANONYMOUS_CLIENT
            return
        if handler.opt.get("public"):
            return
        address = connection.client.host if connection.client else "unknown"
        wait = brake.retry_after(address)
        if wait is not None:
            raise TooManyRequestsException(
                detail="too many wrong API keys from this address; try again later",
                headers={"Retry-After": str(int(wait + 0.999))},
            )
        header = connection.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        presented = token.strip().encode()
        client = None
        for key, name in encoded:  # compare with every key, so timing says nothing about which
            if hmac.compare_digest(presented, key):
                client = name
        if scheme.lower() != "bearer" or client is None:
            if brake.failed(address):
                log.warning(
                    "%d wrong API keys from %s within %.0f s: refusing it until the window ends",
                    brake.limit,
                    address,
                    brake.window,
                )
            raise NotAuthorizedException(
                detail="missing or wrong API key: send Authorization: Bearer <key>",
                headers={"WWW-Authenticate": "Bearer"},
            )
        connection.state[CLIENT_STATE] = client

    return guard
