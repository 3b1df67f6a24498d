"""The red team's incidents, each with one odd field, through the inbound stream on a real
Redis: a ticket whenever one can honestly be made (the odd value kept or noted on it), a dead
letter naming the field only when there is no customer or no message to make one from."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from dependency_injector import providers

from ticketing.adapters.memory_helpdesk import InMemoryHelpdesk
from ticketing.container import Services
from ticketing.domain.model import TicketState
from ticketing.entrypoints.consumer import InboundConsumer

from tests.integration.wired import Instance, RedisBackend, dumps, incident, wire, with_consumer

pytestmark = pytest.mark.anyio

# A portal with Zoho's default channels and WhatsApp: no SMS, no "whatsapp business".
CHANNELS = {"Email", "Phone", "Chat", "Web", "Forums", "WhatsApp"}
LONG_SUBJECT = " ".join(["Pago"] * 60)  # 299 characters
LONG_NAME = "Ana " + "María " * 16 + "López"  # 101 characters


@pytest.fixture
def backend(real_redis_url: str, real_redis: object, key_prefix: str) -> RedisBackend:
    return RedisBackend("redis", real_redis_url, key_prefix)


@contextlib.asynccontextmanager
async def service(
    backend: RedisBackend, zoho: InMemoryHelpdesk, **env: str
) -> AsyncIterator[Instance]:
    """One instance on the real Redis, talking to ``zoho`` (a portal with picklists)."""
    container = wire(backend.env(**env), backend=backend)
    container.zoho.override(providers.Object(zoho))
    async with with_consumer(container, f"red-{uuid.uuid4().hex[:6]}") as running_service:
        yield running_service


def portal() -> InMemoryHelpdesk:
    zoho = InMemoryHelpdesk()
    zoho.picklists["channel"] = set(CHANNELS)
    return zoho


def phone_only(phone: object, **customer: Any) -> dict[str, Any]:
    return {"customer": {"name": "Ana López", "phone": phone, **customer}}


# name: (changes to the contract's incident, settings, what the ticket must show)
TICKETS: dict[str, tuple[dict[str, Any], dict[str, str], str]] = {
    "subject of 300": ({"subject": LONG_SUBJECT}, {}, f"[Subject, whole: {LONG_SUBJECT}]"),
    "name of 101": (
        {"customer": {"name": LONG_NAME, "email": "ana@example.com"}},
        {},
        f"[Customer name, whole: {LONG_NAME}]",
    ),
    "category of 101": ({"category": "c" * 101}, {}, "[category 'ccc"),
    "invalid email beside a valid phone": (
        phone_only("+52 1 55 1234 5678", email="ana@@example.com"),
        {},
        "[customer.email 'ana@@example.com' dropped",
    ),
    "confidence as a string": ({"confidence": "0.9"}, {}, ""),
    "channel SMS": ({"channel": "SMS"}, {}, '[channel "SMS" is not in this portal\'s picklist]'),
    "channel whatsapp business": (
        {"channel": "whatsapp business"},
        {},
        '[channel "whatsapp business" is not in this portal\'s picklist]',
    ),
    "channel of 60": ({"channel": "c" * 60}, {}, "[channel 'ccc"),
    "received_at not a time": ({"received_at": "yesterday"}, {}, ""),
    "national phone with DEFAULT_PHONE_COUNTRY": (
        phone_only("55 1234 5678"),
        {"DEFAULT_PHONE_COUNTRY": "MX"},
        "",
    ),
}

# name: (changes, the field the dead letter's reason names)
DEAD: dict[str, tuple[dict[str, Any], str]] = {
    "description of 33,000": ({"description": "d" * 33_000}, "description"),
    "phone without a country code": (phone_only("55 1234 5678"), "customer.phone"),
    "neither email nor phone valid": (
        phone_only("call me", email="ana@@example.com"),
        "customer.email",
    ),
}


async def deliver(
    backend: RedisBackend, services: Services, consumer: InboundConsumer, body: dict[str, Any]
) -> None:
    async with backend.connected() as redis:
        await redis.xadd(backend.inbound, {"payload": dumps(body)})
    assert await consumer.poll_once() == 1


@pytest.mark.parametrize(("changes", "env", "shown"), TICKETS.values(), ids=TICKETS.keys())
async def test_an_odd_optional_field_still_makes_the_ticket(
    backend: RedisBackend, changes: dict[str, Any], env: dict[str, str], shown: str
) -> None:
    zoho = portal()
    body = incident("wa-red", **changes)
    async with service(backend, zoho, **env) as (services, consumer, store):
        await deliver(backend, services, consumer, body)
        record = await store.get("wa-red")
        assert await store.dead_count() == 0
    assert record is not None
    assert record.state is TicketState.CREATED
    (sent,) = zoho.ticket_requests.values()
    assert shown in sent.description
    assert body["description"] in sent.description
    assert len(sent.subject) <= 255
    if "phone" in body["customer"]:  # the phone identifies the customer, in E.164
        assert sent.phone == "+525512345678"


@pytest.mark.parametrize(("changes", "field"), DEAD.values(), ids=DEAD.keys())
async def test_no_customer_or_no_message_is_dead_lettered_naming_the_field(
    backend: RedisBackend, changes: dict[str, Any], field: str
) -> None:
    zoho = portal()
    async with service(backend, zoho) as (services, consumer, store):
        await deliver(backend, services, consumer, incident("wa-red", **changes))
        (letter,) = await store.list_dead(10)
    assert letter.reason.startswith(f"{field}:")
    assert zoho.calls == []


async def test_a_dead_letter_replayed_after_a_fix_runs_intake_again(
    backend: RedisBackend,
) -> None:
    """A national number dead-letters; once DEFAULT_PHONE_COUNTRY is set, `queue replay` puts
    the raw incident back on its stream and the consumer's intake, with today's settings,
    makes the ticket with the number in E.164."""
    zoho = portal()
    body = incident("wa-replay", **phone_only("55 1234 5678"))
    async with service(backend, zoho) as (services, consumer, store):
        await deliver(backend, services, consumer, body)
        (letter,) = await store.list_dead(10)
    async with service(backend, zoho, DEFAULT_PHONE_COUNTRY="MX") as (services, consumer, store):
        assert await services.replay([letter.entry_id]) == 1
        assert await consumer.poll_once() == 1
        record = await store.get("wa-replay")
        assert await store.dead_count() == 0
    assert record is not None
    assert record.state is TicketState.CREATED
    (sent,) = zoho.ticket_requests.values()
    assert sent.phone == "+525512345678"
