"""Process liveness, with real processes: `ticketing worker`s on a real Redis against the
standalone emulator (with latency). A SIGKILLed worker's stream entries are taken over by the
others as soon as its heartbeat expires, not after the attempt-sized reclaim; a worker restarted
with the dead one's name gets the name back and finishes what it held; every ticket is created
exactly once and nothing is left pending."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
import redis
import redis.asyncio as aioredis

from ticketing.adapters.clock import SystemClock
from ticketing.adapters.redis.liveness import ALIVE_PREFIX
from ticketing.adapters.redis.store import LEASE_PREFIX, LEDGER_PREFIX, RedisTicketStore

from tests.contract.test_store_contract import make_draft
from tests.integration.wired import incident
from tests.support.env import sandbox_client_at
from tests.support.processes import standalone_emulator, stop

pytestmark = [pytest.mark.slow, pytest.mark.redis]

REPO = Path(__file__).resolve().parents[2]
KEY_FIELD = "cf_request_key"
GROUP = "ticket-service"
QUEUE_GROUP = "ticketing"
# The target: every ticket a killed worker held exists within this long of the kill.
TARGET = 15.0
# ZOHO_SEARCH_LAG's default: a create the killed worker had begun and Zoho had not committed
# is posted again only this long after its lease was taken over (it may still be in flight).
SEARCH_LAG = 30.0


def text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class Fleet:
    """Workers of one deployment (a key prefix) on the test's Redis and one emulator."""

    def __init__(self, redis_url: str, prefix: str, emulator: str, tmp_path: Path) -> None:
        self.prefix = prefix
        self.emulator = emulator
        self.redis = redis.Redis.from_url(redis_url)
        keep = {k: v for k, v in os.environ.items() if not k.startswith(("ZOHO_", "REDIS_"))}
        self.env = {
            **keep,
            **sandbox_client_at(emulator),
            "ENVIRONMENT": "test",
            "LOG_LEVEL": "info",
            "REDIS_URL": redis_url,
            "REDIS_KEY_PREFIX": prefix,
            "ZOHO_TOKEN_FILE": str(tmp_path / "tokens.json"),
            "ZOHO_IDEMPOTENCY_FIELD": KEY_FIELD,
        }
        self.inbound = f"{prefix}tickets:classify:result"
        self.pending = f"{prefix}tickets:pending"
        self.redis_url = redis_url
        self.logs = tmp_path
        self.processes: list[subprocess.Popen[bytes]] = []
        self._logs: list[IO[bytes]] = []

    def worker(self, **env: str) -> subprocess.Popen[bytes]:
        log = (self.logs / f"worker{len(self.processes)}.log").open("wb")
        self._logs.append(log)
        process = subprocess.Popen(
            [sys.executable, "-m", "ticketing", "worker"],
            env={**self.env, **env},
            cwd=self.logs,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        self.processes.append(process)
        return process

    def name_of(self, process: subprocess.Popen[bytes], within: float = 30) -> str:
        """The process's name: the heartbeat whose value carries its pid."""

        def found() -> str | None:
            for key in self.redis.scan_iter(match=f"{self.prefix}{ALIVE_PREFIX}*"):
                value = self.redis.get(key)
                if value is not None and text(value).split(" ")[2] == str(process.pid):
                    return text(key).removeprefix(f"{self.prefix}{ALIVE_PREFIX}")
            return None

        return wait(found, within, f"the heartbeat of pid {process.pid}")

    def wait_for_groups(self) -> None:
        def ready() -> bool:
            try:
                groups = self.redis.xinfo_groups(self.inbound)
            except redis.ResponseError:
                return False
            return any(text(g["name"]) == GROUP for g in groups)

        wait(ready, 60, "the inbound consumer group")

    def warm_up(self) -> None:
        """One incident through to Zoho first: the fleet has its access token (a first
        refresh that fails backs off for the whole fleet), so what is measured is recovery."""
        body = incident("warm-up", customer={"name": "W", "email": "warm@example.com"})
        self.redis.xadd(self.inbound, {"payload": json.dumps(body)})
        wait(lambda: "warm-up" in self.created(), 90, "the warm-up ticket")

    def feed(self, incidents: int, queued: int) -> set[str]:
        """``incidents`` on the inbound stream and ``queued`` tickets on the pending queue;
        returns every key."""
        keys = {f"inc-{n}" for n in range(incidents)}
        with self.redis.pipeline(transaction=False) as pipe:
            for key in sorted(keys):
                body = incident(key, customer={"name": f"C {key}", "email": f"{key}@example.com"})
                pipe.xadd(self.inbound, {"payload": json.dumps(body)})
            pipe.execute()
        queued_keys = {f"q-{n}" for n in range(queued)}
        asyncio.run(self._accept(sorted(queued_keys)))
        return keys | queued_keys

    async def _accept(self, keys: list[str]) -> None:
        client = aioredis.Redis.from_url(self.redis_url)
        store = RedisTicketStore(client, SystemClock(), prefix=self.prefix)
        now = datetime.now(UTC)
        for key in keys:
            draft = make_draft(key, received_at=now)
            customer = replace(draft.customer, email=f"{key}@example.com")
            await store.accept(replace(draft, customer=customer))
        await client.aclose()

    def held_by(self, name: str) -> set[str]:
        """The keys of the entries in ``name``'s pending lists, on both streams."""
        keys: set[str] = set()
        for stream, group in ((self.inbound, GROUP), (self.pending, QUEUE_GROUP)):
            rows = self.redis.xpending_range(stream, group, "-", "+", 10_000, consumername=name)
            for row in rows:
                entry = self.redis.xrange(stream, row["message_id"], row["message_id"])
                if not entry:
                    continue
                fields = {text(k): text(v) for k, v in entry[0][1].items()}
                if "key" in fields:
                    keys.add(fields["key"])
                else:
                    keys.add(json.loads(fields["payload"])["incident_id"])
        return keys

    def leased_by(self, name: str) -> set[str]:
        """The keys whose ticket lease a process of that name holds (``<name>/...``)."""
        lease_prefix = f"{self.prefix}{LEASE_PREFIX}"
        return {
            text(key).removeprefix(lease_prefix)
            for key in self.redis.scan_iter(match=f"{lease_prefix}*")
            if text(self.redis.get(key) or b"").startswith(f"{name}/")
        }

    def creating(self, keys: set[str]) -> set[str]:
        """Of ``keys``, those whose create had begun (ledger state ``creating``)."""
        ledger = f"{self.prefix}{LEDGER_PREFIX}"
        return {k for k in keys if self.redis.hget(ledger + k, "state") == b"creating"}

    def created(self) -> dict[str, int]:
        """Tickets in the emulator per key (the idempotency field)."""
        answer = httpx.get(f"{self.emulator}/_emulator/tickets", params={"field": KEY_FIELD})
        by_key: dict[str, int] = answer.raise_for_status().json()["by_key"]
        return by_key

    def in_flight(self) -> int:
        return sum(
            int(self.redis.xpending(stream, group)["pending"])
            for stream, group in ((self.inbound, GROUP), (self.pending, QUEUE_GROUP))
        )

    def close(self) -> None:
        for process in self.processes:
            stop(process)
        for log in self._logs:
            log.close()
        for key in self.redis.scan_iter(match=f"{self.prefix}*"):
            self.redis.delete(key)
        self.redis.close()


def wait(check: Callable[[], Any], within: float, what: str) -> Any:
    deadline = time.monotonic() + within
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        time.sleep(0.05)


def created_within(fleet: Fleet, keys: set[str], within: float) -> float:
    """Seconds until every key in ``keys`` has a ticket (failing after ``within``)."""
    start = time.monotonic()
    wait(lambda: keys <= set(fleet.created()), within, f"{len(keys)} tickets")
    return time.monotonic() - start


@pytest.fixture
def fleet(real_redis_url: str, key_prefix: str, tmp_path: Path) -> Iterator[Fleet]:
    with standalone_emulator("--latency", "0.1") as url:
        made = Fleet(real_redis_url, key_prefix, url, tmp_path)
        try:
            yield made
        finally:
            made.close()
            for log in sorted(tmp_path.glob("worker*.log")):
                print(log.name, log.read_text()[-3000:], file=sys.stderr)


class Kill:
    """What a killed worker held at its death."""

    def __init__(self, fleet: Fleet, victim: subprocess.Popen[bytes], name: str) -> None:
        def holding() -> bool:
            return len(fleet.held_by(name)) >= 10 and len(fleet.leased_by(name)) >= 3

        wait(holding, 60, f"{name} to hold tickets")
        os.kill(victim.pid, signal.SIGKILL)
        self.at = time.monotonic()
        victim.wait(timeout=10)
        self.entries = fleet.held_by(name)  # in its pending lists
        self.leased = fleet.leased_by(name)  # working on them
        self.held = self.entries | self.leased
        # A create it had begun may be in flight to Zoho: found at once by the look-up if Zoho
        # committed it, else posted again only after the grace (it may still commit).
        self.creating = fleet.creating(self.held)

    def recovered(self, fleet: Fleet, keys: set[str], within: float) -> float:
        """Seconds from the kill until every key in ``keys`` has a ticket."""
        wait(lambda: keys <= set(fleet.created()), within, f"{len(keys)} tickets")
        took = time.monotonic() - self.at
        print(
            f"held {len(self.held)} ({len(self.entries)} entries, {len(self.leased)} leases, "
            f"{len(self.creating)} creating): {len(keys)} created {took:.1f}s after the kill"
        )
        return took


def test_a_killed_workers_tickets_are_taken_over_within_seconds_and_made_once(
    fleet: Fleet,
) -> None:
    """Two workers (default timings), a few hundred tickets on both streams; one worker is
    SIGKILLed while it holds tickets (entries in its pending lists, ticket leases). The other
    takes over what it held as soon as its heartbeat expires: every held ticket exists within
    15 s of the kill (the attempt-sized reclaim and lease took minutes), but a create it had
    begun and Zoho had not committed, which waits for the look-up's grace. In the end every
    ticket exists exactly once, nothing is left pending, the dead consumer is gone."""
    survivor = fleet.worker()
    victim = fleet.worker()
    fleet.wait_for_groups()
    name = fleet.name_of(victim)
    fleet.name_of(survivor)
    fleet.warm_up()
    keys = fleet.feed(incidents=200, queued=100)
    kill = Kill(fleet, victim, name)

    took = kill.recovered(fleet, kill.held - kill.creating, within=TARGET + 60)
    assert took <= TARGET, f"{took:.1f}s after the kill (target {TARGET}s)"
    kill.recovered(fleet, kill.held, within=TARGET + 2 * SEARCH_LAG + 30)

    wait(lambda: keys <= set(fleet.created()) and fleet.in_flight() == 0, 150, "every ticket")
    per_key = fleet.created()
    assert {k: n for k, n in per_key.items() if k in keys and n != 1} == {}
    assert fleet.redis.xlen(fleet.pending) == 0
    consumers = {text(c["name"]) for c in fleet.redis.xinfo_consumers(fleet.inbound, GROUP)}
    assert name not in consumers


def test_a_worker_restarted_with_the_dead_ones_name_finishes_what_it_held(fleet: Fleet) -> None:
    """One worker alone, SIGKILLed while it holds tickets; one started at once gets the same
    name (the heartbeat left behind is its predecessor's: same host, pid gone), reads that
    name's pending entries first and takes its leases (another incarnation's): what it held
    is created within seconds, everything exactly once, nothing left pending."""
    first = fleet.worker()
    fleet.wait_for_groups()
    name = fleet.name_of(first)
    fleet.warm_up()
    keys = fleet.feed(incidents=150, queued=100)
    kill = Kill(fleet, first, name)
    second = fleet.worker()
    assert fleet.name_of(second) == name
    took = kill.recovered(fleet, kill.held - kill.creating, within=TARGET + 60)
    assert took <= TARGET, f"{took:.1f}s after the kill (target {TARGET}s)"
    wait(lambda: keys <= set(fleet.created()) and fleet.in_flight() == 0, 150, "every ticket")
    per_key = fleet.created()
    assert {k: n for k, n in per_key.items() if k in keys and n != 1} == {}
