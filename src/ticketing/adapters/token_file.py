"""A ``TokenStore`` in a JSON file, written atomically and readable only by its owner."""

from __future__ import annotations

import logging
import os
import secrets
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

import anyio
import anyio.to_thread
import msgspec

from ticketing.adapters.lease_lock import poll
from ticketing.domain.errors import ConfigurationError, HelpdeskUnavailable
from ticketing.domain.ports import TokenSet

log = logging.getLogger(__name__)

FILE_MODE = 0o600


class _TokenFile(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The file's JSON; ``version`` lets a later format be told apart."""

    version: int = 1
    refresh_token: str | None = None
    access_token: str | None = None
    expires_at: datetime | None = None
    accounts_url: str | None = None
    api_domain: str | None = None
    scope: str | None = None
    lifetime: float | None = None


class FileTokenStore:
    """OAuth tokens in a JSON file (``ZOHO_TOKEN_FILE``), for single-host deployments.

    Writes go to a temporary file in the same directory, created with mode 0600 in the
    ``open`` call itself (no window where it is readable by others), fsynced, then renamed
    over the old file, so a crash leaves either the old tokens or the new ones, never half.

    Args:
        path: the file; its directory is created (0700) if missing.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"FileTokenStore({str(self.path)!r})"

    def describe(self) -> str:
        """Where the tokens are, for ``auth status`` and ``doctor``."""
        return f"file {self.path}"

    async def load(self) -> TokenSet | None:
        """The stored tokens; None when the file does not exist.

        Raises:
            ConfigurationError: the file is unreadable or not a token file.
        """
        return await anyio.to_thread.run_sync(self._load)

    async def save(self, tokens: TokenSet) -> None:
        """Replace the file's content atomically, mode 0600."""
        data = msgspec.json.encode(
            _TokenFile(
                refresh_token=tokens.refresh_token,
                access_token=tokens.access_token,
                expires_at=tokens.expires_at,
                accounts_url=tokens.accounts_url,
                api_domain=tokens.api_domain,
                scope=tokens.scope,
                lifetime=tokens.lifetime,
            )
        )
        try:
            await anyio.to_thread.run_sync(self._write, data)
        except OSError as exc:
            raise ConfigurationError(
                f"ZOHO_TOKEN_FILE {self.path} cannot be written ({exc.strerror}): fix the "
                "directory's permissions or point ZOHO_TOKEN_FILE elsewhere"
            ) from exc

    @asynccontextmanager
    async def lock(self, wait: float = 30.0) -> AsyncIterator[None]:
        """Hold an exclusive lock on ``<file>.lock`` (``flock``), so that processes sharing the
        file on one host refresh one at a time; a crashed holder's lock goes with its process.

        Where there is no ``flock`` or the lock file cannot be created, the in-process lock
        of the token manager is all there is.
        """
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            yield
            return
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            lock_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, FILE_MODE)
        except OSError as exc:
            log.debug("no lock file %s (%s): in-process lock only", lock_path, exc.strerror)
            yield
            return
        try:

            async def take() -> bool:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return False
                return True

            if not await poll(take, wait=wait):
                raise HelpdeskUnavailable(
                    f"another process has held {lock_path} for more than {wait:g}s while "
                    "refreshing the Zoho token; try again shortly"
                )
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def is_readable_by_others(self) -> bool:
        """True when the group or other users have any access to the file."""
        try:
            mode = self.path.stat().st_mode
        except FileNotFoundError:
            return False
        return bool(stat.S_IMODE(mode) & 0o077)

    def _load(self) -> TokenSet | None:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ConfigurationError(
                f"ZOHO_TOKEN_FILE {self.path} cannot be read ({exc.strerror}): fix its "
                "permissions or point ZOHO_TOKEN_FILE elsewhere"
            ) from exc
        if self.is_readable_by_others():
            log.warning(
                "ZOHO_TOKEN_FILE %s is accessible by other users; run `chmod 600 %s`",
                self.path,
                self.path,
            )
        try:
            stored = msgspec.json.decode(data, type=_TokenFile)
        except msgspec.DecodeError as exc:
            # The decoder's message names the position or field, never the file's values.
            raise ConfigurationError(
                f"ZOHO_TOKEN_FILE {self.path} is not a valid token file ({exc}): delete it "
                "and run `ticketing auth setup`"
            ) from exc
        return TokenSet(
            refresh_token=stored.refresh_token,
            access_token=stored.access_token,
            expires_at=stored.expires_at,
            accounts_url=stored.accounts_url,
            api_domain=stored.api_domain,
            scope=stored.scope,
            lifetime=stored.lifetime,
        )

    def _write(self, data: bytes) -> None:
        directory = self.path.parent
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        temp = directory / f".{self.path.name}.{secrets.token_hex(6)}.tmp"
        # O_EXCL: never write through a file (or symlink) someone else put there first.
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, self.path)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        self._fsync_directory(directory)

    @staticmethod
    def _fsync_directory(directory: Path) -> None:
        # Makes the rename itself durable; not possible on every platform, so best effort.
        try:
            fd = os.open(directory, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)
