"""The Zoho Desk emulator's state and rules, in plain Python with no HTTP in it."""

from __future__ import annotations

import random
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from operator import attrgetter
from typing import Any

from zoho_desk_emulator.clock import Clock, SystemClock
from zoho_desk_emulator.constraints import (
    CREATE_CONTACT,
    CREATE_TICKET,
    DEFAULT_PICKLISTS,
    Schema,
    picklist_value,
    validate,
)
from zoho_desk_emulator.faults import Faults, whole_number

SANDBOX_CLIENT_ID = "1000.fake-sandbox-client-id"
SANDBOX_CLIENT_SECRET = "sandbox-client-secret"  # noqa: S105 - a published fake, not a secret
SANDBOX_REFRESH_TOKEN = "1000.sandbox-refresh-token"  # noqa: S105 - a published fake
SANDBOX_REDIRECT_URI = "http://localhost:8888/callback"
SANDBOX_SCOPE = "Desk.tickets.ALL,Desk.contacts.ALL,Desk.basic.ALL,Desk.search.READ"
SANDBOX_ORG_ID = "900000001"
SECOND_ORG_ID = "900000002"
SANDBOX_DEPARTMENT_ID = "900000000000010001"
BILLING_DEPARTMENT_ID = "900000000000010002"
ARCHIVE_DEPARTMENT_ID = "900000000000010003"
SECOND_ORG_DEPARTMENT_ID = "900000000000020001"
SANDBOX_AGENT_ID = "900000000000000001"

API_DOMAIN = "https://www.zohoapis.com"
ACCESS_TOKEN_SECONDS = 3600
CODE_SECONDS = 120
REFRESH_WINDOW_SECONDS = 600
REFRESHES_PER_WINDOW = 10
LIVE_ACCESS_TOKENS = 15
REFRESH_TOKENS_PER_CLIENT = 20

PLAIN_WEIGHT = 1
SEARCH_WEIGHT = 3

STATUS_TYPES = {"Open": "Open", "On Hold": "On Hold", "Escalated": "Open", "Closed": "Closed"}
CONTACT_SORTS = ("relevance", "modifiedTime", "createdTime", "lastName", "firstName")
TICKET_SORTS = ("relevance", "modifiedTime", "createdTime", "ticketNumber", "dueDate")
# optional ticket fields kept as sent, in TicketRecord.extra
_TICKET_EXTRAS = (
    "category",
    "subCategory",
    "classification",
    "language",
    "dueDate",
    "productId",
    "assigneeId",
    "teamId",
)
INVALID_DATA_MESSAGE = "The data is invalid due to validation restrictions"
INVALID_OAUTH_MESSAGE = "The OAuth Token you provided is invalid."
THROTTLED = {
    "error": "Access Denied",
    "error_description": (
        "You have made too many requests continuously. Please try again after some time."
    ),
    "status": "failure",
}
_ID_BASE = 900000000000100000
_NUMERIC = re.compile(r"[0-9]+")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def _zoho_token() -> str:
    """A fresh code or token in Zoho's ``1000.<hex>.<hex>`` shape."""
    return f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}"


def zoho_time(moment: datetime) -> str:
    """Zoho's timestamp format: UTC with milliseconds and a Z."""
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


@dataclass(frozen=True, slots=True)
class FieldError:
    """One entry of a validation error's ``errors`` array."""

    field_name: str
    error_type: str  # invalid | duplicate | missing
    message: str

    def as_json(self) -> dict[str, str]:
        return {
            "fieldName": self.field_name,
            "errorType": self.error_type,
            "errorMessage": self.message,
        }


class DeskError(Exception):
    """A Desk API error answer: status, ``errorCode``, ``message`` and maybe ``errors``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        errors: Iterable[FieldError] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = list(errors)
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"errorCode": self.code, "message": self.message}
        if self.errors:
            body["errors"] = [e.as_json() for e in self.errors]
        return body


def invalid_data(*errors: FieldError) -> DeskError:
    return DeskError(422, "INVALID_DATA", INVALID_DATA_MESSAGE, errors)


class OAuthError(Exception):
    """An accounts-server error answer; ``body`` is what Zoho sends."""

    def __init__(self, error: str, body: Mapping[str, str] | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.body: dict[str, str] = dict(body) if body is not None else {"error": error}


@dataclass(slots=True)
class OrganizationRecord:
    id: str
    company_name: str
    portal_name: str
    is_default: bool
    edition: str

    def as_zoho(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "companyName": self.company_name,
            "portalName": self.portal_name,
            "portalURL": f"https://desk.zoho.com/support/{self.portal_name}",
            "isDefault": self.is_default,
            "edition": self.edition.upper(),
            "isAdminInOrg": True,
            "isSandboxPortal": True,
        }


@dataclass(slots=True)
class DepartmentRecord:
    id: str
    org_id: str
    name: str
    is_enabled: bool
    is_default: bool
    description: str
    created_time: datetime

    def as_zoho(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "isEnabled": self.is_enabled,
            "isDefault": self.is_default,
            "nameInCustomerPortal": self.name,
            "description": self.description,
            "createdTime": zoho_time(self.created_time),
            "creatorId": SANDBOX_AGENT_ID,
            "isVisibleInCustomerPortal": self.is_enabled,
            "isAssignToTeamEnabled": False,
            "hasLogo": False,
            "chatStatus": "NOT_CREATED",
            "sanitizedName": self.name.lower().replace(" ", "-"),
        }


@dataclass(slots=True)
class ContactRecord:
    id: str
    org_id: str
    last_name: str
    created_time: datetime
    first_name: str | None = None
    email: str | None = None
    secondary_email: str | None = None
    phone: str | None = None
    mobile: str | None = None
    account_id: str | None = None
    description: str | None = None
    language: str | None = None
    cf: dict[str, str | None] = field(default_factory=dict)

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p)

    def as_zoho(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "firstName": self.first_name,
            "lastName": self.last_name,
            "email": self.email,
            "secondaryEmail": self.secondary_email,
            "phone": self.phone,
            "mobile": self.mobile,
            "accountId": self.account_id,
            "description": self.description,
            "language": self.language,
            "ownerId": SANDBOX_AGENT_ID,
            "type": None,
            "isEndUser": False,
            "isSpam": False,
            "photoURL": None,
            "createdTime": zoho_time(self.created_time),
            "modifiedTime": zoho_time(self.created_time),
            "cf": dict(self.cf),
        }


@dataclass(slots=True)
class TicketRecord:
    id: str
    org_id: str
    ticket_number: str
    subject: str
    department_id: str
    contact_id: str
    created_time: datetime
    web_url: str
    description: str | None = None
    email: str | None = None
    phone: str | None = None
    status: str = "Open"
    priority: str | None = None
    channel: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    cf: dict[str, str | None] = field(default_factory=dict)

    def as_zoho(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "ticketNumber": self.ticket_number,
            "subject": self.subject,
            "description": self.description,
            "status": self.status,
            "statusType": STATUS_TYPES.get(self.status, "Open"),
            "priority": self.priority,
            "channel": self.channel,
            "departmentId": self.department_id,
            "contactId": self.contact_id,
            "email": self.email,
            "phone": self.phone,
            "assigneeId": None,
            "teamId": None,
            "threadCount": "1",
            "commentCount": "0",
            "attachmentCount": "0",
            "isSpam": False,
            "isArchived": False,
            "webUrl": self.web_url,
            "createdTime": zoho_time(self.created_time),
            "modifiedTime": zoho_time(self.created_time),
            "closedTime": None,
            "onholdTime": None,
            "cf": dict(self.cf),
        }
        for name in ("category", "subCategory", "classification", "language", "dueDate"):
            body[name] = self.extra.get(name)
        body.update({k: v for k, v in self.extra.items() if k not in body})
        return body


@dataclass(slots=True)
class LateCreate:
    """A create validated on arrival and committed at ``due`` (the ``create_late`` fault)."""

    due: datetime
    commit: Callable[[datetime], TicketRecord]
    ticket: TicketRecord | None = None


@dataclass(slots=True)
class OAuthClient:
    client_id: str
    client_secret: str
    redirect_uri: str

    def __repr__(self) -> str:
        return f"OAuthClient({self.client_id!r}, redirect_uri={self.redirect_uri!r})"


@dataclass(slots=True)
class IssuedCode:
    client_id: str
    redirect_uri: str
    scope: str
    offline: bool
    issued_at: datetime
    used: bool = False


@dataclass(slots=True)
class RefreshTokenRecord:
    token: str
    client_id: str
    scope: str
    issued_at: datetime
    # times of refresh grants, for the 10-in-10-minutes rule
    refreshes: list[datetime] = field(default_factory=list)
    # access tokens still alive, oldest first, for the 15-live rule
    live: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"RefreshTokenRecord(client_id={self.client_id!r}, live={len(self.live)})"


@dataclass(slots=True)
class AccessTokenRecord:
    token: str
    client_id: str
    refresh_token: str | None
    scope: str
    expires_at: datetime

    def __repr__(self) -> str:
        return f"AccessTokenRecord(client_id={self.client_id!r}, expires_at={self.expires_at})"


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One request the emulator answered (secrets redacted); ``status`` 0 means dropped."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    status: int
    at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "status": self.status,
            "at": zoho_time(self.at),
        }


class EmulatorState:
    """Everything the emulated Zoho account holds, and the rules it enforces."""

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        seed: int = 0,
        credits_per_day: int = 100_000,
        max_concurrency: int = 25,
        edition: str = "Enterprise",
        access_token_seconds: int = ACCESS_TOKEN_SECONDS,
        lenient: bool = False,
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        self.access_token_seconds = access_token_seconds  # Zoho's are 3600; shorter for tests
        # lenient: the old, forgiving emulator (for demos only): no checks against Zoho's
        # published constraints (constraints.py), any picklist value of the default lists
        self.lenient = lenient
        self.seed = seed
        self.credits_per_day = credits_per_day
        self.max_concurrency = max_concurrency
        self.edition = edition
        # requests being answered right now; survives reset() because they are still running
        self.in_flight = 0
        self.faults = Faults()
        self.reset()

    def __repr__(self) -> str:
        return (
            f"EmulatorState(tickets={len(self.tickets)}, contacts={len(self.contacts)}, "
            f"calls={len(self.calls)})"
        )

    def now(self) -> datetime:
        """Zoho's clock: the host's, set apart by the ``clock_skew`` fault."""
        return self.clock.now() + timedelta(seconds=self.faults.clock_skew)

    # ------------------------------------------------------------------ setup

    def reset(self) -> None:
        """Back to a fresh account: seed data, sandbox credentials, no faults, full credits."""
        now = self.clock.now()
        self.faults.clear()
        self.rng = random.Random(self.seed)  # noqa: S311 - drives fault injection, not security
        self.organizations: dict[str, OrganizationRecord] = {
            SANDBOX_ORG_ID: OrganizationRecord(
                SANDBOX_ORG_ID, "Sandbox Support Co.", "sandbox", True, self.edition
            ),
            SECOND_ORG_ID: OrganizationRecord(
                SECOND_ORG_ID, "Sandbox Second Portal", "sandbox2", False, self.edition
            ),
        }
        self.departments: dict[str, DepartmentRecord] = {
            d.id: d
            for d in (
                DepartmentRecord(
                    SANDBOX_DEPARTMENT_ID, SANDBOX_ORG_ID, "Support", True, True, "Support", now
                ),
                DepartmentRecord(
                    BILLING_DEPARTMENT_ID, SANDBOX_ORG_ID, "Billing", True, False, "Billing", now
                ),
                DepartmentRecord(
                    ARCHIVE_DEPARTMENT_ID, SANDBOX_ORG_ID, "Archive", False, False, "Old", now
                ),
                DepartmentRecord(
                    SECOND_ORG_DEPARTMENT_ID, SECOND_ORG_ID, "Sales", True, True, "Sales", now
                ),
            )
        }
        # each portal's picklists (x-dynamic-enum fields), seeded with Zoho's defaults
        self.picklists: dict[str, dict[str, list[str]]] = {
            org_id: {name: list(values) for name, values in DEFAULT_PICKLISTS.items()}
            for org_id in self.organizations
        }
        self.contacts: dict[str, ContactRecord] = {}
        self.tickets: dict[str, TicketRecord] = {}
        self.clients: dict[str, OAuthClient] = {}
        self.codes: dict[str, IssuedCode] = {}
        self.refresh_tokens: dict[str, RefreshTokenRecord] = {}
        self.access_tokens: dict[str, AccessTokenRecord] = {}
        self.calls: list[CallRecord] = []
        self.contacts_created = 0
        self.tickets_created = 0
        self.token_refreshes = 0
        self.access_tokens_issued = 0
        self.credits_remaining = self.credits_per_day
        self._credits_day: date = now.date()
        self._ids = 0
        self._ticket_numbers = 100
        self._late: list[LateCreate] = []
        self.register_client(SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, SANDBOX_REDIRECT_URI)
        self._add_refresh_token(SANDBOX_CLIENT_ID, SANDBOX_SCOPE, SANDBOX_REFRESH_TOKEN)

    def register_client(self, client_id: str, secret: str, redirect_uri: str) -> None:
        """Register (or replace) an OAuth client with its one exact redirect URI."""
        self.clients[client_id] = OAuthClient(client_id, secret, redirect_uri)

    def apply_faults(self, data: Mapping[str, Any]) -> None:
        """Set fault switches from their JSON form, plus ``credits_remaining`` and
        ``max_concurrency``. Raises ``FaultError`` (a ``ValueError``) on a bad value."""
        rest = dict(data)
        credits = rest.pop("credits_remaining", None)
        concurrency = rest.pop("max_concurrency", None)
        if credits is not None:
            whole_number("credits_remaining", credits)
        if concurrency is not None:
            whole_number("max_concurrency", concurrency)
        self.faults.apply(rest, self.clock.monotonic())
        if credits is not None:
            self.credits_left()  # roll the day over first so the value sticks
            self.credits_remaining = credits
        if concurrency is not None:
            self.max_concurrency = concurrency

    def set_picklist(
        self,
        name: str,
        *,
        add: Iterable[str] = (),
        remove: Iterable[str] = (),
        org_id: str | None = None,
    ) -> list[str]:
        """Add values to or remove values from one picklist of one portal (the default one
        when ``org_id`` is None), as an admin would in Zoho's layout settings. Raises
        ``ValueError`` on an unknown list or portal."""
        org = org_id or SANDBOX_ORG_ID
        if org not in self.picklists:
            raise ValueError(f"no portal {org!r}")
        lists = self.picklists[org]
        if name not in lists:
            raise ValueError(f"no picklist {name!r}; the lists are {', '.join(sorted(lists))}")
        values = lists[name]
        for value in add:
            if picklist_value(str(value), values) is None:
                values.append(str(value))
        gone = {str(v).strip().lower() for v in remove}
        lists[name] = [v for v in values if v.lower() not in gone]
        return list(lists[name])

    def check_query(self, schema: Schema, params: Mapping[str, str]) -> None:
        """422 ``INVALID_DATA`` for query parameters Zoho's description does not allow."""
        if self.lenient:
            return
        errors = [FieldError(v.field, v.error_type, v.message) for v in validate(schema, params)]
        if errors:
            raise invalid_data(*errors)

    def _check_body(self, schema: Schema, body: Mapping[str, Any], org_id: str) -> None:
        if self.lenient:
            return
        found = validate(schema, body, self.picklists.get(org_id))
        if found:
            raise invalid_data(*(FieldError(f"/{v.field}", v.error_type, v.message) for v in found))

    def _picklist(self, org_id: str, name: str, value: str | None) -> tuple[str | None, bool]:
        """(the portal's spelling of a picklist value, whether the portal has it)."""
        if value is None:
            return None, True
        if self.lenient and name not in ("priority", "channel", "status"):
            return value, True  # the old emulator checked only these three
        lists = DEFAULT_PICKLISTS if self.lenient else self.picklists.get(org_id, {})
        allowed = lists.get(name)
        if allowed is None:
            return value, True
        canonical = picklist_value(value, allowed)
        return (canonical or value), canonical is not None

    def organization_fields(self, org_id: str) -> list[dict[str, Any]]:
        """``GET /organizationFields?module=tickets``: the ticket fields with their picklists."""
        labels = {"subCategory": "Sub Category"}
        return [
            {
                "id": str(_ID_BASE // 1000 + n),
                "apiName": name,
                "displayLabel": labels.get(name, name[:1].upper() + name[1:]),
                "type": "Picklist",
                "isCustomField": False,
                "isMandatory": name == "status",
                "allowedValues": list(values),
            }
            for n, (name, values) in enumerate(self.picklists[org_id].items(), start=1)
        ]

    def _new_id(self) -> str:
        self._ids += 1
        return str(_ID_BASE + self._ids)

    # ------------------------------------------------------------------ OAuth

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
            refresh = self._add_refresh_token(client.client_id, issued.scope)
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

    def _add_refresh_token(
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

    # ------------------------------------------------------------------ Desk rules

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

    def check_org(self, org_id: str | None) -> str:
        """The request's organization id; every token here sees every emulated organization.

        The status of ``OAUTH_ORG_MISMATCH`` is unconfirmed (facts page); 403 is the likely one.
        """
        if not org_id:
            raise DeskError(403, "OAUTH_ORG_MISMATCH", "The orgId header is missing.")
        if org_id.strip() not in self.organizations:
            raise DeskError(
                403,
                "OAUTH_ORG_MISMATCH",
                "The OAuth Token does not belong to the organization in the orgId header.",
            )
        return org_id.strip()

    def credits_left(self) -> int:
        """Today's remaining API credits; the budget refills at UTC midnight."""
        today = self.clock.now().astimezone(UTC).date()
        if today != self._credits_day:
            self._credits_day = today
            self.credits_remaining = self.credits_per_day
        return self.credits_remaining

    def charge(self, weight: int) -> None:
        """Spend credits for one call, or raise ``THRESHOLD_EXCEEDED`` (429, unconfirmed)."""
        if self.credits_left() < weight:
            now = self.clock.now().astimezone(UTC)
            midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)
            raise DeskError(
                429,
                "THRESHOLD_EXCEEDED",
                "The API credits for today have been used up.",
                headers={"Retry-After": str(max(1, int((midnight - now).total_seconds())))},
            )
        self.credits_remaining -= weight

    # ------------------------------------------------------------------ Desk data

    def list_organizations(self) -> list[dict[str, Any]]:
        return [o.as_zoho() for o in self.organizations.values()]

    def myinfo(self) -> dict[str, Any]:
        return {
            "id": SANDBOX_AGENT_ID,
            "firstName": "Sandbox",
            "lastName": "Agent",
            "name": "Sandbox Agent",
            "emailId": "agent@sandbox.invalid",
            "status": "ACTIVE",
            "roleId": "900000000000000011",
            "profileId": "900000000000000012",
            "langCode": "en_US",
            "timeZone": "UTC",
            "isConfirmed": True,
            "photoURL": None,
            "phone": None,
            "mobile": None,
        }

    def list_departments(self, org_id: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
        enabled = params.get("isEnabled")
        if enabled not in (None, "true", "false"):
            raise invalid_data(FieldError("isEnabled", "invalid", "isEnabled is true or false"))
        limit = _int_param(params, "limit", default=10, low=1, high=200)
        start = _int_param(params, "from", default=0, low=0, high=10_000)
        found = [
            d
            for d in self.departments.values()
            if d.org_id == org_id and (enabled is None or d.is_enabled == (enabled == "true"))
        ]
        return [d.as_zoho() for d in found[start : start + limit]]

    def search_contacts(
        self, org_id: str, params: Mapping[str, str]
    ) -> tuple[list[dict[str, Any]], int]:
        """Zoho's loose contact search: ``(page, total)``; callers filter for exact matches."""
        limit = _int_param(params, "limit", default=10, low=1, high=100)
        start = _int_param(params, "from", default=0, low=0, high=999)
        tests: list[tuple[list[str], Callable[[ContactRecord, str], bool]]] = []
        if "_all" in params:
            _all_term(params)
        for name, fields_of in (
            ("email", lambda c: (c.email, c.secondary_email)),
            ("firstName", lambda c: (c.first_name,)),
            ("lastName", lambda c: (c.last_name,)),
            ("fullName", lambda c: (c.full_name,)),
            ("_all", lambda c: (c.email, c.full_name, c.phone, c.mobile)),
        ):
            if name in params:
                tests.append((_terms(params, name), _text_matcher(fields_of)))
        for name in ("phone", "mobile"):
            if name in params:
                tests.append((_terms(params, name), self._phone_search(name)))
        cf_tests = _custom_field_tests(params)
        found = [
            c
            for c in self.contacts.values()
            if c.org_id == org_id
            and all(any(match(c, term) for term in terms) for terms, match in tests)
            and all(_cf_matches(c.cf, name, value) for name, value in cf_tests)
        ]
        found = _sorted(found, params.get("sortBy"), CONTACT_SORTS, _contact_sort_key)
        return [c.as_zoho() for c in found[start : start + limit]], len(found)

    def _phone_search(self, name: str) -> Callable[[ContactRecord, str], bool]:
        """``phone=`` reads only ``phone`` and ``mobile=`` only ``mobile`` (facts page), each
        against the stored string: exact (case-insensitive), or ``*`` as a wildcard. Lenient: the
        old digits-only match on either field."""
        if self.lenient:
            return _phone_matcher
        read = attrgetter(name)
        return lambda contact, term: _wildcard(term, read(contact))

    def create_contact(self, org_id: str, body: Any) -> ContactRecord:
        """``POST /contacts``; a duplicate email is accepted unless the fault switch says reject."""
        if not isinstance(body, Mapping):
            raise DeskError(422, "UNPROCESSABLE_ENTITY", "The request body must be a JSON object.")
        self._check_body(CREATE_CONTACT, body, org_id)
        errors = _string_fields(
            body,
            "/",
            (
                "lastName",
                "firstName",
                "email",
                "secondaryEmail",
                "phone",
                "mobile",
                "accountId",
                "description",
                "language",
            ),
        )
        if not _text(body.get("lastName")):
            errors.append(FieldError("/lastName", "missing", "lastName is mandatory"))
        email = _text(body.get("email"))
        if email and not _EMAIL.fullmatch(email):
            errors.append(FieldError("/email", "invalid", "email is not a valid email address"))
        cf, cf_errors = _custom_fields(body.get("cf"), "/cf")
        errors += cf_errors
        if (
            email
            and not errors
            and self.faults.duplicate_contact_email == "reject"
            and self._contact_by_email(org_id, email) is not None
        ):
            errors.append(FieldError("/email", "duplicate", "A contact with this email exists"))
        if errors:
            raise invalid_data(*errors)
        return self._add_contact(org_id, body, cf)

    def _add_contact(
        self, org_id: str, body: Mapping[str, Any], cf: dict[str, str | None]
    ) -> ContactRecord:
        contact = ContactRecord(
            id=self._new_id(),
            org_id=org_id,
            last_name=str(body["lastName"]).strip(),
            created_time=self.now(),
            first_name=_text(body.get("firstName")),
            email=_text(body.get("email")),
            secondary_email=_text(body.get("secondaryEmail")),
            phone=_text(body.get("phone")),
            mobile=_text(body.get("mobile")),
            account_id=_text(body.get("accountId")),
            description=_text(body.get("description")),
            language=_text(body.get("language")),
            cf=cf,
        )
        self.contacts[contact.id] = contact
        self.contacts_created += 1
        return contact

    def _contact_by_email(self, org_id: str, email: str) -> ContactRecord | None:
        wanted = email.strip().lower()
        for contact in self.contacts.values():
            if contact.org_id == org_id and (contact.email or "").lower() == wanted:
                return contact
        return None

    def create_ticket(self, org_id: str, body: Any, web_base: str) -> TicketRecord:
        """``POST /tickets``: validate like Zoho (422 ``INVALID_DATA``), then store the ticket."""
        return self.prepare_ticket(org_id, body, web_base)(self.now())

    def create_ticket_later(
        self, org_id: str, body: Any, web_base: str, delay: float
    ) -> LateCreate:
        """``POST /tickets`` validated now and committed ``delay`` seconds from now (Zoho's
        clock), whatever becomes of the request meanwhile: see :meth:`settle`."""
        commit = self.prepare_ticket(org_id, body, web_base)
        late = LateCreate(self.now() + timedelta(seconds=delay), commit)
        self._late.append(late)
        return late

    def settle(self) -> None:
        """Commit the late creates that are due, each stamped with its due time."""
        now = self.now()
        for late in [late for late in self._late if late.due <= now]:
            self._late.remove(late)
            late.ticket = late.commit(late.due)

    def prepare_ticket(
        self, org_id: str, body: Any, web_base: str
    ) -> Callable[[datetime], TicketRecord]:
        """Validate a create like Zoho (422 ``INVALID_DATA``); returns the step that stores
        the ticket, stamped with the time it is given."""
        if not isinstance(body, Mapping):
            raise DeskError(422, "UNPROCESSABLE_ENTITY", "The request body must be a JSON object.")
        self._check_body(CREATE_TICKET, body, org_id)
        errors = _string_fields(
            body,
            "/",
            (
                "subject",
                "departmentId",
                "contactId",
                "description",
                "priority",
                "status",
                "channel",
                "email",
                "phone",
                *_TICKET_EXTRAS,
            ),
        )
        if errors:
            raise invalid_data(*errors)
        subject = _text(body.get("subject"))
        if not subject:
            errors.append(FieldError("/subject", "missing", "subject is mandatory"))
        department_id = _text(body.get("departmentId"))
        department = self.departments.get(department_id or "")
        if not department_id:
            errors.append(FieldError("/departmentId", "missing", "departmentId is mandatory"))
        elif department is None or department.org_id != org_id or not department.is_enabled:
            errors.append(FieldError("/departmentId", "invalid", "no such enabled department"))
        contact, inline, contact_errors = self._ticket_contact(org_id, body)
        errors += contact_errors
        picked: dict[str, str | None] = {}
        for name in ("priority", "channel", "status", *_TICKET_EXTRAS):
            value, known = self._picklist(org_id, name, _text(body.get(name)))
            if not known:
                errors.append(FieldError(f"/{name}", "invalid", f"{name} is not in the picklist"))
            picked[name] = value
        priority, channel = picked["priority"], picked["channel"]
        status = picked["status"] or "Open"
        cf, cf_errors = _custom_fields(body.get("cf"), "/cf")
        errors += cf_errors
        if errors:
            raise invalid_data(*errors)
        assert subject is not None
        assert department_id is not None

        def commit(at: datetime) -> TicketRecord:
            return self._store_ticket(
                org_id,
                body,
                web_base,
                subject,
                department_id,
                contact,
                inline,
                at,
                status=status,
                priority=priority,
                channel=channel,
                picked=picked,
                cf=cf,
            )

        return commit

    def _store_ticket(
        self,
        org_id: str,
        body: Mapping[str, Any],
        web_base: str,
        subject: str,
        department_id: str,
        contact: ContactRecord | None,
        inline: Mapping[str, Any] | None,
        at: datetime,
        *,
        status: str,
        priority: str | None,
        channel: str | None,
        picked: Mapping[str, str | None],
        cf: dict[str, str | None],
    ) -> TicketRecord:
        if contact is None:
            assert inline is not None
            # Zoho matches the inline contact by email when it commits the ticket.
            email = str(inline.get("email") or "")
            contact = self._contact_by_email(org_id, email) or self._add_contact(org_id, inline, {})
        ticket_id = self._new_id()
        self._ticket_numbers += 1
        ticket = TicketRecord(
            id=ticket_id,
            org_id=org_id,
            ticket_number=str(self._ticket_numbers),
            subject=subject,
            department_id=department_id,
            contact_id=contact.id,
            created_time=at,
            web_url=f"{web_base}/support/{self.organizations[org_id].portal_name}"
            f"/ShowHomePage.html#Cases/dv/{ticket_id}",
            description=_text(body.get("description")),
            email=_text(body.get("email")) or contact.email,
            phone=_text(body.get("phone")) or contact.phone or contact.mobile,
            status=status,
            priority=priority,
            channel=channel,
            extra={k: picked.get(k) or body[k] for k in _TICKET_EXTRAS if body.get(k) is not None},
            cf=cf,
        )
        self.tickets[ticket.id] = ticket
        self.tickets_created += 1
        return ticket

    def _ticket_contact(
        self, org_id: str, body: Mapping[str, Any]
    ) -> tuple[ContactRecord | None, Mapping[str, Any] | None, list[FieldError]]:
        contact_id = _text(body.get("contactId"))
        if contact_id:
            contact = self.contacts.get(contact_id)
            if contact is None or contact.org_id != org_id:
                return None, None, [FieldError("/contactId", "invalid", "no such contact")]
            return contact, None, []
        inline = body.get("contact")
        if inline is None:
            return None, None, [FieldError("/contactId", "missing", "contactId is mandatory")]
        if not isinstance(inline, Mapping):
            return None, None, [FieldError("/contact", "invalid", "contact is an object")]
        errors = _string_fields(
            inline, "/contact/", ("lastName", "firstName", "email", "phone", "mobile")
        )
        email = _text(inline.get("email"))
        if not _text(inline.get("lastName")):
            errors.append(FieldError("/contact/lastName", "missing", "lastName is mandatory"))
        if not email:
            errors.append(FieldError("/contact/email", "missing", "email is mandatory"))
        elif not _EMAIL.fullmatch(email):
            errors.append(FieldError("/contact/email", "invalid", "email is not valid"))
        if errors:
            return None, None, errors
        assert email is not None
        return self._contact_by_email(org_id, email), inline, []

    def get_ticket(self, org_id: str, ticket_id: str) -> TicketRecord:
        ticket = self.tickets.get(ticket_id) if _NUMERIC.fullmatch(ticket_id) else None
        if ticket is None or ticket.org_id != org_id:
            raise DeskError(404, "URL_NOT_FOUND", "The URL you requested could not be found.")
        return ticket

    def search_tickets(
        self, org_id: str, params: Mapping[str, str]
    ) -> tuple[list[dict[str, Any]], int]:
        """Ticket search: ``(page, total)``; tickets younger than ``search_lag`` are not indexed."""
        limit = _int_param(params, "limit", default=10, low=1, high=100)
        start = _int_param(params, "from", default=0, low=0, high=999)
        subject = params.get("subject")
        if subject is not None and len(subject.strip()) < 3:
            raise invalid_data(FieldError("subject", "invalid", "subject needs 3 characters"))
        window = _time_range(params.get("createdTimeRange"))
        cf_tests = _custom_field_tests(params)
        exact = {name: params[name] for name in _TICKET_FIELDS if name in params}
        checks: list[Callable[[TicketRecord], bool]] = [lambda t: t.org_id == org_id]
        if self.faults.search_lag:
            indexed_before = self.now() - timedelta(seconds=self.faults.search_lag)
            checks.append(lambda t: t.created_time <= indexed_before)
        checks += [_field_equals(name, wanted.strip()) for name, wanted in exact.items()]
        if subject is not None:
            checks.append(lambda t: _loose(subject, t.subject))
        if "email" in params:
            emails = _terms(params, "email")
            checks.append(lambda t: any(_loose(e, t.email) for e in emails))
        if "phone" in params:
            phones = _terms(params, "phone")
            checks.append(lambda t: any(_phone_like(p, t.phone) for p in phones))
        if "_all" in params:
            everything = _all_term(params)
            checks.append(lambda t: any(_loose(everything, v) for v in _ticket_columns(t)))
        if window is not None:
            low, high = window
            checks.append(lambda t: low <= t.created_time <= high)
        checks += [_ticket_cf_matches(name, value) for name, value in cf_tests]
        found = [t for t in self.tickets.values() if all(check(t) for check in checks)]
        found = _sorted(found, params.get("sortBy"), TICKET_SORTS, _ticket_sort_key)
        return [t.as_zoho() for t in found[start : start + limit]], len(found)

    # ------------------------------------------------------------------ for tests

    def tickets_by_key(self, field_name: str) -> dict[str, list[TicketRecord]]:
        """Tickets grouped by the value of one custom field (e.g. the idempotency key)."""
        grouped: dict[str, list[TicketRecord]] = {}
        for ticket in self.tickets.values():
            value = ticket.cf.get(field_name)
            if value is not None:
                grouped.setdefault(value, []).append(ticket)
        return grouped

    def record_call(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], status: int
    ) -> None:
        self.calls.append(CallRecord(method, path, query, headers, status, self.clock.now()))

    def summary(self) -> dict[str, Any]:
        now = self.clock.now()
        return {
            "organizations": len(self.organizations),
            "departments": len(self.departments),
            "contacts": len(self.contacts),
            "tickets": len(self.tickets),
            "contacts_created": self.contacts_created,
            "tickets_created": self.tickets_created,
            "token_refreshes": self.token_refreshes,
            "access_tokens_issued": self.access_tokens_issued,
            "access_tokens_live": sum(1 for a in self.access_tokens.values() if a.expires_at > now),
            "refresh_tokens": len(self.refresh_tokens),
            "calls": len(self.calls),
            "in_flight": self.in_flight,
            "max_concurrency": self.max_concurrency,
            "credits_remaining": self.credits_left(),
            "credits_per_day": self.credits_per_day,
            "edition": self.edition,
            "faults": self.faults.as_json(),
        }


# ---------------------------------------------------------------------- helpers


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _string_fields(body: Mapping[str, Any], prefix: str, names: Iterable[str]) -> list[FieldError]:
    errors = []
    for name in names:
        value = body.get(name)
        # ids may come as JSON numbers; anything else that is not text is refused
        if value is not None and (isinstance(value, bool) or not isinstance(value, str | int)):
            errors.append(FieldError(f"{prefix}{name}", "invalid", f"{name} is a string"))
    return errors


def _custom_fields(value: Any, where: str) -> tuple[dict[str, str | None], list[FieldError]]:
    if value is None:
        return {}, []
    if not isinstance(value, Mapping):
        return {}, [FieldError(where, "invalid", "cf is an object of cf_* fields")]
    stored: dict[str, str | None] = {}
    errors: list[FieldError] = []
    for name, raw in value.items():
        if not isinstance(name, str) or not name.startswith("cf_"):
            errors.append(FieldError(f"{where}/{name}", "invalid", "custom fields start with cf_"))
        elif raw is not None and (isinstance(raw, Mapping | list)):
            errors.append(FieldError(f"{where}/{name}", "invalid", "a custom field holds a value"))
        else:
            stored[name] = None if raw is None else str(raw)
    return stored, errors


def _int_param(params: Mapping[str, str], name: str, *, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise invalid_data(FieldError(name, "invalid", f"{name} is between {low} and {high}"))
    return value


def _terms(params: Mapping[str, str], name: str) -> list[str]:
    terms = [t.strip() for t in params[name].split(",") if t.strip()]
    if not terms or len(terms) > 30:
        raise invalid_data(FieldError(name, "invalid", f"{name} takes 1 to 30 values"))
    return terms


def _all_term(params: Mapping[str, str]) -> str:
    """The ``_all`` search term: 3 to 100 characters (``Search.json``), else 422."""
    term = params["_all"].strip()
    if not 3 <= len(term) <= 100:
        raise invalid_data(FieldError("_all", "invalid", "_all takes 3 to 100 characters"))
    return term


def _ticket_columns(ticket: TicketRecord) -> tuple[str | None, ...]:
    """What ``_all`` searches in a ticket: its text columns, custom fields included."""
    return (
        ticket.subject,
        ticket.description,
        ticket.email,
        ticket.phone,
        ticket.ticket_number,
        ticket.status,
        ticket.priority,
        ticket.channel,
        *(str(v) for v in ticket.cf.values() if v is not None),
        *(str(v) for v in ticket.extra.values() if v is not None),
    )


def _loose(term: str, value: str | None) -> bool:
    """Zoho-like loose match: case-insensitive containment, ``*`` as a wildcard."""
    if not value:
        return False
    term = term.strip().lower()
    if "*" in term:
        pattern = ".*".join(re.escape(part) for part in term.split("*"))
        return re.fullmatch(pattern, value.lower()) is not None
    return term in value.lower()


def _wildcard(term: str, value: str | None) -> bool:
    """Zoho's search against a stored string: ``*`` matches anything, otherwise the whole
    value must match (case-insensitively)."""
    if not value:
        return False
    pattern = ".*".join(re.escape(part) for part in term.strip().lower().split("*"))
    return re.fullmatch(pattern, value.strip().lower()) is not None


def _text_matcher(
    fields_of: Callable[[ContactRecord], tuple[str | None, ...]],
) -> Callable[[ContactRecord, str], bool]:
    def match(contact: ContactRecord, term: str) -> bool:
        return any(_loose(term, v) for v in fields_of(contact))

    return match


def _digits(value: str | None) -> str:
    return "".join(ch for ch in value or "" if ch.isdigit())


def _phone_like(term: str, value: str | None) -> bool:
    wanted, have = _digits(term), _digits(value)
    if not wanted or not have:
        return False
    # loose both ways, so "+52 1 55 1234 5678" and "5512345678" find each other
    return wanted in have or (len(have) >= 7 and have in wanted)


def _phone_matcher(contact: ContactRecord, term: str) -> bool:
    return _phone_like(term, contact.phone) or _phone_like(term, contact.mobile)


def _custom_field_tests(params: Mapping[str, str]) -> list[tuple[str, str]]:
    tests = []
    for n in range(1, 11):
        raw = params.get(f"customField{n}")
        if raw is None:
            continue
        name, sep, value = raw.partition(":")
        if not sep or not name.strip().startswith("cf_"):
            raise invalid_data(
                FieldError(f"customField{n}", "invalid", "customFieldN is cf_api_name:value")
            )
        tests.append((name.strip(), value.strip()))
    return tests


def _cf_matches(cf: Mapping[str, str | None], name: str, value: str) -> bool:
    have = cf.get(name)
    if have is None:
        return False
    if "*" in value:
        return _loose(value, have)
    return have.lower() == value.lower()


def _parse_time(raw: str) -> datetime:
    raw = raw.strip()
    if raw.isdigit():
        return datetime.fromtimestamp(int(raw) / 1000, UTC)
    moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _time_range(raw: str | None) -> tuple[datetime, datetime] | None:
    if raw is None:
        return None
    start, sep, end = raw.partition(",")
    try:
        if not sep:
            raise ValueError(raw)
        return _parse_time(start), _parse_time(end)
    except ValueError:
        raise invalid_data(
            FieldError("createdTimeRange", "invalid", "createdTimeRange is ISO,ISO")
        ) from None


def _sorted(items: list[Any], sort_by: str | None, allowed: tuple[str, ...], key: Any) -> list[Any]:
    if sort_by is None:
        return items
    name = sort_by.removeprefix("-")
    if name not in allowed:
        raise invalid_data(FieldError("sortBy", "invalid", f"sortBy is one of {allowed}"))
    if name == "relevance":
        return items
    return sorted(items, key=lambda item: key(item, name), reverse=sort_by.startswith("-"))


def _contact_sort_key(contact: ContactRecord, name: str) -> Any:
    if name in ("createdTime", "modifiedTime"):
        return contact.created_time
    return ((contact.last_name if name == "lastName" else contact.first_name) or "").lower()


# the ticket search's exact-match parameters and the record attribute each one reads
_TICKET_FIELDS: dict[str, Callable[[TicketRecord], str | None]] = {
    "contactId": attrgetter("contact_id"),
    "departmentId": attrgetter("department_id"),
    "ticketNumber": attrgetter("ticket_number"),
    "status": attrgetter("status"),
    "priority": attrgetter("priority"),
}


def _field_equals(name: str, wanted: str) -> Callable[[TicketRecord], bool]:
    read = _TICKET_FIELDS[name]
    return lambda ticket: read(ticket) == wanted


def _ticket_cf_matches(name: str, value: str) -> Callable[[TicketRecord], bool]:
    return lambda ticket: _cf_matches(ticket.cf, name, value)


def _ticket_sort_key(ticket: TicketRecord, name: str) -> Any:
    if name == "ticketNumber":
        return int(ticket.ticket_number)
    if name == "dueDate":
        return str(ticket.extra.get("dueDate") or "")
    return ticket.created_time
