"""One holder at a time across processes: an async lock over the ``Leases`` port."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import anyio

from ticketing.domain.errors import HelpdeskUnavailable
from ticketing.domain.ports import Leases, lease_owner


async def poll(take: Callable[[], Awaitable[bool]], *, wait: float) -> bool:
    """Call ``take`` until it answers True, sleeping a growing interval (5 ms doubling to
    100 ms) in between, for at most ``wait`` seconds (real time); False when time ran out.

    The one polling loop of the locks held across processes (a lease, a ``flock``).
    """
    delay = 0.005
    with anyio.move_on_after(wait):
        while not await take():
            await anyio.sleep(delay)
            delay = min(delay * 2, 0.1)
        return True
    return False


class LeaseLock:
    """A fleet-wide lock: call it for an async context manager that holds the lease.

    The lease has an owner token and a time to live, so a holder that dies frees it after
    ``ttl`` seconds, and only the owner can release it (a holder that outlived its lease
    cannot release someone else's). Waiters poll with a growing interval, up to ``wait``
    seconds (real time), then give up with ``HelpdeskUnavailable``.

    Args:
        leases: The lease store (Redis for a fleet).
        name: The lease's name.
        ttl: Seconds the lease lives; longer than the work it protects.
        wait: Seconds a waiter waits at most.
        what: What the lock protects, for the error message.
    """

    def __init__(
        self,
        leases: Leases,
        name: str,
        *,
        ttl: float,
        wait: float | None = None,
        what: str = "the lock",
    ) -> None:
        self._leases = leases
        self.name = name
        self.ttl = ttl
        self.wait = ttl + 5 if wait is None else wait
        self._what = what

    def __repr__(self) -> str:
        return f"LeaseLock({self.name!r}, ttl={self.ttl:g})"

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[None]:
        owner = lease_owner()

        async def take() -> bool:
            return await self._leases.acquire(self.name, owner, self.ttl)

        if not await poll(take, wait=self.wait):
            raise HelpdeskUnavailable(
                f"another instance has held {self._what} for more than {self.wait:g}s; "
                "it will expire on its own, try again shortly"
            )
        try:
            yield
        finally:
            with anyio.CancelScope(shield=True):
                await self._leases.release(self.name, owner)
