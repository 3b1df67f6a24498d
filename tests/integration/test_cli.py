"""The admin CLI: every command in human and --json form, exit codes and one-line errors,
and `doctor` on a healthy set-up and on broken ones."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import fakeredis
import httpx
import pytest
import redis.asyncio
from dependency_injector import providers

from ticketing.adapters.memory_helpdesk import InMemoryHelpdesk
from ticketing.adapters.redis.liveness import Heartbeat
from ticketing.adapters.redis.tokens import RedisTokenStore
from ticketing.adapters.token_file import FileTokenStore
from ticketing.adapters.zoho_desk.oauth import fingerprint
from ticketing.application.intake import IntakePolicy, customer_ticket
from ticketing.container import Container, start, stop
from ticketing.domain.errors import RefreshPaused, StoreUnavailable
from ticketing.domain.ports import TokenSet
from ticketing.entrypoints import cli
from ticketing.entrypoints.cli import runner, supervise
from ticketing.settings import Settings
from zoho_desk_emulator import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_REFRESH_TOKEN,
    EmulatorState,
    create_emulator_app,
)

from tests.integration.failures import REDIS_SERVER, redis_server
from tests.integration.wired import RedisBackend
from tests.support.clock import ManualClock
from tests.support.containers import store_of
from tests.support.env import SANDBOX_CLIENT, SANDBOX_GRANT
from tests.support.processes import free_port

pytestmark = pytest.mark.anyio

ZOHO = "http://zoho-emulator"


async def _emulator_http(transport: httpx.AsyncBaseTransport) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=transport) as client:
        yield client


def container_for(
    env: dict[str, str],
    emulator: EmulatorState,
    *,
    redis: Any = None,
    clock: ManualClock | None = None,
) -> Container:
    """A container as the CLI builds it, with Zoho (and optionally Redis) swapped in."""
    container = Container()
    settings = Settings.load(env, dotenv=None)
    container.settings.override(providers.Object(settings))
    if settings.sandbox:
        container.emulator_state.override(providers.Object(emulator))
    else:
        transport = httpx.ASGITransport(app=create_emulator_app(emulator))
        container.http.override(providers.Resource(_emulator_http, transport))
    if redis is not None:
        container.redis.override(providers.Object(redis))
    if clock is not None:
        container.clock.override(providers.Object(clock))
    return container


def zoho_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Real-Zoho mode against the emulator, with the emulator's registered sandbox client."""
    return {
        **SANDBOX_CLIENT,
        "ZOHO_ACCOUNTS_URL": ZOHO,
        "ZOHO_DESK_URL": ZOHO,
        "ZOHO_TOKEN_FILE": str(tmp_path / "tokens.json"),
        **extra,
    }


async def run(
    capsys: pytest.CaptureFixture[str], container: Container, *argv: str
) -> tuple[int, str, str]:
    capsys.readouterr()
    with anyio.fail_after(30):
        code = await cli.run(list(argv), container=container)
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("ticketing: ")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture
def emulator() -> EmulatorState:
    return EmulatorState()


@pytest.fixture
def sandbox(emulator: EmulatorState) -> Container:
    """Sandbox mode: the emulator in-process, in-memory stores."""
    return container_for({}, emulator)


@pytest.fixture
async def stored_tokens(tmp_path: Path, emulator: EmulatorState) -> TokenSet:
    """A valid token set in the token file, as after `auth setup`."""
    answer = emulator.token(
        {
            "grant_type": "refresh_token",
            "client_id": SANDBOX_CLIENT_ID,
            "client_secret": SANDBOX_CLIENT_SECRET,
            "refresh_token": SANDBOX_REFRESH_TOKEN,
        }
    )
    tokens = TokenSet(
        refresh_token=SANDBOX_REFRESH_TOKEN,
        access_token=answer["access_token"],
        expires_at=emulator.clock.now() + timedelta(hours=1),
        accounts_url=ZOHO,
    )
    await FileTokenStore(tmp_path / "tokens.json").save(tokens)
    return tokens


# ------------------------------------------------------------------ whoami, departments, auth


async def test_whoami_shows_the_agent_and_the_org_ids(
    capsys: pytest.CaptureFixture[str], sandbox: Container, emulator: EmulatorState
) -> None:
    """whoami: the agent and every organization, the one in use marked."""
    code, out, _ = await run(capsys, sandbox, "whoami")
    assert code == cli.EXIT_OK
    assert "agent       Sandbox Agent <agent@sandbox.invalid>" in out
    assert "agent id    900000000000000001" in out
    assert "org in use  900000001" in out
    assert "900000002  Sandbox Second Portal" in out

    code, out, _ = await run(capsys, container_for({}, emulator), "whoami", "--json")
    data = json.loads(out)
    assert data["agent"] == {
        "id": "900000000000000001",
        "name": "Sandbox Agent",
        "email": "agent@sandbox.invalid",
    }
    assert data["org_id"] == "900000001"
    assert [o["id"] for o in data["organizations"]] == ["900000001", "900000002"]


async def test_departments_lists_the_enabled_ones(
    capsys: pytest.CaptureFixture[str], sandbox: Container, emulator: EmulatorState
) -> None:
    """departments: a table by default, a list of objects with --json."""
    code, out, _ = await run(capsys, sandbox, "departments")
    assert code == cli.EXIT_OK
    assert out.splitlines()[0].split() == ["ID", "NAME", "DEFAULT"]
    assert "900000000000010001  Support  yes" in out
    code, out, _ = await run(capsys, container_for({}, emulator), "departments", "--json")
    assert {d["name"] for d in json.loads(out)} == {"Support", "Billing"}


async def test_auth_url_asks_for_offline_access_with_a_fresh_state(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, emulator: EmulatorState
) -> None:
    """auth url prints the consent URL; --json adds the state."""
    env = zoho_env(tmp_path)
    code, out, _ = await run(capsys, container_for(env, emulator), "auth", "url")
    assert code == cli.EXIT_OK
    assert out.startswith(f"{ZOHO}/oauth/v2/auth?")
    assert "access_type=offline" in out
    assert "prompt=consent" in out
    code, out, _ = await run(capsys, container_for(env, emulator), "auth", "url", "--json")
    data = json.loads(out)
    assert f"state={data['state']}" in data["auth_url"]


async def test_auth_status_shows_facts_and_never_a_secret(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    emulator: EmulatorState,
    stored_tokens: TokenSet,
) -> None:
    """auth status: store, expiry, data centre and budget; no token or secret anywhere."""
    env = zoho_env(tmp_path)
    code, out, err = await run(capsys, container_for(env, emulator), "auth", "status")
    assert code == cli.EXIT_OK, err
    assert f"store           file {tmp_path / 'tokens.json'}" in out
    assert "authorized      yes" in out
    assert "access token    valid until" in out
    assert "refresh budget  0 of 8 refreshes used in the last 10 minutes" in out

    code, out, _ = await run(capsys, container_for(env, emulator), "auth", "status", "--json")
    data = json.loads(out)
    assert data["authorized"] is True
    assert data["access_token_expires_at"] == stored_tokens.expires_at.isoformat()  # type: ignore[union-attr]
    assert data["refresh_budget"]["limit"] == 8
    assert stored_tokens.access_token not in out
    assert SANDBOX_REFRESH_TOKEN not in out
    assert SANDBOX_CLIENT_SECRET not in out


async def test_a_token_file_others_can_read_is_warned_about(
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    emulator: EmulatorState,
    stored_tokens: TokenSet,
) -> None:
    """A 0644 token file: a warning saying to chmod 600 it, and doctor's token check warns."""
    (tmp_path / "tokens.json").chmod(0o644)
    env = zoho_env(tmp_path)
    code, _, _ = await run(capsys, container_for(env, emulator), "auth", "status")
    assert code == cli.EXIT_OK
    assert f"run `chmod 600 {tmp_path / 'tokens.json'}`" in caplog.text
    code, out, _ = await run(capsys, container_for(env, emulator), "doctor")
    assert code == cli.EXIT_OK
    token = next(line for line in out.splitlines() if " token " in line)
    assert token.startswith("WARN")
    assert "readable by other users" in token


async def test_auth_status_without_tokens_exits_3_saying_run_setup(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, emulator: EmulatorState
) -> None:
    """Not authorized yet: the status is printed, then one line and exit 3."""
    code, out, err = await run(
        capsys, container_for(zoho_env(tmp_path), emulator), "auth", "status"
    )
    assert code == cli.EXIT_AUTH
    assert "authorized      no: run `ticketing auth setup`" in out
    assert "run `ticketing auth setup`" in one_line(err)


async def test_auth_status_reports_a_paused_refresh_budget(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    emulator: EmulatorState,
    key_prefix: str,
) -> None:
    """With the fleet's budget spent, auth status and /health-facing errors say until when
    and why, and a Zoho command fails with that line (exit 4)."""
    redis = fakeredis.FakeAsyncRedis()
    clock = ManualClock()
    env = zoho_env(
        tmp_path,
        REDIS_URL="redis://127.0.0.1:6379/15",
        REDIS_KEY_PREFIX=key_prefix,
        **{"ZOHO_REFRESH_TOKEN": SANDBOX_REFRESH_TOKEN},
    )
    container = container_for(env, emulator, redis=redis, clock=clock)
    await start(container)
    budget = container.refresh_budget()  # sync: Redis is an object here
    for _ in range(8):
        await budget.record(fingerprint(SANDBOX_REFRESH_TOKEN))
    await stop(container)

    code, out, _ = await run(
        capsys, container_for(env, emulator, redis=redis, clock=clock), "auth", "status"
    )
    assert code == cli.EXIT_OK
    assert (
        "refresh budget  Zoho token refreshes are paused until 2026-11-26 10:10:00 UTC: "
        "8 refreshes were made in the last 10 minutes" in out
    )
    code, _, err = await run(
        capsys, container_for(env, emulator, redis=redis, clock=clock), "departments"
    )
    assert code == cli.EXIT_UNAVAILABLE
    assert "paused until 2026-11-26 10:10:00 UTC" in one_line(err)
    assert emulator.token_refreshes == 0
    await redis.aclose()


async def test_auth_resume_lifts_the_fleets_refresh_pause_at_once(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    emulator: EmulatorState,
    backend: RedisBackend,
) -> None:
    """A serving instance finds refreshes paused (budget spent, Zoho's throttle, a back-off);
    `auth resume` says in one line what it lifted (exit 0), and that instance's very next
    call refreshes: nothing of the pause was left in its memory."""
    clock = ManualClock()
    env = zoho_env(
        tmp_path,
        REDIS_URL=backend.url,
        REDIS_KEY_PREFIX=backend.prefix,
        **SANDBOX_GRANT,
    )
    async with backend.connected() as redis:
        serving = container_for(env, emulator, redis=redis, clock=clock)
        services = await start(serving)
        try:
            budget = serving.refresh_budget()
            subject = fingerprint(SANDBOX_REFRESH_TOKEN)
            for _ in range(8):
                await budget.record(subject)
            await budget.throttled(subject, clock.now() + timedelta(minutes=10))
            await budget.failed(subject, first=60.0, cap=60.0)
            with pytest.raises(RefreshPaused):
                await services.helpdesk.list_departments()

            code, out, err = await run(
                capsys, container_for(env, emulator, redis=redis, clock=clock), "auth", "resume"
            )
            assert code == cli.EXIT_OK, err
            assert out.startswith("lifted the token refresh pause for every instance sharing")
            assert "Zoho refused a refresh as too many" in out
            assert len(out.strip().splitlines()) == 1

            assert len(await services.helpdesk.list_departments()) == 2
            assert emulator.token_refreshes == 1

            code, out, _ = await run(
                capsys,
                container_for(env, emulator, redis=redis, clock=clock),
                "auth",
                "resume",
                "--json",
            )
            assert code == cli.EXIT_OK
            assert json.loads(out)["lifted"] is False
        finally:
            await stop(serving)


async def test_auth_resume_without_a_shared_budget_says_to_restart(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, emulator: EmulatorState
) -> None:
    """Tokens in a file: each process counts its own refreshes, so the CLI cannot lift a
    server's pause; one line says what to do, exit 2."""
    env = zoho_env(tmp_path, **SANDBOX_GRANT)
    code, _, err = await run(capsys, container_for(env, emulator), "auth", "resume")
    assert code == cli.EXIT_USAGE
    assert "restart the service to lift its pause" in one_line(err)


# ------------------------------------------------------------------ queue


def draft(key: str) -> Any:
    return customer_ticket(
        customer_name="Ana López",
        customer_email=f"{key}@example.com",
        customer_phone=None,
        subject="Pago no reflejado",
        description="Pagué ayer y no me llega la confirmación",
        priority="alta",
        category="billing",
        channel=None,
        key=key,
        received_at=ManualClock().now(),
        policy=IntakePolicy(),
    )


@pytest.fixture
def queue_redis() -> fakeredis.FakeServer:
    return fakeredis.FakeServer()


def queue_container(
    server: fakeredis.FakeServer, emulator: EmulatorState, prefix: str
) -> Container:
    backend = RedisBackend("fakeredis", "redis://127.0.0.1:6379/15", prefix, server)
    return container_for(backend.env(), emulator, redis=backend.client())


async def test_queue_commands_show_drain_bury_and_replay(
    capsys: pytest.CaptureFixture[str],
    queue_redis: fakeredis.FakeServer,
    emulator: EmulatorState,
    key_prefix: str,
) -> None:
    """queue status counts, process drains with progress, dead lists, replay moves back."""
    seed = queue_container(queue_redis, emulator, key_prefix)
    await start(seed)
    store = await store_of(seed)
    for i in range(3):
        await store.accept(draft(f"k{i}"))
    await store.bury_raw('{"not": "an incident"}', "no incident_id", "inbound")
    await stop(seed)

    def fresh() -> Container:
        return queue_container(queue_redis, emulator, key_prefix)

    code, out, _ = await run(capsys, fresh(), "queue", "status")
    assert (code, out.split()) == (0, ["pending", "3", "dead", "letters", "1"])
    code, out, _ = await run(capsys, fresh(), "queue", "status", "--json")
    assert json.loads(out) == {"pending": 3, "dead": 1}

    code, out, err = await run(capsys, fresh(), "queue", "dead")
    assert code == cli.EXIT_OK
    assert "no incident_id" in out
    code, out, _ = await run(capsys, fresh(), "queue", "dead", "--json")
    (letter,) = json.loads(out)["dead_letters"]
    assert letter["reason"] == "no incident_id"
    assert letter["payload"] == '{"not": "an incident"}'

    code, out, err = await run(capsys, fresh(), "queue", "process")
    assert code == cli.EXIT_OK, err
    assert "created    3" in out
    assert "processed: 3/3" in err  # the progress, on stderr
    assert emulator.tickets_created == 3

    code, out, err = await run(capsys, fresh(), "queue", "replay", "--all", "--json")
    assert code == cli.EXIT_OK
    assert json.loads(out) == {"replayed": 1}
    assert err == ""  # no progress with --json
    code, out, _ = await run(capsys, fresh(), "queue", "status", "--json")
    assert json.loads(out) == {"pending": 0, "dead": 0}


async def test_queue_process_exits_6_when_tickets_stay_pending(
    capsys: pytest.CaptureFixture[str],
    queue_redis: fakeredis.FakeServer,
    emulator: EmulatorState,
    key_prefix: str,
) -> None:
    """Zoho down: the drain leaves the tickets queued and the exit code says so."""
    seed = queue_container(queue_redis, emulator, key_prefix)
    await start(seed)
    await (await store_of(seed)).accept(draft("k-down"))
    await stop(seed)
    emulator.apply_faults({"outage": "503"})

    code, out, _ = await run(
        capsys, queue_container(queue_redis, emulator, key_prefix), "queue", "process", "--json"
    )
    assert code == cli.EXIT_PENDING
    assert json.loads(out)["remaining"] == 1


async def test_queue_replay_without_ids_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], sandbox: Container
) -> None:
    """replay needs entry ids or --all: exit 2, one line naming what is missing."""
    code, _, err = await run(capsys, sandbox, "queue", "replay")
    assert code == cli.EXIT_USAGE
    expected = "entry_ids: name the dead-letter entry ids to replay, or pass --reason or --all"
    assert expected in one_line(err)


# ------------------------------------------------------------------ doctor


async def test_doctor_on_a_healthy_set_up(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    emulator: EmulatorState,
    stored_tokens: TokenSet,
    real_redis_url: str,
    real_redis: Any,
    key_prefix: str,
) -> None:
    """Credentials, tokens, scopes, org, department and Redis all fine: every check OK, and
    the living processes named (persistence is the test server's own: it may warn)."""
    env = zoho_env(tmp_path, REDIS_URL=real_redis_url, REDIS_KEY_PREFIX=key_prefix)
    container = container_for(env, emulator)
    beat = Heartbeat(real_redis, prefix=key_prefix, ttl=30, every=10)
    await beat.claim("doctor-test-0")
    # Redis is the token store now: the token file is imported into it once.
    code, out, err = await run(capsys, container, "doctor")
    assert code == cli.EXIT_OK, out + err
    lines = out.splitlines()
    for name in ("configuration", "data centre", "token", "scopes", "organization", "department"):
        assert any(line.startswith("OK") and f" {name} " in line for line in lines), out
    assert any(line.startswith("OK    redis") for line in lines), out
    assert any(line.startswith("OK    picklists") for line in lines), out
    assert any(line.startswith("OK    credits") and "credits left today" in line for line in lines)
    assert any(line.startswith("OK    processes") and "doctor-test-0" in line for line in lines)
    assert "all checks passed" in out.splitlines()[-1]

    code, out, _ = await run(capsys, container_for(env, emulator), "doctor", "--json")
    data = json.loads(out)
    assert data["ok"] is True
    # The picklists check reads GET /organizationFields, which the emulator may not serve
    # (a warning then, never a failure); see the picklist tests below.
    unchecked = {"picklists", "persistence", "eviction"}
    assert {c["status"] for c in data["checks"] if c["name"] not in unchecked} == {"ok"}
    assert data["redis"]["mode"] == "standalone"
    assert data["redis"]["version"]
    assert data["redis"]["processes"] == ["doctor-test-0"]
    await beat.end()
    assert stored_tokens.access_token not in out
    assert await RedisTokenStore(real_redis, prefix=key_prefix).load() == stored_tokens


@pytest.mark.slow
@pytest.mark.skipif(REDIS_SERVER is None, reason="needs the redis-server binary")
async def test_doctor_warns_about_an_evicting_redis_and_one_that_does_not_persist(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    emulator: EmulatorState,
    stored_tokens: TokenSet,
) -> None:
    """A redis-server of the test's own (never the shared one's config) with
    ``maxmemory-policy allkeys-lru`` and no persistence: both warn naming the fix, the
    living process is named; the exit is still 0 (warnings)."""
    port = free_port()
    with redis_server(port, tmp_path / "redis") as server:
        (tmp_path / "redis").mkdir()
        server.start()
        admin = redis.asyncio.Redis(port=port)
        try:
            await admin.config_set("maxmemory-policy", "allkeys-lru")
            beat = Heartbeat(admin, ttl=30, every=10)
            await beat.claim("doctor-own-1")
            env = zoho_env(tmp_path, REDIS_URL=server.url)
            code, out, err = await run(capsys, container_for(env, emulator), "doctor")
            assert code == cli.EXIT_OK, out + err
            assert "WARN  eviction" in out
            assert "maxmemory-policy allkeys-lru" in out
            assert "fix: set `maxmemory-policy noeviction` in redis.conf" in out
            assert "WARN  persistence" in out
            assert "fix: set `appendonly yes`" in out
            assert "doctor-own-1" in out

            code, out, _ = await run(capsys, container_for(env, emulator), "doctor", "--json")
            data = json.loads(out)
            checks = {c["name"]: c for c in data["checks"]}
            assert (checks["eviction"]["status"], checks["persistence"]["status"]) == (
                "warn",
                "warn",
            )
            assert data["redis"]["maxmemory_policy"] == "allkeys-lru"
            assert data["redis"]["persistence"] == "none"
            assert data["redis"]["processes"] == ["doctor-own-1"]
            await beat.end()
        finally:
            await admin.aclose()


async def test_doctor_in_sandbox_mode_warns_but_passes(
    capsys: pytest.CaptureFixture[str], sandbox: Container
) -> None:
    """The sandbox works end to end; doctor says it is the sandbox and Redis is missing."""
    code, out, _ = await run(capsys, sandbox, "doctor")
    assert code == cli.EXIT_OK
    assert out.startswith("WARN  configuration  sandbox mode")
    assert "fix: set REDIS_URL" in out
    assert "all checks passed, " in out


def portal_with(container: Container, **picklists: set[str]) -> Container:
    """The container's Zoho replaced by a portal with these ticket picklists."""
    zoho = InMemoryHelpdesk()
    zoho.picklists.update(picklists)
    container.zoho.override(providers.Object(zoho))
    return container


async def test_doctor_names_the_picklist_values_the_portal_lacks(
    capsys: pytest.CaptureFixture[str], sandbox: Container
) -> None:
    """A portal without WhatsApp and with Spanish priorities: a warning naming each value the
    service sends and the portal lacks, where it comes from, and the fix; not a failure."""
    portal_with(
        sandbox,
        channel={"Email", "Phone", "Web"},
        priority={"Alta", "Media", "Baja"},
        category={"Facturación"},
    )
    code, out, _ = await run(capsys, sandbox, "doctor")
    assert code == cli.EXIT_OK, out
    line = next(line for line in out.splitlines() if " picklists " in line)
    assert line.startswith("WARN")
    assert "channel has no 'WhatsApp' (incidents without a channel" in line
    assert "'Web'" not in line.split("channel has no")[1].split(";")[0]
    for priority in ("High", "Medium", "Low"):
        assert f"priority has no '{priority}' (the priority map" in line
    assert "fix: add the values in Zoho Desk" in out
    assert "DEFAULT_CHANNEL" in out


async def test_doctor_is_content_with_a_portal_that_has_every_value(
    capsys: pytest.CaptureFixture[str], sandbox: Container
) -> None:
    portal_with(
        sandbox,
        channel={"Email", "Web", "WhatsApp"},
        priority={"High", "Medium", "Low"},
    )
    code, out, _ = await run(capsys, sandbox, "doctor")
    assert code == cli.EXIT_OK, out
    assert "OK    picklists      the portal has every value sent for channel, priority" in out


async def test_doctor_with_a_wrong_client_secret(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    emulator: EmulatorState,
    stored_tokens: TokenSet,
) -> None:
    """The stored access token still works, but the secret would fail the next refresh: the
    token check fails with what to fix; exit 3."""
    env = zoho_env(tmp_path, ZOHO_CLIENT_SECRET="fake-wrong-secret")
    code, out, err = await run(capsys, container_for(env, emulator), "doctor")
    assert code == cli.EXIT_AUTH, out + err
    token = next(line for line in out.splitlines() if " token " in line)
    assert token.startswith("FAIL")
    assert "invalid_client" in token
    assert "fix: check ZOHO_CLIENT_ID and ZOHO_CLIENT_SECRET" in out
    assert "fake-wrong-secret" not in out
    assert "1 check(s) failed" in out


async def test_doctor_with_redis_down(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    emulator: EmulatorState,
    stored_tokens: TokenSet,
) -> None:
    """Redis unreachable: the token store and Redis checks fail, Zoho checks are skipped;
    exit 5."""
    env = zoho_env(tmp_path, REDIS_URL="redis://127.0.0.1:1/0")
    code, out, err = await run(capsys, container_for(env, emulator), "doctor", "--json")
    assert code == cli.EXIT_STORE, out + err
    checks = {c["name"]: c for c in json.loads(out)["checks"]}
    assert checks["token"]["status"] == "fail"
    assert "127.0.0.1:1" in checks["token"]["detail"]
    assert checks["redis"]["status"] == "fail"
    assert checks["redis"]["fix"] == "start Redis or fix REDIS_URL"
    assert {checks[n]["status"] for n in ("scopes", "organization", "department")} == {"skip"}


async def test_doctor_with_a_wrong_org_and_a_wrong_department(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    emulator: EmulatorState,
    stored_tokens: TokenSet,
) -> None:
    """An org the token cannot see fails and lists the visible ones; a disabled or unknown
    department fails and lists the enabled ones."""
    env = zoho_env(tmp_path, ZOHO_ORG_ID="12345")
    code, out, _ = await run(capsys, container_for(env, emulator), "doctor", "--json")
    assert code == cli.EXIT_AUTH
    checks = {c["name"]: c for c in json.loads(out)["checks"]}
    assert checks["organization"]["status"] == "fail"
    assert "900000001 (Sandbox Support Co., default)" in checks["organization"]["detail"]
    assert checks["organization"]["fix"].startswith("set ZOHO_ORG_ID to one of those ids")
    assert checks["department"]["status"] == "skip"

    env = zoho_env(tmp_path, ZOHO_ORG_ID="900000001", ZOHO_DEPARTMENT_ID="900000000000010003")
    code, out, _ = await run(capsys, container_for(env, emulator), "doctor")
    assert code == cli.EXIT_AUTH
    department = next(line for line in out.splitlines() if " department " in line)
    assert department.startswith("FAIL")
    assert "900000000000010001 (Support, default), 900000000000010002 (Billing)" in department
    assert "fix: set ZOHO_DEPARTMENT_ID to one of those ids" in out


async def test_doctor_says_when_credits_ran_out_and_when_they_come_back(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The day's credits are spent: the credits check fails saying when Zoho said so and
    when they come back (its Retry-After: UTC midnight here, 14 h on); exit 4."""
    clock = ManualClock()
    emulator = EmulatorState(clock)
    emulator.apply_faults({"credits_remaining": 0})
    env = zoho_env(tmp_path, **SANDBOX_GRANT)
    code, out, _ = await run(capsys, container_for(env, emulator, clock=clock), "doctor", "--json")
    assert code == cli.EXIT_UNAVAILABLE
    checks = {c["name"]: c for c in json.loads(out)["checks"]}
    assert checks["credits"]["status"] == "fail"
    assert checks["credits"]["detail"] == (
        "Zoho said at 2026-11-26 10:00:00 UTC that the day's API credits are spent; "
        "back at 2026-11-27 00:00:00 UTC"
    )
    assert checks["credits"]["fix"].startswith("wait: tickets are queued")


async def test_doctor_without_tokens_says_run_setup(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, emulator: EmulatorState
) -> None:
    """No refresh token anywhere: the token check fails with `auth setup` as the fix."""
    code, out, _ = await run(capsys, container_for(zoho_env(tmp_path), emulator), "doctor")
    assert code == cli.EXIT_AUTH
    assert "FAIL  token" in out
    assert "fix: run `ticketing auth setup`" in out


def test_doctor_reports_a_configuration_it_cannot_load(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """A setting that does not parse is the configuration check's failure; exit 2."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ZOHO_DC", "mars")
    code = cli.main(["doctor"])
    out = capsys.readouterr().out
    assert code == cli.EXIT_USAGE
    assert out.startswith("FAIL  configuration  ZOHO_DC: expected one of us, eu")
    assert "SKIP  token" in out


# ------------------------------------------------------------------ exit codes, one line


def test_usage_errors_are_one_line_with_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown command or option: one line, exit 2; no command: help, exit 2."""
    assert cli.main(["frobnicate"]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert one_line(err).startswith("ticketing: argument COMMAND: invalid choice")
    assert len(err.strip().splitlines()) == 1
    assert cli.main(["whoami", "--bogus"]) == cli.EXIT_USAGE
    assert "unrecognized arguments: --bogus" in one_line(capsys.readouterr().err)
    assert cli.main([]) == cli.EXIT_USAGE
    assert "usage: ticketing" in capsys.readouterr().err
    assert cli.main(["--version"]) == cli.EXIT_OK


def test_every_command_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    """--help works for every command and exits 0."""
    commands = [
        ["serve"],
        ["worker"],
        ["sandbox"],
        ["auth", "setup"],
        ["auth", "url"],
        ["auth", "status"],
        ["whoami"],
        ["departments"],
        ["queue", "status"],
        ["queue", "process"],
        ["queue", "dead"],
        ["queue", "replay"],
        ["doctor"],
    ]
    for command in commands:
        assert cli.main([*command, "--help"]) == cli.EXIT_OK, command
        assert "usage:" in capsys.readouterr().out


async def test_zoho_unreachable_is_exit_4(
    capsys: pytest.CaptureFixture[str], sandbox: Container, emulator: EmulatorState
) -> None:
    """Zoho answering 503: one line, exit 4."""
    emulator.apply_faults({"outage": "503"})
    code, _, err = await run(capsys, sandbox, "departments")
    assert code == cli.EXIT_UNAVAILABLE
    assert "503" in one_line(err)


async def test_redis_unreachable_is_exit_5(
    capsys: pytest.CaptureFixture[str], emulator: EmulatorState
) -> None:
    """Redis down for a queue command: one line naming it, exit 5."""
    container = container_for({"REDIS_URL": "redis://127.0.0.1:1/0"}, emulator)
    code, _, err = await run(capsys, container, "queue", "status")
    assert code == cli.EXIT_STORE
    assert "127.0.0.1:1" in one_line(err)


async def test_a_bug_is_one_line_not_a_traceback(
    capsys: pytest.CaptureFixture[str],
    sandbox: Container,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An unexpected exception: one line with its type, exit 1."""

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the wires are crossed\nsecond line")

    monkeypatch.setattr("ticketing.application.auth.Whoami.__call__", broken)
    code, _, err = await run(capsys, sandbox, "whoami")
    assert code == cli.EXIT_ERROR
    assert one_line(err).startswith("ticketing: unexpected RuntimeError: the wires are crossed")


def test_ctrl_c_is_one_line_and_exit_130(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Ctrl-C during a command: "interrupted", exit 130, no traceback."""

    async def interrupted(*args: Any) -> int:
        raise KeyboardInterrupt

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(runner, "dispatch", interrupted)
    assert cli.main(["whoami"]) == cli.EXIT_INTERRUPTED
    assert one_line(capsys.readouterr().err) == "ticketing: interrupted"


def test_a_bad_setting_is_one_line_with_exit_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Any admin command with an unparsable setting: the variable named, exit 2."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ZOHO_MAX_CONCURRENCY", "lots")
    assert cli.main(["departments"]) == cli.EXIT_USAGE
    assert one_line(capsys.readouterr().err).startswith("ticketing: ZOHO_MAX_CONCURRENCY:")


def test_token_store_redis_without_redis_url_is_a_configuration_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """ZOHO_TOKEN_STORE=redis needs REDIS_URL: one line, exit 2."""
    monkeypatch.chdir(tmp_path)
    for name, value in zoho_env(tmp_path, ZOHO_TOKEN_STORE="redis").items():
        monkeypatch.setenv(name, value)
    assert cli.main(["auth", "status"]) == cli.EXIT_USAGE
    assert "ZOHO_TOKEN_STORE=redis needs REDIS_URL" in one_line(capsys.readouterr().err)


def test_worker_that_cannot_start_says_why_in_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A failure while the worker starts (here Redis refusing) is the usual one line and exit
    status, not an exception group from the task group that listens for SIGTERM."""

    def refuse(services: Any) -> None:
        raise StoreUnavailable("Redis at 127.0.0.1:6379/0 is unreachable (starting): refused")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(supervise, "describe_start", refuse)  # right after the services start
    assert cli.main(["worker"]) == cli.EXIT_STORE
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "ExceptionGroup" not in err
    assert "Redis at 127.0.0.1:6379/0 is unreachable (starting): refused" in one_line(err)
