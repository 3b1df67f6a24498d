"""The Zoho call gate on Redis: a fleet-wide semaphore of expiring slots, and a shared pause."""

from __future__ import annotations

import itertools
import logging
import random
import uuid
from typing import Final

import anyio

from ticketing.adapters.redis.connection import RedisClient, store_errors
from ticketing.adapters.redis.scripts import GateScripts
from ticketing.domain.errors import StoreUnavailable
from ticketing.domain.ports import Admission, Clock

log = logging.getLogger(__name__)

SLOTS_KEY: Final = "ticketing:zoho:slots"
PAUSE_KEY: Final = "ticketing:zoho:pause"
WAITERS_KEY: Final = "ticketing:zoho:waiting"


class RedisCallGate:
    """The ``CallGate`` port on Redis: every process using the same Redis (and prefix) shares
    ``capacity`` slots and one pause.

    The slots are a sorted set of holders scored by their expiry, taken and counted in one Lua
    script with Redis's clock; a holder that crashed loses its slot after ``holder_ttl``. The
    pause is one key with a TTL, checked by the same script.

    Round trips are kept off the hot path: a slot given back while other calls of this process
    wait is handed to one of them directly (no Redis), unless other processes are waiting
    too, in which case it goes back to the fleet. A handed-over slot is retired to Redis after
    ``hold_for`` seconds, which renews its expiry, and the pause is re-read at least every
    ``pause_check`` seconds while slots are reused locally, so a pause set by another process
    is seen within that time.

    While :meth:`run` runs, a slot also *lingers*: given back when no call of this process
    waits, it is kept as a spare for ``linger`` seconds rather than removed from Redis at
    once, so that a process whose calls follow one another a few milliseconds apart (a client
    posting its next ticket as soon as the last one is answered) takes no round trip per call
    at all. Only a young slot lingers, and only while no other process is known to wait for
    one; the rules above still hold for it (retired after ``hold_for``, pause re-read every
    ``pause_check``, back to the fleet when other processes wait). A spare not reused within
    ``linger`` is given back by :meth:`run`, and every spare when :meth:`run` is cancelled,
    so an idle process holds no slot for longer than ``linger``: another process that asks
    meanwhile gets it within ``linger`` plus its polling delay. Without :meth:`run` (the CLI's
    one-off commands, most tests) nothing lingers.

    :meth:`run` also gives back, every ``sweep_every`` seconds, the slots Redis holds for this
    process that it does not hold: those it could not give back while Redis was down or
    restarting, and those a Redis restarted from its append-only file brought back after
    they had been given back. A living process's lost slots thus come back within seconds
    of Redis answering again, not after ``holder_ttl`` (a dead process's are freed by the
    next process that asks, once its heartbeat is gone).

    Args:
        client: An asyncio Redis client.
        clock: Times the local view of the pause and of slot ages (monotonic).
        capacity: Calls in flight fleet-wide (``ZOHO_MAX_CONCURRENCY``).
        prefix: Put before every key.
        holder_ttl: Seconds after which a slot whose holder never gave it back is free again;
            longer than the longest call plus ``hold_for``.
        hold_for: Seconds a slot may be handed over locally before it goes back to Redis.
        pause_check: Seconds the local view of the pause is trusted while reusing slots.
        poll: Seconds between two asks while the fleet's slots are all taken (doubling, with
            jitter, up to 4 times this).
        linger: Seconds an idle slot is kept for this process's next call while :meth:`run`
            runs; 0 gives every slot back as soon as no local call waits for it.
        process: This process's heartbeat holder (``<name>/<incarnation>``); "" for an id of
            its own, whose slots only expire.
        alive: The heartbeat key prefix, with ``process``.
        sweep_every: Seconds between two looks, while :meth:`run` runs, for slots Redis
            holds for this process that it does not hold (see above).
    """

    def __init__(
        self,
        client: RedisClient,
        clock: Clock,
        *,
        capacity: int,
        prefix: str = "",
        holder_ttl: float = 90.0,
        hold_for: float = 5.0,
        pause_check: float = 0.1,
        poll: float = 0.01,
        linger: float = 0.05,
        process: str = "",
        alive: str = "",
        sweep_every: float = 1.0,
    ) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        if holder_ttl <= hold_for:
            raise ValueError("holder_ttl must be longer than hold_for")
        if linger < 0:
            raise ValueError("linger must not be negative")
        if sweep_every <= 0:
            raise ValueError("sweep_every must be positive")
        self.capacity = capacity
        self._client = client
        self._clock = clock
        self._slots_key = prefix + SLOTS_KEY
        self._pause_key = prefix + PAUSE_KEY
        self._waiters_key = prefix + WAITERS_KEY
        self._holder_ttl_ms = int(holder_ttl * 1000)
        self._waiter_ttl_ms = max(200, int(poll * 4 * 1000 * 5))
        self._hold_for = hold_for
        self._pause_check = pause_check
        self._poll = poll
        self._linger = linger
        # Its heartbeat's holder (``<name>/<incarnation>``) when it has one: its slots are
        # then freed as soon as it is gone (``alive``), not when they expire.
        self.process = process or uuid.uuid4().hex[:12]
        self._ids = itertools.count()
        self._scripts = GateScripts(
            client,
            slots=self._slots_key,
            pause=self._pause_key,
            waiters=self._waiters_key,
            process=self.process,
            alive=alive if process else "",
        )
        self._local = anyio.Semaphore(capacity)  # this process never needs more
        self._ask = anyio.Lock()  # one task of this process asks Redis at a time
        self._busy: dict[str, float] = {}  # slot → when Redis granted it
        # Held, free for a local call: (slot, when Redis granted it, when it fell idle).
        self._spare: list[tuple[str, float, float]] = []
        self._waiting = 0
        self._wake: anyio.Event | None = None
        self._upkeeps = 0  # run() loops running: slots linger only while there is one
        self._spared: anyio.Event | None = None  # set when a spare is added, for run()
        self._paused_until = 0.0
        self._seen_at = -1e9  # when the pause and the waiters were last read from Redis
        self._looking: anyio.Event | None = None  # set when a read on its way is answered
        self._others_waiting = 0
        self.round_trips = 0
        self._sweep_every = sweep_every
        self._asking: set[str] = set()  # asked of Redis, answer not seen yet
        self.sweeps = 0  # the sweep's round trips (not counted in round_trips)

    def __repr__(self) -> str:
        return (
            f"RedisCallGate(key={self._slots_key!r}, capacity={self.capacity}, "
            f"in_flight={len(self._busy)}, paused_for={self.paused_for():.1f})"
        )

    # ------------------------------------------------------------------ the port

    async def enter(self, wait: float) -> Admission:
        paused = self.paused_for()
        if paused > 0:
            return Admission(None, paused)
        self._waiting += 1
        admission = Admission(None)
        deadline = anyio.current_time() + max(0.0, wait)
        try:
            if await self._local_permit(deadline):
                try:
                    # However short the wait, Redis is asked at least once.
                    with anyio.CancelScope(deadline=max(deadline, anyio.current_time() + 0.05)):
                        admission = await self._take()
                finally:
                    if not admission.admitted:
                        self._local.release()
        finally:
            self._waiting -= 1
            if self._waiting == 0 and self._spare and not self._lingering:
                with anyio.CancelScope(shield=True):
                    await self._return_spares()
        if not admission.admitted and not admission.paused_for:
            return Admission(None, self.paused_for())
        return admission

    async def leave(self, slot: str) -> None:
        granted_at = self._busy.pop(slot, None)
        if granted_at is None:
            return
        self._local.release()
        now = self._clock.monotonic()
        young = now - granted_at < self._hold_for
        wanted = self._waiting > 0 or self._lingering
        if wanted and young and not self._others_waiting:
            self._spare.append((slot, granted_at, now))
            self._notify()
            if self._spared is not None:
                self._spared.set()
            return
        with anyio.CancelScope(shield=True):
            await self._give_back(slot)

    async def run(self) -> None:
        """The upkeep, until cancelled: let idle slots linger (each spare is given back
        ``linger`` seconds after it fell idle, every spare when cancelled), and give back the
        slots Redis holds for this process that it does not hold (every ``sweep_every``)."""
        if self._linger <= 0:
            await self._sweep_forever()
            return
        self._upkeeps += 1  # at once: a slot given back from now on lingers
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._sweep_forever)
                await self._linger_forever()
        finally:
            self._upkeeps -= 1
            if not self._lingering:
                slots = [slot for slot, _, _ in self._spare]
                self._spare.clear()
                with anyio.CancelScope(shield=True):
                    await self._give_back_quietly(slots)

    async def _linger_forever(self) -> None:
        while True:
            if not self._spare:
                if self._spared is None or self._spared.is_set():
                    self._spared = anyio.Event()
                await self._spared.wait()
                continue
            now = self._clock.monotonic()
            due = min(idle for _, _, idle in self._spare) + self._linger
            if due > now:
                await anyio.sleep(due - now)
                continue
            expired = [slot for slot, _, idle in self._spare if idle + self._linger <= now]
            self._spare = [spare for spare in self._spare if spare[0] not in expired]
            with anyio.CancelScope(shield=True):
                await self._give_back_quietly(expired)

    async def _sweep_forever(self) -> None:
        while True:
            await anyio.sleep(self._sweep_every)
            try:
                await self.sweep()
            except StoreUnavailable as exc:
                log.debug("sweeping this process's Zoho call slots: %s", exc.message)
            except Exception:  # the upkeep must outlive a bad sweep: slots would only expire
                log.exception("sweeping this process's Zoho call slots failed; trying again")

    async def sweep(self) -> int:
        """Give back the slots Redis holds for this process that it does not hold (lost to
        a failed give-back or brought back by a restarted Redis); returns how many.

        Raises:
            StoreUnavailable: Redis did not answer.
        """
        mine = self.process + ":"
        with store_errors(self._client, "reading the Zoho call slots"):
            taken = await self._client.zrange(self._slots_key, 0, -1)
        self.sweeps += 1
        # Read after the answer, in one step with the comparison: a slot asked of Redis is
        # in _asking until it is in _busy, so none of ours still in use looks stray.
        held = {*self._busy, *(slot for slot, _, _ in self._spare), *self._asking}
        stray = [
            name
            for name in (raw.decode() if isinstance(raw, bytes) else str(raw) for raw in taken)
            if name.startswith(mine) and name not in held
        ]
        if stray:
            with store_errors(self._client, "giving back lost Zoho call slots"):
                await self._client.zrem(self._slots_key, *stray)
            self.sweeps += 1
            log.info("gave back %d Zoho call slot(s) this process had lost track of", len(stray))
            self._notify()
        return len(stray)

    async def pause(self, seconds: float) -> None:
        self._note_pause(seconds)
        ms = max(1, int(seconds * 1000))
        with store_errors(self._client, "pausing Zoho calls"):
            await self._scripts.pause(ms=ms)
        self.round_trips += 1

    def paused_for(self) -> float:
        return max(0.0, self._paused_until - self._clock.monotonic())

    def in_flight(self) -> int:
        return len(self._busy)

    async def refresh(self) -> float:
        await self._look()
        return self.paused_for()

    # ------------------------------------------------------------------ internals

    async def _local_permit(self, deadline: float) -> bool:
        try:
            self._local.acquire_nowait()
        except anyio.WouldBlock:
            with anyio.CancelScope(deadline=deadline):
                await self._local.acquire()
                return True
            return False
        return True

    async def _take(self) -> Admission:
        delay = self._poll
        while True:
            reused = await self._reuse()
            if reused is not None:
                return reused
            async with self._ask:
                reused = await self._reuse()  # a slot may have been handed over meanwhile
                if reused is not None:
                    return reused
                slot = f"{self.process}:{next(self._ids)}"
                with anyio.CancelScope(shield=True):  # a granted slot must never go untracked
                    self._asking.add(slot)
                    try:
                        granted, pause_ms = await self._ask_redis(slot)
                    finally:
                        self._asking.discard(slot)
                    if granted:
                        self._busy[slot] = self._clock.monotonic()
                        return Admission(slot)
                if pause_ms > 0:
                    return Admission(None, pause_ms / 1000)
                # Every slot is taken: wait for one of ours to come back, or ask again.
                jitter = 0.5 + random.random()  # noqa: S311 - spreads the fleet's polls
                with anyio.move_on_after(delay * jitter):
                    await self._wakeup().wait()
                delay = min(delay * 2, self._poll * 4)

    async def _reuse(self) -> Admission | None:
        """A slot this process already holds, without a round trip when the pause is fresh.

        The spare that fell idle last is taken first, so that the others, if this process
        needs fewer slots now, linger out and go back to the fleet."""
        while self._spare:
            slot, granted_at, idle = self._spare.pop()
            if self._clock.monotonic() - granted_at >= self._hold_for:
                with anyio.CancelScope(shield=True):
                    await self._give_back(slot)
                continue
            if self._clock.monotonic() - self._seen_at > self._pause_check:
                self._spare.append((slot, granted_at, idle))
                with anyio.CancelScope(shield=True):
                    await self._look_shared()
                    if self._others_waiting:
                        await self._return_spares()  # the fleet is short: back it goes
                        return None
                if not self._spare:
                    continue
                slot, granted_at, idle = self._spare.pop()
            paused = self.paused_for()
            if paused > 0:
                self._spare.append((slot, granted_at, idle))
                return Admission(None, paused)
            self._busy[slot] = granted_at
            return Admission(slot)
        return None

    async def _ask_redis(self, slot: str) -> tuple[bool, int]:
        with store_errors(self._client, "taking a Zoho call slot"):
            granted, pause_ms, others = await self._scripts.enter(
                slot=slot,
                capacity=self.capacity,
                holder_ms=self._holder_ttl_ms,
                waiter_ms=self._waiter_ttl_ms,
            )
        self.round_trips += 1
        self._seen(pause_ms, others)
        return bool(granted), pause_ms

    async def _look(self) -> None:
        with store_errors(self._client, "reading the Zoho call pause"):
            pause_ms, others = await self._scripts.peek()
        self.round_trips += 1
        self._seen(pause_ms, others)

    async def _look_shared(self) -> None:
        """:meth:`_look` unless one is on its way already: calls that find the view stale at
        the same moment (they often come in step) wait for that one's answer instead."""
        while self._clock.monotonic() - self._seen_at > self._pause_check:
            if self._looking is not None:
                await self._looking.wait()
                continue  # still stale if that look failed: try one of our own
            self._looking = anyio.Event()
            try:
                await self._look()
            finally:
                self._looking.set()
                self._looking = None
            return

    def _seen(self, pause_ms: int, others: int) -> None:
        self._seen_at = self._clock.monotonic()
        self._others_waiting = max(0, others)
        if pause_ms > 0:
            self._note_pause(pause_ms / 1000)

    @property
    def _lingering(self) -> bool:
        """Do idle slots linger (is :meth:`run` running, with a ``linger``)?"""
        return self._upkeeps > 0

    async def _give_back(self, *slots: str) -> None:
        if not slots:
            return
        # Should Redis fail, the slots stay taken there until the sweep (in run()) gives them
        # back once it answers: this process no longer holds them.
        with store_errors(self._client, "giving back a Zoho call slot"):
            await self._client.zrem(self._slots_key, *slots)
        self.round_trips += 1
        self._notify()  # a local waiter may take it now through Redis

    async def _give_back_quietly(self, slots: list[str]) -> None:
        """Give slots back; if Redis fails, the sweep gives them back once it answers."""
        try:
            await self._give_back(*slots)
        except StoreUnavailable as exc:
            log.warning(
                "could not give back %d idle Zoho call slot(s): %s", len(slots), exc.message
            )

    async def _return_spares(self) -> None:
        """Every spare back to Redis, in one round trip."""
        slots = [slot for slot, _, _ in self._spare]
        self._spare.clear()
        await self._give_back(*slots)

    def _note_pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, self._clock.monotonic() + seconds)

    def _wakeup(self) -> anyio.Event:
        if self._wake is None:
            self._wake = anyio.Event()
        return self._wake

    def _notify(self) -> None:
        if self._wake is not None:
            self._wake.set()
            self._wake = None
