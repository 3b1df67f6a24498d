"""Attachments through real processes: `ticketing serve` on a real Redis against
`ticketing sandbox`, files served by a local web server that counts its connections.

An incident with three files (a URL on an allowed host, inline data, one Zoho finds too
large) gives a ticket with the two good files once each and a note naming the third; the
same with Zoho failing uploads for a while and the serve SIGKILLed while Zoho holds an upload
unanswered; URLs on a host not allowed, or allowed but resolving to a private address, are
refused without the server seeing a connection."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.server
import json
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tests.integration.test_sync_e2e import control, env_for, serving, until
from tests.integration.wired import dumps, incident
from tests.support.processes import free_port, python_module, standalone_emulator, stop

pytestmark = [pytest.mark.slow, pytest.mark.redis]

PASS = b"%PDF-1.4 boarding pass " + bytes(range(256)) * 40  # 10 KiB
PHOTO = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
VIDEO = b"\x00\x00\x00\x18ftypmp42" + b"v" * 300_000  # over the emulator's limit below
ZOHO_LIMIT = 200_000


class Files(http.server.ThreadingHTTPServer):
    """Serves ``files`` (path → (type, bytes)) and counts the connections it accepts."""

    def __init__(self, files: dict[str, tuple[str, bytes]], host: str = "127.0.0.1") -> None:
        self.files = files
        self.connections = 0
        super().__init__((host, free_port()), _Handler)

    def verify_request(self, request: Any, client_address: Any) -> bool:
        self.connections += 1
        return True

    @property
    def base(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: Files

    def do_GET(self) -> None:
        found = self.server.files.get(self.path)
        if found is None:
            self.send_error(404)
            return
        kind, data = found
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def files_served(files: dict[str, tuple[str, bytes]], host: str = "127.0.0.1") -> Iterator[Files]:
    server = Files(files, host)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def attachment_env(emulator_url: str, redis_url: str, prefix: str, tmp: Path) -> dict[str, str]:
    return env_for(
        emulator_url,
        redis_url,
        prefix,
        tmp,
        SYNC_MODE="off",
        ATTACHMENT_ALLOWED_HOSTS="127.0.0.1,localhost",
        ATTACHMENT_ALLOW_PRIVATE_HOSTS="127.0.0.1",
        ATTACHMENT_ALLOW_HTTP="true",
        ZOHO_TIMEOUT="30",
        ZOHO_SEARCH_LAG="1",
    )


def faults(emulator_url: str, **switches: Any) -> None:
    httpx.post(f"{emulator_url}/_emulator/faults", json=switches, timeout=5).raise_for_status()


def send(client: redis.Redis, prefix: str, key: str, attachments: list[dict[str, Any]]) -> None:
    body = incident(key, attachments=attachments)
    client.xadd(f"{prefix}tickets:classify:result", {"payload": dumps(body)})


def ticket_of(client: redis.Redis, prefix: str, key: str) -> str:
    ledger = f"{prefix}ticketing:ledger:{key}"
    found = until(lambda: client.hget(ledger, "ticket_id"), f"the ticket of {key}")
    return str(found.decode())


def stored(emulator_url: str, ticket_id: str) -> list[dict[str, Any]]:
    return list(control(emulator_url, f"tickets/{ticket_id}/attachments")["data"])


def notes(emulator_url: str, ticket_id: str) -> list[str]:
    return [c["plainText"] for c in control(emulator_url, f"tickets/{ticket_id}/comments")["data"]]


def three_files(server: Files) -> list[dict[str, Any]]:
    return [
        {"url": f"{server.base}/pass.pdf", "content_type": "application/pdf"},
        {
            "filename": "photo.png",
            "content_type": "image/png",
            "data": base64.b64encode(PHOTO).decode(),
        },
        {"url": f"{server.base}/video.mp4", "filename": "video.mp4"},
    ]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def settled(emulator_url: str, ticket_id: str) -> tuple[list[dict[str, Any]], list[str]]:
    """The ticket's files and notes once both good files and the note are there."""
    until(
        lambda: len(stored(emulator_url, ticket_id)) >= 2 and notes(emulator_url, ticket_id),
        "the two files and the note",
        within=60,
    )
    return stored(emulator_url, ticket_id), notes(emulator_url, ticket_id)


def assert_two_files_and_a_note(files: list[dict[str, Any]], texts: list[str]) -> None:
    assert sorted((f["name"], f["sha256"]) for f in files) == sorted(
        [("pass.pdf", sha(PASS)), ("photo.png", sha(PHOTO))]
    )
    [note] = texts
    assert "video.mp4: larger than the helpdesk takes" in note


@pytest.fixture
def served() -> Iterator[Files]:
    with files_served(
        {"/pass.pdf": ("application/pdf", PASS), "/video.mp4": ("video/mp4", VIDEO)}
    ) as server:
        yield server


def test_two_good_files_once_each_and_a_note_for_the_one_too_large(
    sync_redis: redis.Redis, real_redis_url: str, key_prefix: str, tmp_path: Path, served: Files
) -> None:
    client = sync_redis
    with standalone_emulator() as emulator_url:
        faults(emulator_url, upload_max_bytes=ZOHO_LIMIT)
        env = attachment_env(emulator_url, real_redis_url, key_prefix, tmp_path)
        with serving(env, tmp_path, free_port()) as url:
            inbound = f"{key_prefix}tickets:classify:result"
            until(lambda: client.exists(inbound) and client.xinfo_groups(inbound), "the group")
            send(client, key_prefix, "wa-att-1", three_files(served))
            send(client, key_prefix, "wa-att-1", three_files(served))  # delivered twice
            ticket_id = ticket_of(client, key_prefix, "wa-att-1")
            files, texts = settled(emulator_url, ticket_id)
            until(lambda: client.xlen(f"{key_prefix}tickets:dead"), "the dead letter")
            metrics = httpx.get(f"{url}/metrics", timeout=5).text
        assert_two_files_and_a_note(files, texts)
        assert len(control(emulator_url, "tickets")["data"]) == 1
        [(_, letter)] = client.xrange(f"{key_prefix}tickets:dead")
        assert b"too_large" in letter[b"reason"]
        assert json.loads(letter[b"payload"])["index"] == 2
        assert client.xlen(f"{key_prefix}ticketing:attachments") == 0
        assert not list(client.scan_iter(match=f"{key_prefix}ticketing:blob:*"))
        assert "ticketing_attachments_uploaded_total 2.0" in metrics
        assert 'ticketing_attachments_refused_total{reason="too_large"} 1.0' in metrics
        assert f"ticketing_attachment_bytes_total {float(len(PASS) + len(PHOTO))}" in metrics


def test_zoho_failing_uploads_and_a_serve_killed_mid_upload_leave_each_file_once(
    sync_redis: redis.Redis, real_redis_url: str, key_prefix: str, tmp_path: Path, served: Files
) -> None:
    client = sync_redis
    with standalone_emulator() as emulator_url:
        faults(emulator_url, upload_max_bytes=ZOHO_LIMIT, upload_fail=2)
        env = attachment_env(emulator_url, real_redis_url, key_prefix, tmp_path)
        port = free_port()
        first = python_module("ticketing", "serve", "--port", str(port), cwd=tmp_path, env=env)
        try:
            inbound = f"{key_prefix}tickets:classify:result"
            until(lambda: client.exists(inbound) and client.xinfo_groups(inbound), "the group")
            send(client, key_prefix, "wa-att-2", three_files(served))
            ticket_id = ticket_of(client, key_prefix, "wa-att-2")
            # Zoho fails the first two uploads (500, nothing stored); then it stores the
            # next one and does not answer: the serve is killed while it waits.
            until(
                lambda: control(emulator_url, "faults")["upload_fail"] == 0,
                "two failed uploads",
                within=60,
            )
            faults(emulator_url, upload_then_hang=1, hang=120)
            until(lambda: stored(emulator_url, ticket_id), "Zoho to hold an upload", within=60)
            os.kill(first.pid, signal.SIGKILL)
            first.wait(timeout=10)
        finally:
            stop(first)
        faults(emulator_url, upload_then_hang=0)
        progress = client.hgetall(f"{key_prefix}ticketing:attachments:wa-att-2")
        assert b"sending" in progress.values(), progress
        with serving(env, tmp_path, free_port()):
            files, texts = settled(emulator_url, ticket_id)
            until(lambda: client.xlen(f"{key_prefix}ticketing:attachments") == 0, "the job done")
        assert_two_files_and_a_note(files, texts)
        assert len(stored(emulator_url, ticket_id)) == 2


def test_urls_not_allowed_or_private_are_refused_without_a_connection(
    sync_redis: redis.Redis, real_redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    """127.0.0.2 is not on ATTACHMENT_ALLOWED_HOSTS; ``localhost`` is, but it resolves to a
    loopback address and is not on ATTACHMENT_ALLOW_PRIVATE_HOSTS: neither server is ever
    connected to, the ticket is made, and the note names both files."""
    client = sync_redis
    with (
        standalone_emulator() as emulator_url,
        files_served({"/a.png": ("image/png", PHOTO)}, host="127.0.0.2") as elsewhere,
        files_served({"/b.png": ("image/png", PHOTO)}) as loopback,
    ):
        env = attachment_env(emulator_url, real_redis_url, key_prefix, tmp_path)
        local = loopback.base.replace("127.0.0.1", "localhost")
        with serving(env, tmp_path, free_port()):
            inbound = f"{key_prefix}tickets:classify:result"
            until(lambda: client.exists(inbound) and client.xinfo_groups(inbound), "the group")
            send(
                client,
                key_prefix,
                "wa-att-3",
                [{"url": f"{elsewhere.base}/a.png"}, {"url": f"{local}/b.png"}],
            )
            ticket_id = ticket_of(client, key_prefix, "wa-att-3")
            [note] = until(lambda: notes(emulator_url, ticket_id), "the note", within=60)
        assert "a.png: from a host the service may not fetch from" in note
        assert "b.png: from a private address the service may not fetch from" in note
        assert (elsewhere.connections, loopback.connections) == (0, 0)
        assert stored(emulator_url, ticket_id) == []
        reasons = [f[b"reason"] for _, f in client.xrange(f"{key_prefix}tickets:dead")]
        assert any(b"host_not_allowed" in r for r in reasons), reasons
        assert any(b"private_address" in r for r in reasons), reasons
