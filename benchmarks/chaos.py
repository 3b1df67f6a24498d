"""Exactly-once under faults: tickets through HTTP and Redis, a faulty Zoho, killed workers.

Runs the real processes: the Zoho Desk emulator (`ticketing sandbox`) with mixed faults and an
outage window, `ticketing serve` and several `ticketing worker`s, all on loopback. It sends
tickets over HTTP (Idempotency-Key headers, some repeated) and incidents onto the inbound
stream (some duplicated, some also published on the channel, a few poison messages), kills
workers with SIGKILL at seeded random moments and restarts them, optionally kills Redis itself
and restarts it from its append-only file, then waits (bounded) until everything is drained and
counts, per idempotency key, the tickets the emulator holds.

For each worker SIGKILL it also reports kill to recovery: what the worker held right before
(its entries in both groups' pending lists, under its own CONSUMER_NAME) and the time from the
kill to the last of those tickets created in the emulator (p50 and max over the kills), and
whether any was duplicated or never created; printed as a table and written with the other
figures to benchmarks/out/chaos.json (``--json``).

    uv run python benchmarks/chaos.py                      # 3000 tickets, 3 workers, Redis crash
    uv run python benchmarks/chaos.py --tickets 600 --appendfsync always
    uv run python benchmarks/chaos.py --look-up            # the look-up's hard cases, see below

``--look-up`` runs without ZOHO_IDEMPOTENCY_FIELD (ambiguous creates are found by the key's
reference line), with a web form's fixed subject for groups of tickets from one customer,
Zoho's clock 5 minutes ahead of the host's, and creates that Zoho commits after the client's
timeout. Tickets are counted per key by the reference line in their description, and a key
whose ledger records another key's ticket id counts as merged.

``--failover`` runs the same load on a Sentinel-managed primary with a replica and three
sentinels (REDIS_MODE=sentinel) and fails the primary over in the middle of it, four times:
the primary SIGKILLed (``kill``) and a ``SENTINEL FAILOVER`` while it lives on (``switch``),
each with REDIS_WAIT_REPLICAS off and 1; no worker kills. It prints, per run, the keys
answered 201/202 (or added to the inbound stream and held by a replica) without a ticket
(lost) and the extra tickets (duplicated), and the 5xx answers.

    uv run python benchmarks/chaos.py --failover --tickets 600 --window 20

The suite's `tests/integration/test_fault_injection.py` runs the same scenario small, and
`tests/integration/test_sentinel.py` the failover.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import httpx
import redis
from redis.sentinel import Sentinel

from ticketing.adapters.redis.store import LEDGER_PREFIX
from ticketing.application.intake import ANONYMOUS_CLIENT, scoped_key
from ticketing.domain.model import REFERENCE_PREFIX, ticket_reference
from zoho_desk_emulator import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_REFRESH_TOKEN,
)

KEY_FIELD = "cf_request_key"
MASTER_NAME = "ticketing-test"  # as tests/support/redis_sentinel.py names it
WEB_FORM_SUBJECT = "Consulta desde la web"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Scenario:
    """What to send, which faults to inject and how long to wait."""

    http_tickets: int = 1500
    redis_tickets: int = 1500
    poison: int = 10
    workers: int = 3
    seed: int = 1
    # Seconds over which the tickets are sent; the faults and kills happen inside it.
    send_window: float = 30.0
    worker_kills: int = 12
    # None: start our own redis-server (append-only file on) in the work directory.
    redis_url: str | None = None
    redis_restarts: int = 1
    # "kill" (SIGKILL the primary) or "switch" (SENTINEL FAILOVER): run on a primary, a replica
    # and three sentinels started here, failing over once, halfway through the sending.
    failover: str = ""
    wait_replicas: int = 0  # REDIS_WAIT_REPLICAS
    appendfsync: str = "everysec"
    # False: the Redis crash is a process crash (SIGKILL); what Redis wrote is in the kernel's
    # page cache and survives. True: a machine crash (power loss) is simulated too: the AOF
    # also loses what was not fsynced yet (the last second with everysec, nothing with always).
    machine_crash: bool = False
    drain_timeout: float = 180.0
    # Service timings, short so that a killed worker's tickets come back within the run.
    zoho_timeout: float = 1.0
    search_lag: float = 0.5  # the emulator's
    service_search_lag: float = 3.0  # ZOHO_SEARCH_LAG: the grace before a miss is trusted
    attempt_timeout: float = 3.0  # QUEUE_ATTEMPT_TIMEOUT
    error_rate: float = 0.05
    create_then_fail: int = 3
    create_then_hang: int = 3
    hang: float = 2.5
    outage_for: float = 3.0
    rate_limit_for: float = 1.5
    # The look-up's hard cases (``--look-up``).
    key_field: bool = True  # False: no ZOHO_IDEMPOTENCY_FIELD, found by the reference line
    same_subject: bool = False  # groups of 5 tickets from one customer, one fixed subject
    clock_skew: float = 0.0  # Zoho's clock minus the host's, seconds
    late_commits: int = 0  # creates committed commit_delay s after arriving, twice in a run
    commit_delay: float = 2.0  # > zoho_timeout: committed after the client gave up
    http_threads: int = 8
    workdir: Path | None = None
    keep_workdir: bool = False
    log: Callable[[str], None] = field(default=lambda line: print(line, file=sys.stderr))


@dataclass
class Recovery:
    """One worker SIGKILL: the tickets it held and when the last of them was created."""

    worker: str
    consumer: str
    killed_at: float  # wall clock (time.time())
    held: set[str] = field(default_factory=set)  # ticket references (the ledger keys')
    unread: bool = False  # its pending lists could not be read (Redis down)
    seconds: float | None = None  # kill → the last held ticket created; None: held nothing
    median: float | None = None  # kill → the median held ticket created
    duplicated: int = 0  # extra tickets among the held ones
    missing: list[str] = field(default_factory=list)  # held, never created


@dataclass
class Result:
    """What happened, per key and in total."""

    scenario: Scenario
    namespace: str
    http_keys: set[str] = field(default_factory=set)
    redis_keys: set[str] = field(default_factory=set)
    http_status: Counter[str] = field(default_factory=Counter)
    http_replays: int = 0
    http_retries: int = 0
    xadd_retries: int = 0
    per_key: dict[str, int] = field(default_factory=dict)
    recorded: dict[str, str] = field(default_factory=dict)  # key → ticket id in the ledger
    foreign_tickets: int = 0  # tickets whose key was never sent
    dead_letters: list[dict[str, str]] = field(default_factory=list)
    poison_markers: list[str] = field(default_factory=list)
    pending_left: int = 0
    in_flight_left: int = 0
    inbound_unacked: int = 0
    inbound_lag: int | None = 0
    contacts_created: int = 0
    customers: int = 0
    kills: list[str] = field(default_factory=list)
    redis_restarts: int = 0
    failovers: int = 0
    aof_bytes_dropped: int = 0
    drained: bool = False
    drain_seconds: float = 0.0
    total_seconds: float = 0.0
    emulator_summary: dict[str, Any] = field(default_factory=dict)
    zoho_answers: dict[str, int] = field(default_factory=dict)  # emulator calls by status
    logs: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # Per worker SIGKILL: what it held right before (its entries in both groups' pending
    # lists) and, after the run, how long until the last of them was created.
    recoveries: list[Recovery] = field(default_factory=list)

    def recovery_figures(self) -> dict[str, Any]:
        """p50 and max over the kills of kill → last held ticket created (kills that held
        something), and the held tickets duplicated or never created."""
        times = sorted(r.seconds for r in self.recoveries if r.seconds is not None)
        return {
            "kills": len(self.recoveries),
            "kills_holding_tickets": sum(1 for r in self.recoveries if r.held),
            "held_tickets": sum(len(r.held) for r in self.recoveries),
            "p50_s": round(times[(len(times) - 1) // 2], 3) if times else None,
            "max_s": round(times[-1], 3) if times else None,
            "held_duplicated": sum(r.duplicated for r in self.recoveries),
            "held_not_created": sum(len(r.missing) for r in self.recoveries),
            "unread_kills": sum(1 for r in self.recoveries if r.unread),
        }

    def recovery_table(self) -> str:
        f = self.recovery_figures()
        lines = [
            "kill to recovery (each SIGKILL → last ticket the worker held created)",
            "  kill  worker    held  recovered in  (median held)  duplicated  not created",
        ]
        for n, r in enumerate(self.recoveries, 1):
            took = "unread" if r.unread else "-" if r.seconds is None else f"{r.seconds:.2f} s"
            mid = "-" if r.median is None else f"{r.median:.2f} s"
            lines.append(
                f"  {n:>4}  {r.worker:<8}  {len(r.held):>4}  {took:>12}  {mid:>13}  "
                f"{r.duplicated:>10}  {len(r.missing):>11}"
            )
        p50 = "-" if f["p50_s"] is None else f"{f['p50_s']:.2f} s"
        top = "-" if f["max_s"] is None else f"{f['max_s']:.2f} s"
        lines.append(
            f"  {f['kills']} kills, {f['kills_holding_tickets']} holding {f['held_tickets']} "
            f"ticket(s): p50 {p50}, max {top}; duplicated {f['held_duplicated']}, "
            f"not created {f['held_not_created']}"
        )
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "tickets": len(self.sent_keys),
            "created": self.created,
            "duplicated": self.duplicated,
            "lost": len(self.lost),
            "worker_kills": len(self.kills),
            "redis_restarts": self.redis_restarts,
            "failover": self.scenario.failover or None,
            "wait_replicas": self.scenario.wait_replicas,
            "http_status": dict(self.http_status),
            "drained": self.drained,
            "drain_seconds": round(self.drain_seconds, 2),
            "total_seconds": round(self.total_seconds, 2),
            "problems": self.problems(),
            "kill_to_recovery": {
                **self.recovery_figures(),
                "per_kill": [
                    {
                        "worker": r.worker,
                        "consumer": r.consumer,
                        "held": len(r.held),
                        "seconds": None if r.seconds is None else round(r.seconds, 3),
                        "median_s": None if r.median is None else round(r.median, 3),
                        "duplicated": r.duplicated,
                        "not_created": len(r.missing),
                        "unread": r.unread,
                    }
                    for r in self.recoveries
                ],
            },
        }

    @property
    def sent_keys(self) -> set[str]:
        return self.http_keys | self.redis_keys

    @property
    def created(self) -> int:
        return sum(1 for key in self.sent_keys if self.per_key.get(key, 0) >= 1)

    @property
    def duplicated(self) -> int:
        """Tickets beyond the first for a key."""
        return sum(max(0, n - 1) for n in self.per_key.values())

    @property
    def lost(self) -> list[str]:
        return sorted(key for key in self.sent_keys if self.per_key.get(key, 0) == 0)

    @property
    def merged(self) -> dict[str, list[str]]:
        """Ticket ids the ledger records for more than one key (a key given another's)."""
        keys_of: dict[str, list[str]] = {}
        for key, ticket_id in self.recorded.items():
            keys_of.setdefault(ticket_id, []).append(key)
        return {t: sorted(keys) for t, keys in keys_of.items() if len(keys) > 1}

    def dead_by_marker(self) -> Counter[str]:
        found: Counter[str] = Counter()
        for letter in self.dead_letters:
            blob = letter.get("payload", "")
            for marker in self.poison_markers:
                if marker in blob:
                    found[marker] += 1
        return found

    def unexpected_dead(self) -> list[dict[str, str]]:
        return [
            letter
            for letter in self.dead_letters
            if not any(m in letter.get("payload", "") for m in self.poison_markers)
        ]

    def problems(self) -> list[str]:
        """Every way the run broke exactly-once; empty when it held."""
        out: list[str] = []
        if not self.drained:
            out.append(f"not drained within {self.scenario.drain_timeout:.0f}s")
        if self.lost:
            out.append(f"{len(self.lost)} key(s) without a ticket (lost): {self.lost[:20]}")
        dups = {k: n for k, n in self.per_key.items() if n > 1}
        if dups:
            out.append(
                f"{len(dups)} key(s) with more than one ticket: {dict(list(dups.items())[:20])}"
            )
        if self.merged:
            out.append(
                f"{len(self.merged)} ticket(s) recorded for several keys (merged): "
                f"{dict(list(self.merged.items())[:10])}"
            )
        if self.foreign_tickets:
            out.append(f"{self.foreign_tickets} ticket(s) under keys never sent")
        if self.pending_left or self.in_flight_left:
            out.append(
                f"pending queue not empty: {self.pending_left} entries, "
                f"{self.in_flight_left} delivered and unacknowledged"
            )
        if self.inbound_unacked or self.inbound_lag:
            out.append(
                f"inbound stream: {self.inbound_unacked} unacknowledged, lag {self.inbound_lag}"
            )
        by_marker = self.dead_by_marker()
        wrong = {m: by_marker.get(m, 0) for m in self.poison_markers if by_marker.get(m, 0) != 1}
        if wrong:
            out.append(f"poison messages not dead exactly once (marker: count): {wrong}")
        unexpected = self.unexpected_dead()
        if unexpected:
            out.append(
                f"{len(unexpected)} dead letter(s) that are not poison: "
                + "; ".join(f"{d.get('key')}: {d.get('reason')}" for d in unexpected[:10])
            )
        return out

    def table(self) -> str:
        s = self.scenario
        fsync = s.appendfsync if s.redis_url is None else "n/a (external Redis)"
        rows = [
            ("tickets sent (distinct keys)", len(self.sent_keys)),
            ("  over HTTP / over Redis", f"{len(self.http_keys)} / {len(self.redis_keys)}"),
            ("  HTTP answers", ", ".join(f"{k}: {v}" for k, v in sorted(self.http_status.items()))),
            ("  repeats (HTTP replays, stream dups)", self.http_replays),
            ("created (keys with a ticket)", self.created),
            ("duplicated (extra tickets)", self.duplicated),
            ("merged (tickets recorded for 2+ keys)", len(self.merged)),
            (
                "lost (keys without a ticket)",
                f"{len(self.lost)}"
                + (
                    f" (HTTP {len(set(self.lost) & self.http_keys)}, "
                    f"Redis {len(set(self.lost) & self.redis_keys)})"
                    if self.lost
                    else ""
                ),
            ),
            (
                "dead letters (poison sent)",
                f"{len(self.dead_letters)} ({len(self.poison_markers)})",
            ),
            ("left pending / in flight", f"{self.pending_left} / {self.in_flight_left}"),
            ("contacts created / customers", f"{self.contacts_created} / {self.customers}"),
            (
                "Zoho faults answered",
                ", ".join(
                    f"{_STATUS.get(k, k)}: {v}"
                    for k, v in sorted(self.zoho_answers.items())
                    if k not in ("200", "204")
                ),
            ),
            (
                "look-up",
                ("by key field" if s.key_field else "by reference line")
                + (", same subject per customer" if s.same_subject else "")
                + (f", Zoho clock {s.clock_skew:+.0f} s" if s.clock_skew else "")
                + (f", {2 * s.late_commits} late commits" if s.late_commits else ""),
            ),
            ("worker SIGKILLs", len(self.kills)),
            ("Redis SIGKILL + restarts", self.redis_restarts),
            (
                "failover (REDIS_WAIT_REPLICAS)",
                f"{s.failover} x{self.failovers} ({s.wait_replicas})" if s.failover else "none",
            ),
            ("AOF appendfsync", fsync),
            (
                "Redis crash simulated",
                "none"
                if not self.redis_restarts
                else f"machine (AOF lost its last {self.aof_bytes_dropped} bytes)"
                if s.machine_crash
                else "process (SIGKILL; the page cache keeps what was written)",
            ),
            ("time to drain (after sending)", f"{self.drain_seconds:.1f} s"),
            ("total run time", f"{self.total_seconds:.1f} s"),
        ]
        width = max(len(r[0]) for r in rows)
        lines = [f"{name.ljust(width)}  {value}" for name, value in rows]
        return "\n".join(lines)


_STATUS = {"0": "reset"}  # a dropped connection is logged with status 0


# --------------------------------------------------------------------------- processes


class Proc:
    """One subprocess with its output in a log file; restartable."""

    def __init__(
        self, name: str, argv: list[str], env: dict[str, str], cwd: Path, logdir: Path
    ) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.cwd = cwd
        self.logdir = logdir
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.closed = False  # stopped for good: no restart after that
        self._lock = threading.Lock()
        self._log: IO[bytes] | None = None
        self.logs: list[Path] = []

    def start(self) -> None:
        """Start it unless it runs already (a restart racing another) or was stopped for good."""
        with self._lock:
            if self.closed or self.alive():
                return
            self._start()

    def _start(self) -> None:
        self.starts += 1
        path = self.logdir / f"{self.name}.{self.starts}.log"
        self.logs.append(path)
        self._log = path.open("wb")
        self.process = subprocess.Popen(
            self.argv, env=self.env, cwd=self.cwd, stdout=self._log, stderr=subprocess.STDOUT
        )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no clean-up, no acknowledgement, as in a crash."""
        with self._lock:
            if self.process is not None and self.process.poll() is None:
                self.process.send_signal(signal.SIGKILL)
                self.process.wait(timeout=10)
            self._close_log()

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (SIGKILL if that is not enough), for good."""
        with self._lock:
            self.closed = True
            if self.process is not None and self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout=10)
            self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


def wait_for(
    check: Callable[[], bool], timeout: float, what: str, proc: Proc | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except Exception:  # noqa: S110 - not up yet
            pass
        if proc is not None and not proc.alive():
            raise RuntimeError(f"{what}: process exited; see {proc.logs[-1]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not ready within {timeout:.0f}s")
        time.sleep(0.05)


def tail(path: Path, lines: int = 40, grep: tuple[str, ...] = ()) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    if grep:
        text = [line for line in text if any(g in line for g in grep)]
    return "\n".join(text[-lines:])


# --------------------------------------------------------------------------- the run


class Chaos:
    """One run of a scenario. Use :func:`run`."""

    def __init__(self, scenario: Scenario) -> None:
        self.s = scenario
        # One generator per thread that draws from it, so that a seed replays the same run.
        self.rng_http = random.Random(f"{scenario.seed}-http")
        self.rng_redis = random.Random(f"{scenario.seed}-redis")
        self.rng_chaos = random.Random(f"{scenario.seed}-chaos")
        self.ns = f"chaos{uuid.uuid4().hex[:8]}"
        self.result = Result(scenario=scenario, namespace=self.ns)
        self._own_workdir = scenario.workdir is None
        self.workdir = Path(scenario.workdir or tempfile.mkdtemp(prefix="ticketing-chaos-"))
        self.logdir = self.workdir / "logs"
        self.logdir.mkdir(parents=True, exist_ok=True)
        self.procs: list[Proc] = []
        self.workers: list[Proc] = []
        self.redis_proc: Proc | None = None
        self.topology: Any = None  # the sentinels' SentinelTopology, with --failover
        self.redis_dir: Path | None = None
        self.aof_sizes: list[tuple[float, Path, int]] = []  # (when, file, size) samples
        self.lock = threading.Lock()
        self.stop_chaos = threading.Event()
        self.started = time.monotonic()
        self.phones: list[str] = []
        self._last_state: tuple[object, ...] = ()
        self._quiet_since = time.monotonic()
        self.customers: set[str] = set()
        self.created_at: dict[str, float] = {}  # ticket reference → first created (wall clock)
        self.tickets_per_ref: Counter[str] = Counter()

    def log(self, line: str) -> None:
        self.s.log(f"[{time.monotonic() - self.started:6.1f}s] {line}")

    # -- set-up ------------------------------------------------------------------------

    def python(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "ticketing", *args]

    def start_redis(self) -> str:
        if self.s.failover:
            return self.start_sentinels()
        if self.s.redis_url is not None:
            return self.s.redis_url
        server = shutil.which("redis-server")
        if server is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        port = free_port()
        data = self.workdir / "redis"
        data.mkdir(exist_ok=True)
        self.redis_dir = data
        argv = [
            server,
            "--bind", "127.0.0.1",
            "--port", str(port),
            "--dir", str(data),
            "--appendonly", "yes",
            "--appendfsync", self.s.appendfsync,
            "--save", "",
            "--daemonize", "no",
            "--protected-mode", "yes",
        ]  # fmt: skip
        self.redis_proc = Proc("redis", argv, dict(os.environ), self.workdir, self.logdir)
        self.redis_proc.start()
        url = f"redis://127.0.0.1:{port}/0"
        client = redis.Redis.from_url(url, socket_timeout=1)
        wait_for(lambda: bool(client.ping()), 15, "redis-server", self.redis_proc)
        client.close()
        return url

    def start_sentinels(self) -> str:
        """A primary, a replica and three sentinels on free ports; their REDIS_URL."""
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from tests.support.redis_sentinel import SentinelTopology

        data = self.workdir / "sentinel"
        data.mkdir(exist_ok=True)
        self.topology = SentinelTopology(
            data,
            data_ports=(free_port(), free_port()),
            sentinel_ports=(free_port(), free_port(), free_port()),
        )
        self.topology.start()
        return self.topology.url(0)

    def start_emulator(self) -> str:
        port = free_port()
        proc = Proc(
            "emulator",
            self.python("sandbox", "--port", str(port), "--seed", str(self.s.seed)),
            dict(os.environ),
            self.workdir,
            self.logdir,
        )
        proc.start()
        self.procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        wait_for(
            lambda: httpx.get(f"{url}/_emulator/state", timeout=1).status_code == 200,
            30,
            "emulator",
            proc,
        )
        # The emulator is as strict as Zoho: the portal must know the categories sent below.
        httpx.post(
            f"{url}/_emulator/picklists",
            json={"field": "category", "add": ["Billing", "Booking"]},
            timeout=5,
        ).raise_for_status()
        return url

    def service_env(self, redis_url: str, emulator_url: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ZOHO_", "REDIS_"))}
        env.update(
            {
                "ENVIRONMENT": "test",
                "LOG_LEVEL": "info",
                "REDIS_URL": redis_url,
                "REDIS_KEY_PREFIX": f"{self.ns}:",
                "ZOHO_ACCOUNTS_URL": emulator_url,
                "ZOHO_DESK_URL": emulator_url,
                "ZOHO_CLIENT_ID": SANDBOX_CLIENT_ID,
                "ZOHO_CLIENT_SECRET": SANDBOX_CLIENT_SECRET,
                "ZOHO_REFRESH_TOKEN": SANDBOX_REFRESH_TOKEN,
                # One token file for every process: they reuse a stored unexpired access token
                # instead of each refreshing (the emulator allows 10 refreshes in 10 minutes).
                "ZOHO_TOKEN_FILE": str(self.workdir / "tokens.json"),
                "ZOHO_TIMEOUT": str(self.s.zoho_timeout),
                "ZOHO_SEARCH_LAG": str(self.s.service_search_lag),
                "QUEUE_ATTEMPT_TIMEOUT": str(self.s.attempt_timeout),
                "QUEUE_RETRY_INTERVAL": "0.5",
                "CIRCUIT_BREAKER_TIMEOUT": "1",
                "TICKET_QUEUE_NAME": f"{self.ns}:pending",
                "TICKET_DEAD_LETTER_NAME": f"{self.ns}:dead",
                "TICKET_CREATED_NAME": f"{self.ns}:created",
                "INBOUND_STREAM": f"{self.ns}:classify:result",
            }
        )
        if self.s.key_field:
            env["ZOHO_IDEMPOTENCY_FIELD"] = KEY_FIELD
        if self.topology is not None:
            env["REDIS_MODE"] = "sentinel"
            env["REDIS_SENTINEL_MASTER"] = MASTER_NAME
            env["REDIS_WAIT_REPLICAS"] = str(self.s.wait_replicas)
        return env

    def start_service(self, redis_url: str, emulator_url: str) -> str:
        env = self.service_env(redis_url, emulator_url)
        port = free_port()
        serve = Proc(
            "serve",
            self.python("serve", "--host", "127.0.0.1", "--port", str(port), "--no-consumer"),
            env,
            self.workdir,
            self.logdir,
        )
        serve.start()
        self.procs.append(serve)
        url = f"http://127.0.0.1:{port}"
        wait_for(
            lambda: httpx.get(f"{url}/health", timeout=2).status_code < 600, 40, "serve", serve
        )
        for n in range(self.s.workers):
            # Its own CONSUMER_NAME (kept over restarts), so a kill knows what it held.
            worker_env = {**env, "CONSUMER_NAME": self.consumer_name(n)}
            worker = Proc(
                f"worker{n}", self.python("worker"), worker_env, self.workdir, self.logdir
            )
            worker.start()
            self.procs.append(worker)
            self.workers.append(worker)
        return url

    def consumer_name(self, n: int) -> str:
        return f"{self.ns}-worker{n}"

    def held_by(self, redis_url: str, consumer: str) -> set[str]:
        """The ticket references in `consumer`'s pending lists: the pending queue's (entries
        carry the ledger key) and the inbound stream's (the incident id is the key)."""
        held: set[str] = set()
        r = self.redis(redis_url, timeout=1)
        try:
            for stream, group in (
                (f"{self.ns}:pending", "ticketing"),
                (f"{self.ns}:classify:result", "ticket-service"),
            ):
                try:
                    entries = r.xpending_range(stream, group, "-", "+", 10_000, consumer)
                except redis.ResponseError:  # no group yet
                    continue
                for entry in entries:
                    found = r.xrange(stream, entry["message_id"], entry["message_id"])
                    if not found:
                        continue
                    fields = {_text(k): _text(v) for k, v in found[0][1].items()}
                    if fields.get("key"):
                        held.add(ticket_reference(fields["key"]))
                        continue
                    try:
                        incident = json.loads(fields.get("payload", ""))
                    except ValueError:
                        continue  # poison: it has no ticket to wait for
                    key = incident.get("incident_id") if isinstance(incident, dict) else None
                    if isinstance(key, str) and key.startswith(f"{self.ns}-r"):
                        held.add(ticket_reference(key))
        finally:
            r.close()
        return held

    def redis(self, url: str, timeout: float = 5) -> redis.Redis:
        if self.topology is not None:  # the sentinels' primary, wherever it is now
            sentinels = [("127.0.0.1", port) for port in self.topology.sentinel_ports]
            sentinel = Sentinel(sentinels, socket_timeout=timeout, socket_connect_timeout=2)
            client: redis.Redis = sentinel.master_for(MASTER_NAME, socket_timeout=timeout)
            return client
        return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=2)

    def wait_for_inbound_group(self, r: redis.Redis, timeout: float = 40) -> None:
        """Incidents added before the workers created their group would never be read."""

        def ready() -> bool:
            groups = r.xinfo_groups(f"{self.ns}:classify:result")
            return any(_text(g["name"]) == "ticket-service" for g in groups)

        wait_for(ready, timeout, "inbound consumer group")

    # -- load --------------------------------------------------------------------------

    def customer(self, i: int, shared_every: int = 7) -> dict[str, str]:
        """Mostly one customer per ticket; every few tickets share one (one contact, once);
        some are phone-only."""
        n = i - i % shared_every if i % shared_every in (1, 2) else i
        if self.s.same_subject:  # groups of 5 tickets from one customer
            n = i - i % 5
        if (n // 5 if self.s.same_subject else n) % 5 == 4:
            phone = f"+52 55 {self.rng_phone(n)}"
            self.customers.add(f"phone:{phone}")
            return {"phone": phone}
        email = f"c{n}.{self.ns}@example.com"
        self.customers.add(f"email:{email}")
        return {"email": email, "name": f"Customer {n}"}

    def rng_phone(self, n: int) -> str:
        digits = f"{(hash((self.ns, n)) % 10**8):08d}"
        phone = f"{digits[:4]} {digits[4:]}"
        self.phones.append(phone)
        return phone

    def send_http(self, url: str, deadline: float) -> None:
        s = self.s
        n = s.http_tickets
        if n == 0:
            return
        plan = []
        for i in range(n):
            key = f"{self.ns}-h{i}"
            who = self.customer(i)
            body = {
                "customer_email": who.get("email"),
                "customer_phone": who.get("phone"),
                "customer_name": who.get("name"),
                "subject": WEB_FORM_SUBJECT if s.same_subject else f"HTTP ticket {i}",
                "description": f"Chaos run {self.ns}, HTTP ticket {i}",
                "priority": self.rng_http.choice(["High", "Medium", "Low", "alta", "p2"]),
            }
            repeat = self.rng_http.random() < 0.15
            plan.append((i, key, {k: v for k, v in body.items() if v is not None}, repeat))
        spacing = s.send_window / n
        start = time.monotonic()

        def one(item: tuple[int, str, dict[str, str], bool]) -> None:
            i, key, body, repeat = item
            delay = start + i * spacing - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            first = self.post_ticket(client, url, key, body, deadline)
            if first is not None and repeat:
                time.sleep(0.2)
                again = self.post_ticket(client, url, key, body, deadline)
                if again is not None:
                    with self.lock:
                        self.result.http_replays += 1
                    if again.headers.get("Idempotent-Replayed") != "true":
                        self.note(f"repeat of {key} was not answered as a replay")

        with (
            httpx.Client(timeout=20) as client,
            ThreadPoolExecutor(s.http_threads) as pool,
        ):
            list(pool.map(one, plan))

    def post_ticket(
        self, client: httpx.Client, url: str, key: str, body: dict[str, str], deadline: float
    ) -> httpx.Response | None:
        """POST until the service accepts (201/202) or refuses (4xx); retries keep the key."""
        while True:
            try:
                response = client.post(
                    f"{url}/tickets/customer", json=body, headers={"Idempotency-Key": key}
                )
            except httpx.HTTPError as exc:
                status = type(exc).__name__
                response = None
            else:
                status = str(response.status_code)
            with self.lock:
                self.result.http_status[status] += 1
            if response is not None and response.status_code in (201, 202):
                with self.lock:
                    self.result.http_keys.add(key)
                    if response.json().get("idempotency_key") != key:
                        self.note(f"{key}: answered with key {response.json()}")
                return response
            if response is not None and 400 <= response.status_code < 500:
                self.note(f"{key}: refused {response.status_code} {response.text[:200]}")
                return None
            if time.monotonic() > deadline:
                self.note(f"{key}: gave up after {status}")
                return None
            with self.lock:
                self.result.http_retries += 1
            time.sleep(0.3)

    def send_redis(self, redis_url: str, deadline: float) -> None:
        s = self.s
        r = self.redis(redis_url)
        stream = f"{self.ns}:classify:result"
        items: list[tuple[str, dict[str, str], str | None]] = []
        for i in range(s.redis_tickets):
            key = f"{self.ns}-r{i}"
            who = self.customer(10_000 + i)
            incident = {
                "incident_id": key,
                "customer": who,
                "description": f"Chaos run {self.ns}, incident {i}",
                "category": self.rng_redis.choice(["billing", "booking", None]),
                "priority": self.rng_redis.choice(["alta", "media", "baja", 1, 3, "urgent"]),
                "confidence": round(self.rng_redis.uniform(0.3, 1.0), 2),
            }
            if s.same_subject:
                incident["subject"] = WEB_FORM_SUBJECT
            elif i % 3:
                incident["subject"] = f"Incident {i}"
            payload = json.dumps(incident)
            items.append(("ticket", {"payload": payload}, key))
            if self.rng_redis.random() < 0.15:
                items.append(("dup", {"payload": payload}, key))
            if self.rng_redis.random() < 0.2:
                items.append(("publish", {"payload": payload}, key))
        for p in range(s.poison):
            marker = f"{self.ns}-poison{p}."  # the dot: poison1 is not part of poison10
            self.result.poison_markers.append(marker)
            kind = p % 4
            if kind == 0:
                fields = {"payload": f"not json {{ {marker}"}
            elif kind == 1:
                fields = {"payload": json.dumps({"incident_id": marker, "customer": {}})}
            elif kind == 2:
                fields = {"data": marker}
            else:
                fields = {
                    "payload": json.dumps(
                        {
                            "incident_id": marker,
                            "customer": {"email": "not an email"},
                            "description": "poison",
                        }
                    )
                }
            items.insert(self.rng_redis.randrange(len(items) + 1), ("poison", fields, None))
        # Duplicates come a little later than their first copy.
        spacing = s.send_window / max(1, len(items))
        start = time.monotonic()
        for n, (kind, fields, key) in enumerate(items):
            delay = start + n * spacing - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            while True:
                try:
                    if kind == "publish":
                        r.publish(stream, fields["payload"])
                    elif self.topology is not None:
                        # A durable producer: the entry counts as sent once a replica has it
                        # (else a failover may lose it before the service ever reads it).
                        with r.pipeline(transaction=False) as pipe:
                            pipe.xadd(stream, fields)  # type: ignore[arg-type]
                            pipe.execute_command("WAIT", 1, 1000)
                            if int(pipe.execute()[1]) < 1:
                                raise redis.RedisError("no replica acknowledged the entry")
                    else:
                        r.xadd(stream, fields)  # type: ignore[arg-type]
                    break
                except redis.RedisError as exc:
                    if time.monotonic() > deadline:
                        self.note(f"gave up adding {key or kind}: {exc}")
                        break
                    with self.lock:
                        self.result.xadd_retries += 1
                    time.sleep(0.3)
            else:  # pragma: no cover
                pass
            if key is not None and kind != "publish":
                with self.lock:
                    self.result.redis_keys.add(key)
            if kind == "dup":
                with self.lock:
                    self.result.http_replays += 1
        r.close()

    def note(self, text: str) -> None:
        with self.lock:
            self.result.notes.append(text)
        self.log(text)

    # -- faults ------------------------------------------------------------------------

    def faults(self, emulator_url: str, body: dict[str, Any]) -> None:
        httpx.post(f"{emulator_url}/_emulator/faults", json=body, timeout=5).raise_for_status()

    def timeline(
        self, emulator_url: str, redis_url: str
    ) -> list[tuple[float, str, Callable[[], None]]]:
        """(at, what, action) for the faults, the outage, the kills and the Redis crash."""
        s = self.s
        w = s.send_window
        events: list[tuple[float, str, Callable[[], None]]] = [
            (
                0.0,
                "faults on",
                lambda: self.faults(
                    emulator_url,
                    {
                        "error_rate": s.error_rate,
                        "create_then_fail": s.create_then_fail,
                        "create_then_hang": s.create_then_hang,
                        "hang": s.hang,
                        "search_lag": s.search_lag,
                        "latency": 0.01,
                        "clock_skew": s.clock_skew,
                        "create_late": s.late_commits,
                        "commit_delay": s.commit_delay,
                    },
                ),
            ),
            (
                0.2 * w,
                f"429 window {s.rate_limit_for}s",
                lambda: self.faults(
                    emulator_url,
                    {"rate_limit": {"seconds": s.rate_limit_for, "retry_after": 1}},
                ),
            ),
            (0.4 * w, "outage reset", lambda: self.faults(emulator_url, {"outage": "reset"})),
            (
                0.4 * w + s.outage_for / 2,
                "outage 503",
                lambda: self.faults(emulator_url, {"outage": "503"}),
            ),
            (
                0.4 * w + s.outage_for,
                "outage over",
                lambda: self.faults(emulator_url, {"outage": False}),
            ),
            (
                0.75 * w,
                "more create-then-fail / create-then-hang",
                lambda: self.faults(
                    emulator_url,
                    {
                        "create_then_fail": s.create_then_fail,
                        "create_then_hang": s.create_then_hang,
                        "create_late": s.late_commits,
                    },
                ),
            ),
        ]
        for _ in range(s.worker_kills):
            at = self.rng_chaos.uniform(0.05 * w, w)
            victim = self.rng_chaos.randrange(len(self.workers)) if self.workers else 0
            back_after = self.rng_chaos.uniform(0.2, 1.5)
            events.append(
                (at, f"SIGKILL worker{victim}", self._killer(victim, back_after, redis_url))
            )
        if s.failover:
            events.append((0.5 * w, f"failover ({s.failover})", self._failover))
        for n in range(s.redis_restarts if s.redis_url is None and not s.failover else 0):
            at = (0.5 + 0.3 * n / max(1, s.redis_restarts)) * w
            events.append((at, "SIGKILL redis-server", self._redis_crash))
        return sorted(events, key=lambda e: e[0])

    def _killer(self, victim: int, back_after: float, redis_url: str) -> Callable[[], None]:
        def act() -> None:
            # The one drawn, or the next one alive if it is still down from a kill before.
            n = len(self.workers)
            alive = [i for i in range(n) if self.workers[(victim + i) % n].alive()]
            if not alive:
                return
            chosen = (victim + alive[0]) % n
            worker = self.workers[chosen]
            consumer = self.consumer_name(chosen)
            try:
                held, unread = self.held_by(redis_url, consumer), False
            except redis.RedisError:
                held, unread = set(), True
            killed_at = time.time()
            worker.kill()
            self.result.kills.append(f"worker{chosen}")
            self.result.recoveries.append(
                Recovery(f"worker{chosen}", consumer, killed_at, held, unread)
            )

            def restart() -> None:
                time.sleep(back_after)
                if not self.stop_chaos.is_set():
                    worker.start()

            threading.Thread(target=restart, daemon=True).start()

        return act

    def _failover(self) -> None:
        if self.s.failover == "kill":
            self.topology.kill_primary()
        else:
            self.topology.failover()
        self.result.failovers += 1

    def sample_aof(self) -> None:
        """Note the AOF's size every 50 ms, to know what a power loss would have left."""
        while not self.stop_chaos.wait(0.05):
            path = current_aof(self.redis_dir) if self.redis_dir else None
            if path is not None:
                with contextlib.suppress(OSError):
                    self.aof_sizes.append((time.monotonic(), path, path.stat().st_size))
                    del self.aof_sizes[:-200]

    def _redis_crash(self) -> None:
        assert self.redis_proc is not None
        self.redis_proc.kill()
        window = UNSYNCED_WINDOW[self.s.appendfsync] if self.s.machine_crash else 0.0
        if window:
            # What was written in the last `window` seconds was still only in the page cache.
            cutoff = time.monotonic() - window
            older = [(path, size) for at, path, size in self.aof_sizes if at <= cutoff]
            if older:
                path, size = older[-1]
                with contextlib.suppress(OSError):
                    dropped = path.stat().st_size - size
                    os.truncate(path, size)
                    self.result.aof_bytes_dropped += dropped
                    self.log(f"power loss: {path.name} loses its last {dropped} bytes")
        time.sleep(0.5)
        self.redis_proc.start()  # same --dir: it loads the append-only file
        self.result.redis_restarts += 1

    def run_timeline(self, events: list[tuple[float, str, Callable[[], None]]]) -> None:
        start = time.monotonic()
        for at, what, action in events:
            delay = start + at - time.monotonic()
            if delay > 0 and self.stop_chaos.wait(delay):
                return
            self.log(what)
            try:
                action()
            except Exception as exc:
                self.note(f"{what} failed: {exc!r}")

    # -- the end -----------------------------------------------------------------------

    def ledger_key(self, key: str) -> str:
        """The ledger key of a sent key: HTTP keys live in their client's namespace."""
        if key in self.result.http_keys:
            return scoped_key(ANONYMOUS_CLIENT, key)
        return key

    def snapshot(self, r: redis.Redis, emulator_url: str) -> None:
        res = self.result
        body = httpx.get(f"{emulator_url}/_emulator/tickets", timeout=30).json()
        # Each ticket's key, by the reference line that ends its description.
        # An HTTP key lives in its client's namespace (api/<client>/<key>; no API_KEYS here).
        ledger_key = {k: self.ledger_key(k) for k in res.sent_keys}
        keys_by_ref = {ticket_reference(ledger_key[k]): k for k in res.sent_keys}
        per_key: Counter[str] = Counter()
        foreign = 0
        self.created_at.clear()
        self.tickets_per_ref.clear()
        for ticket in body["data"]:
            last = (ticket.get("description") or "").rsplit("\n", 1)[-1]
            ref = last.removeprefix(REFERENCE_PREFIX)
            self.tickets_per_ref[ref] += 1
            with contextlib.suppress(KeyError, TypeError, ValueError):
                # Zoho's clock is the host's plus the skew fault.
                when = datetime.fromisoformat(ticket["createdTime"]).timestamp()
                when -= self.s.clock_skew
                self.created_at[ref] = min(when, self.created_at.get(ref, when))
            key = keys_by_ref.get(last.removeprefix(REFERENCE_PREFIX))
            if key is None:
                foreign += 1
            else:
                per_key[key] += 1
        res.per_key = dict(per_key)
        res.foreign_tickets = foreign
        keys = sorted(res.sent_keys)
        prefix = f"{self.ns}:{LEDGER_PREFIX}"
        with r.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hget(prefix + ledger_key[key], "ticket_id")
            ids = pipe.execute()
        res.recorded = {k: _text(t) for k, t in zip(keys, ids, strict=True) if t}
        res.pending_left = int(r.xlen(f"{self.ns}:pending"))
        try:
            res.in_flight_left = int(r.xpending(f"{self.ns}:pending", "ticketing")["pending"])
        except redis.ResponseError:
            res.in_flight_left = 0
        res.inbound_unacked, res.inbound_lag = 0, 0
        for group in r.xinfo_groups(f"{self.ns}:classify:result"):
            if _text(group["name"]) == "ticket-service":
                res.inbound_unacked = int(group["pending"])
                lag = group.get("lag")
                res.inbound_lag = None if lag is None else int(lag)
        res.dead_letters = [
            {_text(k): _text(v) for k, v in fields.items()}
            for _id, fields in r.xrange(f"{self.ns}:dead")
        ]
        res.emulator_summary = httpx.get(f"{emulator_url}/_emulator/state", timeout=10).json()
        calls = httpx.get(f"{emulator_url}/_emulator/calls", timeout=30).json()
        res.zoho_answers = calls["by_status"]
        res.contacts_created = int(res.emulator_summary.get("contacts_created", 0))

    def settled(self, r: redis.Redis, emulator_url: str) -> bool:
        """Everything sent has a ticket and nothing is left; or, when Redis lost some of it,
        the queues are empty and nothing has changed for a while (nothing more will come)."""
        self.snapshot(r, emulator_url)
        res = self.result
        drained = (
            res.pending_left == 0
            and res.in_flight_left == 0
            and res.inbound_unacked == 0
            and not res.inbound_lag
        )
        if drained and not res.lost and len(res.dead_letters) >= len(res.poison_markers):
            return True
        state = (res.created, res.duplicated, len(res.dead_letters), drained)
        if state != self._last_state:
            self._last_state, self._quiet_since = state, time.monotonic()
        lossy = res.redis_restarts > 0 or res.failovers > 0
        return drained and lossy and time.monotonic() - self._quiet_since > 10

    def measure_recoveries(self) -> None:
        """Kill → the last held ticket created; a ticket created before the kill (the worker
        created it and died before acknowledging) counts as 0."""
        for rec in self.result.recoveries:
            rec.missing = sorted(ref for ref in rec.held if ref not in self.created_at)
            rec.duplicated = sum(max(0, self.tickets_per_ref[ref] - 1) for ref in rec.held)
            done = [self.created_at[ref] for ref in rec.held if ref in self.created_at]
            rec.seconds = max(0.0, max(done) - rec.killed_at) if done else None
            if done:
                rec.median = max(0.0, sorted(done)[(len(done) - 1) // 2] - rec.killed_at)

    def cleanup_redis(self, redis_url: str) -> None:
        """Delete what this run wrote to a shared Redis: its streams, ledger, leases, cache."""
        r = self.redis(redis_url)
        try:
            patterns = [
                f"{self.ns}*",  # streams, and with REDIS_KEY_PREFIX everything else
                f"ticketing:ledger:{self.ns}*",
                f"ticket:{self.ns}*",
                f"*{self.ns}@example.com",
            ]
            patterns += [f"*phone:+52 55 {p}*" for p in self.phones]
            for pattern in patterns:
                keys = list(r.scan_iter(match=pattern, count=1000))
                for chunk in range(0, len(keys), 500):
                    r.delete(*keys[chunk : chunk + 500])
            # Phone identities are stored normalized (E.164): delete by exact key.
            for phone in self.phones:
                digits = "+5255" + phone.replace(" ", "")
                r.delete(f"ticketing:contact:phone:{digits}", f"contact:phone:{digits}")
        finally:
            r.close()

    def run(self) -> Result:
        s = self.s
        res = self.result
        redis_url = ""
        try:
            redis_url = self.start_redis()
            emulator_url = self.start_emulator()
            self.log(f"redis {redis_url}, emulator {emulator_url}, work dir {self.workdir}")
            service_url = self.start_service(redis_url, emulator_url)
            r = self.redis(redis_url)
            self.wait_for_inbound_group(r)
            self.log(f"serve {service_url} and {s.workers} workers up; sending")
            events = self.timeline(emulator_url, redis_url)
            chaos = threading.Thread(target=self.run_timeline, args=(events,), daemon=True)
            if s.machine_crash and self.redis_proc is not None:
                threading.Thread(target=self.sample_aof, daemon=True).start()
            send_deadline = time.monotonic() + s.send_window + s.drain_timeout
            senders = [
                threading.Thread(target=self.send_http, args=(service_url, send_deadline)),
                threading.Thread(target=self.send_redis, args=(redis_url, send_deadline)),
            ]
            chaos.start()
            for t in senders:
                t.start()
            for t in senders:
                t.join()
            chaos.join()
            sent_at = time.monotonic()
            self.log(f"sent {len(res.sent_keys)} keys; clearing faults, waiting for the drain")
            self.faults(
                emulator_url,
                {"clear": True, "search_lag": s.search_lag, "clock_skew": s.clock_skew},
            )
            for worker in self.workers:  # a restart still sleeping after the last kill
                if not worker.alive():
                    worker.start()
            deadline = sent_at + s.drain_timeout
            shown = 0.0
            while time.monotonic() < deadline:
                try:
                    if self.settled(r, emulator_url):
                        res.drained = True
                        break
                    if time.monotonic() - shown >= 5:
                        shown = time.monotonic()
                        self.log(
                            f"draining: {res.created}/{len(res.sent_keys)} created, "
                            f"{res.pending_left} pending, {res.inbound_unacked} inbound unacked"
                        )
                except (redis.RedisError, httpx.HTTPError) as exc:
                    self.log(f"waiting: {exc!r}")
                time.sleep(0.5)
            res.drain_seconds = time.monotonic() - sent_at
            if res.drained and res.lost:  # settled by standing still: it was done back then
                res.drain_seconds = max(0.0, self._quiet_since - sent_at)
            self.snapshot(r, emulator_url)
            self.measure_recoveries()
            res.customers = len(self.customers)
            r.close()
        finally:
            self.stop_chaos.set()
            for proc in reversed(self.procs):
                proc.stop()
                res.logs.update({p.name: p for p in proc.logs})
            if self.redis_proc is not None:
                self.redis_proc.stop()
            elif self.topology is not None:
                self.topology.stop()
            elif redis_url:
                with contextlib.suppress(redis.RedisError):
                    self.cleanup_redis(redis_url)
            res.total_seconds = time.monotonic() - self.started
            if self._own_workdir and not s.keep_workdir and not res.problems():
                shutil.rmtree(self.workdir, ignore_errors=True)
        return res

    def diagnosis(self) -> str:
        """Enough to debug a failed run: per-key counts, what is left, the workers' logs."""
        res = self.result
        parts = [self.result.table(), "", "problems:", *(f"  - {p}" for p in res.problems())]
        if res.notes:
            parts += ["notes:", *(f"  - {n}" for n in res.notes[:30])]
        parts.append(f"emulator: {json.dumps(res.emulator_summary)}")
        parts.append(f"kills: {res.kills}")
        parts.append(f"work dir: {self.workdir}")
        for proc in self.procs:
            for path in proc.logs:
                text = tail(path, 25, grep=("WARNING", "ERROR", "Traceback", "Error"))
                if text:
                    parts += [f"--- {path.name} (warnings and errors, last 25)", text]
        return "\n".join(parts)


# How much of the AOF a power loss can take, by appendfsync: "always" fsyncs before it
# answers; "everysec" fsyncs once a second; "no" leaves it to the kernel (about 30 s on Linux).
UNSYNCED_WINDOW = {"always": 0.0, "everysec": 1.0, "no": 30.0}


def current_aof(data_dir: Path) -> Path | None:
    """The AOF file Redis appends to now (Redis 7: the last incr file of the manifest)."""
    folder = data_dir / "appendonlydir"
    manifests = sorted(folder.glob("*.manifest")) if folder.is_dir() else []
    if not manifests:
        single = data_dir / "appendonly.aof"  # Redis 6
        return single if single.exists() else None
    last = None
    for line in manifests[-1].read_text().splitlines():
        parts = line.split()
        if "file" in parts and parts[-1] == "i":
            last = folder / parts[parts.index("file") + 1]
    return last


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def run(scenario: Scenario) -> tuple[Result, str]:
    """Run one scenario; returns the result and a diagnosis text."""
    chaos = Chaos(scenario)
    result = chaos.run()
    return result, chaos.diagnosis()


FAILOVER_MODES = (("kill", 0), ("kill", 1), ("switch", 0), ("switch", 1))


def failover_table(results: list[Result]) -> str:
    """Lost and duplicated per failover mode, with and without WAIT."""
    lines = [
        "failover in the middle of the load (keys answered 201/202, or on the inbound stream "
        "and held by a replica)",
        "  failover  REDIS_WAIT_REPLICAS  keys  lost  duplicated  503s  other 5xx  drained",
    ]
    for res in results:
        s = res.scenario
        other = sum(n for k, n in res.http_status.items() if k.startswith("5") and k != "503")
        lines.append(
            f"  {s.failover:<8}  {s.wait_replicas:>19}  {len(res.sent_keys):>4}  "
            f"{len(res.lost):>4}  {res.duplicated:>10}  {res.http_status.get('503', 0):>4}  "
            f"{other:>9}  {'yes' if res.drained else 'no'}"
        )
    return "\n".join(lines)


def failover_matrix(base: Scenario, out: Path) -> int:
    """The scenario once per failover mode (kill / switch, WAIT off / on), no worker kills."""
    results: list[Result] = []
    for kind, wait in FAILOVER_MODES:
        scenario = replace(
            base, failover=kind, wait_replicas=wait, worker_kills=0, redis_restarts=0
        )
        result, _diagnosis = run(scenario)
        results.append(result)
        print(result.table())
        if result.problems():
            print("\n".join(f"  - {p}" for p in result.problems()))
        print()
    print(failover_table(results))
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps([r.to_json() for r in results], indent=2))
    # A run with WAIT must lose nothing it answered; duplicates and losses without it are the
    # figures to report, not failures.
    return 1 if any(r.lost for r in results if r.scenario.wait_replicas) else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=3000, help="half over HTTP, half Redis")
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--kills", type=int, default=12, help="worker SIGKILLs")
    parser.add_argument("--redis-restarts", type=int, default=1)
    parser.add_argument("--appendfsync", choices=["everysec", "always", "no"], default="everysec")
    parser.add_argument(
        "--machine-crash",
        action="store_true",
        help="simulate a power loss at the Redis crash: the AOF loses what was not fsynced",
    )
    parser.add_argument("--window", type=float, default=30.0, help="seconds of sending")
    parser.add_argument("--poison", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--drain-timeout", type=float, default=180.0)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument(
        "--json",
        default=str(Path(__file__).resolve().parent / "out" / "chaos.json"),
        help="where to write the figures (default benchmarks/out/chaos.json)",
    )
    parser.add_argument(
        "--redis-url", help="use this Redis (no crash) instead of starting one with an AOF"
    )
    parser.add_argument(
        "--look-up",
        action="store_true",
        help="no idempotency field, one subject per customer, Zoho's clock 5 minutes ahead, "
        "late commits",
    )
    parser.add_argument(
        "--clock-skew",
        type=float,
        help="Zoho's clock minus the host's in seconds (default 300 with --look-up, else 0)",
    )
    parser.add_argument(
        "--failover",
        action="store_true",
        help="on sentinels: the primary killed, then switched, each with WAIT off and on "
        "(no worker kills); prints lost / duplicated per mode",
    )
    args = parser.parse_args(argv)
    look_up: dict[str, Any] = (
        {"key_field": False, "same_subject": True, "clock_skew": 300.0, "late_commits": 3}
        if args.look_up
        else {}
    )
    if args.clock_skew is not None:
        look_up["clock_skew"] = args.clock_skew
    scenario = Scenario(
        http_tickets=args.tickets // 2,
        redis_tickets=args.tickets - args.tickets // 2,
        workers=args.workers,
        worker_kills=args.kills,
        redis_restarts=args.redis_restarts,
        appendfsync=args.appendfsync,
        machine_crash=args.machine_crash,
        send_window=args.window,
        poison=args.poison,
        seed=args.seed,
        drain_timeout=args.drain_timeout,
        keep_workdir=args.keep,
        redis_url=args.redis_url,
        **look_up,
    )
    if args.failover:
        return failover_matrix(scenario, Path(args.json).with_name("chaos-failover.json"))
    result, diagnosis = run(scenario)
    print(result.table())
    print()
    print(result.recovery_table())
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result.to_json(), indent=2))
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    problems = result.problems()
    if problems:
        print("\n" + diagnosis)
        return 1
    print(
        "exactly once: every key has one ticket of its own, nothing pending, only the poison "
        "is dead"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
