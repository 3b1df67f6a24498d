"""OAuth use cases: the first-time authorization, the token's status, and who the token is."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import anyio

from ticketing.domain.errors import ConfigurationError, HelpdeskAuthError, TicketingError
from ticketing.domain.model import Agent, Organization, default_organization
from ticketing.domain.ports import (
    AuthorizationServer,
    Browser,
    CallbackServer,
    Credentials,
    Helpdesk,
    RefreshAllowance,
    TokenSet,
    TokenStatus,
)

log = logging.getLogger(__name__)

AGAIN = "run `ticketing auth setup` again"


@dataclass(frozen=True, slots=True)
class ZohoConfig:
    """What the settings say about Zoho and the stores (no secrets), for the admin use cases."""

    mode: str  # "sandbox" or "zoho"
    environment: str
    data_centre: str  # ZOHO_DC
    accounts_url: str
    desk_url: str
    explicit_urls: bool  # ZOHO_ACCOUNTS_URL / ZOHO_DESK_URL set
    redirect_uri: str
    scope: str
    client_id: str
    org_id: str | None = None
    department_id: str | None = None
    redis: str | None = None  # where REDIS_URL points (no password), None when unset
    token_store: str = "file"  # noqa: S105 - a kind: file | redis | memory
    token_file_exposed: bool = False
    refresh_token_in_env: bool = False

    @property
    def sandbox(self) -> bool:
        return self.mode == "sandbox"


@dataclass(frozen=True, slots=True)
class Identity:
    """Who the token is: the agent, the organizations it sees, the one in use."""

    agent: Agent
    organizations: tuple[Organization, ...]
    org_id: str | None


class Whoami:
    """The agent behind the token and the organization ids (the old ``get_my_id.py``)."""

    def __init__(self, helpdesk: Helpdesk, *, org_id: str | None = None) -> None:
        self._helpdesk = helpdesk
        self._org_id = org_id

    async def __call__(self) -> Identity:
        """Raises ``HelpdeskError`` when Zoho cannot answer or refuses the token."""
        organizations = tuple(await self._helpdesk.list_organizations())
        agent = await self._helpdesk.whoami()
        chosen = self._org_id
        if chosen is None:
            default = default_organization(organizations)
            chosen = default.id if default else None
        return Identity(agent=agent, organizations=organizations, org_id=chosen)


@dataclass(frozen=True, slots=True)
class AuthReport:
    """``auth status``: the token's facts next to what the settings expect."""

    token: TokenStatus
    config: ZohoConfig

    @property
    def data_centre_mismatch(self) -> str | None:
        """A sentence when the tokens come from another data centre than the one configured."""
        token_dc = self.token.data_centre
        if self.config.explicit_urls or not token_dc or token_dc == self.config.data_centre:
            return None
        return (
            f"the tokens come from data centre {token_dc} but ZOHO_DC={self.config.data_centre}: "
            f"set ZOHO_DC={token_dc}"
        )


class AuthStatus:
    """Where the tokens are, when the access token expires, the data centre and the refresh
    budget, and whether they need an operator; never a secret.

    Without an access token (none fetched yet, or dropped because Zoho refused the refresh
    token it came from) one is asked for, as the next Zoho call would: a refresh token Zoho
    has revoked shows as needing an operator here, not as "authorized"."""

    def __init__(self, credentials: Credentials, config: ZohoConfig) -> None:
        self._credentials = credentials
        self._config = config

    async def __call__(self) -> AuthReport:
        token = await self._credentials.report()
        if token.authorized and token.needs_operator is None and not token.access_token_expires_at:
            try:
                await self._credentials.access_token()
            except HelpdeskAuthError:
                pass  # the token manager keeps what Zoho said: the report below shows it
            except TicketingError as exc:  # unreachable or paused: the budget line says so
                log.info("auth status: could not check the tokens with Zoho: %s", exc.message)
            token = await self._credentials.report()
        return AuthReport(token=token, config=self._config)


@dataclass(frozen=True, slots=True)
class ResumeOutcome:
    """What ``auth resume`` did: where the refresh budget stood before it was lifted."""

    before: RefreshAllowance
    store: str

    @property
    def lifted(self) -> bool:
        """Something held refreshes back (or was counted) and is gone now."""
        return not self.before.granted or bool(self.before.failures)

    def describe(self) -> str:
        """One line for the operator."""
        if not self.lifted:
            return (
                f"nothing to lift: token refreshes were not paused ({self.before.describe()}); "
                "the count was cleared"
            )
        return (
            f"lifted the token refresh pause for every instance sharing {self.store} (it was: "
            f"{self.before.describe()}); the next Zoho call refreshes. Zoho itself still "
            "blocks a refresh token after 10 refreshes in 10 minutes"
        )


class ResumeRefreshes:
    """Lift a refresh pause by hand, for the whole fleet (``ticketing auth resume``)."""

    def __init__(self, credentials: Credentials) -> None:
        self._credentials = credentials

    async def __call__(self) -> ResumeOutcome:
        """Raises:
        ConfigurationError: the budget is kept in each process (no shared store to lift).
        HelpdeskAuthError: there is no refresh token, so nothing is paused.
        StoreUnavailable: the shared store cannot be reached.
        """
        status = await self._credentials.report()
        if not status.budget_shared:
            raise ConfigurationError(
                f"token refreshes are counted in each process here (tokens in {status.store}): "
                "restart the service to lift its pause, or share tokens in Redis (REDIS_URL)"
            )
        before = await self._credentials.resume()
        if before is None:
            raise HelpdeskAuthError(
                f"no Zoho refresh token in {status.store}, so nothing is paused: "
                "run `ticketing auth setup`"
            )
        log.warning("token refresh pause lifted by hand: %s", before.describe())
        return ResumeOutcome(before=before, store=status.store)


@dataclass(frozen=True, slots=True)
class SetupOutcome:
    """What ``auth setup`` achieved."""

    identity: Identity
    accounts_server: str
    data_centre: str | None
    store: str
    browser_opened: bool
    notes: tuple[str, ...] = ()


class SetupAuthorization:
    """The one-time OAuth consent, end to end.

    Listen on the redirect URI, build the consent URL (offline access, forced consent, a
    random ``state``), show it (and open a browser where there is one), wait for the
    redirect, refuse it unless its ``state`` is this run's, exchange the code at the accounts
    server the redirect names (only a Zoho host or the configured one: the client secret goes
    there), store the tokens, and confirm with ``whoami``. Every failure is one
    ``TicketingError`` whose message says what to do; the browser's page says the same.

    Args:
        server: the authorization server (Zoho Accounts).
        callbacks: the loopback server on ``ZOHO_REDIRECT_URI``.
        browser: opens the consent URL where possible.
        credentials: takes the new tokens (stores them, uses them from now on).
        whoami: the confirmation.
        config: the settings' view of Zoho.
    """

    def __init__(
        self,
        server: AuthorizationServer,
        callbacks: CallbackServer,
        browser: Browser,
        credentials: Credentials,
        whoami: Whoami,
        config: ZohoConfig,
    ) -> None:
        self._server = server
        self._callbacks = callbacks
        self._browser = browser
        self._credentials = credentials
        self._whoami = whoami
        self._config = config

    async def __call__(
        self,
        *,
        wait: float = 300.0,
        on_url: Callable[[str], None] = lambda url: None,
        on_browser: Callable[[bool], None] = lambda opened: None,
    ) -> SetupOutcome:
        """Run the flow; ``on_url`` gets the consent URL before the browser is tried,
        ``on_browser`` whether one opened.

        Raises:
            ConfigurationError: sandbox mode, a redirect URI that is not loopback http or a
                busy port; or the tokens are stored but ZOHO_DC names another data centre.
            HelpdeskAuthError: state mismatch, denied consent, expired code, wrong client,
                wrong data centre, or nobody completed the consent in ``wait`` seconds.
            HelpdeskUnavailable: the accounts server could not be reached.
        """
        if self._config.sandbox:
            raise ConfigurationError(
                "ZOHO_CLIENT_ID: `ticketing auth setup` authorizes a real Zoho client, and sandbox "
                "mode has none: set ZOHO_CLIENT_ID and ZOHO_CLIENT_SECRET (for a standalone "
                "emulator, its sandbox client and ZOHO_ACCOUNTS_URL/ZOHO_DESK_URL)"
            )
        state = secrets.token_urlsafe(32)
        async with self._callbacks.listen() as inbox:
            url = self._server.authorization_url(state)
            on_url(url)
            opened = self._browser.open(url)
            on_browser(opened)
            with anyio.move_on_after(wait) as waiting:
                params = await inbox.receive()
            if waiting.cancelled_caught:
                raise HelpdeskAuthError(
                    f"nobody completed the authorization within {wait:g}s: {AGAIN} and open "
                    "the URL it prints (if Zoho showed an error page instead of redirecting, "
                    "check ZOHO_CLIENT_ID and that ZOHO_REDIRECT_URI is exactly the redirect URI "
                    "registered for the client)",
                    code="timeout",
                )
            try:
                tokens, accounts_server, dc = await self._accept(params, state)
            except TicketingError as exc:
                await inbox.reply(False, exc.message)
                raise
            await self._credentials.adopt(tokens)
            mismatch = self._mismatch(accounts_server, dc)
            await inbox.reply(
                True,
                "The tokens are stored. "
                + (mismatch or "Return to the terminal for the confirmation."),
            )
        if mismatch is not None:
            raise ConfigurationError(mismatch)
        identity = await self._whoami()
        notes: list[str] = []
        if self._config.refresh_token_in_env:
            notes.append(
                "ZOHO_REFRESH_TOKEN is set: a refresh token given there replaces these tokens at "
                "the next start; remove it from the environment and .env"
            )
        status = await self._credentials.report()
        return SetupOutcome(
            identity=identity,
            accounts_server=accounts_server,
            data_centre=dc,
            store=status.store,
            browser_opened=opened,
            notes=tuple(notes),
        )

    async def _accept(
        self, params: Mapping[str, str], state: str
    ) -> tuple[TokenSet, str, str | None]:
        if not secrets.compare_digest(params.get("state", "").encode(), state.encode()):
            raise HelpdeskAuthError(
                "the callback's state does not match this run's, so its code was not used (a "
                f"page from an earlier `ticketing auth setup`, or a forged request): {AGAIN} and "
                "approve in the page it opens",
                code="state_mismatch",
            )
        error = params.get("error")
        if error:
            if error == "access_denied":
                raise HelpdeskAuthError(
                    "the consent was denied in Zoho's page (error=access_denied): "
                    f"{AGAIN} and click Accept, signed in as the Zoho Desk agent the service "
                    "should act as",
                    code=error,
                )
            raise HelpdeskAuthError(
                f"Zoho's consent page answered error={error}: {AGAIN}; if it repeats, check "
                "the client and ZOHO_SCOPE in the Zoho API console",
                code=error,
            )
        code = params.get("code")
        if not code:
            raise HelpdeskAuthError(
                f"the callback carried no authorization code: {AGAIN}", code="no_code"
            )
        accounts_server = (params.get("accounts-server") or self._server.accounts_url).rstrip("/")
        if not self._server.trusts(accounts_server):
            raise HelpdeskAuthError(
                f"the callback names accounts server {accounts_server}, which is neither a Zoho "
                "accounts host nor ZOHO_ACCOUNTS_URL, so the client secret was not sent there: "
                f"{AGAIN}",
                code="untrusted_accounts_server",
            )
        dc = self._server.data_centre(accounts_server) or params.get("location") or None
        try:
            tokens = await self._server.exchange_code(code, accounts_server=accounts_server)
        except HelpdeskAuthError as exc:
            raise self._explain(exc, accounts_server, dc) from exc
        return tokens, accounts_server, dc

    def _explain(
        self, exc: HelpdeskAuthError, accounts_server: str, dc: str | None
    ) -> HelpdeskAuthError:
        console = accounts_server.replace("://accounts.", "://api-console.", 1)
        if exc.code == "invalid_code":
            return HelpdeskAuthError(
                "the authorization code expired or was already used (codes live about 2 minutes "
                f"and work once): {AGAIN} and approve within 2 minutes",
                code=exc.code,
            )
        if exc.code == "invalid_client":
            configured = self._server.data_centre(self._server.accounts_url)
            if dc and configured and dc != configured:
                return HelpdeskAuthError(
                    f"your Zoho account is in data centre {dc} ({accounts_server}), which does "
                    f"not know this client (invalid_client), and ZOHO_DC={self._config.data_centre}"
                    f": set ZOHO_DC={dc}, create the client in {console} if it is not there, and "
                    f"{AGAIN}",
                    code=exc.code,
                )
            return HelpdeskAuthError(
                f"Zoho ({accounts_server}) does not accept this client id and secret "
                "(invalid_client): copy ZOHO_CLIENT_ID and ZOHO_CLIENT_SECRET again from "
                f"{console} and {AGAIN}",
                code=exc.code,
            )
        return exc

    def _mismatch(self, accounts_server: str, dc: str | None) -> str | None:
        configured = self._server.data_centre(self._server.accounts_url)
        callback_dc = self._server.data_centre(accounts_server)
        if callback_dc is None or configured is None or callback_dc == configured:
            return None
        setting = (
            f"ZOHO_ACCOUNTS_URL={self._server.accounts_url}"
            if self._config.explicit_urls
            else f"ZOHO_DC={self._config.data_centre}"
        )
        fix = (
            f"set ZOHO_DC={dc} (and unset ZOHO_ACCOUNTS_URL/ZOHO_DESK_URL)"
            if self._config.explicit_urls
            else f"set ZOHO_DC={dc}"
        )
        return (
            f"authorized in Zoho data centre {dc} ({accounts_server}), but {setting} points "
            f"elsewhere, so Desk calls would fail: {fix} (the tokens are stored), then run "
            "`ticketing whoami`"
        )
