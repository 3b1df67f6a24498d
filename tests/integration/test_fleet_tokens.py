"""Fleet token handling against the emulator: one refresh at a time across instances, the
refresh budget, 401s that re-check the shared store, revoked tokens, and the stores' locks."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import anyio
import fakeredis
import httpx
import pytest
import redis.asyncio as aioredis

from ticketing.adapters.lease_lock import LeaseLock
from ticketing.adapters.memory import InMemoryRefreshBudget, InMemoryTokenStore
from ticketing.adapters.redis.budget import RedisRefreshBudget
from ticketing.adapters.redis.leases import RedisLeases
from ticketing.adapters.redis.tokens import RedisTokenStore
from ticketing.adapters.token_file import FileTokenStore
from ticketing.adapters.zoho_desk.client import ZohoDeskClient
from ticketing.adapters.zoho_desk.oauth import FleetLock, TokenManager, ZohoOAuth
from ticketing.domain.errors import (
    HelpdeskAuthError,
    HelpdeskUnavailable,
    RateLimited,
    RefreshPaused,
    StoreUnavailable,
    TokenStoreUnavailable,
)
from ticketing.domain.ports import RefreshBudget, TokenSet, TokenStore
from zoho_desk_emulator import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_ORG_ID,
    SANDBOX_REDIRECT_URI,
    SANDBOX_REFRESH_TOKEN,
    SANDBOX_SCOPE,
    EmulatorState,
    create_emulator_app,
)

from tests.support.clock import ManualClock
from tests.support.env import sandbox_client_at

pytestmark = pytest.mark.anyio

ZOHO = "http://zoho-emulator"


class SlowTokenEndpoint(httpx.AsyncBaseTransport):
    """The emulator behind a transport that makes token requests take ``delay`` seconds, so
    that concurrent instances really overlap while one of them refreshes."""

    def __init__(self, state: EmulatorState, delay: float = 0.0) -> None:
        self._inner = httpx.ASGITransport(app=create_emulator_app(state))
        self.delay = delay

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/v2/token" and self.delay:
            await anyio.sleep(self.delay)
        return await self._inner.handle_async_request(request)


@dataclass
class Instance:
    """One service instance's token side: its own HTTP client, store, lock and budget."""

    http: httpx.AsyncClient
    oauth: ZohoOAuth
    tokens: TokenManager
    desk: ZohoDeskClient


def instance(
    state: EmulatorState,
    clock: ManualClock,
    store: TokenStore,
    *,
    fleet_lock: FleetLock | None = None,
    budget: RefreshBudget | None = None,
    delay: float = 0.0,
    refresh_token: str | None = None,
) -> Instance:
    http = httpx.AsyncClient(transport=SlowTokenEndpoint(state, delay))
    oauth = ZohoOAuth(
        http,
        accounts_url=ZOHO,
        client_id=SANDBOX_CLIENT_ID,
        client_secret=SANDBOX_CLIENT_SECRET,
        redirect_uri=SANDBOX_REDIRECT_URI,
        scope=SANDBOX_SCOPE,
        clock=clock,
    )
    tokens = TokenManager(
        oauth, store, clock, fleet_lock=fleet_lock, budget=budget, refresh_token=refresh_token
    )
    desk = ZohoDeskClient(http, tokens, clock, desk_url=ZOHO, org_id=SANDBOX_ORG_ID)
    return Instance(http, oauth, tokens, desk)


def expired(clock: ManualClock, refresh_token: str = SANDBOX_REFRESH_TOKEN) -> TokenSet:
    return TokenSet(
        refresh_token=refresh_token,
        access_token="1000.fake-expired-access-token",
        expires_at=clock.now() - timedelta(minutes=5),
        accounts_url=ZOHO,
    )


async def tokens_at_once(instances: list[Instance], callers: int) -> list[str]:
    """``callers`` callers on each instance asking for an access token at the same moment;
    the tokens they got."""
    tokens: list[str] = []

    async def ask(inst: Instance) -> None:
        tokens.append(await inst.tokens.access_token())

    async with anyio.create_task_group() as tg:
        for inst in instances:
            for _ in range(callers):
                tg.start_soon(ask, inst)
    return tokens


async def departments_at_once(inst: Instance, calls: int) -> list[int]:
    """``calls`` concurrent Desk calls listing the departments; how many each got."""
    counts: list[int] = []

    async def call() -> None:
        counts.append(len(await inst.desk.list_departments()))

    async with anyio.create_task_group() as tg:
        for _ in range(calls):
            tg.start_soon(call)
    return counts


def token_requests(state: EmulatorState) -> list[int]:
    """Statuses of every POST /oauth/v2/token the emulator answered."""
    return [c.status for c in state.calls if c.path == "/oauth/v2/token"]


@pytest.fixture
def state(clock: ManualClock) -> EmulatorState:
    return EmulatorState(clock)


@pytest.fixture(params=["fakeredis", pytest.param("redis", marks=pytest.mark.redis)])
async def clients(
    request: pytest.FixtureRequest, key_prefix: str
) -> AsyncIterator[list[aioredis.Redis]]:
    """Three Redis clients with their own connections on one server (three instances)."""
    if request.param == "fakeredis":
        server = fakeredis.FakeServer()
        made: list[aioredis.Redis] = [fakeredis.FakeAsyncRedis(server=server) for _ in range(3)]
    else:
        url = request.getfixturevalue("real_redis_url")
        made = [aioredis.Redis.from_url(url) for _ in range(3)]
    try:
        yield made
    finally:
        async for key in made[0].scan_iter(match=f"{key_prefix}*"):
            await made[0].delete(key)
        for client in made:
            await client.aclose()


def redis_instance(
    state: EmulatorState,
    clock: ManualClock,
    client: aioredis.Redis,
    prefix: str,
    *,
    delay: float = 0.0,
    limit: int = 8,
) -> Instance:
    """An instance wired like production with Redis as the token store."""
    store = RedisTokenStore(client, prefix=prefix)
    lock = LeaseLock(RedisLeases(client, prefix=prefix), "ticketing:oauth:refresh-lock", ttl=30)
    budget = RedisRefreshBudget(client, clock, limit=limit, prefix=prefix)
    return instance(state, clock, store, fleet_lock=lock, budget=budget, delay=delay)


# ------------------------------------------------------------------ across instances


async def test_three_instances_sharing_redis_refresh_an_expired_token_once(
    state: EmulatorState, clock: ManualClock, clients: list[aioredis.Redis], key_prefix: str
) -> None:
    """Three instances, each with its own Redis connection and 30 callers, find the shared
    token expired while a refresh takes 0.2 s: the emulator sees one refresh and every caller
    gets the same new token."""
    instances = [redis_instance(state, clock, client, key_prefix, delay=0.2) for client in clients]
    await instances[0].tokens.adopt(expired(clock))
    tokens = await tokens_at_once(instances, 30)

    assert state.token_refreshes == 1
    assert len(tokens) == 90
    assert len(set(tokens)) == 1
    assert sum(i.tokens.refreshes for i in instances) == 1
    stored = await RedisTokenStore(clients[0], prefix=key_prefix).load()
    assert stored is not None
    assert stored.access_token == tokens[0]
    for inst in instances:
        await inst.http.aclose()


async def test_hundred_concurrent_requests_with_an_expired_token_refresh_once(
    state: EmulatorState, clock: ManualClock, clients: list[aioredis.Redis], key_prefix: str
) -> None:
    """100 concurrent Desk calls on an instance whose shared token has expired: one refresh
    at Zoho, every call succeeds."""
    inst = redis_instance(state, clock, clients[0], key_prefix, delay=0.1)
    await inst.tokens.adopt(expired(clock))
    counts = await departments_at_once(inst, 100)

    assert state.token_refreshes == 1
    assert counts == [2] * 100
    await inst.http.aclose()


async def test_a_401_re_checks_the_shared_store_before_refreshing(
    state: EmulatorState, clock: ManualClock, clients: list[aioredis.Redis], key_prefix: str
) -> None:
    """Instance B is told its token is rejected after instance A already replaced it: B takes
    A's token from the store, no second refresh."""
    a, b = (redis_instance(state, clock, c, key_prefix) for c in clients[:2])
    await a.tokens.adopt(expired(clock))
    first = await a.tokens.access_token()
    assert await b.tokens.access_token() == first
    await a.tokens.invalidate(first)
    second = await a.tokens.access_token()
    assert second != first
    assert state.token_refreshes == 2

    await b.tokens.invalidate(first)

    assert state.token_refreshes == 2
    assert await b.tokens.access_token() == second
    for inst in (a, b):
        await inst.http.aclose()


async def test_zoho_throttling_pauses_every_instance(
    state: EmulatorState, clock: ManualClock, clients: list[aioredis.Redis], key_prefix: str
) -> None:
    """When Zoho answers "too many requests" to one instance, the others do not ask Zoho
    again before the pause ends, and they say why."""
    for _ in range(10):  # someone else spent Zoho's 10 refreshes of this window
        state.token(
            {
                "grant_type": "refresh_token",
                "client_id": SANDBOX_CLIENT_ID,
                "client_secret": SANDBOX_CLIENT_SECRET,
                "refresh_token": SANDBOX_REFRESH_TOKEN,
            }
        )
    a, b = (redis_instance(state, clock, c, key_prefix) for c in clients[:2])
    await a.tokens.adopt(expired(clock))
    with pytest.raises(RateLimited):
        await a.tokens.access_token()
    asked = len(token_requests(state))

    with pytest.raises(RefreshPaused) as paused:
        await b.tokens.access_token()

    assert len(token_requests(state)) == asked
    assert "Zoho refused a refresh as too many" in paused.value.message
    assert paused.value.retry_after is not None
    assert 0 < paused.value.retry_after <= 60
    for inst in (a, b):
        await inst.http.aclose()


# ------------------------------------------------------------------ the budget


async def test_budget_backs_off_before_zohos_limit_and_says_why(
    state: EmulatorState, clock: ManualClock
) -> None:
    """Twelve forced refreshes in ten minutes: the budget of 8 stops the ninth with a message
    saying until when and why; Zoho never answers "too many"; after the window it works."""
    store = InMemoryTokenStore(expired(clock))
    inst = instance(state, clock, store, budget=InMemoryRefreshBudget(clock, limit=8))
    started = clock.now()
    refused: list[RefreshPaused] = []
    for _ in range(12):
        clock.advance(30)
        try:
            token = await inst.tokens.access_token()
            await inst.tokens.invalidate(token)  # as after a 401: forces the next refresh
        except RefreshPaused as exc:
            refused.append(exc)

    assert state.token_refreshes == 8
    assert set(token_requests(state)) == {200}
    assert refused
    until = started + timedelta(seconds=30 + 600)
    message = refused[0].message
    assert f"paused until {until:%Y-%m-%d %H:%M:%S} UTC" in message
    assert "8 refreshes were made in the last 10 minutes" in message
    assert "ZOHO_REFRESH_BUDGET=8" in message
    assert isinstance(refused[0], RateLimited)

    clock.advance(600)
    await inst.tokens.invalidate(await inst.tokens.access_token())
    assert state.token_refreshes == 9
    status = await inst.tokens.report()
    assert status.budget is not None
    assert status.budget.granted
    await inst.http.aclose()


# ------------------------------------------------------------------ 401s and revocation


async def test_a_revoked_access_token_recovers_with_one_refresh_for_100_requests(
    state: EmulatorState, clock: ManualClock
) -> None:
    """Zoho drops the access token (revoked, or the 16th live one): 100 concurrent Desk calls
    get 401, one refresh happens, every call succeeds on its retry."""
    inst = instance(state, clock, InMemoryTokenStore(expired(clock)))
    revoked = await inst.tokens.access_token()
    assert state.token_refreshes == 1
    state.revoke(revoked)
    results = await departments_at_once(inst, 100)

    assert state.token_refreshes == 2
    assert len(results) == 100
    assert set(results) == {2}  # the enabled departments
    await inst.http.aclose()


async def test_a_revoked_refresh_token_stops_asking_and_recovers_after_reauthorization(
    state: EmulatorState, clock: ManualClock, clients: list[aioredis.Redis], key_prefix: str
) -> None:
    """A revoked refresh token fails once with what to do, is not sent to Zoho again, and an
    `auth setup` elsewhere (new tokens in the shared store) is picked up without a refresh;
    a new refresh token given alone costs exactly one refresh."""
    inst = redis_instance(state, clock, clients[0], key_prefix)
    await inst.tokens.adopt(expired(clock))
    await inst.tokens.access_token()
    state.revoke(SANDBOX_REFRESH_TOKEN)

    with pytest.raises(HelpdeskAuthError, match="ticketing auth setup"):
        await inst.desk.list_departments()
    asked = len(token_requests(state))
    for _ in range(3):
        with pytest.raises(HelpdeskAuthError, match="ticketing auth setup"):
            await inst.desk.list_departments()
    assert len(token_requests(state)) == asked

    # `ticketing auth setup` in another process: consent, code exchange, tokens stored.
    other = redis_instance(state, clock, clients[1], key_prefix)
    answer = state.authorize(
        client_id=SANDBOX_CLIENT_ID,
        redirect_uri=SANDBOX_REDIRECT_URI,
        response_type="code",
        scope=SANDBOX_SCOPE,
        access_type="offline",
    )
    await other.tokens.adopt(await other.oauth.exchange_code(answer["code"]))
    refreshes = state.token_refreshes

    assert len(await inst.desk.list_departments()) == 2
    assert state.token_refreshes == refreshes

    # Re-authorized by a refresh token alone (ZOHO_REFRESH_TOKEN at the next start).
    stored = await RedisTokenStore(clients[0], prefix=key_prefix).load()
    assert stored is not None
    assert stored.refresh_token is not None
    restarted = instance(
        state,
        clock,
        InMemoryTokenStore(TokenSet(refresh_token="1000.fake-old", accounts_url=ZOHO)),
        refresh_token=stored.refresh_token,
    )
    assert len(await restarted.desk.list_departments()) == 2
    assert state.token_refreshes == refreshes + 1
    for each in (inst, other, restarted):
        await each.http.aclose()


# ------------------------------------------------------------------ one host, a token file


async def test_two_processes_sharing_a_token_file_refresh_once(
    state: EmulatorState, clock: ManualClock, tmp_path: Path
) -> None:
    """Two instances on one host, each with its own handle on the token file and its lock
    file, find the token expired: one refresh (the lock file serializes them)."""
    path = tmp_path / "tokens.json"
    await FileTokenStore(path).save(expired(clock))
    instances = []
    for _ in range(2):
        store = FileTokenStore(path)
        instances.append(instance(state, clock, store, fleet_lock=store.lock, delay=0.1))
    tokens = await tokens_at_once(instances, 20)

    assert state.token_refreshes == 1
    assert len(set(tokens)) == 1
    for inst in instances:
        await inst.http.aclose()


async def test_the_lock_file_is_exclusive_and_a_stuck_holder_times_out(tmp_path: Path) -> None:
    """A second holder of the token file's lock waits for the first; past its wait it gives
    up with HelpdeskUnavailable instead of hanging."""
    path = tmp_path / "tokens.json"
    first, second = FileTokenStore(path), FileTokenStore(path)
    order: list[str] = []
    first_in = anyio.Event()

    async def hold() -> None:
        async with first.lock():
            order.append("first in")
            first_in.set()
            await anyio.sleep(0.2)
            order.append("first out")

    async def wait_then_hold() -> None:
        await first_in.wait()  # the first holds the lock (however long taking it took)
        async with second.lock():
            order.append("second in")

    async with anyio.create_task_group() as tg:
        tg.start_soon(hold)
        tg.start_soon(wait_then_hold)
    assert order == ["first in", "first out", "second in"]

    async with first.lock():
        with pytest.raises(HelpdeskUnavailable, match=r"tokens\.json\.lock"):
            async with second.lock(wait=0.1):
                pass


# ------------------------------------------------------------------ the lease lock


async def test_lease_lock_waits_for_the_holder_and_survives_a_dead_one(key_prefix: str) -> None:
    """The lease serializes holders; a holder that died without releasing frees it after
    its time to live; a waiter gives up after its wait."""
    client = fakeredis.FakeAsyncRedis()
    leases = RedisLeases(client, prefix=key_prefix)
    lock = LeaseLock(leases, "refresh", ttl=0.3, wait=2)
    inside = 0
    most = 0

    async def hold() -> None:
        nonlocal inside, most
        async with lock():
            inside += 1
            most = max(most, inside)
            await anyio.sleep(0.02)
            inside -= 1

    async with anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(hold)
    assert most == 1

    assert await leases.acquire("refresh", "a-process-that-died", 0.3)
    with anyio.fail_after(2):
        async with lock():
            pass

    assert await leases.acquire("refresh", "a-slow-process", 5)
    impatient = LeaseLock(leases, "refresh", ttl=5, wait=0.1, what="the token refresh lock")
    with pytest.raises(HelpdeskUnavailable, match="the token refresh lock"):
        async with impatient():
            pass
    await client.aclose()


# ------------------------------------------------------------------ stores


async def test_redis_store_imports_a_token_file_once(
    clock: ManualClock, tmp_path: Path, key_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    """An empty Redis with a token file beside: five instances starting at once import it
    once; later the file is no longer read."""
    server = fakeredis.FakeServer()
    clients = [fakeredis.FakeAsyncRedis(server=server) for _ in range(5)]
    file_store = FileTokenStore(tmp_path / "tokens.json")
    tokens = expired(clock)
    await file_store.save(tokens)
    stores = [RedisTokenStore(c, prefix=key_prefix, import_from=file_store) for c in clients]
    loaded: list[TokenSet | None] = []

    async def load(store: RedisTokenStore) -> None:
        loaded.append(await store.load())

    with caplog.at_level(logging.WARNING):
        async with anyio.create_task_group() as tg:
            for store in stores:
                tg.start_soon(load, store)
    assert loaded == [tokens] * 5
    imports = [r for r in caplog.records if "imported the OAuth tokens" in r.getMessage()]
    assert len(imports) == 1
    assert tokens.refresh_token not in caplog.text

    await file_store.save(TokenSet(refresh_token="1000.fake-file-only"))
    assert await stores[0].load() == tokens
    for client in clients:
        await client.aclose()


async def test_unreachable_redis_token_store_is_both_helpdesk_and_store_unavailable(
    state: EmulatorState, clock: ManualClock
) -> None:
    """With Redis down, a Zoho call fails as TokenStoreUnavailable: Helpdesk callers see a
    HelpdeskUnavailable (nothing was sent), the CLI sees a StoreUnavailable (fix Redis)."""
    client = aioredis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    inst = redis_instance(state, clock, client, "t:")
    with pytest.raises(TokenStoreUnavailable) as info:
        await inst.desk.list_departments()
    assert isinstance(info.value, HelpdeskUnavailable)
    assert isinstance(info.value, StoreUnavailable)
    assert not info.value.sent
    assert "127.0.0.1:1" in info.value.message
    assert token_requests(state) == []
    await client.aclose()
    await inst.http.aclose()


# ------------------------------------------------------------------ health says why


async def test_health_says_refreshes_are_paused_until_when_and_why(
    tmp_path: Path, key_prefix: str
) -> None:
    """With the fleet's budget spent and the token due, a ticket is queued (202) and /health
    is degraded with a last_error saying until when and why."""
    from dependency_injector import providers
    from litestar.testing import AsyncTestClient

    from ticketing.adapters.zoho_desk.oauth import fingerprint
    from ticketing.container import Container
    from ticketing.entrypoints.http.app import create_app
    from ticketing.settings import Settings

    clock = ManualClock()
    state = EmulatorState(clock)
    redis = fakeredis.FakeAsyncRedis()
    env = sandbox_client_at(
        ZOHO,
        ZOHO_TOKEN_FILE=str(tmp_path / "tokens.json"),
        REDIS_URL="redis://127.0.0.1:6379/15",
        REDIS_KEY_PREFIX=key_prefix,
        TICKET_QUEUE_NAME=f"{key_prefix}tickets:pending",
        TICKET_DEAD_LETTER_NAME=f"{key_prefix}tickets:dead",
        TICKET_CREATED_NAME=f"{key_prefix}tickets:created",
    )

    async def emulator_http() -> AsyncIterator[httpx.AsyncClient]:
        async with httpx.AsyncClient(transport=SlowTokenEndpoint(state)) as client:
            yield client

    container = Container()
    container.settings.override(providers.Object(Settings.load(env, dotenv=None)))
    container.http.override(providers.Resource(emulator_http))
    container.redis.override(providers.Object(redis))
    container.clock.override(providers.Object(clock))
    budget = RedisRefreshBudget(redis, clock, limit=8, prefix=key_prefix)
    for _ in range(8):  # the rest of the fleet spent this window's budget
        await budget.record(fingerprint(SANDBOX_REFRESH_TOKEN))

    app = create_app(container, drain=False, consumer=False)
    async with AsyncTestClient(app) as client:
        form = {"customer_email": "ana@example.com", "subject": "Hola", "description": "Hola"}
        accepted = await client.post("/tickets/customer", data=form)
        health = await client.get("/health")
    assert accepted.status_code == 202, accepted.text
    body = health.json()
    assert health.status_code == 200
    assert body["status"] == "degraded"
    assert "refreshes are paused until 2026-11-26 10:10:00 UTC" in body["last_error"]
    assert "8 refreshes were made in the last 10 minutes" in body["last_error"]
    assert state.token_refreshes == 0
    await redis.aclose()
