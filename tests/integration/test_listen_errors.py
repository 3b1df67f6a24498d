"""`ticketing serve` and `ticketing sandbox` where they cannot listen (a busy port, a HOST that
is no address): one line naming the address and what to do, exit 2, and nothing said about
listening (issue 16). Real processes: the refusal comes from the real bind."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.processes import free_port

pytestmark = pytest.mark.slow


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port another process's socket listens on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def ticketing(tmp_path: Path, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The CLI as an operator runs it, in a directory without a .env, sandbox mode, no Redis."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ZOHO_", "REDIS_"))}
    base.pop("HOST", None)
    base.pop("PORT", None)
    return subprocess.run(  # noqa: S603 - our own module
        [sys.executable, "-m", "ticketing", *argv],
        env={**base, **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def refused(done: subprocess.CompletedProcess[str]) -> str:
    """The one line of a refusal to start: exit 2, no traceback, no "listening"."""
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "listening" not in done.stdout + done.stderr
    assert "emulator on" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_serve_on_a_busy_port_says_so_in_one_line_and_exits_2(
    tmp_path: Path, busy_port: int
) -> None:
    line = refused(ticketing(tmp_path, "serve", "--port", str(busy_port)))
    assert line.startswith(f"ticketing: cannot listen on 127.0.0.1:{busy_port}: ")
    assert "already in use" in line
    assert "--port" in line


def test_serve_on_a_busy_port_from_the_environment(tmp_path: Path, busy_port: int) -> None:
    line = refused(ticketing(tmp_path, "serve", PORT=str(busy_port)))
    assert f"127.0.0.1:{busy_port}" in line
    assert "already in use" in line


def test_serve_with_a_host_that_is_no_address_exits_2(tmp_path: Path) -> None:
    line = refused(ticketing(tmp_path, "serve", HOST="not a host", PORT=str(free_port())))
    assert line.startswith("ticketing: cannot listen on 'not a host' port ")
    assert "set HOST (or --host)" in line


def test_serve_with_a_port_out_of_range_is_a_usage_error(tmp_path: Path) -> None:
    line = refused(ticketing(tmp_path, "serve", "--port", "70000"))
    assert "expected a port from 1 to 65535, got 70000" in line


def test_sandbox_on_a_busy_port_says_so_in_one_line_and_exits_2(
    tmp_path: Path, busy_port: int
) -> None:
    line = refused(ticketing(tmp_path, "sandbox", "--port", str(busy_port)))
    assert line.startswith(f"ticketing sandbox: cannot listen on 127.0.0.1:{busy_port}: ")
    assert "already in use" in line


def test_sandbox_with_a_host_that_is_no_address_exits_2(tmp_path: Path) -> None:
    line = refused(ticketing(tmp_path, "sandbox", "--host", "not a host", "--port", "8900"))
    assert "cannot listen on 'not a host' port 8900" in line
