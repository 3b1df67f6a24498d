"""Text as people see it: visible characters, bidirectional controls, whole graphemes."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from typing import Final

# Bidirectional embeddings, overrides, isolates and marks: what makes a name render as
# another (``"\u202egnp.exe"`` shows as ``exe.png``).
BIDI_CONTROLS: Final = frozenset(
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
)
# Letters and symbols that draw nothing (Hangul fillers, the blank Braille pattern) and
# marks that draw nothing of their own: no more a character one can see than a space.
_BLANK: Final = frozenset("\u115f\u1160\u3164\uffa0\u2800\u034f\u17b4\u17b5")
_ZWJ: Final = "\u200d"


def is_visible(ch: str) -> bool:
    """True for a character that draws something by itself: a letter, digit, punctuation,
    symbol or private-use glyph; not a space, control, format character (zero-width space,
    joiners, BOM), lone mark or blank filler."""
    category = unicodedata.category(ch)
    return (category[0] in "LNPS" or category == "Co") and ch not in _BLANK


def has_visible(text: str) -> bool:
    """True when ``text`` shows at least one character."""
    return any(is_visible(ch) for ch in text)


def without_bidi(text: str) -> str:
    """``text`` without bidirectional control characters."""
    if not any(ch in BIDI_CONTROLS for ch in text):
        return text
    return "".join(ch for ch in text if ch not in BIDI_CONTROLS)


def strip_invisible(text: str) -> str:
    """``text`` without the spaces, controls and format characters at either end (a BOM, a
    zero-width space); those inside (a ZWJ in an emoji, a ZWNJ in Persian) and bidirectional
    controls (an Arabic text's closing mark; see :func:`without_bidi`) stay."""
    start, end = 0, len(text)
    while start < end and _edge_blank(text[start]):
        start += 1
    while end > start and _edge_blank(text[end - 1]):
        end -= 1
    return text[start:end]


def _edge_blank(ch: str) -> bool:
    if ch in BIDI_CONTROLS:
        return False
    return ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf", "Zs", "Zl", "Zp")


# ---------------------------------------------------------------- grapheme clusters
# A compact reading of Unicode's extended grapheme clusters (UAX #29): enough that a cut
# never splits a letter from its accents, an emoji from its skin tone or variation
# selector, a ZWJ sequence (👨‍👩‍👧), a flag (two regional indicators), a keycap or a
# Hangul syllable written in jamo.


def _extends(ch: str) -> bool:
    """Joins the character before it (Extend, SpacingMark and ZWJ)."""
    code = ord(ch)
    return (
        unicodedata.category(ch) in ("Mn", "Me", "Mc")
        or ch in (_ZWJ, "\u200c")
        or 0x1F3FB <= code <= 0x1F3FF  # emoji skin tones
        or 0xE0020 <= code <= 0xE007F  # emoji tag sequences (subdivision flags)
    )


def _pictographic(ch: str) -> bool:
    code = ord(ch)
    return unicodedata.category(ch) == "So" or 0x1F000 <= code <= 0x1FAFF


def _regional(ch: str) -> bool:
    return 0x1F1E6 <= ord(ch) <= 0x1F1FF


def _jamo(ch: str) -> str:
    """The Hangul syllable type: L, V, T, LV, LVT, or '' for any other character."""
    code = ord(ch)
    if 0x1100 <= code <= 0x115F or 0xA960 <= code <= 0xA97C:
        return "L"
    if 0x1160 <= code <= 0x11A7 or 0xD7B0 <= code <= 0xD7C6:
        return "V"
    if 0x11A8 <= code <= 0x11FF or 0xD7CB <= code <= 0xD7FB:
        return "T"
    if 0xAC00 <= code <= 0xD7A3:
        return "LV" if (code - 0xAC00) % 28 == 0 else "LVT"
    return ""


def _joins(before: str, ch: str, regional_run: int) -> bool:
    """Whether no grapheme boundary falls between ``before`` and ``ch``."""
    if before == "\r" and ch == "\n":
        return True
    if _extends(ch):
        return True
    if before == _ZWJ and _pictographic(ch):
        return True
    if _regional(ch) and _regional(before):
        return regional_run % 2 == 1
    prev, this = _jamo(before), _jamo(ch)
    return (
        (prev == "L" and this in ("L", "V", "LV", "LVT"))
        or (prev in ("LV", "V") and this in ("V", "T"))
        or (prev in ("LVT", "T") and this == "T")
    )


def graphemes(text: str) -> Iterator[str]:
    """The user-perceived characters of ``text``, in order."""
    start = 0
    regional_run = 0
    for i in range(1, len(text)):
        before, ch = text[i - 1], text[i]
        regional_run = regional_run + 1 if _regional(before) else 0
        if not _joins(before, ch, regional_run):
            yield text[start:i]
            start = i
    if text:
        yield text[start:]


def cut_graphemes(text: str, limit: int) -> str:
    """The longest start of ``text`` made of whole graphemes and at most ``limit`` characters
    long (``text`` itself when it fits)."""
    if len(text) <= limit:
        return text
    size = 0
    for cluster in graphemes(text):
        if size + len(cluster) > limit:
            break
        size += len(cluster)
    return text[:size]
