"""A created outcome and the event it publishes carry the same facts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ticketing.domain.model import Outcome, Source, TicketCreated, TicketState

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
