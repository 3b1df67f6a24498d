"""OAuth tokens kept in Redis, so that every instance of a fleet shares one refresh token."""

from __future__ import annotations

from typing import Final

import msgspec
import redis.asyncio as aioredis

from ticketing.adapters.redis.connection import store_errors
from ticketing.domain.errors import ConfigurationError
from ticketing.domain.ports import TokenSet

TOKENS_KEY: Final = "ticketing:oauth:tokens"


class RedisTokenStore:
    """The ``TokenStore`` port on Redis: one key holding the TokenSet as JSON, no TTL.

    Args:
        client: An asyncio Redis client.
        key: The key holding the tokens.
        prefix: Put before the key.
    """

    def __init__(self, client: aioredis.Redis, *, key: str = TOKENS_KEY, prefix: str = "") -> None:
        self._client = client
        self._key = prefix + key

    def __repr__(self) -> str:
        return f"RedisTokenStore(key={self._key!r})"  # never the tokens

    async def load(self) -> TokenSet | None:
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

    async def save(self, tokens: TokenSet) -> None:
        with store_errors(self._client, "saving the OAuth tokens"):
            await self._client.set(self._key, msgspec.json.encode(tokens))
