"""The loopback callback server of `auth setup`: what it accepts, what it answers the browser."""

from __future__ import annotations

import socket

import anyio
import anyio.abc
import httpx
import pytest

from ticketing.adapters.oauth_callback import LoopbackCallbackServer
from ticketing.domain.errors import ConfigurationError

from tests.support.processes import free_port

pytestmark = pytest.mark.anyio


async def test_a_redirect_reaches_the_inbox_and_the_browser_gets_the_answer() -> None:
    """The query parameters arrive as sent; the page waits for the use case's answer."""
    port = free_port()
    server = LoopbackCallbackServer(f"http://127.0.0.1:{port}/callback")
    pages: list[httpx.Response] = []
    async with (
        httpx.AsyncClient(timeout=5) as browser,
        server.listen() as inbox,
        anyio.create_task_group() as tg,
    ):

        async def visit() -> None:
            pages.append(
                await browser.get(
                    f"http://127.0.0.1:{port}/callback",
                    params={"code": "1000.fake", "state": "s", "accounts-server": "x"},
                )
            )

        tg.start_soon(visit)
        params = await inbox.receive()
        assert params == {"code": "1000.fake", "state": "s", "accounts-server": "x"}
        await inbox.reply(True, "Stored <tokens> & done")
    assert pages[0].status_code == 200
    assert "Stored &lt;tokens&gt; &amp; done" in pages[0].text
    assert pages[0].headers["cache-control"] == "no-store"


async def test_other_paths_and_methods_are_not_callbacks() -> None:
    """A favicon request gets 404 and a POST 405; neither reaches the inbox."""
    port = free_port()
    server = LoopbackCallbackServer(f"http://localhost:{port}/callback")
    async with httpx.AsyncClient(timeout=5) as browser, server.listen() as inbox:
        assert (await browser.get(f"http://127.0.0.1:{port}/favicon.ico")).status_code == 404
        assert (await browser.post(f"http://127.0.0.1:{port}/callback")).status_code == 405
        with anyio.move_on_after(0.1) as nothing:
            await inbox.receive()
        assert nothing.cancelled_caught


async def test_a_second_redirect_while_one_is_handled_is_turned_away() -> None:
    """Only one authorization at a time: a second browser gets 409."""
    port = free_port()
    server = LoopbackCallbackServer(f"http://127.0.0.1:{port}/callback")
    url = f"http://127.0.0.1:{port}/callback?code=c&state=s"
    async with (
        httpx.AsyncClient(timeout=5) as browser,
        server.listen() as inbox,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(browser.get, url)
        await inbox.receive()
        tg.start_soon(browser.get, url)  # queued: the inbox holds one
        await anyio.sleep(0.05)
        third = await browser.get(url)
        assert third.status_code == 409
        await inbox.reply(False, "no")
        second = await inbox.receive()
        assert second["code"] == "c"
        await inbox.reply(False, "no")


async def test_leaving_without_an_answer_tells_the_waiting_browser() -> None:
    """If the use case fails before answering, the browser learns it did not complete."""
    port = free_port()
    server = LoopbackCallbackServer(f"http://127.0.0.1:{port}/callback")
    pages: list[httpx.Response] = []

    async def fail_after_a_redirect(browser: httpx.AsyncClient, tg: anyio.abc.TaskGroup) -> None:
        async def visit() -> None:
            pages.append(await browser.get(f"http://127.0.0.1:{port}/callback?state=x"))

        async with server.listen() as inbox:
            tg.start_soon(visit)
            await inbox.receive()
            raise RuntimeError("boom")

    async with httpx.AsyncClient(timeout=5) as browser, anyio.create_task_group() as tg:
        with pytest.raises(RuntimeError, match="boom"):
            await fail_after_a_redirect(browser, tg)
    assert pages[0].status_code == 500
    assert "did not complete" in pages[0].text


async def test_the_port_is_free_again_afterwards() -> None:
    """Leaving the context stops listening."""
    port = free_port()
    server = LoopbackCallbackServer(f"http://127.0.0.1:{port}/callback")
    async with server.listen():
        pass
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))


@pytest.mark.parametrize(
    "uri",
    ["https://localhost:8888/callback", "http://example.com:8888/callback", "http://10.0.0.1/cb"],
)
async def test_only_loopback_http_is_accepted(uri: str) -> None:
    """The server refuses to listen for a redirect URI that cannot reach it."""
    with pytest.raises(ConfigurationError, match="ZOHO_REDIRECT_URI"):
        async with LoopbackCallbackServer(uri).listen():
            pass
