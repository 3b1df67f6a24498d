"""The emulated Zoho accounts server: OAuth clients, grant codes, refresh and access tokens,
and Zoho's limits on them (10 refreshes in 10 minutes, 15 live access tokens, 20 refresh tokens
per client)."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from zoho_desk_emulator.clock import Clock
from zoho_desk_emulator.errors import DeskError, OAuthError
from zoho_desk_emulator.faults import Faults
from zoho_desk_emulator.records import (
    AccessTokenRecord,
    IssuedCode,
    OAuthClient,
    RefreshTokenRecord,
)

API_DOMAIN = "https://www.zohoapis.com"
ACCESS_TOKEN_SECONDS = 3600
CODE_SECONDS = 120
REFRESH_WINDOW_SECONDS = 600
REFRESHES_PER_WINDOW = 10
LIVE_ACCESS_TOKENS = 15
REFRESH_TOKENS_PER_CLIENT = 20
INVALID_OAUTH_MESSAGE = "The OAuth Token you provided is invalid."
THROTTLED = {
    "error": "Access Denied",
    "error_description": (
        "You have made too many requests continuously. Please try again after some time."
    ),
    "status": "failure",
}


def _zoho_token() -> str:
    """A fresh code or token in Zoho's ``1000.<hex>.<hex>`` shape."""
    return f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}"


class OAuthServer:
    """The accounts host's state (``/oauth/v2/*``) and the access-token check of every Desk call.

    ``faults`` is shared with the rest of the emulator: ``deny_consent`` and ``expires_in_ms``
    change its answers.
    """

    def __init__(
        self, clock: Clock, faults: Faults, access_token_seconds: int = ACCESS_TOKEN_SECONDS
    ) -> None:
        self.clock = clock
        self.faults = faults
        self.access_token_seconds = access_token_seconds  # Zoho's are 3600; shorter for tests
        self.clients: dict[str, OAuthClient] = {}
        self.codes: dict[str, IssuedCode] = {}
        self.refresh_tokens: dict[str, RefreshTokenRecord] = {}
        self.access_tokens: dict[str, AccessTokenRecord] = {}
        self.token_refreshes = 0
        self.access_tokens_issued = 0

    def __repr__(self) -> str:
        return f"OAuthServer(clients={len(self.clients)}, tokens={len(self.access_tokens)})"

    def register_client(self, client_id: str, secret: str, redirect_uri: str) -> None:
        """Register (or replace) an OAuth client with its one exact redirect URI."""
        self.clients[client_id] = OAuthClient(client_id, secret, redirect_uri)

    def live_access_tokens(self) -> int:
        now = self.clock.now()
        return sum(1 for a in self.access_tokens.values() if a.expires_at > now)

    def authorize(
        self,
        *,
        client_id: str | None,
        redirect_uri: str | None,
        response_type: str | None,
        scope: str | None,
        access_type: str | None,
    ) -> dict[str, str]:
        """The consent step: the callback parameters (``code``, or ``error`` when denied).

        Raises:
            OAuthError: the request cannot be redirected (unknown client, wrong redirect URI,
                unsupported response type).
        """
        client = self.clients.get(client_id or "")
        if client is None:
            raise OAuthError("invalid_client")
        if redirect_uri != client.redirect_uri:
            raise OAuthError("invalid_redirect_uri")
        if response_type != "code":
            raise OAuthError("unsupported_response_type")
        if self.faults.deny_consent:
            return {"error": "access_denied"}
        code = _zoho_token()
        self.codes[code] = IssuedCode(
            client_id=client.client_id,
            redirect_uri=redirect_uri,
            scope=scope or "",
            offline=access_type == "offline",
            issued_at=self.clock.now(),
        )
        return {"code": code}

    def token(self, params: Mapping[str, str]) -> dict[str, Any]:
        """``POST /oauth/v2/token``: the success body, or ``OAuthError`` with Zoho's body."""
        grant = params.get("grant_type")
        client = self.clients.get(params.get("client_id", ""))
        if client is None or not secrets.compare_digest(
            client.client_secret.encode(), params.get("client_secret", "").encode()
        ):
            raise OAuthError("invalid_client")
        if grant == "authorization_code":
            return self._exchange_code(client, params)
        if grant == "refresh_token":
            return self._refresh(client, params.get("refresh_token", ""))
        raise OAuthError("unsupported_grant_type")

    def _exchange_code(self, client: OAuthClient, params: Mapping[str, str]) -> dict[str, Any]:
        now = self.clock.now()
        issued = self.codes.get(params.get("code", ""))
        if (
            issued is None
            or issued.used
            or issued.client_id != client.client_id
            or now - issued.issued_at > timedelta(seconds=CODE_SECONDS)
        ):
            raise OAuthError("invalid_code")
        if params.get("redirect_uri") != issued.redirect_uri:
            raise OAuthError("invalid_redirect_uri")
        issued.used = True
        refresh: RefreshTokenRecord | None = None
        if issued.offline:
            refresh = self.add_refresh_token(client.client_id, issued.scope)
        access = self._issue_access_token(client.client_id, issued.scope, refresh)
        return self._token_body(access, refresh)

    def _refresh(self, client: OAuthClient, token: str) -> dict[str, Any]:
        now = self.clock.now()
        record = self.refresh_tokens.get(token)
        if record is None or record.client_id != client.client_id:
            raise OAuthError("invalid_code")
        window_start = now - timedelta(seconds=REFRESH_WINDOW_SECONDS)
        record.refreshes = [t for t in record.refreshes if t > window_start]
        if len(record.refreshes) >= REFRESHES_PER_WINDOW:
            raise OAuthError("Access Denied", THROTTLED)
        record.refreshes.append(now)
        self.token_refreshes += 1
        return self._token_body(self._issue_access_token(client.client_id, record.scope, record))

    def _token_body(
        self, access: AccessTokenRecord, refresh: RefreshTokenRecord | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"access_token": access.token}
        if refresh is not None:
            body["refresh_token"] = refresh.token
        body["api_domain"] = API_DOMAIN
        body["token_type"] = "Bearer"  # noqa: S105 - a token type, not a password
        if self.faults.expires_in_ms:
            body["expires_in_sec"] = self.access_token_seconds
            body["expires_in"] = self.access_token_seconds * 1000
        else:
            body["expires_in"] = self.access_token_seconds
        return body

    def add_refresh_token(
        self, client_id: str, scope: str, token: str | None = None
    ) -> RefreshTokenRecord:
        record = RefreshTokenRecord(
            token=token or _zoho_token(),
            client_id=client_id,
            scope=scope,
            issued_at=self.clock.now(),
        )
        mine = [r for r in self.refresh_tokens.values() if r.client_id == client_id]
        if len(mine) >= REFRESH_TOKENS_PER_CLIENT:
            self._drop_refresh_token(min(mine, key=lambda r: r.issued_at).token)
        self.refresh_tokens[record.token] = record
        return record

    def _issue_access_token(
        self, client_id: str, scope: str, refresh: RefreshTokenRecord | None
    ) -> AccessTokenRecord:
        now = self.clock.now()
        record = AccessTokenRecord(
            token=_zoho_token(),
            client_id=client_id,
            refresh_token=refresh.token if refresh else None,
            scope=scope,
            expires_at=now + timedelta(seconds=self.access_token_seconds),
        )
        if refresh is not None:
            refresh.live = [
                t
                for t in refresh.live
                if t in self.access_tokens and self.access_tokens[t].expires_at > now
            ]
            while len(refresh.live) >= LIVE_ACCESS_TOKENS:
                self.access_tokens.pop(refresh.live.pop(0), None)
            refresh.live.append(record.token)
        self.access_tokens[record.token] = record
        self.access_tokens_issued += 1
        return record

    def revoke(self, token: str) -> None:
        """Revoke a refresh token (and every access token it issued) or one access token."""
        if token in self.refresh_tokens:
            self._drop_refresh_token(token)
        self.access_tokens.pop(token, None)

    def _drop_refresh_token(self, token: str) -> None:
        record = self.refresh_tokens.pop(token, None)
        if record is None:
            return
        for access in [a for a in self.access_tokens.values() if a.refresh_token == token]:
            del self.access_tokens[access.token]

    def authenticate(self, authorization: str | None) -> AccessTokenRecord:
        """The access token behind an ``Authorization`` header, or a 401 ``DeskError``."""
        scheme, _, token = (authorization or "").strip().partition(" ")
        if scheme.lower() != "zoho-oauthtoken" or not token.strip():
            raise DeskError(
                401, "UNAUTHORIZED", "You are not authenticated to perform this operation."
            )
        record = self.access_tokens.get(token.strip())
        if record is None or record.expires_at <= self.clock.now():
            raise DeskError(401, "INVALID_OAUTH", INVALID_OAUTH_MESSAGE)
        return record
