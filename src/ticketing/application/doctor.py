"""``doctor``: check configuration, data centre, token, scopes, org, department and Redis."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from ticketing.application.auth import ZohoConfig
from ticketing.application.sync.access import REAUTHORIZE, missing_sync_scopes
from ticketing.domain.errors import (
    HelpdeskAuthError,
    RateLimited,
    StoreUnavailable,
    TicketingError,
)
from ticketing.domain.model import (
    Department,
    Organization,
    default_department,
    default_organization,
)
from ticketing.domain.ports import (
    AuthorizationServer,
    Credentials,
    Helpdesk,
    QueueMonitor,
    QuotaMeter,
    RedisFacts,
    StoreFacts,
    TokenStatus,
)

OK: Final = "ok"
WARN: Final = "warn"
FAIL: Final = "fail"
SKIP: Final = "skip"

# What the service does in Zoho Desk, as (service, operation) pairs of Zoho's scope names;
# ``Desk.<service>.ALL`` covers every operation of a service.
NEEDED_SCOPES: Final = (
    ("tickets", "CREATE"),
    ("tickets", "READ"),
    ("contacts", "CREATE"),
    ("contacts", "READ"),
    ("basic", "READ"),
    ("search", "READ"),
)
PROBE_EMAIL: Final = "doctor.probe@example.invalid"
# The checks made of what the Redis server says (after the ``redis`` check).
REDIS_FACT_CHECKS: Final = ("topology", "persistence", "eviction", "processes")


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the doctor's report."""

    name: str
    status: str  # ok | warn | fail | skip
    detail: str
    fix: str | None = None
    error: TicketingError | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class DoctorReport:
    """Every check, in order, and what was read of the Redis server (None without it)."""

    checks: tuple[Check, ...]
    redis: StoreFacts | None = None

    @property
    def ok(self) -> bool:
        """No check failed (warnings allowed)."""
        return all(c.status != FAIL for c in self.checks)

    @property
    def first_failure(self) -> Check | None:
        return next((c for c in self.checks if c.status == FAIL), None)


def configuration_failed(error: TicketingError) -> DoctorReport:
    """The report when the settings themselves cannot be loaded: nothing else can run."""
    names = (
        "data centre",
        "token",
        "scopes",
        "organization",
        "department",
        "picklists",
        "credits",
        "redis",
        *REDIS_FACT_CHECKS,
    )
    return DoctorReport(
        (
            _failed("configuration", error),
            *(Check(name, SKIP, "needs a valid configuration") for name in names),
        )
    )


def missing_scopes(scope: str) -> list[str]:
    """The needed ``Desk.<service>.<OPERATION>`` scopes that ``scope`` does not grant."""
    granted = {s.strip().lower() for s in re.split(r"[,\s]+", scope) if s.strip()}
    missing = []
    for service, operation in NEEDED_SCOPES:
        names = {f"desk.{service}.all", f"desk.{service}.{operation.lower()}"}
        if not granted & names:
            missing.append(f"Desk.{service}.{operation}")
    return missing


class Doctor:
    """Runs every check; one failing check never stops the others that do not depend on it.

    Args:
        config: the settings' view of Zoho and the stores.
        credentials: the token source.
        server: the authorization server (for the client check and data centres).
        helpdesk: Zoho Desk.
        store: the ticket store (its ping is the Redis check).
        quota: what Zoho last said about the day's API credits.
        credits_pause: when the credits ran out and come back, while they are out.
        picklist_values: (field, value, where it comes from) for each picklist value the
            service sends: DEFAULT_CHANNEL, incidents' WhatsApp, the priority map's outputs.
        facts: what the Redis server says of itself and the fleet (None without Redis).
    """

    def __init__(
        self,
        config: ZohoConfig,
        credentials: Credentials,
        server: AuthorizationServer,
        helpdesk: Helpdesk,
        store: QueueMonitor,
        *,
        quota: QuotaMeter | None = None,
        credits_pause: Callable[[], tuple[datetime, datetime] | None] | None = None,
        picklist_values: Sequence[tuple[str, str, str]] = (),
        facts: RedisFacts | None = None,
    ) -> None:
        self._facts = facts
        self._quota = quota
        self._credits_pause = credits_pause
        self._picklist_values = tuple(picklist_values)
        self._config = config
        self._credentials = credentials
        self._server = server
        self._helpdesk = helpdesk
        self._store = store

    async def __call__(self) -> DoctorReport:
        configuration = self._configuration()
        status, unreadable = await self._token_status()
        data_centre = self._data_centre(status)
        token, have_token = (unreadable, False) if status is None else await self._token(status)
        assert token is not None
        # Organization first: the scope probe and the departments need a valid orgId.
        organization = await self._guard("organization", self._organizations, have_token)
        org_ok = organization.status in (OK, WARN)
        scopes = await self._scopes(status, have_token, org_ok)
        sync_scopes = self._sync_scopes(status)
        department = await self._guard("department", self._departments, have_token and org_ok)
        picklists = await self._picklists(have_token and org_ok)
        redis = await self._redis()
        checks = (
            configuration,
            data_centre,
            token,
            scopes,
            sync_scopes,
            organization,
            department,
            picklists,
            self._credits(),
            redis,
        )
        facts, fact_checks = await self._redis_facts(redis)
        return DoctorReport((*checks, *fact_checks), facts)

    # ------------------------------------------------------------------ checks

    def _configuration(self) -> Check:
        c = self._config
        if c.sandbox:
            return Check(
                "configuration",
                WARN,
                "sandbox mode: no ZOHO_CLIENT_ID/ZOHO_CLIENT_SECRET, the built-in Zoho Desk "
                "emulator answers",
                "set ZOHO_CLIENT_ID and ZOHO_CLIENT_SECRET to use a real Zoho Desk",
            )
        missing = missing_scopes(c.scope)
        if missing:
            return Check(
                "configuration",
                FAIL,
                f"ZOHO_SCOPE lacks {', '.join(missing)}",
                "add them to ZOHO_SCOPE (e.g. Desk.tickets.ALL,Desk.contacts.ALL,Desk.basic.ALL,"
                "Desk.search.READ) and run `ticketing auth setup` again",
            )
        return Check(
            "configuration",
            OK,
            f"ENVIRONMENT={c.environment}, client {c.client_id}, redirect URI {c.redirect_uri}",
        )

    async def _token_status(self) -> tuple[TokenStatus | None, Check | None]:
        try:
            return await self._credentials.report(), None
        except TicketingError as exc:
            return None, _failed("token", exc, "cannot read the tokens: ")

    def _data_centre(self, status: TokenStatus | None) -> Check:
        c = self._config
        hosts = f"accounts {c.accounts_url}, Desk {c.desk_url}"
        where = "ZOHO_ACCOUNTS_URL/ZOHO_DESK_URL" if c.explicit_urls else f"ZOHO_DC={c.data_centre}"
        configured = self._server.data_centre(c.accounts_url)
        token_dc = status.data_centre if status else None
        if token_dc and configured and token_dc != configured:
            return Check(
                "data centre",
                FAIL,
                f"{where} ({hosts}), but the tokens were issued by data centre {token_dc} "
                f"({status.accounts_url if status else ''})",
                f"set ZOHO_DC={token_dc}"
                + (" and unset ZOHO_ACCOUNTS_URL/ZOHO_DESK_URL" if c.explicit_urls else ""),
            )
        if c.explicit_urls and configured and configured != c.data_centre:
            return Check(
                "data centre",
                WARN,
                f"ZOHO_ACCOUNTS_URL is in data centre {configured} while ZOHO_DC={c.data_centre} "
                f"({hosts})",
                f"set ZOHO_DC={configured} so that both say the same",
            )
        return Check("data centre", OK, f"{where}: {hosts}")

    async def _token(self, status: TokenStatus) -> tuple[Check, bool]:
        """The token check, and whether Desk calls can be made with the token now."""
        if not status.authorized:
            return Check(
                "token",
                FAIL,
                f"no refresh token in {status.store}",
                "run `ticketing auth setup` (or set ZOHO_REFRESH_TOKEN)",
                HelpdeskAuthError(f"no refresh token in {status.store}"),
            ), False
        if status.needs_operator is not None:
            refused = HelpdeskAuthError(status.needs_operator)
            return _failed("token", refused, "needs an operator: "), False
        try:
            await self._credentials.access_token()
        except TicketingError as exc:
            return _failed("token", exc), False
        try:
            if not self._config.sandbox:
                # The access token may be good for an hour while the secret is wrong: the
                # next refresh would fail. This asks without spending a refresh.
                await self._server.verify_client()
            status = await self._credentials.report()
        except TicketingError as exc:
            return _failed("token", exc), True
        parts = [f"refresh token in {status.store}"]
        if status.access_token_expires_at is not None:
            when = status.access_token_expires_at.strftime("%Y-%m-%d %H:%M:%S UTC")
            parts.append(f"access token valid until {when}")
        if status.budget is not None:
            parts.append(status.budget.describe())
        detail = "; ".join(parts)
        if status.budget is not None and not status.budget.granted:
            return Check(
                "token",
                WARN,
                detail,
                "wait (calls continue with the current access token until it expires), or run "
                "`ticketing auth resume` to lift the pause for every instance",
            ), True
        if self._config.token_file_exposed:
            return Check(
                "token",
                FAIL if self._config.environment == "production" else WARN,
                f"{detail}; the token file is readable by other users",
                "chmod 600 the token file (ZOHO_TOKEN_FILE)",
            ), True
        return Check("token", OK, detail), True

    async def _scopes(self, status: TokenStatus | None, have_token: bool, org_ok: bool) -> Check:
        if not have_token:
            return Check("scopes", SKIP, "needs a working token")
        if not org_ok:
            return Check("scopes", SKIP, "needs a valid organization")
        granted = status.scope if status else None
        if granted:
            missing = missing_scopes(granted)
            if missing:
                return Check(
                    "scopes",
                    FAIL,
                    f"the token lacks {', '.join(missing)}",
                    "add them to ZOHO_SCOPE and run `ticketing auth setup` again",
                )
        try:
            # A search that matches nothing exercises Desk.contacts.READ and Desk.search.READ.
            await self._helpdesk.search_contacts(email=PROBE_EMAIL)
        except TicketingError as exc:
            return _failed("scopes", exc)
        source = f"granted {granted}" if granted else f"requested {self._config.scope}"
        return Check("scopes", OK, f"{source}; a contact search is allowed")

    def _sync_scopes(self, status: TokenStatus | None) -> Check:
        """The two-way sync's scopes (a warning: tickets are created without them)."""
        granted = status.scope if status else None
        scope = granted or self._config.scope
        source = "the token" if granted else "ZOHO_SCOPE"
        uses = {"webhook": "webhooks", "poll": "polling"}
        lacking = {mode: missing_sync_scopes(scope, mode) for mode in uses}
        missing = list(dict.fromkeys(s for names in lacking.values() for s in names))
        if not missing:
            return Check("sync scopes", OK, f"{source} allows webhooks and polling")
        blocked = " and ".join(uses[mode] for mode, names in lacking.items() if names)
        return Check(
            "sync scopes",
            WARN,
            f"{source} lacks {', '.join(missing)}: the two-way sync cannot use {blocked} "
            "(tickets are still created)",
            REAUTHORIZE,
        )

    async def _organizations(self) -> Check:
        organizations = await self._helpdesk.list_organizations()
        configured = self._config.org_id
        listing = _names(organizations)
        if configured:
            return _configured(
                "organization",
                "ZOHO_ORG_ID",
                configured,
                organizations,
                missing=f"is not an organization this token can see (it sees: {listing or 'none'})",
                refused="is not visible to the token",
            )
        default = default_organization(organizations)
        if default is None:
            return Check(
                "organization",
                FAIL,
                "the token sees no Zoho Desk organization",
                "check that ZOHO_DC is the account's data centre and that the agent has a portal",
                HelpdeskAuthError("the token sees no organization"),
            )
        return Check(
            "organization",
            OK,
            f"default organization {default.id} ({default.name}); all: {listing}",
        )

    async def _departments(self) -> Check:
        departments = [d for d in await self._helpdesk.list_departments() if d.is_enabled]
        configured = self._config.department_id
        listing = _names(departments)
        if configured:
            return _configured(
                "department",
                "ZOHO_DEPARTMENT_ID",
                configured,
                departments,
                missing="is not an enabled department of the organization "
                f"(enabled: {listing or 'none'})",
                refused="is not enabled",
            )
        if not departments:
            return Check(
                "department",
                FAIL,
                "the organization has no enabled department",
                "enable a department in Zoho Desk, or set ZOHO_DEPARTMENT_ID",
                HelpdeskAuthError("no enabled department"),
            )
        chosen = default_department(departments)
        assert chosen is not None  # the list holds enabled departments, and it is not empty
        return Check("department", OK, f"default department {chosen.id} ({chosen.name})")

    def _credits(self) -> Check:
        """When the day's API credits ran out and come back, or how many are left."""
        pause = self._credits_pause() if self._credits_pause is not None else None
        if pause is not None:
            ran_out, back = (f"{t:%Y-%m-%d %H:%M:%S} UTC" for t in pause)
            detail = f"Zoho said at {ran_out} that the day's API credits are spent; back at {back}"
            return Check(
                "credits",
                FAIL,
                detail,
                "wait: tickets are queued and created once credits are back (or raise the "
                "portal's daily credits: edition and agents)",
                RateLimited(detail, code="THRESHOLD_EXCEEDED"),
            )
        remaining = self._quota.credits_remaining if self._quota is not None else None
        if remaining is None:
            return Check("credits", SKIP, "Zoho Desk has not said yet (needs a Desk answer)")
        return Check("credits", OK, f"{remaining} API credits left today, per Zoho")

    async def _picklists(self, ready: bool) -> Check:
        """Which of the values the service sends the portal's picklists lack. Not a failure:
        such a value is dropped when Zoho refuses it (kept in the description), but every
        ticket then costs one more call and loses the field."""
        if not ready:
            return Check("picklists", SKIP, "needs the checks above")
        try:
            portal = await self._helpdesk.ticket_field_values()
        except TicketingError as exc:
            detail, fix = _split(exc.message)
            return Check("picklists", WARN, f"cannot read the ticket picklists: {detail}", fix)
        missing = [
            (name, value, source)
            for name, value, source in self._picklist_values
            if name in portal and value not in portal[name]
        ]
        if not missing:
            sent = sorted({name for name, _, _ in self._picklist_values if name in portal})
            return Check("picklists", OK, f"the portal has every value sent for {', '.join(sent)}")
        detail = "; ".join(
            f"{name} has no {value!r} ({source}; it has {', '.join(sorted(portal[name]))})"
            for name, value, source in missing
        )
        fields = ", ".join(sorted({name for name, _, _ in missing}))
        return Check(
            "picklists",
            WARN,
            f"{detail}. Such tickets are created without the value (kept in the description)",
            f"add the values in Zoho Desk (Setup > Layouts and Fields > Tickets > {fields}), "
            "or set DEFAULT_CHANNEL / DEFAULT_PRIORITY to values the portal has",
        )

    async def _redis(self) -> Check:
        where = self._config.redis
        if where is None:
            return Check(
                "redis",
                WARN,
                "REDIS_URL is unset: the queue, idempotency ledger and tokens live in one process "
                "and nothing survives a restart",
                "set REDIS_URL (required with ENVIRONMENT=production)",
            )
        try:
            answers = await self._store.ping()
        except TicketingError as exc:
            return Check("redis", FAIL, exc.message, "start Redis or fix REDIS_URL", exc)
        if not answers:
            return Check(
                "redis",
                FAIL,
                f"Redis at {where} does not answer",
                "start Redis or fix REDIS_URL",
                StoreUnavailable(f"Redis at {where} does not answer"),
            )
        return Check("redis", OK, f"Redis at {where} answers; tokens in {self._config.token_store}")

    async def _redis_facts(self, redis: Check) -> tuple[StoreFacts | None, tuple[Check, ...]]:
        """What the server says: persistence, eviction policy and the living processes."""
        if self._facts is None or redis.status != OK:
            reason = "needs Redis" if self._facts is None else "needs the redis check"
            return None, tuple(Check(n, SKIP, reason) for n in REDIS_FACT_CHECKS)
        try:
            facts = await self._facts.facts()
        except TicketingError as exc:
            return None, tuple(_failed(n, exc) for n in REDIS_FACT_CHECKS)
        return facts, (_topology(facts), _persistence(facts), _eviction(facts), _processes(facts))

    async def _guard(self, name: str, check: Callable[[], Awaitable[Check]], ready: bool) -> Check:
        if not ready:
            return Check(name, SKIP, "needs the checks above")
        try:
            return await check()
        except TicketingError as exc:
            return _failed(name, exc)


def _topology(facts: StoreFacts) -> Check:
    seen = f"{facts.mode}: {facts.topology}" if facts.topology else facts.mode
    if not facts.topology_problems:
        return Check("topology", OK, seen)
    return Check(
        "topology",
        WARN,
        f"{seen}; " + "; ".join(facts.topology_problems),
        "see the README's Durability section (replicas, sentinels, REDIS_WAIT_REPLICAS)",
    )


def _persistence(facts: StoreFacts) -> Check:
    server = f"Redis {facts.version} ({facts.mode})"
    detail = f"{server}: {facts.persistence_detail}"
    if facts.persistence == "aof":
        return Check("persistence", OK, detail)
    lost = {
        "rdb": "the tickets accepted since the last snapshot are lost if Redis restarts",
        "none": "every accepted ticket is lost if Redis restarts",
        "unknown": "cannot tell whether accepted tickets survive a restart",
    }[facts.persistence]
    return Check(
        "persistence",
        WARN,
        f"{detail}; {lost}",
        "set `appendonly yes` (and `appendfsync always` or `everysec`) in redis.conf",
    )


def _eviction(facts: StoreFacts) -> Check:
    policy = facts.eviction_policy
    if policy == "noeviction":
        return Check("eviction", OK, "maxmemory-policy noeviction: a full Redis refuses writes")
    seen = f"maxmemory-policy {policy}" if policy else "maxmemory-policy unknown"
    return Check(
        "eviction",
        WARN,
        f"{seen}: Redis may evict a ledger key when full, and a ticket is then created twice "
        "(exactly-once is lost)",
        "set `maxmemory-policy noeviction` in redis.conf",
    )


def _processes(facts: StoreFacts) -> Check:
    names = facts.processes
    if not names:
        return Check("processes", OK, "no other process of the fleet holds a heartbeat")
    return Check("processes", OK, f"{len(names)} alive besides this one: {', '.join(names)}")


def _names(items: Sequence[Organization | Department]) -> str:
    """``id (name, default), id (name)``: what a fix chooses from."""
    return ", ".join(f"{i.id} ({i.name}{', default' if i.is_default else ''})" for i in items)


def _failed(name: str, error: TicketingError, prefix: str = "") -> Check:
    """A failed check from one of our errors: its message split into what and what to do."""
    detail, fix = _split(error.message)
    if fix is None and isinstance(error, StoreUnavailable):
        fix = "start Redis or fix REDIS_URL"
    return Check(name, FAIL, prefix + detail, fix, error)


def _split(message: str) -> tuple[str, str | None]:
    """Our messages end with what to do, after "Fix: " or after ": run|set|check… "."""
    if ". Fix: " in message:
        detail, _, fix = message.partition(". Fix: ")
        return detail, fix
    for marker in (": run ", ": set ", ": check ", ": copy ", ": start ", ": fix "):
        if marker in message:
            detail, _, rest = message.rpartition(marker)
            return detail, marker[2:] + rest
    return message, None


def _configured(
    name: str,
    setting: str,
    configured: str,
    choices: Sequence[Organization] | Sequence[Department],
    *,
    missing: str,
    refused: str,
) -> Check:
    """The check of a configured id (``setting``) that must be one of ``choices``: OK naming
    it, or FAIL saying ``setting``=id ``missing``, with the fix and the error it stands for."""
    found = next((c for c in choices if c.id == configured), None)
    if found is None:
        return Check(
            name,
            FAIL,
            f"{setting}={configured} {missing}",
            f"set {setting} to one of those ids, or unset it for the default one",
            HelpdeskAuthError(f"{setting}={configured} {refused}"),
        )
    return Check(name, OK, f"{setting}={found.id} ({found.name})")
