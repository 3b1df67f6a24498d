"""The ticket's lease: taken with the acceptance or the ledger read, given back with the
completion, and on every other way out; a ticket leased elsewhere is left alone."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest

from ticketing.adapters.memory import InMemoryTicketStore
from ticketing.domain.errors import HelpdeskRejected, HelpdeskUnavailable, StoreUnavailable
from ticketing.domain.model import TicketState

from tests.support.harness import Harness

pytestmark = pytest.mark.anyio


class RecordingStore:
    """The in-memory store, noting every step asked of it from outside (each step is one
    round trip on Redis)."""

    def __init__(self, inner: InMemoryTicketStore) -> None:
        self.inner = inner
        self.steps: list[str] = []

    def __getattr__(self, name: str) -> Any:
        value = getattr(self.inner, name)
        if not inspect.iscoroutinefunction(value):
            return value

        async def recorded(*args: Any, **kwargs: Any) -> Any:
            self.steps.append(name)
            return await value(*args, **kwargs)

        return recorded


@pytest.fixture
def recorded(h: Harness) -> Callable[[], list[str]]:
    """Put a recording wrapper between the use cases and the store; returns the steps so far."""
    store = RecordingStore(h.store)
    h.processor._store = store  # type: ignore[assignment]
    h.submit._store = store  # type: ignore[assignment]
    h.drain._store = store  # type: ignore[assignment]
    return lambda: list(store.steps)


async def test_a_returning_ticket_costs_three_store_steps(
    h: Harness, recorded: Callable[[], list[str]]
) -> None:
    """Accept and lease in one step, mark creating, complete (which gives the lease back):
    no separate lease, ledger read or release."""
    await h.submit(h.draft(key="first"))
    before = len(recorded())
    outcome, new = await h.submit(h.draft(key="second"))
    assert new
    assert outcome.state is TicketState.CREATED
    assert recorded()[before:] == ["accept_and_lease", "mark_creating", "complete"]
    assert h.store.lease_holder("second") is None


async def test_a_queued_ticket_takes_no_lease(h: Harness) -> None:
    """attempt_now=False (and an unavailable Zoho) accepts without a lease: a drain can
    start on it at once."""
    draft = h.draft(key="later")
    outcome, new = await h.submit(draft, attempt_now=False)
    assert (outcome.state, new) == (TicketState.ACCEPTED, True)
    assert h.store.lease_holder("later") is None
    report = await h.drain()
    assert (report.created, report.remaining) == (1, 0)


@pytest.mark.parametrize(
    "error",
    [
        HelpdeskUnavailable("Zoho answered 503", sent=False),
        HelpdeskUnavailable("timed out reading the answer", sent=True),
        HelpdeskRejected("subject too long", status=422),
    ],
    ids=["not-sent", "ambiguous", "rejected"],
)
async def test_every_way_out_gives_the_lease_back(h: Harness, error: Exception) -> None:
    """Queued, ambiguous or buried: the attempt ends and the lease is free for the next one."""
    h.helpdesk.fail_next("create_ticket", error)
    outcome, _ = await h.submit(h.draft(key="k1"))
    assert outcome.state is not TicketState.CREATED
    assert h.store.lease_holder("k1") is None


async def test_a_ticket_leased_elsewhere_is_left_alone_until_the_lease_expires(
    h: Harness,
) -> None:
    """Another process holds the lease (it is working on the ticket, or died doing so): no
    Zoho call, the ticket stays queued; once the lease expires the drain creates it, once."""
    draft = h.draft(key="k1")
    await h.submit(draft, attempt_now=False)
    taken = await h.store.lease("k1", "another-process", h.processor.lease_ttl)
    assert taken.held is True

    outcome = await h.processor.process(draft)
    report = await h.drain()
    assert outcome.state is TicketState.ACCEPTED
    assert (report.processed, report.created) == (1, 0)
    assert h.helpdesk.count("create_ticket") == 0
    assert h.store.lease_holder("k1") == "another-process"

    h.later(h.processor.lease_ttl + 1)
    report = await h.drain()
    assert (report.created, report.remaining) == (1, 0)
    assert h.helpdesk.count("create_ticket") == 1
    assert h.store.lease_holder("k1") is None


async def test_a_lease_held_at_accept_time_falls_back_to_taking_it(h: Harness) -> None:
    """A brand-new key whose lease someone holds (its ledger was deleted under a worker) is
    accepted, not leased: the submit asks for the lease the usual way and is refused."""
    await h.store.lease("k1", "stale-worker", h.processor.lease_ttl)
    outcome, new = await h.submit(h.draft(key="k1"))
    assert new
    assert outcome.state is TicketState.ACCEPTED
    assert h.helpdesk.count("create_ticket") == 0
    assert await h.store.pending_count() == 1


class FailingStore(RecordingStore):
    """The in-memory store whose writes after the acceptance fail while ``down`` (Redis lost
    in the middle of an attempt: a failover, a restart)."""

    down = False

    def __getattr__(self, name: str) -> Any:
        value = super().__getattr__(name)
        if name not in ("mark_creating", "release"):
            return value

        async def failing(*args: Any, **kwargs: Any) -> Any:
            if self.down:
                raise StoreUnavailable("Redis is unreachable")
            return await value(*args, **kwargs)

        return failing


async def test_a_lease_that_could_not_be_given_back_goes_back_before_the_next_one(
    h: Harness,
) -> None:
    """Redis lost mid-attempt leaves the ticket leased by this living process (nobody may take
    it over); it is given back before the next lease is taken, not after the lease's expiry,
    and the drain then creates the ticket."""
    store = FailingStore(h.store)
    h.processor._store = store  # type: ignore[assignment]
    h.submit._store = store  # type: ignore[assignment]
    h.drain._store = store  # type: ignore[assignment]
    store.down = True
    outcome, new = await h.submit(h.draft(key="stuck"))
    assert (outcome.state, new) == (TicketState.ACCEPTED, True)
    assert h.store.lease_holder("stuck") is not None
    store.down = False
    await h.submit(h.draft(key="next"))
    assert h.store.lease_holder("stuck") is None
    assert (await h.drain()).created == 1
