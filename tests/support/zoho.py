"""A mocked Zoho for the adapter tests: the fake accounts and Desk hosts, credentials, a token
store that records every save, and a refresh response as Zoho sends it."""

from __future__ import annotations

from ticketing.domain.ports import TokenSet

ACCOUNTS = "https://accounts.zoho.eu"
DESK = "https://desk.zoho.eu"
ORG = "20071234"
ACCESS = "1000.fake-access-token"
REFRESHED = "1000.fake-refreshed-access-token"
REFRESH = "1000.fake-refresh-token"
CLIENT_ID = "1000.FAKECLIENTID"
CLIENT_SECRET = "fake-client-secret"


class MemoryTokenStore:
    """A TokenStore in a list, so tests can see every save."""

    def __init__(self, tokens: TokenSet | None = None) -> None:
        self.tokens = tokens
        self.saved: list[TokenSet] = []

    async def load(self) -> TokenSet | None:
        return self.tokens

    async def save(self, tokens: TokenSet) -> None:
        self.tokens = tokens
        self.saved.append(tokens)

    def __repr__(self) -> str:
        return f"MemoryTokenStore(saves={len(self.saved)})"


def token_body(access: str = REFRESHED, **extra: object) -> dict[str, object]:
    """A successful refresh response as Zoho sends it."""
    return {
        "access_token": access,
        "api_domain": "https://www.zohoapis.eu",
        "token_type": "Bearer",
        "expires_in": 3600,
        **extra,
    }
