"""A refused file's dead letter, replayed, goes back on the attachment jobs stream as a job
for that one file, and is tried again: on a real Redis, with the store and the worker as
production wires them (the in-process store has no stream to put it back on)."""

from __future__ import annotations

import base64

import pytest
import redis.asyncio as aioredis

from ticketing.adapters.memory import InMemoryConversations
from ticketing.adapters.memory_attachments import InMemoryAttachments, InMemoryFetcher
from ticketing.adapters.redis.attachments import RedisAttachmentBlobs, RedisAttachmentWork
from ticketing.adapters.redis.store import RedisTicketStore
from ticketing.application.attachments import AttachmentPolicy, PutAttachments, StageFiles
from ticketing.application.intake import IncomingFile, IntakePolicy, incident_ticket
from ticketing.domain.model import Outcome, Ticket

from tests.support.clock import ManualClock

pytestmark = [pytest.mark.anyio, pytest.mark.redis]

PHOTO = b"\x89PNG" + bytes(range(256))


async def test_a_replayed_dead_file_is_tried_again_and_put_on_once(
    real_redis: object, key_prefix: str, clock: ManualClock
) -> None:
    assert isinstance(real_redis, aioredis.Redis)
    store = RedisTicketStore(real_redis, clock, prefix=key_prefix)
    work = RedisAttachmentWork(real_redis, prefix=key_prefix)
    blobs = RedisAttachmentBlobs(real_redis, prefix=key_prefix)
    desk = InMemoryAttachments(clock=clock, blocked_types=("png",))
    comments = InMemoryConversations(clock)
    comments.add_ticket("500")
    put = PutAttachments(
        work,
        blobs,
        desk,
        InMemoryFetcher(),
        comments,
        store,
        store,
        clock,
        policy=AttachmentPolicy(idle=0.0, origin=work.stream),
    )
    staged: dict[str, bytes] = {}
    draft = incident_ticket(
        incident_id="wa-r-1",
        customer_name="Ana",
        customer_email=None,
        customer_phone="+525512345678",
        subject=None,
        description="foto",
        category=None,
        priority=None,
        confidence=None,
        channel="WhatsApp",
        received_at=clock.now(),
        policy=IntakePolicy(),
        attachments=[IncomingFile(filename="a.png", data=base64.b64encode(PHOTO).decode())],
        staged=staged,
    )
    await StageFiles(blobs, store, 60)(draft.key, staged)
    await store.accept(draft)
    outcome = Outcome.created(draft, Ticket("500", "101", "9", "s"), clock.now())
    await store.complete(draft.key, outcome, outcome.created_event())

    first = await put("w1")
    assert (first.done, first.dead) == (1, 1)  # the portal blocks png: dead, noted
    [letter] = await store.list_dead()
    assert "blocked_type" in letter.reason
    assert desk.files == {}

    desk.blocked_types = ()  # an admin unblocks the type, an operator replays the letter
    assert await store.replay_dead([letter.entry_id]) == 1
    again = await put("w1")
    assert (again.jobs, again.done, again.uploaded) == (1, 1, 1)
    assert [f.attachment.name for f in desk.files["500"]] == ["a.png"]
    assert await work.backlog() == 0
    assert await store.dead_count() == 0
    assert await put("w1") == type(again)()  # nothing left
