"""`serve` binds before it starts anything: every refusal is a ConfigurationError (exit 2)
naming the address and what to do (issue 16)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from ticketing.domain.errors import ConfigurationError
from ticketing.entrypoints import cli
from ticketing.entrypoints.cli import errors, supervise


def test_a_free_port_is_bound_but_not_listened_on_yet() -> None:
    """Bound (so taken) but not listening: nothing connects to a service still starting."""
    (sock,) = supervise.bind("127.0.0.1", 0, fix="fix")
    try:
        port = sock.getsockname()[1]
        with socket.socket() as client, pytest.raises(ConnectionRefusedError):
            client.connect(("127.0.0.1", port))
    finally:
        sock.close()


def test_a_busy_port_names_the_address_and_the_fix() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(ConfigurationError) as caught:
            supervise.bind("127.0.0.1", port, fix="choose another --port")
    assert caught.value.message == (
        f"cannot listen on 127.0.0.1:{port}: the address is already in use (another process "
        "listens there); choose another --port"
    )
    assert errors.exit_code_for(caught.value) == errors.EXIT_USAGE


def test_an_address_of_another_machine_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="not one of this machine's"):
        supervise.bind("192.0.2.1", 8005, fix="fix")  # TEST-NET-1: never a local address


def test_a_host_that_does_not_resolve_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="'not a host' port 8005: not an address"):
        supervise.bind("not a host", 8005, fix="fix")


def test_the_url_brackets_an_ipv6_address() -> None:
    assert supervise.url_of("::1", 8005) == "http://[::1]:8005"
    assert supervise.url_of("127.0.0.1", 8005) == "http://127.0.0.1:8005"


def test_a_failed_start_up_is_exit_1_not_uvicorns_3(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """uvicorn exits 3 when the app's start-up fails: here that code means "Zoho credentials
    need an operator", so serve says it did not start, exit 1."""
    from litestar import Litestar

    def broken_start_up() -> None:
        raise RuntimeError("start-up broke")

    def create_app(*args: Any, **kwargs: Any) -> Litestar:
        # logging_config=None as the service's own apps: Litestar's default starts a queue
        # listener thread that would log into a later test's closed capture stream.
        return Litestar(route_handlers=[], on_startup=[broken_start_up], logging_config=None)

    monkeypatch.chdir(tmp_path)
    for name in ("REDIS_URL", "HOST", "PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("ticketing.entrypoints.http.app.create_app", create_app)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = cli.main(["serve", "--port", str(port)])
    assert code == cli.EXIT_ERROR
    err = capsys.readouterr().err
    assert "ticketing: the service did not start: its start-up failed" in err


def test_an_address_of_a_name_the_machine_lacks_is_left_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As asyncio does: a name resolving to an address the machine lacks (localhost's ::1
    with IPv6 off) binds the others; refused only when none can be bound."""
    stream = (socket.SOCK_STREAM, socket.IPPROTO_TCP, "")
    local = (socket.AF_INET, *stream, ("127.0.0.1", 0))
    foreign = (socket.AF_INET, *stream, ("192.0.2.1", 0))
    monkeypatch.setattr(supervise.socket, "getaddrinfo", lambda *a, **k: [foreign, local])
    (sock,) = supervise.bind("both", 0, fix="fix")
    try:
        assert sock.getsockname()[0] == "127.0.0.1"
    finally:
        sock.close()
    monkeypatch.setattr(supervise.socket, "getaddrinfo", lambda *a, **k: [foreign])
    with pytest.raises(ConfigurationError, match="not one of this machine's"):
        supervise.bind("only-foreign", 0, fix="fix")
