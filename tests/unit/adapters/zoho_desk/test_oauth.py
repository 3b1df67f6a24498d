"""The token manager: refresh before expiry, one refresh at a time, and Zoho's token errors."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import anyio
import httpx
import pytest
import respx

from ticketing.adapters.memory import InMemoryRefreshBudget
from ticketing.adapters.zoho_desk.oauth import TokenManager, ZohoOAuth
from ticketing.domain.errors import (
    AccountsUnavailable,
    ConfigurationError,
    HelpdeskAuthError,
    HelpdeskUnavailable,
    RateLimited,
    RefreshPaused,
    StoreUnavailable,
)
from ticketing.domain.ports import RefreshAllowance, TokenSet

from tests.support.clock import ManualClock
from tests.support.concurrency import answer_late, concurrently
from tests.support.zoho import (
    ACCESS,
    ACCOUNTS,
    CLIENT_SECRET,
    REFRESH,
    REFRESHED,
    MemoryTokenStore,
    token_body,
)

pytestmark = pytest.mark.anyio

TOKEN_URL = f"{ACCOUNTS}/oauth/v2/token"


def expiring_in(clock: ManualClock, seconds: float, access: str = ACCESS) -> MemoryTokenStore:
    return MemoryTokenStore(
        TokenSet(
            refresh_token=REFRESH,
            access_token=access,
            expires_at=clock.now() + timedelta(seconds=seconds),
            accounts_url=ACCOUNTS,
        )
    )


def an_hour_left(
    router: respx.MockRouter, oauth: ZohoOAuth, clock: ManualClock
) -> tuple[respx.Route, TokenManager]:
    """The token endpoint (answering a refresh) and a manager whose token has an hour left."""
    route = router.post(TOKEN_URL).respond(200, json=token_body())
    return route, TokenManager(oauth, expiring_in(clock, 3600), clock)


async def test_cached_token_is_reused_until_five_minutes_before_expiry(
    router: respx.MockRouter, oauth: ZohoOAuth, clock: ManualClock
) -> None:
    """No refresh while more than 300 s remain; the first call inside the margin refreshes."""
    route, manager = an_hour_left(router, oauth, clock)

    assert await manager.access_token() == ACCESS
    clock.advance(3600 - 301)
    assert await manager.access_token() == ACCESS
    assert route.call_count == 0

    clock.advance(2)
    assert await manager.access_token() == REFRESHED
    assert route.call_count == 1
    assert await manager.access_token() == REFRESHED
    assert route.call_count == 1


async def test_hundred_concurrent_callers_cause_exactly_one_refresh(
    router: respx.MockRouter, oauth: ZohoOAuth, clock: ManualClock
) -> None:
    """100 coroutines finding the token expired wait for one refresh and all reuse its token."""

    route = router.post(TOKEN_URL).mock(side_effect=answer_late(token_body(), delay=0.02))
    manager = TokenManager(oauth, expiring_in(clock, -10), clock)
    results = await concurrently(100, manager.access_token)

    assert route.call_count == 1
    assert results == [REFRESHED] * 100
    assert manager.refreshes == 1


async def test_invalidate_with_a_stale_token_does_not_refresh(
    router: respx.MockRouter, oauth: ZohoOAuth, clock: ManualClock
) -> None:
    """A 401 for a token that was already replaced refreshes nothing."""
    route, manager = an_hour_left(router, oauth, clock)
    assert await manager.access_token() == ACCESS

    await manager.invalidate("1000.fake-older-access-token")

    assert route.call_count == 0
    assert await manager.access_token() == ACCESS


async def test_concurrent_invalidations_of_the_current_token_refresh_once(
    router: respx.MockRouter, oauth: ZohoOAuth, clock: ManualClock
) -> None:
    """100 concurrent invalidate(current) calls do one refresh; the new token is handed out."""
    route, manager = an_hour_left(router, oauth, clock)
    token = await manager.access_token()

    async with anyio.create_task_group() as tg:
        for _ in range(100):
            tg.start_soon(manager.invalidate, token)

    assert route.call_count == 1
    assert await manager.access_token() == REFRESHED


@pytest.mark.parametrize(
    ("extra", "lifetime"),
    [
        ({"expires_in": 3600}, 3600),
        ({"expires_in": 3600000}, 3600),
        ({"expires_in": 3600000, "expires_in_sec": 1800}, 1800),
        ({"expires_in": "3600"}, 3600),
        ({}, 3600),
    ],
)
async def test_expiry_reads_seconds_or_milliseconds(
    router: respx.MockRouter,
    oauth: ZohoOAuth,
    clock: ManualClock,
    extra: dict[str, object],
    lifetime: int,
) -> None:
    """expires_in_sec wins; an expires_in above a day is milliseconds; missing means an hour."""
    body = {k: v for k, v in token_body().items() if k != "expires_in"} | extra
    router.post(TOKEN_URL).respond(200, json=body)
    tokens = await oauth.refresh(REFRESH)
    assert tokens.expires_at == clock.now() + timedelta(seconds=lifetime)


@pytest.mark.parametrize("status", [200, 400])
async def test_invalid_code_is_a_failure_whatever_the_status(
    router: respx.MockRouter, oauth: ZohoOAuth, clock: ManualClock, status: int
) -> None:
    """{"error":"invalid_code"} fails the refresh with a setup hint, even with HTTP 200."""
    router.post(TOKEN_URL).respond(status, json={"error": "invalid_code"})
    manager = TokenManager(oauth, expiring_in(clock, 0), clock)
    with pytest.raises(HelpdeskAuthError) as info:
        await manager.access_token()
    assert info.value.code == "invalid_code"
    assert "ticketing auth setup" in info.value.message


async def test_expired_authorization_code_says_to_run_setup_again(
    router: respx.MockRouter, oauth: ZohoOAuth
) -> None:
    """An invalid_code on exchange explains codes live 2 minutes and work once."""
    router.post(TOKEN_URL).respond(200, json={"error": "invalid_code"})
    with pytest.raises(HelpdeskAuthError, match="ticketing auth setup") as info:
        await oauth.exchange_code("1000.fake-code")
    assert "expired or already used" in info.value.message


async def test_invalid_client_points_at_credentials_and_data_centre(
    router: respx.MockRouter, oauth: ZohoOAuth
) -> None:
    """invalid_client names ZOHO_CLIENT_ID/SECRET and ZOHO_DC, and never the secret itself."""
    router.post(TOKEN_URL).respond(200, json={"error": "invalid_client"})
    with pytest.raises(HelpdeskAuthError) as info:
        await oauth.refresh(REFRESH)
    message = info.value.message
    assert "ZOHO_CLIENT_ID" in message
    assert "ZOHO_DC" in message
    assert CLIENT_SECRET not in message
    assert REFRESH not in message


async def test_throttled_refresh_is_rate_limited_and_not_retried_at_once(
    router: respx.MockRouter, oauth: ZohoOAuth, clock: ManualClock
) -> None:
    """Zoho's "Access Denied … too many requests" is RateLimited; the manager then waits."""
    route = router.post(TOKEN_URL).respond(
        200,
        json={
            "error": "Access Denied",
            "error_description": "You have made too many requests continuously. "
            "Please try again after some time.",
            "status": "failure",
        },
    )
    manager = TokenManager(oauth, expiring_in(clock, 0), clock)
    with pytest.raises(RateLimited) as first:
        await manager.access_token()
    assert first.value.retry_after == 60.0

    clock.advance(30)
    with pytest.raises(RateLimited) as second:
        await manager.access_token()
    assert second.value.retry_after == 30.0
    assert route.call_count == 1

    route.respond(200, json=token_body())
    clock.advance(31)
    assert await manager.access_token() == REFRESHED
    assert route.call_count == 2


@pytest.mark.parametrize(
    "answer",
    [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.Response(503, text="down")],
)
async def test_unreachable_accounts_server_is_unavailable(
    router: respx.MockRouter, oauth: ZohoOAuth, answer: Exception | httpx.Response
) -> None:
    """Network errors and 5xx from the token endpoint are transient: HelpdeskUnavailable."""
    if isinstance(answer, httpx.Response):
        router.post(TOKEN_URL).mock(return_value=answer)
    else:
        router.post(TOKEN_URL).mock(side_effect=answer)
    with pytest.raises(HelpdeskUnavailable) as info:
        await oauth.refresh(REFRESH)
    assert not isinstance(info.value, RateLimited)


async def test_authorization_code_is_exchanged_once_at_start_and_saved(
    router: respx.MockRouter, oauth: ZohoOAuth, clock: ManualClock
) -> None:
    """With no stored refresh token, ZOHO_AUTHORIZATION_CODE is exchanged once and stored."""
    route = router.post(TOKEN_URL).respond(200, json=token_body(ACCESS, refresh_token=REFRESH))
    store = MemoryTokenStore()
    manager = TokenManager(oauth, store, clock, authorization_code="1000.fake-code")

    assert await manager.access_token() == ACCESS
    assert await manager.access_token() == ACCESS

    assert route.call_count == 1
    assert "grant_type=authorization_code" in route.calls.last.request.content.decode()
    assert store.tokens is not None
    assert (store.tokens.refresh_token, store.tokens.access_token) == (REFRESH, ACCESS)
    assert store.tokens.expires_at == clock.now() + timedelta(hours=1)


async def test_stored_refresh_token_wins_over_an_unused_authorization_code(
    router: respx.MockRouter, oauth: ZohoOAuth, clock: ManualClock
) -> None:
    """A code is only exchanged when nothing is stored: a stored token means no exchange."""
    route = router.post(TOKEN_URL).respond(200, json=token_body())
    manager = TokenManager(
        oauth, expiring_in(clock, 3600), clock, authorization_code="1000.fake-code"
    )
    assert await manager.access_token() == ACCESS
    assert route.call_count == 0


async def test_refreshed_tokens_are_saved_to_the_store(
    router: respx.MockRouter, oauth: ZohoOAuth, clock: ManualClock
) -> None:
    """After a refresh the store holds the same refresh token and the new access token."""
    router.post(TOKEN_URL).respond(200, json=token_body(scope="Desk.tickets.ALL"))
    store = expiring_in(clock, 10)
    manager = TokenManager(oauth, store, clock)
    await manager.access_token()
    assert store.tokens == TokenSet(
        refresh_token=REFRESH,
        access_token=REFRESHED,
        expires_at=clock.now() + timedelta(hours=1),
        accounts_url=ACCOUNTS,
        api_domain="https://www.zohoapis.eu",
        scope="Desk.tickets.ALL",
        lifetime=3600.0,
    )


async def test_refresh_goes_to_the_accounts_server_that_issued_the_token(
    router: respx.MockRouter, oauth: ZohoOAuth, clock: ManualClock
) -> None:
    """A token exchanged at accounts.zoho.com.au is refreshed there, not at the configured host."""
    route = router.post("https://accounts.zoho.com.au/oauth/v2/token").respond(
        200, json=token_body()
    )
    store = MemoryTokenStore(
        TokenSet(refresh_token=REFRESH, accounts_url="https://accounts.zoho.com.au")
    )
    manager = TokenManager(oauth, store, clock)
    assert await manager.access_token() == REFRESHED
    assert route.call_count == 1


async def test_a_new_env_refresh_token_replaces_the_stored_one(
    router: respx.MockRouter, oauth: ZohoOAuth, clock: ManualClock
) -> None:
    """A ZOHO_REFRESH_TOKEN unlike the stored one wins; the old access token is dropped."""
    route = router.post(TOKEN_URL).respond(200, json=token_body())
    store = expiring_in(clock, 3600)
    manager = TokenManager(oauth, store, clock, refresh_token="1000.fake-new-refresh-token")

    assert await manager.access_token() == REFRESHED

    form = route.calls.last.request.content.decode()
    assert "refresh_token=1000.fake-new-refresh-token" in form
    assert store.tokens is not None
    assert store.tokens.refresh_token == "1000.fake-new-refresh-token"


async def test_the_same_env_refresh_token_keeps_the_stored_access_token(
    router: respx.MockRouter, oauth: ZohoOAuth, clock: ManualClock
) -> None:
    """ZOHO_REFRESH_TOKEN equal to the stored one changes nothing: no refresh at start."""
    route = router.post(TOKEN_URL).respond(200, json=token_body())
    manager = TokenManager(oauth, expiring_in(clock, 3600), clock, refresh_token=REFRESH)
    assert await manager.access_token() == ACCESS
    assert route.call_count == 0


async def test_no_refresh_token_and_no_code_tells_the_operator_what_to_do(
    router: respx.MockRouter, oauth: ZohoOAuth, clock: ManualClock
) -> None:
    """Nothing stored and nothing given: HelpdeskAuthError naming the two fixes, no HTTP call."""
    manager = TokenManager(oauth, MemoryTokenStore(), clock)
    with pytest.raises(HelpdeskAuthError) as info:
        await manager.access_token()
    assert "ticketing auth setup" in info.value.message
    assert "ZOHO_REFRESH_TOKEN" in info.value.message
    assert len(router.calls) == 0


async def test_status_reports_facts_but_no_secrets(oauth: ZohoOAuth, clock: ManualClock) -> None:
    """status() says whether tokens exist and when they expire, never their values."""
    manager = TokenManager(oauth, expiring_in(clock, 3600), clock)
    status = await manager.status()
    assert status["has_refresh_token"] is True
    assert status["expires_at"] == (clock.now() + timedelta(hours=1)).isoformat()
    assert status["accounts_url"] == ACCOUNTS
    text = json.dumps(status)
    assert ACCESS not in text
    assert REFRESH not in text


async def test_fleet_lock_seam_reuses_a_token_another_process_stored(
    router: respx.MockRouter, oauth: ZohoOAuth, clock: ManualClock
) -> None:
    """With a fleet lock, a fresh token found in the store under it is reused, not refreshed."""
    route = router.post(TOKEN_URL).respond(200, json=token_body())
    store = expiring_in(clock, 3600)
    held: list[str] = []

    @asynccontextmanager
    async def fleet_lock() -> AsyncIterator[None]:
        held.append("acquired")
        # Meanwhile another process refreshed and saved its token.
        store.tokens = TokenSet(
            refresh_token=REFRESH,
            access_token="1000.fake-other-process-token",
            expires_at=clock.now() + timedelta(hours=1),
            accounts_url=ACCOUNTS,
        )
        yield

    manager = TokenManager(oauth, store, clock, fleet_lock=fleet_lock)
    await manager.invalidate(await manager.access_token())

    assert held == ["acquired"]
    assert route.call_count == 0
    assert await manager.access_token() == "1000.fake-other-process-token"


class BrokenStore(MemoryTokenStore):
    """A store whose file is corrupt (load) or whose disk is full (save)."""

    def __init__(self, tokens: TokenSet | None, *, load_fails: bool, save_fails: bool) -> None:
        super().__init__(tokens)
        self.load_fails = load_fails
        self.save_fails = save_fails

    async def load(self) -> TokenSet | None:
        if self.load_fails:
            raise ConfigurationError("ZOHO_TOKEN_FILE t.json is not a valid token file")
        return await super().load()

    async def save(self, tokens: TokenSet) -> None:
        if self.save_fails:
            raise ConfigurationError("ZOHO_TOKEN_FILE t.json cannot be written")
        await super().save(tokens)


async def test_corrupt_store_surfaces_as_a_helpdesk_auth_error(
    oauth: ZohoOAuth, clock: ManualClock
) -> None:
    """Helpdesk callers only handle HelpdeskError: a corrupt token file becomes one, named."""
    manager = TokenManager(oauth, BrokenStore(None, load_fails=True, save_fails=False), clock)
    with pytest.raises(HelpdeskAuthError, match="ZOHO_TOKEN_FILE"):
        await manager.access_token()


async def test_failing_to_save_does_not_fail_the_refresh(
    router: respx.MockRouter,
    oauth: ZohoOAuth,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A refreshed token is still handed out when the store cannot be written; it is logged."""
    router.post(TOKEN_URL).respond(200, json=token_body())
    store = BrokenStore(
        TokenSet(refresh_token=REFRESH, accounts_url=ACCOUNTS), load_fails=False, save_fails=True
    )
    manager = TokenManager(oauth, store, clock)
    assert await manager.access_token() == REFRESHED
    assert "cannot be written" in caplog.text
    assert REFRESHED not in caplog.text


async def test_a_token_issued_while_the_budget_cannot_count_it_is_kept(
    router: respx.MockRouter, oauth: ZohoOAuth, clock: ManualClock
) -> None:
    """Zoho issued a token but the budget's store fails to count it: the token is used and
    kept (losing it would cost another grant); the next call does not refresh again."""
    route = router.post(TOKEN_URL).respond(200, json=token_body())

    class UncountedBudget(InMemoryRefreshBudget):
        async def record(self, subject: str) -> None:
            raise StoreUnavailable("Redis went away (injected)")

    manager = TokenManager(oauth, expiring_in(clock, 0), clock, budget=UncountedBudget(clock))
    assert await manager.access_token() == REFRESHED
    assert await manager.access_token() == REFRESHED
    assert route.call_count == 1


@pytest.mark.parametrize(
    "answer",
    [httpx.ConnectError("refused"), httpx.Response(503, text="down")],
    ids=["unreachable", "5xx"],
)
async def test_a_failing_accounts_server_is_backed_off_and_counts_nothing(
    router: respx.MockRouter,
    oauth: ZohoOAuth,
    clock: ManualClock,
    answer: Exception | httpx.Response,
) -> None:
    """A failed refresh is AccountsUnavailable; calls during the back-off are RefreshPaused
    without asking Zoho; after it, Zoho is asked again; nothing was counted."""
    route = router.post(TOKEN_URL)
    if isinstance(answer, httpx.Response):
        route.mock(return_value=answer)
    else:
        route.mock(side_effect=answer)
    budget = InMemoryRefreshBudget(clock, jitter=lambda: 0.999)
    manager = TokenManager(oauth, expiring_in(clock, 0), clock, budget=budget)
    with pytest.raises(AccountsUnavailable) as failed:
        await manager.access_token()
    assert "next token refresh in 1.0s (back-off)" in failed.value.message
    with pytest.raises(RefreshPaused) as paused:
        await manager.access_token()
    assert paused.value.code == "refresh_backoff"
    assert route.call_count == 1

    route.mock(side_effect=None, return_value=httpx.Response(200, json=token_body()))
    clock.advance(1)
    assert await manager.access_token() == REFRESHED
    assert route.call_count == 2
    assert (await manager.report()).budget == RefreshAllowance(
        granted=True, used=1, limit=8, window=600.0
    )
