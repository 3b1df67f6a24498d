"""Health that does not lie, against real failures: a Redis that is full (``maxmemory`` with
``noeviction``) or stopped, a refresh token Zoho has revoked; and a drain loop that logs an
outage once, not once per pass."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import redis
from litestar.testing import AsyncTestClient

from ticketing.container import Container, redis_of
from ticketing.entrypoints import cli
from ticketing.entrypoints.background import drain_forever
from ticketing.entrypoints.cli.errors import EXIT_AUTH, EXIT_OK
from ticketing.entrypoints.consumer import InboundConsumer
from ticketing.entrypoints.http.app import create_app
from zoho_desk_emulator import SANDBOX_REFRESH_TOKEN, EmulatorState

from tests.integration.failures import REDIS_SERVER, redis_server, served_emulator
from tests.integration.wired import running, wait_for, wire
from tests.support.containers import container_with
from tests.support.env import sandbox_client_at
from tests.support.metrics import parse, sample
from tests.support.processes import free_port
from tests.support.redis import REQUIRE_REDIS

pytestmark = pytest.mark.anyio

Client = AsyncTestClient

_NO_SERVER = "needs the redis-server binary (apt-get install redis-server)"
if REDIS_SERVER is None and REQUIRE_REDIS:
    raise RuntimeError(f"REQUIRE_REDIS is set but this test module {_NO_SERVER}")
needs_redis_server = pytest.mark.skipif(REDIS_SERVER is None, reason=_NO_SERVER)

FILLER = "filler:"


def form(subject: str) -> dict[str, str]:
    return {
        "customer_email": "ana@example.com",
        "customer_name": "Ana López",
        "subject": subject,
        "description": "Pagué ayer y no me llega la confirmación",
        "priority": "High",
    }


def fill_up(client: redis.Redis) -> None:
    """Make the server refuse writes as a full production Redis does: ``noeviction`` and a
    ``maxmemory`` a little above what it holds, then filled until it answers OOM."""
    client.config_set("maxmemory-policy", "noeviction")
    used = int(client.info("memory")["used_memory"])
    client.config_set("maxmemory", used + 2 * 1024 * 1024)
    i = 0
    # Big values first, then smaller ones: a refused big value's query buffer was counted
    # too, and goes with the refusal; the server is full when even a tiny write is refused.
    for size in (100_000, 1000, 10):
        for _ in range(10_000):
            i += 1
            try:
                client.set(f"{FILLER}{i}", b"x" * size)
            except redis.exceptions.OutOfMemoryError:
                break
        else:
            raise AssertionError(f"the server never refused a write of {size} bytes")


def free_up(client: redis.Redis) -> None:
    """Delete the filler, as an operator making room would."""
    keys = list(client.scan_iter(match=f"{FILLER}*", count=1000))
    client.delete(*keys)


@pytest.mark.slow
@needs_redis_server
async def test_a_full_redis_is_not_ready_and_health_says_why(tmp_path: Path) -> None:
    """Redis over maxmemory with noeviction answers PING and refuses every ticket: readiness
    is 503 and /health is 503 unhealthy naming the reason (its figures still known), the
    ticket is refused the same way; once memory is freed, ready and healthy again."""
    port = free_port()
    with redis_server(port, tmp_path) as server:
        server.start()
        admin = redis.Redis(port=port)
        container = wire({"REDIS_URL": server.url}, emulator=EmulatorState())
        async with Client(create_app(container)) as client:
            assert (await client.get("/health/ready")).status_code == 200
            fill_up(admin)

            ready = await client.get("/health/ready")
            assert ready.status_code == 503
            assert ready.json() == {"status": "not_ready", "store": "redis", "store_ok": False}
            health = await client.get("/health")
            assert health.status_code == 503
            body = health.json()
            assert body["status"] == "unhealthy"
            assert "maxmemory" in body["store_error"]
            assert "readiness write" in body["store_error"]
            assert body["redis_connected"] is True  # it answers; it does not take tickets
            assert (body["queue_length"], body["queue_length_known"]) == (0, True)
            refused = await client.post("/tickets/customer", data=form("Lleno"))
            assert refused.status_code == 503, refused.text

            free_up(admin)
            assert (await client.get("/health/ready")).status_code == 200
            health = await client.get("/health")
            assert (health.status_code, health.json()["status"]) == (200, "healthy")
            assert "store_error" not in health.json()
            created = await client.post("/tickets/customer", data=form("Lleno"))
            assert created.status_code == 201, created.text
        admin.close()


@pytest.mark.slow
@needs_redis_server
async def test_with_redis_down_the_queue_figures_are_unknown_not_zero(tmp_path: Path) -> None:
    """Redis stopped: /health keeps the contract's int queue_length but says it is not known
    (queue_length_known false, dead_letters null), and /metrics leaves the queue samples out
    instead of showing 0; once Redis is back, the figures are there again."""
    port = free_port()
    with redis_server(port, tmp_path) as server:
        server.start()
        container = wire({"REDIS_URL": server.url}, emulator=EmulatorState())
        async with Client(create_app(container)) as client:
            metrics = parse((await client.get("/metrics")).text)
            assert sample(metrics, "ticketing_queue_pending") == 0
            assert sample(metrics, "ticketing_queue_dead") == 0
            health = (await client.get("/health")).json()
            assert (health["queue_length_known"], health["dead_letters"]) == (True, 0)

            server.kill()
            health_down = await client.get("/health")
            assert health_down.status_code == 503
            body = health_down.json()
            assert (body["queue_length"], body["queue_length_known"]) == (0, False)
            assert body["dead_letters"] is None
            assert body["store_error"]
            metrics = parse((await client.get("/metrics")).text)
            assert sample(metrics, "ticketing_store_up") == 0
            assert sample(metrics, "ticketing_queue_pending") is None
            assert sample(metrics, "ticketing_queue_dead") is None

            server.start()
            health = (await client.get("/health")).json()
            assert (health["queue_length_known"], health["queue_length"]) == (True, 0)
            metrics = parse((await client.get("/metrics")).text)
            assert sample(metrics, "ticketing_queue_pending") == 0


async def cli_run(
    capsys: pytest.CaptureFixture[str], container: Container, *argv: str
) -> tuple[int, str]:
    capsys.readouterr()
    with anyio.fail_after(60):
        code = await cli.run(list(argv), container=container)
    out, err = capsys.readouterr()
    return code, out + err


async def test_a_revoked_refresh_token_needs_an_operator_everywhere(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Zoho revokes the refresh token: tickets are queued, /health turns degraded with
    zoho_connected false and a reason naming `ticketing auth setup`, the credentials gauge
    drops to 0; a separate `auth status` says "needs an operator" and exits 3, and `doctor`
    fails its token check."""
    emulator = EmulatorState()
    with served_emulator(emulator, free_port()) as url:
        env = sandbox_client_at(url, ZOHO_TOKEN_FILE=str(tmp_path / "tokens.json"))
        async with Client(create_app(container_with(env))) as client:
            assert (await client.post("/tickets/customer", data=form("Antes"))).status_code == 201
            health = (await client.get("/health")).json()
            assert (health["status"], health["zoho_credentials_ok"]) == ("healthy", True)
            metrics = parse((await client.get("/metrics")).text)
            assert sample(metrics, "ticketing_zoho_credentials_ok") == 1

            async with httpx.AsyncClient(base_url=url) as zoho:
                revoked = await zoho.post(
                    "/oauth/v2/token/revoke", params={"token": SANDBOX_REFRESH_TOKEN}
                )
            assert revoked.status_code == 200

            queued = await client.post("/tickets/customer", data=form("Después"))
            assert queued.status_code == 202, queued.text
            answer = await client.get("/health")
            assert answer.status_code == 200  # tickets are still accepted (and queued)
            health = answer.json()
            assert health["status"] == "degraded"
            assert health["zoho_connected"] is False
            assert health["zoho_credentials_ok"] is False
            assert "need an operator" in health["last_error"]
            assert "ticketing auth setup" in health["last_error"]
            metrics = parse((await client.get("/metrics")).text)
            assert sample(metrics, "ticketing_zoho_credentials_ok") == 0

        code, out = await cli_run(capsys, container_with(env), "auth", "status")
        assert code == EXIT_AUTH, out
        assert "authorized      needs an operator: Zoho rejected the refresh token" in out
        assert "ticketing auth setup" in out
        code, out = await cli_run(capsys, container_with(env), "auth", "status", "--json")
        assert code == EXIT_AUTH
        assert '"authorized": false' in out
        code, out = await cli_run(capsys, container_with(env), "doctor")
        assert code != EXIT_OK
        token = next(line for line in out.splitlines() if " token " in line)
        assert token.startswith("FAIL"), out
        assert "rejected the refresh token" in token


@pytest.mark.slow
@needs_redis_server
async def test_the_drain_logs_an_outage_once_and_its_end_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis stopped for many drain passes: one warning when the drain starts failing, the
    retries at debug level only, no traceback, and one info line when Redis is back."""
    port = free_port()
    lines: list[logging.LogRecord] = []

    def background() -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.name == "ticketing.entrypoints.background"]

    with redis_server(port, tmp_path) as server:
        server.start()
        container = wire({"REDIS_URL": server.url}, emulator=EmulatorState())
        caplog.set_level(logging.DEBUG, logger="ticketing.entrypoints.background")
        async with running(container) as services, anyio.create_task_group() as tg:
            tg.start_soon(lambda: drain_forever(services, interval=0.05, tick=0.05))
            await wait_for(
                _async(lambda: services.drain.state.passes >= 1), what="a first drain pass"
            )
            server.kill()

            async def retried() -> bool:
                return sum(r.levelno == logging.DEBUG for r in background()) >= 5

            await wait_for(retried, within=60, what="five failed drain passes")
            server.start()

            async def recovered() -> bool:
                return any(r.levelno == logging.INFO for r in background())

            await wait_for(recovered, within=60, what="the drain working again")
            tg.cancel_scope.cancel()
        lines = background()
    warnings = [r for r in lines if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert warnings[0].getMessage().startswith("drain failed: ")
    assert warnings[0].exc_info is None
    infos = [r for r in lines if r.levelno == logging.INFO]
    assert len(infos) == 1
    assert infos[0].getMessage().startswith("drain works again after ")


def _async(check: Any) -> Any:
    async def call() -> bool:
        return bool(check())

    return call


@pytest.mark.slow
@needs_redis_server
async def test_the_consumer_logs_an_outage_once_per_loop(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis stopped while the inbound consumer runs: its stream loop warns once and retries
    at debug level, the pub/sub loop says once that the subscription was lost; when Redis is
    back, one line each says so."""
    port = free_port()
    consumer_log = "ticketing.entrypoints.consumer"

    def said(level: int, start: str) -> list[str]:
        return [
            r.getMessage()
            for r in caplog.records
            if r.name == consumer_log and r.levelno == level and r.getMessage().startswith(start)
        ]

    with redis_server(port, tmp_path) as server:
        server.start()
        admin = redis.Redis(port=port)
        container = wire({"REDIS_URL": server.url}, emulator=EmulatorState())
        caplog.set_level(logging.DEBUG, logger=consumer_log)
        async with running(container) as services, anyio.create_task_group() as tg:
            redis_client = await redis_of(container)
            assert redis_client is not None
            consumer = InboundConsumer(redis_client, services, consumer="c-1", block_ms=50)
            tg.start_soon(consumer.run)
            stream = services.settings.inbound_stream
            await wait_for(_async(lambda: admin.exists(stream)), what="the consumer's group")
            await wait_for(_async(lambda: admin.pubsub_numsub(stream)[0][1] == 1), what="pubsub")
            server.kill()

            async def retried() -> bool:
                return len(said(logging.DEBUG, "inbound stream: ")) >= 3

            await wait_for(retried, within=60, what="three failed stream passes")
            server.start()

            async def recovered() -> bool:
                return bool(said(logging.INFO, "inbound stream works again")) and bool(
                    said(logging.INFO, "inbound pub/sub")
                )

            await wait_for(recovered, within=60, what="both loops working again")
            tg.cancel_scope.cancel()
        admin.close()
    assert len(said(logging.WARNING, "inbound stream: ")) == 1
    lost = said(logging.WARNING, "inbound pub/sub")
    assert len(lost) == 1, lost
    assert "messages published meanwhile are lost" in lost[0]
    assert len(said(logging.INFO, "inbound pub/sub")) == 1
