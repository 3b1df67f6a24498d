"""The operations use cases the entrypoints call instead of the store: queue figures,
readiness, the dead letters (list, replay in batches, reject), and what the guard answers
about its breaker and call gate."""

from __future__ import annotations

from collections.abc import Sequence

import anyio
import pytest

from ticketing.adapters.memory_gate import InMemoryCallGate
from ticketing.application.guard import CallSlots, GuardedHelpdesk
from ticketing.application.operations import (
    CheckReadiness,
    DeleteDeadLetters,
    ListDeadLetters,
    QueueStatus,
    RejectMessage,
    ReplayDeadLetters,
)
from ticketing.domain.breaker import BreakerState, CircuitBreaker
from ticketing.domain.errors import NotFound, StoreUnavailable
from ticketing.domain.model import DeadLetter, DeadLetterSearch

from tests.support.clock import ManualClock
from tests.support.harness import Harness

pytestmark = pytest.mark.anyio


async def bury(h: Harness, count: int) -> list[str]:
    """``count`` accepted tickets moved to the dead letters; their entry ids, oldest first."""
    for n in range(count):
        draft = h.draft(key=f"k{n}")
        await h.store.accept(draft)
        await h.store.bury(draft.key, "refused")
    return [letter.entry_id for letter in await h.store.list_dead(count)]


async def test_replay_every_moves_all_letters_a_batch_at_a_time(h: Harness) -> None:
    """Replaying everything goes oldest first in batches and reports the running total."""
    await bury(h, 5)
    seen: list[int] = []
    moved = await ReplayDeadLetters(h.store, batch=2).every(progress=seen.append)
    assert (moved, seen) == (5, [2, 4, 5])
    assert (await h.store.dead_count(), await h.store.pending_count()) == (0, 5)


async def test_replay_these_moves_the_named_letters_a_batch_at_a_time(h: Harness) -> None:
    """Named letters are replayed in batches; the others stay dead."""
    ids = await bury(h, 4)
    seen: list[int] = []
    moved = await ReplayDeadLetters(h.store, batch=2).these(ids[:3], progress=seen.append)
    assert (moved, seen) == (3, [2, 3])
    assert [d.entry_id for d in await h.store.list_dead()] == ids[3:]


class StuckLetters:
    """Dead letters that never move (a replay that keeps failing)."""

    def __init__(self) -> None:
        self.replays = 0

    async def list_dead(self, limit: int = 100) -> Sequence[DeadLetter]:
        return [DeadLetter("1-0", "stuck", "{}", ManualClock().now())]

    async def replay_dead(self, entry_ids: Sequence[str] | None = None) -> int:
        self.replays += 1
        return 0

    async def find_dead(self, *, reason: str | None = None, limit: int = 100) -> DeadLetterSearch:
        return DeadLetterSearch(await self.list_dead(), 1, 1)

    async def delete_dead(self, entry_ids: Sequence[str]) -> int:
        return 0

    async def dead_count(self) -> int:
        return 1

    async def known_dead(self, entry_ids: Sequence[str]) -> set[str]:
        return {"1-0"} & set(entry_ids)

    async def bury_raw(self, payload: str, reason: str, origin: str) -> None:
        raise AssertionError("not called")


async def test_replay_these_refuses_ids_that_name_no_letter_and_moves_none(h: Harness) -> None:
    """An unknown id (a typo, or replayed already): NotFound naming it; the known ones stay
    dead, so a corrected command replays them all."""
    ids = await bury(h, 2)
    with pytest.raises(NotFound) as caught:
        await ReplayDeadLetters(h.store).these([ids[0], "9-9", ids[1], "8-8"])
    assert caught.value.message == (
        "no dead letter 9-9, 8-8 (`ticketing queue dead` lists them); nothing replayed"
    )
    assert [d.entry_id for d in await h.store.list_dead()] == ids


async def test_a_long_list_of_unknown_ids_is_cut_in_the_message(h: Harness) -> None:
    with pytest.raises(NotFound, match="no dead letter 1-1, 2-1, 3-1, 4-1, 5-1 and 2 more "):
        await ReplayDeadLetters(h.store).these([f"{n}-1" for n in range(1, 8)])


async def test_replay_every_stops_when_a_batch_moves_nothing() -> None:
    """Letters that keep failing to move end the replay instead of looping forever."""
    letters = StuckLetters()
    seen: list[int] = []
    assert await ReplayDeadLetters(letters).every(progress=seen.append) == 0
    assert (letters.replays, seen) == (1, [0])


async def test_list_dead_letters_and_their_count(h: Harness) -> None:
    """The newest letters up to the limit, and how many there are in all."""
    ids = await bury(h, 3)
    listed = ListDeadLetters(h.store)
    assert [d.entry_id for d in (await listed(2)).letters] == ids[:0:-1]
    assert await listed.count() == 3


async def test_queue_status_counts_pending_and_dead(h: Harness) -> None:
    """The figures and the pending count alone."""
    await bury(h, 2)
    await h.store.accept(h.draft(key="waiting"))
    status = QueueStatus(h.store, h.store)
    figures = await status(dead_limit=1)
    assert (figures.pending, figures.dead, len(figures.dead_letters)) == (1, 2, 1)
    assert await status.pending() == 1


async def test_reject_message_buries_it_with_its_origin(h: Harness) -> None:
    """A malformed message goes to the dead letters remembering the stream it came from."""
    await RejectMessage(h.store)('{"not": "an incident"}', "no incident_id", "inbound")
    [letter] = await h.store.list_dead()
    assert (letter.origin, letter.reason, letter.key) == ("inbound", "no incident_id", None)


class DownStore:
    async def ping(self) -> bool:
        raise StoreUnavailable("redis is down")

    async def pending_count(self) -> int:
        raise StoreUnavailable("redis is down")

    async def dead_count(self) -> int:
        raise StoreUnavailable("redis is down")

    async def probe_write(self) -> None:
        raise StoreUnavailable("redis is down")


async def test_readiness_says_ready_when_the_store_answers(h: Harness) -> None:
    """Ready, with the store's kind, and no error."""
    readiness = await CheckReadiness(h.store, store_kind="memory")()
    assert (readiness.ok, readiness.store, readiness.error) == (True, "memory", None)


async def test_readiness_answers_not_ready_instead_of_raising() -> None:
    """A store that fails means "not ready", with the failure kept for the log line."""
    readiness = await CheckReadiness(DownStore(), store_kind="redis")()
    assert (readiness.ok, readiness.store) == (False, "redis")
    assert isinstance(readiness.error, StoreUnavailable)


async def test_the_guard_reports_its_breaker_state(h: Harness) -> None:
    """breaker_state follows the breaker (the drain and health read it, not .breaker)."""
    assert h.guarded.breaker_state is BreakerState.CLOSED
    for _ in range(3):
        h.breaker.record_failure()
    assert h.guarded.breaker_state is BreakerState.OPEN


async def test_the_guard_reports_its_call_slots(clock: ManualClock, h: Harness) -> None:
    """Without a gate: no cap, nothing counted; with one: its cap and the calls in flight."""
    assert await h.guarded.call_slots() == CallSlots(capacity=None, in_flight=0)
    gate = InMemoryCallGate(clock, 3)
    guarded = GuardedHelpdesk(h.helpdesk, CircuitBreaker(clock), clock, gate)
    admission = await gate.enter(0)
    assert admission.slot is not None
    assert await guarded.call_slots() == CallSlots(capacity=3, in_flight=1)


async def test_the_guard_upkeep_returns_at_once_without_a_gate(h: Harness) -> None:
    """Without a gate there is no upkeep to run; the background task ends at once."""
    with anyio.fail_after(1):
        await h.guarded.run_upkeep()


async def test_deleting_named_letters_deletes_them_and_leaves_the_others(h: Harness) -> None:
    ids = await bury(h, 3)
    assert await DeleteDeadLetters(h.store).these(ids[:2]) == 2
    assert [d.entry_id for d in await h.store.list_dead()] == ids[2:]


async def test_deleting_an_unknown_letter_is_not_found_and_deletes_nothing(h: Harness) -> None:
    """One unknown id among known ones: NotFound naming it, every letter still there."""
    ids = await bury(h, 2)
    with pytest.raises(NotFound, match=r"no dead letter 1-1 .*nothing deleted"):
        await DeleteDeadLetters(h.store).these([ids[0], "1-1"])
    assert await h.store.dead_count() == 2


async def test_a_purge_deletes_every_matching_letter_a_batch_at_a_time(h: Harness) -> None:
    """Matching letters go in batches with a running total; the others stay."""
    await bury(h, 5)
    await h.store.bury_raw('{"incident_id": "wa-1"}', "description: required", "inbound")
    seen: list[int] = []
    deleted = await DeleteDeadLetters(h.store, batch=2).matching("REFUSED", progress=seen.append)
    assert (deleted, seen) == (5, [2, 4, 5])
    [left] = await h.store.list_dead()
    assert left.label == "incident_id wa-1"
    assert await DeleteDeadLetters(h.store).matching(None) == 1
    assert await h.store.dead_count() == 0


async def test_a_purge_stops_when_letters_cannot_be_deleted() -> None:
    """Letters that keep coming back (a store that deletes nothing) cannot loop forever."""
    assert await DeleteDeadLetters(StuckLetters(), batch=2).matching(None) == 0


async def test_the_list_is_newest_first_with_totals(h: Harness) -> None:
    ids = await bury(h, 3)
    found = await ListDeadLetters(h.store)(2, reason="refused")
    assert [d.entry_id for d in found.letters] == ids[:0:-1]
    assert (found.matching, found.total) == (3, 3)


async def test_replay_matching_moves_only_the_letters_whose_reason_holds_it(h: Harness) -> None:
    """A batch at a time with a running total; the others stay dead."""
    await bury(h, 5)
    await h.store.bury_raw('{"incident_id": "wa-1"}', "description: required", "inbound")
    seen: list[int] = []
    moved = await ReplayDeadLetters(h.store, batch=2).matching("REFUSED", progress=seen.append)
    assert (moved, seen) == (5, [2, 4, 5])
    assert await h.store.pending_count() == 5
    [left] = await h.store.list_dead()
    assert left.label == "incident_id wa-1"
    assert await ReplayDeadLetters(h.store).matching("no such reason") == 0


async def test_replay_matching_moves_no_more_than_matched_when_it_started() -> None:
    """A letter that dies again at once (it keeps matching) is not replayed over and over by
    one request: at most as many moves as there were matches, and a batch that moves
    nothing ends it."""
    stuck = StuckLetters()
    assert await ReplayDeadLetters(stuck, batch=2).matching("stuck") == 0
    assert stuck.replays == 1
