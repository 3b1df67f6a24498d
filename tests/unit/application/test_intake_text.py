"""Intake reads text as people see it: text with nothing visible is missing, bidirectional
controls never reach a name or subject, and a name under its limit is kept whole."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from ticketing.application.intake import (
    MAX_NAME,
    MAX_SUBJECT,
    IntakePolicy,
    customer_ticket,
    incident_ticket,
)
from ticketing.domain.errors import ValidationError
from ticketing.domain.model import TicketDraft
from ticketing.domain.text import graphemes

NOW = datetime(2026, 12, 4, tzinfo=UTC)
INVISIBLE = [
    "\u200b\u200b\u200b",
    "\u200c\u200d",
    "\u2060",
    "\ufeff",
    "\ufeff \u200b \t",
    "\u00ad\u2061",  # other format characters
    "\u3164",  # a Hangul filler
    "\u202e\u2066",  # only bidi controls
]
RLO_NAME = "\u202eAna\u202c L\u2066ópez\u2069\u200f"


def ticket(**fields: Any) -> TicketDraft:
    given: dict[str, Any] = {
        "customer_name": "Ana López",
        "customer_email": "ana@example.com",
        "customer_phone": None,
        "subject": "Pago",
        "description": "Hola",
        "priority": None,
        "category": None,
        "channel": None,
        "key": None,
        "received_at": NOW,
        "policy": IntakePolicy(),
    }
    given.update(fields)
    return customer_ticket(**given)


def incident(**fields: Any) -> TicketDraft:
    given: dict[str, Any] = {
        "incident_id": "wa-1",
        "customer_name": "Ana López",
        "customer_email": "ana@example.com",
        "customer_phone": None,
        "subject": "Pago",
        "description": "Hola",
        "category": "billing",
        "priority": None,
        "confidence": None,
        "channel": None,
        "received_at": NOW,
        "policy": IntakePolicy(),
    }
    given.update(fields)
    return incident_ticket(**given)


@pytest.mark.parametrize("text", INVISIBLE)
@pytest.mark.parametrize("field", ["subject", "description"])
def test_a_required_text_with_nothing_visible_is_missing(field: str, text: str) -> None:
    """A subject or description of zero-width characters, a BOM, format characters or
    spaces is refused as missing, naming the field."""
    with pytest.raises(ValidationError) as caught:
        ticket(**{field: text})
    assert caught.value.field == field
    assert "empty" in caught.value.reason or "required" in caught.value.reason


@pytest.mark.parametrize("text", INVISIBLE)
def test_an_incident_description_with_nothing_visible_is_missing(text: str) -> None:
    """The same for the classifier's incidents (a dead letter naming the field)."""
    with pytest.raises(ValidationError) as caught:
        incident(description=text)
    assert caught.value.field == "description"


@pytest.mark.parametrize("text", INVISIBLE)
def test_an_incident_subject_with_nothing_visible_is_derived(text: str) -> None:
    """An incident's subject is optional: an invisible one counts as none and is derived."""
    assert incident(subject=text).subject == "Billing: Hola"


@pytest.mark.parametrize("text", INVISIBLE)
def test_a_name_with_nothing_visible_is_no_name(text: str) -> None:
    """An invisible name is no name (the contact is then named by the email)."""
    assert ticket(customer_name=text).customer.name is None
    assert incident(customer_name=text).customer.name is None


@pytest.mark.parametrize("text", INVISIBLE)
def test_an_invisible_email_beside_a_phone_is_no_email(text: str) -> None:
    """An invisible email is absent, not an invalid one to note."""
    draft = ticket(customer_email=text, customer_phone="+52 55 1234 5678")
    assert draft.customer.email is None
    assert draft.description == "Hola"


def test_invisible_ends_are_dropped_and_the_text_kept() -> None:
    """A BOM or zero-width space around a subject goes; the subject stays."""
    draft = ticket(subject="\ufeff\u200bPago\u200b", description="\ufeffHola")
    assert (draft.subject, draft.description) == ("Pago", "Hola")


def test_bidi_controls_are_removed_from_names_and_subjects() -> None:
    """Right-to-left overrides and isolates cannot make a name or subject render as
    something else: they are removed (on HTTP tickets and incidents alike)."""
    for draft in (
        ticket(customer_name=RLO_NAME, subject="\u202eFactura\u202c"),
        incident(customer_name=RLO_NAME, subject="\u202eFactura\u202c"),
    ):
        assert draft.customer.name == "Ana López"
        assert draft.subject == "Factura"


def test_a_description_keeps_its_bidi_marks() -> None:
    """A description is the customer's text, whole: an Arabic message's marks stay."""
    text = "\u0645\u0631\u062d\u0628\u0627 \u200f(123)\u200f"
    assert ticket(description=text).description == text


def test_a_name_under_the_limit_is_kept_whole() -> None:
    """An 88-character name is kept as it is: nothing under the limit is cut."""
    name = " ".join(["Bartholomew"] * 6) + " Smithsonian-Ward"  # 88 characters
    assert len(name) == 88
    draft = ticket(customer_name=name)
    assert draft.customer.name == name
    assert draft.description == "Hola"


def test_a_name_over_the_limit_is_cut_between_graphemes_and_kept_whole() -> None:
    """Over 100, the name is cut (never inside an emoji sequence) and kept whole in the
    description."""
    family = "👨\u200d👩\u200d👧"
    name = "Z" * 96 + family + "Zoë"
    draft = ticket(customer_name=name)
    assert draft.customer.name is not None
    assert len(draft.customer.name) <= MAX_NAME
    assert draft.customer.name == "Z" * 96 + "…"
    assert f"[Customer name, whole: {name}]" in draft.description


def test_a_subject_over_the_limit_is_cut_between_graphemes() -> None:
    """A subject of one long word with flags is cut before a flag, not inside it."""
    subject = "🇲🇽" * 200
    draft = ticket(subject=subject)
    assert len(draft.subject) <= MAX_SUBJECT
    assert draft.subject.endswith("🇲🇽…")
    assert set(graphemes(draft.subject[:-1])) == {"🇲🇽"}
