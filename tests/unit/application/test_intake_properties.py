"""Property tests for intake and contact naming: limits hold, and only ValidationError escapes."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ticketing.application import intake
from ticketing.domain.contacts import new_contact_for, split_name
from ticketing.domain.errors import ValidationError
from ticketing.domain.model import Customer
from ticketing.domain.text import without_bidi

FAST = settings(max_examples=200, deadline=None, database=None)
NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
POLICY = intake.IntakePolicy()
LIMITS = {
    "subject": intake.MAX_SUBJECT,
    "description": intake.MAX_DESCRIPTION,
    "category": intake.MAX_CATEGORY,
    "channel": intake.MAX_CHANNEL,
}
FIELDS = {
    "customer_email",
    "customer_name",
    "customer_phone",
    "subject",
    "description",
    "priority",
    "category",
    "channel",
    "Idempotency-Key",
}

maybe_text = st.one_of(st.none(), st.text(max_size=300))


def _clean(text: str) -> bool:
    return all(ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cs") for ch in text)


@FAST
@given(
    email=st.one_of(st.none(), st.emails(), st.text(max_size=60)),
    name=maybe_text,
    phone=st.one_of(st.none(), st.text(alphabet="+0123456789 -()", max_size=25), st.text()),
    subject=maybe_text,
    description=st.one_of(st.none(), st.text(max_size=400), st.just("x" * 40_000)),
    priority=st.one_of(st.none(), st.sampled_from(["High", "alta", "p2", "bogus"])),
    category=maybe_text,
    channel=maybe_text,
    key=st.one_of(st.none(), st.text(max_size=250)),
)
def test_customer_ticket_is_within_limits_or_names_a_field(
    email: str | None,
    name: str | None,
    phone: str | None,
    subject: str | None,
    description: str | None,
    priority: str | None,
    category: str | None,
    channel: str | None,
    key: str | None,
) -> None:
    """Any HTTP fields give a draft within every limit and without control characters, or a
    ValidationError naming one of the fields; nothing else is raised."""
    try:
        draft = intake.customer_ticket(
            customer_name=name,
            customer_email=email,
            customer_phone=phone,
            subject=subject,
            description=description,
            priority=priority,
            category=category,
            channel=channel,
            key=key,
            received_at=NOW,
            policy=POLICY,
            request_id="req_fixed",
        )
    except ValidationError as exc:
        refused: ValidationError | None = exc
    else:
        refused = None
    if refused is not None:
        assert refused.field in FIELDS
        return
    values = {
        "subject": draft.subject,
        "description": draft.description,
        "category": draft.category,
        "channel": draft.channel,
    }
    for field, value in values.items():
        if value is not None:
            assert 0 < len(value) <= LIMITS[field], field
            assert _clean(value), field
    assert draft.customer.email or draft.customer.phone
    assert len(draft.key) <= intake.MAX_KEY
    assert draft.request_id == "req_fixed"
    assert draft.key != draft.request_id or key == "req_fixed"


@FAST
@given(st.text(min_size=1, max_size=100).filter(lambda t: any(c.isalnum() for c in t)))
def test_split_name_keeps_every_word_that_names(full: str) -> None:
    """A name splits into first and last keeping, in order, every word with a letter or digit
    (bidirectional controls aside) and adding none; last is never empty."""
    first, last = split_name(full)
    assert last
    words = [w for w in without_bidi(full).split() if any(c.isalnum() for c in w)]
    assert ((first.split() if first else []) + [last]) == words


@FAST
@given(
    st.one_of(st.none(), st.text(max_size=200)),
    st.one_of(st.none(), st.emails()),
    st.one_of(st.none(), st.sampled_from(["+525512345678", "+14155550123"])),
)
def test_new_contact_always_has_a_bounded_last_name(
    name: str | None, email: str | None, phone: str | None
) -> None:
    """A new contact has a non-empty last name, keeps every word of the name that has a letter
    or digit (the Zoho adapter fits it to Zoho's limits), the email and the phone; a customer
    without both is refused."""
    customer = Customer(name=name, email=email, phone=phone)
    if not email and not phone:
        with pytest.raises(ValidationError):
            new_contact_for(customer)
        return
    contact = new_contact_for(customer)
    assert contact.last_name
    words = [w for w in without_bidi(name or "").split() if any(c.isalnum() for c in w)]
    if words:
        assert f"{contact.first_name or ''} {contact.last_name}".split() == words
    assert (contact.email, contact.phone) == (email, phone)


@FAST
@given(st.one_of(st.none(), st.text(max_size=150)), st.text(min_size=1, max_size=2000))
def test_derived_subject_is_bounded(category: str | None, description: str) -> None:
    """A subject derived for an incident without one never exceeds the subject limit."""
    assert len(intake.derive_subject(category, description)) <= intake.MAX_SUBJECT
