"""Benchmark 1, end to end: K concurrent clients post tickets to a real `ticketing serve` process
against the standalone Zoho emulator with a set latency, for first-time, returning and mixed
customers; the baseline, measured in the same run with the same K and latency, is the old
algorithm (search the contact, create it if none, create the ticket: sequentially, for every
ticket, no cache) driven directly with httpx against the same emulator.

    uv run python benchmarks/e2e.py [--clients 10] [--latency 0.1] [--tickets 300]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (
    OUT,
    Emulator,
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

from ticketing.adapters.zoho_desk.emulator import (
    SANDBOX_DEPARTMENT_ID,
    SANDBOX_ORG_ID,
)


@dataclass
class Phase:
    """One measured run: who did it, for which customers, and what it took."""

    algorithm: str
    customers: str
    tickets: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    zoho_429: int = 0

    @property
    def rate(self) -> float:
        return self.tickets / self.seconds if self.seconds else 0.0

    @property
    def desk_calls(self) -> int:
        return sum(self.calls.values())

    @property
    def calls_per_ticket(self) -> float:
        return self.desk_calls / self.tickets if self.tickets else float("nan")

    def row(self, baseline: Phase | None) -> list[Any]:
        ratio = self.rate / baseline.rate if baseline and baseline.rate else float("nan")
        return [
            self.algorithm,
            self.customers,
            self.tickets,
            self.rate,
            percentile(self.latencies, 50) * 1000,
            percentile(self.latencies, 99) * 1000,
            self.calls_per_ticket,
            ratio,
            self.zoho_429,
            ", ".join(f"{k}:{v}" for k, v in sorted(self.statuses.items())),
        ]

    def as_json(self) -> dict[str, Any]:
        return {
            "algorithm": self.algorithm,
            "customers": self.customers,
            "tickets": self.tickets,
            "seconds": round(self.seconds, 3),
            "tickets_per_s": round(self.rate, 2),
            "p50_ms": round(percentile(self.latencies, 50) * 1000, 1),
            "p99_ms": round(percentile(self.latencies, 99) * 1000, 1),
            "calls_per_ticket": round(self.calls_per_ticket, 3),
            "calls": self.calls,
            "statuses": self.statuses,
            "zoho_429": self.zoho_429,
        }


HEADERS = ["algorithm", "customers", "tickets", "tickets/s", "p50 ms", "p99 ms",
           "calls/ticket", "x old", "Zoho 429s", "HTTP statuses"]  # fmt: skip


def customer_stream(new_prefix: str, known: list[str], new_share: float) -> Iterator[str]:
    """Emails: a ``new_share`` of never-seen customers, the rest cycling through ``known``."""
    cycle = itertools.cycle(known) if known else None
    fresh = (f"{new_prefix}-{i}@example.com" for i in itertools.count())
    # A fixed pattern, not random: every algorithm sees the same sequence.
    period = round(1 / new_share) if 0 < new_share < 1 else 1
    for i in itertools.count():
        if cycle is None or new_share >= 1 or (new_share > 0 and i % period == 0):
            yield next(fresh)
        else:
            yield next(cycle)


async def drive(
    phase: Phase,
    emails: Iterator[str],
    count: int,
    clients: int,
    one: Callable[[httpx.AsyncClient, str, int], Any],
    *,
    time_limit: float,
) -> list[str]:
    """``clients`` workers, each sending one ticket at a time, until ``count`` are done."""
    used: list[str] = []
    counter = itertools.count()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    deadline = time.monotonic() + time_limit
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:

        async def worker() -> None:
            while time.monotonic() < deadline:
                n = next(counter)
                if n >= count:
                    return
                email = next(emails)
                used.append(email)
                started = time.perf_counter()
                try:
                    status = await one(http, email, n)
                except Exception as exc:  # a benchmark reports failures, it does not stop
                    status = -1
                    if len(phase.errors) < 5:
                        phase.errors.append(f"{type(exc).__name__}: {exc}")
                phase.latencies.append(time.perf_counter() - started)
                phase.statuses[status] = phase.statuses.get(status, 0) + 1
                phase.tickets += 1

        started = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for _ in range(clients):
                tg.start_soon(worker)
        phase.seconds = time.perf_counter() - started
    return used


def via_service(url: str) -> Callable[[httpx.AsyncClient, str, int], Any]:
    async def one(http: httpx.AsyncClient, email: str, n: int) -> int:
        response = await http.post(
            f"{url}/tickets/customer",
            json={
                "customer_email": email,
                "customer_name": f"Bench Customer {n}",
                "subject": f"Benchmark ticket {n}",
                "description": "Posted by benchmarks/e2e.py",
                "priority": "High",
            },
        )
        return response.status_code

    return one


def old_algorithm(emu: Emulator, token: str) -> Callable[[httpx.AsyncClient, str, int], Any]:
    """The replaced service's way: search, create the contact if none, create the ticket."""
    headers = {"Authorization": f"Zoho-oauthtoken {token}", "orgId": SANDBOX_ORG_ID}
    api = f"{emu.url}/api/v1"

    async def one(http: httpx.AsyncClient, email: str, n: int) -> int:
        found = await http.get(
            f"{api}/contacts/search", params={"email": email, "limit": 50}, headers=headers
        )
        contact_id = None
        if found.status_code == 200:
            for contact in found.json()["data"]:
                if (contact.get("email") or "").lower() == email:
                    contact_id = contact["id"]
                    break
        elif found.status_code != 204:
            return found.status_code
        if contact_id is None:
            created = await http.post(
                f"{api}/contacts",
                json={"lastName": f"Customer {n}", "firstName": "Bench", "email": email},
                headers=headers,
            )
            if created.status_code != 200:
                return created.status_code
            contact_id = created.json()["id"]
        ticket = await http.post(
            f"{api}/tickets",
            json={
                "subject": f"Benchmark ticket {n}",
                "departmentId": SANDBOX_DEPARTMENT_ID,
                "contactId": contact_id,
                "description": "Posted by benchmarks/e2e.py (old algorithm)",
                "priority": "High",
            },
            headers=headers,
        )
        # The service answers 201 for a created ticket; count the old one the same way.
        return 201 if ticket.status_code == 200 else ticket.status_code

    return one


async def measure(
    emu: Emulator,
    algorithm: str,
    customers: str,
    one: Callable[[httpx.AsyncClient, str, int], Any],
    emails: Iterator[str],
    count: int,
    clients: int,
    time_limit: float,
) -> tuple[Phase, list[str]]:
    phase = Phase(algorithm, customers)
    before = emu.calls()
    used = await drive(phase, emails, count, clients, one, time_limit=time_limit)
    after = emu.calls()
    phase.calls = diff(desk_calls(after), desk_calls(before))
    phase.zoho_429 = int(after["by_status"].get("429", 0)) - int(before["by_status"].get("429", 0))
    return phase, used


async def run_service_phases(
    emu: Emulator,
    url: str,
    label: str,
    tag: str,
    clients: int,
    tickets: int,
    time_limit: float,
) -> list[Phase]:
    one = via_service(url)
    # Warm-up: the token, the organization and the department are found once per process.
    warm_up = customer_stream(f"{tag}-w", [], 1)
    await measure(emu, label, "warm-up", one, warm_up, clients, clients, time_limit)
    first, known = await measure(
        emu, label, "first-time", one, customer_stream(f"{tag}-f", [], 1), tickets, clients,
        time_limit,
    )  # fmt: skip
    returning, _ = await measure(
        emu, label, "returning", one, customer_stream(f"{tag}-r", known, 0), tickets * 2,
        clients, time_limit,
    )  # fmt: skip
    mixed, _ = await measure(
        emu, label, "mix 20% new", one, customer_stream(f"{tag}-m", known, 0.2), tickets * 2,
        clients, time_limit,
    )  # fmt: skip
    return [first, returning, mixed]


async def run_old_phases(
    emu: Emulator, clients: int, tickets: int, time_limit: float
) -> list[Phase]:
    one = old_algorithm(emu, emu.access_token())
    label = "old (search, create, ticket)"
    first, known = await measure(
        emu, label, "first-time", one, customer_stream("old-f", [], 1), tickets, clients,
        time_limit,
    )  # fmt: skip
    returning, _ = await measure(
        emu, label, "returning", one, customer_stream("old-r", known, 0), tickets * 2, clients,
        time_limit,
    )  # fmt: skip
    mixed, _ = await measure(
        emu, label, "mix 20% new", one, customer_stream("old-m", known, 0.2), tickets * 2,
        clients, time_limit,
    )  # fmt: skip
    return [first, returning, mixed]


def chart(phases: list[Phase], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = ["first-time", "returning", "mix 20% new"]
    algorithms = list(dict.fromkeys(p.algorithm for p in phases))
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    width = 0.8 / len(algorithms)
    for i, algorithm in enumerate(algorithms):
        mine = {p.customers: p for p in phases if p.algorithm == algorithm}
        rates = [mine[g].rate if g in mine else 0 for g in groups]
        cpt = [mine[g].calls_per_ticket if g in mine else 0 for g in groups]
        xs = [x + i * width for x in range(len(groups))]
        left.bar(xs, rates, width, label=algorithm)
        right.bar(xs, cpt, width, label=algorithm)
    for axis, label in ((left, "tickets/s"), (right, "Zoho calls per ticket")):
        axis.set_xticks([x + width * (len(algorithms) - 1) / 2 for x in range(len(groups))])
        axis.set_xticklabels(groups)
        axis.set_ylabel(label)
        axis.grid(axis="y", alpha=0.3)
    left.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    OUT.mkdir(parents=True, exist_ok=True)
    phases: list[Phase] = []
    variants = [("service", {"ZOHO_INLINE_CONTACT": "false"})]
    if not args.no_inline:
        variants.append(("service, inline contact", {"ZOHO_INLINE_CONTACT": "true"}))
    with contextlib.ExitStack() as stack:
        redis = stack.enter_context(redis_server()) if not args.memory else None
        emu = stack.enter_context(
            emulator(latency=args.latency, max_concurrency=args.emulator_concurrency)
        )
        token_file = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "tokens.json"
        old = await run_old_phases(emu, args.clients, args.tickets, args.time_limit)
        for index, (label, extra) in enumerate(variants):
            env = service_env(
                emu,
                redis_url=redis.url if redis else None,
                token_file=token_file,
                extra={"ZOHO_MAX_CONCURRENCY": str(args.concurrency), **extra},
            )
            with service(["serve", "--no-consumer"], env) as svc:
                phases += await run_service_phases(
                    emu, svc.url, label, f"s{index}", args.clients, args.tickets, args.time_limit
                )
        phases = old + phases
    baseline = {p.customers: p for p in old}
    print(
        f"\nend to end: {args.clients} clients, Zoho latency {args.latency * 1000:.0f} ms, "
        f"ZOHO_MAX_CONCURRENCY={args.concurrency}, emulator max {args.emulator_concurrency} "
        f"in flight, store {'memory' if args.memory else 'redis'}"
    )
    print(table([p.row(baseline.get(p.customers)) for p in phases], HEADERS))
    errors = [e for p in phases for e in p.errors]
    if errors:
        print("errors:", *errors[:5], sep="\n  ")
    chart(phases, OUT / "e2e.png", f"End to end, K={args.clients}, latency {args.latency}s")
    result = {
        "benchmark": "e2e",
        "machine": machine(),
        "params": vars(args),
        "phases": [p.as_json() for p in phases],
    }
    (OUT / "e2e.json").write_text(json.dumps(result, indent=2))
    print(f"chart: {OUT / 'e2e.png'}  figures: {OUT / 'e2e.json'}")
    return result


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--clients", type=int, default=10, help="concurrent clients K (default 10)")
    p.add_argument("--latency", type=float, default=0.1, help="Zoho latency, s (default 0.1)")
    p.add_argument("--tickets", type=int, default=300, help="first-time tickets per run")
    p.add_argument("--concurrency", type=int, default=10, help="ZOHO_MAX_CONCURRENCY")
    p.add_argument("--emulator-concurrency", type=int, default=25, help="emulator's cap")
    p.add_argument("--time-limit", type=float, default=60, help="seconds per phase at most")
    p.add_argument("--memory", action="store_true", help="no Redis: the in-process store")
    p.add_argument("--no-inline", action="store_true", help="skip the inline-contact variant")
    return p


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parser().parse_args(argv)
    return anyio.run(main_async, args)


if __name__ == "__main__":
    main()
