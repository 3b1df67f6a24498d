"""The way back through real processes: `ticketing serve` on a real Redis against `ticketing
sandbox`. An incident on the inbound stream becomes a ticket; an agent's public reply, a
private comment and a close, made through the emulator's control routes, come out on
``tickets:replies`` and ``tickets:status`` once each: by polling, and by webhook (the
emulator delivering every batch twice to the serve's ``/webhooks/zoho/<token>``)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tests.integration.wired import dumps, incident
from tests.support.env import sandbox_client_at
from tests.support.processes import free_port, python_module, standalone_emulator, stop

pytestmark = [pytest.mark.slow, pytest.mark.redis]

REPO = Path(__file__).resolve().parents[2]
WEBHOOK_TOKEN = "e2e-webhook-token-" + "0123456789abcdef" * 2  # a fake, 32+ characters
# Generous: a process started under a loaded, shared machine can take 30 s to import and
# join its group (seen once with five test runs at a time); a passing wait costs nothing.
PATIENCE = 60.0


def until(check: Callable[[], Any], what: str, within: float = PATIENCE) -> Any:
    """Poll ``check`` until it returns something true (returned); fail after ``within``."""
    deadline = time.monotonic() + within
    while not (found := check()):
        assert time.monotonic() < deadline, f"timed out after {within:g}s waiting for {what}"
        time.sleep(0.05)
    return found


def env_for(
    emulator_url: str, redis_url: str, prefix: str, tmp: Path, **extra: str
) -> dict[str, str]:
    keep = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ZOHO_", "REDIS_", "SYNC_", "INBOUND_", "API_KEYS"))
    }
    ours = sandbox_client_at(
        emulator_url,
        ZOHO_TOKEN_FILE=str(tmp / "tokens.json"),
        REDIS_URL=redis_url,
        REDIS_KEY_PREFIX=prefix,
        ZOHO_WEBHOOK_TOKEN=WEBHOOK_TOKEN,
        ZOHO_SEARCH_LAG="1",
        LOG_LEVEL="warning",
    )
    return {**keep, **ours, **extra}


@contextlib.contextmanager
def serving(env: dict[str, str], tmp: Path, port: int) -> Iterator[str]:
    """`ticketing serve` on ``port`` until it answers; always stopped."""
    process = python_module("ticketing", "serve", "--port", str(port), cwd=tmp, env=env)
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        if process.poll() is not None:
            _, err = process.communicate()
            raise AssertionError(f"serve stopped (exit {process.returncode}): {err[-3000:]}")
        try:
            return httpx.get(f"{url}/health/live", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        until(answers, "ticketing serve to answer")
        yield url
    finally:
        stop(process)


def register_webhooks(env: dict[str, str], cwd: Path, public_url: str) -> None:
    """`ticketing webhooks setup --public-url` as an operator runs it; it must succeed."""
    setup = subprocess.run(  # noqa: S603 - our own module
        [sys.executable, "-m", "ticketing", "webhooks", "setup", "--public-url", public_url],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert setup.returncode == 0, setup.stdout + setup.stderr


def control(emulator_url: str, path: str, body: dict[str, Any] | None = None) -> Any:
    if body is None:
        response = httpx.get(f"{emulator_url}/_emulator/{path}", timeout=5)
    else:
        response = httpx.post(f"{emulator_url}/_emulator/{path}", json=body, timeout=10)
    response.raise_for_status()
    return response.json()


def events(client: redis.Redis, stream: str) -> list[dict[str, Any]]:
    return [json.loads(fields[b"payload"]) for _, fields in client.xrange(stream)]


def incident_to_agent_and_back(
    client: redis.Redis, emulator_url: str, prefix: str
) -> tuple[str, str]:
    """An incident becomes a ticket; an agent replies, writes a private comment, closes it.
    Returns the ticket id and the reply's thread id."""
    inbound = f"{prefix}tickets:classify:result"
    until(lambda: client.exists(inbound) and client.xinfo_groups(inbound), "the inbound group")
    client.xadd(inbound, {"payload": dumps(incident("wa-e2e-1"))})
    tickets = until(lambda: control(emulator_url, "tickets")["data"], "the ticket")
    assert len(tickets) == 1, tickets
    ticket_id = str(tickets[0]["id"])
    reply = control(emulator_url, f"tickets/{ticket_id}/threads", {"text": "Hola Ana, ya está"})
    control(emulator_url, f"tickets/{ticket_id}/comments", {"text": "nota", "isPublic": False})
    control(emulator_url, f"tickets/{ticket_id}/status", {"status": "Closed"})
    return ticket_id, str(reply["id"])


def assert_once_each(client: redis.Redis, prefix: str, ticket_id: str, thread_id: str) -> None:
    replies = events(client, f"{prefix}tickets:replies")
    statuses = events(client, f"{prefix}tickets:status")
    assert [(e["kind"], e["event_id"], e["text"]) for e in replies] == [
        ("reply", thread_id, "Hola Ana, ya está")
    ], replies
    assert replies[0]["incident_id"] == "wa-e2e-1"
    assert [(e["ticket_id"], e["status"]) for e in statuses] == [(ticket_id, "Closed")], statuses


def test_polling_publishes_the_reply_and_the_close_once(
    sync_redis: redis.Redis, real_redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    client = sync_redis
    with standalone_emulator() as emulator_url:
        env = env_for(
            emulator_url,
            real_redis_url,
            key_prefix,
            tmp_path,
            SYNC_MODE="poll",
            SYNC_POLL_INTERVAL="1",
        )
        with serving(env, tmp_path, free_port()):
            ticket_id, thread_id = incident_to_agent_and_back(client, emulator_url, key_prefix)

            def searches() -> int:
                calls = control(emulator_url, "calls")["by_endpoint"]
                return int(calls.get("GET /api/v1/tickets/search", 0))

            until(
                lambda: (
                    client.xlen(f"{key_prefix}tickets:replies")
                    and client.xlen(f"{key_prefix}tickets:status")
                ),
                "the reply and the close on the streams",
            )
            # Two more polls, inside the overlap of the search lag: nothing again.
            seen = searches()
            until(lambda: searches() >= seen + 2, "two more polls")
    assert_once_each(client, key_prefix, ticket_id, thread_id)


def test_webhooks_publish_the_reply_and_the_close_once(
    sync_redis: redis.Redis, real_redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    client = sync_redis
    with standalone_emulator("--webhook-duplicates", "1") as emulator_url:
        port = free_port()
        # Polls only at start (no ticket yet) and then every 15 hours: what comes, comes
        # by webhook.
        env = env_for(
            emulator_url,
            real_redis_url,
            key_prefix,
            tmp_path,
            SYNC_MODE="webhook",
            SYNC_POLL_INTERVAL="3600",
        )
        with serving(env, tmp_path, port) as url:
            register_webhooks(env, tmp_path, url)
            ticket_id, thread_id = incident_to_agent_and_back(client, emulator_url, key_prefix)
            hooks = control(emulator_url, "webhooks/drain", {})
            until(
                lambda: (
                    client.xlen(f"{key_prefix}tickets:replies")
                    and client.xlen(f"{key_prefix}tickets:status")
                ),
                "the reply and the close on the streams",
            )
            # Every delivery was taken (200) and sent twice; the inbox is empty again.
            delivered = [d for d in hooks["deliveries"] if d["url"].startswith(url)]
            assert delivered, hooks
            assert all(d["status"] == 200 for d in delivered), delivered
            assert {d["copy"] for d in delivered} == {0, 1}, delivered
            inbox = f"{key_prefix}ticketing:sync:inbox"
            until(
                lambda: client.xpending(inbox, "ticketing-sync")["pending"] == 0,
                "the inbox acknowledged",
            )
    assert_once_each(client, key_prefix, ticket_id, thread_id)


def test_signed_deliveries_are_verified_and_bad_or_missing_signatures_publish_nothing(
    sync_redis: redis.Redis, real_redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    """ZOHO_WEBHOOK_SIGNATURE=require against the emulator signing as Zoho is reported to:
    its deliveries are verified (the key from its /.well-known/jwks.json, the audience the
    webhook `setup` registered) and published; with its signature switch on "bad", then
    "none", each delivery is answered 401 and the reply it carries is never published,
    while the next correctly signed one is."""
    client = sync_redis
    with standalone_emulator("--webhook-signature", "valid") as emulator_url:
        env = env_for(
            emulator_url,
            real_redis_url,
            key_prefix,
            tmp_path,
            SYNC_MODE="webhook",
            SYNC_POLL_INTERVAL="3600",
            ZOHO_WEBHOOK_SIGNATURE="require",
        )
        with serving(env, tmp_path, free_port()) as url:
            register_webhooks(env, tmp_path, url)
            ticket_id, thread_id = incident_to_agent_and_back(client, emulator_url, key_prefix)
            control(emulator_url, "webhooks/drain", {})
            replies = f"{key_prefix}tickets:replies"
            until(
                lambda: client.xlen(replies) and client.xlen(f"{key_prefix}tickets:status"),
                "the reply and the close on the streams",
            )
            for switch in ("bad", "none", "valid"):  # read as each delivery is sent: drained
                control(emulator_url, "faults", {"webhook_signature": switch})
                last = control(
                    emulator_url, f"tickets/{ticket_id}/threads", {"text": f"firma {switch}"}
                )
                hooks = control(emulator_url, "webhooks/drain", {})
            until(lambda: client.xlen(replies) >= 2, "the correctly signed reply")
            metrics = httpx.get(f"{url}/metrics", timeout=5).text
    sent = [(d["signature"], d["status"]) for d in hooks["deliveries"] if d["url"].startswith(url)]
    # the reply, the comment and the close; then one reply under each switch
    assert sent == [("valid", 200)] * 3 + [("bad", 401), ("none", 401), ("valid", 200)], sent
    assert [(e["event_id"], e["text"]) for e in events(client, replies)] == [
        (thread_id, "Hola Ana, ya está"),
        (str(last["id"]), "firma valid"),
    ]
    for line in (
        'ticketing_webhook_signatures_total{check="verified"} 4.0',
        'ticketing_webhook_deliveries_total{outcome="bad_signature"} 1.0',
        'ticketing_webhook_deliveries_total{outcome="unsigned"} 1.0',
    ):
        assert line in metrics, metrics
