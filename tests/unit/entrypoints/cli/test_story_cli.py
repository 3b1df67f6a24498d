"""`ticketing show KEY|REQUEST_ID|INCIDENT_ID` and `ticketing queue list`: text and --json,
one line and exit 2 (a command line to fix, like every "not found") for an unknown request."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from ticketing.container import Container
from ticketing.domain.model import Customer, Priority, Source, TicketDraft
from ticketing.entrypoints.cli import runner

from tests.support.containers import container_with

pytestmark = pytest.mark.anyio


def incident(key: str) -> TicketDraft:
    return TicketDraft(
        key=key,
        request_id=f"req_{key}",
        subject="Pago no reflejado",
        description="Hola",
        priority=Priority.HIGH,
        customer=Customer(email="ana@example.com"),
        source=Source.REDIS,
        received_at=datetime(2026, 11, 26, 10, 0, tzinfo=UTC),
        incident_id=key,
    )


async def accepted(container: Container, *keys: str) -> None:
    store = await container.store()  # type: ignore[misc]
    for key in keys:
        await store.accept(incident(key))
    await store.mark_failed(keys[0], "Zoho Desk: 503 Service Unavailable")


async def test_show_by_incident_and_request_id(capsys: pytest.CaptureFixture[str]) -> None:
    container = container_with({})
    await accepted(container, "inc-1")
    assert await runner.run(["show", "inc-1", "--json"], container=container) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["key"] == "inc-1"
    assert data["incident_id"] == "inc-1"
    assert data["state"] == "queued"
    assert data["last_error"]["message"] == "Zoho Desk: 503 Service Unavailable"
    assert data["last_error"]["at"]
    assert await runner.run(["show", "req_inc-1"], container=container) == 0
    text = capsys.readouterr().out
    assert "state" in text
    assert "queued" in text
    assert "Zoho Desk: 503 Service Unavailable" in text


async def test_show_unknown_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    container = container_with({})
    assert await runner.run(["show", "nope"], container=container) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert "nope" in captured.err


async def test_queue_list_text_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    container = container_with({})
    assert await runner.run(["queue", "list"], container=container) == 0
    assert "empty" in capsys.readouterr().out
    await accepted(container, "inc-1", "inc-2", "inc-3")
    assert await runner.run(["queue", "list", "--limit", "2", "--json"], container=container) == 0
    data = json.loads(capsys.readouterr().out)
    assert [e["key"] for e in data["entries"]] == ["inc-1", "inc-2"]
    assert data["entries"][0]["attempts"] == 0
    assert data["entries"][0]["last_error"] == "Zoho Desk: 503 Service Unavailable"
    assert await runner.run(["queue", "list"], container=container) == 0
    text = capsys.readouterr().out
    assert "KEY" in text
    assert "inc-3" in text
    assert "Zoho Desk: 503" in text
    assert await runner.run(["queue", "list", "--limit", "0"], container=container) == 2
