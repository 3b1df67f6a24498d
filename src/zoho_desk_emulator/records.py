"""The records the emulator keeps, and their JSON form: Desk resources (portals, departments,
contacts, tickets), the accounts server's clients, codes and tokens, and the calls answered."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from zoho_desk_emulator.sandbox import SANDBOX_AGENT_ID

STATUS_TYPES = {"Open": "Open", "On Hold": "On Hold", "Escalated": "Open", "Closed": "Closed"}
# optional ticket fields kept as sent, in TicketRecord.extra
TICKET_EXTRAS = (
    "category",
    "subCategory",
    "classification",
    "language",
    "dueDate",
    "productId",
    "assigneeId",
    "teamId",
)


def zoho_time(moment: datetime) -> str:
    """Zoho's timestamp format: UTC with milliseconds and a Z."""
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


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


# ---------------------------------------------------------------------- accounts


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


# ---------------------------------------------------------------------- the call log


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
