"""Integration fixtures: a standalone Zoho Desk emulator on a free loopback port."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence

import httpx
import pytest


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def standalone_emulator(*switches: str, port: int | None = None) -> Iterator[str]:
    """Run `ticketing sandbox` in a subprocess; yields its base URL and always stops it."""
    port = port or free_port()
    argv: Sequence[str] = [sys.executable, "-m", "ticketing", "sandbox", "--port", str(port)]
    process = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
        [*argv, *switches], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{url}/_emulator/state", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if process.poll() is not None or time.monotonic() > deadline:
                    _, err = process.communicate(timeout=5)
                    raise RuntimeError(f"emulator did not start: {err.decode()[-2000:]}") from None
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        try:
            process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


@pytest.fixture
def emulator_url() -> Iterator[str]:
    """A standalone emulator with no faults."""
    with standalone_emulator() as url:
        yield url
