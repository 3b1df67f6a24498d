"""Operations use cases: queue figures, readiness, the dead letters (list, replay, delete,
reject)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ticketing.domain.errors import NotFound
from ticketing.domain.model import DeadLetter, DeadLetterSearch, is_entry_id
from ticketing.domain.ports import DeadLetters, QueueMonitor

# Dead letters replayed per store call: a long replay shows progress between batches.
REPLAY_BATCH = 100


@dataclass(frozen=True, slots=True)
class QueueFigures:
    """Queue and dead-letter figures."""

    pending: int
    dead: int
    dead_letters: Sequence[DeadLetter] = ()


class QueueStatus:
    """How many tickets wait and how many are dead, with the newest dead letters."""

    def __init__(self, monitor: QueueMonitor, dead: DeadLetters) -> None:
        self._monitor = monitor
        self._dead = dead

    async def __call__(self, *, dead_limit: int = 0) -> QueueFigures:
        dead = (await self._dead.find_dead(limit=dead_limit)).letters if dead_limit else ()
        return QueueFigures(
            pending=await self._monitor.pending_count(),
            dead=await self._monitor.dead_count(),
            dead_letters=dead,
        )

    async def pending(self) -> int:
        """Tickets accepted and not yet created or dead."""
        return await self._monitor.pending_count()


@dataclass(frozen=True, slots=True)
class Readiness:
    """Would a ticket be accepted durably now?"""

    ok: bool
    store: str  # redis | memory
    error: Exception | None = None  # why the store did not answer


class CheckReadiness:
    """Ready when a ticket would be accepted durably now: the store answers and takes a
    small write that fails the way an acceptance fails (Redis full with ``noeviction``
    answers PING and refuses every acceptance). Any failure of the store means "not
    ready"."""

    def __init__(self, monitor: QueueMonitor, *, store_kind: str) -> None:
        self._monitor = monitor
        self._store_kind = store_kind

    async def __call__(self) -> Readiness:
        try:
            if not await self._monitor.ping():
                return Readiness(False, self._store_kind)
            await self._monitor.probe_write()
        except Exception as exc:  # readiness answers, never raises
            return Readiness(False, self._store_kind, exc)
        return Readiness(True, self._store_kind)


class ListDeadLetters:
    """The dead letters, newest first, optionally those whose reason holds some text."""

    def __init__(self, dead: DeadLetters) -> None:
        self._dead = dead

    async def __call__(self, limit: int = 100, *, reason: str | None = None) -> DeadLetterSearch:
        return await self._dead.find_dead(reason=reason, limit=limit)

    async def count(self) -> int:
        """How many dead letters there are."""
        return await self._dead.dead_count()


def _well_formed(entry_ids: Sequence[str]) -> list[str]:
    """The ids a store can be asked about; the others name no dead letter."""
    return [entry_id for entry_id in entry_ids if is_entry_id(entry_id)]


def _named(entry_ids: Sequence[str], known: set[str], done: str) -> None:
    """Raise NotFound naming the ids that are not dead letters (``done``: what did not
    happen then, "nothing replayed")."""
    if missing := [entry_id for entry_id in entry_ids if entry_id not in known]:
        shown = ", ".join(missing[:5]) + (
            f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        )
        raise NotFound(f"no dead letter {shown} (`ticketing queue dead` lists them); {done}")


class DeleteDeadLetters:
    """Delete dead letters for good: named ones, or every one whose reason holds some text
    (a purge). Their tickets' records stay as they are, so a story still says dead."""

    def __init__(self, dead: DeadLetters, *, batch: int = REPLAY_BATCH) -> None:
        self._dead = dead
        self._batch = batch

    async def these(self, entry_ids: Sequence[str]) -> int:
        """Delete the named letters; how many were deleted.

        Raises:
            NotFound: an id names no dead letter; nothing is deleted then.
        """
        _named(entry_ids, await self._dead.known_dead(_well_formed(entry_ids)), "nothing deleted")
        return await self._dead.delete_dead(entry_ids)

    async def matching(
        self, reason: str | None, progress: Callable[[int], None] | None = None
    ) -> int:
        """Delete every letter whose reason holds ``reason`` (None: every letter), newest
        first, a batch at a time, calling ``progress`` with the number deleted so far. Letters
        that die meanwhile and match are deleted too; stops when a batch deletes nothing."""
        deleted = 0
        while True:
            found = await self._dead.find_dead(reason=reason, limit=self._batch)
            if not found.letters:
                return deleted
            done = await self._dead.delete_dead([d.entry_id for d in found.letters])
            deleted += done
            if progress:
                progress(deleted)
            if not done:
                return deleted


class ReplayDeadLetters:
    """Put dead letters back where they came from, to be tried again."""

    def __init__(self, dead: DeadLetters, *, batch: int = REPLAY_BATCH) -> None:
        self._dead = dead
        self._batch = batch

    async def __call__(self, entry_ids: Sequence[str] | None = None) -> int:
        """Replay these letters (all of them when None) in one step; how many moved."""
        return await self._dead.replay_dead(entry_ids)

    async def every(self, progress: Callable[[int], None] | None = None) -> int:
        """Replay every dead letter, oldest first, a batch at a time, calling ``progress``
        with the number moved so far after each batch. Stops when a batch moves nothing, so
        letters that keep failing to move cannot loop forever."""
        moved = 0
        while True:
            batch = [d.entry_id for d in await self._dead.list_dead(self._batch)]
            if not batch:
                return moved
            done = await self._dead.replay_dead(batch)
            moved += done
            if progress:
                progress(moved)
            if not done:
                return moved

    async def matching(self, reason: str, progress: Callable[[int], None] | None = None) -> int:
        """Replay the letters whose reason holds ``reason``, newest first, a batch at a time,
        calling ``progress`` with the number moved so far; at most as many as match when it
        starts, so a letter that dies again meanwhile is not replayed twice by one request."""
        limit = (await self._dead.find_dead(reason=reason, limit=0)).matching
        moved = 0
        while moved < limit:
            found = await self._dead.find_dead(reason=reason, limit=min(self._batch, limit - moved))
            batch = [letter.entry_id for letter in found.letters]
            done = await self._dead.replay_dead(batch) if batch else 0
            if not done:
                return moved
            moved += done
            if progress:
                progress(moved)
        return moved

    async def these(
        self, entry_ids: Sequence[str], progress: Callable[[int], None] | None = None
    ) -> int:
        """Replay the named letters a batch at a time, calling ``progress`` with the number
        moved so far after each batch.

        Raises:
            NotFound: an id names no dead letter (a typo, or replayed already); nothing is
                replayed then, and the message names the ids.
        """
        _named(entry_ids, await self._dead.known_dead(_well_formed(entry_ids)), "nothing replayed")
        moved = 0
        for start in range(0, len(entry_ids), self._batch):
            moved += await self._dead.replay_dead(entry_ids[start : start + self._batch])
            if progress:
                progress(moved)
        return moved


class RejectMessage:
    """A message that never became a ticket (malformed): straight to the dead letters,
    remembering the stream it came from so that a replay puts it back there (see
    :meth:`DeadLetters.bury_raw`)."""

    def __init__(self, dead: DeadLetters) -> None:
        self._dead = dead

    async def __call__(self, payload: str, reason: str, origin: str) -> None:
        await self._dead.bury_raw(payload, reason, origin)
