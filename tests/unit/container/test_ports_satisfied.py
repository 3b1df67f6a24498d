"""Every adapter offers every member of the ports it is wired to, with a call shape the port's
callers can use: the runtime half of what the typed builders in ``ticketing.container`` let
mypy prove, covering the adapters no builder names (the in-memory helpdesk, the guard)."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import fakeredis
import httpx
import pytest

from ticketing.adapters.browser import SystemBrowser
from ticketing.adapters.clock import SystemClock
from ticketing.adapters.memory import InMemoryRefreshBudget, InMemoryTokenStore
from ticketing.adapters.memory_helpdesk import InMemoryHelpdesk
from ticketing.adapters.oauth_callback import LoopbackCallbackServer
from ticketing.adapters.prometheus import PrometheusMetrics
from ticketing.adapters.redis.liveness import Heartbeat
from ticketing.adapters.token_file import FileTokenStore
from ticketing.adapters.zoho_desk.client import ZohoDeskClient
from ticketing.adapters.zoho_desk.oauth import TokenManager
from ticketing.application.guard import GuardedHelpdesk
from ticketing.container import InProcessBackend, RedisBackend, build_backend
from ticketing.container.zoho import build_oauth, build_zoho_endpoints
from ticketing.domain.breaker import CircuitBreaker
from ticketing.domain.ports import (
    AuthorizationServer,
    Browser,
    CallbackServer,
    CallGate,
    Clock,
    ContactCache,
    Credentials,
    DeadLetters,
    Helpdesk,
    Leases,
    Metrics,
    PendingQueue,
    ProcessLiveness,
    QueueMonitor,
    QuotaMeter,
    RefreshBudget,
    TicketLedger,
    TicketStore,
    TokenStore,
)
from ticketing.settings import Settings

from tests.support.clock import ManualClock

_PROTOCOL_BASES = {"Protocol", "Generic", "object"}


def port_members(port: type) -> dict[str, Any]:
    """The members a port declares (its own and its parent ports'), by name."""
    members: dict[str, Any] = {}
    for klass in reversed(port.__mro__):
        if klass.__name__ in _PROTOCOL_BASES:
            continue
        for name in getattr(klass, "__annotations__", {}):
            members.setdefault(name, None)  # a data member
        for name, value in vars(klass).items():
            if not name.startswith("_"):
                members[name] = value
    return members


def shape_problems(adapter: object, port: type) -> list[str]:
    """Why ``adapter`` does not fit ``port``: missing members, sync for async (or the
    reverse), parameters a caller of the port would pass that the adapter does not take."""
    problems = []
    for name, declared in port_members(port).items():
        if not hasattr(adapter, name):
            problems.append(f"{name}: missing")
            continue
        if not inspect.isfunction(declared):
            continue  # a data member or a property: present is all a caller needs
        offered = getattr(adapter, name)
        if not callable(offered):
            problems.append(f"{name}: not callable")
            continue
        if inspect.iscoroutinefunction(declared) != inspect.iscoroutinefunction(offered):
            problems.append(f"{name}: async/sync differs from the port")
        problems.extend(f"{name}: {p}" for p in _parameter_problems(declared, offered))
    return problems


def _parameter_problems(declared: Any, offered: Any) -> list[str]:
    wanted = list(inspect.signature(declared).parameters.values())[1:]  # without self
    taken = inspect.signature(offered).parameters
    if any(p.kind is p.VAR_KEYWORD for p in taken.values()):
        return []
    problems = []
    positional = [
        p.name for p in taken.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    for index, param in enumerate(wanted):
        if param.name not in taken:
            problems.append(f"takes no {param.name!r}")
        elif param.kind is param.POSITIONAL_OR_KEYWORD and positional[index : index + 1] != [
            param.name
        ]:
            problems.append(f"{param.name!r} is not in position {index}")
    declared_names = {p.name for p in wanted}
    for param in taken.values():
        extra = param.name not in declared_names and param.kind not in (
            param.VAR_POSITIONAL,
            param.VAR_KEYWORD,
        )
        if extra and param.default is param.empty:
            problems.append(f"needs {param.name!r}, which the port does not pass")
    return problems


def backends() -> list[Any]:
    settings = Settings.load({}, dotenv=None)
    return [
        build_backend(settings, None, ManualClock()),
        build_backend(settings, fakeredis.FakeAsyncRedis(), ManualClock()),
    ]


def adapters(tmp_path: Path) -> list[tuple[str, object, tuple[type, ...]]]:
    """(what, adapter, the ports it is wired to)."""
    clock = ManualClock()
    http = httpx.AsyncClient()
    settings = Settings.load({}, dotenv=None)  # no Zoho credentials: the sandbox's client
    endpoints = build_zoho_endpoints(settings)
    oauth = build_oauth(settings, endpoints, http, clock)
    tokens = TokenManager(oauth, InMemoryTokenStore(), clock)
    zoho = ZohoDeskClient(http, tokens, clock, desk_url=endpoints.desk_url, org_id="1")
    found: list[tuple[str, object, tuple[type, ...]]] = []
    for backend in backends():
        kind = type(backend).__name__
        store = (TicketStore, TicketLedger, PendingQueue, DeadLetters, QueueMonitor)
        found += [
            (f"{kind}.store", backend.store, store),
            (f"{kind}.leases", backend.leases, (Leases,)),
            (f"{kind}.contact_cache", backend.contact_cache, (ContactCache,)),
            (f"{kind}.call_gate", backend.call_gate, (CallGate,)),
        ]
        if isinstance(backend, RedisBackend):
            found += [
                (
                    f"{kind}.shared_tokens",
                    backend.shared_tokens(InMemoryTokenStore()),
                    (TokenStore,),
                ),
                (
                    f"{kind}.shared_refresh_budget",
                    backend.shared_refresh_budget(),
                    (RefreshBudget,),
                ),
            ]
    return [
        *found,
        ("InMemoryTokenStore", InMemoryTokenStore(), (TokenStore,)),
        ("FileTokenStore", FileTokenStore(tmp_path / "tokens.json"), (TokenStore,)),
        ("InMemoryRefreshBudget", InMemoryRefreshBudget(clock, limit=10), (RefreshBudget,)),
        ("ZohoDeskClient", zoho, (Helpdesk, QuotaMeter)),
        ("InMemoryHelpdesk", InMemoryHelpdesk(clock=clock), (Helpdesk,)),
        ("GuardedHelpdesk", GuardedHelpdesk(zoho, CircuitBreaker(clock), clock), (Helpdesk,)),
        ("TokenManager", tokens, (Credentials,)),
        ("ZohoOAuth", oauth, (AuthorizationServer,)),
        ("SystemClock", SystemClock(), (Clock,)),
        (
            "Heartbeat",
            Heartbeat(fakeredis.FakeAsyncRedis(), ttl=5, every=1),
            (ProcessLiveness,),
        ),
        ("ManualClock", clock, (Clock,)),
        ("SystemBrowser", SystemBrowser(), (Browser,)),
        (
            "LoopbackCallbackServer",
            LoopbackCallbackServer("http://localhost:8888/cb"),
            (CallbackServer,),
        ),
        ("PrometheusMetrics", PrometheusMetrics(), (Metrics,)),
    ]


def test_every_adapter_offers_every_member_of_its_ports(tmp_path: Path) -> None:
    """Each adapter has each member of each port it is wired to, async where the port is
    async, taking every parameter the port's callers pass."""
    problems = [
        f"{what} as {port.__name__}: {problem}"
        for what, adapter, ports in adapters(tmp_path)
        for port in ports
        for problem in shape_problems(adapter, port)
    ]
    assert problems == []


def test_the_backend_is_chosen_once_by_the_redis_client() -> None:
    """No Redis client: every adapter in this process; a client: every adapter on Redis."""
    in_process, on_redis = backends()
    assert isinstance(in_process, InProcessBackend)
    assert isinstance(on_redis, RedisBackend)
    assert in_process.store is in_process.store  # built once, then kept


def test_the_check_notices_a_missing_member_and_a_wrong_shape() -> None:
    """The shape check itself fails an adapter that lacks a member or takes other arguments
    (so an empty problem list above means something)."""

    class Broken:
        def acquire(self, name: str, owner: str, ttl: float) -> bool:  # sync, not async
            return True

        async def release(self, name: str, holder: str) -> None:  # 'owner' renamed
            return None

    problems = shape_problems(Broken(), Leases)
    assert problems == [
        "acquire: async/sync differs from the port",
        "release: takes no 'owner'",
        "release: needs 'holder', which the port does not pass",
    ]


@pytest.mark.parametrize("port", [TicketLedger, PendingQueue, DeadLetters, QueueMonitor])
def test_the_whole_store_is_the_union_of_the_narrow_ports(port: type) -> None:
    """TicketStore declares every member of each narrow store port."""
    assert set(port_members(port)) <= set(port_members(TicketStore))
