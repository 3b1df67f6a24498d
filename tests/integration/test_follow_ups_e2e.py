"""Follow-ups through real processes (THREAD_WINDOW): `ticketing serve` on a real Redis
against `ticketing sandbox`. A customer's second incident becomes one public comment on the
ticket their first one opened; the service's own comment never comes back as an agent's
reply; a closed ticket takes no follow-up. And exactly once: a serve SIGKILLed while Zoho
holds the comment unanswered, an incident delivered twice, and Zoho down for a while, leave
one comment per incident."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tests.integration.test_sync_e2e import (
    control,
    env_for,
    events,
    register_webhooks,
    serving,
    until,
)
from tests.integration.wired import dumps, incident
from tests.support.processes import free_port, python_module, standalone_emulator, stop

pytestmark = [pytest.mark.slow, pytest.mark.redis]

ANA = {"name": "Ana López", "email": "ana@example.com", "phone": "+52 55 1234 5678"}
LUIS = {"name": "Luis Pérez", "phone": "+52 55 8765 4321"}


def send(client: redis.Redis, prefix: str, incident_id: str, text: str, **fields: Any) -> None:
    body = incident(incident_id, description=text, **{"customer": ANA, **fields})
    client.xadd(f"{prefix}tickets:classify:result", {"payload": dumps(body)})


def wait_for_inbound(client: redis.Redis, prefix: str) -> None:
    inbound = f"{prefix}tickets:classify:result"
    until(lambda: client.exists(inbound) and client.xinfo_groups(inbound), "the inbound group")


def created_events(client: redis.Redis, prefix: str, count: int) -> list[dict[str, Any]]:
    stream = f"{prefix}tickets:created"
    until(lambda: client.xlen(stream) >= count, f"{count} created events")
    return events(client, stream)


def comments(emulator_url: str, ticket_id: str) -> list[dict[str, Any]]:
    return list(control(emulator_url, f"tickets/{ticket_id}/comments")["data"])


def tickets(emulator_url: str) -> list[dict[str, Any]]:
    return list(control(emulator_url, "tickets")["data"])


def test_a_follow_up_joins_the_open_ticket_and_never_comes_back_as_a_reply(
    sync_redis: redis.Redis, real_redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    client = sync_redis
    with standalone_emulator() as emulator_url:
        env = env_for(
            emulator_url,
            real_redis_url,
            key_prefix,
            tmp_path,
            THREAD_WINDOW="3600",
            SYNC_MODE="webhook",
            SYNC_POLL_INTERVAL="3600",
        )
        with serving(env, tmp_path, free_port()) as url:
            register_webhooks(env, tmp_path, url)
            wait_for_inbound(client, key_prefix)
            send(client, key_prefix, "wa-fu-1", "Mi vuelo fue cancelado")
            [first] = created_events(client, key_prefix, 1)
            send(client, key_prefix, "wa-fu-2", "Reserva ABC123")
            send(client, key_prefix, "wa-fu-2", "Reserva ABC123")  # delivered twice
            send(client, key_prefix, "wa-fu-3", "Otra cosa", customer=LUIS)
            made = created_events(client, key_prefix, 3)

            ticket_id = first["ticket_id"]
            by_incident = {e["incident_id"]: e for e in made}
            assert "status" not in by_incident["wa-fu-1"]
            assert by_incident["wa-fu-2"]["status"] == "appended"
            assert by_incident["wa-fu-2"]["ticket_id"] == ticket_id
            assert "status" not in by_incident["wa-fu-3"]
            assert by_incident["wa-fu-3"]["ticket_id"] != ticket_id
            assert len(tickets(emulator_url)) == 2
            [comment] = comments(emulator_url, ticket_id)
            assert comment["isPublic"] is True
            assert "Reserva ABC123" in comment["plainText"]
            assert comment["id"] == by_incident["wa-fu-2"]["comment_id"]

            # An agent answers: the reply comes back; the service's own comment does not.
            reply = control(emulator_url, f"tickets/{ticket_id}/threads", {"text": "Ya está"})
            control(emulator_url, "webhooks/drain", {})
            replies = f"{key_prefix}tickets:replies"
            until(lambda: client.xlen(replies), "the agent's reply on tickets:replies")
            control(emulator_url, f"tickets/{ticket_id}/status", {"status": "Closed"})
            control(emulator_url, "webhooks/drain", {})
            until(lambda: client.xlen(f"{key_prefix}tickets:status"), "the close")

            # Closed: the next message opens a new ticket.
            send(client, key_prefix, "wa-fu-4", "Sigo sin respuesta")
            last = created_events(client, key_prefix, 4)[-1]
            assert last["incident_id"] == "wa-fu-4"
            assert "status" not in last
            assert last["ticket_id"] not in (ticket_id, by_incident["wa-fu-3"]["ticket_id"])
            assert len(tickets(emulator_url)) == 3
            assert [(e["kind"], e["event_id"]) for e in events(client, replies)] == [
                ("reply", str(reply["id"]))
            ]
        assert len(comments(emulator_url, ticket_id)) == 1


def test_a_serve_killed_while_zoho_holds_the_comment_leaves_exactly_one(
    sync_redis: redis.Redis, real_redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    client = sync_redis
    """Zoho stores the comment and does not answer; the serve is SIGKILLed then. The next
    serve finds the comment (looked up, not posted again). Then Zoho is down while a third
    message comes: it is queued and added once Zoho is back."""
    with standalone_emulator() as emulator_url:
        env = env_for(
            emulator_url,
            real_redis_url,
            key_prefix,
            tmp_path,
            THREAD_WINDOW="3600",
            SYNC_MODE="off",
            ZOHO_TIMEOUT="30",
        )
        port = free_port()
        first = python_module("ticketing", "serve", "--port", str(port), cwd=tmp_path, env=env)
        try:
            until(lambda: _live(port, first), "the first serve to answer")
            wait_for_inbound(client, key_prefix)
            send(client, key_prefix, "wa-k-1", "Mi vuelo fue cancelado")
            [opened] = created_events(client, key_prefix, 1)
            ticket_id = opened["ticket_id"]
            faults = {"comment_then_hang": 1, "hang": 120}
            httpx.post(f"{emulator_url}/_emulator/faults", json=faults, timeout=5)
            send(client, key_prefix, "wa-k-2", "Reserva ABC123")
            until(lambda: comments(emulator_url, ticket_id), "Zoho to hold the comment")
            os.kill(first.pid, signal.SIGKILL)
            first.wait(timeout=10)
        finally:
            stop(first)
        httpx.post(f"{emulator_url}/_emulator/faults", json={"clear": True}, timeout=5)
        ledger = f"{key_prefix}ticketing:ledger:wa-k-2"
        assert client.hget(ledger, "state") == b"creating"

        with serving(env, tmp_path, free_port()):
            made = created_events(client, key_prefix, 2)
            assert [(e["incident_id"], e.get("status")) for e in made] == [
                ("wa-k-1", None),
                ("wa-k-2", "appended"),
            ]
            send(client, key_prefix, "wa-k-2", "Reserva ABC123")  # redelivered: nothing
            httpx.post(f"{emulator_url}/_emulator/faults", json={"outage": "503"}, timeout=5)
            send(client, key_prefix, "wa-k-3", "¿Hay novedades?")
            until(
                lambda: client.hget(f"{key_prefix}ticketing:ledger:wa-k-3", "reason"),
                "the third message queued while Zoho is down",
                within=60,
            )
            httpx.post(f"{emulator_url}/_emulator/faults", json={"clear": True}, timeout=5)
            made = created_events(client, key_prefix, 3)
            assert made[2]["incident_id"] == "wa-k-3"
            assert made[2]["status"] == "appended"
        texts = [c["plainText"] for c in comments(emulator_url, ticket_id)]
        assert len(texts) == 2, texts
        assert "Reserva ABC123" in texts[0]
        assert "¿Hay novedades?" in texts[1]
        assert len(tickets(emulator_url)) == 1
        assert client.xlen(f"{key_prefix}tickets:created") == 3


def _live(port: int, process: subprocess.Popen[str]) -> bool:
    if process.poll() is not None:
        _, err = process.communicate()
        raise AssertionError(f"serve stopped: {err[-3000:]}")
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
