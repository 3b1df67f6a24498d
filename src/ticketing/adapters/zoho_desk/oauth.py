"""Zoho OAuth: the token endpoint, and a token manager that refreshes once, before expiry."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import replace
from datetime import timedelta
from typing import Any, TypeVar
from urllib.parse import urlencode

import anyio
import httpx
import msgspec

from ticketing.adapters.clock import SystemClock
from ticketing.adapters.memory import InMemoryRefreshBudget
from ticketing.adapters.zoho_desk.hosts import dc_for_accounts_url
from ticketing.adapters.zoho_desk.wire import TokenResponse, token_lifetime
from ticketing.domain.errors import (
    AccountsUnavailable,
    ConfigurationError,
    HelpdeskAuthError,
    HelpdeskUnavailable,
    RateLimited,
    RefreshPaused,
    StoreUnavailable,
    TokenStoreUnavailable,
)
from ticketing.domain.ports import (
    Clock,
    RefreshAllowance,
    RefreshBudget,
    TokenSet,
    TokenStatus,
    TokenStore,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

# Not a token: a value Zoho cannot have issued, for checking the client without a refresh.
PROBE_REFRESH_TOKEN = "1000.ticketing-client-check"  # noqa: S105
SETUP_HINT = "run `ticketing auth setup` (or set ZOHO_REFRESH_TOKEN to a valid refresh token)"
# Zoho blocks refreshing for the rest of a 10-minute window after 10 refreshes; waiting a
# minute before the next try keeps us from lengthening the block with more attempts.
THROTTLE_RETRY_AFTER = 60.0
# A failing accounts server (unreachable, 5xx, invalid_client) is asked again after 1 s,
# then 2, 4, 8, 15 s at most (each scaled by a random 0.5 to 1): a few tries a minute, and
# a token within 15 s of its return. Failures issue no token, so Zoho's limit is not at stake.
# The refresh margin's share of a token's lifetime when that is short (see margin_for).
MARGIN_FRACTION = 0.25
BACKOFF_FIRST = 1.0
BACKOFF_CAP = 15.0


def _scope_text(scope: str | Sequence[str]) -> str:
    parts = re.split(r"[,\s]+", scope) if isinstance(scope, str) else list(scope)
    return ",".join(p.strip() for p in parts if p.strip())


class ZohoOAuth:
    """Zoho's OAuth 2 endpoints for a server-based client.

    Args:
        http: the HTTP client (timeouts are its own).
        accounts_url: the accounts root of the client's data centre, e.g.
            ``https://accounts.zoho.eu``.
        client_id: ``ZOHO_CLIENT_ID``.
        client_secret: ``ZOHO_CLIENT_SECRET``; sent only in form bodies, never logged.
        redirect_uri: exactly the URI registered with Zoho.
        scope: comma- or space-separated scopes, or a list of them.
        clock: wall time for ``expires_at``; the system clock by default.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        accounts_url: str,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        scope: str | Sequence[str],
        clock: Clock | None = None,
    ) -> None:
        self._http = http
        self.accounts_url = accounts_url.rstrip("/")
        self.client_id = client_id
        self._client_secret = client_secret
        self.redirect_uri = redirect_uri
        self.scope = _scope_text(scope)
        self._clock: Clock = clock or SystemClock()

    def __repr__(self) -> str:
        return f"ZohoOAuth(accounts_url={self.accounts_url!r}, client_id={self.client_id!r})"

    def authorization_url(self, state: str) -> str:
        """The consent URL; ``offline`` + ``consent`` so that Zoho issues a refresh token."""
        params = {
            "client_id": self.client_id,
            "response_type": "code",
            "redirect_uri": self.redirect_uri,
            "scope": self.scope,
            "access_type": "offline",
            "prompt": "consent",
            "state": state,
        }
        return f"{self.accounts_url}/oauth/v2/auth?{urlencode(params, safe=',')}"

    async def exchange_code(self, code: str, *, accounts_server: str | None = None) -> TokenSet:
        """Exchange an authorization code at the accounts server the callback named.

        Raises:
            HelpdeskAuthError: the code is expired or used, or the client is wrong.
            RateLimited: Zoho is throttling token requests.
            HelpdeskUnavailable: the accounts server could not be reached or failed.
        """
        server = (accounts_server or self.accounts_url).rstrip("/")
        form = {
            "grant_type": "authorization_code",
            "client_id": self.client_id,
            "client_secret": self._client_secret,
            "redirect_uri": self.redirect_uri,
            "code": code,
        }
        body = await self._token_post(server, form, grant="authorization_code")
        if not body.refresh_token:
            raise HelpdeskAuthError(
                "Zoho issued no refresh token for this code (the consent was not 'offline'): "
                "run `ticketing auth setup` again, which asks for offline access",
                code="no_refresh_token",
            )
        return self._token_set(body, refresh_token=body.refresh_token, accounts_url=server)

    async def refresh(self, refresh_token: str, *, accounts_server: str | None = None) -> TokenSet:
        """A new access token for a refresh token (the refresh token itself stays the same).

        Raises:
            HelpdeskAuthError: the refresh token is revoked or wrong, or the client is wrong.
            RateLimited: too many refreshes (Zoho allows 10 per 10 minutes per refresh token).
            HelpdeskUnavailable: the accounts server could not be reached or failed.
        """
        server = (accounts_server or self.accounts_url).rstrip("/")
        form = {
            "grant_type": "refresh_token",
            "client_id": self.client_id,
            "client_secret": self._client_secret,
            "refresh_token": refresh_token,
        }
        body = await self._token_post(server, form, grant="refresh_token")
        return self._token_set(body, refresh_token=refresh_token, accounts_url=server)

    async def revoke(self, refresh_token: str, *, accounts_server: str | None = None) -> None:
        """Revoke a refresh token (and the access tokens made from it)."""
        server = (accounts_server or self.accounts_url).rstrip("/")
        try:
            response = await self._http.post(
                f"{server}/oauth/v2/token/revoke", params={"token": refresh_token}
            )
        except httpx.RequestError as exc:
            raise _unavailable(server, exc) from exc
        if response.status_code >= 500:
            raise HelpdeskUnavailable(
                f"Zoho accounts server {server} answered {response.status_code} to a revoke",
                status=response.status_code,
                sent=True,
            )
        body = _decode_token_body(response.content)
        if body is not None and body.error:
            raise self._token_error(body, server, grant="revoke", status=response.status_code)
        if response.status_code >= 400:
            raise HelpdeskAuthError(
                f"Zoho refused to revoke the token (HTTP {response.status_code})",
                status=response.status_code,
            )

    async def verify_client(self) -> None:
        """Check the client id and secret without spending a refresh: a refresh grant with a
        refresh token that cannot exist is answered ``invalid_code`` for a known client and
        ``invalid_client`` for a wrong id or secret (or a client of another data centre).

        Raises:
            HelpdeskAuthError: ``invalid_client``.
            HelpdeskUnavailable: the accounts server is unreachable or throttling.
        """
        try:
            await self.refresh(PROBE_REFRESH_TOKEN)
        except HelpdeskAuthError as exc:
            if exc.code == "invalid_client":
                raise
        # any other answer means the accounts server knows the client

    def data_centre(self, accounts_url: str) -> str | None:
        """The data centre of a Zoho accounts URL (``https://accounts.zoho.eu`` → ``eu``)."""
        return dc_for_accounts_url(accounts_url)

    def trusts(self, accounts_url: str) -> bool:
        """A Zoho accounts host, or the configured accounts URL (e.g. a local emulator): the
        only places the client secret is ever sent to."""
        url = accounts_url.strip().rstrip("/")
        return url == self.accounts_url or (
            url.startswith("https://") and self.data_centre(url) is not None
        )

    async def _token_post(self, server: str, form: dict[str, str], *, grant: str) -> TokenResponse:
        try:
            response = await self._http.post(f"{server}/oauth/v2/token", data=form)
        except httpx.RequestError as exc:
            raise _unavailable(server, exc) from exc
        body = _decode_token_body(response.content)
        # Zoho's status code is unreliable (errors come with 200 as well as 400): the body
        # decides, and a body with an access token is a success whatever the status.
        if body is not None and body.access_token:
            return body
        if body is not None and body.error:
            raise self._token_error(body, server, grant=grant, status=response.status_code)
        if response.status_code == 429:
            raise RateLimited(
                f"Zoho accounts server {server} is throttling token requests",
                status=429,
                retry_after=_retry_after(response) or THROTTLE_RETRY_AFTER,
            )
        raise HelpdeskUnavailable(
            f"Zoho accounts server {server} gave no token (HTTP {response.status_code})",
            status=response.status_code,
            sent=True,
        )

    def _token_error(
        self, body: TokenResponse, server: str, *, grant: str, status: int
    ) -> HelpdeskAuthError | HelpdeskUnavailable:
        error = (body.error or "").strip()
        text = f"{error} {body.error_description or ''}".lower()
        if "too many requests" in text or error.lower() == "access denied":
            return RateLimited(
                "Zoho is throttling token requests (at most 10 refreshes per 10 minutes per "
                "refresh token); try again later",
                status=status,
                code=error or None,
                retry_after=THROTTLE_RETRY_AFTER,
            )
        if error == "invalid_client":
            return HelpdeskAuthError(
                f"Zoho does not know this client at {server} (invalid_client): check "
                "ZOHO_CLIENT_ID and ZOHO_CLIENT_SECRET, and that ZOHO_DC (or ZOHO_ACCOUNTS_URL) "
                "is the data centre where the client was registered",
                status=status,
                code=error,
            )
        if error == "invalid_code":
            if grant == "authorization_code":
                message = (
                    "the authorization code is expired or already used (codes live about 2 "
                    "minutes and work once): run `ticketing auth setup` again"
                )
            else:
                message = (
                    "Zoho rejected the refresh token (invalid_code: revoked, wrong, or from "
                    f"another data centre): {SETUP_HINT}"
                )
            return HelpdeskAuthError(message, status=status, code=error)
        if status >= 500:
            return HelpdeskUnavailable(
                f"Zoho accounts server {server} failed ({error or status})",
                status=status,
                code=error or None,
                sent=True,
            )
        return HelpdeskAuthError(
            f"Zoho refused the {grant} request ({error or 'no error code'}): {SETUP_HINT}",
            status=status,
            code=error or None,
        )

    def _token_set(self, body: TokenResponse, *, refresh_token: str, accounts_url: str) -> TokenSet:
        lifetime = token_lifetime(body)
        return TokenSet(
            refresh_token=refresh_token,
            access_token=body.access_token,
            expires_at=self._clock.now() + timedelta(seconds=lifetime),
            lifetime=lifetime,
            accounts_url=accounts_url,
            api_domain=body.api_domain,
            scope=body.scope,
        )


def _decode_token_body(content: bytes) -> TokenResponse | None:
    if not content.strip():
        return None
    try:
        return msgspec.json.decode(content, type=TokenResponse)
    except msgspec.DecodeError:
        return None


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "").strip()
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _unavailable(server: str, exc: httpx.RequestError) -> HelpdeskUnavailable:
    never_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
    return HelpdeskUnavailable(
        f"cannot reach Zoho accounts server {server}: {type(exc).__name__}", sent=not never_sent
    )


# A context manager factory for a fleet-wide refresh lock (e.g. built on the ``Leases`` port).
FleetLock = Callable[[], AbstractAsyncContextManager[Any]]


def fingerprint(refresh_token: str) -> str:
    """A stable name for a refresh token that does not reveal it (budget keys, logs)."""
    return hashlib.sha256(refresh_token.encode()).hexdigest()[:16]


class TokenManager:
    """Hands out a valid access token, refreshing it at most once at a time, fleet-wide.

    The access token is cached (in memory and in the store) and refreshed ``refresh_margin``
    seconds before it expires (a quarter of its lifetime when that is less, see
    :meth:`margin_for`), never per request: Zoho allows only 10 refreshes per refresh token
    in 10 minutes. Concurrent callers wait on one lock and re-check after acquiring it,
    so however many coroutines find the token expired, one refresh happens.

    Across processes (a fleet sharing the Redis token store) the same holds through
    ``fleet_lock``: under it the store is re-read first, so a process that waited for another
    one's refresh reuses that token instead of refreshing again; and ``budget`` counts what
    Zoho counts for the fleet (tokens issued, and Zoho's refusals as too many), so that it
    stops (with a message saying until when and why) before Zoho's limit rather than being
    locked out for the rest of the window. A failure that issued nothing (unreachable, 5xx,
    invalid_client) is not counted: the next try is backed off instead (``backoff_first``
    doubling up to ``backoff_cap``, jittered), fleet-wide. None of it is kept in memory.

    After a 401, :meth:`invalidate` refreshes only if the rejected token is still the current
    one, in this process and in the shared store.

    Where the refresh token comes from, on first use:

    1. ``refresh_token`` (``ZOHO_REFRESH_TOKEN``), when set and different from the stored one:
       a token given in the environment is taken as the operator's newest word and replaces
       the stored one (and its access token). Consequence: after ``ticketing auth setup``,
       unset ``ZOHO_REFRESH_TOKEN`` or the old one keeps winning at every start.
    2. otherwise the store's refresh token;
    3. otherwise ``authorization_code`` (``ZOHO_AUTHORIZATION_CODE``) is exchanged, once;
    4. otherwise :class:`HelpdeskAuthError` tells the operator what to do.

    Later, the store is the truth: a refresh token in the store that differs from the one in
    memory (``auth setup`` ran somewhere) is taken over at the next refresh or 401.

    Args:
        oauth: the token endpoint.
        store: where tokens persist between runs (file, or Redis for a fleet).
        clock: wall time, to compare with ``expires_at``.
        refresh_margin: seconds before expiry at which the token is refreshed, at most; a
            quarter of the token's lifetime when that is less.
        refresh_token: ``ZOHO_REFRESH_TOKEN``, if set.
        authorization_code: ``ZOHO_AUTHORIZATION_CODE``, if set.
        fleet_lock: a factory of async context managers held around every refresh (a lease
            on Redis for a fleet, a lock file for a token file); None means this process's
            lock only. Under it the store is re-read first.
        budget: the refresh budget (fleet-wide on Redis); None means this process's own,
            at Zoho's limit of 10.
        backoff_first, backoff_cap: the back-off from a failing accounts server, in seconds:
            the first delay, doubled per failure in a row up to the cap, then jittered.
    """

    def __init__(
        self,
        oauth: ZohoOAuth,
        store: TokenStore,
        clock: Clock,
        *,
        refresh_margin: float = 300,
        refresh_token: str | None = None,
        authorization_code: str | None = None,
        fleet_lock: FleetLock | None = None,
        budget: RefreshBudget | None = None,
        backoff_first: float = BACKOFF_FIRST,
        backoff_cap: float = BACKOFF_CAP,
    ) -> None:
        self._oauth = oauth
        self._store = store
        self._clock = clock
        self._margin = timedelta(seconds=refresh_margin)
        self._env_refresh_token = refresh_token or None
        self._authorization_code = authorization_code or None
        self._fleet_lock = fleet_lock
        # Without a shared budget, this process's own: Zoho's limit holds all the same.
        self._budget: RefreshBudget = budget or InMemoryRefreshBudget(clock, limit=10)
        self._backoff_first = backoff_first
        self._backoff_cap = backoff_cap
        self._lock = anyio.Lock()
        self._tokens: TokenSet | None = None
        # A refresh token Zoho refused (revoked or wrong), and what it said: never sent again.
        self._rejected: tuple[str, str] | None = None
        # The refresh token of the last refresh Zoho refused for good (revoked, wrong, or a
        # client it does not know), and what it said: an operator must act (``report``).
        self._needs_operator: tuple[str, str] | None = None
        self.refreshes = 0

    def __repr__(self) -> str:
        expires = (
            self._tokens.expires_at.isoformat()
            if self._tokens and self._tokens.expires_at
            else None
        )
        loaded = self._tokens is not None
        return f"TokenManager(loaded={loaded}, expires_at={expires}, refreshes={self.refreshes})"

    async def access_token(self) -> str:
        """A valid access token, refreshed first when it expires within the margin.

        Raises:
            HelpdeskAuthError: no refresh token and no code, or Zoho refused them.
            RateLimited: refreshes are paused (``RefreshPaused``: the budget is spent) or
                Zoho throttles; ``retry_after`` says when to try again.
            HelpdeskUnavailable: the accounts server (or the shared token store:
                ``TokenStoreUnavailable``) is unreachable.
        """
        current = self._usable(self._tokens)
        if current is not None:
            return current
        async with self._lock:
            # Another coroutine may have refreshed while this one waited: reuse its token.
            tokens = await self._ensure_loaded()
            current = self._usable(tokens)
            if current is not None:
                return current
            return await self._refresh_locked(stale=tokens.access_token)

    async def invalidate(self, rejected: str) -> None:
        """Zoho answered 401 INVALID_OAUTH to ``rejected``: refresh, unless that is done already.

        Only the first of many concurrent 401s for the same token refreshes; the others find
        a different current token and return at once. The first one re-reads the shared store
        before refreshing: another process may have replaced the token already.
        """
        async with self._lock:
            if self._tokens is None or self._tokens.access_token != rejected:
                return
            await self._refresh_locked(stale=rejected)

    async def adopt(self, tokens: TokenSet) -> None:
        """Tokens from a fresh authorization (``auth setup``): stored, and used from now on.

        Raises:
            ConfigurationError: the token file cannot be written.
            StoreUnavailable: the Redis token store cannot be reached.
        """
        async with self._lock:
            await self._store.save(tokens)
            self._tokens = tokens
            self._rejected = None
            self._needs_operator = None
            self._authorization_code = None

    async def report(self) -> TokenStatus:
        """Non-secret facts about the stored tokens and the refresh budget.

        Raises:
            HelpdeskAuthError: the store holds something that is not a token set.
            TokenStoreUnavailable: the shared store cannot be reached.
        """
        stored = await self._load()
        tokens = stored if stored is not None else self._tokens
        refresh_token = (tokens.refresh_token if tokens else None) or self._env_refresh_token
        accounts_url = (tokens.accounts_url if tokens else None) or self._oauth.accounts_url
        budget: RefreshAllowance | None = None
        if refresh_token:
            budget = await self._guard_store(self._budget.peek(fingerprint(refresh_token)))
        return TokenStatus(
            store=self.store_description,
            authorized=bool(refresh_token),
            access_token_expires_at=(tokens.expires_at if tokens and tokens.access_token else None),
            accounts_url=accounts_url,
            data_centre=dc_for_accounts_url(accounts_url),
            scope=tokens.scope if tokens else None,
            refresh_token_from_env=self._env_refresh_token is not None,
            authorization_code_pending=self._authorization_code is not None,
            refreshes=self.refreshes,
            budget=budget,
            budget_shared=not isinstance(self._budget, InMemoryRefreshBudget),
            needs_operator=self._refused(refresh_token),
        )

    def _refused(self, refresh_token: str | None) -> str | None:
        """What Zoho said when it last refused this refresh token (or the client) for good;
        None when it did not, or the refresh token has changed since."""
        if self._needs_operator is None or self._needs_operator[0] != refresh_token:
            return None
        return self._needs_operator[1]

    async def _forget_access_token(self, tokens: TokenSet) -> None:
        """Zoho refused the refresh token, so the access tokens made from it are refused
        too: drop the cached one here and in the store, so that every process (and
        ``auth status``) asks Zoho and hears the refusal instead of trusting it until it
        expires."""
        if tokens.access_token is None:
            return
        self._tokens = replace(tokens, access_token=None, expires_at=None, lifetime=None)
        await self._save(self._tokens)

    @property
    def store_description(self) -> str:
        describe = getattr(self._store, "describe", None)
        return str(describe()) if callable(describe) else repr(self._store)

    async def status(self) -> dict[str, Any]:
        """Non-secret facts about the tokens, for ``auth status``, ``doctor`` and health."""
        tokens = self._tokens
        source = "memory"
        if tokens is None:
            tokens = await self._store.load()
            source = "store"
        now = self._clock.now()
        expires_at = tokens.expires_at if tokens else None
        return {
            "has_refresh_token": bool(tokens and tokens.refresh_token),
            "has_access_token": bool(tokens and tokens.access_token),
            "expires_at": expires_at.isoformat() if expires_at else None,
            "expires_in": round((expires_at - now).total_seconds()) if expires_at else None,
            "accounts_url": (tokens.accounts_url if tokens else None) or self._oauth.accounts_url,
            "api_domain": tokens.api_domain if tokens else None,
            "scope": tokens.scope if tokens else None,
            "source": source if tokens else None,
            "env_refresh_token_set": self._env_refresh_token is not None,
            "authorization_code_pending": self._authorization_code is not None,
            "refreshes": self.refreshes,
        }

    def _usable(self, tokens: TokenSet | None) -> str | None:
        if tokens is None or not tokens.access_token or tokens.expires_at is None:
            return None
        if tokens.expires_at - self._clock.now() <= self.margin_for(tokens.lifetime):
            return None
        return tokens.access_token

    def margin_for(self, lifetime: float | None) -> timedelta:
        """How long before expiry a token is refreshed: ``refresh_margin`` (300 s), but at
        most a quarter of the token's lifetime. A fixed 300 s would refresh a token that
        lives 20 s on every call; a quarter still leaves time for a slow refresh while each
        token serves three quarters of its life."""
        if lifetime is None or lifetime <= 0:
            return self._margin
        return min(self._margin, timedelta(seconds=lifetime * MARGIN_FRACTION))

    async def _ensure_loaded(self) -> TokenSet:
        if self._tokens is not None:
            return self._tokens
        stored = await self._load()
        env = self._env_refresh_token
        if env and (stored is None or stored.refresh_token != env):
            tokens = TokenSet(refresh_token=env, accounts_url=self._oauth.accounts_url)
            if stored is not None and stored.refresh_token:
                log.info("ZOHO_REFRESH_TOKEN differs from the stored refresh token; using it")
            await self._save(tokens)
        elif stored is not None and stored.refresh_token:
            tokens = stored
        elif self._authorization_code:
            tokens = await self._exchange_code(self._authorization_code)
        else:
            raise HelpdeskAuthError(f"no Zoho refresh token is stored: {SETUP_HINT}")
        self._tokens = tokens
        return tokens

    async def _exchange_code(self, code: str) -> TokenSet:
        try:
            tokens = await self._oauth.exchange_code(code)
        except HelpdeskAuthError:
            # A refused code never works again: do not spend a token request on it twice.
            self._authorization_code = None
            raise
        self._authorization_code = None
        await self._save(tokens)
        log.info("exchanged ZOHO_AUTHORIZATION_CODE for tokens at %s", tokens.accounts_url)
        return tokens

    async def _refresh_locked(self, *, stale: str | None) -> str:
        lock = self._fleet_lock() if self._fleet_lock is not None else nullcontext()
        try:
            async with lock:
                # The store first: another process may have refreshed (or re-authorized)
                # while this one waited for the lock.
                shared = await self._reuse_shared(stale)
                if shared is not None:
                    return shared
                return await self._refresh_now()
        except StoreUnavailable as exc:
            if isinstance(exc, TokenStoreUnavailable):
                raise
            raise TokenStoreUnavailable(
                f"the shared Zoho token store is unavailable, so no Zoho call was made: "
                f"{exc.message}"
            ) from exc

    async def _refresh_now(self) -> str:
        tokens = self._tokens
        if tokens is None or not tokens.refresh_token:
            raise HelpdeskAuthError(f"no Zoho refresh token: {SETUP_HINT}")
        if self._rejected is not None and self._rejected[0] == tokens.refresh_token:
            raise HelpdeskAuthError(self._rejected[1], code="invalid_code")
        subject = fingerprint(tokens.refresh_token)
        # Asked every time, never copied into memory: a pause ends for every process as soon
        # as its reason does (the window slides on, Zoho's pause passes, `auth resume`).
        allowance = await self._guard_store(self._budget.peek(subject))
        if not allowance.granted:
            raise self._paused(allowance)
        try:
            fresh = await self._oauth.refresh(
                tokens.refresh_token, accounts_server=tokens.accounts_url
            )
        except RateLimited as exc:
            # Zoho itself said "too many": that counts, and every instance holds back.
            wait = exc.retry_after or THROTTLE_RETRY_AFTER
            until = self._clock.now() + timedelta(seconds=wait)
            await self._guard_store(self._budget.throttled(subject, until))
            raise RefreshPaused(
                exc.message, status=exc.status, code=exc.code, retry_after=wait
            ) from exc
        except HelpdeskUnavailable as exc:
            # Unreachable, timed out or 5xx: nothing was issued, so nothing is counted; the
            # next try waits a jittered, growing delay instead of spending the budget.
            allowance = await self._guard_store(
                self._budget.failed(subject, first=self._backoff_first, cap=self._backoff_cap)
            )
            raise AccountsUnavailable(
                f"{exc.message}; {self._next_try(allowance)}",
                status=exc.status,
                code=exc.code,
                retry_after=self._wait(allowance),
            ) from exc
        except HelpdeskAuthError as exc:
            self._needs_operator = (tokens.refresh_token, exc.message)
            if exc.code == "invalid_code":
                self._rejected = (tokens.refresh_token, exc.message)
                await self._forget_access_token(tokens)
            else:
                # invalid_client and the like issue nothing either; an operator must act, and
                # until then the accounts server is not asked on every call.
                await self._guard_store(
                    self._budget.failed(subject, first=self._backoff_first, cap=self._backoff_cap)
                )
            raise
        self.refreshes += 1
        self._needs_operator = None
        merged = replace(
            tokens,
            access_token=fresh.access_token,
            expires_at=fresh.expires_at,
            lifetime=fresh.lifetime,
            api_domain=fresh.api_domain or tokens.api_domain,
            scope=fresh.scope or tokens.scope,
        )
        self._tokens = merged
        # Saved with the access token so that a restart reuses it instead of spending
        # one of the 10 refreshes Zoho allows per 10 minutes.
        await self._save(merged)
        try:
            await self._budget.record(subject)
        except StoreUnavailable as exc:
            # The token is good and kept: losing it over the count would cost another grant.
            log.error("could not count a Zoho token refresh: %s", exc.message)
        assert merged.access_token is not None
        return merged.access_token

    async def resume(self) -> RefreshAllowance | None:
        """Lift every pause on refreshing (``ticketing auth resume``): the budget's count,
        Zoho's pause and the back-off, for every process sharing the budget. Returns where
        the budget stood before; None when there is no refresh token to speak of.

        Raises:
            HelpdeskAuthError: the store holds something that is not a token set.
            TokenStoreUnavailable: the shared store cannot be reached.
        """
        stored = await self._load()
        tokens = stored if stored is not None else self._tokens
        refresh_token = (tokens.refresh_token if tokens else None) or self._env_refresh_token
        if not refresh_token:
            return None
        return await self._guard_store(self._budget.resume(fingerprint(refresh_token)))

    def _wait(self, allowance: RefreshAllowance) -> float:
        until = allowance.paused_until or self._clock.now()
        return max(0.1, (until - self._clock.now()).total_seconds())

    def _next_try(self, allowance: RefreshAllowance) -> str:
        if allowance.granted:
            return "the next call tries again"
        if allowance.backing_off:
            return f"next token refresh in {self._wait(allowance):.1f}s (back-off)"
        return allowance.describe()

    def _paused(self, allowance: RefreshAllowance) -> RefreshPaused:
        message = allowance.describe()
        code = "refresh_backoff" if allowance.backing_off else "refresh_budget"
        # Said once per pause by the guard around Zoho (its start and its end), not per call.
        log.debug("%s", message)
        return RefreshPaused(message, code=code, retry_after=self._wait(allowance))

    async def _load(self) -> TokenSet | None:
        try:
            return await self._guard_store(self._store.load())
        except ConfigurationError as exc:
            # Callers of the Helpdesk port expect HelpdeskError only; this one needs an operator.
            raise HelpdeskAuthError(exc.message) from exc

    async def _save(self, tokens: TokenSet) -> None:
        try:
            await self._store.save(tokens)
        except (ConfigurationError, StoreUnavailable) as exc:
            # The tokens in memory still work: keep serving, but say loudly that a restart
            # (or another instance) will not find them.
            log.error("could not store the Zoho tokens: %s", exc.message)

    async def _guard_store(self, call: Awaitable[T]) -> T:
        try:
            return await call
        except StoreUnavailable as exc:
            if isinstance(exc, TokenStoreUnavailable):
                raise
            raise TokenStoreUnavailable(
                f"the shared Zoho token store is unavailable: {exc.message}"
            ) from exc

    async def _reuse_shared(self, stale: str | None) -> str | None:
        stored = await self._load()
        if stored is None or not stored.refresh_token:
            return None
        if self._tokens is None or stored.refresh_token != self._tokens.refresh_token:
            # Re-authorized elsewhere (``auth setup``): the store is the fleet's truth.
            log.info("the stored Zoho refresh token changed; using the stored tokens")
            self._tokens = stored
        current = self._usable(stored)
        if current is None or current == stale:
            return None
        self._tokens = stored
        return current
