"""A body refused before it is read (413 over MAX_BODY_BYTES, 401 without the API key) through a
real `ticketing serve`, from a raw socket: the client, still sending its 5 MB, always reads the
whole refusal, never a connection reset (issue 16). The server reads and drops the rest of the
body before it closes, so the kernel never answers the client's bytes with a reset."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.support.http import OLD_FORM
from tests.support.processes import free_port, python_module, stop

pytestmark = pytest.mark.slow

API_KEY = "fake-test-key-0123456789"
BODY_SIZE = 5 * 1024 * 1024
CHUNK = 64 * 1024
REPEATS = 20


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """`ticketing serve` in sandbox mode (in-memory store, no Redis) with an API key; its
    port once it answers."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZOHO_", "REDIS_"))}
    env.update(API_KEYS=API_KEY, MAX_BODY_BYTES="262144", LOG_LEVEL="warning")
    env.pop("HOST", None)
    port = free_port()
    process = python_module(
        "ticketing", "serve", "--port", str(port), cwd=tmp_path_factory.mktemp("serve"), env=env
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.communicate()[1][-3000:]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=1).is_success:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "ticketing serve did not answer in 60 s"
            time.sleep(0.1)
        yield port
    finally:
        stop(process)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: dict[str, object]


def read_answer(sock: socket.socket) -> Answer:
    """One whole HTTP answer with a Content-Length (a refusal has one), read from ``sock``;
    fails on a reset or a short read."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the server closed before its answer was whole: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    length = int(headers["content-length"])
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, f"the server closed before its answer was whole: {body!r}"
        body += chunk
    return Answer(int(status_line.split()[1]), headers, json.loads(body[:length]))


def post_big(
    port: int, *, chunked: bool, pause: float, close: bool, key: str | None = API_KEY
) -> Answer:
    """POST 5 MB of JSON-ish bytes to /tickets/customer, sent in 64 KiB pieces (``pause``
    seconds between them), then read the answer: every send and the read must succeed."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        head = [
            "POST /tickets/customer HTTP/1.1",
            f"Host: 127.0.0.1:{port}",
            "Content-Type: application/json",
            "Transfer-Encoding: chunked" if chunked else f"Content-Length: {BODY_SIZE}",
        ]
        if key:
            head.append(f"Authorization: Bearer {key}")
        if close:
            head.append("Connection: close")
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        piece = b"x" * CHUNK
        for _ in range(BODY_SIZE // CHUNK):
            sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            if pause:
                time.sleep(pause)
        if chunked:
            sock.sendall(b"0\r\n\r\n")
        return read_answer(sock)


def assert_too_large(answer: Answer) -> None:
    assert answer.status == 413, answer
    assert answer.body["error"] == "too_large", answer
    assert answer.headers.get("connection") == "close", answer


@pytest.mark.parametrize("close", [False, True], ids=["keep-alive", "connection-close"])
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_5_mb_body_sent_in_full_always_reads_the_413(
    server: int, chunked: bool, close: bool
) -> None:
    """20 times in a row, a client that sends all of its 5 MB (declared or chunked, asking to
    keep the connection or to close it) reads the whole 413 afterwards; then a normal request
    on a new connection is created."""
    for _ in range(REPEATS):
        assert_too_large(post_big(server, chunked=chunked, pause=0, close=close))
    created = httpx.post(
        f"http://127.0.0.1:{server}/tickets/customer",
        data=OLD_FORM,
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=30,
    )
    assert created.status_code == 201, created.text


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_slow_sender_reads_the_413_too(server: int, chunked: bool) -> None:
    """A client that sends its 5 MB slowly (a pause after every 64 KiB) reads the 413."""
    for _ in range(3):
        assert_too_large(post_big(server, chunked=chunked, pause=0.005, close=True))


def test_a_declared_content_length_is_refused_before_the_body_is_sent(server: int) -> None:
    """Content-Length over MAX_BODY_BYTES: the 413 comes before one byte of the body is sent,
    whole and readable; the client may then hang up."""
    with socket.create_connection(("127.0.0.1", server), timeout=10) as sock:
        sock.sendall(
            (
                "POST /tickets/customer HTTP/1.1\r\nHost: x\r\n"
                "Content-Type: application/json\r\n"
                f"Authorization: Bearer {API_KEY}\r\nContent-Length: {BODY_SIZE}\r\n\r\n"
            ).encode()
        )
        assert_too_large(read_answer(sock))
    assert httpx.get(f"http://127.0.0.1:{server}/health/live", timeout=10).status_code == 200


def test_a_refusal_before_reading_other_than_413_is_readable_too(server: int) -> None:
    """Without the API key (401 from the guard, which reads no body), a client sending 5 MB
    with Connection: close reads the whole 401, 20 times in a row."""
    for _ in range(REPEATS):
        answer = post_big(server, chunked=False, pause=0, close=True, key=None)
        assert answer.status == 401, answer
        assert answer.body["error"] == "unauthorized"
