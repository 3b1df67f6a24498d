"""`ticketing auth setup` end to end: the real loopback callback server, the emulator as Zoho,
and a simulated browser that follows Zoho's redirect to the callback."""

from __future__ import annotations

import json
import socket
import stat
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import anyio
import fakeredis
import httpx
import pytest
from anyio.abc import TaskGroup
from dependency_injector import providers

from ticketing.adapters.redis.tokens import RedisTokenStore
from ticketing.adapters.token_file import FileTokenStore
from ticketing.container import Container
from ticketing.entrypoints import cli
from zoho_desk_emulator import EmulatorState, create_emulator_app

from tests.support.clock import ManualClock
from tests.support.containers import container_with
from tests.support.processes import free_port

pytestmark = pytest.mark.anyio

ZOHO = "http://zoho-emulator"
CLIENT_ID = "1000.FAKESETUPCLIENT"
SECRET = "fake-setup-secret"


class HostRouter(httpx.AsyncBaseTransport):
    """Zoho by host: each data centre's accounts and Desk hosts go to that DC's emulator."""

    def __init__(self, by_host: Mapping[str, EmulatorState], default: EmulatorState) -> None:
        self._apps = {
            h: httpx.ASGITransport(app=create_emulator_app(s)) for h, s in by_host.items()
        }
        self._default = httpx.ASGITransport(app=create_emulator_app(default))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        transport = self._apps.get(request.url.host, self._default)
        return await transport.handle_async_request(request)


@dataclass(eq=False)
class Browser:
    """The person at the browser: opens the consent URL at "Zoho" (an emulator), lets the
    test tamper with Zoho's redirect, then follows it to the local callback server."""

    tg: TaskGroup
    zoho: httpx.AsyncBaseTransport
    _: KW_ONLY
    tamper: Callable[[dict[str, str]], None] = lambda params: None
    auth_host: str | None = None
    before_callback: Callable[[], Awaitable[None]] | None = None
    present: bool = True
    opened: list[str] = field(default_factory=list)
    page: httpx.Response | None = None

    def open(self, url: str) -> bool:
        self.opened.append(url)
        if not self.present:
            return False
        self.tg.start_soon(self.follow, url)
        return True

    async def follow(self, url: str) -> None:
        if self.auth_host:  # Zoho sends the person to the accounts host of their DC
            url = urlsplit(url)._replace(netloc=self.auth_host, scheme="https").geturl()
        async with httpx.AsyncClient(transport=self.zoho) as zoho:
            consent = await zoho.get(url)
        assert consent.status_code == 302, consent.text
        target = urlsplit(consent.headers["location"])
        params = dict(parse_qsl(target.query))
        self.tamper(params)
        if self.before_callback is not None:
            await self.before_callback()
        async with httpx.AsyncClient(timeout=30) as local:
            self.page = await local.get(target._replace(query=urlencode(params)).geturl())


async def _emulator_http(transport: httpx.AsyncBaseTransport) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=transport, follow_redirects=False) as client:
        yield client


def make_container(
    env: dict[str, str],
    zoho: httpx.AsyncBaseTransport,
    browser: Browser | None,
    clock: ManualClock | None = None,
    redis: Any = None,
) -> Container:
    return container_with(
        env,
        resources={"http": providers.Resource(_emulator_http, zoho)},
        browser=browser,
        clock=clock,
        redis=redis,
    )


@pytest.fixture
def redirect_uri() -> str:
    return f"http://127.0.0.1:{free_port()}/callback"


@pytest.fixture
def state(clock: ManualClock, redirect_uri: str) -> EmulatorState:
    emulator = EmulatorState(clock)
    emulator.register_client(CLIENT_ID, SECRET, redirect_uri)
    return emulator


@pytest.fixture
def zoho(state: EmulatorState) -> httpx.AsyncBaseTransport:
    """Zoho: the emulator over ``state``."""
    return httpx.ASGITransport(app=create_emulator_app(state))


@pytest.fixture
def env(tmp_path: Path, redirect_uri: str) -> dict[str, str]:
    return {
        "ZOHO_CLIENT_ID": CLIENT_ID,
        "ZOHO_CLIENT_SECRET": SECRET,
        "ZOHO_ACCOUNTS_URL": ZOHO,
        "ZOHO_DESK_URL": ZOHO,
        "ZOHO_REDIRECT_URI": redirect_uri,
        "ZOHO_TOKEN_FILE": str(tmp_path / "tokens.json"),
    }


def one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("ticketing: ")]
    assert len(lines) == 1, err
    return lines[0]


async def run_setup(
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    zoho: httpx.AsyncBaseTransport,
    clock: ManualClock,
    *,
    args: tuple[str, ...] = ("--json",),
    wait: str = "10",
    redis: Any = None,
    **browser_options: Any,
) -> tuple[int, str, str, Browser]:
    """Run `ticketing auth setup` in-process with the simulated browser; (exit, out, err)."""
    capsys.readouterr()
    async with anyio.create_task_group() as tg:
        browser = Browser(tg, zoho, **browser_options)
        container = make_container(env, zoho, browser, clock, redis)
        with anyio.fail_after(30):
            code = await cli.run(["auth", "setup", "--timeout", wait, *args], container=container)
    out, err = capsys.readouterr()
    return code, out, err, browser


# ------------------------------------------------------------------ the happy path


async def test_setup_stores_tokens_and_confirms_with_whoami(
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    state: EmulatorState,
    zoho: httpx.AsyncBaseTransport,
    clock: ManualClock,
    tmp_path: Path,
) -> None:
    """Consent in the browser, the code exchanged at the callback's accounts server, tokens in
    a 0600 file, a whoami confirmation; later commands use the tokens without a refresh."""
    code, out, err, browser = await run_setup(capsys, env, zoho, clock)

    assert code == cli.EXIT_OK, err
    result = json.loads(out)
    assert result["authorized"] is True
    assert result["agent"]["id"] == "900000000000000001"
    assert result["org_id"] == "900000001"
    assert {o["id"] for o in result["organizations"]} == {"900000001", "900000002"}
    assert result["accounts_server"] == ZOHO
    assert result["store"] == f"file {tmp_path / 'tokens.json'}"
    assert result["browser_opened"] is True

    consent_url = urlsplit(browser.opened[0])
    query = dict(parse_qsl(consent_url.query))
    assert query["access_type"] == "offline"
    assert query["prompt"] == "consent"
    assert query["redirect_uri"] == env["ZOHO_REDIRECT_URI"]
    assert len(query["state"]) >= 32
    assert browser.opened[0] in err  # the URL is always printed too
    assert browser.page is not None
    assert browser.page.status_code == 200
    assert "The tokens are stored" in browser.page.text

    token_file = tmp_path / "tokens.json"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    stored = await FileTokenStore(token_file).load()
    assert stored is not None
    assert stored.refresh_token in state.refresh_tokens
    assert stored.accounts_url == ZOHO
    assert stored.refresh_token not in out + err
    assert SECRET not in out + err

    container = make_container(env, zoho, None, clock)
    assert await cli.run(["whoami", "--json"], container=container) == cli.EXIT_OK
    assert json.loads(capsys.readouterr().out)["agent"]["name"] == "Sandbox Agent"
    assert state.token_refreshes == 0


async def test_setup_into_the_redis_store_for_a_fleet(
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    state: EmulatorState,
    zoho: httpx.AsyncBaseTransport,
    clock: ManualClock,
    key_prefix: str,
) -> None:
    """With REDIS_URL the tokens go to the shared Redis key, where every instance reads them."""
    redis = fakeredis.FakeAsyncRedis()
    env = {**env, "REDIS_URL": "redis://127.0.0.1:6379/15", "REDIS_KEY_PREFIX": key_prefix}
    code, out, err, _ = await run_setup(capsys, env, zoho, clock, args=(), redis=redis)

    assert code == cli.EXIT_OK, err
    assert f"tokens stored in redis key {key_prefix}ticketing:oauth:tokens" in out
    assert "Sandbox Agent <agent@sandbox.invalid>" in out
    stored = await RedisTokenStore(redis, prefix=key_prefix).load()
    assert stored is not None
    assert stored.refresh_token in state.refresh_tokens
    await redis.aclose()


async def test_without_a_browser_the_printed_url_is_enough(
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    state: EmulatorState,
    zoho: httpx.AsyncBaseTransport,
    clock: ManualClock,
) -> None:
    """--no-browser: nothing is opened; a person copies the printed URL and approves."""
    capsys.readouterr()
    result: list[int] = []

    async def person(tg: TaskGroup) -> None:
        printed = ""
        while "oauth/v2/auth?" not in printed:
            await anyio.sleep(0.01)
            printed += capsys.readouterr().err
        url = next(w for w in printed.split() if "oauth/v2/auth?" in w)
        assert "No browser here" in printed
        await Browser(tg, zoho).follow(url)

    async with anyio.create_task_group() as tg:
        container = make_container(env, zoho, None, clock)

        async def setup() -> None:
            result.append(await cli.run(["auth", "setup", "--no-browser"], container=container))

        tg.start_soon(setup)
        with anyio.fail_after(20):
            await person(tg)
    assert result == [cli.EXIT_OK]
    assert state.codes
    assert all(c.used for c in state.codes.values())


# ------------------------------------------------------------------ each failure: one line


async def test_state_mismatch_is_rejected_and_the_code_not_used(
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    state: EmulatorState,
    zoho: httpx.AsyncBaseTransport,
    clock: ManualClock,
    tmp_path: Path,
) -> None:
    """A callback with another run's state: refused, its code never exchanged, nothing stored."""

    def forge(params: dict[str, str]) -> None:
        params["state"] = "an-earlier-run"

    code, out, err, browser = await run_setup(capsys, env, zoho, clock, tamper=forge)

    assert code == cli.EXIT_AUTH
    assert "state does not match" in one_line(err)
    assert "run `ticketing auth setup` again" in one_line(err)
    assert out == ""
    assert browser.page is not None
    assert browser.page.status_code == 400
    assert "state does not match" in browser.page.text
    assert not any(c.used for c in state.codes.values())
    assert not (tmp_path / "tokens.json").exists()


async def test_denied_consent_says_to_accept(
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    state: EmulatorState,
    zoho: httpx.AsyncBaseTransport,
    clock: ManualClock,
) -> None:
    """Zoho redirects with error=access_denied: one line saying to run setup and accept."""
    state.apply_faults({"deny_consent": True})
    code, _, err, browser = await run_setup(capsys, env, zoho, clock)

    assert code == cli.EXIT_AUTH
    line = one_line(err)
    assert "consent was denied" in line
    assert "click Accept" in line
    assert browser.page is not None
    assert "consent was denied" in browser.page.text


async def test_an_expired_code_says_to_approve_within_two_minutes(
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    zoho: httpx.AsyncBaseTransport,
    clock: ManualClock,
) -> None:
    """A code older than two minutes is invalid_code: one line, run setup again in time."""

    async def linger() -> None:
        clock.advance(121)

    code, _, err, _ = await run_setup(capsys, env, zoho, clock, before_callback=linger)

    assert code == cli.EXIT_AUTH
    line = one_line(err)
    assert "authorization code expired or was already used" in line
    assert "approve within 2 minutes" in line


async def test_a_wrong_client_secret_says_to_copy_the_credentials_again(
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    zoho: httpx.AsyncBaseTransport,
    clock: ManualClock,
) -> None:
    """invalid_client at the exchange: one line naming both variables, no secret in it."""
    wrong = {**env, "ZOHO_CLIENT_SECRET": "fake-wrong-secret"}
    code, _, err, _ = await run_setup(capsys, wrong, zoho, clock)

    assert code == cli.EXIT_AUTH
    line = one_line(err)
    assert "invalid_client" in line
    assert "ZOHO_CLIENT_ID and ZOHO_CLIENT_SECRET" in line
    assert "fake-wrong-secret" not in err


def dc_env(env: dict[str, str], dc: str = "us") -> dict[str, str]:
    """Real Zoho hosts (routed to emulators), from ZOHO_DC."""
    hosts = {k: v for k, v in env.items() if k not in ("ZOHO_ACCOUNTS_URL", "ZOHO_DESK_URL")}
    return {**hosts, "ZOHO_DC": dc}


async def test_an_account_in_another_data_centre_without_the_client_says_set_zoho_dc(
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    state: EmulatorState,
    clock: ManualClock,
) -> None:
    """ZOHO_DC=us but the account lives in eu, where the client is unknown: the exchange at
    accounts.zoho.eu answers invalid_client; one line says to set ZOHO_DC=eu."""
    eu = EmulatorState(clock)  # the eu data centre does not know the client
    zoho = HostRouter({"accounts.zoho.eu": eu, "desk.zoho.eu": eu}, default=state)

    def sent_to_eu(params: dict[str, str]) -> None:
        params["accounts-server"] = "https://accounts.zoho.eu"
        params["location"] = "eu"

    code, _, err, _ = await run_setup(capsys, dc_env(env), zoho, clock, tamper=sent_to_eu)

    assert code == cli.EXIT_AUTH
    line = one_line(err)
    assert "data centre eu" in line
    assert "invalid_client" in line
    assert "set ZOHO_DC=eu" in line
    assert "https://api-console.zoho.eu" in line


async def test_tokens_from_another_data_centre_are_stored_and_zoho_dc_named(
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    clock: ManualClock,
    tmp_path: Path,
) -> None:
    """ZOHO_DC=us, the account and a multi-DC client in eu: the code is exchanged in eu, the
    tokens are stored, and one line says to set ZOHO_DC=eu; with it, whoami works."""
    us, eu = EmulatorState(clock), EmulatorState(clock)
    for dc in (us, eu):
        dc.register_client(CLIENT_ID, SECRET, env["ZOHO_REDIRECT_URI"])
    zoho = HostRouter({"accounts.zoho.eu": eu, "desk.zoho.eu": eu}, default=us)
    code, _, err, browser = await run_setup(
        capsys, dc_env(env), zoho, clock, args=(), auth_host="accounts.zoho.eu"
    )

    assert code == cli.EXIT_USAGE
    line = one_line(err)
    assert "authorized in Zoho data centre eu (https://accounts.zoho.eu)" in line
    assert "ZOHO_DC=us" in line
    assert "set ZOHO_DC=eu (the tokens are stored)" in line
    assert browser.page is not None
    assert "set ZOHO_DC=eu" in browser.page.text
    stored = await FileTokenStore(tmp_path / "tokens.json").load()
    assert stored is not None
    assert stored.accounts_url == "https://accounts.zoho.eu"
    assert stored.refresh_token in eu.refresh_tokens

    fixed = make_container(dc_env(env, "eu"), zoho, None, clock)
    assert await cli.run(["whoami"], container=fixed) == cli.EXIT_OK
    assert "Sandbox Agent" in capsys.readouterr().out
    status_container = make_container(dc_env(env, "eu"), zoho, None, clock)
    assert await cli.run(["auth", "status", "--json"], container=status_container) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["data_centre"] == "eu"
    assert status["data_centre_mismatch"] is None


async def test_nobody_approving_times_out_with_what_to_check(
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    zoho: httpx.AsyncBaseTransport,
    clock: ManualClock,
) -> None:
    """No redirect within --timeout: one line that says what to check."""
    code, _, err, _ = await run_setup(capsys, env, zoho, clock, args=(), wait="0.3", present=False)

    assert code == cli.EXIT_AUTH
    line = one_line(err)
    assert "nobody completed the authorization within 0.3s" in line
    assert "ZOHO_REDIRECT_URI" in line


@pytest.mark.parametrize(
    ("dc", "accounts_host", "desk_host"),
    [
        ("uk", "accounts.zoho.uk", "desk.zoho.uk"),
        ("sg", "accounts.zoho.sg", "desk.zoho.sg"),
        ("ae", "accounts.zoho.ae", "desk.zoho.ae"),
    ],
)
async def test_setup_in_the_uk_sg_and_ae_data_centres(
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    state: EmulatorState,
    clock: ManualClock,
    dc: str,
    accounts_host: str,
    desk_host: str,
) -> None:
    """ZOHO_DC=uk|sg|ae starts, sends the person to that DC's accounts host, trusts the
    callback's accounts-server there with the code, and confirms with whoami on its Desk host.
    (Before: ZOHO_DC=uk refused to start, and accounts.zoho.uk was untrusted.)"""
    elsewhere = EmulatorState(clock)  # any other host: would not know the client
    zoho = HostRouter({accounts_host: state, desk_host: state}, default=elsewhere)

    def from_dc(params: dict[str, str]) -> None:
        params["accounts-server"] = f"https://{accounts_host}"
        params["location"] = dc

    code, out, err, browser = await run_setup(
        capsys, dc_env(env, dc), zoho, clock, auth_host=accounts_host, tamper=from_dc
    )

    assert code == cli.EXIT_OK, err
    result = json.loads(out)
    assert (result["data_centre"], result["accounts_server"]) == (dc, f"https://{accounts_host}")
    assert urlsplit(browser.opened[0]).netloc == accounts_host
    assert [c.path for c in elsewhere.calls] == []


async def test_a_callback_naming_a_foreign_accounts_server_gets_no_secret(
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    state: EmulatorState,
    zoho: httpx.AsyncBaseTransport,
    clock: ManualClock,
) -> None:
    """The client secret only goes to a Zoho accounts host or ZOHO_ACCOUNTS_URL."""

    def elsewhere(params: dict[str, str]) -> None:
        params["accounts-server"] = "https://accounts.example.com"

    code, _, err, _ = await run_setup(capsys, env, zoho, clock, tamper=elsewhere)

    assert code == cli.EXIT_AUTH
    assert "was not sent there" in one_line(err)
    assert [c for c in state.calls if c.path == "/oauth/v2/token"] == []


# ------------------------------------------------------------------ refused before starting


async def test_a_busy_callback_port_is_one_line(
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    zoho: httpx.AsyncBaseTransport,
    clock: ManualClock,
    redirect_uri: str,
) -> None:
    """Something already listens on the redirect URI's port: exit 2, naming the port."""
    port = urlsplit(redirect_uri).port
    assert port is not None
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        code, _, err, _ = await run_setup(capsys, env, zoho, clock)
    assert code == cli.EXIT_USAGE
    assert f"cannot listen on 127.0.0.1:{port}" in one_line(err)


@pytest.mark.parametrize(
    ("redirect", "expected"),
    [
        ("https://app.example.com/callback", "not a plain http:// URL"),
        ("http://app.example.com:8888/callback", "does not point at this machine"),
    ],
)
async def test_a_redirect_uri_that_cannot_reach_this_machine_is_refused(
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    zoho: httpx.AsyncBaseTransport,
    clock: ManualClock,
    redirect: str,
    expected: str,
) -> None:
    """auth setup needs a loopback http redirect URI; otherwise one line says what to do."""
    code, _, err, browser = await run_setup(
        capsys, {**env, "ZOHO_REDIRECT_URI": redirect}, zoho, clock
    )
    assert code == cli.EXIT_USAGE
    line = one_line(err)
    assert expected in line
    assert "ZOHO_AUTHORIZATION_CODE" in line
    assert browser.opened == []


async def test_sandbox_mode_has_nothing_to_authorize(
    capsys: pytest.CaptureFixture[str], clock: ManualClock
) -> None:
    """Without client credentials, auth setup says to set them."""
    zoho = httpx.ASGITransport(app=create_emulator_app(EmulatorState(clock)))
    code = await cli.run(["auth", "setup"], container=make_container({}, zoho, None))
    assert code == cli.EXIT_USAGE
    assert "ZOHO_CLIENT_ID" in one_line(capsys.readouterr().err)


async def test_a_localhost_redirect_uri_listens_on_both_loopbacks(
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    clock: ManualClock,
) -> None:
    """http://localhost:PORT/callback (the contract's default form) works whichever loopback
    address the browser resolves localhost to."""
    redirect = f"http://localhost:{free_port()}/callback"
    state = EmulatorState(clock)
    state.register_client(CLIENT_ID, SECRET, redirect)
    zoho = httpx.ASGITransport(app=create_emulator_app(state))
    code, _, err, browser = await run_setup(
        capsys, {**env, "ZOHO_REDIRECT_URI": redirect}, zoho, clock
    )
    assert code == cli.EXIT_OK, err
    assert browser.page is not None
    assert browser.page.status_code == 200
