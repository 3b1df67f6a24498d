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
import statistics
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
    round_rates: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.tickets / self.seconds if self.seconds else 0.0

    @property
    def desk_calls(self) -> int:
        return sum(self.calls.values())

    @property
    def calls_per_ticket(self) -> float:
        return self.desk_calls / self.tickets if self.tickets else float("nan")

    def ratio(self, baseline: Phase | None) -> float:
        """Throughput over the baseline's: the median of the rounds' ratios (each round's
        two phases ran back to back), or of the pooled rates with a single round."""
        if baseline is None or not baseline.rate:
            return float("nan")
        pairs = zip(self.round_rates, baseline.round_rates, strict=False)
        ratios = [mine / theirs for mine, theirs in pairs if theirs]
        return statistics.median(ratios) if ratios else self.rate / baseline.rate

    def row(self, baseline: Phase | None) -> list[Any]:
        ratio = self.ratio(baseline)
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

    def as_json(self, baseline: Phase | None = None) -> dict[str, Any]:
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
            "round_rates": [round(r, 2) for r in self.round_rates],
            "x_old": round(self.ratio(baseline), 3) if baseline else None,
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


def merge(into: Phase, more: Phase) -> None:
    """Pool one round's phase into the run's totals."""
    into.tickets += more.tickets
    into.seconds += more.seconds
    into.latencies += more.latencies
    into.zoho_429 += more.zoho_429
    into.errors += more.errors
    for status, count in more.statuses.items():
        into.statuses[status] = into.statuses.get(status, 0) + count
    for endpoint, count in more.calls.items():
        into.calls[endpoint] = into.calls.get(endpoint, 0) + count
    into.round_rates.append(more.rate)


CUSTOMERS = ("first-time", "returning", "mix 20% new")


async def interleaved(
    emu: Emulator,
    algorithms: list[tuple[str, Callable[[httpx.AsyncClient, str, int], Any]]],
    args: argparse.Namespace,
) -> list[Phase]:
    """Every algorithm on every kind of customer, round after round, each round's phases
    back to back: a machine that gets busier or quieter meanwhile shifts them all alike."""
    totals = {(a, c): Phase(a, c) for a, _ in algorithms for c in CUSTOMERS}
    known: dict[str, list[str]] = {a: [] for a, _ in algorithms}
    counts = {"first-time": args.tickets, "returning": 2 * args.tickets}
    counts["mix 20% new"] = 2 * args.tickets
    shares = {"first-time": 1.0, "returning": 0.0, "mix 20% new": 0.2}
    for number in range(args.rounds):
        for customers in CUSTOMERS:
            for index, (algorithm, one) in enumerate(algorithms):
                tag = f"a{index}r{number}{customers[0]}"
                emails = customer_stream(tag, known[algorithm], shares[customers])
                phase, used = await measure(
                    emu, algorithm, customers, one, emails, counts[customers], args.clients,
                    args.time_limit,
                )  # fmt: skip
                if customers == "first-time":
                    known[algorithm] += used
                merge(totals[(algorithm, customers)], phase)
        print(f"  round {number + 1}/{args.rounds} done", flush=True)
    return list(totals.values())


def targets(phases: list[Phase], old: str) -> str:
    """The issue's targets, from this run's figures."""
    by = {(p.algorithm, p.customers): p for p in phases}
    lines = ["targets (measured):"]
    for label in dict.fromkeys(p.algorithm for p in phases if p.algorithm != old):
        returning = by[(label, "returning")]
        first = by[(label, "first-time")]
        lines += [
            f"  {label}: Zoho calls per ticket, returning customers "
            f"{returning.calls_per_ticket:.3f} (target <= 1.05)",
            f"  {label}: Zoho calls per ticket, first-time customers "
            f"{first.calls_per_ticket:.3f} against the old algorithm's "
            f"{by[(old, 'first-time')].calls_per_ticket:.3f} (target: no worse)",
            f"  {label}: first-time customers' throughput x old "
            f"{first.ratio(by[(old, 'first-time')]):.2f}",
            f"  {label}: returning customers x old {returning.ratio(by[(old, 'returning')]):.2f}"
            " (the old algorithm finds a returning customer's contact: 2 calls, so 2x bounds"
            " this)",
            f"  {label}: returning customers x old's 3-call path (its first-time customers) "
            f"{returning.ratio(by[(old, 'first-time')]):.2f} (target >= 2.7)",
        ]
    return "\n".join(lines)


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
    variants = [("service", {"ZOHO_INLINE_CONTACT": "false"})]
    if not args.no_inline:
        variants.append(("service, inline contact", {"ZOHO_INLINE_CONTACT": "true"}))
    with contextlib.ExitStack() as stack:
        redis = stack.enter_context(redis_server()) if not args.memory else None
        emu = stack.enter_context(
            emulator(latency=args.latency, max_concurrency=args.emulator_concurrency)
        )
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        old = "old (search, create, ticket)"
        algorithms = [(old, old_algorithm(emu, emu.access_token()))]
        for index, (label, extra) in enumerate(variants):
            # Both services run side by side, each with its own keys and queue in Redis.
            names = {
                "REDIS_KEY_PREFIX": f"v{index}:",
                "TICKET_QUEUE_NAME": f"v{index}:tickets:pending",
                "TICKET_DEAD_LETTER_NAME": f"v{index}:tickets:dead",
                "TICKET_CREATED_NAME": f"v{index}:tickets:created",
            }
            env = service_env(
                emu,
                redis_url=redis.url if redis else None,
                token_file=tmp / f"tokens-{index}.json",
                extra={"ZOHO_MAX_CONCURRENCY": str(args.concurrency), **names, **extra},
            )
            svc = stack.enter_context(service(["serve", "--no-consumer"], env))
            one = via_service(svc.url)
            # Warm-up: the token, the organization and the department, once per process.
            warm = customer_stream(f"warm{index}", [], 1)
            await measure(emu, label, "warm-up", one, warm, args.clients, args.clients, 60)
            algorithms.append((label, one))
        phases = await interleaved(emu, algorithms, args)
    baseline = {p.customers: p for p in phases if p.algorithm == old}
    print(
        f"\nend to end: {args.clients} clients, Zoho latency {args.latency * 1000:.0f} ms, "
        f"ZOHO_MAX_CONCURRENCY={args.concurrency}, emulator max {args.emulator_concurrency} "
        f"in flight, store {'memory' if args.memory else 'redis'}, {args.rounds} rounds "
        "(x old: median of the rounds' ratios)"
    )
    print(table([p.row(baseline.get(p.customers)) for p in phases], HEADERS))
    print(targets(phases, old))
    errors = [e for p in phases for e in p.errors]
    if errors:
        print("errors:", *errors[:5], sep="\n  ")
    chart(phases, OUT / "e2e.png", f"End to end, K={args.clients}, latency {args.latency}s")
    result = {
        "benchmark": "e2e",
        "machine": machine(),
        "params": vars(args),
        "phases": [p.as_json(baseline.get(p.customers)) for p in phases],
    }
    (OUT / "e2e.json").write_text(json.dumps(result, indent=2))
    print(f"chart: {OUT / 'e2e.png'}  figures: {OUT / 'e2e.json'}")
    return result


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--clients", type=int, default=10, help="concurrent clients K (default 10)")
    p.add_argument("--latency", type=float, default=0.1, help="Zoho latency, s (default 0.1)")
    p.add_argument("--tickets", type=int, default=100, help="first-time tickets per round")
    p.add_argument("--rounds", type=int, default=5, help="rounds (default 5)")
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
