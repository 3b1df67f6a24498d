"""The receiver and Zoho's signature, on the sandbox (its emulator signs as Zoho is reported
to, and serves the key at /.well-known/jwks.json): a bad signature is a 401 that stores
nothing, is counted and logged once; require refuses unsigned deliveries; off ignores the
header; keys that cannot be fetched leave the delivery stored unverified, in time."""

from __future__ import annotations

import logging
import time

import pytest
from litestar.testing import AsyncTestClient

from ticketing.application.sync.signature import SIGNATURE_DEADLINE
from ticketing.container import Container
from ticketing.entrypoints.http.webhooks import STORE_DEADLINE
from zoho_desk_emulator import SANDBOX_ORG_ID, EmulatorState

from tests.support.http import API_KEY, app_client, make_container
from tests.support.metrics import parse, sample
from tests.support.sync import resolved
from tests.unit.entrypoints.http.test_webhooks import TOKEN, URL, delivery, inbox_backlog

pytestmark = pytest.mark.anyio

THREAD = ("Ticket_Thread_Add", {"id": "1", "ticketId": "2"})
WEBHOOK = "7000000000001"


def container_for(mode: str | None = None) -> Container:
    env = {"ZOHO_WEBHOOK_TOKEN": TOKEN, "API_KEYS": API_KEY}
    if mode is not None:
        env["ZOHO_WEBHOOK_SIGNATURE"] = mode
    return make_container(env)


def signed(container: Container, *, bad: bool = False, org_id: str = SANDBOX_ORG_ID) -> str:
    """The X-ZDesk-JWT the sandbox's Zoho would send for webhook WEBHOOK now."""
    state: EmulatorState = container.emulator_state()
    return state.signer.sign(org_id, WEBHOOK, state.now(), bad=bad)


async def metric(client: AsyncTestClient, name: str, **labels: str) -> float:  # type: ignore[type-arg]
    text = (await client.get("/metrics", headers={"Authorization": f"Bearer {API_KEY}"})).text
    return sample(parse(text), name, **labels) or 0


async def post(client: AsyncTestClient, token: str | None) -> tuple[int, str]:  # type: ignore[type-arg]
    headers = {"X-ZDesk-JWT": token} if token is not None else {}
    answer = await client.post(URL, content=delivery(THREAD), headers=headers)
    return answer.status_code, answer.json()["status"]


async def test_the_sandbox_zohos_signature_is_verified_and_the_delivery_stored() -> None:
    """A delivery signed with the key of the Desk host's JWKS, for our organization: 200,
    stored, counted verified."""
    container = container_for()
    async with app_client(container) as client:
        assert await post(client, signed(container)) == (200, "stored")
        assert await inbox_backlog(container) == 1
        assert await metric(client, "ticketing_webhook_signatures_total", check="verified") == 1


async def test_a_bad_signature_is_a_401_stores_nothing_is_counted_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Signed by a key Zoho does not publish, or for another organization: 401, the inbox
    stays empty, each is counted bad_signature and logged in one warning line."""
    container = container_for()
    async with app_client(container) as client:
        with caplog.at_level(logging.WARNING, logger="ticketing.http.webhooks"):
            assert await post(client, signed(container, bad=True)) == (401, "bad signature")
            assert await post(client, signed(container, org_id="999")) == (401, "bad signature")
            assert await post(client, "garbage") == (401, "bad signature")
        assert await inbox_backlog(container) == 0
        deliveries = "ticketing_webhook_deliveries_total"
        assert await metric(client, deliveries, outcome="bad_signature") == 3
        assert await metric(client, deliveries, outcome="stored") == 0
    lines = [r.getMessage() for r in caplog.records if r.name == "ticketing.http.webhooks"]
    assert len(lines) == 3, lines
    assert "does not match Zoho's key" in lines[0]
    assert "orgId:999" in lines[1]
    assert "not a JWT" in lines[2]


async def test_the_registered_webhook_is_the_audience() -> None:
    """After `webhooks setup` recorded another webhook, this webhook's token is refused."""
    container = container_for()
    async with app_client(container) as client:
        log = await resolved(container.sync_log())
        await log.set_registered_webhook("7000000000999")
        assert await post(client, signed(container)) == (401, "bad signature")
        await log.set_registered_webhook(WEBHOOK)
        assert await post(client, signed(container)) == (200, "stored")


async def test_require_refuses_unsigned_deliveries_and_verify_takes_them() -> None:
    """ZOHO_WEBHOOK_SIGNATURE=require: no header is a 401 (counted unsigned), a good
    signature is stored; the default (verify) stores an unsigned delivery."""
    container = container_for("require")
    async with app_client(container) as client:
        assert await post(client, None) == (401, "signature required")
        assert await inbox_backlog(container) == 0
        assert await metric(client, "ticketing_webhook_deliveries_total", outcome="unsigned") == 1
        assert await post(client, signed(container)) == (200, "stored")
    container = container_for()
    async with app_client(container) as client:
        assert await post(client, None) == (200, "stored")
        assert await metric(client, "ticketing_webhook_signatures_total", check="unsigned") == 1


async def test_off_ignores_even_a_forged_signature() -> None:
    """ZOHO_WEBHOOK_SIGNATURE=off: the header is not looked at (no JWKS fetch)."""
    container = container_for("off")
    async with app_client(container) as client:
        assert await post(client, signed(container, bad=True)) == (200, "stored")
    state: EmulatorState = container.emulator_state()
    assert not [c for c in state.calls if c.path.endswith("jwks.json")]


@pytest.mark.parametrize("mode", ["verify", "require"])
async def test_keys_that_cannot_be_fetched_leave_the_delivery_stored_unverified_in_time(
    mode: str,
) -> None:
    """Zoho's Desk host down (its JWKS with it): the delivery is stored, counted unverified,
    and answered well inside Zoho's 5 s, in both checking modes."""
    container = container_for(mode)
    state: EmulatorState = container.emulator_state()
    token = signed(container)
    state.apply_faults({"outage": "503"})
    async with app_client(container) as client:
        started = time.monotonic()
        assert await post(client, token) == (200, "stored")
        assert time.monotonic() - started < SIGNATURE_DEADLINE + 0.5
        assert await metric(client, "ticketing_webhook_signatures_total", check="unverified") == 1
    assert await inbox_backlog(container) == 1


async def test_the_signature_and_store_deadlines_fit_zohos_five_seconds() -> None:
    """The check's 1.5 s plus the durable write's 3 s: the answer goes out inside the 5 s
    Zoho waits."""
    assert SIGNATURE_DEADLINE + STORE_DEADLINE < 5.0
