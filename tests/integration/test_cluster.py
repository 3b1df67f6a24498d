"""The service on a real three-primary Redis Cluster (``REDIS_MODE=cluster``): tickets from the
inbound stream, its pub/sub channel and HTTP each made once, the created events on
``tickets:created`` heard by a subscriber, and every key of the service's own in the pending
stream's hash slot while the contract's streams keep their names."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from litestar.testing import AsyncTestClient
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot

from ticketing.adapters.redis.facts import RedisServerFacts
from ticketing.adapters.redis.layout import KeyLayout
from ticketing.adapters.redis.pubsub import open_pubsub
from ticketing.adapters.redis.store import ONCE_SUFFIX, OUTBOX_STREAM
from ticketing.adapters.redis.streams import ConsumerGroup
from ticketing.domain.errors import ConfigurationError
from ticketing.entrypoints.http.app import create_app
from zoho_desk_emulator import EmulatorState

from tests.integration.wired import RedisBackend, dumps, incident, wait_for, wire
from tests.support.redis_cluster import LocalCluster, cluster_client

pytestmark = pytest.mark.anyio

PREFIX = "e2e:"


@pytest.fixture
async def cluster(redis_cluster: LocalCluster) -> AsyncIterator[RedisCluster]:
    """A client on the session's cluster (emptied before the test)."""
    client = cluster_client(redis_cluster)
    try:
        yield client
    finally:
        await client.aclose()


def form(subject: str) -> dict[str, str]:
    return {
        "customer_email": "ana@example.com",
        "customer_name": "Ana López",
        "subject": subject,
        "description": "Pagué ayer y no me llega la confirmación",
        "priority": "High",
    }


def slot(key: str) -> int:
    return int(key_slot(key.encode()))


def test_the_layout_puts_own_keys_in_the_pending_slot_only_in_cluster_mode() -> None:
    """Cluster mode: the service's own keys carry the pending stream's hash tag (also when the
    stream name has a tag of its own), keys beside another stream are in that stream's slot;
    standalone and sentinel: every name exactly as before; a name no tag can follow is
    refused."""
    clustered = KeyLayout.for_mode("cluster", "acme:tickets:pending")
    assert (
        clustered.own("acme:ticketing:ledger:k1")
        == "{acme:tickets:pending}acme:ticketing:ledger:k1"
    )
    assert slot(clustered.own("acme:ticket:k1")) == slot("acme:tickets:pending")
    assert slot(clustered.beside("tickets:created", ":once:1-0")) == slot("tickets:created")
    tagged = KeyLayout.for_mode("cluster", "{q}pending")
    assert slot(tagged.own("ticketing:ledger:k1")) == slot("{q}pending") == slot("q")
    for mode in ("standalone", "sentinel"):
        plain = KeyLayout.for_mode(mode, "tickets:pending")
        assert plain.own("ticketing:ledger:k1") == "ticketing:ledger:k1"
        assert plain.beside("tickets:dead", ":raw") == "tickets:dead:raw"
    with pytest.raises(ConfigurationError, match="TICKET_QUEUE_NAME"):
        KeyLayout.for_mode("cluster", "tickets}pending")


async def every_key(client: RedisCluster) -> list[str]:
    """Every key on every primary."""
    return [key.decode() async for key in client.scan_iter(count=500)]


async def test_doctor_names_the_cluster_its_primaries_and_the_missing_replicas(
    cluster: RedisCluster, redis_cluster: LocalCluster
) -> None:
    """What doctor reports of a cluster: its primaries by address, and (this test cluster has
    no replicas) that a failed primary would lose its slots."""
    facts = await RedisServerFacts(cluster).facts()
    assert facts.mode == "cluster, 3 primaries"
    where = ", ".join(f"127.0.0.1:{port}" for port in redis_cluster.ports)
    assert facts.topology == f"{where}; 0 replicas"
    assert facts.topology_problems[0].startswith("a primary without a replica loses its slots")


async def test_streams_of_two_slots_are_read_and_acknowledged_together(
    cluster: RedisCluster,
) -> None:
    """One consumer reads the inbound stream and the intake stream (two slots: one XREADGROUP
    cannot span them) in one call, waiting on either, and acknowledges both."""
    inbound, intake = "tickets:classify:result", "tickets:intake"
    assert cluster.keyslot(inbound) != cluster.keyslot(intake)
    group = ConsumerGroup(cluster, "ticket-service")
    for stream in (inbound, intake):
        await group.create(stream)
    await cluster.xadd(inbound, {"payload": "a"})
    await cluster.xadd(intake, {"payload": "b"})
    entries = await group.read("c1", {inbound: ">", intake: ">"}, 10, block_ms=1000)
    assert sorted((e.stream, e.payload) for e in entries) == [(inbound, b"a"), (intake, b"b")]
    assert await group.read("c1", {inbound: ">", intake: ">"}, 10, block_ms=50) == []
    await group.ack({e.stream: [e.id] for e in entries}, delete_from=(intake,))
    assert [await group.in_flight(stream) for stream in (inbound, intake)] == [0, 0]
    assert (await cluster.xlen(inbound), await cluster.xlen(intake)) == (1, 0)


@pytest.mark.slow
async def test_a_service_on_the_cluster_makes_each_ticket_once_from_every_door(
    redis_cluster: LocalCluster, cluster: RedisCluster
) -> None:
    """A service container in cluster mode (drain and inbound consumer running): incidents on
    the inbound stream, on its pub/sub channel and posted over HTTP each become one ticket,
    each created event reaches a subscriber of ``tickets:created`` and the stream once, nothing
    stays pending; the contract's names are kept, and every other key of the service is in
    the pending stream's slot."""
    backend = RedisBackend("redis", redis_cluster.url, PREFIX)
    emulator = EmulatorState()
    env = backend.env(REDIS_MODE="cluster")
    streamed = [f"stream-{i}" for i in range(10)]
    published = [f"pubsub-{i}" for i in range(5)]
    posted = [f"Posted {i}" for i in range(5)]
    heard: list[dict[str, Any]] = []
    listener = await open_pubsub(cluster, ignore_subscribe_messages=True)
    await listener.subscribe(backend.created)

    async def listen() -> None:
        while True:
            message = await listener.get_message(timeout=0.5)
            if message is not None:
                heard.append(json.loads(message["data"]))

    total = len(streamed) + len(published) + len(posted)
    async with (
        anyio.create_task_group() as tg,
        AsyncTestClient(create_app(wire(env, emulator=emulator))) as http,
    ):
        tg.start_soon(listen)

        async def reading() -> bool:  # the group starts at the stream's end: wait for it
            return await cluster.exists(backend.inbound) and bool(
                await cluster.xinfo_groups(backend.inbound)
            )

        await wait_for(reading, what="the inbound consumer group")
        for key in streamed:
            await cluster.xadd(backend.inbound, {"payload": dumps(incident(key, subject=key))})
        for subject in posted:
            answer = await http.post("/tickets/customer", data=form(subject))
            assert answer.status_code == 201, answer.text

        async def published_created() -> bool:
            # Pub/sub reaches only a connected subscriber: publish until each is taken (the
            # incident id makes a second copy the same ticket).
            for key in published:
                await cluster.publish(backend.inbound, dumps(incident(key, subject=key)))
            return emulator.tickets_created >= total

        await wait_for(published_created, within=30, what=f"{total} tickets")
        await wait_for(_async(lambda: len(heard) >= total), what="every created event heard")
        tg.cancel_scope.cancel()
    await listener.aclose()

    made = Counter(ticket.subject for ticket in emulator.tickets.values())
    assert all(count == 1 for count in made.values()), made
    assert len(made) == total
    assert Counter(event["ticket_id"] for event in heard).most_common(1)[0][1] == 1
    events = await cluster.xrange(backend.created)
    assert len(events) == total
    assert await cluster.xlen(backend.pending) == 0
    # What the outbox still holds was appended (its marker is there), only not deleted yet.
    outbox = KeyLayout.for_mode("cluster", backend.pending).own(PREFIX + OUTBOX_STREAM)
    for entry_id, fields in await cluster.xrange(outbox):
        marker = "{" + fields[b"_stream"].decode() + "}" + ONCE_SUFFIX + entry_id.decode()
        assert await cluster.exists(marker)
    # The contract's streams by their names; the rest of the service's keys in the pending
    # stream's slot (append markers and dead-letter digests beside their own streams).
    contract = {backend.inbound, backend.pending, backend.created, f"{PREFIX}tickets:intake"}
    keys = await every_key(cluster)
    assert contract <= set(keys)
    pending_slot = cluster.keyslot(backend.pending)
    others = [
        key
        for key in keys
        if key not in contract and not key.endswith(":owners") and ":once:" not in key
    ]
    assert others, keys
    assert {key: cluster.keyslot(key) for key in others} == dict.fromkeys(others, pending_slot)


def _async(check: Any) -> Any:
    async def call() -> bool:
        return bool(check())

    return call


async def test_follow_ups_and_the_way_back_on_the_cluster(
    redis_cluster: LocalCluster, cluster: RedisCluster
) -> None:
    """THREAD_WINDOW and the polling sync in cluster mode: a customer's second incident
    (delivered twice) becomes one comment and one ``appended`` event; an agent's reply comes
    out on ``tickets:replies`` once over several polls, and the service's own comment never."""
    backend = RedisBackend("redis", redis_cluster.url, PREFIX)
    emulator = EmulatorState()
    env = backend.env(
        REDIS_MODE="cluster",
        THREAD_WINDOW="3600",
        SYNC_MODE="poll",
        SYNC_POLL_INTERVAL="1",
        ZOHO_SEARCH_LAG="1",
    )
    customer = {"name": "Ana López", "phone": "+52 55 1234 5678"}
    replies = f"{PREFIX}tickets:replies"
    async with AsyncTestClient(create_app(wire(env, emulator=emulator))):

        async def reading() -> bool:
            return await cluster.exists(backend.inbound) and bool(
                await cluster.xinfo_groups(backend.inbound)
            )

        await wait_for(reading, what="the inbound consumer group")

        async def created(count: int) -> bool:
            return int(await cluster.xlen(backend.created)) >= count

        first = incident("fu-1", customer=customer, description="Mi vuelo fue cancelado")
        await cluster.xadd(backend.inbound, {"payload": dumps(first)})
        await wait_for(lambda: created(1), what="the first ticket")
        second = incident("fu-2", customer=customer, description="Reserva ABC123")
        for _ in range(2):
            await cluster.xadd(backend.inbound, {"payload": dumps(second)})
        await wait_for(lambda: created(2), what="the follow-up")
        [ticket_id] = list(emulator.tickets)
        reply = emulator.conversations.add_thread(ticket_id, text="Hola Ana, ya está")

        async def replied() -> bool:
            return bool(await cluster.xlen(replies))

        await wait_for(replied, within=30, what="the reply on tickets:replies")
        await anyio.sleep(2.5)  # two more polls: nothing again
    events = [json.loads(fields[b"payload"]) for _, fields in await cluster.xrange(replies)]
    assert [(e["kind"], e["event_id"]) for e in events] == [("reply", reply.id)]
    made = [json.loads(fields[b"payload"]) for _, fields in await cluster.xrange(backend.created)]
    assert [(e["incident_id"], e.get("status"), e["ticket_id"]) for e in made] == [
        ("fu-1", None, ticket_id),
        ("fu-2", "appended", ticket_id),
    ]
    comments = [c for c in emulator.conversations.comments.values() if c.ticket_id == ticket_id]
    assert len(comments) == 1
    assert len(emulator.tickets) == 1
