"""Ports of the credentials side: OAuth tokens, where they are kept, the refresh budget,
and what the authorization set-up talks to (the accounts server, a browser, a callback)."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class TokenSet:
    """OAuth tokens and where they came from. Never logged (the repr leaves the tokens out)."""

    refresh_token: str | None = field(repr=False)
    access_token: str | None = field(default=None, repr=False)
    expires_at: datetime | None = None
    accounts_url: str | None = None
    api_domain: str | None = None
    scope: str | None = None
    lifetime: float | None = None  # seconds the access token was issued for (None: unknown)


class TokenStore(Protocol):
    """Where OAuth tokens are kept between runs (a file, or Redis for a fleet)."""

    async def load(self) -> TokenSet | None:
        """The stored tokens, or None if none are stored yet."""
        ...

    async def save(self, tokens: TokenSet) -> None:
        """Store tokens atomically, readable only by this service."""
        ...


class AuthorizationServer(Protocol):
    """The OAuth authorization server (Zoho Accounts) of a server-based client."""

    accounts_url: str

    def authorization_url(self, state: str) -> str:
        """The consent URL a person opens to grant this service offline access."""
        ...

    async def exchange_code(self, code: str, *, accounts_server: str | None = None) -> TokenSet:
        """Exchange an authorization code, at the accounts server the callback named.

        Raises:
            HelpdeskAuthError: ``code`` is ``invalid_code`` (expired or used) or
                ``invalid_client`` (wrong id or secret, or another data centre).
            HelpdeskUnavailable: the accounts server is unreachable or throttling.
        """
        ...

    async def verify_client(self) -> None:
        """Check the client id and secret without spending a refresh.

        Raises:
            HelpdeskAuthError: the accounts server does not know this client (``invalid_client``).
            HelpdeskUnavailable: the accounts server is unreachable or throttling.
        """
        ...

    def data_centre(self, accounts_url: str) -> str | None:
        """The data centre (``us``, ``eu``, …) an accounts URL belongs to; None if unknown."""
        ...

    def trusts(self, accounts_url: str) -> bool:
        """May the client secret be sent to this accounts server (a Zoho host, or the
        configured one)?"""
        ...


@dataclass(frozen=True, slots=True)
class RefreshAllowance:
    """Where one refresh token stands against the fleet-wide refresh budget.

    ``granted`` says whether a refresh could happen now; ``paused_until`` says when the next
    one may when it cannot. ``used`` counts what Zoho counts: access tokens issued, and
    attempts Zoho refused as too many. ``failures`` counts the accounts server's failures in
    a row (nothing issued, so not counted in ``used``); they back the next try off.
    """

    granted: bool
    used: int
    limit: int
    window: float
    paused_until: datetime | None = None
    throttled: bool = False  # paused because Zoho itself refused, not because of our count
    failures: int = 0
    backing_off: bool = False  # paused because the accounts server failed, not for a count

    def describe(self) -> str:
        """One line for an error, ``/health`` or ``auth status``."""
        minutes = f"{self.window / 60:g} minutes"
        if self.paused_until is not None and not self.granted:
            until = self.paused_until.strftime("%Y-%m-%d %H:%M:%S UTC")
            if self.throttled:
                return (
                    f"Zoho token refreshes are paused until {until}: Zoho refused a refresh as "
                    f"too many ({self.used} refreshes counted in the last {minutes})"
                )
            if self.backing_off:
                return (
                    f"Zoho token refreshes are backed off until {until}: the accounts server "
                    f"failed {self.failures} time(s) in a row (nothing was issued, so nothing "
                    "was counted against ZOHO_REFRESH_BUDGET)"
                )
            return (
                f"Zoho token refreshes are paused until {until}: {self.used} refreshes were made "
                f"in the last {minutes} (ZOHO_REFRESH_BUDGET={self.limit}; Zoho blocks a "
                "refresh token after 10)"
            )
        used = f"{self.used} of {self.limit} refreshes used in the last {minutes}"
        if self.failures:
            return (
                f"the Zoho accounts server failed the last {self.failures} token refresh(es); "
                f"the next call tries again ({used})"
            )
        return used


def backoff_delay(failures: int, first: float, cap: float, jitter: float) -> float:
    """Seconds to wait after ``failures`` failures in a row: ``first`` doubled per failure,
    at most ``cap``, then scaled by ``0.5 + jitter / 2`` (``jitter`` in [0, 1)) so that a
    fleet's retries spread out instead of arriving together."""
    exponent = min(max(failures, 1) - 1, 30)
    return min(cap, first * 2.0**exponent) * (0.5 + max(0.0, min(jitter, 1.0)) / 2)


class RefreshBudget(Protocol):
    """What Zoho counts against a refresh token (access tokens issued, and refusals as too
    many: 10 per refresh token in 10 minutes, then blocked for the rest of the window),
    counted across every process that shares the budget so the fleet stays under it; and
    the back-off from a failing accounts server, shared the same way.

    ``subject`` names the refresh token without being it (a fingerprint). Every pause it
    holds ends with its reason: the window sliding on, Zoho's pause passing, a success after
    failures, or :meth:`resume`.
    """

    async def peek(self, subject: str) -> RefreshAllowance:
        """Where the budget stands, without counting; ``granted`` says if a refresh could
        happen now (not over the budget, not paused by Zoho, not backing off)."""
        ...

    async def record(self, subject: str) -> None:
        """Zoho issued an access token: count it, and end any back-off."""
        ...

    async def throttled(self, subject: str, until: datetime) -> None:
        """Zoho refused a refresh as too many: count it, and no refresh before ``until``
        (a shorter pause never shortens a longer one)."""
        ...

    async def failed(self, subject: str, *, first: float, cap: float) -> RefreshAllowance:
        """The accounts server failed (nothing issued, nothing counted): one more failure in
        a row, and no refresh before a jittered ``backoff_delay`` has passed."""
        ...

    async def resume(self, subject: str) -> RefreshAllowance:
        """Lift everything that holds refreshes back (the count, Zoho's pause, the back-off),
        by hand; returns where the budget stood before."""
        ...


@dataclass(frozen=True, slots=True)
class TokenStatus:
    """Facts about the OAuth tokens, never their values."""

    store: str  # where they are kept, e.g. "file .zoho_tokens.json" or "redis key …"
    authorized: bool  # a refresh token is stored or configured
    access_token_expires_at: datetime | None = None
    accounts_url: str | None = None
    data_centre: str | None = None
    scope: str | None = None
    refresh_token_from_env: bool = False
    authorization_code_pending: bool = False
    refreshes: int = 0  # by this process
    budget: RefreshAllowance | None = None
    budget_shared: bool = False  # counted in Redis for the fleet, not in this process only
    # Why no token can be had until an operator acts (Zoho refused the refresh token or the
    # client for good), as this process last heard it; None when nothing says so.
    needs_operator: str | None = None


class Credentials(Protocol):
    """The access-token source (Zoho's OAuth tokens, refreshed and shared)."""

    async def access_token(self) -> str:
        """A valid access token, refreshed first when it is about to expire.

        Raises:
            HelpdeskAuthError: no refresh token, or Zoho refused it or the client.
            RateLimited: refreshes are paused (the budget is spent, or Zoho throttles).
            HelpdeskUnavailable: the accounts server or the shared token store is unreachable.
        """
        ...

    async def adopt(self, tokens: TokenSet) -> None:
        """Take tokens from a fresh authorization: store them and use them from now on."""
        ...

    async def report(self) -> TokenStatus:
        """Non-secret facts about the tokens and the refresh budget."""
        ...

    async def resume(self) -> RefreshAllowance | None:
        """Lift every pause on refreshing (the budget's count, Zoho's pause, the back-off)
        wherever the budget is kept; where it stood before, or None without a refresh token.

        Raises:
            StoreUnavailable: the shared store cannot be reached.
        """
        ...


class Browser(Protocol):
    """Whatever can show a person a URL."""

    def open(self, url: str) -> bool:
        """Try to open ``url``; False when there is no browser here."""
        ...


class CallbackInbox(Protocol):
    """The redirects that reached a listening callback server."""

    async def receive(self) -> Mapping[str, str]:
        """The query parameters of the next redirect to the callback path."""
        ...

    async def reply(self, ok: bool, message: str) -> None:
        """Answer the browser that made the last redirect with a short page."""
        ...


class CallbackServer(Protocol):
    """The local HTTP server that an OAuth redirect URI points at."""

    def listen(self) -> AbstractAsyncContextManager[CallbackInbox]:
        """Listen on the redirect URI's port until the context ends.

        Raises:
            ConfigurationError: the URI is not a loopback http URL, or its port is taken.
        """
        ...
