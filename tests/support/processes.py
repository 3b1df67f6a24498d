"""Subprocesses for the tests that run the service or the emulator as a real process: a free
port, stopping a process for sure, and an emulator that is up before the test goes on."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def stop(process: subprocess.Popen[bytes] | subprocess.Popen[str]) -> None:
    """Terminate ``process`` if it still runs (kill it if it will not stop) and reap it."""
    if process.poll() is None:
        process.terminate()
    try:
        process.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()


def python_module(module: str, *argv: str, cwd: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    """Start ``python -m module argv...`` with its output and errors piped, as text."""
    return subprocess.Popen(  # noqa: S603 - our own modules, fixed arguments
        [sys.executable, "-m", module, *argv],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@contextlib.contextmanager
def emulator_process(module: str, *argv: str, port: int, cwd: Path | None = None) -> Iterator[str]:
    """Run ``python -m module argv...``, an emulator listening on ``port``; yields its base URL
    once it answers, and always stops it."""
    process = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
        [sys.executable, "-m", module, *argv],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
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
        stop(process)


@contextlib.contextmanager
def standalone_emulator(*switches: str, port: int | None = None) -> Iterator[str]:
    """Run `ticketing sandbox` in a subprocess; yields its base URL and always stops it."""
    port = port or free_port()
    with emulator_process("ticketing", "sandbox", "--port", str(port), *switches, port=port) as url:
        yield url
