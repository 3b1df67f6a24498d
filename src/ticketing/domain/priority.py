"""Priority mapping: Zoho's picklist in any case, plus the words classifiers and people send."""

from __future__ import annotations

import math
import unicodedata

from ticketing.domain.errors import ValidationError
from ticketing.domain.model import Priority

_WORDS: dict[str, Priority] = {
    # Zoho's own values
    "high": Priority.HIGH,
    "medium": Priority.MEDIUM,
    "low": Priority.LOW,
    # English synonyms
    "urgent": Priority.HIGH,
    "critical": Priority.HIGH,
    "highest": Priority.HIGH,
    "blocker": Priority.HIGH,
    "normal": Priority.MEDIUM,
    "moderate": Priority.MEDIUM,
    "lowest": Priority.LOW,
    "minor": Priority.LOW,
    # p-levels and 1..5 (1 is the most urgent)
    "p0": Priority.HIGH,
    "p1": Priority.HIGH,
    "p2": Priority.HIGH,
    "p3": Priority.MEDIUM,
    "p4": Priority.LOW,
    "p5": Priority.LOW,
    "1": Priority.HIGH,
    "2": Priority.HIGH,
    "3": Priority.MEDIUM,
    "4": Priority.LOW,
    "5": Priority.LOW,
    # Spanish
    "urgente": Priority.HIGH,
    "critica": Priority.HIGH,
    "crítica": Priority.HIGH,
    "critico": Priority.HIGH,
    "crítico": Priority.HIGH,
    "alta": Priority.HIGH,
    "alto": Priority.HIGH,
    "media": Priority.MEDIUM,
    "medio": Priority.MEDIUM,
    "baja": Priority.LOW,
    "bajo": Priority.LOW,
}

KNOWN_PRIORITY_WORDS: frozenset[str] = frozenset(w.strip() for w in _WORDS)


def parse_priority(value: str | int | None, *, default: Priority = Priority.MEDIUM) -> Priority:
    """Map a priority word to Zoho's picklist; strict.

    Args:
        value: ``High``/``medium``/``LOW``, ``urgent``, ``p1``..``p5``, ``1``..``5``, ``alta``...;
            ``None`` or blank gives ``default``.
        default: the priority for a missing value.

    Raises:
        ValidationError: on ``priority`` for a word it does not know.
    """
    if value is None:
        return default
    # NFC: "crítica" typed on some keyboards arrives decomposed (i + combining accent).
    word = unicodedata.normalize("NFC", str(value)).strip().lower()
    if not word:
        return default
    try:
        return _WORDS[word]
    except KeyError:
        raise ValidationError(
            "priority",
            f"unknown priority {str(value)[:40]!r}; use High, Medium or Low "
            "(or urgent, critical, p1-p5, 1-5, alta, media, baja)",
        ) from None


def classifier_priority(
    value: str | int | None,
    confidence: float | None,
    *,
    min_confidence: float,
    low_confidence_default: Priority,
    default: Priority = Priority.MEDIUM,
) -> Priority:
    """Map a classifier's label, tolerating what a person's input would not be allowed.

    A confidence below ``min_confidence`` means the label is not trusted: the ticket gets
    ``low_confidence_default``. An unknown word also falls back to ``default`` rather than
    losing the customer's message.
    """
    # NaN compares False with everything: it must not pass as a trusted confidence.
    if confidence is not None and (math.isnan(confidence) or confidence < min_confidence):
        return low_confidence_default
    try:
        return parse_priority(value, default=default)
    except ValidationError:
        return default
