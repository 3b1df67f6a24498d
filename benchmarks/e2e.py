"""Benchmark 1, end to end: K concurrent clients post tickets to a real `ticketing serve` process
against the standalone Zoho emulator with a set latency, for first-time, returning and mixed
customers; the baseline, measured in the same run with the same K and latency, is the old
algorithm (search the contact, create it if none, create the ticket: sequentially, for every
ticket, no cache) driven directly with httpx against the same emulator.

Phone-only customers (WhatsApp) run too: first-time ones, returning ones, and ones Zoho already
has but this service has not seen, their number kept in the contact's ``mobile`` or typed into
its ``phone`` as ``55 1234 5678``; and customers whose first message brings an email and a
phone and whose next one only the phone (what ``ZOHO_INLINE_CONTACT`` costs that next message).
The baseline searches ``phone=`` with the E.164 number, as the old algorithm did: on a strict
Zoho that misses a number kept in ``mobile`` or stored in another format, so it creates a
second contact (the "contacts +" column counts the contacts each phase added to Zoho).

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

from zoho_desk_emulator import (
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
    contacts: int = 0
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
            self.contacts,
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
            "contacts_added": self.contacts,
            "round_rates": [round(r, 2) for r in self.round_rates],
            "x_old": round(self.ratio(baseline), 3) if baseline else None,
        }


HEADERS = ["algorithm", "customers", "tickets", "tickets/s", "p50 ms", "p99 ms",
           "calls/ticket", "x old", "Zoho 429s", "contacts +", "HTTP statuses"]  # fmt: skip


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


_NUMBERS = itertools.count(1)


def new_phone() -> str:
    """A Mexico City mobile never handed out before in this run (E.164). The 8 digits after
    ``55`` are a bijection of a counter, so every number has its own last 8 digits (what the
    service's look-up searches for) and they do not look alike."""
    return f"+5255{next(_NUMBERS) * 48_271 % 10**8:08d}"


def spaced(phone: str) -> str:
    """``+525512345678`` as an agent types it into a contact: ``55 1234 5678``."""
    national = phone.removeprefix("+52")
    return f"{national[:2]} {national[2:6]} {national[6:]}"


def who(customer: str) -> dict[str, str]:
    """A customer key is an email, a phone (``+…``), or both separated by a space."""
    fields = {}
    for part in customer.split():
        fields["customer_phone" if part.startswith("+") else "customer_email"] = part
    return fields


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
    async def one(http: httpx.AsyncClient, customer: str, n: int) -> int:
        body = {
            **who(customer),
            "customer_name": f"Bench Customer {n}",
            "subject": f"Benchmark ticket {n}",
            "description": "Posted by benchmarks/e2e.py",
            "priority": "High",
        }
        if "customer_phone" in body:
            body["channel"] = "WhatsApp"  # where phone-only customers write from
        response = await http.post(f"{url}/tickets/customer", json=body)
        return response.status_code

    return one


def old_algorithm(emu: Emulator, token: str) -> Callable[[httpx.AsyncClient, str, int], Any]:
    """The replaced service's way: search, create the contact if none, create the ticket.
    A phone-only customer is searched with ``phone=`` and the E.164 number only."""
    headers = {"Authorization": f"Zoho-oauthtoken {token}", "orgId": SANDBOX_ORG_ID}
    api = f"{emu.url}/api/v1"

    async def one(http: httpx.AsyncClient, customer: str, n: int) -> int:
        fields = who(customer)
        email = fields.get("customer_email")
        phone = fields.get("customer_phone")
        search = {"email": email} if email else {"phone": phone}
        found = await http.get(
            f"{api}/contacts/search", params={**search, "limit": 50}, headers=headers
        )
        contact_id = None
        if found.status_code == 200:
            for contact in found.json()["data"]:
                if email and (contact.get("email") or "").lower() == email:
                    contact_id = contact["id"]
                    break
                if not email and contact.get("phone") == phone:
                    contact_id = contact["id"]
                    break
        elif found.status_code != 204:
            return found.status_code
        if contact_id is None:
            new = {"lastName": f"Customer {n}", "firstName": "Bench"}
            new |= {"email": email} if email else {}
            new |= {"phone": phone} if phone else {}
            created = await http.post(f"{api}/contacts", json=new, headers=headers)
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
                **({"phone": phone} if phone else {}),
            },
            headers=headers,
        )
        # The service answers 201 for a created ticket; count the old one the same way.
        return 201 if ticket.status_code == 200 else ticket.status_code

    return one


async def seed_contacts(emu: Emulator, token: str, field_name: str, phones: list[str]) -> None:
    """Contacts Zoho already has before the service sees them (outside any measured phase):
    the number in ``mobile`` as Zoho's WhatsApp channel keeps it, or in ``phone`` as an agent
    typed it."""
    headers = {"Authorization": f"Zoho-oauthtoken {token}", "orgId": SANDBOX_ORG_ID}
    limiter = anyio.CapacityLimiter(10)
    async with httpx.AsyncClient(timeout=60) as http:

        async def one(n: int, phone: str) -> None:
            stored = phone if field_name == "mobile" else spaced(phone)
            async with limiter:
                created = await http.post(
                    f"{emu.url}/api/v1/contacts",
                    json={"lastName": f"Seeded {n}", field_name: stored},
                    headers=headers,
                )
            created.raise_for_status()

        async with anyio.create_task_group() as tg:
            for n, phone in enumerate(phones):
                tg.start_soon(one, n, phone)


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
    before, contacts = emu.calls(), emu.state()["contacts"]
    used = await drive(phase, emails, count, clients, one, time_limit=time_limit)
    after = emu.calls()
    phase.contacts = emu.state()["contacts"] - contacts
    phase.calls = diff(desk_calls(after), desk_calls(before))
    phase.zoho_429 = int(after["by_status"].get("429", 0)) - int(before["by_status"].get("429", 0))
    return phase, used


def merge(into: Phase, more: Phase) -> None:
    """Pool one round's phase into the run's totals."""
    into.tickets += more.tickets
    into.seconds += more.seconds
    into.latencies += more.latencies
    into.zoho_429 += more.zoho_429
    into.contacts += more.contacts
    into.errors += more.errors
    for status, count in more.statuses.items():
        into.statuses[status] = into.statuses.get(status, 0) + count
    for endpoint, count in more.calls.items():
        into.calls[endpoint] = into.calls.get(endpoint, 0) + count
    into.round_rates.append(more.rate)


CUSTOMERS = ("first-time", "returning", "mix 20% new")
PHONE_NEW = "phone-only first-time"
PHONE_RETURNING = "phone-only returning"
IN_MOBILE = "phone-only, in Zoho's mobile"
IN_PHONE = "phone-only, in Zoho's phone as 55 1234 5678"
BOTH = "email+phone first-time"
NEXT = "same customers' next, phone-only"
PHONE_CUSTOMERS = (PHONE_NEW, PHONE_RETURNING, IN_MOBILE, IN_PHONE, BOTH, NEXT)


async def interleaved(
    emu: Emulator,
    algorithms: list[tuple[str, Callable[[httpx.AsyncClient, str, int], Any]]],
    args: argparse.Namespace,
    token: str,
) -> list[Phase]:
    """Every algorithm on every kind of customer, round after round, each round's phases
    back to back: a machine that gets busier or quieter meanwhile shifts them all alike."""
    kinds = CUSTOMERS + (() if args.no_phone else PHONE_CUSTOMERS)
    totals = {(a, c): Phase(a, c) for a, _ in algorithms for c in kinds}
    known: dict[tuple[str, str], list[str]] = {}
    counts = {"first-time": args.tickets, "returning": 2 * args.tickets}
    counts["mix 20% new"] = 2 * args.tickets
    shares = {"first-time": 1.0, "returning": 0.0, "mix 20% new": 0.2}
    for number in range(args.rounds):
        for customers in kinds:
            for index, (algorithm, one) in enumerate(algorithms):
                tag = f"a{index}r{number}{customers[0]}"
                count = counts.get(customers, args.tickets)
                emails: Iterator[str]
                if customers in shares:
                    emails = customer_stream(tag, known.get((algorithm, "email"), []),
                                             shares[customers])  # fmt: skip
                elif customers == PHONE_RETURNING:
                    emails = itertools.cycle(known[(algorithm, "phone")])
                elif customers == NEXT:  # this round's email+phone customers, phone only
                    phones = [c.split()[1] for c in known[(algorithm, "both")]]
                    count, emails = len(phones), iter(phones)
                else:
                    fresh = [new_phone() for _ in range(count)]
                    if customers in (IN_MOBILE, IN_PHONE):
                        where = "mobile" if customers == IN_MOBILE else "phone"
                        await seed_contacts(emu, token, where, fresh)
                    elif customers == BOTH:
                        fresh = [f"{tag}-{i}@example.com {p}" for i, p in enumerate(fresh)]
                    emails = iter(fresh)
                phase, used = await measure(
                    emu, algorithm, customers, one, emails, count, args.clients,
                    args.time_limit,
                )  # fmt: skip
                kind = {"first-time": "email", PHONE_NEW: "phone", BOTH: "both"}.get(customers)
                if kind == "both":
                    known[(algorithm, kind)] = used
                elif kind:
                    known.setdefault((algorithm, kind), []).extend(used)
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


def phone_targets(phases: list[Phase], old: str) -> str:
    """Phone-only look-ups and the inline contact's cost to a customer's next message."""
    by = {(p.algorithm, p.customers): p for p in phases}
    if (old, NEXT) not in by:
        return ""

    def per(phase: Phase) -> str:
        contacts = phase.contacts / phase.tickets if phase.tickets else 0.0
        return f"{phase.calls_per_ticket:.2f} calls, {contacts:.2f} new contacts"

    lines = ["phone-only customers, per ticket (the old algorithm searches phone= only):"]
    for label in dict.fromkeys(p.algorithm for p in phases):
        lines.append(f"  {label}:")
        for customers in PHONE_CUSTOMERS:
            phase = by[(label, customers)]
            lines.append(
                f"    {customers}: {per(phase)}, {phase.rate:.1f} tickets/s, "
                f"x old {phase.ratio(by[(old, customers)]):.2f}"
            )
        both, after = by[(label, BOTH)], by[(label, NEXT)]
        if both.tickets and after.tickets:
            lines.append(
                f"    first two messages (email+phone, then phone only): "
                f"{both.calls_per_ticket + after.calls_per_ticket:.2f} calls, "
                f"{(both.contacts / both.tickets) + (after.contacts / after.tickets):.2f} contacts "
                "per customer"
            )
    return "\n".join(lines)


def chart(phases: list[Phase], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = list(dict.fromkeys(p.customers for p in phases))
    algorithms = list(dict.fromkeys(p.algorithm for p in phases))
    fig, (left, right) = plt.subplots(1, 2, figsize=(4 + 1.6 * len(groups), 5.5))
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
        axis.set_xticklabels(groups, rotation=30, ha="right", fontsize=7)
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
        token = emu.access_token()
        algorithms = [(old, old_algorithm(emu, token))]
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
        phases = await interleaved(emu, algorithms, args, token)
    baseline = {p.customers: p for p in phases if p.algorithm == old}
    print(
        f"\nend to end: {args.clients} clients, Zoho latency {args.latency * 1000:.0f} ms, "
        f"ZOHO_MAX_CONCURRENCY={args.concurrency}, emulator max {args.emulator_concurrency} "
        f"in flight, store {'memory' if args.memory else 'redis'}, {args.rounds} rounds "
        "(x old: median of the rounds' ratios)"
    )
    print(table([p.row(baseline.get(p.customers)) for p in phases], HEADERS))
    print(targets(phases, old))
    print(phone_targets(phases, old))
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
    p.add_argument("--no-phone", action="store_true", help="skip the phone-only customers")
    return p


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parser().parse_args(argv)
    return anyio.run(main_async, args)


if __name__ == "__main__":
    main()
