"""Hostile Redis messages: the HTTP limits apply, and nothing refused reaches Zoho or the queue."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from ticketing.application import intake
from ticketing.container import Container, Services, start, stop
from ticketing.entrypoints.consumer import MAX_MESSAGE_BYTES, handle_message

from tests.support.containers import store_of
from tests.support.http import make_container
from tests.support.metrics import parse, sample

pytestmark = pytest.mark.anyio

GOOD = {
    "incident_id": "wa-3EB0C767D26A1B2C7F",
    "customer": {"name": "Ana López", "email": "ana@example.com", "phone": "+52 1 55 1234 5678"},
    "subject": "Pago no reflejado",
    "description": "Hola, pagué ayer",
    "priority": "alta",
    "confidence": 0.91,
    "channel": "WhatsApp",
}


def with_(**changes: object) -> str:
    return json.dumps({**GOOD, **changes})


HOSTILE = {
    "oversize": with_(description="x" * (MAX_MESSAGE_BYTES + 1)),
    "not json": "{incident_id: wa-1",
    "a JSON list": "[1, 2, 3]",
    "no incident id": json.dumps({k: v for k, v in GOOD.items() if k != "incident_id"}),
    "incident id with spaces": with_(incident_id="wa 1; DROP"),
    "incident id too long": with_(incident_id="w" * (intake.MAX_KEY + 1)),
    "bad email": with_(customer={"email": "ana@@example"}),
    "bad phone": with_(customer={"phone": "call me maybe"}),
    "no email or phone": with_(customer={"name": "Ana"}),
    "description too long": with_(description="d" * (intake.MAX_DESCRIPTION + 1)),
    "description of control characters": with_(description="\x00\x01\x02"),
    "phone without a country code": with_(customer={"phone": "55 1234 5678"}),
}


@pytest.fixture
async def services() -> AsyncIterator[tuple[Container, Services]]:
    container = make_container()
    try:
        yield container, await start(container)
    finally:
        await stop(container)


@pytest.mark.parametrize("raw", HOSTILE.values(), ids=HOSTILE.keys())
async def test_hostile_message_is_dead_lettered_and_reaches_nothing(
    services: tuple[Container, Services], raw: str
) -> None:
    """A refused incident goes to the dead letters with a reason; no Zoho call, no queue entry,
    and it counts as an invalid ticket from Redis."""
    container, svc = services
    assert await handle_message(raw, svc, origin="tickets:classify:result") is None
    assert container.emulator_state().calls == []
    store = await store_of(container)
    assert await store.pending_count() == 0
    (letter,) = await store.list_dead(10)
    assert letter.reason
    assert len(letter.payload) <= MAX_MESSAGE_BYTES
    assert svc.metrics is not None
    metrics = parse((await svc.metrics.scrape()).decode())
    assert sample(metrics, "ticketing_tickets_total", outcome="invalid", source="redis") == 1


async def test_a_good_message_still_becomes_a_ticket(services: tuple[Container, Services]) -> None:
    """The same consumer path creates the ticket for a well-formed incident (control case)."""
    container, svc = services
    outcome = await handle_message(json.dumps(GOOD), svc, origin="tickets:classify:result")
    assert outcome is not None
    assert outcome.ticket_id
    assert container.emulator_state().tickets_created == 1
