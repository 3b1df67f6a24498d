"""Polling on the fakes: the changed tickets of the service's are caught up once each, at a
bounded cost, by one poller at a time, with the window overlapping Zoho's search lag."""

from __future__ import annotations

import pytest

from ticketing.application.sync import PollChanges

from tests.support.clock import ManualClock
from tests.support.sync import SyncWorld, sync_world

pytestmark = pytest.mark.anyio


@pytest.fixture
def w(clock: ManualClock) -> SyncWorld:
    return sync_world(clock, overlap=30.0)


async def test_a_poll_publishes_replies_comments_and_closes_once(w: SyncWorld) -> None:
    """Reply, private note, public comment and close on one of our tickets, and a reply on a
    foreign one: the poll publishes the reply, the comment and the close; the next polls
    publish nothing more and fetch nothing they have seen."""
    ticket = await w.our_ticket()
    foreign = w.desk.ticket()
    w.clock.advance(5)
    reply = w.desk.reply(ticket, "Hola Ana")
    w.desk.reply(ticket, "nota", visibility="private")
    comment = w.desk.comment(ticket, "Lo revisamos")
    w.desk.reply(foreign, "otro")
    w.desk.close(ticket)
    w.clock.advance(5)
    first = await w.poll()
    assert (first.changed, first.ours, first.published) == (2, 1, 3)
    assert [e["event_id"] for e in w.replies()] == [reply, comment]
    assert [e["status"] for e in w.statuses()] == ["Closed"]
    # Search 3 + conversations 3 + two threads and a comment fetched 1 each + the state 1.
    assert first.credits == 3 + 3 + 3 + 1
    w.clock.advance(10)  # inside the overlap: the same changes seen again
    again = await w.poll()
    assert (again.published, again.credits) == (0, 3 + 3 + 1)  # the private note again
    w.clock.advance(120)  # the window starts at the last poll less the overlap
    assert (await w.poll()).credits == 7
    w.clock.advance(120)  # now past the change
    assert (await w.poll()).credits == 3
    assert w.counted("ticketing_sync_poll_credits_total") == 10 + 7 + 7 + 3


async def test_one_poller_at_a_time(w: SyncWorld, clock: ManualClock) -> None:
    """A second process's poll is skipped while the first holds the poller's lease."""
    other = PollChanges(
        w.conversations,
        w.publisher,
        w.log,
        w.poll._leases,  # the same fleet
        clock,
        w.metrics,
        owner="poller-2",
        overlap=30,
        first_window=3600,
        follow_closed=86400,
        lease_ttl=180,
    )
    assert (await w.poll()).polled
    assert not (await other()).polled
    clock.advance(181)
    assert (await other()).polled


async def test_tickets_closed_long_ago_are_no_longer_watched(clock: ManualClock) -> None:
    """A ticket closed longer ago than SYNC_FOLLOW_CLOSED costs nothing beyond the search."""
    w = sync_world(clock, follow_closed=60.0, first_window=7200.0)
    ticket = await w.our_ticket()
    w.desk.close(ticket)
    clock.advance(3600)
    report = await w.poll()
    assert (report.ours, report.credits) == (0, 3)
