"""Benchmark: the two-way sync (issue 14). N tickets are created through a real `ticketing
serve` (on a private Redis, against the standalone Zoho emulator with a set latency); then an
agent answers each one (a public reply) and writes a private comment on it (noise: it must
give no event), at a steady pace, through the emulator's control routes. Measured twice, each
time on fresh processes: with SYNC_MODE=webhook (the emulator POSTs each event to the serve's
``/webhooks/zoho/<token>``, registered by `ticketing webhooks setup`) and with SYNC_MODE=poll.

For each mode:

- reply to event: from the reply's time in Zoho (the thread's ``createdTime``, stamped by the
  emulator) to its event on ``tickets:replies`` (the stream entry's id, stamped by Redis), both
  on this host's clock; p50 and p99;
- Zoho calls and credits per reply while the replies are handled (the emulator's call log and
  credit meter), against the bound of one fetch per reply; in poll mode the searches, a fixed
  cost per poll whether anything changed or not, are counted apart from what each reply adds;
- exactly once: every reply once on the stream, no private comment there;
- ``ticketing_sync_lag_seconds`` as scraped from the serve every 0.25 s (its largest value).

Baselines, measured in the same run on the same processes: the round trip of the ticket
creations just before (``POST /tickets/customer`` to its 201, 2-3 Zoho calls), for the webhook
mode's latency; and the webhook mode for the poll mode's. The floor of the design is one Zoho
fetch per reply (``--latency``): what is published is fetched from Zoho by id.

    uv run python benchmarks/sync.py [--tickets 50] [--rate 2] [--poll-interval 5]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (
    OUT,
    Emulator,
    RedisServer,
    desk_calls,
    diff,
    emulator,
    machine,
    percentile,
    redis_server,
    service,
    service_env,
    table,
)

REPLIES = "tickets:replies"
INBOX = "ticketing:sync:inbox"
SEARCH = "GET /api/v1/tickets/search"
WEBHOOK_TOKEN = "bench-webhook-token-" + "0123456789abcdef" * 2  # a fake, 32+ characters
# Desk endpoints by what they are, for the cost columns (ids replaced by {id}).
THREAD_FETCH = "GET /api/v1/tickets/{id}/threads/{id}"
COMMENT_FETCH = "GET /api/v1/tickets/{id}/comments/{id}"


@dataclass
class ModeRun:
    """One mode's measured figures."""

    mode: str
    tickets: int = 0
    create_seconds: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)  # reply -> event, s
    calls: dict[str, int] = field(default_factory=dict)  # Desk calls while handling replies
    credits: int = 0
    searches: int = 0
    replies_seen: int = 0
    duplicates: int = 0
    private_published: int = 0
    missing: int = 0
    histogram: tuple[float, float] = (0.0, 0.0)  # the service's own (sum, count)
    lag_max: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0  # from the first reply to the last event

    @property
    def fetches(self) -> int:
        return self.calls.get(THREAD_FETCH, 0)

    @property
    def per_reply_calls(self) -> float:
        return sum(self.calls.values()) / self.tickets if self.tickets else float("nan")

    @property
    def marginal_calls(self) -> float:
        """Calls per reply without the searches (a poll's fixed cost)."""
        rest = sum(self.calls.values()) - self.searches
        return rest / self.tickets if self.tickets else float("nan")

    @property
    def marginal_credits(self) -> float:
        return (self.credits - 3 * self.searches) / self.tickets if self.tickets else float("nan")

    def as_json(self) -> dict[str, Any]:
        count = self.histogram[1]
        return {
            "mode": self.mode,
            "tickets": self.tickets,
            "create_p50_ms": round(percentile(self.create_seconds, 50) * 1000, 1),
            "create_p99_ms": round(percentile(self.create_seconds, 99) * 1000, 1),
            "p50_ms": round(percentile(self.latencies, 50) * 1000, 1),
            "p99_ms": round(percentile(self.latencies, 99) * 1000, 1),
            "max_ms": round(max(self.latencies, default=float("nan")) * 1000, 1),
            "service_histogram_mean_ms": round(self.histogram[0] / count * 1000, 1)
            if count
            else None,
            "service_histogram_count": count,
            "calls": self.calls,
            "calls_per_reply": round(self.per_reply_calls, 3),
            "calls_per_reply_without_searches": round(self.marginal_calls, 3),
            "fetches_per_reply": round(self.fetches / self.tickets, 3) if self.tickets else None,
            "credits": self.credits,
            "credits_per_reply": round(self.credits / self.tickets, 3) if self.tickets else None,
            "credits_per_reply_without_searches": round(self.marginal_credits, 3),
            "searches": self.searches,
            "replies_seen": self.replies_seen,
            "duplicates": self.duplicates,
            "private_published": self.private_published,
            "missing": self.missing,
            "lag_max_s": {k: round(v, 3) for k, v in self.lag_max.items()},
            "seconds": round(self.seconds, 2),
        }


def by_kind(calls: dict[str, int]) -> dict[str, int]:
    """Desk calls by endpoint with the ids replaced by ``{id}``."""
    out: dict[str, int] = {}
    for endpoint, count in calls.items():
        method, path = endpoint.split(" ", 1)
        path = path.split("?", 1)[0]
        kind = "/".join("{id}" if s.isdigit() else s for s in path.split("/"))
        out[f"{method} {kind}"] = out.get(f"{method} {kind}", 0) + count
    return out


def zoho_instant(value: str) -> float:
    """Zoho's ``2026-12-03T19:53:02.123Z`` as a Unix time."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def until(check: Callable[[], Any], what: str, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.05)
    return found


def control(emu: Emulator, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = emu.http.post(f"{emu.url}/_emulator/{path}", json=body)
    response.raise_for_status()
    return dict(response.json())


def searches(emu: Emulator) -> int:
    return int(emu.calls()["by_endpoint"].get(SEARCH, 0))


def settle_polls(emu: Emulator, last_change: float, overlap: float, timeout: float) -> None:
    """Wait until no poll will read a change made at ``last_change`` again: a poll reads the
    tickets modified since the previous poll's start less ``overlap``, so once a poll has
    started later than ``last_change + overlap``, the one after it reads none of them."""
    time.sleep(max(0.0, last_change + overlap + 0.05 - time.time()))
    seen = searches(emu)
    until(lambda: searches(emu) >= seen + 2, "two more polls", timeout)


def settle_webhooks(emu: Emulator, client: Any, timeout: float) -> None:
    """Wait until the emulator has nothing left to deliver and the inbox is empty."""

    def quiet() -> bool:
        hooks = emu.http.get(f"{emu.url}/_emulator/webhooks").json()
        return int(hooks.get("pending", 0)) == 0 and int(client.xlen(INBOX)) == 0

    until(quiet, "the webhook deliveries handled", timeout)
    time.sleep(0.3)  # a delivery handed out between the two looks
    until(quiet, "the webhook deliveries handled", timeout)


def create_tickets(url: str, count: int, clients: int) -> list[tuple[str, float]]:
    """``count`` tickets through ``POST /tickets/customer``, ``clients`` at a time: each
    ticket's id and round trip."""

    def one(n: int) -> tuple[str, float]:
        body = {
            "customer_email": f"sync-bench-{n}@example.com",
            "customer_name": f"Cliente {n}",
            "customer_phone": f"+5255{n:08d}",
            "subject": f"Pago no reflejado {n}",
            "description": "Posted by benchmarks/sync.py",
            "priority": "Medium",
            "channel": "WhatsApp",
        }
        started = time.perf_counter()
        response = httpx.post(f"{url}/tickets/customer", json=body, timeout=60)
        seconds = time.perf_counter() - started
        if response.status_code != 201:
            raise RuntimeError(f"ticket {n}: {response.status_code} {response.text[:300]}")
        return str(response.json()["ticket_id"]), seconds

    with ThreadPoolExecutor(clients) as pool:
        return list(pool.map(one, range(count)))


@contextlib.contextmanager
def lag_sampler(url: str, into: dict[str, float]) -> Iterator[None]:
    """Scrape ``ticketing_sync_lag_seconds`` every 0.25 s; keep each source's largest value."""
    stop = threading.Event()

    def run() -> None:
        with httpx.Client(timeout=5) as http:
            while not stop.is_set():
                with contextlib.suppress(httpx.HTTPError):
                    for line in http.get(f"{url}/metrics").text.splitlines():
                        if line.startswith("ticketing_sync_lag_seconds{"):
                            source = line.split('source="', 1)[1].split('"', 1)[0]
                            value = float(line.rsplit(" ", 1)[1])
                            into[source] = max(into.get(source, 0.0), value)
                stop.wait(0.25)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    try:
        yield
    finally:
        stop.set()
        worker.join(timeout=5)


def histogram(url: str) -> tuple[float, float]:
    """The service's own ``ticketing_sync_reply_latency_seconds`` (sum, count)."""
    total = count = 0.0
    for line in httpx.get(f"{url}/metrics", timeout=5).text.splitlines():
        if line.startswith("ticketing_sync_reply_latency_seconds_sum"):
            total = float(line.rsplit(" ", 1)[1])
        elif line.startswith("ticketing_sync_reply_latency_seconds_count"):
            count = float(line.rsplit(" ", 1)[1])
    return total, count


def run_mode(mode: str, args: argparse.Namespace) -> ModeRun:
    result = ModeRun(mode, tickets=args.tickets)
    with contextlib.ExitStack() as stack:
        redis: RedisServer = stack.enter_context(redis_server())
        emu = stack.enter_context(emulator(latency=args.latency))
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        client = redis.client()
        stack.callback(client.close)
        extra = {
            "SYNC_MODE": mode,
            # Webhook mode: the safety-net poll runs at start and then 15 intervals apart;
            # an hour keeps it out of the measurement (its cost is stated, not measured).
            "SYNC_POLL_INTERVAL": str(args.poll_interval if mode == "poll" else 3600),
            "ZOHO_SEARCH_LAG": str(args.search_lag),
            "ZOHO_WEBHOOK_TOKEN": WEBHOOK_TOKEN,
        }
        env = service_env(emu, redis_url=redis.url, token_file=tmp / "tokens.json", extra=extra)
        svc = stack.enter_context(service(["serve", "--no-consumer"], env))
        if mode == "webhook":
            setup = subprocess.run(
                [sys.executable, "-m", "ticketing", "webhooks", "setup", "--public-url", svc.url],
                env=env,
                cwd=tmp,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            if setup.returncode != 0:
                raise RuntimeError(f"webhooks setup failed: {setup.stdout}{setup.stderr}")
        created = create_tickets(svc.url, args.tickets, args.clients)
        result.create_seconds = [seconds for _, seconds in created]
        # What creating them costs the sync (poll mode: the new tickets are "modified" and
        # read once) is left out: from here on, only the replies.
        if mode == "poll":
            settle_polls(emu, time.time(), args.search_lag, args.timeout)
        else:
            settle_webhooks(emu, client, args.timeout)
        calls_before = by_kind(desk_calls(emu.calls()))
        credits_before = int(emu.state()["credits_remaining"])
        replied: dict[str, float] = {}  # thread id -> its time in Zoho
        private: set[str] = set()
        gap = 1.0 / args.rate
        first = time.monotonic()
        with lag_sampler(svc.url, result.lag_max):
            for index, (ticket_id, _) in enumerate(created):
                time.sleep(max(0.0, first + index * gap - time.monotonic()))
                thread = control(emu, f"tickets/{ticket_id}/threads", {"text": f"Hola {index}"})
                replied[str(thread["id"])] = zoho_instant(str(thread["createdTime"]))
                note = {"text": "nota interna", "isPublic": False}
                private.add(str(control(emu, f"tickets/{ticket_id}/comments", note)["id"]))
            last_change = time.time()
            until(
                lambda: client.xlen(REPLIES) >= len(replied),
                f"{len(replied)} replies on {REPLIES}",
                args.timeout,
            )
            result.seconds = time.monotonic() - first
            if mode == "poll":
                settle_polls(emu, last_change, args.search_lag, args.timeout)
            else:
                settle_webhooks(emu, client, args.timeout)
        result.calls = diff(by_kind(desk_calls(emu.calls())), calls_before)
        result.credits = credits_before - int(emu.state()["credits_remaining"])
        result.searches = result.calls.get(SEARCH, 0)
        result.histogram = histogram(svc.url)
        seen: dict[str, int] = {}
        for entry_id, fields in client.xrange(REPLIES):
            event = json.loads(fields[b"payload"])
            event_id = str(event["event_id"])
            seen[event_id] = seen.get(event_id, 0) + 1
            if event_id in replied and seen[event_id] == 1:
                arrived = int(entry_id.decode().split("-", 1)[0]) / 1000
                result.latencies.append(arrived - replied[event_id])
        result.replies_seen = sum(1 for k in replied if k in seen)
        result.missing = len(replied) - result.replies_seen
        result.duplicates = sum(n - 1 for n in seen.values())
        result.private_published = sum(1 for k in private if k in seen)
    return result


HEADERS = [
    "mode", "replies", "p50 ms", "p99 ms", "x baseline", "baseline", "fetches/reply",
    "calls/reply", "credits/reply", "w/o searches", "searches", "lag max s", "once",
]  # fmt: skip


def rows(runs: dict[str, ModeRun]) -> list[list[Any]]:
    web = runs.get("webhook")
    out = []
    for run in runs.values():
        p50 = percentile(run.latencies, 50)
        if run.mode == "poll" and web is not None:
            base, name = percentile(web.latencies, 50), "webhook p50"
        else:
            base, name = percentile(run.create_seconds, 50), "create p50"
        ok = not (run.missing or run.duplicates or run.private_published)
        lags = ", ".join(f"{k} {v:.2f}" for k, v in sorted(run.lag_max.items()))
        out.append(
            [
                run.mode,
                run.replies_seen,
                p50 * 1000,
                percentile(run.latencies, 99) * 1000,
                p50 / base if base else float("nan"),
                f"{name} {base * 1000:.0f} ms",
                run.fetches / run.tickets,
                run.per_reply_calls,
                run.credits / run.tickets,
                f"{run.marginal_calls:.2f} calls, {run.marginal_credits:.2f} cr",
                run.searches,
                lags,
                "yes" if ok else "NO",
            ]
        )
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parser().parse_args(argv)
    started = time.monotonic()
    runs: dict[str, ModeRun] = {}
    for mode in args.modes:
        print(f"  {mode}: {args.tickets} tickets, replies at {args.rate}/s ...", flush=True)
        runs[mode] = run_mode(mode, args)
    print(
        f"\ntwo-way sync: {args.tickets} tickets, one public reply and one private comment "
        f"each at {args.rate} replies/s, Zoho latency {args.latency * 1000:.0f} ms, poll "
        f"interval {args.poll_interval:g} s, ZOHO_SEARCH_LAG {args.search_lag:g} s "
        f"({time.monotonic() - started:.0f} s)"
    )
    print(table(rows(runs), HEADERS))
    for run in runs.values():
        total, count = run.histogram
        mean = f"{total / count * 1000:.0f} ms over {count:.0f}" if count else "none"
        print(
            f"  {run.mode}: calls {dict(sorted(run.calls.items()))}; the service's own "
            f"ticketing_sync_reply_latency_seconds mean {mean}"
        )
    bad = [r.mode for r in runs.values() if r.missing or r.duplicates or r.private_published]
    if bad:
        print("NOT exactly once in:", ", ".join(bad))
    result = {
        "benchmark": "sync",
        "machine": machine(),
        "params": vars(args),
        "modes": [run.as_json() for run in runs.values()],
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "sync.json").write_text(json.dumps(result, indent=2))
    print(f"figures: {OUT / 'sync.json'}")
    return result


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--tickets", type=int, default=50, help="tickets, one reply each (50)")
    p.add_argument("--rate", type=float, default=2.0, help="replies per second (2)")
    p.add_argument("--latency", type=float, default=0.1, help="Zoho latency, s (0.1)")
    p.add_argument("--clients", type=int, default=2, help="concurrent ticket creations (2)")
    p.add_argument("--poll-interval", type=float, default=5.0, help="SYNC_POLL_INTERVAL (5)")
    p.add_argument(
        "--search-lag",
        type=float,
        default=2.5,
        help="ZOHO_SEARCH_LAG, the polls' overlap (2.5: the defaults' 30/60 ratio)",
    )
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per wait at most")
    p.add_argument("--modes", nargs="+", choices=["webhook", "poll"], default=["webhook", "poll"])
    return p


if __name__ == "__main__":
    main()
