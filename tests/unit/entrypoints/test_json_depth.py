"""The nesting scan that runs on raw JSON bytes before anything decodes them."""

from __future__ import annotations

import json
import time

import pytest

from ticketing.entrypoints.schemas import MAX_JSON_DEPTH, json_depth, nesting_problem


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("", 0),
        ("42", 0),
        ('"[{"', 0),
        ("{}", 1),
        ('{"customer": {"email": "a@b.co"}, "tags": [1, [2]]}', 3),
        (r'{"d": "a \"quoted [ {\" and \\", "e": [[]]}', 3),  # escapes do not end the string
        ("[" * 5000, 5000),  # never closed: counted all the same
    ],
)
def test_depth_counts_brackets_outside_strings(text: str, depth: int) -> None:
    assert json_depth(text.encode()) == depth


def test_depth_agrees_with_a_decoder() -> None:
    value: object = "x"
    for level in range(1, 40):
        value = [value] if level % 2 else {"k": value, "s": "]]}}"}
        assert json_depth(json.dumps(value).encode()) == level


def test_limit_names_depth_and_limit() -> None:
    ok = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    too_deep = "[" + ok + "]"
    assert nesting_problem(ok.encode()) is None
    assert nesting_problem(too_deep.encode()) == (
        f"JSON nested {MAX_JSON_DEPTH + 1} levels deep; the limit is {MAX_JSON_DEPTH}"
    )


def test_scan_is_linear_on_a_body_at_the_size_limit() -> None:
    """256 KiB of the worst shapes (all brackets, all escapes) scan in well under a second
    (a quadratic scan would take minutes); about 10 ms on a 2-core machine."""
    for body in (b"[]" * 131_072, b'"\\"' * 87_381, b"[" * 262_144):
        started = time.perf_counter()
        json_depth(body)
        assert time.perf_counter() - started < 0.5
