"""The Zoho Desk emulator served standalone by uvicorn, over a real loopback socket."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator

import anyio
import httpx
import pytest

from zoho_desk_emulator import SANDBOX_ORG_ID

from tests.support.processes import free_port, stop
from tests.zoho_desk_emulator.helpers import refresh_params

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


@pytest.fixture(params=[[]], ids=["strict"])
def emulator_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """Start `python -m zoho_desk_emulator` on a free port; stop it after.
    A test may add options with ``@pytest.mark.parametrize("emulator_url", [[...]],
    indirect=True)``."""
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
        [
            sys.executable,
            "-m",
            "zoho_desk_emulator",
            "--port",
            str(port),
            "--latency",
            "0.01",
            *request.param,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)
    # uvicorn shuts down gracefully, then re-raises the SIGTERM it caught
    assert process.returncode in (0, -signal.SIGTERM), process.returncode


async def wait_until_up(client: httpx.AsyncClient) -> None:
    with anyio.fail_after(15):
        while True:
            try:
                await client.get("/_emulator/state")
                return
            except httpx.TransportError:
                await anyio.sleep(0.05)


async def sandbox_access_token(client: httpx.AsyncClient) -> str:
    """A fresh access token from the sandbox client's refresh grant."""
    tokens = await client.post("/oauth/v2/token", data=refresh_params())
    return str(tokens.json()["access_token"])


async def test_standalone_serves_the_oauth_and_desk_api(emulator_url: str) -> None:
    """A real HTTP client refreshes a token and lists organizations; the call log shows both."""
    async with httpx.AsyncClient(base_url=emulator_url, timeout=5) as client:
        await wait_until_up(client)
        access = await sandbox_access_token(client)
        orgs = await client.get(
            "/api/v1/organizations", headers={"Authorization": f"Zoho-oauthtoken {access}"}
        )
        assert orgs.status_code == 200
        assert orgs.json()["data"][0]["id"] == SANDBOX_ORG_ID
        assert (await client.get("/_emulator/state")).json()["faults"]["latency"] == 0.01
        calls = (await client.get("/_emulator/calls")).json()
        assert calls["by_endpoint"] == {"POST /oauth/v2/token": 1, "GET /api/v1/organizations": 1}


async def test_standalone_reset_outage_breaks_the_connection(emulator_url: str) -> None:
    """With outage=reset, a real client sees a transport error, not an HTTP answer."""
    async with httpx.AsyncClient(base_url=emulator_url, timeout=5) as client:
        await wait_until_up(client)
        await client.post("/_emulator/faults", json={"outage": "reset"})
        with pytest.raises(httpx.TransportError):
            await client.get("/api/v1/organizations")
        await client.post("/_emulator/faults", json={"outage": False})
        assert (await client.get("/api/v1/organizations")).status_code == 401


async def strict_or_not(url: str) -> tuple[bool, int]:
    """(the emulator says it is lenient, the status of an inline contact carrying a phone)."""
    async with httpx.AsyncClient(base_url=url, timeout=5) as client:
        await wait_until_up(client)
        headers = {
            "Authorization": f"Zoho-oauthtoken {await sandbox_access_token(client)}",
            "orgId": SANDBOX_ORG_ID,
        }
        department = (await client.get("/api/v1/departments", headers=headers)).json()["data"][0]
        answer = await client.post(
            "/api/v1/tickets",
            headers=headers,
            json={
                "subject": "Pago",
                "departmentId": department["id"],
                "contact": {"lastName": "L", "email": "l@example.com", "phone": "+525512345678"},
            },
        )
        lenient = (await client.get("/_emulator/picklists")).json()["lenient"]
    return lenient, answer.status_code


async def test_standalone_is_strict_by_default(emulator_url: str) -> None:
    """Without options the emulator refuses what Zoho refuses (an inline contact's phone)."""
    assert await strict_or_not(emulator_url) == (False, 422)


@pytest.mark.parametrize("emulator_url", [["--lenient"]], indirect=True, ids=["lenient"])
async def test_standalone_lenient_keeps_the_old_behaviour(emulator_url: str) -> None:
    """``--lenient`` (demos only) accepts it, as the old emulator did."""
    assert await strict_or_not(emulator_url) == (True, 200)
