"""Benchmark 2, the drain: 10,000 tickets queued in a private Redis, drained by `ticketing worker`
against the standalone Zoho emulator with a latency and a concurrency cap. The figure is how
close the drain runs to the bound ``Zoho calls x latency / concurrency`` (the calls measured from
the emulator's log), and how many 429s Zoho answered (target: none when ZOHO_MAX_CONCURRENCY is
the emulator's cap).

Runs: one worker; two workers sharing Redis (the fleet-wide limiter keeps them under the cap
together); and, as the control, two workers allowed twice the cap between them (what two
per-process limiters sized to Zoho's cap amount to), which Zoho answers with 429s. The control
drains fewer tickets (--control-tickets), since it is slow by design.

    uv run python benchmarks/drain.py [--tickets 10000] [--latency 0.1] [--cap 20] [--no-control]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (
    OUT,
    Emulator,
    desk_calls,
    emulator,
    machine,
    redis_server,
    service,
    service_env,
    table,
)

from ticketing.adapters.clock import SystemClock
from ticketing.adapters.redis.connection import connect
from ticketing.adapters.redis.store import RedisTicketStore
from ticketing.application.intake import IntakePolicy, customer_ticket

HEADERS = ["run", "workers", "cap each", "tickets", "Zoho calls", "calls/ticket", "bound s",
           "drain s", "bound/drain", "Zoho 429s", "left", "worker ms CPU/ticket"]  # fmt: skip


async def fill(redis_url: str, tickets: int, customers: int, tag: str) -> float:
    """Queue ``tickets`` drafts for ``customers`` customers; seconds it took."""
    client = connect(redis_url)
    store = RedisTicketStore(client, SystemClock())
    clock = SystemClock()
    started = time.perf_counter()
    try:
        limiter = anyio.CapacityLimiter(64)

        async def one(n: int) -> None:
            draft = customer_ticket(
                customer_name=f"Customer {n % customers}",
                customer_email=f"{tag}-{n % customers}@example.com",
                customer_phone=None,
                subject=f"Backlog ticket {n}",
                description="Queued by benchmarks/drain.py while Zoho was down",
                priority="Medium",
                category=None,
                channel=None,
                key=f"{tag}-{n}",
                received_at=clock.now(),
                policy=IntakePolicy(),
            )
            async with limiter:
                await store.accept(draft)

        async with anyio.create_task_group() as tg:
            for n in range(tickets):
                tg.start_soon(one, n)
    finally:
        await client.aclose()
    return time.perf_counter() - started


def pending(redis_url: str) -> int:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        return int(client.xlen("tickets:pending"))
    finally:
        client.close()


def call_window(calls: dict[str, Any], latency: float, since: int) -> float:
    """Seconds from the start of the first Desk call to the end of the last one."""
    times = [
        datetime.strptime(c["at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()
        for c in calls["calls"][since:]
        if c["path"].startswith("/api/v1/")
    ]
    if not times:
        return float("nan")
    return max(times) - min(times) + latency  # `at` is stamped when a call ends


async def one_run(
    args: argparse.Namespace, label: str, workers: int, cap_each: int, tickets: int
) -> dict[str, Any]:
    with contextlib.ExitStack() as stack:
        redis = stack.enter_context(redis_server())
        emu: Emulator = stack.enter_context(
            emulator(latency=args.latency, max_concurrency=args.cap)
        )
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        tag = "".join(ch for ch in label.split()[0] if ch.isalnum())
        customers = max(1, tickets * args.customers // args.tickets)
        filled = await fill(redis.url, tickets, customers, tag)
        print(f"  {label}: queued {tickets} tickets in {filled:.1f}s", flush=True)
        env = service_env(
            emu,
            redis_url=redis.url,
            token_file=tmp / "tokens.json",
            extra={
                "ZOHO_MAX_CONCURRENCY": str(cap_each),
                "QUEUE_RETRY_INTERVAL": "0.5",
                "ZOHO_INLINE_CONTACT": "true" if args.inline else "false",
            },
        )
        since = len(emu.calls()["calls"])
        started = time.monotonic()
        command = ["worker"]
        if args.profile:
            profile = OUT / f"profile-drain-{tag}.pyisession"
            command = ["-m", "pyinstrument", "-r", "pyisession", "-o", str(profile), "-m",
                       "ticketing", "worker"]  # fmt: skip
        workers_cpu: list[Any] = []
        for _ in range(workers):
            svc = stack.enter_context(
                service(command, env, http=False, python_module=not args.profile)
            )
            workers_cpu.append(svc)
        deadline = started + args.time_limit
        left = pending(redis.url)
        while left and time.monotonic() < deadline:
            await anyio.sleep(0.25)
            left = pending(redis.url)
        wall = time.monotonic() - started
        worker_cpu = sum(w.cpu() for w in workers_cpu)
        calls = emu.calls()
        desk = desk_calls(calls)
        total = sum(desk.values())
        throttled = sum(
            1
            for c in calls["calls"][since:]
            if c["path"].startswith("/api/v1/") and c["status"] == 429
        )
        drained = call_window(calls, args.latency, since)
        bound = total * args.latency / args.cap
        done = tickets - left
        return {
            "run": label,
            "workers": workers,
            "cap_each": cap_each,
            "emulator_cap": args.cap,
            "tickets": tickets,
            "done": done,
            "left": left,
            "desk_calls": total,
            "calls": desk,
            "calls_per_ticket": round(total / max(1, done), 3),
            "bound_s": round(bound, 2),
            "drain_s": round(drained, 2),
            "wall_s": round(wall, 2),
            "efficiency": round(bound / drained, 3) if drained else None,
            "zoho_429": throttled,
            "worker_cpu_ms_per_ticket": round(worker_cpu / max(1, done) * 1000, 3),
        }


def chart(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axis = plt.subplots(figsize=(8, 4))
    labels = [f"{r['run']}\n{r['done']:,} tickets" for r in rows]
    axis.bar(labels, [r["drain_s"] for r in rows], label="drain time")
    axis.bar(labels, [r["bound_s"] for r in rows], width=0.3, label="bound: calls x latency / cap")
    for i, r in enumerate(rows):
        note = f"{r['efficiency']:.0%} of the bound, {r['zoho_429']} x 429"
        axis.annotate(note, (i, r["drain_s"]), ha="center", va="bottom", fontsize=8)
    axis.set_ylabel("seconds")
    axis.set_ylim(0, max(r["drain_s"] for r in rows) * 1.15)
    axis.legend(loc="lower center", fontsize=8)
    axis.set_title("Draining the backlog against Zoho's concurrency limit")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    runs = [
        ("one worker", 1, args.cap, args.tickets),
        ("two workers, shared cap", 2, args.cap, args.tickets),
    ]
    if not args.no_control:
        runs.append(("control: 2x the cap", 2, args.cap * 2, args.control_tickets))
    if args.only:
        runs = [r for r in runs if r[0].startswith(args.only)]
    print(
        f"drain: {args.tickets} tickets from {args.customers} customers, Zoho latency "
        f"{args.latency * 1000:.0f} ms, emulator cap {args.cap} in flight",
        flush=True,
    )
    rows = [await one_run(args, *run) for run in runs]
    print(
        table(
            [
                [
                    r["run"],
                    r["workers"],
                    r["cap_each"],
                    r["done"],
                    r["desk_calls"],
                    r["calls_per_ticket"],
                    r["bound_s"],
                    r["drain_s"],
                    r["efficiency"],
                    r["zoho_429"],
                    r["left"],
                    r["worker_cpu_ms_per_ticket"],
                ]
                for r in rows
            ],
            HEADERS,
        )
    )
    chart(rows, OUT / "drain.png")
    result = {"benchmark": "drain", "machine": machine(), "params": vars(args), "runs": rows}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "drain.json").write_text(json.dumps(result, indent=2))
    print(f"chart: {OUT / 'drain.png'}  figures: {OUT / 'drain.json'}")
    if args.profile:
        from profile_summary import render

        for path in sorted(OUT.glob("profile-drain-*.pyisession")):
            print(f"\nprofile of a worker ({path}):")
            print(render(path))
    return result


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--tickets", type=int, default=10_000)
    p.add_argument("--customers", type=int, default=1_000, help="distinct customers")
    p.add_argument("--latency", type=float, default=0.1, help="Zoho latency, s (default 0.1)")
    p.add_argument("--cap", type=int, default=20, help="emulator's cap = ZOHO_MAX_CONCURRENCY")
    p.add_argument("--inline", action="store_true", help="ZOHO_INLINE_CONTACT=true")
    p.add_argument("--no-control", action="store_true", help="skip the 2x-the-cap control")
    p.add_argument("--control-tickets", type=int, default=1_000, help="tickets in the control")
    p.add_argument("--time-limit", type=float, default=300, help="seconds per run at most")
    p.add_argument("--profile", action="store_true", help="run the workers under pyinstrument")
    p.add_argument("--only", choices=["one", "two", "control"], help="run only this one")
    return p


def main(argv: list[str] | None = None) -> dict[str, Any]:
    return anyio.run(main_async, parser().parse_args(argv))


if __name__ == "__main__":
    main()
