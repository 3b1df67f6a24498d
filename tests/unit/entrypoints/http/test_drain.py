"""`drain_unread_body`: an answer given before the request body was read to its end says
`Connection: close`, goes out whole, and completes only after the rest of the body was read
and dropped (bounded), so the client can read it instead of a connection reset."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from ticketing.entrypoints.http.middleware import drain_unread_body

pytestmark = pytest.mark.anyio

REFUSAL = b'{"error":"too_large"}'


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def http_scope(*headers: tuple[bytes, bytes]) -> dict[str, Any]:
    return {"type": "http", "method": "POST", "path": "/tickets", "headers": list(headers)}


LENGTH = (b"content-length", b"300")


class Client:
    """The server side of one request: the body in pieces, and what the app sent."""

    def __init__(self, pieces: Iterator[bytes] | list[bytes]) -> None:
        self._pieces = iter(pieces)
        self._next: bytes | None = next(self._pieces, None)
        self.received = 0  # pieces handed to the app (or the drain)
        self.sent: list[dict[str, Any]] = []
        self.received_before_end: int | None = None

    async def receive(self) -> dict[str, Any]:
        if self._next is None:
            return {"type": "http.disconnect"}
        piece, self._next = self._next, next(self._pieces, None)
        self.received += 1
        return {"type": "http.request", "body": piece, "more_body": self._next is not None}

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body" and not message.get("more_body"):
            self.received_before_end = self.received
        self.sent.append(message)


def refusing_app(*, read_first: int = 0) -> Any:
    """An app that reads ``read_first`` pieces, then answers 413."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        for _ in range(read_first):
            await receive()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-length", str(len(REFUSAL)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": REFUSAL, "more_body": False})

    return app


def headers_of(client: Client) -> dict[bytes, bytes]:
    return dict(client.sent[0]["headers"])


async def test_the_refusal_goes_out_whole_then_the_rest_of_the_body_is_read() -> None:
    """The app refused after one of three pieces: the answer says Connection: close, its body
    goes out at once (more to come), the two other pieces are read, then the answer ends."""
    client = Client([b"a" * 100, b"b" * 100, b"c" * 100])
    await drain_unread_body(refusing_app(read_first=1))(
        http_scope(LENGTH), client.receive, client.send
    )
    assert headers_of(client)[b"connection"] == b"close"
    assert client.sent[1] == {"type": "http.response.body", "body": REFUSAL, "more_body": True}
    assert client.sent[2] == {"type": "http.response.body", "body": b"", "more_body": False}
    assert client.received_before_end == 3


async def test_a_body_never_read_by_the_app_is_read_whole_too() -> None:
    """A refusal before any read (a declared Content-Length over the limit, the guard)."""
    client = Client([b"x"] * 50)
    await drain_unread_body(refusing_app())(http_scope(LENGTH), client.receive, client.send)
    assert client.received_before_end == 50
    assert headers_of(client)[b"connection"] == b"close"


async def test_reading_stops_at_the_byte_cap() -> None:
    """A body without end: at most max_bytes (and one piece) are read, then the answer ends."""

    def endless() -> Iterator[bytes]:
        while True:
            yield b"z" * 1000

    client = Client(endless())
    app = drain_unread_body(refusing_app(), max_bytes=10_000)
    await app(http_scope((b"transfer-encoding", b"chunked")), client.receive, client.send)
    assert client.received_before_end == 11
    assert client.sent[-1]["more_body"] is False


async def test_reading_stops_at_the_time_cap() -> None:
    """A client that stops sending mid-body: the answer ends after max_seconds."""
    client = Client([b"a"])

    async def stalled() -> dict[str, Any]:
        await anyio.sleep_forever()
        raise AssertionError  # pragma: no cover

    app = drain_unread_body(refusing_app(), max_seconds=0.05)
    with anyio.fail_after(5):
        await app(http_scope(LENGTH), stalled, client.send)
    assert [m.get("more_body") for m in client.sent[1:]] == [True, False]


async def test_a_disconnect_ends_the_reading() -> None:
    """The client hung up: nothing more to read, the answer ends."""
    client = Client([])
    await drain_unread_body(refusing_app())(http_scope(LENGTH), client.receive, client.send)
    assert client.sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}


async def test_an_answer_after_the_whole_body_is_passed_as_it_is() -> None:
    """The app read the body to its end: no Connection: close, the answer unchanged."""
    client = Client([b"a" * 100, b"b" * 100])
    await drain_unread_body(refusing_app(read_first=2))(
        http_scope(LENGTH), client.receive, client.send
    )
    assert b"connection" not in headers_of(client)
    assert client.sent[1] == {"type": "http.response.body", "body": REFUSAL, "more_body": False}


@pytest.mark.parametrize("length", [None, b"0"])
async def test_a_request_without_a_body_is_passed_as_it_is(length: bytes | None) -> None:
    """No Content-Length (or 0) and no Transfer-Encoding: nothing to read, nothing added."""
    client = Client([b"never"])
    scope = http_scope(*([(b"content-length", length)] if length else []))
    await drain_unread_body(refusing_app())(scope, client.receive, client.send)
    assert client.received == 0
    assert b"connection" not in headers_of(client)


async def test_a_client_waiting_for_100_continue_is_not_read_from() -> None:
    """Expect: 100-continue and the app never asked for the body: the client was not told to
    send it, so nothing is read (reading would make the server say 100 Continue after the
    answer)."""
    client = Client([b"never"])
    scope = http_scope(LENGTH, (b"expect", b"100-continue"))
    await drain_unread_body(refusing_app())(scope, client.receive, client.send)
    assert client.received == 0
    assert b"connection" not in headers_of(client)


async def test_a_client_told_to_continue_is_read_from() -> None:
    """Expect: 100-continue and the app read a piece (the server said 100 Continue then): the
    rest is read as for any client."""
    client = Client([b"a", b"b", b"c"])
    scope = http_scope(LENGTH, (b"expect", b"100-continue"))
    await drain_unread_body(refusing_app(read_first=1))(scope, client.receive, client.send)
    assert client.received_before_end == 3


async def test_other_scopes_are_passed_through() -> None:
    """Lifespan and websocket scopes are not HTTP requests: untouched."""
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    async def never() -> Any:
        raise AssertionError  # pragma: no cover

    await drain_unread_body(app)({"type": "lifespan"}, never, never)
    assert seen == ["lifespan"]
