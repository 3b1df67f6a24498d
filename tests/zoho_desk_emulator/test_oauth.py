"""The emulator's accounts server: the OAuth dance, codes, refresh limits and revocation."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from zoho_desk_emulator import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_REDIRECT_URI,
    SANDBOX_REFRESH_TOKEN,
    EmulatorState,
    create_emulator_app,
)

from tests.support.clock import ManualClock
from tests.zoho_desk_emulator.helpers import BASE_URL, desk_headers, refresh, refresh_params

pytestmark = pytest.mark.anyio

THROTTLED = {
    "error": "Access Denied",
    "error_description": (
        "You have made too many requests continuously. Please try again after some time."
    ),
    "status": "failure",
}


async def authorize(
    client: httpx.AsyncClient, *, offline: bool = True, **overrides: str
) -> httpx.Response:
    params = {
        "client_id": SANDBOX_CLIENT_ID,
        "response_type": "code",
        "redirect_uri": SANDBOX_REDIRECT_URI,
        "scope": "Desk.tickets.ALL,Desk.basic.ALL",
        "prompt": "consent",
        "state": "st-123",
    }
    if offline:
        params["access_type"] = "offline"
    params.update(overrides)
    return await client.get("/oauth/v2/auth", params=params)


def callback_params(
    answer: httpx.Response, redirect_uri: str = SANDBOX_REDIRECT_URI
) -> dict[str, str]:
    assert answer.status_code == 302
    location = answer.headers["location"]
    assert location.startswith(redirect_uri + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


async def exchange(
    client: httpx.AsyncClient, code: str, redirect_uri: str = SANDBOX_REDIRECT_URI
) -> httpx.Response:
    return await client.post(
        "/oauth/v2/token",
        data={
            "grant_type": "authorization_code",
            "client_id": SANDBOX_CLIENT_ID,
            "client_secret": SANDBOX_CLIENT_SECRET,
            "redirect_uri": redirect_uri,
            "code": code,
        },
    )


async def test_full_oauth_dance(client: httpx.AsyncClient) -> None:
    """Consent redirects with a code; the code buys tokens; the refresh token buys more."""
    params = callback_params(await authorize(client))
    assert params["location"] == "us"
    assert params["accounts-server"] == BASE_URL
    assert params["state"] == "st-123"

    tokens = await exchange(client, params["code"])
    body = tokens.json()
    assert tokens.status_code == 200
    assert body["access_token"].startswith("1000.")
    assert body["refresh_token"].startswith("1000.")
    assert body["api_domain"] == "https://www.zohoapis.com"
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600

    refreshed = await refresh(client, body["refresh_token"])
    assert set(refreshed.json()) == {"access_token", "api_domain", "token_type", "expires_in"}
    me = await client.get("/api/v1/myinfo", headers=desk_headers(refreshed.json()["access_token"]))
    assert me.status_code == 200


async def test_no_refresh_token_without_offline_access(client: httpx.AsyncClient) -> None:
    """A refresh token is issued only when access_type=offline was asked for."""
    params = callback_params(await authorize(client, offline=False))
    body = (await exchange(client, params["code"])).json()
    assert "access_token" in body
    assert "refresh_token" not in body


async def test_consent_refuses_a_redirect_uri_that_does_not_match(
    client: httpx.AsyncClient,
) -> None:
    """A redirect URI other than the registered one gets an error page, never a redirect."""
    answer = await authorize(client, redirect_uri="http://localhost:8888/callback/")
    assert answer.status_code == 400
    assert answer.json() == {"error": "invalid_redirect_uri"}
    unknown = await authorize(client, client_id="1000.NOPE")
    assert unknown.json() == {"error": "invalid_client"}


async def test_denied_consent_redirects_with_an_error(
    client: httpx.AsyncClient, state: EmulatorState
) -> None:
    """With deny_consent, the callback carries error=access_denied and the state, no code."""
    state.faults.deny_consent = True
    params = callback_params(await authorize(client))
    assert params == {"error": "access_denied", "state": "st-123"}


async def test_code_expires_after_two_minutes(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    """A code older than two minutes is invalid_code."""
    params = callback_params(await authorize(client))
    clock.advance(121)
    answer = await exchange(client, params["code"])
    assert answer.json() == {"error": "invalid_code"}


async def test_code_works_once(client: httpx.AsyncClient) -> None:
    """The second exchange of the same code is invalid_code."""
    code = callback_params(await authorize(client))["code"]
    assert "access_token" in (await exchange(client, code)).json()
    assert (await exchange(client, code)).json() == {"error": "invalid_code"}


async def test_code_exchange_needs_the_same_redirect_uri(client: httpx.AsyncClient) -> None:
    """Exchanging a code with another redirect_uri fails and mints nothing."""
    code = callback_params(await authorize(client))["code"]
    answer = await exchange(client, code, redirect_uri="http://localhost:9999/cb")
    assert "access_token" not in answer.json()
    assert "error" in answer.json()


async def test_wrong_secret_is_invalid_client(client: httpx.AsyncClient) -> None:
    """A wrong client secret answers invalid_client."""
    answer = await client.post("/oauth/v2/token", data=refresh_params(client_secret="wrong"))
    assert answer.json() == {"error": "invalid_client"}


@pytest.mark.parametrize("status", [200, 400])
async def test_token_errors_use_the_configured_status(
    client: httpx.AsyncClient, state: EmulatorState, status: int
) -> None:
    """Token errors answer with 400 or, when switched, 200; the body always says error."""
    state.faults.token_error_status = status
    answer = await refresh(client, "1000.not-a-token")
    assert answer.status_code == status
    assert answer.json() == {"error": "invalid_code"}


async def test_expires_in_ms_switch(client: httpx.AsyncClient, state: EmulatorState) -> None:
    """With expires_in_ms, the answer has expires_in_sec and expires_in in milliseconds."""
    state.faults.expires_in_ms = True
    body = (await refresh(client)).json()
    assert body["expires_in_sec"] == 3600
    assert body["expires_in"] == 3_600_000


async def test_ten_refreshes_per_ten_minutes(
    client: httpx.AsyncClient, clock: ManualClock, state: EmulatorState
) -> None:
    """The 11th refresh in 10 minutes is throttled, and stays so until the window ends."""
    for _ in range(10):
        assert "access_token" in (await refresh(client)).json()
        clock.advance(1)
    throttled = await refresh(client)
    assert throttled.json() == THROTTLED
    clock.advance(600 - 11)  # 1 s before the first refresh leaves the window
    assert (await refresh(client)).json() == THROTTLED
    clock.advance(1)
    assert "access_token" in (await refresh(client)).json()
    assert state.token_refreshes == 11


async def test_sixteenth_live_token_kills_the_oldest(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    """At most 15 access tokens live per refresh token; the 16th kills the oldest."""
    tokens = []
    for batch in (10, 6):
        for _ in range(batch):
            tokens.append((await refresh(client)).json()["access_token"])
        clock.advance(601)
    # after two windows everything is still within its hour, except the one that was killed
    oldest = await client.get("/api/v1/myinfo", headers=desk_headers(tokens[0]))
    second = await client.get("/api/v1/myinfo", headers=desk_headers(tokens[1]))
    assert oldest.status_code == 401
    assert oldest.json()["errorCode"] == "INVALID_OAUTH"
    assert second.status_code == 200


async def test_access_token_expires_after_an_hour(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    """An access token stops working after 3600 s of the emulator's clock."""
    headers = desk_headers((await refresh(client)).json()["access_token"])
    clock.advance(3599)
    assert (await client.get("/api/v1/myinfo", headers=headers)).status_code == 200
    clock.advance(1)
    expired = await client.get("/api/v1/myinfo", headers=headers)
    assert expired.status_code == 401
    assert expired.json() == {
        "errorCode": "INVALID_OAUTH",
        "message": "The OAuth Token you provided is invalid.",
    }


async def test_revoke_kills_the_refresh_token_and_its_access_tokens(
    client: httpx.AsyncClient,
) -> None:
    """After revoke, the refresh token is invalid_code and its access tokens are 401."""
    access = (await refresh(client)).json()["access_token"]
    answer = await client.post("/oauth/v2/token/revoke", params={"token": SANDBOX_REFRESH_TOKEN})
    assert answer.json() == {"status": "success"}
    assert (await refresh(client)).json() == {"error": "invalid_code"}
    assert (await client.get("/api/v1/myinfo", headers=desk_headers(access))).status_code == 401


async def test_twenty_first_refresh_token_deletes_the_first(
    client: httpx.AsyncClient, state: EmulatorState
) -> None:
    """A client holds at most 20 refresh tokens; the 21st deletes the oldest."""
    state.register_client("1000.OTHER", "other-secret", "http://127.0.0.1:7000/cb")
    issued = []
    for _ in range(21):
        auth = await client.get(
            "/oauth/v2/auth",
            params={
                "client_id": "1000.OTHER",
                "response_type": "code",
                "redirect_uri": "http://127.0.0.1:7000/cb",
                "access_type": "offline",
            },
        )
        code = callback_params(auth, "http://127.0.0.1:7000/cb")["code"]
        body = (
            await client.post(
                "/oauth/v2/token",
                data={
                    "grant_type": "authorization_code",
                    "client_id": "1000.OTHER",
                    "client_secret": "other-secret",
                    "redirect_uri": "http://127.0.0.1:7000/cb",
                    "code": code,
                },
            )
        ).json()
        issued.append(body["refresh_token"])
    assert issued[0] not in state.refresh_tokens
    assert all(token in state.refresh_tokens for token in issued[1:])


async def test_token_parameters_may_come_in_the_query_string(client: httpx.AsyncClient) -> None:
    """Like Zoho, the token endpoint reads its parameters from the query string too."""
    answer = await client.post("/oauth/v2/token", params=refresh_params())
    assert "access_token" in answer.json()


async def test_accounts_outage_fails_only_the_accounts_host(
    client: httpx.AsyncClient, headers: dict[str, str], state: EmulatorState
) -> None:
    """accounts_outage (set as JSON like every switch): /oauth/* answers 503 while Desk keeps
    answering with a token it issued before; switched off, tokens are issued again."""
    switched = await client.post("/_emulator/faults", json={"accounts_outage": True})
    assert switched.status_code == 200, switched.text
    assert (await refresh(client)).status_code == 503
    assert (await client.get("/api/v1/departments", headers=headers)).status_code == 200
    await client.post("/_emulator/faults", json={"accounts_outage": False})
    assert "access_token" in (await refresh(client)).json()


async def test_access_tokens_live_as_long_as_the_state_says(clock: ManualClock) -> None:
    """access_token_seconds=20: expires_in says 20, and the token is refused after 20 s."""
    state = EmulatorState(clock, access_token_seconds=20)
    transport = httpx.ASGITransport(app=create_emulator_app(state))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        body = (await refresh(client)).json()
        assert body["expires_in"] == 20
        auth = desk_headers(body["access_token"])
        assert (await client.get("/api/v1/departments", headers=auth)).status_code == 200
        clock.advance(21)
        assert (await client.get("/api/v1/departments", headers=auth)).status_code == 401
