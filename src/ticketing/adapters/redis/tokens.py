"""OAuth tokens kept in Redis, so that every instance of a fleet shares one refresh token."""

from __future__ import annotations

import logging
from typing import Final

import msgspec

from ticketing.adapters.redis.connection import RedisClient, describe, store_errors
from ticketing.domain.errors import ConfigurationError
from ticketing.domain.ports import TokenSet, TokenStore

log = logging.getLogger(__name__)

TOKENS_KEY: Final = "ticketing:oauth:tokens"


class RedisTokenStore:
    """The ``TokenStore`` port on Redis: one key holding the TokenSet as JSON, no TTL.

    When the key is empty and ``import_from`` (the token file of a single-host set-up) holds
    tokens, they are copied into Redis once (``SET NX``: of several instances starting at
    once, one copy wins and none overwrites tokens another already refreshed).

    Args:
        client: An asyncio Redis client.
        key: The key holding the tokens.
        prefix: Put before the key.
        import_from: A store to import from, once, while Redis has no tokens.
    """

    def __init__(
        self,
        client: RedisClient,
        *,
        key: str = TOKENS_KEY,
        prefix: str = "",
        import_from: TokenStore | None = None,
    ) -> None:
        self._client = client
        self._key = prefix + key
        self._import_from = import_from

    def __repr__(self) -> str:
        return f"RedisTokenStore(key={self._key!r})"  # never the tokens

    def describe(self) -> str:
        """Where the tokens are, for ``auth status`` and ``doctor``."""
        return f"redis key {self._key} at {describe(self._client)}"

    async def load(self) -> TokenSet | None:
        tokens = await self._read()
        if tokens is None and self._import_from is not None:
            tokens = await self._import()
        return tokens

    async def save(self, tokens: TokenSet) -> None:
        with store_errors(self._client, "saving the OAuth tokens"):
            await self._client.set(self._key, msgspec.json.encode(tokens))

    async def _read(self) -> TokenSet | None:
        with store_errors(self._client, "reading the OAuth tokens"):
            raw = await self._client.get(self._key)
        if raw is None:
            return None
        try:
            return msgspec.json.decode(raw, type=TokenSet)
        except msgspec.DecodeError as exc:
            # Not the message: it could quote a token.
            raise ConfigurationError(
                f"the OAuth tokens in Redis key {self._key!r} are not valid JSON; "
                "run `ticketing auth setup` again"
            ) from exc

    async def _import(self) -> TokenSet | None:
        assert self._import_from is not None
        legacy = await self._import_from.load()
        if legacy is None or not legacy.refresh_token:
            return None
        with store_errors(self._client, "importing the OAuth tokens"):
            copied = await self._client.set(self._key, msgspec.json.encode(legacy), nx=True)
        if copied:
            source = getattr(self._import_from, "describe", lambda: "the token file")()
            log.warning(
                "imported the OAuth tokens from %s into Redis key %s (once: from now on every "
                "instance reads Redis; the file can be deleted)",
                source,
                self._key,
            )
        return await self._read()
