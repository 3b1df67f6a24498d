"""Zoho's wire formats as msgspec Structs, lenient on input, and their domain conversions."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Generic, TypeVar

import msgspec

from ticketing.adapters.codec import utc
from ticketing.domain.contacts import split_name
from ticketing.domain.model import (
    Agent,
    Contact,
    Department,
    NewContact,
    Organization,
    Ticket,
    TicketRequest,
    referenced_description,
)
from ticketing.domain.text import cut_graphemes

T = TypeVar("T")

# Zoho sends ids as numeric strings but some examples and older endpoints use numbers.
WireId = str | int
# Times are ISO strings, sometimes epoch milliseconds (as a number or a numeric string).
WireTime = str | int | float | None
# Counts and flags are often strings ("threadCount": "1", "isDefault": "true").
WireCount = int | str | None
WireBool = bool | str | None


def to_id(value: WireId | None) -> str | None:
    """An id as the string Zoho means, whatever JSON type it arrived as."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def to_bool(value: WireBool, default: bool = False) -> bool:
    """A flag that may arrive as a JSON boolean or as ``"true"``/``"false"``."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return value.strip().lower() in ("true", "1", "yes")


def to_count(value: WireCount) -> int | None:
    """A count that may arrive as a number or a numeric string."""
    if value is None:
        return None
    if isinstance(value, int):
        return value
    try:
        return int(value.strip())
    except ValueError:
        return None


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Below this an epoch number is in seconds (1e11 s is the year 5138; 1e11 ms is 1973).
_MS_THRESHOLD = 100_000_000_000


def parse_time(value: WireTime) -> datetime | None:
    """An aware UTC datetime from an ISO string or epoch milliseconds; None if unreadable.

    Unreadable times are dropped rather than failing a whole response: a ticket that was
    created must never be reported as an error because of its timestamp's format.
    """
    if value is None or isinstance(value, bool):
        return None
    number: float | None = None
    if isinstance(value, int | float):
        number = float(value)
    else:
        text = value.strip()
        if not text:
            return None
        if text.lstrip("-").isdigit():
            number = float(text)
        else:
            try:
                parsed = datetime.fromisoformat(text)
            except ValueError:
                return None
            return utc(parsed)
    seconds = number / 1000 if abs(number) >= _MS_THRESHOLD else number
    try:
        return _EPOCH + timedelta(seconds=seconds)
    except OverflowError:
        return None


def format_time(value: datetime) -> str:
    """A datetime as Zoho writes them: ``2022-09-23T08:59:08.000Z``."""
    value = utc(value)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


# ---------------------------------------------------------------- OAuth


class TokenResponse(msgspec.Struct, kw_only=True):
    """The token endpoint's answer: tokens, or an ``error`` (whatever the HTTP status)."""

    access_token: str | None = None
    refresh_token: str | None = None
    api_domain: str | None = None
    token_type: str | None = None
    expires_in: int | float | str | None = None
    expires_in_sec: int | float | str | None = None
    scope: str | None = None
    error: str | None = None
    error_description: str | None = None
    status: str | None = None


def _seconds(value: int | float | str | None) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def token_lifetime(body: TokenResponse, default: float = 3600.0) -> float:
    """Seconds the access token lives: ``expires_in_sec`` if given, else ``expires_in``
    (which some responses give in milliseconds: above a day it is taken as ms)."""
    seconds = _seconds(body.expires_in_sec)
    if seconds is not None and seconds > 0:
        return seconds
    value = _seconds(body.expires_in)
    if value is None or value <= 0:
        return default
    return value / 1000 if value > 86400 else value


# ---------------------------------------------------------------- Desk errors


class ErrorItem(msgspec.Struct, kw_only=True, rename="camel"):
    """One field error in a validation failure."""

    field_name: str | None = None
    error_type: str | None = None
    error_message: str | None = None


class ErrorBody(msgspec.Struct, kw_only=True, rename="camel"):
    """``{"errorCode", "message", "errors": [...]}``."""

    error_code: str | None = None
    message: str | None = None
    errors: list[ErrorItem] | None = None

    def first_field(self) -> str | None:
        """The first offending field, without Zoho's JSON-pointer slash (``/contactId``)."""
        for item in self.errors or ():
            if item.field_name:
                name = item.field_name.lstrip("/").strip()
                if name:
                    return name
        return None


def decode_error(content: bytes) -> ErrorBody:
    """The error body, or an empty one when the body is not Zoho's JSON (an HTML 502 page)."""
    if not content.strip():
        return ErrorBody()
    try:
        return msgspec.json.decode(content, type=ErrorBody)
    except msgspec.DecodeError:
        return ErrorBody()


# ---------------------------------------------------------------- Desk entities


class Envelope(msgspec.Struct, Generic[T], kw_only=True):
    """Lists ``{"data": [...]}`` and searches ``{"data": [...], "count": N}``."""

    data: list[T] | None = None
    count: WireCount = None

    def items(self) -> list[T]:
        """The entries, empty when ``data`` is missing or null."""
        return list(self.data or ())


class WireContactRef(msgspec.Struct, kw_only=True, rename="camel"):
    """The contact embedded in a ticket."""

    id: WireId | None = None


class WireContact(msgspec.Struct, kw_only=True, rename="camel"):
    """A Desk contact."""

    id: WireId
    last_name: str | None = None
    first_name: str | None = None
    email: str | None = None
    phone: str | None = None
    mobile: str | None = None
    created_time: WireTime = None

    def to_domain(self) -> Contact:
        """The domain contact."""
        return Contact(
            id=str(to_id(self.id)),
            last_name=self.last_name or "",
            first_name=self.first_name or None,
            email=self.email or None,
            phone=self.phone or None,
            mobile=self.mobile or None,
            created_time=parse_time(self.created_time),
        )


class WireTicket(msgspec.Struct, kw_only=True, rename="camel"):
    """A Desk ticket (only the fields this service reads)."""

    id: WireId
    ticket_number: WireId | None = None
    subject: str | None = None
    contact_id: WireId | None = None
    contact: WireContactRef | None = None
    department_id: WireId | None = None
    web_url: str | None = None
    created_time: WireTime = None
    priority: str | None = None
    status: str | None = None
    description: str | None = None
    cf: dict[str, Any] | None = None

    def to_domain(self) -> Ticket:
        """The domain ticket."""
        contact_id = to_id(self.contact_id)
        if contact_id is None and self.contact is not None:
            contact_id = to_id(self.contact.id)
        return Ticket(
            id=str(to_id(self.id)),
            ticket_number=to_id(self.ticket_number) or "",
            contact_id=contact_id,
            subject=self.subject or "",
            web_url=self.web_url or None,
            created_time=parse_time(self.created_time),
            department_id=to_id(self.department_id),
            priority=self.priority,
            status=self.status,
        )

    def custom_field(self, name: str) -> str | None:
        """A custom field's value as text; None when absent."""
        if not self.cf or self.cf.get(name) is None:
            return None
        return str(self.cf[name])


class WireFieldValue(msgspec.Struct, kw_only=True):
    """One allowed value of a picklist field, as ``organizationFields`` describes it."""

    value: str | None = None


class WireField(msgspec.Struct, kw_only=True, rename="camel"):
    """A ticket field (``GET /organizationFields?module=tickets``); picklists carry their
    ``allowedValues`` (objects with a ``value`` in Zoho's description, plain strings in some
    answers: both are read)."""

    api_name: str | None = None
    type: str | None = None
    allowed_values: list[str | WireFieldValue] | None = None

    def values(self) -> frozenset[str]:
        found = (v if isinstance(v, str) else v.value for v in self.allowed_values or ())
        return frozenset(v for v in found if v)


class WireDepartment(msgspec.Struct, kw_only=True, rename="camel"):
    """A Desk department."""

    id: WireId
    name: str | None = None
    name_in_customer_portal: str | None = None
    is_enabled: WireBool = None
    is_default: WireBool = None
    description: str | None = None
    created_time: WireTime = None

    def to_domain(self) -> Department:
        """The domain department."""
        return Department(
            id=str(to_id(self.id)),
            name=self.name or self.name_in_customer_portal or "",
            is_enabled=to_bool(self.is_enabled, default=True),
            is_default=to_bool(self.is_default),
        )


class WireOrganization(msgspec.Struct, kw_only=True, rename="camel"):
    """A Desk organization (portal)."""

    id: WireId
    company_name: str | None = None
    organization_name: str | None = None
    portal_name: str | None = None
    is_default: WireBool = None
    edition: str | None = None

    def to_domain(self) -> Organization:
        """The domain organization."""
        return Organization(
            id=str(to_id(self.id)),
            name=self.company_name or self.organization_name or self.portal_name or "",
            is_default=to_bool(self.is_default),
            edition=self.edition,
        )


class WireMyInfo(msgspec.Struct, kw_only=True, rename="camel"):
    """``GET /myinfo``: the agent behind the token (shape partly unconfirmed)."""

    id: WireId
    first_name: str | None = None
    last_name: str | None = None
    name: str | None = None
    email_id: str | None = None
    email: str | None = None

    def to_domain(self) -> Agent:
        """The domain agent."""
        parts = [p for p in (self.first_name, self.last_name) if p]
        return Agent(
            id=str(to_id(self.id)),
            name=" ".join(parts) or self.name or "",
            email=self.email_id or self.email,
        )


# ---------------------------------------------------------------- request bodies

# Zoho's limits on names (zohodesk-oas v1.0): POST /contacts takes a firstName of 40 and a
# lastName of 200 (Contact.json commonJson); the inline contact of POST /tickets a firstName
# of 100 and a lastName of 200 (Ticket.json createTicketRequest.contact).
CONTACT_FIRST_NAME: Final = 40
CONTACT_LAST_NAME: Final = 200
INLINE_FIRST_NAME: Final = 100
INLINE_LAST_NAME: Final = 200
# A ticket custom field's value (Ticket.json commonJson.cf) is at most 255 characters.
CF_VALUE_MAX: Final = 255
# Characters an idempotency key keeps in the custom field; every other one is escaped.
_CF_SAFE: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./")


def _fit(name: str | None, limit: int) -> str | None:
    """A name within ``limit`` characters: cut after its last word that fits, else between
    graphemes (never inside an accented letter or an emoji sequence)."""
    if not name:
        return None
    cut = cut_graphemes(name, limit)
    if len(cut) < len(name) and not name[len(cut)].isspace() and " " in cut.strip():
        cut = cut[: cut.rstrip().rfind(" ")]  # not inside a word
    return cut.rstrip() or None


def full_name(contact: NewContact) -> str:
    """The contact's whole name, first name first."""
    return " ".join(p for p in (contact.first_name, contact.last_name) if p)


def _names(contact: NewContact, first_limit: int, last_limit: int) -> tuple[str | None, str, bool]:
    """(first name, last name, whether either was cut) within Zoho's limits."""
    first = _fit(contact.first_name, first_limit)
    last = _fit(contact.last_name, last_limit) or cut_graphemes(contact.last_name, last_limit)
    last = last or contact.last_name[:last_limit]  # a first grapheme longer than the limit
    cut = (first or None) != (contact.first_name or None) or last != contact.last_name
    return first, last, cut


def contact_body(contact: NewContact) -> dict[str, Any]:
    """The JSON for ``POST /contacts``; absent fields are left out, not sent as null.

    Names longer than Zoho's limits are cut to them, and the whole name goes in the
    contact's ``description`` so that nothing is lost.
    """
    first, last, cut = _names(contact, CONTACT_FIRST_NAME, CONTACT_LAST_NAME)
    body: dict[str, Any] = {"lastName": last}
    if first:
        body["firstName"] = first
    if contact.email:
        body["email"] = contact.email
    if contact.phone:
        body["phone"] = contact.phone
    if contact.mobile:
        body["mobile"] = contact.mobile
    if cut:
        body["description"] = f"Full name: {full_name(contact)}"
    return body


def inline_contact_body(contact: NewContact) -> tuple[dict[str, Any], bool]:
    """The inline ``contact`` of ``POST /tickets`` and whether a name had to be cut.

    Zoho allows only ``lastName``, ``firstName`` and ``email`` there (``additionalProperties:
    false``): the customer's phone goes on the ticket's own ``phone``.
    """
    first, last, cut = _names(contact, INLINE_FIRST_NAME, INLINE_LAST_NAME)
    body: dict[str, Any] = {"lastName": last}
    if first:
        body["firstName"] = first
    if contact.email:
        body["email"] = contact.email
    return body, cut


def custom_field_value(key: str) -> str:
    """An idempotency key as written to (and searched in) the ticket's custom field.

    ``customField1=cf_name:value`` is ambiguous when the value holds a ``:`` (Zoho's API-name
    pattern admits ``:``), ``*`` is a search wildcard and Zoho's value pattern refuses
    characters such as ``#`` or ``%``. So every character but ASCII letters, digits and
    ``_ - . /`` is written as ``!`` and two upper-case hex digits per UTF-8 byte (``:`` is
    ``!3A``, ``!`` itself ``!21``): one key, one value, and no two keys share one. A value
    longer than Zoho's 255 characters keeps its first 200 and ends with ``!h`` and 32 hex
    digits of the key's SHA-256.
    """
    encoded = "".join(
        ch if ch in _CF_SAFE else "".join(f"!{b:02X}" for b in ch.encode()) for ch in key
    )
    if len(encoded) <= CF_VALUE_MAX:
        return encoded
    return encoded[:200] + "!h" + hashlib.sha256(key.encode()).hexdigest()[:32]


def name_kept_whole(name: str | None, contact: NewContact | None) -> bool:
    """Whether the contact Zoho holds for this ticket carries the customer's whole name: the
    inline ``contact`` as sent, else a contact as ``POST /contacts`` makes it from the name
    (the stricter limits). False when words of emoji or symbols were left out, or a name was
    cut to Zoho's limits; then the ticket keeps the whole name."""
    if not name or not name.strip():
        return True
    if contact is not None:
        first, last, _ = _names(contact, INLINE_FIRST_NAME, INLINE_LAST_NAME)
    else:
        try:
            split_first, split_last = split_name(name)
        except ValueError:  # no word names anyone: the contact is named by its email or phone
            return False
        named = NewContact(last_name=split_last, first_name=split_first)
        first, last, _ = _names(named, CONTACT_FIRST_NAME, CONTACT_LAST_NAME)
    held = " ".join(p for p in (first, last) if p)
    return held == " ".join(name.split())


def ticket_body(request: TicketRequest, *, idempotency_field: str | None) -> dict[str, Any]:
    """The JSON for ``POST /tickets``; the idempotency key goes in the custom field if set,
    and its reference line ends the description in any case.

    The contact is ``contactId``, or an inline ``contact`` object (``lastName`` and ``email``
    at least) that Zoho matches by email or creates with the ticket. When the contact's name
    cannot hold the customer's whole name (cut to Zoho's limits, words of emoji left out),
    the description keeps it on a ``Customer: …`` line just before the reference line.
    """
    whole = request.customer_name
    if whole is None and request.contact is not None:
        whole = full_name(request.contact)  # a request made before customer_name was carried
    customer = None if name_kept_whole(whole, request.contact) else whole
    body: dict[str, Any] = {
        "subject": request.subject,
        "departmentId": request.department_id,
        "description": referenced_description(
            request.description, request.idempotency_key, customer=customer
        ),
    }
    if request.contact_id:
        body["contactId"] = request.contact_id
    elif request.contact is not None:
        body["contact"], _ = inline_contact_body(request.contact)
    optional = {
        "priority": request.priority.value if request.priority is not None else None,
        "channel": request.channel,
        "category": request.category,
        "email": request.email,
        "phone": request.phone,
    }
    body.update({name: value for name, value in optional.items() if value})
    if idempotency_field and request.idempotency_key:
        body["cf"] = {idempotency_field: custom_field_value(request.idempotency_key)}
    return body
