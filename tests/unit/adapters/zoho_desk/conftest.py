"""Fixtures for the Zoho adapter tests: a token store in memory and a mocked Zoho."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import httpx
import pytest
import respx

from ticketing.adapters.zoho_desk.client import ZohoDeskClient
from ticketing.adapters.zoho_desk.oauth import TokenManager, ZohoOAuth
from ticketing.domain.ports import TokenSet

from tests.support import zoho
from tests.support.clock import ManualClock
from tests.support.zoho import MemoryTokenStore


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as mock:
        yield mock


@pytest.fixture
async def http(router: respx.MockRouter) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def store(clock: ManualClock) -> MemoryTokenStore:
    return MemoryTokenStore(
        TokenSet(
            refresh_token=zoho.REFRESH,
            access_token=zoho.ACCESS,
            expires_at=clock.now() + timedelta(hours=1),
            accounts_url=zoho.ACCOUNTS,
        )
    )


@pytest.fixture
def oauth(http: httpx.AsyncClient, clock: ManualClock) -> ZohoOAuth:
    return ZohoOAuth(
        http,
        accounts_url=zoho.ACCOUNTS,
        client_id=zoho.CLIENT_ID,
        client_secret=zoho.CLIENT_SECRET,
        redirect_uri="http://localhost:8888/callback",
        scope="Desk.tickets.ALL,Desk.contacts.ALL,Desk.basic.ALL,Desk.search.READ",
        clock=clock,
    )


@pytest.fixture
def tokens(oauth: ZohoOAuth, store: MemoryTokenStore, clock: ManualClock) -> TokenManager:
    return TokenManager(oauth, store, clock)


@pytest.fixture
def desk(http: httpx.AsyncClient, tokens: TokenManager, clock: ManualClock) -> ZohoDeskClient:
    return ZohoDeskClient(
        http, tokens, clock, desk_url=zoho.DESK, org_id=zoho.ORG, department_id="7001"
    )
