"""A portal without a ``WhatsApp`` channel, and a category the classifier invents, through the
strict emulator (Zoho's 422 ``INVALID_DATA`` naming the field): every incident and every HTTP
ticket still becomes a ticket, once, with the refused value kept in its description, a
warning naming the key and a count in the metric."""

from __future__ import annotations

import logging
import uuid

import pytest
from litestar.testing import AsyncTestClient

from ticketing.entrypoints.http.app import create_app
from zoho_desk_emulator import EmulatorState

from tests.integration.wired import RedisBackend, dumps, incident, wire, with_consumer

pytestmark = pytest.mark.anyio

CHANNEL_NOTE = '[channel "WhatsApp" is not in this portal\'s picklist]'
CATEGORY_NOTE = '[category "booking" is not in this portal\'s picklist]'


def portal_without_whatsapp() -> EmulatorState:
    zoho = EmulatorState()
    zoho.set_picklist("channel", remove=["WhatsApp"])
    return zoho


async def test_incidents_and_http_tickets_get_a_ticket_whatever_the_portal_lacks(
    backend: RedisBackend, caplog: pytest.LogCaptureFixture
) -> None:
    zoho = portal_without_whatsapp()
    container = wire(backend.env(), backend=backend, emulator=zoho)
    caplog.set_level(logging.WARNING)
    # HTTP: the app starts and stops its own container (same Redis, same portal).
    web = wire(backend.env(), backend=backend, emulator=zoho)
    async with AsyncTestClient(create_app(web, drain=False, consumer=False)) as client:
        response = await client.post(
            "/tickets/customer",
            json={
                "customer_email": "luis@example.com",
                "subject": "Cambio de fecha",
                "description": "Quiero cambiar mi vuelo",
                "category": "booking",
                "channel": "WhatsApp",
            },
            headers={"Idempotency-Key": "web-pick-1"},
        )
        assert response.status_code == 201, response.text

    # Redis: the inbound stream, through the consumer.
    async with (
        with_consumer(container, f"p-{uuid.uuid4().hex[:6]}") as (services, consumer, store),
        backend.connected() as redis,
    ):
        for n in range(3):
            body = incident(f"wa-pick-{n}", category="booking", channel="WhatsApp")
            await redis.xadd(services.settings.inbound_stream, {"payload": dumps(body)})
        # The same incident again: still one ticket.
        await redis.xadd(
            services.settings.inbound_stream,
            {"payload": dumps(incident("wa-pick-0", category="booking"))},
        )
        handled = 0
        for _ in range(20):
            handled += await consumer.poll_once(block_ms=50)
            if handled >= 4:
                break
        assert handled == 4

        for n in range(3):
            record = await store.get(f"wa-pick-{n}")
            assert record is not None
            assert record.ticket_id is not None, record

    tickets = list(zoho.tickets.values())
    assert len(tickets) == 4  # three incidents and the HTTP ticket, once each
    for ticket in tickets:
        assert ticket.channel is None
        assert CHANNEL_NOTE in ticket.description, ticket.description
        assert CATEGORY_NOTE in ticket.description, ticket.description
        # The notes come before the reference line, which still ends the description.
        assert ticket.description.rsplit("\n", 1)[-1].startswith("Ref: tk")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("wa-pick-1" in w and "channel" in w and "WhatsApp" in w for w in warnings), warnings
    assert any("web-pick-1" in w and "category" in w and "booking" in w for w in warnings), warnings
