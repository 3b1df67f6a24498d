"""The Zoho Desk adapter: the ``Helpdesk`` port over Zoho's REST API (``/api/v1``)."""

from __future__ import annotations

import collections
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Final, TypeVar
from urllib.parse import quote

import anyio
import httpx
import msgspec

from ticketing.adapters.zoho_desk.attachments import AttachmentCalls
from ticketing.adapters.zoho_desk.downloads import DownloadCalls
from ticketing.adapters.zoho_desk.oauth import SETUP_HINT, TokenManager
from ticketing.adapters.zoho_desk.sync_calls import SyncCalls
from ticketing.adapters.zoho_desk.wire import (
    Envelope,
    ErrorBody,
    WireContact,
    WireDepartment,
    WireField,
    WireMyInfo,
    WireOrganization,
    WireTicket,
    contact_body,
    custom_field_value,
    decode_error,
    ticket_body,
)
from ticketing.domain.contacts import phone_tail, same_phone
from ticketing.domain.errors import (
    HelpdeskAuthError,
    HelpdeskError,
    HelpdeskRejected,
    HelpdeskUnavailable,
    RateLimited,
)
from ticketing.domain.model import (
    Agent,
    Contact,
    Department,
    NewContact,
    Organization,
    Ticket,
    TicketRequest,
    default_department,
    default_organization,
)
from ticketing.domain.ports import Clock, TicketProbe

log = logging.getLogger(__name__)

T = TypeVar("T")

API: Final = "/api/v1"
SEARCH_LIMIT: Final = 50
# When Zoho says the day's credits are spent but not when they come back.
MIN_THRESHOLD_WAIT: Final = 900.0
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
# An offset from Zoho's clock worth telling the operator about.
CLOCK_WARNING: Final = 10.0

_AUTH_HINTS: Final = {
    "UNAUTHORIZED": f"Zoho Desk received no usable token: {SETUP_HINT}",
    "OAUTH_ORG_MISMATCH": (
        "the token does not belong to this organization: check ZOHO_ORG_ID (unset it to use "
        "the default organization) and that ZOHO_DC is the account's data centre"
    ),
    "SCOPE_MISMATCH": (
        "the token lacks a scope this call needs: make ZOHO_SCOPE include "
        "Desk.tickets.ALL,Desk.contacts.ALL,Desk.basic.ALL,Desk.search.READ (and "
        "Desk.events.ALL for webhooks) and run `ticketing auth setup` again"
    ),
    "FORBIDDEN": (
        "the agent behind the token may not do this: check the agent's profile and "
        "permissions in Zoho Desk, or authorize as another agent with `ticketing auth setup`"
    ),
}


def build_http_client(
    *,
    timeout: float = 10.0,
    transport: httpx.AsyncBaseTransport | None = None,
    max_connections: int = 50,
    instrument: Callable[[httpx.AsyncBaseTransport], httpx.AsyncBaseTransport] | None = None,
) -> httpx.AsyncClient:
    """An HTTP client for Zoho with explicit, separate timeouts.

    Connecting and waiting for a pooled connection are capped at 5 s: when they fail nothing
    was sent, so failing fast is safe. Reading gets the full ``timeout``, because a read
    timeout on a create is ambiguous and costs a lookup afterwards.
    """
    quick = min(timeout, 5.0)
    limits = httpx.Limits(
        max_connections=max_connections,
        max_keepalive_connections=min(max_connections, 20),
    )
    if instrument is not None:
        # ``instrument`` wraps the transport (metrics); the pool limits move onto it.
        transport = instrument(transport or httpx.AsyncHTTPTransport(limits=limits))
    return httpx.AsyncClient(
        timeout=httpx.Timeout(connect=quick, read=timeout, write=timeout, pool=quick),
        limits=limits,
        transport=transport,
        headers={"User-Agent": "ticketing (Zoho Desk adapter)"},
        follow_redirects=False,
    )


class ZohoDeskClient(SyncCalls, AttachmentCalls, DownloadCalls):
    """The ``Helpdesk`` port against Zoho Desk, the two-way sync's calls (``SyncCalls``) and
    a ticket's attachments (``AttachmentCalls``, the ``AttachmentDesk`` port).

    Every call carries ``Authorization: Zoho-oauthtoken <token>`` and, except
    ``/organizations``, the ``orgId`` header. The organization and the default department
    are discovered once when not configured. Failures come out as the domain's
    ``HelpdeskError`` tree only.

    Args:
        http: the HTTP client (built by the composition root, see :func:`build_http_client`).
        tokens: the access-token source.
        clock: wall time (for "credits back tomorrow" and HTTP-date ``Retry-After``).
        desk_url: the Desk root, e.g. ``https://desk.zoho.eu``; never the token's
            ``api_domain``.
        org_id: ``ZOHO_ORG_ID``; None to use the default organization.
        department_id: ``ZOHO_DEPARTMENT_ID``; None to use the default enabled department.
        idempotency_field: ``ZOHO_IDEMPOTENCY_FIELD``, the API name of a ticket custom field
            that holds each ticket's idempotency key.

    Attributes:
        credits_remaining: the last ``X-Rate-Limit-Remaining-v3`` seen (API credits left today).
        clock_offset: Zoho's clock minus ours in seconds, from the last response's ``Date``
            header; None before any. Creation times Zoho stamps are compared in its clock.
        calls: HTTP requests sent, per operation (retries and discovery included).
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        tokens: TokenManager,
        clock: Clock,
        *,
        desk_url: str,
        org_id: str | None = None,
        department_id: str | None = None,
        idempotency_field: str | None = None,
    ) -> None:
        self._http = http
        self._tokens = tokens
        self._clock = clock
        self.desk_url = desk_url.rstrip("/")
        self._org_id = org_id or None
        self._department_id = department_id or None
        self.idempotency_field = idempotency_field or None
        self._org_lock = anyio.Lock()
        self._department_lock = anyio.Lock()
        self.credits_remaining: int | None = None
        self.clock_offset: float | None = None
        self.calls: collections.Counter[str] = collections.Counter()

    def __repr__(self) -> str:
        return (
            f"ZohoDeskClient(desk_url={self.desk_url!r}, org_id={self._org_id!r}, "
            f"department_id={self._department_id!r}, calls={sum(self.calls.values())})"
        )

    # ------------------------------------------------------------ Helpdesk

    async def search_contacts(
        self, *, email: str | None = None, phone: str | None = None
    ) -> list[Contact]:
        """Contacts that may match; the caller filters for exact matches.

        By email: one call. By phone: Zoho searches ``mobile`` and ``phone`` separately and
        against the stored string, so the number is looked for as its last 8 digits with
        ``*`` between and before them (``*1*2*3*4*5*6*7*8``: any spacing, country code or trunk
        prefix) in ``mobile`` first (where WhatsApp numbers live), then in ``phone`` only
        when ``mobile`` held no match: one call or two.
        """
        if email:
            return await self._search_contacts({"email": email})
        tail = phone_tail(phone or "")
        if not tail:
            return []  # a lone "*" would match every contact
        term = "*" + "*".join(tail)
        found = await self._search_contacts({"mobile": term})
        if any(same_phone(c.mobile, phone) for c in found):
            return found
        return found + await self._search_contacts({"phone": term})

    async def _search_contacts(self, params: dict[str, str | int]) -> list[Contact]:
        params = {**params, "limit": SEARCH_LIMIT}
        content = await self._call("GET", "/contacts/search", "search_contacts", params=params)
        return [c.to_domain() for c in self._items(content, WireContact)]

    async def create_contact(self, contact: NewContact) -> Contact:
        """Create a contact (``POST /contacts``)."""
        content = await self._call(
            "POST", "/contacts", "create_contact", json=contact_body(contact)
        )
        return self._one(content, WireContact, sent=True).to_domain()

    async def create_ticket(self, request: TicketRequest) -> Ticket:
        """Create a ticket (``POST /tickets``); the idempotency key goes in the custom field."""
        body = ticket_body(request, idempotency_field=self.idempotency_field)
        content = await self._call("POST", "/tickets", "create_ticket", json=body)
        return self._one(content, WireTicket, sent=True).to_domain()

    async def find_ticket(self, probe: TicketProbe) -> Ticket | None:
        """Look for a ticket an ambiguous create may have made (see ``Helpdesk.find_ticket``).

        Without the idempotency field, by the key's reference with ``_all`` (Zoho's search
        over every ticket column, the description included), then filtered here: the same
        contact and subject, created within the window moved into Zoho's clock (by the
        offset its ``Date`` header shows, this very answer's included).
        """
        field = self.idempotency_field
        params: dict[str, str | int]
        wanted = custom_field_value(probe.key)
        if field:
            params = {"customField1": f"{field}:{wanted}", "limit": SEARCH_LIMIT}
        else:
            params = {"_all": probe.reference, "limit": SEARCH_LIMIT}
        content = await self._call("GET", "/tickets/search", "find_ticket", params=params)
        shift = timedelta(seconds=self.clock_offset or 0.0)
        low, high = probe.created_from + shift, probe.created_to + shift
        candidates: list[Ticket] = []
        for wire in self._items(content, WireTicket):
            ticket = wire.to_domain()
            if field:
                # Search results may omit cf; when present it must be the exact key.
                value = wire.custom_field(field)
                if value is not None and value != wanted:
                    continue
            else:
                # Results may omit the description; when present it must carry the reference.
                if wire.description is not None and probe.reference not in wire.description:
                    continue
                if ticket.subject.strip() != probe.subject.strip():
                    continue
                if ticket.contact_id is not None and ticket.contact_id != probe.contact_id:
                    continue
                created = ticket.created_time
                if created is not None and not low <= created <= high:
                    continue
            candidates.append(ticket)
        if not candidates:
            return None
        # Oldest first, then the smallest id: every instance picks the same ticket.
        return min(candidates, key=lambda t: (t.created_time or _EPOCH, len(t.id), t.id))

    async def get_ticket(self, ticket_id: str) -> Ticket:
        """One ticket by id; ``HelpdeskRejected`` (404) when there is none."""
        path = f"/tickets/{quote(ticket_id, safe='')}"
        content = await self._call("GET", path, "get_ticket")
        if content is None:
            raise HelpdeskRejected(f"Zoho Desk has no ticket {ticket_id}", status=404)
        return self._one(content, WireTicket, sent=False).to_domain()

    async def list_departments(self) -> list[Department]:
        """The enabled departments (``GET /departments?isEnabled=true&limit=200``)."""
        content = await self._call(
            "GET",
            "/departments",
            "list_departments",
            params={"isEnabled": "true", "limit": 200},
        )
        return [d.to_domain() for d in self._items(content, WireDepartment)]

    async def ticket_field_values(self) -> dict[str, frozenset[str]]:
        """The ticket picklists (``GET /organizationFields?module=tickets``): API name →
        allowed values, for the fields that have allowed values."""
        content = await self._call(
            "GET",
            "/organizationFields",
            "ticket_field_values",
            params={"module": "tickets"},
        )
        return {
            f.api_name: f.values()
            for f in self._items(content, WireField)
            if f.api_name and f.allowed_values is not None
        }

    async def department_id(self) -> str:
        """The configured department, or the default enabled one, looked up once."""
        if self._department_id is not None:
            return self._department_id
        async with self._department_lock:
            if self._department_id is None:
                self._department_id = self._pick_department(await self.list_departments())
                log.info("using Zoho Desk department %s", self._department_id)
            return self._department_id

    async def list_organizations(self) -> list[Organization]:
        """The organizations the token can see (``GET /organizations``, no ``orgId``)."""
        content = await self._call("GET", "/organizations", "list_organizations", org=False)
        return [o.to_domain() for o in self._items(content, WireOrganization)]

    async def whoami(self) -> Agent:
        """The agent behind the token (``GET /myinfo``)."""
        content = await self._call("GET", "/myinfo", "whoami")
        if content is None:
            raise HelpdeskRejected("Zoho Desk returned no agent for this token", status=204)
        return self._one(content, WireMyInfo, sent=False).to_domain()

    async def org_id(self) -> str:
        """The configured organization, or the default one, looked up once."""
        if self._org_id is not None:
            return self._org_id
        async with self._org_lock:
            if self._org_id is None:
                self._org_id = self._pick_org(await self.list_organizations())
                log.info("using Zoho Desk organization %s", self._org_id)
            return self._org_id

    # ------------------------------------------------------------ internals

    @staticmethod
    def _pick_org(orgs: list[Organization]) -> str:
        chosen = default_organization(orgs)
        if chosen is None:
            raise HelpdeskAuthError(
                "the token sees no Zoho Desk organization: check that ZOHO_DC is the "
                "account's data centre, or set ZOHO_ORG_ID"
            )
        return chosen.id

    @staticmethod
    def _pick_department(departments: list[Department]) -> str:
        chosen = default_department(departments)
        if chosen is None:
            raise HelpdeskAuthError(
                "Zoho Desk has no enabled department for new tickets: enable one, or set "
                "ZOHO_DEPARTMENT_ID"
            )
        return chosen.id

    async def _call(
        self,
        method: str,
        path: str,
        operation: str,
        *,
        params: dict[str, str | int] | None = None,
        json: dict[str, Any] | None = None,
        org: bool = True,
        read_timeout: float | None = None,
        stream: Callable[[], tuple[dict[str, str], AsyncIterator[bytes]]] | None = None,
    ) -> bytes | None:
        """One Desk call; the body, or None for 204. Retries once after INVALID_OAUTH.
        ``read_timeout``: a longer read and write timeout for this call (connecting stays
        quick). ``stream``: a streamed body instead of ``json``, made afresh for each
        attempt: its headers (``Content-Type``, ``Content-Length``) and its chunks."""
        headers = {"orgId": await self.org_id()} if org else {}
        url = f"{self.desk_url}{API}{path}"
        for attempt in (1, 2):
            token = await self._tokens.access_token()
            headers["Authorization"] = f"Zoho-oauthtoken {token}"
            self.calls[operation] += 1
            body_headers, content = stream() if stream is not None else ({}, None)
            try:
                response = await self._http.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    content=content,
                    headers={**headers, **body_headers},
                    timeout=(
                        httpx.Timeout(read_timeout, connect=5.0, pool=5.0)
                        if read_timeout is not None
                        else httpx.USE_CLIENT_DEFAULT
                    ),
                )
            except httpx.RequestError as exc:
                raise self._transport_error(method, path, exc) from exc
            self._note_credits(response)
            self._note_clock(response)
            status = response.status_code
            if status == 204:
                return None
            if 200 <= status < 300:
                return response.content
            error = decode_error(response.content)
            if status == 401 and error.error_code == "INVALID_OAUTH":
                if attempt == 1:
                    # Revoked or expired early: one refresh for however many callers saw
                    # this token rejected, then one retry (a 401 means nothing was created).
                    await self._tokens.invalidate(token)
                    continue
                raise HelpdeskAuthError(
                    "Zoho Desk rejected a freshly refreshed token (INVALID_OAUTH): check that "
                    f"ZOHO_DC / ZOHO_DESK_URL ({self.desk_url}) is the account's data centre; "
                    f"otherwise {SETUP_HINT}",
                    status=401,
                    code="INVALID_OAUTH",
                )
            raise self._status_error(method, path, response, error)
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    def _note_credits(self, response: httpx.Response) -> None:
        value = response.headers.get("X-Rate-Limit-Remaining-v3")
        if value is None:
            return
        try:
            self.credits_remaining = int(value.strip())
        except ValueError:
            return

    def _note_clock(self, response: httpx.Response) -> None:
        # A proxy or server in front may add a Date of its own: Zoho's is the last one.
        values = response.headers.get_list("Date")
        if not values:
            return
        value = values[-1]
        try:
            zoho_now = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return
        if zoho_now.tzinfo is None:
            zoho_now = zoho_now.replace(tzinfo=UTC)
        # ``Date`` has whole seconds: Zoho's time was up to one second past it.
        offset = (zoho_now - self._clock.now()).total_seconds() + 0.5
        previous = self.clock_offset
        self.clock_offset = offset
        if abs(offset) >= CLOCK_WARNING and (previous is None or abs(offset - previous) > 1.5):
            log.warning(
                "Zoho Desk's clock is %+.0f s from this host's: check the host's time "
                "synchronization (creation times are compared in Zoho's clock)",
                offset,
            )

    @staticmethod
    def _transport_error(method: str, path: str, exc: httpx.RequestError) -> HelpdeskError:
        # Connecting (or waiting for a pooled connection) failed: the request never left.
        never_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
        what = "could not connect" if never_sent else "the request may have been received"
        return HelpdeskUnavailable(
            f"Zoho Desk {method} {API}{path}: {type(exc).__name__} ({what})",
            sent=not never_sent,
        )

    def _status_error(
        self, method: str, path: str, response: httpx.Response, error: ErrorBody
    ) -> HelpdeskError:
        status = response.status_code
        code = error.error_code
        detail = f"Zoho Desk {method} {API}{path} → {status} {code or ''}".rstrip()
        if error.message:
            detail += f": {error.message}"
        if code == "THRESHOLD_EXCEEDED":
            # Zoho says when the credits come back (Retry-After); the portal's day need not
            # be UTC's, so midnight UTC is only the guess when it does not.
            told = self._retry_after(response)
            wait = told if told is not None else self._until_tomorrow()
            back = (self._clock.now() + timedelta(seconds=wait)).astimezone(UTC)
            source = "Zoho's Retry-After" if told is not None else "a guess: no Retry-After"
            return RateLimited(
                f"{detail} (the day's API credits are spent; back at "
                f"{back:%Y-%m-%d %H:%M:%S} UTC, {source})",
                status=status,
                code=code,
                retry_after=wait,
            )
        if status == 429:
            return RateLimited(
                detail, status=status, code=code, retry_after=self._retry_after(response)
            )
        if status in (401, 403) or code in _AUTH_HINTS:
            hint = _AUTH_HINTS.get(code or "") or (
                "check ZOHO_DC / ZOHO_DESK_URL, ZOHO_ORG_ID and ZOHO_SCOPE; " + SETUP_HINT
            )
            return HelpdeskAuthError(f"{detail}. Fix: {hint}", status=status, code=code)
        if status >= 500:
            return HelpdeskUnavailable(detail, status=status, code=code, sent=True)
        field = error.first_field()
        if field:
            detail += f" (field {field})"
        return HelpdeskRejected(detail, status=status, code=code, field=field)

    def _retry_after(self, response: httpx.Response) -> float | None:
        value = response.headers.get("Retry-After", "").strip()
        if not value:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, (when - self._clock.now()).total_seconds())

    def _until_tomorrow(self) -> float:
        """Seconds to the next UTC midnight (at least MIN_THRESHOLD_WAIT): when credits come
        back if Zoho does not say (THRESHOLD_EXCEEDED without Retry-After)."""
        now = self._clock.now().astimezone(UTC)
        midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        return max(MIN_THRESHOLD_WAIT, (midnight - now).total_seconds())

    @staticmethod
    def _items(content: bytes | None, kind: type[T]) -> list[T]:
        if content is None:
            return []
        try:
            return msgspec.json.decode(content, type=Envelope[kind]).items()  # type: ignore[valid-type]
        except msgspec.DecodeError as exc:
            raise HelpdeskUnavailable(f"unexpected list from Zoho Desk: {exc}", sent=True) from exc

    @staticmethod
    def _one(content: bytes | None, kind: type[T], *, sent: bool) -> T:
        if content is None:
            raise HelpdeskUnavailable("Zoho Desk answered 204 where a body was due", sent=sent)
        try:
            return msgspec.json.decode(content, type=kind)
        except msgspec.DecodeError as exc:
            # For a create, the object probably exists: the caller must look before re-posting.
            raise HelpdeskUnavailable(
                f"unexpected answer from Zoho Desk: {exc}", sent=sent
            ) from exc
