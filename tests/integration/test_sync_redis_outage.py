"""A webhook delivery while Redis is down, through real processes: `ticketing serve` on a
redis-server of the test's own (append-only file), against `ticketing sandbox`. The receiver
answers 503 (it cannot store the delivery), nothing is lost: Zoho's redelivery is stored once
Redis is back, or, when Zoho does not deliver again, the poller finds the reply. One event
each way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tests.integration.failures import REDIS_SERVER, RedisServer, redis_server
from tests.integration.test_sync_e2e import (
    control,
    env_for,
    events,
    register_webhooks,
    serving,
    until,
)
from tests.integration.wired import dumps, incident
from tests.support.processes import free_port, standalone_emulator
from tests.support.redis import REQUIRE_REDIS

_NO_SERVER = "needs the redis-server binary (apt-get install redis-server)"
if REDIS_SERVER is None and REQUIRE_REDIS:
    raise RuntimeError(f"REQUIRE_REDIS is set but this test module {_NO_SERVER}")

pytestmark = [pytest.mark.slow, pytest.mark.skipif(REDIS_SERVER is None, reason=_NO_SERVER)]


@pytest.fixture
def server(tmp_path: Path) -> Any:
    with redis_server(free_port(), tmp_path, aof=True) as started:
        started.start()
        yield started


def outcomes(emulator_url: str) -> list[str]:
    return [d["outcome"] for d in control(emulator_url, "webhooks")["deliveries"]]


def reply_during_an_outage(
    server: RedisServer, emulator_url: str, url: str, env: dict[str, str], tmp: Path
) -> tuple[redis.Redis, str]:
    """A ticket, then Redis killed, then an agent's reply whose delivery finds it down.
    Returns a client and the reply's thread id."""
    register_webhooks(env, tmp, url)
    client = redis.Redis.from_url(server.url)
    inbound = "tickets:classify:result"
    until(lambda: client.exists(inbound) and client.xinfo_groups(inbound), "the inbound group")
    client.xadd(inbound, {"payload": dumps(incident("wa-outage-1"))})
    [ticket] = until(lambda: control(emulator_url, "tickets")["data"], "the ticket")
    until(lambda: client.xlen("tickets:created"), "the created event")
    client.close()
    server.kill()
    reply = control(emulator_url, f"tickets/{ticket['id']}/threads", {"text": "Ya está"})
    until(lambda: "failed" in outcomes(emulator_url), "a delivery refused while Redis is down")
    server.start()
    return redis.Redis.from_url(server.url), str(reply["id"])


def test_zoho_redelivering_after_a_503_publishes_the_reply_once(
    server: RedisServer, tmp_path: Path
) -> None:
    with standalone_emulator() as emulator_url:
        faults = {"webhook_redeliveries": 5, "webhook_redelivery_delay": 2}
        httpx.post(f"{emulator_url}/_emulator/faults", json=faults, timeout=5).raise_for_status()
        env = env_for(
            emulator_url, server.url, "", tmp_path, SYNC_MODE="webhook", SYNC_POLL_INTERVAL="3600"
        )
        with serving(env, tmp_path, free_port()) as url:
            client, thread_id = reply_during_an_outage(server, emulator_url, url, env, tmp_path)
            until(lambda: client.xlen("tickets:replies"), "the reply, from the redelivery")
            until(lambda: "delivered" in outcomes(emulator_url), "the redelivery taken")
            metrics = httpx.get(f"{url}/metrics", timeout=5).text
        assert [(e["kind"], e["event_id"]) for e in events(client, "tickets:replies")] == [
            ("reply", thread_id)
        ]
        assert 'ticketing_webhook_deliveries_total{outcome="unavailable"}' in metrics
        client.close()


def test_without_a_redelivery_the_poller_finds_the_reply(
    server: RedisServer, tmp_path: Path
) -> None:
    """Zoho documents no retry: the delivery refused while Redis was down is gone. The
    webhook mode's safety-net poll (every 15 intervals: 15 s here) publishes the reply."""
    with standalone_emulator() as emulator_url:
        env = env_for(
            emulator_url, server.url, "", tmp_path, SYNC_MODE="webhook", SYNC_POLL_INTERVAL="1"
        )
        with serving(env, tmp_path, free_port()) as url:
            client, thread_id = reply_during_an_outage(server, emulator_url, url, env, tmp_path)
            until(lambda: client.xlen("tickets:replies"), "the reply, from a poll", within=60)
        assert outcomes(emulator_url).count("delivered") == 0
        assert [(e["kind"], e["event_id"]) for e in events(client, "tickets:replies")] == [
            ("reply", thread_id)
        ]
        client.close()
