"""Readiness means "a ticket would be accepted durably now", not "the store answers PING"."""

from __future__ import annotations

import pytest

from ticketing.adapters.memory import InMemoryTicketStore
from ticketing.application.operations import CheckReadiness
from ticketing.domain.errors import StoreUnavailable

from tests.support.clock import ManualClock

pytestmark = pytest.mark.anyio

OOM = "OOM command not allowed when used memory > 'maxmemory'"


class FullStore(InMemoryTicketStore):
    """Answers PING and refuses every write, as Redis over maxmemory with noeviction does."""

    async def probe_write(self) -> None:
        raise StoreUnavailable(f"Redis at fake:6379 failed (the readiness write): {OOM}")


class SilentStore(InMemoryTicketStore):
    """Does not answer at all (PING is false)."""

    writes = 0

    async def ping(self) -> bool:
        return False

    async def probe_write(self) -> None:
        self.writes += 1


async def test_a_store_that_answers_but_refuses_writes_is_not_ready() -> None:
    """PING answers, the readiness write is refused: not ready, the refusal kept for the log."""
    readiness = await CheckReadiness(FullStore(ManualClock()), store_kind="redis")()
    assert (readiness.ok, readiness.store) == (False, "redis")
    assert isinstance(readiness.error, StoreUnavailable)
    assert OOM in readiness.error.message


async def test_a_store_that_does_not_answer_is_not_ready_without_a_write() -> None:
    """No PING, no write tried: not ready."""
    store = SilentStore(ManualClock())
    readiness = await CheckReadiness(store, store_kind="redis")()
    assert (readiness.ok, readiness.error, store.writes) == (False, None, 0)


async def test_the_memory_store_takes_the_readiness_write() -> None:
    """In memory every write is taken: ready."""
    readiness = await CheckReadiness(InMemoryTicketStore(ManualClock()), store_kind="memory")()
    assert (readiness.ok, readiness.error) == (True, None)
