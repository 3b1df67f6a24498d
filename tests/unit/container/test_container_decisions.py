"""The composition root's two decisions, each made once: the backend (Redis or this process)
and the token storage (memory, file or Redis), and what reads the latter; and the one loop
that polls a cross-process lock."""

from __future__ import annotations

from pathlib import Path

import fakeredis
import pytest

from ticketing.adapters.lease_lock import LeaseLock, poll
from ticketing.adapters.memory import InMemoryRefreshBudget, InMemoryTokenStore
from ticketing.adapters.redis.budget import RedisRefreshBudget
from ticketing.adapters.redis.tokens import RedisTokenStore
from ticketing.adapters.token_file import FileTokenStore
from ticketing.container import build_backend, build_zoho_endpoints
from ticketing.container.zoho import (
    TokenStorage,
    build_refresh_budget,
    build_refresh_lock,
    build_token_store,
    build_zoho_config,
    decide_token_storage,
)
from ticketing.domain.errors import ConfigurationError
from ticketing.settings import Settings

from tests.support.clock import ManualClock

ZOHO = {"ZOHO_CLIENT_ID": "1000.fake", "ZOHO_CLIENT_SECRET": "fake"}
REDIS = {"REDIS_URL": "redis://127.0.0.1:6379/15"}


def storage_for(**env: str) -> TokenStorage:
    settings = Settings.load(env, dotenv=None)
    return decide_token_storage(settings, build_zoho_endpoints(settings))


@pytest.mark.parametrize(
    ("env", "kind"),
    [
        ({}, "memory"),  # sandbox: no Zoho credentials
        (ZOHO, "file"),
        (ZOHO | REDIS, "redis"),
        (ZOHO | REDIS | {"ZOHO_TOKEN_STORE": "file"}, "file"),
    ],
)
def test_the_token_storage_is_decided_from_the_settings(env: dict[str, str], kind: str) -> None:
    """Sandbox keeps tokens in memory; otherwise ZOHO_TOKEN_STORE, auto meaning Redis when
    REDIS_URL is set and the file when it is not."""
    assert storage_for(**env) == TokenStorage(kind)  # type: ignore[arg-type]


def test_tokens_in_redis_without_redis_is_refused() -> None:
    """ZOHO_TOKEN_STORE=redis without REDIS_URL is a configuration error, said once."""
    with pytest.raises(ConfigurationError, match="ZOHO_TOKEN_STORE=redis needs REDIS_URL"):
        storage_for(**ZOHO, ZOHO_TOKEN_STORE="redis")


def test_every_token_adapter_follows_the_one_decision(tmp_path: Path) -> None:
    """Store, refresh budget, refresh lock and the admin tools' config all read the same
    TokenStorage: Redis for a fleet, the file for one host, memory in the sandbox."""
    settings = Settings.load(ZOHO | REDIS, dotenv=None)
    endpoints = build_zoho_endpoints(settings)
    clock = ManualClock()
    backend = build_backend(settings, fakeredis.FakeAsyncRedis(), clock)
    token_file = FileTokenStore(tmp_path / "tokens.json")

    def built(kind: str) -> tuple[object, object, object, str]:
        storage = TokenStorage(kind)  # type: ignore[arg-type]
        return (
            build_token_store(settings, storage, token_file, backend),
            build_refresh_budget(settings, storage, backend, clock),
            build_refresh_lock(settings, storage, token_file, backend),
            build_zoho_config(settings, endpoints, storage).token_store,
        )

    store, budget, lock, said = built("redis")
    assert isinstance(store, RedisTokenStore)
    assert isinstance(budget, RedisRefreshBudget)
    assert isinstance(lock, LeaseLock)
    assert said == "redis"
    store, budget, lock, said = built("file")
    assert store is token_file
    assert isinstance(budget, InMemoryRefreshBudget)
    assert lock == token_file.lock
    assert said == "file"
    store, budget, lock, said = built("memory")
    assert isinstance(store, InMemoryTokenStore)
    assert isinstance(budget, InMemoryRefreshBudget)
    assert lock is None
    assert said == "memory"


@pytest.mark.anyio
async def test_poll_takes_the_lock_once_it_is_free() -> None:
    """poll() tries again until the take succeeds, and says so."""
    tries: list[int] = []

    async def take() -> bool:
        tries.append(1)
        return len(tries) == 3

    assert await poll(take, wait=5.0) is True
    assert len(tries) == 3


@pytest.mark.anyio
async def test_poll_gives_up_after_the_wait() -> None:
    """A lock that never frees up: poll() answers False once ``wait`` has passed."""

    async def take() -> bool:
        return False

    assert await poll(take, wait=0.05) is False
