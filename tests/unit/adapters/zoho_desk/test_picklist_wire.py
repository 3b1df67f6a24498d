"""A picklist value the portal lacks, on the wire: Zoho's 422, then the same ticket without it."""

from __future__ import annotations

import json

import pytest
import respx

from ticketing.adapters.memory import InMemoryContactCache, InMemoryLeases, InMemoryTicketStore
from ticketing.adapters.zoho_desk.client import ZohoDeskClient
from ticketing.application.contacts import ContactResolver
from ticketing.application.guard import GuardedHelpdesk
from ticketing.application.tickets import TicketProcessor
from ticketing.domain.breaker import CircuitBreaker
from ticketing.domain.model import (
    Customer,
    Priority,
    Source,
    TicketDraft,
    TicketState,
    picklist_note,
    reference_line,
)

from tests.support.clock import ManualClock
from tests.unit.adapters.zoho_desk.test_wire_respx import API, TICKET

pytestmark = pytest.mark.anyio

# Zoho's answer to a channel its portal does not have (the shape of every INVALID_DATA).
NO_SUCH_CHANNEL = {
    "errorCode": "INVALID_DATA",
    "message": "An invalid value has been passed for a field.",
    "errors": [{"fieldName": "/channel", "errorType": "invalid", "errorMessage": "invalid"}],
}


async def test_refused_channel_is_posted_again_without_it(
    router: respx.MockRouter, desk: ZohoDeskClient, clock: ManualClock
) -> None:
    """The second POST has no ``channel``, the same everything else, and a description that
    keeps the value before the reference line, which still ends it (the look-up needs it)."""
    route = router.post(f"{API}/tickets")
    route.side_effect = [
        respx.MockResponse(422, json=NO_SUCH_CHANNEL),
        respx.MockResponse(200, json=TICKET),
    ]
    store = InMemoryTicketStore(clock)
    guarded = GuardedHelpdesk(desk, CircuitBreaker(clock), clock)
    contacts = ContactResolver(guarded, InMemoryContactCache(clock), InMemoryLeases(clock), clock)
    processor = TicketProcessor(store, guarded, contacts, clock)
    draft = TicketDraft(
        key="wa-1",
        request_id="req-1",
        subject="Pago no reflejado",
        description="Hola, pagué ayer",
        priority=Priority.HIGH,
        customer=Customer(phone="+525512345678"),
        source=Source.REDIS,
        received_at=clock.now(),
        channel="WhatsApp",
        category="billing",
        contact_id="813934000024065112",
        department_id="7001",
    )
    await store.accept(draft)
    outcome = await processor.process(draft)
    assert outcome.state is TicketState.CREATED
    first, second = (json.loads(call.request.content) for call in route.calls)
    assert first["channel"] == "WhatsApp"
    assert "channel" not in second
    assert second["category"] == "billing"
    assert second["priority"] == "High"
    assert second["description"] == (
        draft.description + picklist_note("channel", "WhatsApp") + reference_line(draft.key)
    )
    assert {k: v for k, v in first.items() if k not in ("channel", "description")} == {
        k: v for k, v in second.items() if k != "description"
    }


async def test_ticket_field_values_reads_organization_fields(
    router: respx.MockRouter, desk: ZohoDeskClient
) -> None:
    """``GET /organizationFields?module=tickets``: each picklist's apiName and allowedValues
    (objects with a ``value`` as in FieldOld.json, or plain strings); fields without
    allowed values are not picklists."""
    route = router.get(f"{API}/organizationFields").respond(
        200,
        json={
            "data": [
                {"apiName": "channel", "type": "Picklist", "allowedValues": [{"value": "Email"}]},
                {"apiName": "priority", "type": "Picklist", "allowedValues": ["High", "Low"]},
                {"apiName": "subject", "type": "Text", "maxLength": 255},
                {
                    "apiName": "status",
                    "type": "Picklist",
                    "allowedValues": [{"value": "Open", "statusType": "Open"}],
                },
            ]
        },
    )
    values = await desk.ticket_field_values()
    assert dict(route.calls.last.request.url.params) == {"module": "tickets"}
    assert values == {
        "channel": frozenset({"Email"}),
        "priority": frozenset({"High", "Low"}),
        "status": frozenset({"Open"}),
    }
