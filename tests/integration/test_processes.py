"""Real processes: three instances sharing Redis refresh once, `auth setup` as an operator runs
it, and the long-running commands stop on Ctrl-C without a traceback."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

import httpx
import msgspec
import pytest
import redis

from ticketing.domain.ports import TokenSet
from zoho_desk_emulator import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_REDIRECT_URI,
    SANDBOX_REFRESH_TOKEN,
)

from tests.support.env import SANDBOX_CLIENT, zoho_at
from tests.support.processes import emulator_process, free_port, python_module, stop

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
CLIENT_ID = "1000.FAKEPROCESSCLIENT"
SECRET = "fake-process-secret"


@contextlib.contextmanager
def emulator(
    client_id: str = SANDBOX_CLIENT_ID,
    secret: str = SANDBOX_CLIENT_SECRET,
    redirect_uri: str = SANDBOX_REDIRECT_URI,
    delay: float = 0.0,
) -> Iterator[str]:
    """A standalone emulator process (with a client of the test's) on a free port."""
    port = free_port()
    argv = [str(port), client_id, secret, redirect_uri, str(delay)]
    with emulator_process("tests.integration.emulator_process", *argv, port=port, cwd=REPO) as url:
        yield url


def service_env(url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a service process: ours, without any inherited service settings."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("ZOHO_", "REDIS_"))}
    ours = zoho_at(
        url,
        **SANDBOX_CLIENT,
        ZOHO_TOKEN_FILE=str(tmp_path / "tokens.json"),
        LOG_LEVEL="warning",
    )
    return {**keep, **ours, **extra}


def ticketing(
    env: dict[str, str], cwd: Path, *argv: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run the CLI as an operator would (in a directory without a .env)."""
    return subprocess.run(  # noqa: S603 - our own module
        [sys.executable, "-m", "ticketing", *argv],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def sync_redis(real_redis_url: str, key_prefix: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(real_redis_url)
    try:
        yield client
    finally:
        for key in client.scan_iter(match=f"{key_prefix}*"):
            client.delete(key)
        client.close()


@pytest.mark.redis
def test_three_processes_sharing_redis_refresh_an_expired_token_once(
    real_redis_url: str, key_prefix: str, sync_redis: redis.Redis, tmp_path: Path
) -> None:
    """Three service processes, each with 20 callers, find the shared token expired at the
    same moment while a refresh takes 0.3 s: the emulator counts one refresh, every process
    ends up with the same token, and a later CLI command reuses it."""
    with emulator(delay=0.3) as url:
        expired = TokenSet(
            refresh_token=SANDBOX_REFRESH_TOKEN,
            access_token="1000.fake-expired-access-token",
            expires_at=datetime.now(UTC) - timedelta(minutes=5),
            accounts_url=url,
        )
        sync_redis.set(f"{key_prefix}ticketing:oauth:tokens", msgspec.json.encode(expired))
        env = service_env(url, tmp_path, REDIS_URL=real_redis_url, REDIS_KEY_PREFIX=key_prefix)
        go = tmp_path / "go"
        processes = [
            python_module("tests.integration.token_process", str(go), cwd=REPO, env=env)
            for _ in range(3)
        ]
        try:
            outputs = [(Lines(p.stdout), Lines(p.stderr)) for p in processes]
            for out, _ in outputs:
                assert out.wait_for("\n").strip() == "ready"
            go.touch()
            for process in processes:
                process.wait(timeout=PATIENCE)
            results = [(out.rest().removeprefix("ready\n"), err.rest()) for out, err in outputs]
        finally:
            for process in processes:
                stop(process)
        done = [out.strip().split() for out, _ in results]
        assert all(d[0] == "done" for d in done), results
        assert {d[1] for d in done} == {"1"}  # one token within each process
        assert len({d[2] for d in done}) == 1  # the same token in every process
        assert sum(int(d[3]) for d in done) == 1  # one refresh, by one of them
        assert {d[4] for d in done} == {"2"}
        state = httpx.get(f"{url}/_emulator/state").json()
        assert state["token_refreshes"] == 1

        whoami = ticketing(env, tmp_path, "whoami", "--json")
        assert whoami.returncode == 0, whoami.stderr
        assert json.loads(whoami.stdout)["org_id"] == "900000001"
        assert httpx.get(f"{url}/_emulator/state").json()["token_refreshes"] == 1


@pytest.mark.redis
def test_auth_setup_as_an_operator_runs_it(
    real_redis_url: str, key_prefix: str, sync_redis: redis.Redis, tmp_path: Path
) -> None:
    """`ticketing auth setup --no-browser` prints the URL; a browser elsewhere approves; the
    tokens land in Redis; auth status and doctor then report a healthy set-up."""
    redirect = f"http://127.0.0.1:{free_port()}/callback"
    with emulator(CLIENT_ID, SECRET, redirect) as url:
        env = service_env(
            url,
            tmp_path,
            ZOHO_CLIENT_ID=CLIENT_ID,
            ZOHO_CLIENT_SECRET=SECRET,
            ZOHO_REDIRECT_URI=redirect,
            REDIS_URL=real_redis_url,
            REDIS_KEY_PREFIX=key_prefix,
        )
        setup = python_module(
            "ticketing", "auth", "setup", "--no-browser", "--json", cwd=tmp_path, env=env
        )
        try:
            setup_out, setup_err = Lines(setup.stdout), Lines(setup.stderr)
            printed = setup_err.wait_for("/oauth/v2/auth?")
            consent_url = next(w for w in printed.split() if "/oauth/v2/auth?" in w)
            consent = httpx.get(consent_url)  # the person approves at Zoho
            assert consent.status_code == 302
            callback = consent.headers["location"]
            assert urlsplit(callback).netloc == urlsplit(redirect).netloc
            page = httpx.get(callback, timeout=30)  # the browser follows to the callback
            setup.wait(timeout=PATIENCE)
            out, err = setup_out.rest(), setup_err.rest()
        finally:
            stop(setup)
        assert setup.returncode == 0, err
        assert page.status_code == 200
        result = json.loads(out)
        assert result["store"].startswith(f"redis key {key_prefix}ticketing:oauth:tokens at ")
        assert result["agent"]["name"] == "Sandbox Agent"
        assert sync_redis.get(f"{key_prefix}ticketing:oauth:tokens") is not None

        status = ticketing(env, tmp_path, "auth", "status", "--json")
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["authorized"] is True
        doctor = ticketing(env, tmp_path, "doctor")
        assert doctor.returncode == 0, doctor.stdout + doctor.stderr
        assert "all checks passed" in doctor.stdout
        assert SECRET not in out + err + status.stdout + doctor.stdout


# A busy machine (a full suite next to other work) starts a Python process in seconds, not
# milliseconds: every wait below is for a condition, with this much time before it fails.
PATIENCE = 60.0


class Lines:
    """One pipe of a process read by a thread as it comes: a test waits for a line with a
    real deadline (a blocking ``readline`` has none, and hangs when nothing is printed) and
    still gets the whole text at the end."""

    def __init__(self, pipe: IO[str] | None) -> None:
        assert pipe is not None
        self._pipe = pipe
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for line in iter(self._pipe.readline, ""):
            with self._lock:
                self._lines.append(line)

    @property
    def text(self) -> str:
        with self._lock:
            return "".join(self._lines)

    def wait_for(self, text: str, timeout: float = PATIENCE) -> str:
        """Everything read up to the first line holding ``text``; fails after ``timeout``
        seconds or when the pipe closes first."""
        deadline = time.monotonic() + timeout
        while text not in self.text:
            if not self._thread.is_alive() and text not in self.text:
                raise AssertionError(f"the process ended without printing {text!r}: {self.text}")
            if time.monotonic() > deadline:
                raise AssertionError(f"never printed {text!r} in {timeout:g}s: {self.text}")
            time.sleep(0.02)
        return self.text

    def rest(self, timeout: float = PATIENCE) -> str:
        """The whole text, once the pipe has closed (the process ended)."""
        self._thread.join(timeout)
        assert not self._thread.is_alive(), f"the pipe stayed open {timeout:g}s: {self.text}"
        return self.text


def wait_until_answers(url: str, timeout: float = PATIENCE) -> None:
    """Poll ``url`` until it answers at all (any status); fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            assert time.monotonic() < deadline, f"{url} did not answer in {timeout:g}s"
            time.sleep(0.05)


@pytest.mark.parametrize("command", ["serve", "worker"])
@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_ctrl_c_stops_the_long_running_commands_without_a_traceback(
    command: str, stop_signal: signal.Signals, tmp_path: Path
) -> None:
    """serve and worker (sandbox mode) stop on SIGINT (Ctrl-C) and on SIGTERM (docker stop,
    Kubernetes) with no traceback on stderr; SIGTERM is a clean stop, exit status 0.

    The signal goes once the process has fully started (its HTTP port answers: the API for
    serve, the probes on METRICS_PORT for worker), never after a fixed time: a busy machine
    may take seconds to get there."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZOHO_", "REDIS_"))}
    env["LOG_LEVEL"] = "info"
    port = free_port()
    if command == "serve":
        argv = ["serve", "--port", str(port)]
    else:
        argv = ["worker"]
        env["METRICS_PORT"] = str(port)
    process = python_module("ticketing", *argv, cwd=tmp_path, env=env)
    stderr = Lines(process.stderr)
    try:
        stderr.wait_for("SANDBOX MODE")
        wait_until_answers(f"http://127.0.0.1:{port}/health/live")
        process.send_signal(stop_signal)
        process.wait(timeout=PATIENCE)
        err = stderr.rest()
    finally:
        stop(process)
    assert "Traceback" not in err
    if stop_signal == signal.SIGTERM:
        # The worker stops cleanly; uvicorn (serve) shuts down cleanly, then re-raises the
        # SIGTERM it caught, as its own documentation says.
        assert process.returncode in ((0,) if command == "worker" else (0, -signal.SIGTERM)), err
        assert ("SIGTERM: stopping" if command == "worker" else "shutdown complete") in err
        return
    assert process.returncode in (0, 130), err
    if process.returncode == 130:
        assert err.rstrip().splitlines()[-1] == "ticketing: interrupted"


@pytest.mark.redis
@pytest.mark.slow
def test_serve_sharing_another_deployments_stream_is_refused_in_one_line(
    sync_redis: redis.Redis, real_redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    """Another deployment (another REDIS_KEY_PREFIX) reads the inbound stream this one names:
    `ticketing serve` stops before listening, with one line saying how to fix it and exit 2,
    not the server's start-up traceback."""
    stream = f"{key_prefix}shared:classify"
    sync_redis.hset(f"{stream}:owners", "ticket-service", f"{key_prefix}a:")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZOHO_", "REDIS_", "INBOUND_"))}
    env.update(
        REDIS_URL=real_redis_url,
        REDIS_KEY_PREFIX=f"{key_prefix}b:",
        INBOUND_STREAM=stream,
        PORT=str(free_port()),
    )
    done = ticketing(env, tmp_path, "serve")
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"ticketing: INBOUND_STREAM: {stream} (ticket-service)")
    assert "Traceback" not in done.stderr
    assert "listening" not in done.stdout + done.stderr
