"""The attachment rules of the domain: names fit for the helpdesk, hosts allowed by the
operator's list, a lost upload found by name and size."""

from __future__ import annotations

import pytest

from ticketing.domain.attachments import (
    AttachmentFetchError,
    TicketAttachment,
    attachment_name,
    host_allowed,
    same_file,
)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("pase.jpg", "pase.jpg"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\ana\\factura.pdf", "factura.pdf"),
        ('a"b<c>|d?.png', "a_b_c_d_.png"),
        ("line\r\nbreak.txt", "line_break.txt"),
        ("", "attachment"),
        (None, "attachment"),
        ("...", "attachment"),
        ("dir/", "dir"),
        ("año.png", "año.png"),
        ("an\u0303o.png", "año.png"),  # NFD becomes NFC
    ],
)
def test_names_are_made_fit(given: str | None, expected: str) -> None:
    """The last path segment, reserved and control characters replaced, never empty."""
    assert attachment_name(given) == expected


def test_a_long_name_keeps_its_extension() -> None:
    """Cut to 100 characters at most, the extension kept; without one, the name is cut."""
    name = attachment_name("x" * 300 + ".jpeg")
    assert (len(name), name.endswith(".jpeg")) == (100, True)
    assert attachment_name("y" * 300) == "y" * 100
    assert len(attachment_name("z" * 50 + "." + "e" * 60)) == 100


@pytest.mark.parametrize(
    ("host", "allowed", "expected"),
    [
        ("lookaside.fbsbx.com", ["lookaside.fbsbx.com"], True),
        ("LOOKASIDE.fbsbx.com.", ["lookaside.fbsbx.com"], True),
        ("media.example.com", ["*.example.com"], True),
        ("a.b.example.com", ["*.example.com"], True),
        ("example.com", ["*.example.com"], False),
        ("evilexample.com", ["*.example.com"], False),
        ("example.com.evil.net", ["example.com"], False),
        ("example.com", [], False),
        ("", ["*"], False),
        ("example.com", ["", " "], False),
        ("other.com", ["example.com", "other.com"], True),
    ],
)
def test_hosts_are_allowed_exactly_or_by_suffix(
    host: str, allowed: list[str], expected: bool
) -> None:
    """An exact name, or *.suffix for the names under it (never the suffix itself)."""
    assert host_allowed(host, allowed) is expected


def test_a_lost_upload_is_found_by_name_and_size() -> None:
    """Only the same name and the same size count."""
    files = [
        TicketAttachment("1", "t", "a.jpg", 10, False),
        TicketAttachment("2", "t", "a.jpg", 11, False),
        TicketAttachment("3", "t", "b.jpg", 10, False),
        TicketAttachment("4", "t", "a.jpg", 10, True),
    ]
    assert [a.id for a in same_file(files, "a.jpg", 10)] == ["1", "4"]


def test_a_fetch_error_names_its_reason() -> None:
    """The reason leads the message and is kept; permanent unless said otherwise."""
    error = AttachmentFetchError("gone", "the source answered 404")
    assert (str(error), error.reason, error.retryable) == (
        "gone: the source answered 404",
        "gone",
        False,
    )
