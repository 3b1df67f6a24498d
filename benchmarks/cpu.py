"""Benchmark 3, the service's own CPU per ticket: a zero-latency Zoho emulator in another process,
K clients posting tickets for returning customers (and first-time ones) to `ticketing serve`,
and the CPU time the service process, the emulator and Redis spent (from /proc/<pid>/stat).

The same-run yardstick is the emulator's CPU per Desk call: it is a Litestar app on the same
Python, so "service CPU per ticket / emulator CPU per call" is a ratio that travels between
machines better than milliseconds do.

    uv run python benchmarks/cpu.py [--tickets 2000] [--clients 10] [--memory] [--profile]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))

from e2e import customer_stream, measure, via_service
from harness import (
    OUT,
    emulator,
    machine,
    redis_server,
    service,
    service_env,
    table,
)

HEADERS = ["store", "customers", "tickets", "tickets/s", "calls/ticket", "service ms CPU/ticket",
           "emulator ms CPU/call", "service/emulator", "redis ms CPU/ticket"]  # fmt: skip


async def one_store(args: argparse.Namespace, use_redis: bool) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack:
        redis = stack.enter_context(redis_server()) if use_redis else None
        emu = stack.enter_context(emulator(latency=0.0, max_concurrency=1000))
        token_file = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "tokens.json"
        env = service_env(
            emu,
            redis_url=redis.url if redis else None,
            token_file=token_file,
            extra={"ZOHO_MAX_CONCURRENCY": str(args.clients)},
        )
        command = ["serve", "--no-consumer"]
        if args.profile:
            OUT.mkdir(parents=True, exist_ok=True)
            profile = OUT / f"profile-{'redis' if use_redis else 'memory'}.pyisession"
            command = ["-m", "pyinstrument", "-r", "pyisession", "-o", str(profile), "-m",
                       "ticketing", *command]  # fmt: skip
        with service(command, env, python_module=not args.profile) as svc:
            one = via_service(svc.url)
            tag = "r" if use_redis else "m"
            await measure(emu, "warm", "warm", one, customer_stream(f"{tag}w", [], 1), 20, 5, 60)
            known: list[str] = []
            for customers, share, count in (
                ("first-time", 1.0, args.tickets // 4),
                ("returning", 0.0, args.tickets),
            ):
                cpu0, emu0 = svc.cpu(), emu.cpu()
                redis0 = redis.cpu() if redis else 0.0
                emails = customer_stream(f"{tag}{customers[0]}", known, share)
                phase, used = await measure(
                    emu, "service", customers, one, emails, count, args.clients, args.time_limit
                )
                if share == 1.0:
                    known = used
                service_cpu = svc.cpu() - cpu0
                emulator_cpu = emu.cpu() - emu0
                redis_cpu = (redis.cpu() - redis0) if redis else 0.0
                per_ticket = service_cpu / phase.tickets * 1000
                per_call = emulator_cpu / max(1, phase.desk_calls) * 1000
                rows.append(
                    {
                        "store": "redis" if use_redis else "memory",
                        "customers": customers,
                        "tickets": phase.tickets,
                        "tickets_per_s": round(phase.rate, 1),
                        "calls_per_ticket": round(phase.calls_per_ticket, 3),
                        "service_ms_cpu_per_ticket": round(per_ticket, 3),
                        "emulator_ms_cpu_per_call": round(per_call, 3),
                        "ratio": round(per_ticket / per_call, 2) if per_call else None,
                        "redis_ms_cpu_per_ticket": round(redis_cpu / phase.tickets * 1000, 3),
                        "statuses": phase.statuses,
                    }
                )
    return rows


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    stores = [False] if args.memory else [True, False]
    for use_redis in stores:
        rows += await one_store(args, use_redis)
    print(
        f"\nservice CPU per ticket: zero-latency emulator, {args.clients} clients, "
        f"{args.tickets} returning-customer tickets per store"
    )
    print(
        table(
            [
                [
                    r["store"],
                    r["customers"],
                    r["tickets"],
                    r["tickets_per_s"],
                    r["calls_per_ticket"],
                    r["service_ms_cpu_per_ticket"],
                    r["emulator_ms_cpu_per_call"],
                    r["ratio"],
                    r["redis_ms_cpu_per_ticket"],
                ]
                for r in rows
            ],
            HEADERS,
        )
    )
    result = {"benchmark": "cpu", "machine": machine(), "params": vars(args), "rows": rows}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "cpu.json").write_text(json.dumps(result, indent=2))
    if args.profile:
        from profile_summary import render

        for kind in ("redis", "memory") if not args.memory else ("memory",):
            path = OUT / f"profile-{kind}.pyisession"
            if path.exists():
                print(f"\nprofile of the service, {kind} store ({path}):")
                print(render(path))
    return result


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--tickets", type=int, default=2000, help="returning-customer tickets")
    p.add_argument("--clients", type=int, default=10, help="concurrent clients")
    p.add_argument("--time-limit", type=float, default=90, help="seconds per phase at most")
    p.add_argument("--memory", action="store_true", help="only the in-process store")
    p.add_argument("--profile", action="store_true", help="run the service under pyinstrument")
    return p


def main(argv: list[str] | None = None) -> dict[str, Any]:
    return anyio.run(main_async, parser().parse_args(argv))


if __name__ == "__main__":
    main()
