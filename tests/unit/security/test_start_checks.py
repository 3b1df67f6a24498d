"""Production start-up refusals and secret-free representations of settings and tokens."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ticketing.container import build_zoho_endpoints
from ticketing.domain.errors import ConfigurationError
from ticketing.domain.ports import TokenSet
from ticketing.settings import Settings

CLIENT_SECRET = "fake-client-secret-0042"
REFRESH = "1000.fake-refresh-0042.fake-0042"
API_KEY = "fake-api-key-0123456789-0042"
REDIS_PASSWORD = "fake-redis-pass-0042"


def production(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        "ENVIRONMENT": "production",
        "ZOHO_CLIENT_ID": "1000.FAKECLIENTID",
        "ZOHO_CLIENT_SECRET": CLIENT_SECRET,
        "REDIS_URL": f"redis://:{REDIS_PASSWORD}@127.0.0.1:6379/0",
        "API_KEYS": API_KEY,
        "ZOHO_TOKEN_FILE": str(tmp_path / "tokens.json"),
    }
    env.update(extra)
    return env


def test_production_refuses_to_start_without_api_keys(tmp_path: Path) -> None:
    """ENVIRONMENT=production with everything but API_KEYS stops, naming API_KEYS."""
    env = production(tmp_path)
    del env["API_KEYS"]
    with pytest.raises(ConfigurationError, match=r"^API_KEYS: ENVIRONMENT=production"):
        Settings.load(env, dotenv=None)


def test_development_without_api_keys_still_starts(tmp_path: Path) -> None:
    """Development mode without keys loads (the start-up log warns instead)."""
    env = production(tmp_path, ENVIRONMENT="development")
    del env["API_KEYS"]
    assert Settings.load(env, dotenv=None).api_keys == ()


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_production_refuses_a_token_file_others_can_read(tmp_path: Path, mode: int) -> None:
    """A token file with any group or other permission bit stops a production start."""
    tokens = tmp_path / "tokens.json"
    tokens.write_text("{}", encoding="utf-8")
    os.chmod(tokens, mode)
    with pytest.raises(ConfigurationError, match=r"^ZOHO_TOKEN_FILE: .*chmod 600"):
        Settings.load(production(tmp_path), dotenv=None)


def test_production_accepts_a_private_or_missing_token_file(tmp_path: Path) -> None:
    """A 0600 token file, or none yet, is fine; with tokens in Redis an exposed file (which
    would be imported) is still refused."""
    assert Settings.load(production(tmp_path), dotenv=None).production
    tokens = tmp_path / "tokens.json"
    tokens.write_text("{}", encoding="utf-8")
    os.chmod(tokens, 0o600)
    assert Settings.load(production(tmp_path), dotenv=None).production
    os.chmod(tokens, 0o644)
    with pytest.raises(ConfigurationError, match=r"^ZOHO_TOKEN_FILE"):
        Settings.load(production(tmp_path, ZOHO_TOKEN_STORE="redis"), dotenv=None)


def test_development_tolerates_a_readable_token_file(tmp_path: Path) -> None:
    """Outside production an exposed token file is only warned about (by the file store)."""
    tokens = tmp_path / "tokens.json"
    tokens.write_text("{}", encoding="utf-8")
    os.chmod(tokens, 0o644)
    assert not Settings.load(
        production(tmp_path, ENVIRONMENT="development"), dotenv=None
    ).production


def test_reprs_never_show_secrets(tmp_path: Path) -> None:
    """repr() of settings, Zoho endpoints and token sets leaves every secret value out."""
    settings = Settings.load(
        production(tmp_path, ZOHO_REFRESH_TOKEN=REFRESH, ZOHO_AUTHORIZATION_CODE="1000.fakecode42"),
        dotenv=None,
    )
    tokens = TokenSet(
        refresh_token=REFRESH,
        access_token="1000.fakeaccess42",
        expires_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    shown = " ".join(
        [repr(settings), str(settings), repr(build_zoho_endpoints(settings)), repr(tokens)]
    )
    for secret in (
        CLIENT_SECRET,
        REFRESH,
        API_KEY,
        REDIS_PASSWORD,
        "1000.fakecode42",
        "1000.fakeaccess42",
    ):
        assert secret not in shown
    assert "redis://:***@127.0.0.1:6379/0" in shown
    assert set(settings.secrets()) >= {CLIENT_SECRET, REFRESH, API_KEY, REDIS_PASSWORD}
