"""The token file: atomic, private, loud about loose permissions, clear about corruption."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ticketing.adapters.token_file import FileTokenStore
from ticketing.domain.errors import ConfigurationError
from ticketing.domain.ports import TokenSet

pytestmark = pytest.mark.anyio

TOKENS = TokenSet(
    refresh_token="1000.fake-refresh-token",
    access_token="1000.fake-access-token",
    expires_at=datetime(2026, 11, 26, 11, 0, tzinfo=UTC),
    accounts_url="https://accounts.zoho.eu",
    api_domain="https://www.zohoapis.eu",
    scope="Desk.tickets.ALL,Desk.contacts.ALL",
)


def names_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """A umask that would leave new files world-readable, to prove the mode is explicit."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


async def test_missing_file_loads_as_none(tmp_path: Path) -> None:
    """No file yet means no tokens, not an error."""
    assert await FileTokenStore(tmp_path / "tokens.json").load() is None


async def test_saved_tokens_load_back_equal(tmp_path: Path) -> None:
    """Every field, including the aware expiry time, survives a save and a load."""
    store = FileTokenStore(tmp_path / "nested" / "tokens.json")
    await store.save(TOKENS)
    assert await store.load() == TOKENS
    assert await FileTokenStore(store.path).load() == TOKENS


async def test_file_is_created_with_mode_0600_whatever_the_umask(
    tmp_path: Path, open_umask: None
) -> None:
    """With umask 0 the file is still 0600, and a previously loose file becomes 0600."""
    path = tmp_path / "tokens.json"
    path.write_text("{}")
    path.chmod(0o644)
    store = FileTokenStore(path)
    await store.save(TOKENS)
    assert mode_of(path) == 0o600
    assert not store.is_readable_by_others()


async def test_save_replaces_atomically_and_leaves_no_temp_file(tmp_path: Path) -> None:
    """After several saves the directory holds only the token file, with the last content."""
    store = FileTokenStore(tmp_path / "tokens.json")
    await store.save(TOKENS)
    newer = TokenSet(refresh_token="1000.fake-newer-refresh-token")
    await store.save(newer)
    assert names_in(tmp_path) == ["tokens.json"]
    assert await store.load() == newer


async def test_failed_write_keeps_the_old_tokens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash before the rename leaves the previous file intact and no temp file behind."""
    store = FileTokenStore(tmp_path / "tokens.json")
    await store.save(TOKENS)

    def broken_replace(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(ConfigurationError, match="ZOHO_TOKEN_FILE"):
        await store.save(TokenSet(refresh_token="1000.fake-lost-refresh-token"))
    monkeypatch.undo()

    assert await store.load() == TOKENS
    assert names_in(tmp_path) == ["tokens.json"]


async def test_loose_permissions_are_reported_and_logged_without_secrets(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A file readable by others is flagged, and the warning names the file, never a token."""
    store = FileTokenStore(tmp_path / "tokens.json")
    await store.save(TOKENS)
    store.path.chmod(0o644)

    with caplog.at_level(logging.WARNING, logger="ticketing.adapters.token_file"):
        assert await store.load() == TOKENS

    assert store.is_readable_by_others()
    assert "chmod 600" in caplog.text
    assert str(store.path) in caplog.text
    assert "1000.fake" not in caplog.text


async def test_private_file_logs_no_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A 0600 file loads silently."""
    store = FileTokenStore(tmp_path / "tokens.json")
    await store.save(TOKENS)
    with caplog.at_level(logging.WARNING):
        await store.load()
    assert caplog.records == []


@pytest.mark.parametrize(
    "content",
    [b"", b"{not json", b"[1, 2]", b'{"refresh_token": 42}', b'{"expires_at": "tomorrow"}'],
)
async def test_corrupt_file_is_a_configuration_error_naming_the_variable(
    tmp_path: Path, content: bytes
) -> None:
    """Unreadable JSON or wrong types raise ConfigurationError naming ZOHO_TOKEN_FILE."""
    path = tmp_path / "tokens.json"
    path.write_bytes(content)
    with pytest.raises(ConfigurationError, match="ZOHO_TOKEN_FILE") as info:
        await FileTokenStore(path).load()
    assert "ticketing auth setup" in info.value.message
