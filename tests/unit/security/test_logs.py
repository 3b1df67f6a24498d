"""Logging: one event per line, JSON in production, correlation ids, and the redactor."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ticketing.application import context
from ticketing.entrypoints.logs import MASK, Redactor, install, resolve_format, uninstall

FAST = settings(max_examples=200, deadline=None, database=None)
SECRET = "fake-client-secret-0042"


@pytest.fixture
def captured() -> Iterator[tuple[io.StringIO, list[logging.Handler]]]:
    stream = io.StringIO()
    handlers: list[logging.Handler] = []
    yield stream, handlers
    for handler in handlers:
        uninstall(handler)


def test_auto_format_is_json_in_production_only() -> None:
    """LOG_FORMAT=auto means JSON in production and text elsewhere; explicit values win."""
    assert resolve_format("auto", "production") == "json"
    assert resolve_format("auto", "development") == "text"
    assert resolve_format("text", "production") == "text"
    assert resolve_format("json", "development") == "json"


def test_json_lines_carry_the_correlation_ids(
    captured: tuple[io.StringIO, list[logging.Handler]],
) -> None:
    """In JSON mode each event is one parseable line with request id, incident id and key."""
    stream, handlers = captured
    handlers.append(install(fmt="json", stream=stream, level="debug"))
    log = logging.getLogger("ticketing.test")
    with context.bind(request_id="req_1", incident_id="wa-9"), context.bind(key="wa-9"):
        log.info("line one\nwith a newline")
    log.warning("outside")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["message"] == "line one\nwith a newline"
    assert (first["request_id"], first["incident_id"], first["key"]) == ("req_1", "wa-9", "wa-9")
    assert first["level"] == "info"
    assert first["logger"] == "ticketing.test"
    assert "request_id" not in second


def test_text_lines_are_readable_with_ids(
    captured: tuple[io.StringIO, list[logging.Handler]],
) -> None:
    """In text mode a line reads 'time LEVEL logger: message [request_id=…]'."""
    stream, handlers = captured
    handlers.append(install(fmt="text", stream=stream))
    with context.bind(request_id="req_2"):
        logging.getLogger("ticketing.test").warning("hello %s", "there")
    line = stream.getvalue().strip()
    assert line.endswith("WARNING ticketing.test: hello there [request_id=req_2]")


def test_exceptions_are_one_json_event_and_redacted(
    captured: tuple[io.StringIO, list[logging.Handler]],
) -> None:
    """A logged traceback stays inside one JSON event, with secrets masked in it too."""
    stream, handlers = captured
    handlers.append(install(fmt="json", stream=stream, secrets=[SECRET]))
    try:
        raise RuntimeError(f"boom client_secret={SECRET}")
    except RuntimeError:
        logging.getLogger("ticketing.test").exception("failed")
    (line,) = stream.getvalue().splitlines()
    event = json.loads(line)
    assert "RuntimeError" in event["exc"]
    assert SECRET not in line


@pytest.mark.parametrize(
    ("text", "gone"),
    [
        ("Authorization: Bearer abcdefghijklmnop", "abcdefghijklmnop"),
        ("{'Authorization': 'Zoho-oauthtoken 1000.0a1b2c3d4e5f.6a7b8c9d'}", "0a1b2c3d4e5f"),
        ("headers={'authorization': 'xyzsecretxyz'}", "xyzsecretxyz"),
        ("POST /oauth/v2/token?client_secret=s3cr3t&grant_type=x", "s3cr3t"),
        ("refresh_token=1000.abc.def&client_id=1000.X", "1000.abc.def"),
        ("callback?code=1000.codecodecode&state=xyz", "codecodecode"),
        ('{"access_token": "tok-value-123", "expires_in": 3600}', "tok-value-123"),
        ("redis://default:hunter2pass@redis:6379/0", "hunter2pass"),
        ("token 1000.fake-feedface-0000.fake-beef", "feedface"),
    ],
)
def test_redactor_masks_known_shapes(text: str, gone: str) -> None:
    """Headers, secret URL/form/JSON parameters, URL passwords and Zoho tokens are masked."""
    redacted = Redactor().redact(text)
    assert gone not in redacted
    assert MASK in redacted


def test_redactor_leaves_ordinary_text_alone() -> None:
    """Ticket ids, status codes and plain words are not mangled."""
    text = "created ticket 813934000024065112 (#101) status_code=201 errorCode=INVALID_DATA"
    assert Redactor().redact(text) == text


@FAST
@given(
    st.text(max_size=40),
    st.text(
        alphabet=st.characters(codec="ascii", exclude_characters="\x00"), min_size=8, max_size=40
    ),
    st.text(max_size=40),
)
def test_a_configured_secret_never_survives(before: str, secret: str, after: str) -> None:
    """Whatever surrounds it, a configured secret value is gone from the redacted text."""
    assert secret not in Redactor([secret]).redact(before + secret + after)
