"""Idempotency keys are scoped by their source: over HTTP and the inbound stream, on a real
Redis and fakeredis, no API client can read or pre-empt an incident's ticket or another
client's, and the replay of a key goes only to the client that owns it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
import redis.asyncio as aioredis

from ticketing.application.intake import api_client, scoped_key
from ticketing.container import Services
from ticketing.domain.model import TicketState
from ticketing.domain.ports import TicketStore
from ticketing.entrypoints.consumer import InboundConsumer
from ticketing.entrypoints.http.app import create_app
from zoho_desk_emulator import EmulatorState

from tests.integration.wired import RedisBackend, dumps, incident, wire, with_consumer

pytestmark = pytest.mark.anyio

KEY_A = "1000.fake-api-key-client-a-0001"
KEY_B = "1000.fake-api-key-client-b-0002"
FORM = {
    "customer_email": "bo@example.com",
    "customer_name": "Bo",
    "subject": "Pedido",
    "description": "No llega el pedido",
}


@dataclass
class Wired:
    client: httpx.AsyncClient
    services: Services
    consumer: InboundConsumer
    store: TicketStore
    redis: aioredis.Redis
    backend: RedisBackend


@pytest.fixture(params=["api-keys", "no-api-keys"])
def api_keys(request: pytest.FixtureRequest) -> str:
    return f"{KEY_A},{KEY_B}" if request.param == "api-keys" else ""


@pytest.fixture
async def wired(backend: RedisBackend, api_keys: str) -> AsyncIterator[Wired]:
    """The HTTP app and an inbound consumer of one production-wired instance, on the test's
    event loop (the app's lifespan is not run: its services are started here)."""
    container = wire(backend.env(API_KEYS=api_keys), backend=backend, emulator=EmulatorState())
    app = create_app(container, drain=False, consumer=False)
    transport = httpx.ASGITransport(app=app)
    async with (
        with_consumer(container, "scopes", reclaim_idle_ms=60_000) as (services, consumer, store),
        httpx.AsyncClient(transport=transport, base_url="http://service") as client,
        backend.connected() as redis,
    ):
        app.state.services = services
        yield Wired(client, services, consumer, store, redis, backend)


def bearer(key: str, api_keys: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if api_keys else {}


async def deliver(wired: Wired, incident_id: str) -> None:
    """Put an incident on the inbound stream and have the consumer work it."""
    await wired.redis.xadd(wired.backend.inbound, {"payload": dumps(incident(incident_id))})
    assert await wired.consumer.poll_once() == 1


async def test_an_api_client_cannot_read_an_incidents_ticket(wired: Wired, api_keys: str) -> None:
    """An incident's id sent as Idempotency-Key is a new ticket of the caller's own, never the
    incident's ticket id, contact id and URL."""
    await deliver(wired, "wa-3EB0C767D26A1B2C7F")
    record = await wired.store.get("wa-3EB0C767D26A1B2C7F")
    assert record is not None
    assert record.state is TicketState.CREATED

    response = await wired.client.post(
        "/tickets/customer",
        data=FORM,
        headers={"Idempotency-Key": "wa-3EB0C767D26A1B2C7F", **bearer(KEY_A, api_keys)},
    )
    assert response.status_code == 201, response.text
    assert "idempotent-replayed" not in response.headers
    body = response.json()
    assert body["ticket_id"] != record.ticket_id
    assert body["contact_id"] != record.contact_id
    assert body["idempotency_key"] == "wa-3EB0C767D26A1B2C7F"  # as the caller wrote it


async def test_an_api_client_cannot_preempt_an_incident(wired: Wired, api_keys: str) -> None:
    """A caller that sends an incident's id first does not suppress the incident: it still
    becomes its own ticket."""
    first = await wired.client.post(
        "/tickets/customer",
        data=FORM,
        headers={"Idempotency-Key": "wa-PREEMPTED", **bearer(KEY_A, api_keys)},
    )
    assert first.status_code == 201, first.text

    await deliver(wired, "wa-PREEMPTED")
    record = await wired.store.get("wa-PREEMPTED")
    assert record is not None
    assert record.state is TicketState.CREATED
    assert record.ticket_id != first.json()["ticket_id"]
    assert record.incident_id == "wa-PREEMPTED"


@pytest.mark.parametrize("api_keys", ["api-keys"], indirect=True)
async def test_a_replay_goes_only_to_the_client_that_owns_the_key(
    backend: RedisBackend, wired: Wired
) -> None:
    """Two API clients using the same Idempotency-Key get a ticket each; each one's repeat
    replays its own; the ledger names the client by a digest, never by its API key."""
    headers_a = {"Idempotency-Key": "order-1", **bearer(KEY_A, "on")}
    headers_b = {"Idempotency-Key": "order-1", **bearer(KEY_B, "on")}
    a = await wired.client.post("/tickets/customer", data=FORM, headers=headers_a)
    b = await wired.client.post("/tickets/customer", data=FORM, headers=headers_b)
    a_again = await wired.client.post("/tickets/customer", data=FORM, headers=headers_a)
    assert (a.status_code, b.status_code, a_again.status_code) == (201, 201, 201)
    assert "idempotent-replayed" not in b.headers
    assert b.json()["ticket_id"] != a.json()["ticket_id"]
    assert a_again.headers["idempotent-replayed"] == "true"
    assert a_again.json()["ticket_id"] == a.json()["ticket_id"]

    owned = await wired.store.get(scoped_key(api_client(KEY_A), "order-1"))
    assert owned is not None
    assert owned.ticket_id == a.json()["ticket_id"]
    names = [k async for k in wired.redis.scan_iter(match=f"{backend.prefix}*")]
    stored = b"".join(names)
    for name in names:
        if (await wired.redis.type(name)) == b"hash":
            stored += b"".join(b"".join(kv) for kv in (await wired.redis.hgetall(name)).items())
    assert KEY_A.encode() not in stored
    assert KEY_B.encode() not in stored
    assert api_client(KEY_A).encode() in stored
