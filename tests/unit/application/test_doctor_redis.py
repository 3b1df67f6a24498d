"""The doctor's view of the Redis server: persistence, eviction policy and the living
processes, read through the RedisFacts port (a fake here; the real one in
tests/integration/test_doctor_redis.py)."""

from __future__ import annotations

from typing import Any

import pytest

from ticketing.application.auth import ZohoConfig
from ticketing.application.doctor import Doctor, DoctorReport, configuration_failed
from ticketing.domain.errors import StoreUnavailable
from ticketing.domain.ports import StoreFacts, TokenStatus
from ticketing.entrypoints.cli.commands.doctor import _doctor_json, _doctor_text

pytestmark = pytest.mark.anyio

FAKE_REDIS = "redis.example.invalid:6379/0"
SAFE = StoreFacts(
    mode="standalone",
    version="7.2.4",
    persistence="aof",
    persistence_detail="appendonly yes",
    eviction_policy="noeviction",
    processes=("host-a-0", "host-b-0"),
)


class FakeFacts:
    def __init__(self, facts: StoreFacts | None = None, error: Exception | None = None) -> None:
        self._facts = facts
        self._error = error

    async def facts(self) -> StoreFacts:
        if self._error is not None:
            raise self._error
        assert self._facts is not None
        return self._facts


class NoTokens:
    """No tokens: the Zoho checks fail or are skipped and never call Zoho."""

    async def report(self) -> TokenStatus:
        raise StoreUnavailable("no tokens in this fake")


class Server:
    def data_centre(self, url: str) -> str | None:
        return None


class Store:
    def __init__(self, answers: bool = True) -> None:
        self._answers = answers

    async def ping(self) -> bool:
        return self._answers


def config(redis: str | None = FAKE_REDIS) -> ZohoConfig:
    return ZohoConfig(
        mode="zoho",
        environment="development",
        data_centre="us",
        accounts_url="https://accounts.example.invalid",
        desk_url="https://desk.example.invalid",
        explicit_urls=False,
        redirect_uri="http://localhost:8765/callback",
        scope="Desk.tickets.ALL,Desk.contacts.ALL,Desk.basic.ALL,Desk.search.READ",
        client_id="1000.FAKECLIENT",
        redis=redis,
    )


async def doctor(facts: Any, *, redis: str | None = FAKE_REDIS, answers: bool = True) -> Any:
    run = Doctor(
        config(redis),
        NoTokens(),  # type: ignore[arg-type]
        Server(),  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        Store(answers),  # type: ignore[arg-type]
        facts=facts,
    )
    report = await run()
    return report, {c.name: c for c in report.checks}


async def test_a_safe_server_is_ok_and_names_the_living_processes() -> None:
    report, checks = await doctor(FakeFacts(SAFE))
    assert checks["persistence"].status == "ok"
    assert "Redis 7.2.4 (standalone)" in checks["persistence"].detail
    assert checks["eviction"].status == "ok"
    assert checks["processes"].status == "ok"
    assert "2 alive besides this one: host-a-0, host-b-0" in checks["processes"].detail
    data = _doctor_json(report)
    assert data["redis"] == {
        "mode": "standalone",
        "version": "7.2.4",
        "persistence": "aof",
        "maxmemory_policy": "noeviction",
        "processes": ["host-a-0", "host-b-0"],
        "topology": "",
        "topology_problems": [],
    }


@pytest.mark.parametrize("policy", ["allkeys-lru", "volatile-ttl", None])
async def test_an_evicting_policy_warns_naming_the_fix(policy: str | None) -> None:
    facts = StoreFacts("standalone", "7.2.4", "aof", "appendonly yes", policy, ())
    report, checks = await doctor(FakeFacts(facts))
    eviction = checks["eviction"]
    assert eviction.status == "warn"
    assert "exactly-once" in eviction.detail
    assert eviction.fix == "set `maxmemory-policy noeviction` in redis.conf"
    text = _doctor_text(report)
    assert "WARN  eviction" in text
    assert "fix: set `maxmemory-policy noeviction`" in text


@pytest.mark.parametrize(
    ("persistence", "said"),
    [
        ("none", "every accepted ticket is lost"),
        ("rdb", "since the last snapshot"),
        ("unknown", "cannot tell"),
    ],
)
async def test_persistence_that_is_off_or_unknown_warns_naming_the_fix(
    persistence: str, said: str
) -> None:
    facts = StoreFacts("standalone", "7.2.4", persistence, "seen", "noeviction", ())
    _, checks = await doctor(FakeFacts(facts))
    check = checks["persistence"]
    assert (check.status, said in check.detail) == ("warn", True)
    assert check.fix is not None
    assert "`appendonly yes`" in check.fix


async def test_the_topology_is_named_and_its_problems_warn_with_the_fix() -> None:
    healthy = StoreFacts(
        "sentinel",
        "7.2.4",
        "aof",
        "appendonly yes",
        "noeviction",
        (),
        topology="primary 'mymaster' at 10.0.0.1:6379, 1/1 replicas healthy",
    )
    _, checks = await doctor(FakeFacts(healthy))
    assert checks["topology"].status == "ok"
    assert (
        checks["topology"].detail
        == "sentinel: primary 'mymaster' at 10.0.0.1:6379, 1/1 replicas healthy"
    )
    short = StoreFacts(
        "standalone",
        "7.2.4",
        "aof",
        "appendonly yes",
        "noeviction",
        (),
        topology="one server, 0 replica(s) connected",
        topology_problems=("REDIS_WAIT_REPLICAS=1 but 0 replica(s) follow the primary",),
    )
    report, checks = await doctor(FakeFacts(short))
    assert checks["topology"].status == "warn"
    assert "REDIS_WAIT_REPLICAS=1 but 0 replica(s)" in checks["topology"].detail
    assert "Durability" in str(checks["topology"].fix)
    assert _doctor_json(report)["redis"]["topology_problems"] == list(short.topology_problems)


async def test_no_living_process_is_said_not_failed() -> None:
    facts = StoreFacts("standalone", "7.2.4", "aof", "appendonly yes", "noeviction", ())
    _, checks = await doctor(FakeFacts(facts))
    assert checks["processes"].status == "ok"
    assert "no other process" in checks["processes"].detail


async def test_without_redis_or_with_redis_down_the_facts_are_skipped() -> None:
    for facts, redis, answers in ((None, None, True), (FakeFacts(SAFE), FAKE_REDIS, False)):
        report, checks = await doctor(facts, redis=redis, answers=answers)
        names = ("topology", "persistence", "eviction", "processes")
        assert {checks[n].status for n in names} == {"skip"}
        assert _doctor_json(report)["redis"] is None


async def test_facts_that_cannot_be_read_fail_with_the_redis_fix() -> None:
    error = StoreUnavailable(f"Redis at {FAKE_REDIS} failed (doctor): fake")
    report, checks = await doctor(FakeFacts(error=error))
    assert checks["eviction"].status == "fail"
    assert checks["eviction"].fix == "start Redis or fix REDIS_URL"
    assert not report.ok


def test_a_configuration_that_cannot_load_skips_the_facts_too() -> None:
    report: DoctorReport = configuration_failed(StoreUnavailable("fake"))
    names = [c.name for c in report.checks]
    assert names[-3:] == ["persistence", "eviction", "processes"]
