"""Redis memory stays flat: incidents through a real `ticketing worker`, with a short
LEDGER_RETENTION, and Redis's memory before and after.

A private redis-server, the standalone emulator and one worker, all on loopback. A warm-up of
incidents (1% of them malformed, some oversized) brings every structure to its steady state;
then N more go through; after the retention has passed and the worker has trimmed, INFO memory
and the key counts are compared with the warm-up's. Run:

    uv run python benchmarks/memory.py [--incidents 10000] [--retention 10]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import emulator, redis_server, service, service_env, table, wait_until

OVERSIZED = 300 * 1024  # beyond the 256 KiB message limit


def incident(n: int, run: str) -> str:
    return json.dumps(
        {
            "incident_id": f"{run}-{n}",
            # A new customer each time: the contact cache grows too, and must expire.
            "customer": {"name": "Ana López", "email": f"ana+{run}-{n}@example.com"},
            "subject": f"Pago no reflejado {n}",
            "description": "Hola, pagué ayer mi reserva y no me llega la confirmación. " * 4,
            "priority": "alta",
            "channel": "WhatsApp",
        }
    )


def oversized(n: int, run: str) -> str:
    """A message over the limit, each one different (the same one twice is buried once)."""
    return f"{run}-{n} " + "x" * OVERSIZED


def publish(client: Any, stream: str, count: int, run: str) -> int:
    """XADD ``count`` messages: 1% malformed (a tenth of those oversized). Returns how many
    are valid incidents."""
    valid = 0
    pipe = client.pipeline(transaction=False)
    for n in range(count):
        if n % 100 == 99:
            body = oversized(n, run) if n % 1000 == 999 else f"not json {{ {run}-{n}"
        else:
            body = incident(n, run)
            valid += 1
        pipe.xadd(stream, {"payload": body})
        if n % 500 == 499:
            pipe.execute()
    pipe.execute()
    return valid


def publish_malformed(client: Any, stream: str, count: int, run: str) -> None:
    pipe = client.pipeline(transaction=False)
    for n in range(count):
        body = oversized(n, run) if n % 10 == 9 else f"not json {{ {run}-bad-{n}"
        pipe.xadd(stream, {"payload": body})
    pipe.execute()


def figures(client: Any, stream: str) -> dict[str, int]:
    info = client.info("memory")
    keys = {"ledger": 0, "contact": 0, "raw digests": 0, "other": 0}
    for key in client.scan_iter(count=1000):
        name = key.decode()
        if ":ledger:" in name:
            keys["ledger"] += 1
        elif ":contact:" in name:
            keys["contact"] += 1
        elif ":raw:" in name:
            keys["raw digests"] += 1
        else:
            keys["other"] += 1
    sizes = sorted(
        ((int(client.memory_usage(k, samples=0) or 0), k.decode()) for k in client.scan_iter()),
        reverse=True,
    )
    print(
        "  largest keys:",
        ", ".join(f"{name} {size:,} B" for size, name in sizes[:6]),
        file=sys.stderr,
    )
    dead = int(client.memory_usage("tickets:dead", samples=0) or 0)
    return {
        "used_memory": int(info["used_memory"]),
        "dead letters B": dead,
        "all but dead letters": int(info["used_memory"]) - dead,
        "dataset": int(client.memory_stats().get("dataset.bytes", 0)),
        "inbound entries": int(client.xlen(stream)) if client.exists(stream) else 0,
        "created events": int(client.xlen("tickets:created"))
        if client.exists("tickets:created")
        else 0,
        "dead letters": int(client.xlen("tickets:dead")) if client.exists("tickets:dead") else 0,
        **{f"{k} keys": v for k, v in keys.items()},
    }


def created_count(client: Any) -> int:
    return int(client.xinfo_stream("tickets:created")["entries-added"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument("--warmup", type=int, default=2_000)
    parser.add_argument("--retention", type=int, default=10, help="LEDGER_RETENTION, seconds")
    args = parser.parse_args()
    stream = "tickets:classify:result"
    with redis_server() as redis, emulator(latency=0) as emu:
        client = redis.client()
        empty = figures(client, stream)
        extra = {
            "LEDGER_RETENTION": str(args.retention),
            "CONTACT_CACHE_TTL": str(args.retention),
            "DEAD_LETTER_MAXLEN": "100",
            # Reclaim (and so trim) every few seconds instead of every two minutes.
            "QUEUE_ATTEMPT_TIMEOUT": "3",
            "QUEUE_RETRY_INTERVAL": "1",
            "ZOHO_MAX_CONCURRENCY": "25",
            "LOG_LEVEL": "error",
        }
        token_file = Path(tempfile.mkdtemp(prefix="bench-mem-")) / "tokens.json"
        env = service_env(emu, redis_url=redis.url, token_file=token_file, extra=extra)
        rows = [["empty Redis", *empty.values()]]
        with service(["worker"], env, http=False):
            # Its group must exist before anything is published (a group created at the end
            # of a stream skips what is there).
            wait_until(
                lambda: bool(client.exists(stream)) and bool(client.xinfo_groups(stream)),
                "the worker's consumer group",
                timeout=60,
            )
            done = 0
            for label, count, run in (
                ("after warm-up", args.warmup, "warm"),
                (f"after {args.incidents:,} more", args.incidents, "main"),
            ):
                started = time.monotonic()
                if run == "warm":
                    # Fill the dead letters to their cap first, at the same mix of oversized.
                    publish_malformed(client, stream, 150, run)
                done += publish(client, stream, count, run)
                wait_until(
                    lambda done=done: (
                        bool(client.exists("tickets:created")) and created_count(client) >= done
                    ),
                    f"{done} tickets created",
                    timeout=1800,
                )
                took = time.monotonic() - started
                print(f"{count:,} messages handled in {took:.0f}s", file=sys.stderr)
                peak = figures(client, stream)
                rows.append([f"{label}, before the retention", *peak.values()])
                # The retention, then two trim rounds (every 2 x QUEUE_ATTEMPT_TIMEOUT).
                time.sleep(args.retention + 2 * 6 + 2)
                # One more incident: its created event trims the events past the retention.
                done += publish(client, stream, 1, f"{run}-tick")
                wait_until(lambda done=done: created_count(client) >= done, "the tick", timeout=60)
                time.sleep(1)
                rows.append([f"{label}, retention passed", *figures(client, stream).values()])
        print(table(rows, ["", *empty.keys()]))
        steady = rows[2]
        final = rows[4]
        for column, name in ((1, "used_memory"), (3, "used_memory less the dead letters")):
            growth = final[column] - steady[column]
            print(
                f"{name}: after the warm-up {steady[column]:,} B, after {args.incidents:,} more "
                f"{final[column]:,} B: {growth:+,} B "
                f"({growth / max(1, args.incidents):+.1f} B per incident)"
            )
        print(
            "The dead letters are capped in number (DEAD_LETTER_MAXLEN, here 100, about) and in "
            "size (256 KiB each), not in time: their bytes follow the mix of the last ones."
        )


if __name__ == "__main__":
    main()
