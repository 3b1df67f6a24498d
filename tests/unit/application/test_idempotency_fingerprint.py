"""Idempotency like Stripe's (issue 16): a key sent again with the same request answers its
first outcome; with another request it is refused, naming the key; an incident redelivered
with other content keeps the first, with one warning."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest

from ticketing.domain.errors import IdempotencyKeyReused
from ticketing.domain.model import (
    Outcome,
    Source,
    TicketDraft,
    TicketState,
    request_fingerprint,
    same_request,
)

from tests.support.harness import Harness

pytestmark = pytest.mark.anyio


def incident(h: Harness, incident_id: str, **fields: object) -> TicketDraft:
    """A classifier's incident: its id is the key, its source Redis."""
    draft = h.draft(**fields)  # type: ignore[arg-type]
    return replace(draft, key=incident_id, incident_id=incident_id, source=Source.REDIS)


async def test_the_same_request_however_spelled_replays_the_first_outcome(h: Harness) -> None:
    """A retry has a new request id and arrival time, and may spell the priority another
    way: the same request all the same."""
    first, _ = await h.submit(h.draft(key="order-1", priority="alta"))
    h.later(30)
    again, new = await h.submit(h.draft(key="order-1", priority="High"))
    assert new is False
    assert again.ticket_id == first.ticket_id
    assert len(h.helpdesk.tickets) == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("customer_name", "Beatriz Ruiz"),
        ("customer_email", "beatriz@example.com"),
        ("customer_phone", "+52 55 1234 5678"),
        ("subject", "Otra cosa"),
        ("description", "Otro texto"),
        ("priority", "baja"),
        ("category", "shipping"),
        ("channel", "Email"),
    ],
)
async def test_another_request_under_a_known_key_is_refused_naming_it(
    h: Harness, field: str, value: str
) -> None:
    await h.submit(h.draft(key="order-1"))
    with pytest.raises(IdempotencyKeyReused) as caught:
        await h.submit(h.draft(key="order-1", **{field: value}))
    assert caught.value.field == "Idempotency-Key"
    assert caught.value.reason.startswith("'order-1' was first sent with another request")
    assert len(h.helpdesk.tickets) == 1


async def test_the_key_is_named_as_its_client_wrote_it(h: Harness) -> None:
    """The ledger key is scoped (``api/<client>/<key>``); the refusal names the caller's."""
    await h.submit(h.draft(key="order-9", client="c0ffee"))
    with pytest.raises(IdempotencyKeyReused) as caught:
        await h.submit(h.draft(key="order-9", client="c0ffee", subject="Otra cosa"))
    assert caught.value.key == "order-9"
    assert "api/" not in caught.value.message


async def test_another_request_under_a_queued_key_is_refused_and_queues_nothing(
    h: Harness,
) -> None:
    first, _ = await h.submit(h.draft(key="order-2"), attempt_now=False)
    assert first.state is TicketState.ACCEPTED
    with pytest.raises(IdempotencyKeyReused):
        await h.submit(h.draft(key="order-2", subject="Otra cosa"))
    assert await h.store.pending_count() == 1
    assert (await h.store.draft("order-2")).subject == "Pago no reflejado"  # type: ignore[union-attr]


async def test_an_incident_redelivered_with_other_content_keeps_the_first(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """A stream has nobody to refuse: the first content stays, one warning names it."""
    first, _ = await h.submit(incident(h, "wa-1"))
    with caplog.at_level(logging.WARNING):
        again, new = await h.submit(incident(h, "wa-1", subject="Otra cosa"))
    assert new is False
    assert again.ticket_id == first.ticket_id
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "incident wa-1 delivered again with other content: the first is kept (created), "
        "this one is ignored"
    ]
    (request,) = h.helpdesk.ticket_requests.values()
    assert request.subject == "Pago no reflejado"


async def test_an_incident_redelivered_unchanged_says_nothing(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    await h.submit(incident(h, "wa-2"))
    with caplog.at_level(logging.WARNING):
        await h.submit(incident(h, "wa-2"))
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_finishing_a_redelivered_incident_attempts_the_first_content(h: Harness) -> None:
    """An entry taken over from a dead process is finished with the draft its key was
    accepted for, not the redelivery's other content."""
    await h.submit(incident(h, "wa-3"), attempt_now=False)
    outcome = await h.submit.finish(incident(h, "wa-3", subject="Otra cosa"))
    assert outcome.state is TicketState.CREATED
    (request,) = h.helpdesk.ticket_requests.values()
    assert request.subject == "Pago no reflejado"


def test_the_fingerprint_ignores_the_request_id_key_and_arrival(h: Harness) -> None:
    draft = h.draft(key="order-1")
    retry = replace(draft, key="other", request_id="req_other", received_at=h.clock.now())
    assert request_fingerprint(retry) == request_fingerprint(draft)
    assert request_fingerprint(replace(draft, department_id="7")) != request_fingerprint(draft)
    assert request_fingerprint(replace(draft, contact_id="8")) != request_fingerprint(draft)


def test_a_record_without_a_fingerprint_is_taken_as_the_same_request(h: Harness) -> None:
    """Records kept before fingerprints were (or of another version) cannot tell: a match."""
    draft = h.draft(key="order-1")
    old = Outcome(key=draft.key, request_id="req_old", state=TicketState.CREATED)
    assert same_request(replace(draft, subject="Otra cosa"), old)
    other_version = replace(old, fingerprint="v0:abc")
    assert same_request(replace(draft, subject="Otra cosa"), other_version)
    assert not same_request(
        replace(draft, subject="Otra cosa"), replace(old, fingerprint=request_fingerprint(draft))
    )


def test_the_fingerprint_is_not_part_of_an_outcomes_identity() -> None:
    """Outcomes compare as before: the fingerprint is bookkeeping, not what happened."""
    plain = Outcome(key="k", request_id="r", state=TicketState.ACCEPTED)
    assert replace(plain, fingerprint="v1:x") == plain
