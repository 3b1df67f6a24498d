"""The inbox's patience: a delivery waiting on Zoho (down, throttled, a scope missing) is
kept however many passes it takes, and published once Zoho is back."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from ticketing.adapters.memory import InMemoryConversations
from ticketing.domain.conversation import Thread
from ticketing.domain.errors import (
    BreakerOpen,
    HelpdeskAuthError,
    HelpdeskUnavailable,
)

from tests.support.clock import ManualClock
from tests.support.sync import SyncWorld, sync_world, thread_added

pytestmark = pytest.mark.anyio

# More passes than the inbox once gave up after (50, each 5 s apart: a four-minute outage).
PASSES = 60


@dataclass
class Failing(InMemoryConversations):
    """Thread reads fail with the errors queued here first."""

    failures: list[Exception] = field(default_factory=list)

    async def get_thread(self, ticket_id: str, thread_id: str) -> Thread:
        if self.failures:
            raise self.failures.pop(0)
        return await super().get_thread(ticket_id, thread_id)


def world(clock: ManualClock) -> tuple[SyncWorld, Failing]:
    desk = Failing(clock)
    return sync_world(clock, conversations=desk, idle=0.0), desk


@pytest.mark.parametrize(
    "error",
    [
        HelpdeskUnavailable("503 from Zoho", status=503),
        BreakerOpen("the breaker is open"),
        HelpdeskAuthError("SCOPE_MISMATCH", status=403),
    ],
    ids=["zoho-down", "breaker-open", "scope-missing"],
)
async def test_a_delivery_waiting_on_zoho_is_kept_past_the_give_up_count(
    clock: ManualClock, error: Exception
) -> None:
    w, desk = world(clock)
    ticket = await w.our_ticket()
    reply = w.desk.reply(ticket, "Hola Ana")
    await w.receive([thread_added(ticket, reply)])
    desk.failures = [error] * PASSES
    for _ in range(PASSES):
        report = await w.handle("worker")
        assert report.done == 0
        assert report.waiting
    assert await w.inbox.backlog() == 1
    assert (await w.handle("worker")).published == 1
    assert [e["event_id"] for e in w.replies()] == [reply]
    assert await w.inbox.backlog() == 0
