"""The story's store contract, in memory and on Redis (fakeredis, a real one, the cluster):
the request-id index written with the acceptance and gone with the ledger, the last error's
time, the pending queue listed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ticketing.adapters.memory import InMemoryTicketStore
from ticketing.adapters.redis.store import RedisTicketStore
from ticketing.domain.model import TicketState

from tests.contract import test_store_contract as contract
from tests.contract.test_store_contract import Backend, created, make_draft

# The store contract's backends (memory, fakeredis, a real Redis, the cluster, sentinel).
CLUSTER_LAYOUT = contract.CLUSTER_LAYOUT
redis_client = contract.redis_client
backend = contract.backend

pytestmark = pytest.mark.anyio


async def test_accept_indexes_the_request_id_in_the_same_step(backend: Backend) -> None:
    """Found once accepted; a repeated key does not move the index; unknown ids find nothing."""
    await backend.store.accept(make_draft("k1"))
    await backend.store.accept(make_draft("k1", request_id="req-again"))
    assert await backend.store.key_of_request("req-k1") == "k1"
    assert await backend.store.key_of_request("req-again") is None
    assert await backend.store.key_of_request("nope") is None
    if isinstance(backend.store, RedisTicketStore):
        index = backend.store.request_key("req-k1")
        assert (await backend.redis.get(index)) == b"k1"
        ttl = await backend.redis.ttl(index)
        assert 0 < ttl <= backend.store.retention


async def test_the_request_index_goes_with_the_ledger(backend: Backend) -> None:
    """A finished key past the retention: its request_id finds nothing (and on Redis the
    index key itself expires)."""
    store = backend.another_store(retention=1)
    draft = make_draft("k1")
    await store.accept(draft)
    outcome, event = created(draft)
    await store.complete("k1", outcome, event)
    assert await store.key_of_request("req-k1") == "k1"
    await backend.elapse(1.3)
    assert await store.key_of_request("req-k1") is None
    if isinstance(store, RedisTicketStore):
        assert await backend.redis.exists(store.request_key("req-k1")) == 0


async def test_a_failure_and_a_burial_record_when(backend: Backend) -> None:
    """mark_failed and bury keep reason_at (the store's clock); completion and replay drop
    it with the reason."""
    await backend.store.accept(make_draft("k1"))
    await backend.store.mark_creating("k1", backend.clock.now())
    await backend.store.mark_failed("k1", "503")
    failed = await backend.store.get("k1")
    assert failed is not None
    assert (failed.state, failed.reason, failed.reason_at) == (
        TicketState.ACCEPTED,
        "503",
        backend.clock.now(),
    )
    backend.clock.advance(7)
    await backend.store.bury("k1", "refused")
    dead = await backend.store.get("k1")
    assert dead is not None
    assert (dead.reason, dead.reason_at) == ("refused", backend.clock.now())
    assert await backend.store.replay_dead() == 1
    replayed = await backend.store.get("k1")
    assert replayed is not None
    assert (replayed.reason, replayed.reason_at) == (None, None)
    await backend.store.mark_failed("k1", "timeout")
    draft = make_draft("k1")
    outcome, event = created(draft)
    await backend.store.complete("k1", outcome, event)
    done = await backend.store.get("k1")
    assert done is not None
    assert (done.reason, done.reason_at) == (None, None)


async def test_pending_entries_oldest_first(backend: Backend) -> None:
    for key in ("k1", "k2", "k3"):
        await backend.store.accept(make_draft(key))
    entries = await backend.store.pending_entries(2)
    assert [e.key for e in entries] == ["k1", "k2"]
    if isinstance(backend.store, InMemoryTicketStore):
        assert entries[0].queued_at == backend.clock.now()
    else:  # the stream entry's own time: the server's clock
        assert abs((entries[0].queued_at - datetime.now(UTC)).total_seconds()) < 60
    outcome, event = created(make_draft("k1"))
    await backend.store.complete("k1", outcome, event)
    assert [e.key for e in await backend.store.pending_entries(10)] == ["k2", "k3"]


async def test_the_request_index_lives_as_long_as_the_ledger_from_its_finish(
    backend: Backend,
) -> None:
    """Completion keeps the index for the retention from then (not from the acceptance); a
    burial and a replay keep it naming the key."""
    store = backend.another_store(retention=2)
    draft = make_draft("k1")
    await store.accept(draft)
    await backend.elapse(1.2)
    outcome, event = created(draft)
    await store.complete("k1", outcome, event)
    await backend.elapse(1.2)  # 2.4 s after the acceptance, 1.2 s after the completion
    assert await store.key_of_request("req-k1") == "k1"
    await store.accept(make_draft("k2"))
    await store.bury("k2", "refused")
    assert await store.replay_dead() == 1
    assert await store.key_of_request("req-k2") == "k2"
    if isinstance(store, RedisTicketStore):
        assert 0 < await backend.redis.ttl(store.request_key("req-k1")) <= 2
        assert 0 < await backend.redis.ttl(store.request_key("req-k2")) <= 2


async def test_a_completion_never_moves_another_keys_index(backend: Backend) -> None:
    """Two keys accepted under one request id (a caller reusing X-Request-ID): the index
    names the latest; completing the first does not take it back."""
    first, second = make_draft("k1", request_id="same"), make_draft("k2", request_id="same")
    await backend.store.accept(first)
    await backend.store.accept(second)
    outcome, event = created(first)
    await backend.store.complete("k1", outcome, event)
    assert await backend.store.key_of_request("same") == "k2"
