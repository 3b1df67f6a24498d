"""Property tests for the domain: priority mapping, contact resolution and the breaker."""

from __future__ import annotations

import math
import random
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from ticketing.domain.breaker import BreakerState, CircuitBreaker
from ticketing.domain.contacts import (
    choose_contact,
    matches,
    normalize_email,
    normalize_phone,
)
from ticketing.domain.errors import ValidationError
from ticketing.domain.model import Contact, Customer, Priority
from ticketing.domain.priority import KNOWN_PRIORITY_WORDS, classifier_priority, parse_priority

from tests.support.clock import ManualClock

# No example database: nothing is written into the working tree, and runs stay fast.
FAST = settings(max_examples=150, deadline=None, database=None)

known_words = st.sampled_from(sorted(KNOWN_PRIORITY_WORDS))
padding = st.text(alphabet=" \t\n\r\u00a0", max_size=3)
priorities = st.sampled_from(list(Priority))


# --- priority ----------------------------------------------------------------------------------


@st.composite
def respelled(draw: st.DrawFn) -> tuple[str, str]:
    word = draw(known_words)
    flips = draw(st.lists(st.booleans(), min_size=len(word), max_size=len(word)))
    cased = "".join(c.swapcase() if f else c for c, f in zip(word, flips, strict=True))
    return word, draw(padding) + cased + draw(padding)


@FAST
@given(respelled())
def test_priority_ignores_case_and_whitespace(pair: tuple[str, str]) -> None:
    """Any known word in any case with any padding maps like its plain lower-case form."""
    word, spelling = pair
    assert parse_priority(spelling) is parse_priority(word)


def test_priority_is_total_on_known_words() -> None:
    """Every known word maps to a priority without raising."""
    assert {type(parse_priority(w)) for w in KNOWN_PRIORITY_WORDS} == {Priority}


@FAST
@given(st.one_of(st.text(max_size=20), known_words), priorities)
def test_priority_accepts_exactly_known_words_or_blank(value: str, default: Priority) -> None:
    """parse_priority returns for known words and blanks, and raises ValidationError otherwise."""
    word = unicodedata.normalize("NFC", value).strip().lower()
    if word and word not in KNOWN_PRIORITY_WORDS:
        with pytest.raises(ValidationError) as caught:
            parse_priority(value, default=default)
        assert caught.value.field == "priority"
    elif word:
        assert parse_priority(value, default=default) is parse_priority(word)
    else:
        assert parse_priority(value, default=default) is default


@FAST
@given(
    st.one_of(st.none(), st.text(max_size=20), st.integers(), known_words),
    st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
    st.floats(min_value=0, max_value=1),
    priorities,
    priorities,
)
def test_classifier_priority_never_raises(
    value: str | int | None,
    confidence: float | None,
    minimum: float,
    low_default: Priority,
    default: Priority,
) -> None:
    """Classifier mode always yields a priority; untrusted confidence yields the configured one."""
    result = classifier_priority(
        value,
        confidence,
        min_confidence=minimum,
        low_confidence_default=low_default,
        default=default,
    )
    assert isinstance(result, Priority)
    if confidence is not None and (math.isnan(confidence) or confidence < minimum):
        assert result is low_default


# --- phone and email ---------------------------------------------------------------------------

SEPARATORS = st.text(alphabet=" -./()\u00a0", max_size=2)


@st.composite
def phone_parts(draw: st.DrawFn) -> tuple[str, list[str]]:
    prefix = draw(st.sampled_from(["", "+", "00", "0"]))
    digits = draw(st.lists(st.sampled_from("0123456789"), min_size=5, max_size=18))
    return prefix, digits


@FAST
@given(phone_parts(), st.data())
def test_phone_normalization_ignores_separators(
    parts: tuple[str, list[str]], data: st.DataObject
) -> None:
    """Separators anywhere after the + change nothing: same result, or refused either way."""
    prefix, digits = parts
    plain = prefix + "".join(digits)
    gaps = data.draw(st.lists(SEPARATORS, min_size=len(digits), max_size=len(digits)))
    spaced = prefix + "".join(g + d for g, d in zip(gaps, digits, strict=True))

    def outcome(value: str) -> str:
        try:
            return normalize_phone(value)
        except ValidationError as error:
            return f"refused on {error.field}"

    assert outcome(spaced) == outcome(plain)
    assert outcome(plain).startswith(("+", "refused on customer_phone"))


@FAST
@given(st.one_of(st.text(max_size=25), st.text(alphabet="0123456789+()-./ ", max_size=25)))
def test_phone_normalization_is_idempotent_and_only_raises_validation(value: str) -> None:
    """A normalized number normalizes to itself, is + and 8-15 digits; bad input is refused."""
    try:
        phone = normalize_phone(value)
    except ValidationError:
        return
    assert normalize_phone(phone) == phone
    assert phone[0] == "+"
    assert phone[1:].isascii()
    assert phone[1:].isdigit()
    assert 8 <= len(phone) - 1 <= 15


@FAST
@given(st.one_of(st.emails(), st.text(max_size=30)))
def test_email_normalization_is_idempotent_and_case_insensitive(value: str) -> None:
    """A normalized address normalizes to itself and does not depend on the input's case."""
    try:
        email = normalize_email(value)
    except ValidationError as error:
        refused_on = error.field
        assert refused_on == "customer_email"
        return
    assert normalize_email(email) == email
    assert normalize_email(value.upper()) == email
    assert email == email.strip().lower()


# --- contact resolution ------------------------------------------------------------------------

EMAILS = ["ana@example.com", "ANA@Example.com", "xana@example.com", "ana@example.co", None]
PHONES = ["+5215512345678", "52 1 55 1234 5678", "+5215512345670", "n/a", None]
T0 = datetime(2024, 1, 1, tzinfo=UTC)
TIMES = [None, T0, T0 + timedelta(hours=1), datetime(2024, 1, 1, 0, 30), T0 - timedelta(days=1)]

contacts = st.builds(
    Contact,
    id=st.integers(min_value=1, max_value=10**6).map(str),
    last_name=st.just("X"),
    email=st.sampled_from(EMAILS),
    phone=st.sampled_from(PHONES),
    mobile=st.sampled_from(PHONES),
    created_time=st.sampled_from(TIMES),
)
customers = st.one_of(
    st.builds(Customer, email=st.sampled_from(["ana@example.com", "xana@example.com"])),
    st.builds(Customer, phone=st.sampled_from(["+5215512345678", "+5215512345670"])),
)


def _instant(contact: Contact) -> datetime:
    created = contact.created_time or datetime(1970, 1, 1, tzinfo=UTC)
    return created if created.tzinfo else created.replace(tzinfo=UTC)


@FAST
@given(st.lists(contacts, max_size=8, unique_by=lambda c: c.id), customers, st.randoms())
def test_choose_contact_is_order_independent_and_exact(
    candidates: list[Contact], customer: Customer, rnd: random.Random
) -> None:
    """The pick is an exact match, the oldest one, and the same whatever the result order."""
    chosen = choose_contact(candidates, customer)
    exact = [c for c in candidates if matches(c, customer)]
    shuffled = list(candidates)
    rnd.shuffle(shuffled)
    assert choose_contact(shuffled, customer) == chosen
    assert choose_contact(reversed(candidates), customer) == chosen
    if chosen is None:
        assert exact == []
        return
    assert chosen in exact
    if customer.email:
        assert chosen.email is not None
        assert chosen.email.lower() == customer.email
    assert all(_instant(chosen) <= _instant(c) for c in exact)


# --- the breaker -------------------------------------------------------------------------------


@dataclass
class ReferenceBreaker:
    """The breaker as the issue states it, written as plainly as possible."""

    threshold: int
    timeout: float
    state: str = "closed"  # closed | open | half_open
    failures: int = 0
    since: float = 0.0  # when it opened, or when the current trial started

    def allow(self, now: float) -> bool:
        if self.state == "closed":
            return True
        if now - self.since < self.timeout:
            return False  # open and waiting, or a trial in flight
        self.state, self.since = "half_open", now
        return True

    def success(self) -> None:
        self.state, self.failures = "closed", 0

    def failure(self, now: float) -> None:
        if self.state == "closed":
            self.failures += 1
            if self.failures >= self.threshold:
                self.state, self.since = "open", now
        elif self.state == "half_open":
            self.state, self.since = "open", now

    def ignored(self) -> None:
        if self.state == "half_open":
            self.success()

    def reported_state(self, now: float) -> BreakerState:
        if self.state == "open" and now - self.since >= self.timeout:
            return BreakerState.HALF_OPEN
        return BreakerState(self.state)


class BreakerMachine(RuleBasedStateMachine):
    """Random sequences of allow/record/advance against the reference model."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock()
        self.breaker = CircuitBreaker(self.clock)
        self.model = ReferenceBreaker(5, 30.0)
        self.opened_at: float | None = None  # observed: the last move into OPEN
        self.trial_at: float | None = None  # observed: an outstanding trial

    @initialize(threshold=st.integers(1, 4), timeout=st.sampled_from([1.0, 30.0]))
    def configure(self, threshold: int, timeout: float) -> None:
        self.breaker = CircuitBreaker(self.clock, failure_threshold=threshold, timeout=timeout)
        self.model = ReferenceBreaker(threshold, timeout)

    @property
    def now(self) -> float:
        return self.clock.monotonic()

    @rule(fraction=st.sampled_from([0.0, 0.001, 0.25, 0.5, 0.999, 1.0, 1.5]))
    def advance(self, fraction: float) -> None:
        self.clock.advance(fraction * self.model.timeout)

    @rule()
    def allow(self) -> None:
        before = self.breaker.state
        allowed = self.breaker.allow()
        assert allowed == self.model.allow(self.now)
        if allowed and before is not BreakerState.CLOSED:
            # Safety, independent of the model: never while open before the timeout...
            assert self.opened_at is not None
            assert self.now - self.opened_at >= self.breaker.timeout
            # ...and never a second trial while one is outstanding and not yet given up.
            assert self.trial_at is None or self.now - self.trial_at >= self.breaker.timeout
            self.trial_at = self.now

    @rule()
    def success(self) -> None:
        self.breaker.record_success()
        self.model.success()
        self.trial_at = None
        assert self.breaker.state is BreakerState.CLOSED

    @rule()
    def failure(self) -> None:
        was_open = self.breaker.state is BreakerState.OPEN
        self.breaker.record_failure()
        self.model.failure(self.now)
        if self.breaker.state is BreakerState.OPEN and not was_open:
            self.opened_at = self.now
            self.trial_at = None

    @rule()
    def ignored(self) -> None:
        self.breaker.record_ignored()
        self.model.ignored()
        if self.breaker.state is BreakerState.CLOSED:
            self.trial_at = None

    @invariant()
    def agrees_with_model(self) -> None:
        snap = self.breaker.snapshot()
        assert snap.state is self.breaker.state is self.model.reported_state(self.now)
        assert snap.consecutive_failures == self.model.failures
        assert 0.0 <= snap.retry_in <= self.breaker.timeout
        if self.model.state != "closed":
            assert snap.retry_in == max(0.0, self.model.since + self.model.timeout - self.now)


# TestCase is built at run time, so mypy cannot see it as a class.
class TestBreakerMachine(BreakerMachine.TestCase):  # type: ignore[misc,valid-type]
    """The breaker matches the reference model and never runs two trials or opens early."""

    settings = settings(max_examples=200, stateful_step_count=40, deadline=None, database=None)
