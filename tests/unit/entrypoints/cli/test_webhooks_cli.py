"""`ticketing webhooks setup|status|remove` against the sandbox emulator: the subscription the
sync needs is registered once, shown without its token, and removed; without a token, setup
says what to set."""

from __future__ import annotations

import json

import httpx
import pytest
from dependency_injector import providers

from ticketing.adapters.zoho_desk.wire_sync import SYNC_SUBSCRIPTIONS
from ticketing.entrypoints.cli import runner
from zoho_desk_emulator import EmulatorState

from tests.support.containers import container_with
from tests.zoho_desk_emulator.helpers import Receiver

pytestmark = pytest.mark.anyio

TOKEN = "wh-0123456789abcdef0123456789abcdef"


async def cli(argv: list[str], state: EmulatorState, env: dict[str, str]) -> int:
    """One command run, as from a shell: a container of its own, on the shared emulator."""
    container = container_with(env)
    container.emulator_state.override(providers.Object(state))
    return await runner.run(argv, container=container)


async def test_setup_status_remove(capsys: pytest.CaptureFixture[str]) -> None:
    """setup registers the receiver's URL with the sync's events (twice: still one), status
    lists it with the token hidden, remove deletes it."""
    receiver = Receiver()
    state = EmulatorState(webhook_transport=httpx.ASGITransport(receiver))
    env = {"ZOHO_WEBHOOK_TOKEN": TOKEN}
    setup = ["webhooks", "setup", "--public-url", "https://tickets.example.com", "--json"]
    assert await cli(setup, state, env) == 0
    created = json.loads(capsys.readouterr().out)
    assert created["url"] == "https://tickets.example.com/webhooks/zoho/***"
    assert created["subscriptions"] == dict(SYNC_SUBSCRIPTIONS)
    assert receiver.requests[0][0] == "GET"  # Zoho's check of the URL
    assert await cli(setup, state, env) == 0
    assert json.loads(capsys.readouterr().out)["id"] == created["id"]
    assert await cli(["webhooks", "status", "--json"], state, env) == 0
    status = json.loads(capsys.readouterr().out)
    assert [w["url"] for w in status["webhooks"]] == [created["url"]]
    assert TOKEN not in json.dumps(status)
    assert await cli(["webhooks", "remove", "--json"], state, env) == 0
    assert json.loads(capsys.readouterr().out) == {"removed": 1}
    assert await cli(["webhooks", "status", "--json"], state, env) == 0
    assert json.loads(capsys.readouterr().out)["webhooks"] == []


async def test_setup_without_a_token_says_what_to_set(capsys: pytest.CaptureFixture[str]) -> None:
    """No ZOHO_WEBHOOK_TOKEN: exit code 2 and a line naming it; nothing registered."""
    code = await cli(
        ["webhooks", "setup", "--public-url", "https://x.example"], EmulatorState(), {}
    )
    assert code == 2
    assert "ZOHO_WEBHOOK_TOKEN" in capsys.readouterr().err
