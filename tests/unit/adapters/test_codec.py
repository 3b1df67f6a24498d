"""The shared codec: drafts and created events to JSON and back, and what bad data says."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from ticketing.adapters.codec import (
    PayloadError,
    decode_draft,
    decode_event,
    encode_draft,
    encode_event,
    format_datetime,
    parse_datetime,
)
from ticketing.domain.model import Customer, Priority, Source, TicketCreated, TicketDraft

from tests.support.events import EVENT_FIELDS

RECEIVED = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


BASE = TicketDraft(
    key="wa-3EB0C767D26A1B2C7F",
    request_id="req-1",
    subject="Pago no reflejado",
    description="Hola, pagué ayer mi reserva",
    priority=Priority.HIGH,
    customer=Customer(name="Ana López", email="ana@example.com", phone="+5215512345678"),
    source=Source.REDIS,
    received_at=RECEIVED,
    category="billing",
    channel="WhatsApp",
    department_id="dep-1",
    incident_id="wa-3EB0C767D26A1B2C7F",
)


def make_draft(**overrides: Any) -> TicketDraft:
    return replace(BASE, **overrides)


def valid_json(**overrides: object) -> str:
    data = json.loads(encode_draft(make_draft()))
    data.update(overrides)
    return json.dumps(data)


def test_draft_round_trips() -> None:
    """A draft decodes back to an equal draft, from bytes and from text."""
    draft = make_draft()
    assert decode_draft(encode_draft(draft)) == draft
    assert decode_draft(encode_draft(draft).decode()) == draft


def test_minimal_draft_round_trips() -> None:
    """Optional fields left out come back as None."""
    draft = make_draft(
        customer=Customer(phone="+5215512345678"),
        category=None,
        channel=None,
        department_id=None,
        incident_id=None,
        source=Source.HTTP,
    )
    assert decode_draft(encode_draft(draft)) == draft


def test_enums_are_written_as_their_values() -> None:
    """Priority and source are stored as their values, not their names."""
    data = json.loads(encode_draft(make_draft(priority=Priority.LOW, source=Source.HTTP)))
    assert data["priority"] == "Low"
    assert data["source"] == "http"


def test_times_are_written_in_utc() -> None:
    """A time with another offset is written as the same instant in UTC, with a Z."""
    local = datetime(2026, 11, 26, 4, 0, tzinfo=timezone(timedelta(hours=-6)))
    data = json.loads(encode_draft(make_draft(received_at=local)))
    assert data["received_at"] == "2026-11-26T10:00:00Z"
    assert decode_draft(encode_draft(make_draft(received_at=local))).received_at == RECEIVED


def test_format_and_parse_datetime_agree() -> None:
    """Stored times are ISO 8601 UTC with a Z and read back to the same instant."""
    assert format_datetime(RECEIVED) == "2026-11-26T10:00:00Z"
    assert parse_datetime("2026-11-26T11:00:00+01:00") == RECEIVED


def test_not_json_is_a_payload_error_without_field() -> None:
    """Text that is not JSON raises PayloadError (a ValueError) with no field."""
    with pytest.raises(PayloadError) as info:
        decode_draft("{not json")
    assert isinstance(info.value, ValueError)
    assert info.value.field is None
    assert "not valid JSON" in str(info.value)


def test_missing_field_is_named() -> None:
    """A missing required field is named in the error."""
    data = json.loads(valid_json())
    del data["subject"]
    with pytest.raises(PayloadError) as info:
        decode_draft(json.dumps(data))
    assert info.value.field == "subject"
    assert "subject" in str(info.value)


def test_wrong_nested_type_is_named_by_path() -> None:
    """A wrong type inside the customer is named by its dotted path."""
    with pytest.raises(PayloadError) as info:
        decode_draft(valid_json(customer={"email": 42}))
    assert info.value.field == "customer.email"


def test_unknown_priority_is_named() -> None:
    """A priority outside the picklist names the priority field."""
    with pytest.raises(PayloadError) as info:
        decode_draft(valid_json(priority="Urgent"))
    assert info.value.field == "priority"


def test_naive_time_is_rejected() -> None:
    """A received_at without an offset is ambiguous, so it is bad data."""
    with pytest.raises(PayloadError) as info:
        decode_draft(valid_json(received_at="2026-11-26T10:00:00"))
    assert info.value.field == "received_at"


def test_unknown_fields_are_ignored() -> None:
    """A newer writer's extra field does not make the draft undecodable."""
    assert decode_draft(valid_json(extra="x")) == make_draft()


def test_created_event_is_exactly_the_contract() -> None:
    """The created event has exactly the contract's fields, in order, time in UTC."""
    event = TicketCreated(
        request_id="req-1",
        incident_id=None,
        ticket_id="t-1",
        ticket_number="101",
        contact_id="c-1",
        web_url="https://desk.example/t-1",
        created_at=RECEIVED,
        source=Source.HTTP,
    )
    text = encode_event(event).decode()
    assert json.loads(text) == {
        "request_id": "req-1",
        "incident_id": None,
        "ticket_id": "t-1",
        "ticket_number": "101",
        "contact_id": "c-1",
        "web_url": "https://desk.example/t-1",
        "created_at": "2026-11-26T10:00:00Z",
        "source": "http",
    }
    assert list(json.loads(text)) == list(EVENT_FIELDS)
    assert decode_event(text) == event


def test_bad_event_is_a_payload_error() -> None:
    """An event without a ticket id names the field."""
    with pytest.raises(PayloadError) as info:
        decode_event('{"request_id": "r"}')
    assert info.value.field is not None
