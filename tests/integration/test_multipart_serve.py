"""Multipart tickets through real processes (issue 15): `ticketing serve` on a real Redis
against `ticketing sandbox`, sent as `curl -F` sends them. Two files land on the ticket once
each; a 25 MiB file, streamed by the client, is refused with 413 while the serve's peak
memory stays put (it reads the body as it comes and stops at the limit)."""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tests.integration.test_sync_e2e import control, env_for, until
from tests.support.http import OLD_FORM
from tests.support.processes import free_port, python_module, standalone_emulator, stop

pytestmark = [pytest.mark.slow, pytest.mark.redis]

MIB = 1024 * 1024
BOUNDARY = "----ticketing-serve-boundary"
# What the serve's peak RSS may grow by while refusing a 25 MiB upload (measured: see README).
RSS_BOUND = 15 * MIB


@contextlib.contextmanager
def serve(env: dict[str, str], tmp: Path) -> Iterator[tuple[str, int]]:
    """`ticketing serve` until it answers: its URL and pid; always stopped."""
    port = free_port()
    process = python_module("ticketing", "serve", "--port", str(port), cwd=tmp, env=env)
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        if process.poll() is not None:
            _, err = process.communicate()
            raise AssertionError(f"serve stopped: {err[-3000:]}")
        try:
            return httpx.get(f"{url}/health/live", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        until(answers, "ticketing serve to answer")
        yield url, process.pid
    finally:
        stop(process)


def peak_rss(pid: int) -> int:
    """The process's peak resident set size so far (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc/<pid>/status")


def streamed_form(fields: dict[str, str], filename: str, size: int) -> Iterator[bytes]:
    """A multipart body as curl -F writes it, made as it is sent: the file's bytes are
    never whole in the client's memory either."""
    for name, value in fields.items():
        yield (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        ).encode()
    yield (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"'
        "\r\nContent-Type: video/mp4\r\n\r\n"
    ).encode()
    block = b"\x07" * (64 * 1024)
    for _ in range(size // len(block)):
        yield block
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


def post_streamed(url: str, body: Iterator[bytes]) -> httpx.Response | None:
    """The body sent chunked (no Content-Length); None when the server closed the
    connection before the client finished sending (it stopped reading: a refusal too)."""
    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    try:
        return httpx.post(f"{url}/tickets/customer", content=body, headers=headers, timeout=60)
    except (httpx.WriteError, httpx.RemoteProtocolError, httpx.ReadError):
        return None


def test_two_files_land_once_and_25_mib_is_refused_within_the_memory_bound(
    sync_redis: redis.Redis, real_redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    photo = bytes(range(256)) * 1200  # 300 KiB: stays in the spool's memory
    video = b"\x05" * (2 * MIB + 17)  # past 1 MiB: spooled to disk
    with standalone_emulator() as emulator_url:
        env = env_for(emulator_url, real_redis_url, key_prefix, tmp_path, SYNC_MODE="off")
        with serve(env, tmp_path) as (url, pid):
            created = httpx.post(
                f"{url}/tickets/customer",
                data=OLD_FORM,
                files=[
                    ("file", ("foto.png", photo, "image/png")),
                    ("file", ("video.mp4", video, "video/mp4")),
                ],
                timeout=30,
            )
            assert created.status_code == 201, created.text
            ticket_id = created.json()["ticket_id"]

            def on_ticket() -> list[dict[str, Any]]:
                found: list[dict[str, Any]] = control(
                    emulator_url, f"tickets/{ticket_id}/attachments"
                )["data"]
                return found if len(found) >= 2 else []

            until(on_ticket, "the two files on the ticket")
            time.sleep(1.5)  # another pass would add a duplicate now
            files = control(emulator_url, f"tickets/{ticket_id}/attachments")["data"]
            assert sorted((f["name"], int(f["size"]), f["sha256"]) for f in files) == sorted(
                [
                    ("foto.png", len(photo), hashlib.sha256(photo).hexdigest()),
                    ("video.mp4", len(video), hashlib.sha256(video).hexdigest()),
                ]
            )
            # the staged bytes are gone once uploaded
            assert not list(sync_redis.scan_iter(match=f"{key_prefix}ticketing:blob:*"))

            before = peak_rss(pid)
            answer = post_streamed(url, streamed_form(OLD_FORM, "big.mp4", 25 * MIB))
            after = peak_rss(pid)
            print(  # the figure the README quotes (run with -s)
                f"serve VmHWM {before / MIB:.1f} MiB before, {after / MIB:.1f} MiB after a "
                f"25 MiB upload: +{(after - before) / MIB:.2f} MiB"
            )
            assert answer is not None, "the serve closed before answering"
            assert answer.status_code == 413, answer.text
            refusal = answer.json()
            assert (refusal["error"], refusal["field"]) == ("too_large", "file")
            assert "'big.mp4'" in refusal["message"]
            assert str(20 * MIB) in refusal["message"]
            assert after - before < RSS_BOUND, f"+{(after - before) / MIB:.1f} MiB"
            # nothing was accepted: still the one ticket, nothing staged
            assert len(control(emulator_url, "tickets")["data"]) == 1
            assert not list(sync_redis.scan_iter(match=f"{key_prefix}ticketing:blob:*"))

            def oversized_json() -> Iterator[bytes]:  # chunked: no Content-Length to check
                yield b'{"customer_email": "a@example.com", "subject": "s", "description": "'
                for _ in range(64):
                    yield b"d" * 8192
                yield b'"}'

            refused = httpx.post(
                f"{url}/tickets/customer",
                content=oversized_json(),
                headers={"Content-Type": "application/json"},
                timeout=30,
            )
            assert refused.status_code == 413, refused.text
            assert refused.json()["error"] == "too_large"
