"""Text as people see it: what counts as visible, bidirectional controls, and cuts that never
split a grapheme (an accent from its letter, an emoji sequence, a flag)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ticketing.domain.text import (
    BIDI_CONTROLS,
    cut_graphemes,
    graphemes,
    has_visible,
    strip_invisible,
    without_bidi,
)

FAMILY = "👨\u200d👩\u200d👧"
FLAG_MX = "🇲🇽"
THUMB_DARK = "👍🏿"
KEYCAP_ONE = "1\ufe0f\u20e3"
E_ACUTE = "e\u0301"
HEART = "❤\ufe0f"
HANGUL_JAMO = "\u1100\u1161\u11a8"  # 각 written as three jamo


@pytest.mark.parametrize(
    "text",
    [
        "\u200b\u200c\u200d",
        "\u2060",
        "\ufeff",
        "\ufeff \u200b\t\n",
        "\u00ad\u2061\u180e",  # soft hyphen, function application, Mongolian vowel separator
        "\u3164\u115f",  # Hangul fillers
        "\u2800",  # blank Braille pattern
        "\u202e\u2066",
        "\u0301",  # a lone combining accent
        "",
    ],
)
def test_text_without_a_visible_character(text: str) -> None:
    """Zero-width characters, a BOM, other format characters, blank fillers and spaces show
    nothing."""
    assert not has_visible(text)


@pytest.mark.parametrize("text", ["a", "\u200bHi", "😀", "1", "-", "李", "\ue000", E_ACUTE])
def test_text_with_a_visible_character(text: str) -> None:
    """A letter, digit, punctuation, symbol or emoji shows."""
    assert has_visible(text)


def test_bidi_controls_are_removed() -> None:
    """Every embedding, override, isolate and mark goes; the rest stays in order."""
    assert without_bidi("\u202eAna\u202c \u2066López\u2069\u200e\u200f\u061c") == "Ana López"
    assert len(BIDI_CONTROLS) == 12
    assert without_bidi("Ana") == "Ana"


def test_invisible_ends_are_stripped_and_inner_joiners_kept() -> None:
    """A BOM or zero-width space at either end goes; a ZWJ inside an emoji stays."""
    assert strip_invisible("\ufeff\u200b " + FAMILY + " \u2060") == FAMILY
    assert strip_invisible(HEART) == HEART
    assert strip_invisible("\u200b(123)\u200f") == "(123)\u200f"  # bidi: without_bidi's job


@pytest.mark.parametrize(
    "cluster", [FAMILY, FLAG_MX, THUMB_DARK, KEYCAP_ONE, E_ACUTE, HEART, HANGUL_JAMO, "\r\n"]
)
def test_a_cluster_is_one_grapheme(cluster: str) -> None:
    """ZWJ sequences, flags, skin tones, keycaps, accents and jamo syllables are one grapheme."""
    assert list(graphemes("a" + cluster + "b")) == ["a", cluster, "b"]


def test_two_flags_are_two_graphemes() -> None:
    """Regional indicators pair up: four make two flags."""
    assert list(graphemes(FLAG_MX + "🇺🇸")) == [FLAG_MX, "🇺🇸"]


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("Zoë " + FAMILY, 6, "Zoë "),  # the family is 5 characters: all or nothing
        ("Zoë " + FAMILY, 9, "Zoë " + FAMILY),
        ("ab" + E_ACUTE, 3, "ab"),
        ("ab" + FLAG_MX, 3, "ab"),
        ("short", 40, "short"),
    ],
)
def test_a_cut_keeps_whole_graphemes(text: str, limit: int, expected: str) -> None:
    """A cut ends before a grapheme that does not fit whole."""
    assert cut_graphemes(text, limit) == expected


@given(st.text(max_size=60), st.integers(min_value=0, max_value=70))
def test_a_cut_is_a_prefix_within_the_limit_made_of_whole_graphemes(text: str, limit: int) -> None:
    """Any cut is a start of the text, within the limit, and ends on a grapheme boundary."""
    cut = cut_graphemes(text, limit)
    assert text.startswith(cut)
    assert len(cut) <= limit
    clusters = list(graphemes(text))
    assert "".join(clusters) == text
    boundaries = {0}
    size = 0
    for cluster in clusters:
        size += len(cluster)
        boundaries.add(size)
    assert len(cut) in boundaries
