"""A picklist never costs a message: a value the portal lacks is dropped, kept, counted."""

from __future__ import annotations

import logging
from collections import Counter

import pytest

from ticketing.application.tickets import ProcessingPolicy, SubmitTicket, TicketProcessor
from ticketing.domain.errors import HelpdeskRejected
from ticketing.domain.model import Priority, Source, TicketState, picklist_note

from tests.support.clock import ManualClock
from tests.support.harness import Harness, make_harness

pytestmark = pytest.mark.anyio

ZOHO_CHANNELS = {"Email", "Phone", "Chat", "Web", "Forums"}


class RecordingMetrics:
    def __init__(self) -> None:
        self.refused: Counter[str] = Counter()
        self.tickets: Counter[str] = Counter()

    def ticket(self, outcome: str, source: Source) -> None:
        self.tickets[outcome] += 1

    def ticket_latency(self, source: Source, seconds: float) -> None:
        pass

    def picklist_refused(self, field: str) -> None:
        self.refused[field] += 1


def metered(clock: ManualClock) -> tuple[Harness, RecordingMetrics]:
    h = make_harness(clock)
    metrics = RecordingMetrics()
    h.processor = TicketProcessor(
        h.store,
        h.guarded,
        h.contacts,
        clock,
        ProcessingPolicy(max_deliveries=5),
        metrics=metrics,
    )
    h.submit = SubmitTicket(h.store, h.processor, h.guarded, metrics=metrics)
    return h, metrics


async def test_portal_without_whatsapp_still_gets_the_ticket(
    clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    h, metrics = metered(clock)
    h.helpdesk.picklists["channel"] = ZOHO_CHANNELS
    draft = h.draft(channel="WhatsApp")
    with caplog.at_level(logging.WARNING):
        outcome, _ = await h.submit(draft)
    assert outcome.state is TicketState.CREATED
    assert len(h.helpdesk.tickets) == 1
    sent = h.helpdesk.ticket_requests[outcome.ticket_id or ""]
    assert sent.channel is None
    assert sent.category == "billing"  # what the portal took stays
    assert sent.description == draft.description + picklist_note("channel", "WhatsApp")
    assert metrics.refused == Counter({"channel": 1})
    assert metrics.tickets["dead"] == 0
    warning = next(r.getMessage() for r in caplog.records if "picklist" in r.getMessage())
    assert draft.key in warning
    assert "channel" in warning
    assert "'WhatsApp'" in warning
    assert await h.store.dead_count() == 0
    assert await h.store.owner_of(outcome.ticket_id or "") == draft.key


async def test_every_refused_picklist_value_is_dropped_in_turn(clock: ManualClock) -> None:
    """A portal lacking the channel, the classifier's category and the priority word: three
    refusals, one ticket, the three values kept in its description in the order dropped."""
    h, metrics = metered(clock)
    h.helpdesk.picklists.update(
        channel=ZOHO_CHANNELS, category={"Facturación"}, priority={"Alta", "Media", "Baja"}
    )
    draft = h.draft(channel="WhatsApp", category="billing")
    outcome, _ = await h.submit(draft)
    assert outcome.state is TicketState.CREATED
    sent = h.helpdesk.ticket_requests[outcome.ticket_id or ""]
    assert (sent.channel, sent.category, sent.priority) == (None, None, None)
    assert sent.description == (
        draft.description
        + picklist_note("channel", "WhatsApp")
        + picklist_note("category", "billing")
        + picklist_note("priority", Priority.HIGH.value)
    )
    assert metrics.refused == Counter({"channel": 1, "category": 1, "priority": 1})
    assert h.helpdesk.count("create_ticket") == 4
    assert len(h.helpdesk.tickets) == 1


async def test_a_refusal_of_a_field_not_sent_still_dead_letters(h: Harness) -> None:
    """A 422 naming a picklist the service never sent (nothing to drop) is not retried."""
    h.helpdesk.fail_next(
        "create_ticket",
        HelpdeskRejected("bad classification", status=422, field="classification"),
    )
    outcome, _ = await h.submit(h.draft())
    assert outcome.state is TicketState.DEAD
    assert h.helpdesk.count("create_ticket") == 1


async def test_picklist_refusal_of_a_queued_ticket_on_drain(h: Harness) -> None:
    """The same through the durable queue: accepted while Zoho is away, then drained."""
    h.helpdesk.picklists["channel"] = ZOHO_CHANNELS
    outcome, _ = await h.submit(h.draft(channel="SMS"), attempt_now=False)
    assert outcome.state is TicketState.ACCEPTED
    report = await h.drain()
    assert (report.created, report.dead) == (1, 0)
    (sent,) = h.helpdesk.ticket_requests.values()
    assert sent.channel is None
    assert sent.description.endswith(picklist_note("channel", "SMS"))
