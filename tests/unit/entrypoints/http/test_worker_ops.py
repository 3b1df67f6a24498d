"""`ticketing worker` with METRICS_PORT: probes and /metrics on their own small server."""

from __future__ import annotations

import socket

import anyio
import httpx
import pytest
from litestar.testing import AsyncTestClient

from ticketing.container import start, stop
from ticketing.entrypoints.http.app import create_ops_app, serve_ops

from tests.support.http import API_KEY, make_container

pytestmark = pytest.mark.anyio


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_ops_app_serves_probes_and_guarded_metrics_only() -> None:
    """The worker's app answers the probes openly, /metrics with the key, and has no API."""
    container = make_container({"API_KEYS": API_KEY})
    services = await start(container)
    try:
        app = create_ops_app(services, services.settings.api_keys)
        async with AsyncTestClient(app) as client:
            assert (await client.get("/health/live")).status_code == 200
            assert (await client.get("/health/ready")).status_code == 200
            assert (await client.get("/metrics")).status_code == 401
            scraped = await client.get("/metrics", headers={"Authorization": f"Bearer {API_KEY}"})
            assert scraped.status_code == 200
            assert "ticketing_queue_pending" in scraped.text
            assert (await client.post("/tickets/customer", data={})).status_code in (401, 404)
    finally:
        await stop(container)


async def test_serve_ops_listens_on_the_port_until_cancelled() -> None:
    """serve_ops binds HOST:METRICS_PORT, answers over real HTTP, and stops when cancelled."""
    port = free_port()
    container = make_container({"METRICS_PORT": str(port)})
    services = await start(container)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: serve_ops(services, host="127.0.0.1", port=port))
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                with anyio.fail_after(10):
                    while True:
                        try:
                            live = await http.get("/health/live")
                            break
                        except httpx.ConnectError:
                            await anyio.sleep(0.05)
                metrics = await http.get("/metrics")
            tg.cancel_scope.cancel()
        assert live.json() == {"status": "alive"}
        assert metrics.status_code == 200
        assert "ticketing_breaker_state" in metrics.text
    finally:
        await stop(container)
