"""The Redis inbound consumer, wired like production, on a real Redis and on fakeredis: one
ticket per incident whatever the transport or the number of instances, poison messages to the
dead letters, acknowledgement only after a durable accept, reclaim of abandoned entries."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
import redis.asyncio as aioredis

from ticketing.domain.errors import StoreUnavailable
from ticketing.domain.model import TicketState
from ticketing.domain.ports import TicketStore
from ticketing.entrypoints.consumer import MAX_MESSAGE_BYTES, InboundConsumer
from zoho_desk_emulator import EmulatorState

from tests.integration.wired import (
    CONTRACT_EVENT_KEYS,
    RedisBackend,
    dumps,
    incident,
    instance,
    pel_size,
    wait_for,
)

pytestmark = pytest.mark.anyio

GROUP = "ticket-service"


@pytest.fixture
async def redis(backend: RedisBackend) -> AsyncIterator[aioredis.Redis]:
    async with backend.connected() as client:
        yield client


@pytest.fixture
def emulator() -> EmulatorState:
    """One Zoho Desk account shared by every instance in the test."""
    return EmulatorState()


async def add(redis: aioredis.Redis, backend: RedisBackend, body: dict[str, Any] | str) -> str:
    payload = body if isinstance(body, str) else dumps(body)
    entry_id = await redis.xadd(backend.inbound, {"payload": payload})
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)


def tickets_for(emulator: EmulatorState, subject: str | None = None) -> list[Any]:
    return [t for t in emulator.tickets.values() if subject is None or t.subject == subject]


async def assert_one_ticket_nothing_pending(
    emulator: EmulatorState, redis: aioredis.Redis, backend: RedisBackend
) -> None:
    """Exactly one ticket was made, and the group holds no inbound entry unacknowledged."""
    assert len(tickets_for(emulator)) == 1
    assert await pel_size(redis, backend.inbound, GROUP) == 0


async def run_until_created(
    consumer: InboundConsumer, store: TicketStore, key: str, *, what: str
) -> None:
    """Run the consumer until the ticket of ``key`` is created, then stop it."""
    async with anyio.create_task_group() as tg:
        tg.start_soon(consumer.run)

        async def created() -> bool:
            record = await store.get(key)
            return record is not None and record.state is TicketState.CREATED

        await wait_for(created, what=what)
        tg.cancel_scope.cancel()


async def test_stream_incident_becomes_one_ticket(
    backend: RedisBackend, redis: aioredis.Redis, emulator: EmulatorState
) -> None:
    """An incident on the stream becomes one ticket with its contact, and its entry is acked."""
    async with instance(backend, emulator) as (_, consumer, store):
        await add(redis, backend, incident("wa-1"))
        assert await consumer.poll_once() == 1
        record = await store.get("wa-1")
    assert record is not None
    assert record.state is TicketState.CREATED
    [ticket] = tickets_for(emulator)
    assert ticket.id == record.ticket_id
    assert (ticket.subject, ticket.priority, ticket.channel) == (
        "Pago no reflejado",
        "High",
        "WhatsApp",
    )
    contact = emulator.contacts[ticket.contact_id]
    assert (contact.first_name, contact.last_name, contact.email) == (
        "Ana",
        "López",
        "ana@example.com",
    )
    assert await pel_size(redis, backend.inbound, GROUP) == 0
    assert await redis.xlen(backend.pending) == 0


async def test_same_incident_on_stream_and_pubsub_is_one_ticket(
    backend: RedisBackend, redis: aioredis.Redis, emulator: EmulatorState
) -> None:
    """The classifier publishing an incident on the channel and appending it to the stream
    yields one ticket and one created event."""
    async with instance(backend, emulator) as (_, consumer, store):
        async with anyio.create_task_group() as tg:
            tg.start_soon(consumer.run)

            async def subscribed() -> bool:
                counts = await redis.pubsub_numsub(backend.inbound)
                return bool(counts and counts[0][1])

            await wait_for(subscribed, what="the consumer's subscription")
            body = dumps(incident("wa-both"))
            await redis.publish(backend.inbound, body)
            await add(redis, backend, body)

            async def both_handled() -> bool:
                return consumer.handled >= 2

            await wait_for(both_handled, what="both deliveries")
            tg.cancel_scope.cancel()
        record = await store.get("wa-both")
    assert record is not None
    assert record.state is TicketState.CREATED
    assert len(tickets_for(emulator)) == 1
    assert await redis.xlen(backend.created) == 1
    assert await pel_size(redis, backend.inbound, GROUP) == 0


async def test_same_incident_to_two_instances_is_one_ticket(
    backend: RedisBackend, redis: aioredis.Redis, emulator: EmulatorState
) -> None:
    """The same incident delivered twice, each copy to another instance at the same time,
    yields one ticket."""
    async with (
        instance(backend, emulator, name="one") as (_, first, _),
        instance(backend, emulator, name="two") as (_, second, store),
    ):
        await add(redis, backend, incident("wa-twice"))
        await add(redis, backend, incident("wa-twice"))
        counts: list[int] = []

        async def poll(consumer: InboundConsumer) -> None:
            counts.append(await consumer.poll_once())

        # one entry each: a batch of one per poll makes both instances work at once
        first._batch = second._batch = 1
        async with anyio.create_task_group() as tg:
            tg.start_soon(poll, first)
            tg.start_soon(poll, second)
        record = await store.get("wa-twice")
    assert sorted(counts) == [1, 1]
    assert record is not None
    assert record.state is TicketState.CREATED
    assert len(tickets_for(emulator)) == 1
    assert await redis.xlen(backend.created) == 1
    assert await pel_size(redis, backend.inbound, GROUP) == 0


@pytest.mark.parametrize(
    "who",
    [{"name": "Nueva Clienta", "email": "nueva@example.com"}, {"phone": "+52 1 55 9876 5432"}],
    ids=["email", "phone"],
)
async def test_two_first_incidents_from_one_new_customer_make_one_contact(
    backend: RedisBackend, redis: aioredis.Redis, emulator: EmulatorState, who: dict[str, str]
) -> None:
    """Two first incidents from the same new customer, handled at once by two instances,
    create one Zoho contact and two tickets under it."""
    async with (
        instance(backend, emulator, name="one") as (_, first, _),
        instance(backend, emulator, name="two") as (_, second, _),
    ):
        await add(redis, backend, incident("wa-a", customer=who, subject="Primero"))
        await add(redis, backend, incident("wa-b", customer=who, subject="Segundo"))
        first._batch = second._batch = 1
        async with anyio.create_task_group() as tg:
            tg.start_soon(first.poll_once)
            tg.start_soon(second.poll_once)
    assert emulator.contacts_created == 1
    tickets = tickets_for(emulator)
    assert {t.subject for t in tickets} == {"Primero", "Segundo"}
    assert len({t.contact_id for t in tickets}) == 1


async def test_phone_only_customer(
    backend: RedisBackend, redis: aioredis.Redis, emulator: EmulatorState
) -> None:
    """A customer known only by a WhatsApp number gets a contact with the E.164 number in
    ``mobile``, where Zoho's own WhatsApp channel keeps it."""
    async with instance(backend, emulator) as (_, consumer, store):
        await add(redis, backend, incident("wa-phone", customer={"phone": "+52 1 55 1234 5678"}))
        await consumer.poll_once()
        record = await store.get("wa-phone")
    assert record is not None
    assert record.state is TicketState.CREATED
    [ticket] = tickets_for(emulator)
    contact = emulator.contacts[ticket.contact_id]
    assert contact.email is None
    assert (contact.mobile, contact.phone) == ("+525512345678", None)
    assert contact.last_name  # Zoho requires one; derived from the phone when there is no name


@pytest.mark.parametrize(
    ("overrides", "priority", "subject"),
    [
        ({"priority": "alta", "confidence": 0.91}, "High", "Pago no reflejado"),
        ({"priority": "alta", "confidence": 0.2}, "Low", "Pago no reflejado"),
        ({"priority": "baja", "confidence": None}, "Low", "Pago no reflejado"),
        ({"priority": "¿?", "confidence": 0.9}, "Medium", "Pago no reflejado"),
        (
            {"subject": None, "description": "Hola,  pagué ayer\ny no llega"},
            "High",
            "Billing: Hola, pagué ayer y no llega",
        ),
    ],
    ids=["alta", "low-confidence", "baja", "unknown-word", "derived-subject"],
)
async def test_priority_mapping_and_subject(
    backend: RedisBackend,
    redis: aioredis.Redis,
    emulator: EmulatorState,
    overrides: dict[str, Any],
    priority: str,
    subject: str,
) -> None:
    """The classifier's label maps to Zoho's priority (a low confidence gives
    LOW_CONFIDENCE_PRIORITY), and a missing subject is derived from category and text."""
    async with instance(backend, emulator, LOW_CONFIDENCE_PRIORITY="Low") as (_, consumer, _):
        await add(redis, backend, incident("wa-p", **overrides))
        await consumer.poll_once()
    [ticket] = tickets_for(emulator)
    assert (ticket.priority, ticket.subject) == (priority, subject)


POISON = {
    "not-json": ("{this is not json", "not JSON"),
    "no-incident-id": (
        dumps({k: v for k, v in incident("x").items() if k != "incident_id"}),
        "incident_id",
    ),
    "no-email-or-phone": (
        dumps(incident("wa-nobody", customer={"name": "Nadie"})),
        "an email or a phone number is required",
    ),
    "oversized": (
        dumps(incident("wa-big", description="x" * (MAX_MESSAGE_BYTES + 1))),
        "the limit is",
    ),
    "nested-2000-deep": (
        dumps(incident("wa-deep"))[:-1] + ', "extra": ' + "[" * 2000 + "]" * 2000 + "}",
        "JSON nested 2001 levels deep; the limit is 32",
    ),
    # A key written twice: msgspec would keep the last value; the dead letter names the key.
    "duplicate-key": (
        dumps(incident("wa-twice"))[:-1] + ', "priority": "baja", "priority": "alta"}',
        "priority is given twice in the message",
    ),
    "duplicate-escaped-nested-key": (
        dumps({k: v for k, v in incident("wa-twice-2").items() if k != "customer"})[:-1]
        + ', "customer": {"email": "a@example.com", "\\u0065mail": "b@example.com"}}',
        "customer.email is given twice in the message",
    ),
    "invisible-description": (
        dumps(incident("wa-invisible", description="\u200b\ufeff\u2060")),
        "description",
    ),
}


@pytest.mark.parametrize("case", sorted(POISON))
async def test_malformed_message_is_dead_lettered_and_the_consumer_goes_on(
    backend: RedisBackend,
    redis: aioredis.Redis,
    emulator: EmulatorState,
    case: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A malformed message goes to the dead letters with the reason and its origin, its entry
    is acknowledged, and the next message still becomes a ticket; no traceback is logged."""
    payload, reason = POISON[case]
    async with instance(backend, emulator) as (_, consumer, store):
        await add(redis, backend, payload)
        await add(redis, backend, incident("wa-good"))
        assert await consumer.poll_once() == 2
        [letter] = await store.list_dead()
        good = await store.get("wa-good")
    assert reason in letter.reason
    assert letter.origin == backend.inbound
    size = len(payload.encode())
    if size <= MAX_MESSAGE_BYTES:
        assert letter.payload == payload
    else:  # the first bytes (whole characters) of it, and the reason says so
        assert letter.payload == payload.encode()[:MAX_MESSAGE_BYTES].decode("utf-8", "ignore")
        assert f"(payload cut to its first {MAX_MESSAGE_BYTES} of {size} bytes)" in letter.reason
    assert good is not None
    assert good.state is TicketState.CREATED
    await assert_one_ticket_nothing_pending(emulator, redis, backend)
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"


async def test_entry_failing_unexpectedly_is_dead_lettered_once_not_redelivered(
    backend: RedisBackend,
    redis: aioredis.Redis,
    emulator: EmulatorState,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An entry whose handling raises something unforeseen (a bug) is dead-lettered with the
    reason on the first failure and acknowledged: no redelivery loop, one log line, no
    traceback; the entries around it become tickets."""
    async with instance(backend, emulator) as (_, consumer, store):
        patched: Any = store
        original = patched.accept_and_lease

        async def accept_and_lease(draft: Any, owner: str, ttl: float) -> Any:
            if draft.key == "wa-bug":
                raise RuntimeError("injected bug")
            return await original(draft, owner, ttl)

        patched.accept_and_lease = accept_and_lease
        payload = dumps(incident("wa-bug"))
        await add(redis, backend, payload)
        await add(redis, backend, incident("wa-fine"))
        assert await consumer.poll_once() == 2
        assert await pel_size(redis, backend.inbound, GROUP) == 0
        # whatever a restart or a reclaim would find: nothing is handled again
        await consumer.recover()
        assert await consumer.poll_once(block_ms=1) == 0
        [letter] = await store.list_dead()
        fine = await store.get("wa-fine")
    assert letter.reason == "unexpected RuntimeError: injected bug"
    assert letter.payload == payload
    assert fine is not None
    assert fine.state is TicketState.CREATED
    failures = [
        r for r in caplog.records if "wa-bug" in r.getMessage() or "injected" in r.getMessage()
    ]
    assert len(failures) == 1, [r.getMessage() for r in failures]
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"


async def test_entry_without_payload_field_is_dead_lettered(
    backend: RedisBackend, redis: aioredis.Redis, emulator: EmulatorState
) -> None:
    """A stream entry in some other format is kept whole in the dead letters and acked."""
    async with instance(backend, emulator) as (_, consumer, store):
        await redis.xadd(backend.inbound, {"data": '{"incident_id": "wa-old"}'})
        await consumer.poll_once()
        [letter] = await store.list_dead()
    assert "no 'payload' field" in letter.reason
    assert json.loads(letter.payload) == {"data": '{"incident_id": "wa-old"}'}
    assert letter.origin == backend.inbound
    assert await pel_size(redis, backend.inbound, GROUP) == 0


def unavailable_accept(store: Any, failures: int) -> list[str]:
    """Make the store's accept fail ``failures`` times (Redis refusing writes); returns the
    keys it refused."""
    original, original_leased = store.accept, store.accept_and_lease
    refused: list[str] = []

    def refuse(draft: Any) -> None:
        if len(refused) < failures:
            refused.append(draft.key)
            raise StoreUnavailable("Redis refused the write (injected)")

    async def accept(draft: Any) -> Any:
        refuse(draft)
        return await original(draft)

    async def accept_and_lease(draft: Any, owner: str, ttl: float) -> Any:
        refuse(draft)
        return await original_leased(draft, owner, ttl)

    store.accept, store.accept_and_lease = accept, accept_and_lease
    return refused


async def test_entry_is_acked_only_after_a_durable_accept(
    backend: RedisBackend, redis: aioredis.Redis, emulator: EmulatorState
) -> None:
    """While the store cannot accept the ticket, the stream entry stays unacknowledged; the
    running consumer delivers it again and it becomes one ticket."""
    async with instance(backend, emulator) as (_, consumer, store):
        refused = unavailable_accept(store, failures=1)
        await add(redis, backend, incident("wa-later"))
        with pytest.raises(StoreUnavailable):
            await consumer.poll_once()
        assert refused == ["wa-later"]
        assert await pel_size(redis, backend.inbound, GROUP) == 1
        assert tickets_for(emulator) == []

        await run_until_created(consumer, store, "wa-later", what="the redelivered entry's ticket")
    await assert_one_ticket_nothing_pending(emulator, redis, backend)


async def test_entries_of_a_dead_consumer_are_reclaimed(
    backend: RedisBackend, redis: aioredis.Redis, emulator: EmulatorState
) -> None:
    """Entries a crashed consumer took and never acknowledged are claimed by a running one
    once they have been idle long enough, and become tickets."""
    async with instance(backend, emulator) as (_, consumer, store):
        consumer._reclaim_idle_ms = 300
        await add(redis, backend, incident("wa-orphan"))
        # a consumer that read the entry and died before acknowledging it
        taken = await redis.xreadgroup(GROUP, "crashed", {backend.inbound: ">"}, count=10)
        assert taken
        await run_until_created(consumer, store, "wa-orphan", what="the reclaimed ticket")
    await assert_one_ticket_nothing_pending(emulator, redis, backend)


async def test_created_event_published_once_on_channel_and_stream(
    backend: RedisBackend, redis: aioredis.Redis, emulator: EmulatorState
) -> None:
    """One tickets:created event per ticket, with exactly the contract's fields, on the
    channel and on the stream, even when the incident arrives twice."""
    pubsub = redis.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(backend.created)
    try:
        async with instance(backend, emulator) as (_, consumer, store):
            await add(redis, backend, incident("wa-event"))
            await add(redis, backend, incident("wa-event"))
            await consumer.poll_once()
            record = await store.get("wa-event")
        messages = []
        with anyio.move_on_after(0.5):
            while True:
                message = await pubsub.get_message(timeout=0.1)
                if message and message["type"] == "message":
                    messages.append(message["data"])
    finally:
        await pubsub.aclose()
    assert record is not None
    [published] = messages
    [(_, fields)] = await redis.xrange(backend.created)
    assert fields[b"payload"] == published
    event = json.loads(published)
    assert set(event) == CONTRACT_EVENT_KEYS
    assert event["incident_id"] == "wa-event"
    assert event["source"] == "redis"
    assert event["ticket_id"] == record.ticket_id
    assert event["request_id"] == record.request_id
    assert event["ticket_number"] == record.ticket_number
    assert event["created_at"].endswith("Z")


async def test_replaying_a_dead_inbound_message_puts_it_back_on_the_stream(
    backend: RedisBackend, redis: aioredis.Redis, emulator: EmulatorState
) -> None:
    """`queue replay` puts a dead inbound message back on the inbound stream, as it was."""
    payload = dumps(incident("wa-fixme", customer={"name": "Sin contacto"}))
    async with instance(backend, emulator) as (services, consumer, store):
        await add(redis, backend, payload)
        await consumer.poll_once()
        assert await store.dead_count() == 1
        assert await services.replay() == 1
        assert await store.dead_count() == 0
        entries = await redis.xrange(backend.inbound)
        assert len(entries) == 2  # the original (acked, kept) and the replayed copy
        assert entries[-1][1][b"payload"].decode() == payload
        # still malformed: the consumer buries it again rather than losing it
        assert await consumer.poll_once() == 1
        assert await store.dead_count() == 1
