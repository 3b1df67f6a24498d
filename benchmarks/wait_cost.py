"""What REDIS_WAIT_REPLICAS costs per ticket: acceptances on a Sentinel-managed primary with one
replica (all on loopback, started here), with WAIT off and on, in the same run.

Each round accepts fresh tickets through the store (``RedisTicketStore.accept``, as the HTTP and
inbound paths do), one at a time (the latency a caller sees) and many at once (the throughput
of one process); rounds alternate off / on so that the machine's noise falls on both.

    uv run python benchmarks/wait_cost.py                 # 400 sequential, 2000 concurrent
    uv run python benchmarks/wait_cost.py --tickets 1000 --concurrency 32
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ticketing.adapters.clock import SystemClock
from ticketing.adapters.redis.connection import connect
from ticketing.adapters.redis.replication import ReplicaWait
from ticketing.adapters.redis.store import RedisTicketStore

from tests.contract.test_store_contract import make_draft
from tests.support.processes import free_port
from tests.support.redis_sentinel import MASTER_NAME, SentinelTopology


async def round_trip(store: RedisTicketStore, keys: list[str], concurrency: int) -> float:
    """Seconds to accept every key, ``concurrency`` at a time."""
    limit = asyncio.Semaphore(concurrency)

    async def one(key: str) -> None:
        async with limit:
            await store.accept(make_draft(key))

    started = time.perf_counter()
    await asyncio.gather(*(one(k) for k in keys))
    return time.perf_counter() - started


async def measure(url: str, tickets: int, concurrency: int, rounds: int) -> dict[str, list[float]]:
    client = connect(url, mode="sentinel", sentinel_master=MASTER_NAME)
    prefix = f"waitbench{uuid.uuid4().hex[:6]}:"
    stores = {
        "off": RedisTicketStore(client, SystemClock(), prefix=prefix),
        "on": RedisTicketStore(
            client,
            SystemClock(),
            prefix=prefix,
            replicas=ReplicaWait(client, anchor=f"{prefix}tickets:pending", replicas=1, timeout=1),
        ),
    }
    per_ticket: dict[str, list[float]] = {f"{m} {k}": [] for m in stores for k in ("1", "N")}
    try:
        await round_trip(stores["off"], [f"warm-{n}" for n in range(50)], 8)
        for r in range(rounds):
            for mode, store in stores.items():
                keys = [f"{mode}-{r}-s{n}" for n in range(tickets // 5)]
                per_ticket[f"{mode} 1"].append(await round_trip(store, keys, 1) / len(keys))
                keys = [f"{mode}-{r}-c{n}" for n in range(tickets)]
                seconds = await round_trip(store, keys, concurrency)
                per_ticket[f"{mode} N"].append(seconds / len(keys))
    finally:
        await client.flushdb()
        await client.aclose()
    return per_ticket


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=2000, help="per concurrent round")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ticketing-wait-") as directory:
        topology = SentinelTopology(
            Path(directory),
            data_ports=(free_port(), free_port()),
            sentinel_ports=(free_port(), free_port(), free_port()),
        )
        try:
            topology.start()
            figures = asyncio.run(
                measure(topology.url(0), args.tickets, args.concurrency, args.rounds)
            )
        finally:
            topology.stop()
    median = {name: statistics.median(values) for name, values in figures.items()}
    print("acceptance per ticket (median of rounds), primary + 1 replica on loopback")
    print("  REDIS_WAIT_REPLICAS  one at a time   16 at once".replace("16", str(args.concurrency)))
    for mode in ("off", "on"):
        flag = "1" if mode == "on" else "0"
        print(
            f"  {flag:>19}  {median[f'{mode} 1'] * 1e3:>10.3f} ms  "
            f"{median[f'{mode} N'] * 1e3:>9.3f} ms"
        )
    print(
        f"  ratio on/off         {median['on 1'] / median['off 1']:>10.2f}x  "
        f"{median['on N'] / median['off N']:>9.2f}x"
    )
    print(f"machine: {platform.machine()}, Python {platform.python_version()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
