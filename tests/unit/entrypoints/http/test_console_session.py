"""The console's session cookies: signed, expiring, tied to a configured key, and agreed on
by every instance that has the same API_KEYS (or CONSOLE_SECRET, or without either the same
Zoho client or Redis); the login form's short-lived pre-session."""

from __future__ import annotations

import pytest

from ticketing.domain.errors import ConfigurationError
from ticketing.entrypoints.http.console import shared
from ticketing.entrypoints.http.console.session import LOGIN_LIFETIME, Sessions
from ticketing.settings import Settings

KEY = "console-key-0123456789"
OTHER = "another-key-0123456789"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_login_reads_back_and_never_holds_the_key() -> None:
    """A configured key gets a session that reads back with the same CSRF token."""
    sessions = Sessions((KEY, OTHER))
    session = sessions.login(KEY)
    assert session is not None
    assert KEY not in session.value
    read = sessions.read(session.value)
    assert read is not None
    assert (read.who, read.csrf) == (session.who, session.csrf)
    assert sessions.csrf_ok(read, session.csrf)
    assert not sessions.csrf_ok(read, "")
    assert not sessions.csrf_ok(read, None)


def test_another_text_gets_no_session() -> None:
    sessions = Sessions((KEY,))
    assert sessions.login("") is None
    assert sessions.login(KEY[:-1]) is None


def test_a_fleet_agrees_without_configuration() -> None:
    """Two instances with the same API_KEYS (in any order) read each other's sessions; an
    instance with other keys does not."""
    session = Sessions((KEY, OTHER)).login(OTHER)
    assert session is not None
    assert Sessions((OTHER, KEY)).read(session.value) is not None
    assert Sessions((KEY,)).read(session.value) is None


def test_console_secret_keeps_sessions_across_key_changes_but_not_a_removed_key() -> None:
    """With CONSOLE_SECRET adding a key keeps the sessions; removing a key ends its own."""
    secret = "s" * 40
    session = Sessions((KEY,), secret).login(KEY)
    assert session is not None
    assert Sessions((KEY, OTHER), secret).read(session.value) is not None
    assert Sessions((OTHER,), secret).read(session.value) is None
    assert Sessions((KEY,), "t" * 40).read(session.value) is None


def test_tampered_or_expired_sessions_are_refused() -> None:
    clock = Clock()
    sessions = Sessions((KEY,), lifetime=60, clock=clock)
    session = sessions.login(KEY)
    assert session is not None
    version, who, expires, nonce, mac = session.value.split(".")
    longer = f"{version}.{who}.{int(expires) + 9999}.{nonce}.{mac}"
    assert sessions.read(longer) is None
    assert sessions.read(session.value + "x") is None
    assert sessions.read("garbage") is None
    assert sessions.read(None) is None
    clock.now += 61
    assert sessions.read(session.value) is None


def test_an_open_console_reads_only_open_sessions() -> None:
    """Without keys every session is open; a keyed instance never takes an open one."""
    sessions = Sessions(())
    assert sessions.open
    session = sessions.anonymous()
    read = sessions.read(session.value)
    assert read is not None
    assert read.open
    assert sessions.login(KEY) is None


def test_console_secret_is_optional_secret_and_at_least_32_characters() -> None:
    """CONSOLE_SECRET: unset by default, refused when short, never shown by the settings."""
    assert Settings.load({}, dotenv=None).console_secret is None
    with pytest.raises(ConfigurationError, match="CONSOLE_SECRET"):
        Settings.load({"CONSOLE_SECRET": "short"}, dotenv=None)
    settings = Settings.load({"CONSOLE_SECRET": "c" * 40}, dotenv=None)
    assert settings.console_secret == "c" * 40
    assert "c" * 40 not in repr(settings)
    assert "c" * 40 in settings.secrets()


def test_a_login_forms_token_holds_for_its_own_cookie_for_an_hour() -> None:
    """The form's token matches its own unexpired cookie only: not another form's, not a
    tampered cookie, not after LOGIN_LIFETIME; a reload within it gets the same form."""
    clock = Clock()
    sessions = Sessions((KEY,), clock=clock)
    form = sessions.login_form()
    other = sessions.login_form()
    assert sessions.login_form(form.value) == form
    assert sessions.login_csrf_ok(form.value, form.csrf)
    assert not sessions.login_csrf_ok(form.value, other.csrf)
    assert not sessions.login_csrf_ok(None, form.csrf)
    assert not sessions.login_csrf_ok(form.value, None)
    assert not sessions.login_csrf_ok(form.value + "x", form.csrf)
    assert not Sessions((OTHER,), clock=clock).login_csrf_ok(form.value, form.csrf)
    assert sessions.read(form.value) is None  # a pre-session is no session
    clock.now += LOGIN_LIFETIME + 1
    assert not sessions.login_csrf_ok(form.value, form.csrf)
    assert sessions.login_form(form.value) != form


def _settings(**env: str) -> Settings:
    return Settings.load(env, dotenv=None)


ZOHO = {"ZOHO_CLIENT_ID": "1000.fakeclient", "ZOHO_CLIENT_SECRET": "fake-client-secret"}
REDIS = {"REDIS_URL": "redis://:fake-pass@redis.internal:6379/0"}


def test_without_api_keys_the_key_comes_from_what_the_fleet_shares() -> None:
    """CONSOLE_SECRET wins, then API_KEYS, then Zoho's client credentials, then REDIS_URL
    (with its prefix); with none of them (sandbox, no Redis) a key of the process's own."""

    def source(**env: str) -> str:
        settings = _settings(**env)
        return Sessions(settings.api_keys, settings.console_secret, shared=shared(settings)).source

    assert source(CONSOLE_SECRET="c" * 40, API_KEYS=KEY, **ZOHO, **REDIS) == "CONSOLE_SECRET"
    assert source(API_KEYS=KEY, **ZOHO, **REDIS) == "API_KEYS"
    assert source(**ZOHO, **REDIS) == "ZOHO_CLIENT_ID and ZOHO_CLIENT_SECRET"
    assert source(**REDIS) == "REDIS_URL"
    assert source() == "a random key of this process"


def test_instances_with_the_same_redis_agree_and_others_do_not() -> None:
    """Open consoles on the same REDIS_URL and prefix read each other's sessions with the
    same CSRF token; another prefix or another Redis does not; the URL is never in a cookie."""

    def sessions(**env: str) -> Sessions:
        return Sessions((), shared=shared(_settings(**env)))

    session = sessions(**REDIS).anonymous()
    read = sessions(**REDIS).read(session.value)
    assert read is not None
    assert read.csrf == session.csrf
    assert sessions(**REDIS, REDIS_KEY_PREFIX="other:").read(session.value) is None
    assert sessions(REDIS_URL="redis://redis.internal:6379/1").read(session.value) is None
    assert sessions().read(session.value) is None
    assert "fake-pass" not in session.value + session.csrf
