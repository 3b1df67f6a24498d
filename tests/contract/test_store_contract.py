"""One contract for the ticket store, leases, contact cache and token store: in memory,
on fakeredis, on a real Redis and on a Redis Cluster, so the in-memory fakes cannot drift from
Redis."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, cast

import anyio
import fakeredis
import pytest
import redis.asyncio as aioredis
import redis.exceptions
from redis.asyncio.cluster import RedisCluster

from ticketing.adapters.codec import encode_draft, encode_event
from ticketing.adapters.memory import (
    InMemoryContactCache,
    InMemoryLeases,
    InMemoryThreadIndex,
    InMemoryTicketStore,
    InMemoryTokenStore,
)
from ticketing.adapters.memory_attachments import InMemoryAttachmentBlobs, InMemoryAttachmentWork
from ticketing.adapters.redis.attachments import RedisAttachmentBlobs, RedisAttachmentWork
from ticketing.adapters.redis.cache import RedisContactCache
from ticketing.adapters.redis.connection import connect
from ticketing.adapters.redis.layout import KeyLayout
from ticketing.adapters.redis.leases import RedisLeases
from ticketing.adapters.redis.pubsub import open_pubsub
from ticketing.adapters.redis.store import PENDING_STREAM, RedisTicketStore
from ticketing.adapters.redis.threads import RedisThreadIndex
from ticketing.adapters.redis.tokens import RedisTokenStore
from ticketing.application.operations import DeleteDeadLetters, ReplayDeadLetters
from ticketing.domain.attachments import AttachmentSpec
from ticketing.domain.errors import NotFound, StoreUnavailable, TicketTaken
from ticketing.domain.model import (
    Customer,
    Joined,
    Outcome,
    Priority,
    Source,
    TicketCreated,
    TicketDraft,
    TicketState,
    request_fingerprint,
    same_request,
)
from ticketing.domain.ports import TokenSet

from tests.support.clock import ManualClock

pytestmark = pytest.mark.anyio

# On the cluster the stores are built with the cluster's KeyLayout (the contract's streams in
# slots of their own), so the test's namespace is a plain prefix (see conftest.key_prefix).
CLUSTER_LAYOUT = True

CACHE_TTL = 0.3
MIN_IDLE = 0.3  # seconds; real time on Redis, the manual clock in memory
CREATED_AT = datetime(2026, 11, 26, 10, 5, tzinfo=UTC)


def make_draft(key: str = "k1", **overrides: Any) -> TicketDraft:
    draft = TicketDraft(
        key=key,
        request_id=f"req-{key}",
        subject="Pago no reflejado",
        description="Hola, pagué ayer mi reserva y no me llega la confirmación",
        priority=Priority.HIGH,
        customer=Customer(name="Ana López", email="ana@example.com"),
        source=Source.REDIS,
        received_at=datetime(2026, 11, 26, 10, 0, tzinfo=UTC),
        category="billing",
        channel="WhatsApp",
        incident_id=key,
    )
    return replace(draft, **overrides)


def created(draft: TicketDraft, ticket_id: str = "t-1") -> tuple[Outcome, TicketCreated]:
    outcome = Outcome(
        key=draft.key,
        request_id=draft.request_id,
        state=TicketState.CREATED,
        ticket_id=ticket_id,
        ticket_number="101",
        contact_id="c-1",
        web_url=f"https://desk.example/{ticket_id}",
        created_at=CREATED_AT,
        incident_id=draft.incident_id,
        source=draft.source,
        attempts=1,
    )
    return outcome, outcome.created_event()


Store = InMemoryTicketStore | RedisTicketStore


@dataclass
class Backend:
    """The stores under test and the few back doors the assertions need on each backend."""

    kind: str
    clock: ManualClock
    store: Store
    leases: InMemoryLeases | RedisLeases
    cache: InMemoryContactCache | RedisContactCache
    tokens: InMemoryTokenStore | RedisTokenStore
    prefix: str = ""
    client: aioredis.Redis | None = None
    layout: KeyLayout = field(default_factory=KeyLayout)

    @property
    def redis(self) -> aioredis.Redis:
        assert self.client is not None
        return self.client

    @property
    def redis_store(self) -> RedisTicketStore:
        assert isinstance(self.store, RedisTicketStore)
        return self.store

    async def elapse(self, seconds: float) -> None:
        """Let time pass: the manual clock for memory, the wall clock for Redis."""
        self.clock.advance(seconds)
        if self.client is not None:
            await anyio.sleep(seconds)

    async def events(self) -> list[dict[str, Any]]:
        """The created-event stream, decoded."""
        if isinstance(self.store, InMemoryTicketStore):
            return [json.loads(encode_event(e)) for e in self.store.events]
        entries = await self.redis.xrange(self.store.created_stream)
        return [json.loads(fields[b"payload"]) for _, fields in entries]

    async def add_entry(self, fields: dict[str, str]) -> str:
        """Put a raw entry on the pending queue, as another program could."""
        if isinstance(self.store, InMemoryTicketStore):
            return self.store.add_entry(fields)
        entry_id = await self.redis.xadd(self.store.pending_stream, dict(fields))
        return entry_id.decode()

    async def delete_entry(self, entry_id: str) -> None:
        """XDEL: the entry goes, the PEL record that holds it stays."""
        if isinstance(self.store, InMemoryTicketStore):
            self.store.delete_entry(entry_id)
        else:
            await self.redis.xdel(self.store.pending_stream, entry_id)

    def another_store(self, **options: Any) -> Store:
        """A second store on the same backend and namespace, built with other options."""
        if self.client is None:
            return InMemoryTicketStore(self.clock, **options)
        return RedisTicketStore(
            self.client, self.clock, prefix=self.prefix, layout=self.layout, **options
        )

    async def stream_payloads(self, name: str) -> list[str]:
        """The ``payload`` fields of another stream (where a replay puts inbound messages)."""
        if isinstance(self.store, InMemoryTicketStore):
            return self.store.streams.get(name, [])
        return [fields[b"payload"].decode() for _, fields in await self.redis.xrange(name)]


@pytest.fixture(params=["memory", "fakeredis", "redis", "cluster", "sentinel"])
def redis_client(request: pytest.FixtureRequest) -> aioredis.Redis | None:
    """None (memory), a fakeredis client on a fresh server, the real Redis, or a client on the
    Redis Cluster (both may skip)."""
    if request.param == "memory":
        return None
    if request.param == "fakeredis":
        return fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
    if request.param == "cluster":
        return cast(aioredis.Redis, request.getfixturevalue("cluster_redis"))
    # From a sync fixture: anyio cannot run an async fixture from inside another one.
    if request.param == "sentinel":
        return cast(aioredis.Redis, request.getfixturevalue("sentinel_redis"))
    return cast(aioredis.Redis, request.getfixturevalue("real_redis"))


@pytest.fixture
async def backend(
    redis_client: aioredis.Redis | None, clock: ManualClock, key_prefix: str
) -> AsyncIterator[Backend]:
    if redis_client is None:
        yield Backend(
            kind="memory",
            clock=clock,
            store=InMemoryTicketStore(clock),
            leases=InMemoryLeases(clock),
            cache=InMemoryContactCache(clock, ttl=CACHE_TTL),
            tokens=InMemoryTokenStore(),
        )
        return
    fake = isinstance(redis_client, fakeredis.FakeAsyncRedis)
    clustered = isinstance(redis_client, RedisCluster)
    layout = KeyLayout.for_mode(
        "cluster" if clustered else "standalone", key_prefix + PENDING_STREAM
    )
    own = layout.own(key_prefix)
    yield Backend(
        kind="fakeredis" if fake else "cluster" if clustered else "redis",
        clock=clock,
        store=RedisTicketStore(redis_client, clock, prefix=key_prefix, layout=layout),
        leases=RedisLeases(redis_client, prefix=own),
        cache=RedisContactCache(redis_client, ttl=CACHE_TTL, prefix=own),
        tokens=RedisTokenStore(redis_client, prefix=own),
        prefix=key_prefix,
        client=redis_client,
        layout=layout,
    )
    if fake:
        await redis_client.aclose()


@pytest.fixture
async def subscriber(backend: Backend) -> AsyncIterator[Callable[[float], Awaitable[Any]]]:
    """Listens on the created-event channel; yields a function that waits for one message."""
    if isinstance(backend.store, InMemoryTicketStore):
        inbox: list[dict[str, Any]] = []
        backend.store.subscribe(lambda e: inbox.append(json.loads(encode_event(e))))

        async def next_memory(wait: float) -> Any:
            return inbox.pop(0) if inbox else None

        yield next_memory
        return
    pubsub = await open_pubsub(backend.redis)
    await pubsub.subscribe(backend.store.created_channel)
    await pubsub.get_message(timeout=1.0)  # the subscribe confirmation

    async def next_redis(wait: float) -> Any:
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=wait)
        return None if message is None else json.loads(message["data"])

    yield next_redis
    await pubsub.aclose()


# -- accept ---------------------------------------------------------------------------------


async def test_accept_twice_queues_once_and_answers_with_the_first_outcome(
    backend: Backend,
) -> None:
    """A second accept of a key stores nothing and returns the first outcome, new=False."""
    first, new = await backend.store.accept(make_draft("k1"))
    again, new_again = await backend.store.accept(make_draft("k1", request_id="other"))
    assert new is True
    assert new_again is False
    assert again == first
    assert first.state is TicketState.ACCEPTED
    assert first.request_id == "req-k1"
    assert await backend.store.pending_count() == 1


async def test_concurrent_accepts_of_one_key_queue_it_once(backend: Backend) -> None:
    """accept is one atomic step: racing accepts of one key make one entry and one new."""
    results: list[bool] = []

    async def accept(n: int) -> None:
        _, new = await backend.store.accept(make_draft("k1", request_id=f"r{n}"))
        results.append(new)

    async with anyio.create_task_group() as tg:
        for n in range(10):
            tg.start_soon(accept, n)
    assert sorted(results) == [False] * 9 + [True]
    assert await backend.store.pending_count() == 1


async def test_accepted_draft_and_outcome_are_in_the_ledger(backend: Backend) -> None:
    """After accept the ledger holds the outcome and the exact draft; unknown keys hold None."""
    draft = make_draft("k1")
    outcome, _ = await backend.store.accept(draft)
    assert await backend.store.get("k1") == outcome
    assert outcome.incident_id == "k1"
    assert outcome.source is Source.REDIS
    assert outcome.attempts == 0
    assert await backend.store.draft("k1") == draft
    assert await backend.store.get("nope") is None
    assert await backend.store.draft("nope") is None


async def test_the_requests_fingerprint_is_kept_past_completion_and_answered(
    backend: Backend,
) -> None:
    """The ledger keeps the request's fingerprint from its acceptance (issue 16): a known
    key answers with it after the ticket is created and its draft dropped, so a later
    request under the key can be told apart."""
    draft = make_draft("k1")
    first, _ = await backend.store.accept(draft)
    assert first.fingerprint == request_fingerprint(draft)
    await backend.store.complete("k1", *created(draft))
    assert await backend.store.draft("k1") is None  # dropped at completion
    again, new = await backend.store.accept(make_draft("k1", subject="Otra cosa"))
    assert new is False
    assert again.fingerprint == request_fingerprint(draft)
    assert not same_request(make_draft("k1", subject="Otra cosa"), again)
    assert same_request(make_draft("k1", request_id="retry"), again)


# -- attempts -------------------------------------------------------------------------------


async def test_mark_creating_and_failed_track_attempts(backend: Backend) -> None:
    """mark_creating counts attempts and stamps them; mark_failed goes back to ACCEPTED."""
    await backend.store.accept(make_draft("k1"))
    at = datetime(2026, 11, 26, 10, 1, tzinfo=UTC)
    creating = await backend.store.mark_creating("k1", at)
    assert creating.state is TicketState.CREATING
    assert creating.attempts == 1
    assert creating.last_attempt_at == at
    await backend.store.mark_failed("k1", "helpdesk down")
    failed = await backend.store.get("k1")
    assert failed is not None
    assert failed.state is TicketState.ACCEPTED
    assert failed.reason == "helpdesk down"
    assert (await backend.store.mark_creating("k1", at)).attempts == 2


async def test_mark_ambiguous_stamps_the_end_of_a_create_until_the_next(
    backend: Backend,
) -> None:
    """mark_ambiguous records when a CREATING key's create ended; the next mark_creating
    clears it (that create has not ended yet); other states ignore it."""
    await backend.store.accept(make_draft("k1"))
    await backend.store.mark_ambiguous("k1", CREATED_AT)  # accepted: nothing to stamp
    record = await backend.store.get("k1")
    assert record is not None
    assert record.attempt_ended_at is None
    await backend.store.mark_creating("k1", datetime(2026, 11, 26, 10, 1, tzinfo=UTC))
    await backend.store.mark_ambiguous("k1", CREATED_AT)
    record = await backend.store.get("k1")
    assert record is not None
    assert (record.state, record.attempt_ended_at) == (TicketState.CREATING, CREATED_AT)
    again = await backend.store.mark_creating("k1", CREATED_AT)
    assert again.attempt_ended_at is None
    assert (await backend.store.lease("k1", "me", 5)).record == again


async def test_mark_creating_unknown_key_is_not_found(backend: Backend) -> None:
    """mark_creating of a key never accepted raises NotFound."""
    with pytest.raises(NotFound):
        await backend.store.mark_creating("nope", CREATED_AT)


async def test_finished_keys_are_not_reopened(backend: Backend) -> None:
    """mark_failed and mark_creating leave a created key as it is."""
    draft = make_draft("k1")
    await backend.store.accept(draft)
    await backend.store.complete("k1", *created(draft))
    await backend.store.mark_failed("k1", "late failure")
    after = await backend.store.mark_creating("k1", CREATED_AT)
    assert after.state is TicketState.CREATED
    assert after.reason is None


# -- complete -------------------------------------------------------------------------------


async def test_complete_emits_exactly_one_event(
    backend: Backend, subscriber: Callable[[float], Awaitable[Any]]
) -> None:
    """complete writes one event to the stream and the channel; a second complete emits none."""
    draft = make_draft("k1")
    await backend.store.accept(draft)
    outcome, event = created(draft)
    await backend.store.complete("k1", outcome, event)
    await backend.store.complete("k1", outcome, event)

    expected = {
        "request_id": "req-k1",
        "incident_id": "k1",
        "ticket_id": "t-1",
        "ticket_number": "101",
        "contact_id": "c-1",
        "web_url": "https://desk.example/t-1",
        "created_at": "2026-11-26T10:05:00Z",
        "source": "redis",
    }
    assert await backend.events() == [expected]
    assert await subscriber(1.0) == expected
    assert await subscriber(0.2) is None


async def test_complete_finishes_the_ledger_and_empties_the_queue(backend: Backend) -> None:
    """After complete the ledger is CREATED with the ticket, the draft and the entry are gone."""
    draft = make_draft("k1")
    await backend.store.accept(draft)
    [queued] = await backend.store.claim("c1", 10, MIN_IDLE)
    await backend.store.complete("k1", *created(draft))
    outcome = await backend.store.get("k1")
    assert outcome is not None
    assert outcome.state is TicketState.CREATED
    assert (outcome.ticket_id, outcome.ticket_number) == ("t-1", "101")
    assert outcome.contact_id == "c-1"
    assert outcome.web_url == "https://desk.example/t-1"
    assert outcome.created_at == CREATED_AT
    assert outcome.request_id == "req-k1"
    assert await backend.store.draft("k1") is None
    assert await backend.store.pending_count() == 0
    assert await backend.store.in_flight_count() == 0
    assert await backend.store.claim("c1", 10, 0) == []
    # a repeated key now answers with the created ticket
    again, new = await backend.store.accept(draft)
    assert (again, new) == (outcome, False)
    assert queued.draft == draft


async def test_complete_records_whose_ticket_it_is(backend: Backend) -> None:
    """complete records ticket id → key; the same ticket is then refused to another key
    (TicketTaken, nothing changed, its lease kept) and completing the owner again is fine."""
    a, b = make_draft("order-A"), make_draft("order-B")
    await backend.store.accept(a)
    await backend.store.accept_and_lease(b, "worker-b", 30)
    assert await backend.store.owner_of("t-1") is None
    await backend.store.complete("order-A", *created(a, "t-1"))
    assert await backend.store.owner_of("t-1") == "order-A"

    with pytest.raises(TicketTaken) as info:
        await backend.store.complete("order-B", *created(b, "t-1"), owner="worker-b")

    assert info.value.owner == "order-A"
    record = await backend.store.get("order-B")
    assert record is not None
    assert record.state is TicketState.ACCEPTED
    assert not (await backend.store.lease("order-B", "someone-else", 30)).held
    assert await backend.store.pending_count() == 1
    await backend.store.complete("order-A", *created(a, "t-1"))  # its own: no error


async def test_complete_without_ledger_still_records_and_emits(backend: Backend) -> None:
    """A ticket completed for a key the ledger forgot is recorded CREATED and announced."""
    draft = make_draft("k1")
    await backend.store.complete("k1", *created(draft))
    outcome = await backend.store.get("k1")
    assert outcome is not None
    assert outcome.state is TicketState.CREATED
    assert outcome.request_id == "req-k1"
    assert len(await backend.events()) == 1


async def test_recent_created_is_the_created_stream_newest_first(backend: Backend) -> None:
    """recent_created reads the created events back, newest first and at most ``limit``: the
    console's "recent tickets" come from what the stream holds, nothing else."""
    for key in ("k1", "k2", "k3"):
        draft = make_draft(key)
        await backend.store.accept(draft)
        await backend.store.complete(key, *created(draft, ticket_id=f"t-{key}"))
    held = [event["request_id"] for event in await backend.events()]
    recent = await backend.store.recent_created(2)
    assert [event.request_id for event in recent] == held[::-1][:2]
    if backend.kind != "cluster":  # a cluster's events reach the stream through the outbox
        assert [(e.request_id, e.ticket_id) for e in recent] == [
            ("req-k3", "t-k3"),
            ("req-k2", "t-k2"),
        ]
    assert await backend.store.recent_created(0) == []


# -- dead letters ---------------------------------------------------------------------------


async def test_bury_moves_the_draft_to_the_dead_letters(backend: Backend) -> None:
    """bury: ledger DEAD with the reason, one dead letter with the payload, queue empty."""
    draft = make_draft("k1")
    await backend.store.accept(draft)
    await backend.store.claim("c1", 10, MIN_IDLE)
    await backend.store.bury("k1", "helpdesk rejected: email")
    outcome = await backend.store.get("k1")
    assert outcome is not None
    assert outcome.state is TicketState.DEAD
    assert outcome.reason == "helpdesk rejected: email"
    assert await backend.store.draft("k1") is None
    assert await backend.store.pending_count() == 0
    assert await backend.store.in_flight_count() == 0
    assert await backend.store.dead_count() == 1
    [letter] = await backend.store.list_dead()
    assert letter.key == "k1"
    assert letter.reason == "helpdesk rejected: email"
    assert letter.payload == encode_draft(draft).decode()
    assert letter.origin == "pending"
    assert letter.failed_at == backend.clock.now()
    assert await backend.store.claim("c1", 10, 0) == []


async def test_bury_twice_writes_one_dead_letter(backend: Backend) -> None:
    """Burying a dead key again changes nothing; burying an unknown key is NotFound."""
    await backend.store.accept(make_draft("k1"))
    await backend.store.bury("k1", "first")
    await backend.store.bury("k1", "second")
    assert await backend.store.dead_count() == 1
    with pytest.raises(NotFound):
        await backend.store.bury("nope", "why")


async def test_bury_raw_keeps_payload_reason_and_origin(backend: Backend) -> None:
    """bury_raw writes a dead letter with no key, the text as given, and its origin."""
    origin = f"{backend.prefix}tickets:classify:result"
    await backend.store.bury_raw('{"incident_id": 1}', "description: required", origin)
    [letter] = await backend.store.list_dead()
    assert letter.key is None
    assert letter.payload == '{"incident_id": 1}'
    assert letter.reason == "description: required"
    assert letter.origin == origin
    assert await backend.store.pending_count() == 0


async def test_bury_raw_buries_one_message_once(backend: Backend) -> None:
    """The same message from the same origin makes one letter (a redelivery after a crash
    before the acknowledgement, a pub/sub copy); another message or origin makes its own."""
    origin = f"{backend.prefix}tickets:classify:result"
    await backend.store.bury_raw("not json {", "not JSON", origin)
    await backend.store.bury_raw("not json {", "not JSON", origin)
    await backend.store.bury_raw("not json {{", "not JSON", origin)
    await backend.store.bury_raw("not json {", "not JSON", f"{backend.prefix}elsewhere")
    letters = await backend.store.list_dead()
    assert [(d.payload, d.origin) for d in letters] == [
        ("not json {", origin),
        ("not json {{", origin),
        ("not json {", f"{backend.prefix}elsewhere"),
    ]


async def test_bury_raw_again_after_a_replay(backend: Backend) -> None:
    """A replayed message that is still malformed comes back to the dead letters."""
    origin = f"{backend.prefix}tickets:classify:result"
    await backend.store.bury_raw("not json {", "not JSON", origin)
    assert await backend.store.replay_dead() == 1
    await backend.store.bury_raw("not json {", "not JSON", origin)
    [letter] = await backend.store.list_dead()
    assert letter.payload == "not json {"


async def test_dead_letters_are_capped_in_number(backend: Backend) -> None:
    """Beyond dead_maxlen the oldest letters go (about: Redis trims whole stream nodes), so a
    flood of malformed messages cannot fill Redis; the newest are kept."""
    store = backend.another_store(dead_maxlen=100)
    for n in range(600):
        await store.bury_raw(f"not json {n}", "not JSON", "somewhere")
    assert 100 <= await store.dead_count() <= 250
    letters = await store.list_dead(limit=1000)
    assert letters[-1].payload == "not json 599"
    assert all(d.payload != "not json 0" for d in letters)


async def test_dead_letter_payload_is_whole_up_to_the_limit_and_cut_beyond(
    backend: Backend,
) -> None:
    """A payload up to the limit is kept whole; a longer one keeps its first bytes (whole
    characters) and the reason says it was cut, so one letter costs at most the limit."""
    store = backend.another_store(dead_payload_bytes=1000)
    whole = "é" * 500  # 1000 bytes in UTF-8
    await store.bury_raw(whole, "too deep", "somewhere")
    await store.bury_raw("x" + "é" * 1000, "too big", "somewhere")
    first, second = await store.list_dead()
    assert (first.payload, first.reason) == (whole, "too deep")
    assert second.payload == "x" + "é" * 499  # 999 bytes: a character is never split
    assert second.reason == "too big (payload cut to its first 1000 of 2001 bytes)"
    # The same oversized message again is still recognised as buried once.
    await store.bury_raw("x" + "é" * 1000, "too big", "somewhere")
    assert await store.dead_count() == 2


async def test_list_dead_is_oldest_first_and_limited(backend: Backend) -> None:
    """list_dead returns the oldest letters first, at most limit of them; counts agree."""
    for n in range(3):
        await backend.store.bury_raw(f"p{n}", f"r{n}", "somewhere")
    assert [d.payload for d in await backend.store.list_dead(limit=2)] == ["p0", "p1"]
    assert await backend.store.dead_count() == 3
    assert await backend.store.pending_count() == 0


async def test_find_dead_is_newest_first_with_totals(backend: Backend) -> None:
    """find_dead lists the newest letters first, at most limit; matching = total without a
    reason."""
    for n in range(3):
        await backend.store.bury_raw(f"p{n}", f"r{n}", "somewhere")
    found = await backend.store.find_dead(limit=2)
    assert [d.payload for d in found.letters] == ["p2", "p1"]
    assert (found.matching, found.total) == (3, 3)
    assert (await backend.store.find_dead(limit=0)).letters == []


async def test_find_dead_filters_by_a_piece_of_the_reason(backend: Backend) -> None:
    """A reason filter is a case-insensitive piece of text; matches are counted over every
    letter even when only the newest few are returned."""
    reasons = ["Zoho refused: invalid email", "description: required", "zoho REFUSED: 422"]
    for n, reason in enumerate(reasons * 2):
        await backend.store.bury_raw(f"p{n}", reason, "somewhere")
    found = await backend.store.find_dead(reason="refused", limit=3)
    assert [d.payload for d in found.letters] == ["p5", "p3", "p2"]
    assert (found.matching, found.total) == (4, 6)
    nothing = await backend.store.find_dead(reason="no such reason")
    assert (list(nothing.letters), nothing.matching, nothing.total) == ([], 0, 6)


async def test_delete_dead_removes_only_the_letters_named(backend: Backend) -> None:
    """delete_dead deletes those letters for good and counts them; an unknown id counts for
    nothing; the ticket's ledger stays dead; the other letters stay."""
    draft = make_draft("k1")
    await backend.store.accept(draft)
    await backend.store.bury("k1", "rejected")
    await backend.store.bury_raw("raw", "unreadable", "somewhere")
    ticket, raw = (await backend.store.find_dead()).letters[::-1]
    assert await backend.store.delete_dead([ticket.entry_id, ticket.entry_id, "1-1"]) == 1
    assert await backend.store.delete_dead([]) == 0
    assert [d.entry_id for d in await backend.store.list_dead()] == [raw.entry_id]
    outcome = await backend.store.get("k1")
    assert outcome is not None
    assert outcome.state is TicketState.DEAD
    assert await backend.store.replay_dead([ticket.entry_id]) == 0
    assert await backend.store.pending_count() == 0


async def test_a_deleted_raw_letter_can_be_buried_again(backend: Backend) -> None:
    """The same message redelivered after its letter was deleted is a letter again (as after
    a replay): deleting does not make the service forget to keep a bad message."""
    await backend.store.bury_raw("same", "unreadable", "somewhere")
    (letter,) = await backend.store.list_dead()
    await backend.store.delete_dead([letter.entry_id])
    await backend.store.bury_raw("same", "unreadable", "somewhere")
    assert [d.payload for d in await backend.store.list_dead()] == ["same"]


async def test_replay_puts_a_buried_ticket_back_on_the_queue(backend: Backend) -> None:
    """A pending-origin letter goes back on the queue, its ledger ACCEPTED with 0 attempts."""
    draft = make_draft("k1")
    await backend.store.accept(draft)
    await backend.store.mark_creating("k1", CREATED_AT)
    await backend.store.bury("k1", "rejected")
    assert await backend.store.replay_dead() == 1
    assert await backend.store.dead_count() == 0
    assert await backend.store.pending_count() == 1
    outcome = await backend.store.get("k1")
    assert outcome is not None
    assert outcome.state is TicketState.ACCEPTED
    assert outcome.attempts == 0
    assert outcome.reason is None
    assert await backend.store.draft("k1") == draft
    [queued] = await backend.store.claim("c1", 10, MIN_IDLE)
    assert queued.draft == draft
    # the new entry is the ledger's own: completing it empties the queue
    await backend.store.complete("k1", *created(draft))
    assert await backend.store.pending_count() == 0


async def test_replay_puts_an_inbound_message_back_on_its_stream(backend: Backend) -> None:
    """Replaying a letter from another stream adds its payload back to that stream."""
    origin = f"{backend.prefix}tickets:classify:result"
    await backend.store.bury_raw('{"incident_id": "x"}', "description: required", origin)
    assert await backend.store.replay_dead() == 1
    assert await backend.stream_payloads(origin) == ['{"incident_id": "x"}']
    assert await backend.store.dead_count() == 0
    assert await backend.store.pending_count() == 0


async def test_replay_only_the_letters_asked_for(backend: Backend) -> None:
    """replay_dead(ids) moves those letters only; unknown ids count for nothing."""
    await backend.store.bury_raw("a", "r", f"{backend.prefix}in")
    await backend.store.bury_raw("b", "r", f"{backend.prefix}in")
    first, second = await backend.store.list_dead()
    assert await backend.store.replay_dead([second.entry_id, "999999-0"]) == 1
    assert [d.entry_id for d in await backend.store.list_dead()] == [first.entry_id]
    assert await backend.stream_payloads(f"{backend.prefix}in") == ["b"]


async def test_replay_does_not_requeue_a_key_created_meanwhile(backend: Backend) -> None:
    """A letter whose key got created after all is dropped, not queued again."""
    draft = make_draft("k1")
    await backend.store.accept(draft)
    await backend.store.bury("k1", "ambiguous")
    await backend.store.complete("k1", *created(draft))
    assert await backend.store.replay_dead() == 0
    assert await backend.store.dead_count() == 0
    assert await backend.store.pending_count() == 0


# -- claim ----------------------------------------------------------------------------------


async def test_claim_hands_out_new_entries_once_in_order(backend: Backend) -> None:
    """New entries go out oldest first, each to one consumer, delivered once."""
    drafts = [make_draft(f"k{n}") for n in range(3)]
    for d in drafts:
        await backend.store.accept(d)
    first = await backend.store.claim("c1", 2, MIN_IDLE)
    assert [q.draft for q in first] == drafts[:2]
    assert [q.deliveries for q in first] == [1, 1]
    second = await backend.store.claim("c2", 10, MIN_IDLE)
    assert [q.draft for q in second] == drafts[2:]
    assert await backend.store.claim("c3", 10, MIN_IDLE) == []
    assert await backend.store.in_flight_count() == 3


async def test_unacked_entries_come_back_to_their_consumer(backend: Backend) -> None:
    """A consumer's unacked entries come back to it first, with the delivery count raised."""
    await backend.store.accept(make_draft("k1"))
    [first] = await backend.store.claim("c1", 10, MIN_IDLE)
    await backend.store.accept(make_draft("k2"))
    again = await backend.store.claim("c1", 10, MIN_IDLE)
    assert again[0].entry_id == first.entry_id
    assert [q.draft.key for q in again] == ["k1", "k2"]
    assert [q.deliveries for q in again] == [2, 1]


async def test_other_consumers_take_entries_only_after_min_idle(backend: Backend) -> None:
    """An entry held by another consumer moves only once it has been idle for min_idle."""
    await backend.store.accept(make_draft("k1"))
    [held] = await backend.store.claim("c1", 10, MIN_IDLE)
    assert await backend.store.claim("c2", 10, MIN_IDLE) == []
    await backend.elapse(MIN_IDLE + 0.1)
    [taken] = await backend.store.claim("c2", 10, MIN_IDLE)
    assert taken.entry_id == held.entry_id
    assert taken.deliveries == 2
    # it is c2's now: c1 does not get it back
    assert await backend.store.claim("c1", 10, MIN_IDLE) == []


async def test_acked_entries_never_come_back(backend: Backend) -> None:
    """An acked entry is gone for every consumer."""
    await backend.store.accept(make_draft("k1"))
    [queued] = await backend.store.claim("c1", 10, MIN_IDLE)
    await backend.store.ack(queued.entry_id)
    assert await backend.store.claim("c1", 10, 0) == []
    assert await backend.store.claim("c2", 10, 0) == []
    assert await backend.store.pending_count() == 0
    assert await backend.store.in_flight_count() == 0


async def test_claim_count_is_respected_across_sources(backend: Backend) -> None:
    """Own, abandoned and new entries together never exceed count."""
    for n in range(4):
        await backend.store.accept(make_draft(f"k{n}"))
    await backend.store.claim("c1", 1, MIN_IDLE)  # k0 held by c1
    await backend.store.claim("c2", 1, MIN_IDLE)  # k1 held by c2
    await backend.elapse(MIN_IDLE + 0.1)
    got = await backend.store.claim("c1", 3, MIN_IDLE)
    assert [q.draft.key for q in got] == ["k0", "k1", "k2"]
    # fakeredis (2.41) does not reset an entry's idle time when its owner re-reads it, so its
    # XAUTOCLAIM re-claims k0 for c1 as well (deduplicated, but counted); Redis resets it.
    own = 3 if backend.kind == "fakeredis" else 2
    assert [q.deliveries for q in got] == [own, 2, 1]


async def test_entry_deleted_while_held_is_skipped_and_cleaned(backend: Backend) -> None:
    """An entry XDEL'd while in a PEL is not returned, and its PEL record is cleared."""
    await backend.store.accept(make_draft("k1"))
    await backend.store.accept(make_draft("k2"))
    held = await backend.store.claim("c1", 1, MIN_IDLE)
    await backend.delete_entry(held[0].entry_id)
    got = await backend.store.claim("c1", 10, MIN_IDLE)
    assert [q.draft.key for q in got] == ["k2"]
    assert await backend.store.in_flight_count() == 1


async def test_abandoned_deleted_entry_is_dropped(backend: Backend) -> None:
    """A deleted entry left idle by a dead consumer is dropped, not handed to another."""
    await backend.store.accept(make_draft("k1"))
    [held] = await backend.store.claim("c1", 10, MIN_IDLE)
    await backend.delete_entry(held.entry_id)
    await backend.elapse(MIN_IDLE + 0.1)
    assert await backend.store.claim("c2", 10, MIN_IDLE) == []
    assert await backend.store.in_flight_count() == 0


async def test_claim_buries_undecodable_payloads(backend: Backend) -> None:
    """Entries that do not decode are buried with the reason and skipped; good ones still come."""
    bad_json = await backend.add_entry({"key": "bad1", "payload": "{not json"})
    await backend.add_entry({"key": "bad2", "payload": '{"key": "bad2"}'})
    await backend.add_entry({"ticket": "old format"})
    await backend.store.accept(make_draft("k1"))
    got = await backend.store.claim("c1", 10, MIN_IDLE)
    assert [q.draft.key for q in got] == ["k1"]
    letters = await backend.store.list_dead()
    assert [d.key for d in letters] == ["bad1", "bad2", None]
    assert letters[0].payload == "{not json"
    assert "undecodable payload" in letters[0].reason
    assert "request_id" in letters[1].reason  # names the missing field
    assert json.loads(letters[2].payload) == {"ticket": "old format"}
    assert "no payload field" in letters[2].reason
    assert all(d.origin == "pending" for d in letters)
    assert await backend.store.pending_count() == 1
    assert await backend.store.in_flight_count() == 1
    assert bad_json not in [q.entry_id for q in await backend.store.claim("c1", 10, 0)]


async def test_undecodable_entry_of_a_live_key_leaves_its_ledger(backend: Backend) -> None:
    """A stray bad entry that shares a key with a queued ticket does not kill that ticket."""
    draft = make_draft("k1")
    await backend.store.accept(draft)
    await backend.add_entry({"key": "k1", "payload": "garbage"})
    got = await backend.store.claim("c1", 10, MIN_IDLE)
    assert [q.draft for q in got] == [draft]
    outcome = await backend.store.get("k1")
    assert outcome is not None
    assert outcome.state is TicketState.ACCEPTED
    assert await backend.store.dead_count() == 1


async def test_claim_with_zero_count_takes_nothing(backend: Backend) -> None:
    """claim(count=0) returns nothing and delivers nothing."""
    await backend.store.accept(make_draft("k1"))
    assert await backend.store.claim("c1", 0, MIN_IDLE) == []
    assert [q.deliveries for q in await backend.store.claim("c1", 5, MIN_IDLE)] == [1]


async def test_ping(backend: Backend) -> None:
    """A reachable store answers ping with True."""
    assert await backend.store.ping() is True


# -- leases, contact cache, tokens ----------------------------------------------------------


async def test_leases_are_exclusive_until_they_expire(backend: Backend) -> None:
    """One owner at a time; the owner may renew; another gets it once it expires."""
    assert await backend.leases.acquire("drain", "a", 0.3) is True
    assert await backend.leases.acquire("drain", "b", 0.3) is False
    assert await backend.leases.acquire("drain", "a", 0.3) is True
    assert await backend.leases.acquire("other", "b", 0.3) is True
    await backend.elapse(0.45)
    assert await backend.leases.acquire("drain", "b", 10) is True
    assert await backend.leases.acquire("drain", "a", 10) is False


async def test_leases_are_released_only_by_their_owner(backend: Backend) -> None:
    """release by someone else leaves the lease held; by the owner frees it."""
    assert await backend.leases.acquire("drain", "a", 10) is True
    await backend.leases.release("drain", "b")
    assert await backend.leases.acquire("drain", "b", 10) is False
    await backend.leases.release("drain", "a")
    assert await backend.leases.acquire("drain", "b", 10) is True


async def test_accept_and_lease_leases_a_new_key_to_its_owner(backend: Backend) -> None:
    """A new key is accepted and leased in one step: another owner is refused (and told the
    record), the owner renews it."""
    store = backend.store
    accepted = await store.accept_and_lease(make_draft("k1"), "a", 10)
    assert (accepted.new, accepted.leased) == (True, True)
    assert accepted.outcome.state is TicketState.ACCEPTED
    assert accepted.outcome == await store.get("k1")
    other = await store.lease("k1", "b", 10)
    assert other.held is False
    assert other.record == accepted.outcome
    assert (await store.lease("k1", "a", 10)).held is True
    assert await store.pending_count() == 1


async def test_accept_and_lease_of_a_known_key_takes_no_lease(backend: Backend) -> None:
    """A known key answers with its first outcome; the lease stays with whoever has it."""
    store = backend.store
    first = await store.accept_and_lease(make_draft("k1"), "a", 10)
    again = await store.accept_and_lease(make_draft("k1", subject="Otra vez"), "b", 10)
    assert (again.new, again.leased) == (False, False)
    assert again.outcome == first.outcome
    assert (await store.lease("k1", "b", 10)).held is False
    assert await store.pending_count() == 1


async def test_ticket_leases_expire_and_go_back_only_by_their_owner(backend: Backend) -> None:
    """A ticket's lease is free again once it expires, or once its owner gives it back."""
    store = backend.store
    await store.accept(make_draft("k1"))
    first = await store.lease("k1", "a", 0.3)
    assert first.held is True
    assert first.record is not None
    assert first.record.state is TicketState.ACCEPTED
    await backend.elapse(0.45)
    assert (await store.lease("k1", "b", 10)).held is True
    await store.release("k1", "a")  # not the owner any more: nothing happens
    assert (await store.lease("k1", "a", 10)).held is False
    await store.release("k1", "b")
    assert (await store.lease("k1", "a", 10)).held is True


async def test_lease_of_an_unknown_key_has_no_record(backend: Backend) -> None:
    """The lease of a key the ledger does not know can be held; its record is None."""
    leased = await backend.store.lease("nobody", "a", 10)
    assert leased.held is True
    assert leased.record is None


async def test_complete_gives_back_its_owners_lease_only(backend: Backend) -> None:
    """complete(owner=...) frees the lease the owner holds, in the same step; the lease of
    someone else is left alone."""
    store = backend.store
    draft = make_draft("k1")
    await store.accept_and_lease(draft, "a", 10)
    await store.complete("k1", *created(draft), owner="someone-else")
    assert (await store.lease("k1", "b", 10)).held is False
    await store.complete("k1", *created(draft), owner="a")  # finished already: still frees it
    taken = await store.lease("k1", "b", 10)
    assert taken.held is True
    assert taken.record is not None
    assert taken.record.state is TicketState.CREATED
    draft2 = make_draft("k2")
    await store.accept_and_lease(draft2, "a", 10)
    await store.complete("k2", *created(draft2, "t-2"), owner="a")
    assert (await store.lease("k2", "b", 10)).held is True
    assert len(await backend.events()) == 1 + 1


async def test_contact_cache_remembers_forgets_and_expires(backend: Backend) -> None:
    """put then get; forget drops; an entry disappears after the TTL."""
    assert await backend.cache.get("ana@example.com") is None
    await backend.cache.put("ana@example.com", "c-1")
    assert await backend.cache.get("ana@example.com") == "c-1"
    await backend.cache.forget("ana@example.com")
    assert await backend.cache.get("ana@example.com") is None
    await backend.cache.put("+5215512345678", "c-2")
    await backend.elapse(CACHE_TTL + 0.2)
    assert await backend.cache.get("+5215512345678") is None


async def test_token_store_round_trips(backend: Backend) -> None:
    """Saved tokens load back equal; nothing saved loads as None."""
    assert await backend.tokens.load() is None
    tokens = TokenSet(
        refresh_token="1000.r",
        access_token="1000.a",
        expires_at=datetime(2026, 11, 26, 11, 0, tzinfo=UTC),
        accounts_url="https://accounts.zoho.eu",
        api_domain="https://www.zohoapis.eu",
        scope="Desk.tickets.ALL",
    )
    await backend.tokens.save(tokens)
    assert await backend.tokens.load() == tokens
    await backend.tokens.save(replace(tokens, access_token=None, expires_at=None))
    assert await backend.tokens.load() == replace(tokens, access_token=None, expires_at=None)


# -- Redis only -----------------------------------------------------------------------------


redis_only = pytest.mark.parametrize(
    "redis_client", ["fakeredis", "redis", "cluster"], indirect=True
)


@redis_only
async def test_a_ledger_record_kept_before_fingerprints_answers_without_one(
    backend: Backend,
) -> None:
    """A record written before fingerprints were (no ``fingerprint`` field) answers None, and
    None is taken as the same request: an upgrade refuses no retry."""
    store = backend.redis_store
    await store.accept(make_draft("k1"))
    await backend.redis.hdel(store.ledger_key("k1"), "fingerprint")
    again, new = await store.accept(make_draft("k1", subject="Otra cosa"))
    assert (new, again.fingerprint) == (False, None)
    assert same_request(make_draft("k1", subject="Otra cosa"), again)


@redis_only
async def test_ledger_is_kept_for_the_retention_once_finished(backend: Backend) -> None:
    """Created and dead ledger hashes get the 7-day TTL; accepted ones have none."""
    b = backend
    store = b.redis_store
    week = 7 * 24 * 3600
    done, dead = make_draft("k1"), make_draft("k2")
    await store.accept(done)
    await store.accept(dead)
    assert await b.redis.ttl(store.ledger_key("k1")) == -1
    await store.complete("k1", *created(done))
    await store.bury("k2", "rejected")
    assert week - 5 <= await b.redis.ttl(store.ledger_key("k1")) <= week
    assert week - 5 <= await b.redis.ttl(store.ledger_key("k2")) <= week
    await store.replay_dead()
    assert await b.redis.ttl(store.ledger_key("k2")) == -1  # live again: kept until finished


@redis_only
async def test_ticket_owner_record_lives_as_long_as_the_ledger(backend: Backend) -> None:
    """The ticket id → key record is written with the ledger's own retention (one source)."""
    store = backend.redis_store
    draft = make_draft("k1")
    await store.accept(draft)
    await store.complete("k1", *created(draft, "t-9"))
    ledger_ttl = await backend.redis.ttl(store.ledger_key("k1"))
    owner_ttl = await backend.redis.ttl(store.owner_key("t-9"))
    assert ledger_ttl > 0
    assert abs(owner_ttl - ledger_ttl) <= 1
    assert await backend.redis.get(store.owner_key("t-9")) == b"k1"


@redis_only
async def test_ledger_retention_is_the_one_given(backend: Backend) -> None:
    """LEDGER_RETENTION reaches the ledger: a finished key's hash lives that long."""
    b = backend
    store = b.another_store(retention=3600)
    assert isinstance(store, RedisTicketStore)
    done, dead = make_draft("k1"), make_draft("k2")
    await store.accept(done)
    await store.accept(dead)
    await store.complete("k1", *created(done))
    await store.bury("k2", "rejected")
    assert 3595 <= await b.redis.ttl(store.ledger_key("k1")) <= 3600
    assert 3595 <= await b.redis.ttl(store.ledger_key("k2")) <= 3600


@redis_only
async def test_created_events_older_than_the_retention_are_trimmed(backend: Backend) -> None:
    """The created-event stream keeps the events of the retention (LEDGER_RETENTION), so it
    stays flat under a steady load instead of filling up to its count cap."""
    b = backend
    store = b.another_store(retention=3600)
    assert isinstance(store, RedisTicketStore)
    stale = int(b.clock.now().timestamp() * 1000) - 2 * 3600 * 1000
    await b.redis.xadd(store.created_stream, {"payload": "{}"}, id=f"{stale}-0")
    await b.redis.xadd(store.created_stream, {"payload": "{}"}, id=f"{stale + 1}-0")
    draft = make_draft("k1")
    await store.accept(draft)
    await store.complete("k1", *created(draft))
    assert [event["incident_id"] for event in await b.events()] == ["k1"]


@redis_only
async def test_recent_created_leaves_out_an_entry_it_cannot_read(backend: Backend) -> None:
    """Another program's entry on the created stream is left out, not a failure."""
    draft = make_draft("k1")
    await backend.store.accept(draft)
    await backend.store.complete("k1", *created(draft))
    await backend.redis.xadd(backend.redis_store.created_stream, {"payload": "{}"})
    assert [e.request_id for e in await backend.store.recent_created(5)] == ["req-k1"]


@redis_only
async def test_raw_digests_expire_with_the_retention(backend: Backend) -> None:
    """Each buried message's digest is its own key that expires with the retention (the old
    hash of every digest, never cleaned, is removed), so the index cannot grow without end."""
    b = backend
    store = b.another_store(retention=3600)
    assert isinstance(store, RedisTicketStore)
    index = b.layout.beside(store.dead_stream, ":raw")  # in a cluster, in the dead slot
    await b.redis.hset(index, "old-digest", "1-0")  # left by the previous version
    for n in range(3):
        await store.bury_raw(f"not json {n}", "not JSON", "somewhere")
    assert await b.redis.exists(index) == 0
    digests = [key async for key in b.redis.scan_iter(match=f"{index}:*")]
    assert len(digests) == 3
    for key in digests:
        assert 3595 <= await b.redis.ttl(key) <= 3600


@redis_only
async def test_redis_layout_matches_the_contract(backend: Backend) -> None:
    """Names and fields: pending entry {key, payload}, ledger hash, created stream payload."""
    b = backend
    store = b.redis_store
    assert store.pending_stream == f"{b.prefix}tickets:pending"
    assert store.dead_stream == f"{b.prefix}tickets:dead"
    assert store.created_stream == store.created_channel == f"{b.prefix}tickets:created"
    # In a cluster, behind the pending stream's hash tag (KeyLayout); elsewhere as it was.
    assert store.ledger_key("k1") == b.layout.own(f"{b.prefix}ticketing:ledger:k1")
    draft = make_draft("k1")
    await store.accept(draft)
    [(entry_id, fields)] = await b.redis.xrange(store.pending_stream)
    assert fields == {b"key": b"k1", b"payload": encode_draft(draft)}
    ledger = await b.redis.hgetall(store.ledger_key("k1"))
    assert ledger[b"state"] == b"accepted"
    assert ledger[b"entry_id"] == entry_id
    assert ledger[b"draft"] == encode_draft(draft)
    await store.bury("k1", "why")
    [(_, letter)] = await b.redis.xrange(store.dead_stream)
    assert set(letter) == {b"key", b"reason", b"payload", b"failed_at", b"origin"}
    assert letter[b"failed_at"] == b"2026-11-26T10:00:00Z"


@redis_only
async def test_ticket_lease_is_the_key_older_processes_lease(backend: Backend) -> None:
    """The store's ticket lease is ``<prefix>ticket:<key>``, the name the ``Leases`` port used
    for it before: a process of the previous version and one of this one exclude each other."""
    b = backend
    store = b.redis_store
    assert store.lease_key("k1") == b.layout.own(f"{b.prefix}ticket:k1")
    await store.accept(make_draft("k1"))
    assert await b.leases.acquire("ticket:k1", "old-process", 10) is True
    assert (await store.lease("k1", "new-process", 10)).held is False
    await b.leases.release("ticket:k1", "old-process")
    assert (await store.lease("k1", "new-process", 10)).held is True
    assert await b.leases.acquire("ticket:k1", "old-process", 10) is False
    assert await b.redis.get(store.lease_key("k1")) == b"new-process"
    assert 9 <= await b.redis.ttl(store.lease_key("k1")) <= 10


@redis_only
async def test_contact_cache_default_ttl_is_a_week(backend: Backend) -> None:
    """The contact cache key is ticketing:contact:<identity> with a 7-day TTL by default."""
    b = backend
    cache = RedisContactCache(b.redis, prefix=b.prefix)
    await cache.put("ana@example.com", "c-1")
    key = f"{b.prefix}ticketing:contact:ana@example.com"
    assert await b.redis.get(key) == b"c-1"
    assert 7 * 24 * 3600 - 5 <= await b.redis.ttl(key) <= 7 * 24 * 3600


@redis_only
async def test_tokens_live_in_one_key_without_ttl(backend: Backend) -> None:
    """The tokens are one JSON value at ticketing:oauth:tokens, with no expiry."""
    b = backend
    await b.tokens.save(TokenSet(refresh_token="1000.r"))
    key = b.layout.own(f"{b.prefix}ticketing:oauth:tokens")
    assert json.loads(await b.redis.get(key))["refresh_token"] == "1000.r"
    assert await b.redis.ttl(key) == -1


@redis_only
async def test_claim_recreates_a_group_deleted_under_it(backend: Backend) -> None:
    """If the consumer group vanishes (FLUSHDB, an operator), claim recreates it and goes on."""
    b = backend
    store = b.redis_store
    await store.accept(make_draft("k1"))
    await store.claim("c1", 10, MIN_IDLE)
    await b.redis.xgroup_destroy(store.pending_stream, store.group)
    [again] = await store.claim("c1", 10, MIN_IDLE)
    assert again.draft.key == "k1"


async def _append_fails(**_: Any) -> int:
    """An append that does not reach Redis: the process died between the two steps."""
    raise redis.exceptions.ConnectionError("the process died here")


@redis_only
async def test_what_a_crash_left_in_the_outbox_is_appended_once(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dead letter (and, on a cluster, a created event: one server appends it in the same
    step) whose second step, the append to its stream, never ran is in the outbox; the upkeep
    appends each once, and two upkeeps at the same moment append nothing twice."""
    b = backend
    store = b.redis_store
    done, dead = make_draft("k1"), make_draft("k2")
    await store.accept(done)
    await store.accept(dead)
    monkeypatch.setattr(store._scripts, "append_once", _append_fails)
    await store.complete("k1", *created(done))  # the ledger change stands
    await store.bury("k2", "rejected")
    monkeypatch.undo()
    assert (await store.get("k1")).state is TicketState.CREATED  # type: ignore[union-attr]
    appended = [] if b.layout.clustered else ["k1"]
    assert [event["incident_id"] for event in await b.events()] == appended
    assert await store.dead_count() == 0
    async with anyio.create_task_group() as tg:
        tg.start_soon(store.flush_outbox)
        tg.start_soon(store.flush_outbox)
    assert [event["incident_id"] for event in await b.events()] == ["k1"]
    assert [letter.key for letter in await store.list_dead()] == ["k2"]
    assert await store.flush_outbox() == 0  # nothing left


@redis_only
async def test_a_dead_letter_replayed_twice_at_once_is_queued_once(backend: Backend) -> None:
    """Two replays of one letter at the same moment (the letter is deleted after it is put
    back, in another slot on a cluster): one puts it back, the other only finds it done."""
    b = backend
    store = b.redis_store
    await store.accept(make_draft("k1"))
    await store.bury("k1", "rejected")
    await store.claim("c1", 10, MIN_IDLE)  # the group exists, the queue is empty
    moved: list[int] = []

    async def replay() -> None:
        moved.append(await store.replay_dead())

    async with anyio.create_task_group() as tg:
        tg.start_soon(replay)
        tg.start_soon(replay)
    assert sum(moved) == 1
    assert await store.pending_count() == 1
    assert await store.dead_count() == 0


# -- Redis down -----------------------------------------------------------------------------

DOWN_URL = "redis://127.0.0.1:1/15"


@pytest.fixture
async def down_client() -> AsyncIterator[aioredis.Redis]:
    client = connect(DOWN_URL)
    yield client
    await client.aclose()


OPERATIONS: dict[str, Callable[[aioredis.Redis], Awaitable[object]]] = {
    "accept": lambda c: RedisTicketStore(c, ManualClock()).accept(make_draft()),
    "get": lambda c: RedisTicketStore(c, ManualClock()).get("k1"),
    "complete": lambda c: RedisTicketStore(c, ManualClock()).complete("k1", *created(make_draft())),
    "claim": lambda c: RedisTicketStore(c, ManualClock()).claim("c1", 10, 30),
    "pending_count": lambda c: RedisTicketStore(c, ManualClock()).pending_count(),
    "replay_dead": lambda c: RedisTicketStore(c, ManualClock()).replay_dead(),
    "lease": lambda c: RedisLeases(c).acquire("drain", "a", 10),
    "ticket lease": lambda c: RedisTicketStore(c, ManualClock()).lease("k1", "a", 10),
    "accept and lease": lambda c: RedisTicketStore(c, ManualClock()).accept_and_lease(
        make_draft(), "a", 10
    ),
    "cache": lambda c: RedisContactCache(c).get("ana@example.com"),
    "tokens": lambda c: RedisTokenStore(c).load(),
}


@pytest.mark.parametrize("operation", list(OPERATIONS))
async def test_redis_down_is_store_unavailable(down_client: aioredis.Redis, operation: str) -> None:
    """With Redis down every step raises StoreUnavailable naming the server, within seconds."""
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as info:
        await OPERATIONS[operation](down_client)
    assert time.monotonic() - started < 3
    assert "Redis at 127.0.0.1:1/15 is unreachable" in info.value.message


async def test_ping_is_false_when_redis_is_down(down_client: aioredis.Redis) -> None:
    """ping answers False, it does not raise, when Redis is down."""
    assert await RedisTicketStore(down_client, ManualClock()).ping() is False


# -- follow-ups (THREAD_WINDOW) ---------------------------------------------------------------


def thread_index(backend: Backend) -> InMemoryThreadIndex | RedisThreadIndex:
    if backend.client is None:
        return InMemoryThreadIndex(backend.clock)
    return RedisThreadIndex(backend.client, prefix=backend.prefix, layout=backend.layout)


async def test_where_a_follow_up_goes_is_recorded_until_it_is_finished(backend: Backend) -> None:
    draft = make_draft("k2")
    await backend.store.accept(draft)
    joined = Joined("t-1", ticket_number="101", web_url="https://desk.example/t-1")
    await backend.store.set_join("k2", joined)
    await backend.store.mark_creating("k2", CREATED_AT)
    await backend.store.mark_failed("k2", "503")
    record = await backend.store.get("k2")
    assert record is not None
    assert record.joins == joined
    await backend.store.set_join("unknown", joined)  # ignored: no record is made
    assert await backend.store.get("unknown") is None


async def test_an_appended_follow_up_is_finished_once_and_leaves_the_ticket_its_creators(
    backend: Backend, subscriber: Callable[[float], Awaitable[Any]]
) -> None:
    first, follow_up = make_draft("k1"), make_draft("k2")
    await backend.store.accept(first)
    await backend.store.complete("k1", *created(first, "t-1"))
    await subscriber(1.0)
    await backend.store.accept_and_lease(follow_up, "worker", 30)
    joined = Joined("t-1", ticket_number="101", web_url="https://desk.example/t-1")
    await backend.store.set_join("k2", joined)
    outcome = Outcome.appended(follow_up, joined, "c-77", CREATED_AT)
    await backend.store.complete("k2", outcome, outcome.created_event(), owner="worker")
    await backend.store.complete("k2", outcome, outcome.created_event())

    record = await backend.store.get("k2")
    assert record is not None
    assert record.state is TicketState.APPENDED
    assert (record.ticket_id, record.comment_id) == ("t-1", "c-77")
    assert await backend.store.owner_of("t-1") == "k1"  # still the ticket of its creator
    assert await backend.store.pending_count() == 0
    assert (await backend.store.lease("k2", "someone-else", 30)).held  # given back
    events = await backend.events()
    assert len(events) == 2
    assert events[1]["status"] == "appended"
    assert (events[1]["ticket_id"], events[1]["comment_id"]) == ("t-1", "c-77")
    assert await subscriber(1.0) == events[1]
    assert await subscriber(0.2) is None
    again, new = await backend.store.accept(follow_up)
    assert (again.state, new) == (TicketState.APPENDED, False)


async def test_a_thread_is_claimed_by_one_key_for_all_its_names_until_it_expires(
    backend: Backend,
) -> None:
    index = thread_index(backend)
    names = ("phone:+525512345678", "email:ana@example.com")
    assert await index.claim(names, "k1", 0.5) == "k1"
    assert await index.claim(names, "k1", 0.5) == "k1"  # its own again
    assert await index.claim(names, "k2", 0.5) == "k1"
    assert await index.claim(("email:ana@example.com",), "k3", 0.5) == "k1"
    assert await index.claim(("phone:+520000000000",), "k4", 0.5) == "k4"
    await backend.elapse(0.6)
    assert await index.claim(names, "k2", 0.5) == "k2"


async def test_a_thread_is_taken_over_only_from_the_holder_named(backend: Backend) -> None:
    index = thread_index(backend)
    names = ("phone:+525512345678",)
    assert await index.claim(names, "k1", 30) == "k1"
    assert await index.claim(names, "k2", 30, replacing="k9") == "k1"
    assert await index.claim(names, "k2", 30, replacing="k1") == "k2"
    assert await index.claim(names, "k3", 30, replacing="k1") == "k2"  # moved on already


async def test_racing_claims_of_one_thread_have_one_winner(backend: Backend) -> None:
    index = thread_index(backend)
    won: list[str] = []

    async def claim(key: str) -> None:
        won.append(await index.claim(("phone:+525512345678", "email:a@b.c"), key, 30))

    async with anyio.create_task_group() as tg:
        for n in range(8):
            tg.start_soon(claim, f"k{n}")
    assert len(set(won)) == 1


# -- attachments ------------------------------------------------------------------------------


def attachment_work(backend: Backend) -> InMemoryAttachmentWork | RedisAttachmentWork:
    if backend.client is None:
        assert isinstance(backend.store, InMemoryTicketStore)
        return InMemoryAttachmentWork(backend.clock, backend.store.attachment_jobs)
    return RedisAttachmentWork(backend.client, prefix=backend.prefix, layout=backend.layout)


def attachment_blobs(backend: Backend) -> InMemoryAttachmentBlobs | RedisAttachmentBlobs:
    if backend.client is None:
        return InMemoryAttachmentBlobs()
    return RedisAttachmentBlobs(backend.client, prefix=backend.prefix, layout=backend.layout)


FILES = (
    AttachmentSpec("pass.pdf", "application/pdf", 18, url="https://media.example/pass.pdf"),
    AttachmentSpec("photo.png", "image/png", 204, blob="k1#1"),
)


async def test_completing_a_request_with_files_queues_one_job_with_them(backend: Backend) -> None:
    draft = make_draft("k1", attachments=FILES)
    plain = make_draft("k2")
    for d in (draft, plain):
        await backend.store.accept(d)
    await backend.store.complete("k1", *created(draft, "t-1"))
    await backend.store.complete("k1", *created(draft, "t-1"))  # again: nothing more
    await backend.store.complete("k2", *created(plain, "t-2"))  # no files: no job
    work = attachment_work(backend)
    [job] = await work.claim("w1", 10, 30)
    assert (job.key, job.ticket_id, job.attachments, job.joined) == ("k1", "t-1", FILES, False)
    assert await work.claim("w2", 10, 30) == []  # held by w1
    assert [j.entry_id for j in await work.claim("w1", 10, 30)] == [job.entry_id]
    await work.record("k1", {"0:state": "uploaded", "1:state": "sending"})
    await work.record("k1", {"1:state": ""})
    assert await work.progress("k1") == {"0:state": "uploaded"}
    await work.ack(job.entry_id)
    assert await work.backlog() == 0
    assert await work.claim("w1", 10, 0) == []


async def test_a_follow_up_with_files_queues_its_job_for_the_joined_ticket(
    backend: Backend,
) -> None:
    first, follow_up = make_draft("k1"), make_draft("k2", attachments=FILES[:1])
    await backend.store.accept(first)
    await backend.store.complete("k1", *created(first, "t-1"))
    await backend.store.accept(follow_up)
    joined = Joined("t-1", ticket_number="101")
    outcome = Outcome.appended(follow_up, joined, "c-1", CREATED_AT)
    await backend.store.complete("k2", outcome, outcome.created_event())
    [job] = await attachment_work(backend).claim("w1", 10, 30)
    assert (job.key, job.ticket_id, job.joined) == ("k2", "t-1", True)


async def test_staged_bytes_are_read_back_in_chunks_and_deleted(backend: Backend) -> None:
    blobs = attachment_blobs(backend)
    data = bytes(range(256)) * 9000  # 2.2 MiB: more than one chunk

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(data), 700_000):
            yield data[start : start + 700_000]

    assert await blobs.put("k1#0", chunks(), 60) == len(data)
    source = await blobs.open("k1#0")
    assert source is not None
    assert source.size == len(data)
    assert b"".join([c async for c in source.chunks()]) == data
    assert b"".join([c async for c in source.chunks()]) == data  # read again: the same
    await blobs.delete(["k1#0"])
    assert await blobs.open("k1#0") is None


@pytest.mark.parametrize("entry_id", ["99999999999999999999-0", "1-18446744073709551616", "x-1"])
async def test_an_id_no_stream_can_hold_is_not_found_not_a_store_failure(
    backend: Backend, entry_id: str
) -> None:
    """Past 64 bits (or not digits), an id names no dead letter: the use cases say "not found"
    without asking the store, which on Redis would fail (ERR Invalid stream ID)."""
    await backend.store.bury_raw("raw", "unreadable", "somewhere")
    for use_case, done in (
        (DeleteDeadLetters(backend.store).these, "nothing deleted"),
        (ReplayDeadLetters(backend.store).these, "nothing replayed"),
    ):
        with pytest.raises(NotFound, match=f"no dead letter {entry_id} .*{done}"):
            await use_case([entry_id])
    assert await backend.store.dead_count() == 1
