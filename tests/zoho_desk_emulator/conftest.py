"""Fixtures for the Zoho Desk emulator tests: a state on a manual clock and an in-process client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from zoho_desk_emulator import EmulatorState, create_emulator_app

from tests.support.clock import ManualClock
from tests.zoho_desk_emulator.helpers import BASE_URL, Receiver, desk_headers, refresh


@pytest.fixture
def receiver() -> Receiver:
    """The webhook subscriber every test's emulator delivers to (whatever the URL)."""
    return Receiver()


@pytest.fixture
def state(clock: ManualClock, receiver: Receiver) -> EmulatorState:
    return EmulatorState(clock, webhook_transport=httpx.ASGITransport(receiver))


@pytest.fixture
async def client(state: EmulatorState) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_emulator_app(state))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        yield http


@pytest.fixture
async def headers(client: httpx.AsyncClient) -> dict[str, str]:
    """Desk headers with a fresh access token for the default organization."""
    answer = await refresh(client)
    return desk_headers(answer.json()["access_token"])
