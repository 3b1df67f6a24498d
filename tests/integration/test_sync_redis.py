"""The sync on a real Redis, as a fleet runs it: two processes (two sets of adapters on one
Redis) share the inbox and the streams; deliveries made three times, a process killed between
appending an event and acknowledging its delivery, or before doing anything, and forged
deliveries give exactly the events Zoho's data calls for, counted on the streams."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import anyio
import pytest
import redis.asyncio as aioredis

from ticketing.adapters.clock import SystemClock
from ticketing.adapters.memory import InMemoryConversations
from ticketing.adapters.redis.leases import RedisLeases
from ticketing.adapters.redis.store import RedisTicketStore
from ticketing.adapters.redis.sync import RedisSyncInbox, RedisSyncLog
from ticketing.application.sync import MeasureLag, SyncLag
from ticketing.domain.ports import EventStream, StatusMark

from tests.support.clock import ManualClock
from tests.support.sync import (
    ANA,
    SyncWorld,
    comment_added,
    sync_world,
    thread_added,
    ticket_updated,
)

pytestmark = pytest.mark.anyio


class Killed(Exception):
    """The process died here."""


class DiesAfterAppend(RedisSyncLog):
    """A process killed right after its first event reached the stream."""

    async def append(self, stream: EventStream, event_id: str, payload: str) -> bool:
        appended = await super().append(stream, event_id, payload)
        raise Killed(f"after appending {event_id} ({appended})")


class DiesBeforeAppend(RedisSyncLog):
    """A process that dies once it has fetched what it is to publish, before the append."""

    async def append(self, stream: EventStream, event_id: str, payload: str) -> bool:
        raise Killed(f"with {event_id} fetched and not published")


def fleet(
    redis: aioredis.Redis,
    prefix: str,
    clock: ManualClock,
    *,
    log: type[RedisSyncLog] = RedisSyncLog,
) -> tuple[SyncWorld, SyncWorld]:
    """Two processes on one Redis and one helpdesk; the second can be made to die."""
    conversations = InMemoryConversations(clock)

    def process(log_kind: type[RedisSyncLog]) -> SyncWorld:
        return sync_world(
            clock,
            conversations=conversations,
            store=RedisTicketStore(redis, clock, prefix=prefix),
            log=log_kind(redis, prefix=prefix),
            inbox=RedisSyncInbox(redis, prefix=prefix),
            leases=RedisLeases(redis, prefix=prefix),
            idle=0.0,  # a dead process's deliveries are taken at once (its idle time is up)
        )

    return process(RedisSyncLog), process(log)


async def on_stream(redis: aioredis.Redis, prefix: str, name: str) -> list[dict[str, Any]]:
    entries = await redis.xrange(f"{prefix}tickets:{name}")
    return [json.loads(fields[b"payload"]) for _, fields in entries]


@pytest.fixture
def redis(real_redis: object) -> aioredis.Redis:
    assert isinstance(real_redis, aioredis.Redis)
    return real_redis


async def test_deliveries_made_three_times_to_two_processes_give_one_event_each(
    redis: aioredis.Redis, key_prefix: str, clock: ManualClock
) -> None:
    """A reply, a public comment, a private comment and a close, each delivered three times
    and handled by two processes: one reply, one comment and one status event on the
    streams, and the inbox empty."""
    a, b = fleet(redis, key_prefix, clock)
    ticket = await a.our_ticket()
    reply = a.desk.reply(ticket, "Hola Ana")
    public = a.desk.comment(ticket, "Lo revisamos")
    private = a.desk.comment(ticket, "interno", public=False)
    a.desk.close(ticket)
    events = [
        thread_added(ticket, reply),
        comment_added(ticket, public),
        comment_added(ticket, private),
        ticket_updated(ticket),
    ]
    for _ in range(3):
        await a.receive(events)
    await a.handle("a")
    await b.handle("b")
    await a.handle("a")
    replies = await on_stream(redis, key_prefix, "replies")
    assert [(e["kind"], e["event_id"]) for e in replies] == [("reply", reply), ("comment", public)]
    assert replies[0]["customer"] == {"name": ANA.name, "email": ANA.email, "phone": ANA.phone}
    statuses = await on_stream(redis, key_prefix, "status")
    assert [(e["event_id"], e["status"]) for e in statuses] == [(f"{ticket}:status:1", "Closed")]
    assert await a.inbox.backlog() == 0


async def test_a_process_killed_between_append_and_ack_duplicates_nothing(
    redis: aioredis.Redis, key_prefix: str, clock: ManualClock
) -> None:
    """The process dies right after its reply event is on the stream, before acknowledging
    the delivery; the other takes the delivery over: the reply once, the close once."""
    alive, dying = fleet(redis, key_prefix, clock, log=DiesAfterAppend)
    ticket = await alive.our_ticket()
    reply = alive.desk.reply(ticket, "Hola Ana")
    alive.desk.close(ticket)
    await alive.receive([thread_added(ticket, reply), ticket_updated(ticket)])
    with pytest.raises(Killed):
        await dying.handle("dying")
    assert len(await on_stream(redis, key_prefix, "replies")) == 1
    assert await alive.inbox.backlog() == 1
    report = await alive.handle("alive")
    assert (report.entries, report.done) == (1, 1)
    assert [e["event_id"] for e in await on_stream(redis, key_prefix, "replies")] == [reply]
    assert len(await on_stream(redis, key_prefix, "status")) == 1
    assert await alive.inbox.backlog() == 0


async def test_a_process_killed_between_fetching_a_reply_and_publishing_it_loses_nothing(
    redis: aioredis.Redis, key_prefix: str, clock: ManualClock
) -> None:
    """The process fetched the reply from Zoho and died before appending it: the delivery is
    still in the inbox, unacknowledged; the other process fetches again and publishes it once."""
    alive, dying = fleet(redis, key_prefix, clock, log=DiesBeforeAppend)
    ticket = await alive.our_ticket()
    reply = alive.desk.reply(ticket, "Hola Ana")
    await alive.receive([thread_added(ticket, reply)])
    with pytest.raises(Killed):
        await dying.handle("dying")
    assert await on_stream(redis, key_prefix, "replies") == []
    assert await alive.inbox.backlog() == 1
    assert (await alive.handle("alive")).published == 1
    assert [e["event_id"] for e in await on_stream(redis, key_prefix, "replies")] == [reply]
    assert (await alive.handle("alive")).published == 0
    assert await alive.inbox.backlog() == 0


async def test_a_delivery_stored_by_a_process_that_died_at_once_is_not_lost(
    redis: aioredis.Redis, key_prefix: str, clock: ManualClock
) -> None:
    """A delivery handed to a process that dies before it fetched anything is published by
    the other: durable from "Zoho told us" to "on the stream"."""
    a, b = fleet(redis, key_prefix, clock)
    ticket = await a.our_ticket()
    reply = a.desk.reply(ticket, "Hola Ana")
    await a.receive([thread_added(ticket, reply)])
    [entry] = await a.inbox.claim("a", 10, 0.0)  # ...and a dies
    assert entry.events == (thread_added(ticket, reply),)
    assert (await b.handle("b")).published == 1
    assert [e["event_id"] for e in await on_stream(redis, key_prefix, "replies")] == [reply]


async def test_forged_deliveries_with_valid_token_publish_nothing(
    redis: aioredis.Redis, key_prefix: str, clock: ManualClock
) -> None:
    """Unknown thread, comment and ticket ids on one of our tickets, or on a ticket that is
    not ours: nothing on either stream, the deliveries acknowledged."""
    a, _ = fleet(redis, key_prefix, clock)
    ticket = await a.our_ticket()
    await a.receive(
        [
            thread_added(ticket, "9999999"),
            comment_added(ticket, "8888888"),
            ticket_updated("7777777"),
            thread_added("6666666", "5555555"),
        ]
    )
    await a.handle("a")
    assert await on_stream(redis, key_prefix, "replies") == []
    assert await on_stream(redis, key_prefix, "status") == []
    assert await a.inbox.backlog() == 0


async def test_the_status_mark_moves_only_from_the_sequence_read(
    redis: aioredis.Redis, key_prefix: str
) -> None:
    """Two processes moving the same mark from the same sequence: one wins."""
    log = RedisSyncLog(redis, prefix=key_prefix)
    assert await log.status_mark("1") is None
    assert await log.set_status_mark("1", 0, StatusMark("Closed", 1))
    assert not await log.set_status_mark("1", 0, StatusMark("Open", 1))
    assert await log.status_mark("1") == StatusMark("Closed", 1)


async def test_the_ledger_keeps_the_customer_once_the_draft_is_gone(
    redis: aioredis.Redis, key_prefix: str, clock: ManualClock
) -> None:
    """After completion the draft is deleted but who asked is kept, for the sync's events."""
    a, _ = fleet(redis, key_prefix, clock)
    ticket = await a.our_ticket()
    key = await a.store.owner_of(ticket)
    assert await a.store.draft(key) is None
    assert await a.store.customer(key) == ANA


async def test_the_lag_is_the_oldest_delivery_not_handled_and_the_cursor_age(
    redis: aioredis.Redis, key_prefix: str
) -> None:
    """On Redis the inbox's oldest entry is read from its stream id (Redis's clock): a
    delivery stored and handed out but not handled counts, a handled one does not; the poll
    lag is the age of the cursor the poller wrote."""
    clock = SystemClock()
    inbox = RedisSyncInbox(redis, prefix=key_prefix)
    log = RedisSyncLog(redis, prefix=key_prefix)
    lag = MeasureLag(inbox, log, clock)
    assert await lag() == SyncLag(inbox=0.0, poll=None)
    first = await inbox.put([thread_added("1", "11")])
    await anyio.sleep(0.3)
    await inbox.put([thread_added("1", "12")])
    await inbox.claim("a", 1, 60.0)  # handed out, not handled
    now = await lag()
    assert 0.25 <= now.inbox < 5, now
    await inbox.ack([first])
    assert (await lag()).inbox < 0.25
    await inbox.ack([e.id for e in await inbox.claim("a", 10, 60.0)])
    assert (await lag()).inbox == 0
    await log.set_poll_cursor(clock.now() - timedelta(seconds=90))
    poll = (await lag()).poll
    assert poll is not None
    assert 90 <= poll < 95
