"""The benchmarks' moving parts: a private Redis, the standalone Zoho emulator, `ticketing serve`
and `ticketing worker` as real processes on loopback, and the figures they report.

Every process is started here on a free 127.0.0.1 port and stopped by its own pid when the
context manager exits; nothing is sent anywhere but loopback.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from zoho_desk_emulator import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_REFRESH_TOKEN,
)

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # fields[0] is the state (3rd field of stat): utime and stime are the 14th and 15th.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    redis = "none"
    if shutil.which("redis-server"):
        out = subprocess.run(
            ["redis-server", "--version"], capture_output=True, text=True, check=False
        ).stdout
        redis = out.split()[2].removeprefix("v=") if out else "unknown"
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "python": platform.python_version(),
        "redis": redis,
        "os": platform.platform(terse=True),
    }


def wait_until(check: Any, what: str, timeout: float = 20.0, process: Any = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            err = process.stderr.read().decode(errors="replace") if process.stderr else ""
            raise RuntimeError(f"{what} exited with {process.returncode}: {err[-2000:]}")
        with contextlib.suppress(Exception):
            if check():
                return
        time.sleep(0.05)
    raise TimeoutError(f"{what} did not come up within {timeout}s")


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    """Stop one process we started, by its pid: the signal, then a kill after 10 s."""
    if process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


@contextlib.contextmanager
def redis_server() -> Iterator[RedisServer]:
    """A private, throw-away redis-server (no persistence) on a free port."""
    if not shutil.which("redis-server"):
        raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="bench-redis-")
    process = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        import redis

        client = redis.Redis(port=port)
        wait_until(client.ping, "redis-server", process=process)
        client.close()
        yield RedisServer(url=f"redis://127.0.0.1:{port}/0", port=port, process=process)
    finally:
        stop(process)
        shutil.rmtree(workdir, ignore_errors=True)


@dataclass
class RedisServer:
    url: str
    port: int
    process: subprocess.Popen[bytes]

    def client(self) -> Any:
        import redis

        return redis.Redis(port=self.port)

    def cpu(self) -> float:
        return cpu_seconds(self.process.pid)


@dataclass
class Emulator:
    """The standalone emulator process and its control API."""

    url: str
    process: subprocess.Popen[bytes]
    latency: float
    max_concurrency: int
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=60))

    def state(self) -> dict[str, Any]:
        return dict(self.http.get(f"{self.url}/_emulator/state").json())

    def calls(self) -> dict[str, Any]:
        return dict(self.http.get(f"{self.url}/_emulator/calls").json())

    def faults(self, **switches: Any) -> None:
        self.http.post(f"{self.url}/_emulator/faults", json=switches).raise_for_status()

    def cpu(self) -> float:
        return cpu_seconds(self.process.pid)

    def access_token(self) -> str:
        """One refresh (of the 10 per 10 minutes the emulator allows) for direct callers."""
        response = self.http.post(
            f"{self.url}/oauth/v2/token",
            data={
                "grant_type": "refresh_token",
                "client_id": SANDBOX_CLIENT_ID,
                "client_secret": SANDBOX_CLIENT_SECRET,
                "refresh_token": SANDBOX_REFRESH_TOKEN,
            },
        )
        return str(response.json()["access_token"])


@contextlib.contextmanager
def emulator(
    *, latency: float, max_concurrency: int = 25, credits_per_day: int = 10_000_000
) -> Iterator[Emulator]:
    """`python -m zoho_desk_emulator` on a free port."""
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "zoho_desk_emulator",
        "--port",
        str(port),
        "--max-concurrency",
        str(max_concurrency),
        "--credits-per-day",
        str(credits_per_day),
    ]
    if latency:
        argv += ["--latency", str(latency)]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    emu = Emulator(f"http://127.0.0.1:{port}", process, latency, max_concurrency)
    try:
        wait_until(emu.state, "the Zoho emulator", process=process)
        yield emu
    finally:
        emu.http.close()
        stop(process)


def service_env(
    emu: Emulator,
    *,
    redis_url: str | None,
    token_file: Path,
    extra: Mapping[str, str] = (),  # type: ignore[assignment]
) -> dict[str, str]:
    """The environment of a service pointed at the standalone emulator (fake credentials)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ZOHO_", "REDIS_", "QUEUE_", "API_KEYS", "TICKET_"))
    }
    env.update(
        {
            "ZOHO_ACCOUNTS_URL": emu.url,
            "ZOHO_DESK_URL": emu.url,
            "ZOHO_CLIENT_ID": SANDBOX_CLIENT_ID,
            "ZOHO_CLIENT_SECRET": SANDBOX_CLIENT_SECRET,
            "ZOHO_REFRESH_TOKEN": SANDBOX_REFRESH_TOKEN,
            "ZOHO_TOKEN_FILE": str(token_file),
            "LOG_LEVEL": "warning",
            "ENVIRONMENT": "development",
        }
    )
    if redis_url:
        env["REDIS_URL"] = redis_url
    env.update(dict(extra))
    return env


@dataclass
class Service:
    url: str
    process: subprocess.Popen[bytes]

    def cpu(self) -> float:
        return cpu_seconds(self.process.pid)


@contextlib.contextmanager
def service(
    command: Sequence[str],
    env: Mapping[str, str],
    *,
    http: bool = True,
    python_module: bool = True,
) -> Iterator[Service]:
    """`python -m ticketing <command>` (serve or worker) in a scratch directory (no .env);
    with ``python_module=False`` the command is the whole argument list after ``python``."""
    port = free_port()
    argv = [sys.executable, *(["-m", "ticketing"] if python_module else []), *command]
    if http:
        argv += ["--port", str(port)]
    workdir = tempfile.mkdtemp(prefix="bench-svc-")
    process = subprocess.Popen(
        argv, env=dict(env), cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    svc = Service(f"http://127.0.0.1:{port}", process)
    try:
        if http:
            wait_until(
                lambda: httpx.get(f"{svc.url}/health", timeout=2).status_code == 200,
                "ticketing " + " ".join(command),
                timeout=30,
                process=process,
            )
        yield svc
    finally:
        died = process.poll()  # before it was asked to stop: say so, whatever the code
        stop(process, signal.SIGINT)
        shutil.rmtree(workdir, ignore_errors=True)
        expected = (0, 130, -signal.SIGINT, -signal.SIGTERM)
        if (died is not None or process.returncode not in expected) and process.stderr:
            when = " before it was stopped" if died is not None else ""
            print(f"ticketing {' '.join(command)} exited with {process.returncode}{when}:",
                  file=sys.stderr)  # fmt: skip
            print(process.stderr.read().decode(errors="replace")[-3000:], file=sys.stderr)


DESK_PREFIX = "/api/v1/"


def desk_calls(calls: Mapping[str, Any]) -> dict[str, int]:
    """Desk API calls by endpoint (the OAuth and control endpoints left out)."""
    return {
        endpoint: count
        for endpoint, count in calls["by_endpoint"].items()
        if endpoint.split(" ", 1)[1].startswith(DESK_PREFIX)
    }


def diff(after: Mapping[str, int], before: Mapping[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"
        return str(value)

    cells = [[str(h) for h in headers]] + [[cell(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
