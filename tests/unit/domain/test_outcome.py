"""A created outcome and the event it publishes carry the same facts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ticketing.domain.model import (
    DeadLetter,
    Outcome,
    Source,
    TicketCreated,
    TicketState,
    is_entry_id,
)

AT = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def test_a_created_outcome_makes_its_event() -> None:
    outcome = Outcome(
        key="k1",
        request_id="req-1",
        state=TicketState.CREATED,
        ticket_id="t-1",
        ticket_number="101",
        contact_id="c-1",
        web_url="https://desk.example/t-1",
        created_at=AT,
        incident_id="inc-1",
        source=Source.REDIS,
    )
    assert outcome.created_event() == TicketCreated(
        request_id="req-1",
        incident_id="inc-1",
        ticket_id="t-1",
        ticket_number="101",
        contact_id="c-1",
        web_url="https://desk.example/t-1",
        created_at=AT,
        source=Source.REDIS,
    )


@pytest.mark.parametrize(
    "outcome",
    [
        Outcome(key="k1", request_id="r", state=TicketState.ACCEPTED, source=Source.HTTP),
        Outcome(key="k1", request_id="r", state=TicketState.CREATED, ticket_id="t-1"),
    ],
    ids=["not-created", "incomplete"],
)
def test_no_event_without_a_complete_created_ticket(outcome: Outcome) -> None:
    with pytest.raises(ValueError, match="not a complete created ticket"):
        outcome.created_event()


def _letter(
    payload: str, key: str | None = None, origin: str = "tickets:classify:result"
) -> DeadLetter:
    return DeadLetter("1-0", "r", payload, datetime(2026, 1, 1, tzinfo=UTC), key, origin)


@pytest.mark.parametrize(
    ("payload", "key", "label"),
    [
        ('{"incident_id": "wa-1"}', "k1", "k1"),
        ('{"description": "x", "incident_id": "wa-3EB0"}', None, "incident_id wa-3EB0"),
        ('{"request_id": 42}', None, "request_id 42"),
        ('{"incident_id": "", "key": "abc"}', None, "key abc"),
        ('{"incident_id": true}', None, "a message from tickets:classify:result (unreadable)"),
        ("not json {", None, "a message from tickets:classify:result (unreadable)"),
        ("[1, 2]", None, "a message from tickets:classify:result (unreadable)"),
    ],
)
def test_a_dead_letter_is_labelled_by_what_an_operator_knows_it_by(
    payload: str, key: str | None, label: str
) -> None:
    """Its key; without one (a message that never became a ticket) the id it carries; else
    where it came from, never a bare '-'."""
    assert _letter(payload, key).label == label


def test_a_dead_letter_matches_a_piece_of_its_reason_in_any_case() -> None:
    letter = _letter("{}")
    assert letter.matches(None)
    assert letter.matches("R")
    assert not letter.matches("x")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1733250000000-0", True),
        ("18446744073709551615-18446744073709551615", True),
        ("18446744073709551616-0", False),  # past 64 bits: no stream id
        ("1-1x", False),
        ("1733250000000", False),
        ("-1", False),
        ("1--1", False),
        ("١٢-٣", False),  # digits, but not ASCII ones
        ("", False),
    ],
)
def test_an_entry_id_is_a_stream_id(text: str, expected: bool) -> None:
    assert is_entry_id(text) is expected
