"""The records the emulator keeps, and their JSON form: Desk resources (portals, departments,
contacts, tickets, threads, comments, webhooks), the accounts server's clients, codes and
tokens, and the calls answered."""

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


def ticket_page_path(portal_name: str, ticket_id: str) -> str:
    """Where a ticket's page is, under the emulator's root: the path of its ``webUrl`` (the
    shape of Zoho's agent URLs; the emulator serves it, see ``pages.py``)."""
    return f"/agent/{portal_name}/tickets/details/{ticket_id}"


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
    # None until the ticket first changes: then the time of the last change
    modified_time: datetime | None = None
    # every change's time, oldest first (what a lagging search index has seen of them)
    changes: list[datetime] = field(default_factory=list)
    closed_time: datetime | None = None
    thread_count: int = 0
    comment_count: int = 0
    # the newest thread's time (GET /tickets?sortBy=recentThread)
    recent_thread_time: datetime | None = None

    def touch(self, at: datetime) -> None:
        """The ticket changed at ``at``: its ``modifiedTime``."""
        self.modified_time = at
        self.changes.append(at)

    def modified_as_of(self, indexed_before: datetime | None) -> datetime:
        """``modifiedTime`` as a search index that has seen changes up to ``indexed_before``
        (all when None) knows it."""
        if indexed_before is None:
            return self.modified_time or self.created_time
        seen = [at for at in self.changes if at <= indexed_before]
        return seen[-1] if seen else self.created_time

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
            "threadCount": str(self.thread_count),
            "commentCount": str(self.comment_count),
            "attachmentCount": "0",
            "isSpam": False,
            "isArchived": False,
            "webUrl": self.web_url,
            "createdTime": zoho_time(self.created_time),
            "modifiedTime": zoho_time(self.modified_time or self.created_time),
            "closedTime": zoho_time(self.closed_time) if self.closed_time else None,
            "onholdTime": None,
            "cf": dict(self.cf),
        }
        for name in ("category", "subCategory", "classification", "language", "dueDate"):
            body[name] = self.extra.get(name)
        body.update({k: v for k, v in self.extra.items() if k not in body})
        return body


# ---------------------------------------------------------------------- threads and comments


def person(
    person_id: str, first: str | None, last: str, email: str | None, kind: str
) -> dict[str, Any]:
    """A thread's ``author`` or a comment's ``commenter``: ``kind`` AGENT or END_USER."""
    return {
        "id": person_id,
        "name": " ".join(p for p in (first, last) if p),
        "firstName": first,
        "lastName": last,
        "email": email,
        "photoURL": None,
        "type": kind,
        "roleName": "Agent" if kind == "AGENT" else None,
    }


@dataclass(frozen=True, slots=True)
class ThreadFile:
    """A file on a thread (the control API's), with its bytes: ``href`` is the emulator's
    own ``GET /tickets/{t}/threads/{th}/attachments/{a}/content``."""

    id: str
    name: str
    content_type: str
    data: bytes
    href: str

    def as_zoho(self) -> dict[str, Any]:
        # Thread.json's thread attachments: id, name, size (a string, as everywhere), href
        return {"id": self.id, "name": self.name, "size": str(len(self.data)), "href": self.href}


@dataclass(slots=True)
class ThreadRecord:
    """One thread of a ticket (``Thread.json`` threadKeys): ``content`` is HTML."""

    id: str
    ticket_id: str
    org_id: str
    direction: str  # in | out
    visibility: str  # public | private
    status: str  # SUCCESS | PENDING | FAILED | DRAFT
    channel: str
    content: str
    plain_text: str
    author: dict[str, Any]
    created_time: datetime
    is_description: bool = False
    files: tuple[ThreadFile, ...] = ()

    def as_listed(self) -> dict[str, Any]:
        """An item of ``GET /threads``: a summary, never the content."""
        return {
            "id": self.id,
            "channel": self.channel,
            "direction": self.direction,
            "visibility": self.visibility,
            "status": self.status,
            "summary": self.plain_text[:100],
            "author": dict(self.author),
            "createdTime": zoho_time(self.created_time),
            "isDescriptionThread": self.is_description,
            "contentType": "text/html",
            "hasAttach": bool(self.files),
            "attachmentCount": str(len(self.files)),
            "canReply": self.direction == "in",
            "respondedIn": None,
            "source": {"type": "SYSTEM", "appName": None, "extId": None, "permalink": None},
            "channelRelatedInfo": None,
            "actions": [],
            "readReceipts": [],
            "impersonatedUser": None,
            "aspects": [],
            "sentiment": None,
            "keyWords": [],
            "lastRatingIconURL": None,
        }

    def as_zoho(self, *, plain_text: bool = False) -> dict[str, Any]:
        """``GET /threads/{id}``: the listed keys with the content; ``plainText`` on request."""
        body = self.as_listed()
        body |= {
            "content": self.content,
            "isContentTruncated": False,
            "fullContentURL": None,
            "attachments": [f.as_zoho() for f in self.files],
        }
        if plain_text:
            body["plainText"] = self.plain_text
        return body


@dataclass(slots=True)
class CommentRecord:
    """One comment on a ticket (``TicketComment.json`` commentResponse)."""

    id: str
    ticket_id: str
    org_id: str
    content: str
    content_type: str  # html | plainText
    plain_text: str
    is_public: bool
    commenter: dict[str, Any]
    commented_time: datetime

    def as_zoho(self, *, plain_text: bool = False) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "content": self.content,
            "contentType": self.content_type,
            "isPublic": self.is_public,
            "commentedTime": zoho_time(self.commented_time),
            "modifiedTime": None,
            "commenterId": self.commenter["id"],
            "commenter": dict(self.commenter),
            "attachments": [],
            "encodedContent": None,
            "impersonatedUser": None,
        }
        if plain_text:
            body["plainText"] = self.plain_text
        return body


# ---------------------------------------------------------------------- webhooks


@dataclass(slots=True)
class WebhookRecord:
    """One webhook subscription (``Webhook.json`` webhookResponse)."""

    id: str
    org_id: str
    url: str
    subscriptions: dict[str, Any]
    created_time: datetime
    modified_time: datetime
    name: str | None = None
    description: str | None = None
    is_enabled: bool = True
    include_events_from: list[str] = field(default_factory=list)
    ignore_source_id: str | None = None

    def as_zoho(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "url": self.url,
            "subscriptions": self.subscriptions,
            "isEnabled": self.is_enabled,
            "includeEventsFrom": list(self.include_events_from),
            "ignoreSourceId": self.ignore_source_id,
            "type": "CUSTOMER_WEBHOOK",
            "createdBy": SANDBOX_AGENT_ID,
            "createdTime": zoho_time(self.created_time),
            "modifiedTime": zoho_time(self.modified_time),
        }


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
