"""The ``CallGate`` port for one process: a counting semaphore and a pause deadline."""

from __future__ import annotations

import uuid

import anyio

from ticketing.domain.ports import Admission, Clock


class InMemoryCallGate:
    """At most ``capacity`` helpdesk calls in flight in this process, and a pause.

    What the service uses without Redis, and what unit tests use. A slot can only be lost
    with the process, so there is no holder time-out here.

    Args:
        clock: Times the pause (monotonic).
        capacity: Calls allowed in flight at once (``ZOHO_MAX_CONCURRENCY``).
    """

    def __init__(self, clock: Clock, capacity: int = 10) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._clock = clock
        self._semaphore = anyio.Semaphore(capacity)
        self._held: set[str] = set()
        self._paused_until = 0.0
        self.peak = 0  # most slots held at once, for tests and benchmarks

    def __repr__(self) -> str:
        return (
            f"InMemoryCallGate(capacity={self.capacity}, in_flight={len(self._held)}, "
            f"paused_for={self.paused_for():.1f})"
        )

    async def enter(self, wait: float) -> Admission:
        paused = self.paused_for()
        if paused > 0:
            return Admission(None, paused)
        try:
            self._semaphore.acquire_nowait()
        except anyio.WouldBlock:
            with anyio.move_on_after(max(0.0, wait)):
                await self._semaphore.acquire()
                return self._admit()
            return Admission(None, self.paused_for())
        return self._admit()

    def _admit(self) -> Admission:
        paused = self.paused_for()
        if paused > 0:  # the pause began while this call waited for its slot
            self._semaphore.release()
            return Admission(None, paused)
        slot = uuid.uuid4().hex
        self._held.add(slot)
        self.peak = max(self.peak, len(self._held))
        return Admission(slot)

    async def leave(self, slot: str) -> None:
        if slot in self._held:
            self._held.discard(slot)
            self._semaphore.release()

    async def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, self._clock.monotonic() + seconds)

    def paused_for(self) -> float:
        return max(0.0, self._paused_until - self._clock.monotonic())

    async def refresh(self) -> float:
        return self.paused_for()

    def in_flight(self) -> int:
        return len(self._held)

    async def run(self) -> None:
        """Nothing to look after: a slot given back is free at once. Sleeps until cancelled."""
        await anyio.sleep_forever()
