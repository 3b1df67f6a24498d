"""Run every performance benchmark (end to end, drain, CPU per ticket) and write a Markdown
report of the run to benchmarks/out/report.md, with the machine and the command.

    uv run python benchmarks/run.py            # all three, a few minutes each on 2 cores
    uv run python benchmarks/run.py --quick    # smaller counts, for a smoke test

Each benchmark also runs on its own: benchmarks/e2e.py, benchmarks/drain.py, benchmarks/cpu.py
(``--help`` lists their knobs). Charts and JSON figures go to benchmarks/out/ (gitignored).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cpu
import drain
import e2e
from harness import OUT, machine


def markdown(results: dict[str, dict[str, Any]], argv: list[str], seconds: float) -> str:
    info = machine()
    lines = [
        "## Machine and command",
        "",
        f"- `{' '.join(['uv run python benchmarks/run.py', *argv])}` ({seconds / 60:.1f} min)",
        f"- {info['nproc']} CPUs: {info['cpu']}; Python {info['python']}; "
        f"Redis {info['redis']}; {info['os']}",
        "",
    ]
    if "e2e" in results:
        r = results["e2e"]
        p = r["params"]
        lines += [
            f"## End to end (K={p['clients']} clients, Zoho latency {p['latency'] * 1000:.0f} ms, "
            f"ZOHO_MAX_CONCURRENCY={p['concurrency']}, {p['rounds']} interleaved rounds)",
            "",
            "| algorithm | customers | tickets | tickets/s | p50 ms | p99 ms | calls/ticket "
            "| x old (same customers) | Zoho 429s | contacts + |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for ph in r["phases"]:
            lines.append(
                f"| {ph['algorithm']} | {ph['customers']} | {ph['tickets']} | "
                f"{ph['tickets_per_s']} | {ph['p50_ms']} | {ph['p99_ms']} | "
                f"{ph['calls_per_ticket']} | {ph['x_old']} | {ph['zoho_429']} | "
                f"{ph['contacts_added']} |"
            )
        lines.append("")
    if "drain" in results:
        r = results["drain"]
        p = r["params"]
        lines += [
            f"## Drain (Zoho latency {p['latency'] * 1000:.0f} ms, emulator cap {p['cap']} in "
            f"flight, {p['customers']} customers per {p['tickets']} tickets)",
            "",
            "| run | workers | ZOHO_MAX_CONCURRENCY | tickets | Zoho calls | calls/ticket | "
            "bound s | drain s | bound/drain | Zoho 429s | worker ms CPU/ticket |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for run in r["runs"]:
            lines.append(
                f"| {run['run']} | {run['workers']} | {run['cap_each']} | {run['done']} | "
                f"{run['desk_calls']} | {run['calls_per_ticket']} | {run['bound_s']} | "
                f"{run['drain_s']} | {run['efficiency']} | {run['zoho_429']} | "
                f"{run['worker_cpu_ms_per_ticket']} |"
            )
        lines.append("")
    if "cpu" in results:
        r = results["cpu"]
        lines += [
            f"## Service CPU per ticket (zero-latency emulator, {r['params']['clients']} clients)",
            "",
            "| store | customers | tickets | tickets/s | calls/ticket | service ms CPU/ticket | "
            "emulator ms CPU/call | service / emulator | Redis ms CPU/ticket |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for row in r["rows"]:
            lines.append(
                f"| {row['store']} | {row['customers']} | {row['tickets']} | "
                f"{row['tickets_per_s']} | {row['calls_per_ticket']} | "
                f"{row['service_ms_cpu_per_ticket']} | {row['emulator_ms_cpu_per_call']} | "
                f"{row['ratio']} | {row['redis_ms_cpu_per_ticket']} |"
            )
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small counts (a smoke test)")
    parser.add_argument("--only", choices=["e2e", "drain", "cpu"], action="append")
    args = parser.parse_args(argv)
    raw = list(sys.argv[1:] if argv is None else argv)
    chosen = args.only or ["e2e", "drain", "cpu"]
    started = time.monotonic()
    results: dict[str, dict[str, Any]] = {}
    if "e2e" in chosen:
        results["e2e"] = e2e.main(["--tickets", "30", "--rounds", "1"] if args.quick else [])
    if "drain" in chosen:
        quick = ["--tickets", "1000", "--customers", "100", "--control-tickets", "300"]
        results["drain"] = drain.main(quick if args.quick else [])
    if "cpu" in chosen:
        results["cpu"] = cpu.main(["--tickets", "300"] if args.quick else [])
    report = markdown(results, raw, time.monotonic() - started)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "report.md").write_text(report + "\n")
    print(f"\nreport: {OUT / 'report.md'}")


if __name__ == "__main__":
    main()
