"""Priority mapping: Zoho's picklist, the words people and classifiers send, and defaults."""

from __future__ import annotations

import unicodedata

import pytest

from ticketing.domain.errors import ValidationError
from ticketing.domain.model import Priority
from ticketing.domain.priority import (
    KNOWN_PRIORITY_WORDS,
    classifier_priority,
    parse_priority,
)

HIGH, MEDIUM, LOW = Priority.HIGH, Priority.MEDIUM, Priority.LOW

# Every word the issue lists, with what it must map to.
LISTED: dict[str, Priority] = {
    "High": HIGH,
    "Medium": MEDIUM,
    "Low": LOW,
    "urgent": HIGH,
    "critical": HIGH,
    "p1": HIGH,
    "p2": HIGH,
    "p3": MEDIUM,
    "p4": LOW,
    "1": HIGH,
    "2": HIGH,
    "3": MEDIUM,
    "4": LOW,
    "5": LOW,
    "urgente": HIGH,
    "alta": HIGH,
    "media": MEDIUM,
    "baja": LOW,
}


def _spellings(word: str) -> list[str]:
    return [word, word.lower(), word.upper(), word.title(), f" {word} ", f"\t{word.upper()}\n"]


CASES = [(s, p) for w, p in LISTED.items() for s in _spellings(w)]


@pytest.mark.parametrize(("value", "expected"), CASES)
def test_listed_words_map_in_any_case_and_padding(value: str, expected: Priority) -> None:
    """Every listed priority word maps to Zoho's picklist whatever its case or surrounding space."""
    assert parse_priority(value) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("HIGH", HIGH), (" alta ", HIGH), ("MEDIA", MEDIUM), ("Baja", LOW), ("URGENTE", HIGH)],
)
def test_examples_from_the_issue(value: str, expected: Priority) -> None:
    """The spellings quoted in the issue (`HIGH`, ` alta `) are accepted."""
    assert parse_priority(value) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("crítica", HIGH), ("CRÍTICO", HIGH), ("critica", HIGH), ("p0", HIGH), ("P5", LOW)],
)
def test_extra_synonyms(value: str, expected: Priority) -> None:
    """Accented and unaccented Spanish synonyms and the p0/p5 extremes are known too."""
    assert parse_priority(value) is expected


def test_decomposed_accents_are_the_same_word() -> None:
    """A word typed with a combining accent (NFD) maps like its composed form."""
    assert parse_priority(unicodedata.normalize("NFD", "Crítica")) is HIGH


@pytest.mark.parametrize(("value", "expected"), [(1, HIGH), (2, HIGH), (3, MEDIUM), (4, LOW)])
def test_integers_map_like_their_digits(value: int, expected: Priority) -> None:
    """A numeric priority sent as a JSON number maps like the digit string."""
    assert parse_priority(value) is expected


def test_known_words_include_every_listed_word() -> None:
    """KNOWN_PRIORITY_WORDS (what an API error can list) holds every listed word, lower-cased."""
    assert {w.lower() for w in LISTED} <= KNOWN_PRIORITY_WORDS
    assert all(w == w.strip().lower() for w in KNOWN_PRIORITY_WORDS)


@pytest.mark.parametrize("value", ["asap", "highh", "p6", "0", "6", "muy alta", "true", "-1"])
def test_unknown_word_is_a_validation_error_on_priority(value: str) -> None:
    """An unknown word raises ValidationError naming `priority` and listing the accepted words."""
    with pytest.raises(ValidationError) as caught:
        parse_priority(value)
    assert caught.value.field == "priority"
    assert repr(value) in caught.value.reason
    for accepted in ("High", "Medium", "Low", "urgent", "p1", "alta", "media", "baja"):
        assert accepted in caught.value.reason


def test_unknown_word_error_truncates_a_huge_value() -> None:
    """The error message does not echo an arbitrarily long input back."""
    with pytest.raises(ValidationError) as caught:
        parse_priority("x" * 10_000)
    assert len(caught.value.message) < 300


@pytest.mark.parametrize("value", [None, "", "   ", "\t\n"])
def test_missing_or_blank_gives_the_default(value: str | None) -> None:
    """None or a blank string gives the default (Medium unless told otherwise)."""
    assert parse_priority(value) is MEDIUM
    assert parse_priority(value, default=LOW) is LOW


def test_default_does_not_override_a_given_word() -> None:
    """The default only applies to a missing value, never to a known word."""
    assert parse_priority("high", default=LOW) is HIGH


def _classify(value: str | int | None, confidence: float | None) -> Priority:
    return classifier_priority(
        value, confidence, min_confidence=0.6, low_confidence_default=LOW, default=MEDIUM
    )


def test_classifier_trusted_label_is_mapped() -> None:
    """A classifier label at or above the minimum confidence maps like a person's word."""
    assert _classify("alta", 0.91) is HIGH
    assert _classify("baja", 0.6) is LOW
    assert _classify("urgent", 1.0) is HIGH


def test_classifier_without_confidence_trusts_the_label() -> None:
    """No confidence at all means the label is taken as given."""
    assert _classify("urgente", None) is HIGH


@pytest.mark.parametrize("confidence", [0.0, 0.2, 0.5999, float("-inf"), float("nan")])
def test_classifier_low_confidence_gives_the_configured_default(confidence: float) -> None:
    """Below the minimum confidence (or NaN) the configured low-confidence default wins."""
    assert _classify("urgent", confidence) is LOW
    assert (
        classifier_priority("baja", confidence, min_confidence=0.6, low_confidence_default=HIGH)
        is HIGH
    )


@pytest.mark.parametrize("value", ["asap", "p9", "???", "x" * 500, 42])
def test_classifier_unknown_word_falls_back_to_default(value: str | int) -> None:
    """An unknown classifier label never raises: it gives the default priority."""
    assert _classify(value, 0.99) is MEDIUM
    assert (
        classifier_priority(
            value, 0.99, min_confidence=0.6, low_confidence_default=LOW, default=HIGH
        )
        is HIGH
    )


def test_classifier_missing_label_gives_default() -> None:
    """A classifier message without a priority gets the default."""
    assert _classify(None, 0.9) is MEDIUM
    assert _classify("  ", 0.9) is MEDIUM
