"""Finding a field given twice: JSON keys compared decoded, nested keys named by their path,
and query and body read as one request."""

from __future__ import annotations

import pytest

from ticketing.domain.errors import DuplicateField
from ticketing.entrypoints.schemas import CUSTOMER_FIELDS, duplicate_key, single_fields


@pytest.mark.parametrize(
    ("raw", "nested", "expected"),
    [
        ('{"a": 1, "b": 2}', False, None),
        ('{"a": 1, "a": 2}', False, "a"),
        ('{"email": 1, "\\u0065mail": 2}', False, "email"),
        ('{"c": {"x": 1, "x": 2}}', False, None),  # nested: only when asked
        ('{"c": {"x": 1, "x": 2}}', True, "c.x"),
        ('{"l": [{"u": 1}, {"u": 1, "u": 2}]}', True, "l[1].u"),
        ("[1, 2]", False, None),
        ("{not json", True, None),  # the decoder says what is wrong with it
    ],
)
def test_duplicate_key(raw: str, nested: bool, expected: str | None) -> None:
    """The first key an object gives twice, decoded before comparing."""
    assert duplicate_key(raw.encode(), nested=nested) == expected


def test_single_fields_reads_each_field_once() -> None:
    """Fields spread over the query and the body are one request; names the route does not
    read are not checked."""
    fields = single_fields(
        [
            ("query", [("subject", "S"), ("x", "1"), ("x", "2")]),
            ("form body", [("description", "D")]),
        ],
        CUSTOMER_FIELDS,
    )
    assert fields == {"subject": "S", "x": "1", "description": "D"}


@pytest.mark.parametrize(
    ("sources", "where"),
    [
        ([("query", [("subject", "a"), ("subject", "b")])], "in the query"),
        (
            [("query", [("subject", "a")]), ("JSON body", [("subject", "b")])],
            "in the query and the JSON body",
        ),
        ([("query", []), ("form body", [("subject", "a"), ("subject", "")])], "in the form body"),
    ],
)
def test_single_fields_refuses_a_field_given_twice(
    sources: list[tuple[str, list[tuple[str, str]]]], where: str
) -> None:
    """Given twice, even with an empty second value: refused, naming the field and where."""
    with pytest.raises(DuplicateField) as caught:
        single_fields(sources, CUSTOMER_FIELDS)
    assert caught.value.field == "subject"
    assert caught.value.reason == f"subject is given twice ({where}); send it once"
