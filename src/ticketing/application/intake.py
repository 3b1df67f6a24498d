"""Turning what arrives (HTTP fields, classifier incidents) into validated ticket drafts."""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Generic, TypeVar

import phonenumbers

from ticketing.domain.attachments import (
    ZOHO_MAX_BYTES,
    AttachmentSpec,
    attachment_name,
    unique_names,
)
from ticketing.domain.contacts import normalize_email, normalize_phone
from ticketing.domain.errors import PayloadTooLarge, ValidationError
from ticketing.domain.model import (
    MAX_CUSTOMER_DESCRIPTION,
    MAX_CUSTOMER_NAME,
    Customer,
    Priority,
    Source,
    TicketDraft,
)
from ticketing.domain.priority import classifier_priority, parse_priority
from ticketing.domain.text import cut_graphemes, has_visible, strip_invisible, without_bidi

# Zoho Desk's own limits where known; generous but bounded elsewhere.
MAX_SUBJECT = 255
# The description Zoho gets ends with the ticket's reference line (and the customer line when
# the contact cannot hold the whole name): the customer's text is refused (never cut) when
# they would not fit the description limit together.
MAX_DESCRIPTION = MAX_CUSTOMER_DESCRIPTION
MAX_NAME = MAX_CUSTOMER_NAME
MAX_CATEGORY = 100
MAX_CHANNEL = 50
MAX_EMAIL = 254
MAX_PHONE = 40
MAX_KEY = 200
_QUOTED = 200  # longest value quoted in a note about a dropped field
_KEY = re.compile(r"^[A-Za-z0-9._:\-]+$")
# HTTP keys live in their API client's namespace, ``api/<client>/<key>``: ``/`` is outside the
# key syntax, so no caller can name another client's key or an incident's (a bare incident id).
_SCOPE = "api/"
ANONYMOUS_CLIENT = "anonymous"  # every caller while API_KEYS is unset

log = logging.getLogger(__name__)
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class IntakePolicy:
    """The defaults and thresholds intake applies."""

    default_priority: Priority = Priority.MEDIUM
    low_confidence_threshold: float = 0.5
    low_confidence_priority: Priority = Priority.MEDIUM
    default_channel: str = "Web"
    default_phone_country: str | None = None  # DEFAULT_PHONE_COUNTRY


def new_request_id() -> str:
    """A fresh request id (also the idempotency key when the caller gave none)."""
    return f"req_{uuid.uuid4().hex}"


def _clean(
    value: str | None,
    field: str,
    limit: int | None,
    *,
    required: bool = False,
    keep_bidi: bool = True,
) -> str | None:
    """Text as intake keeps it: without control characters, without invisible ends, and
    None when nothing in it shows (only spaces, zero-width characters, a BOM, other format
    characters): such text is missing. ``keep_bidi`` False removes bidirectional controls too
    (for names and subjects, which they can make render as something else)."""
    if value is None:
        if required:
            raise ValidationError(field, "is required")
        return None
    text = "".join(
        ch for ch in str(value) if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cs")
    )
    if not keep_bidi:
        text = without_bidi(text)
    text = strip_invisible(text)
    if not has_visible(text):
        if required:
            blank = not str(value).strip()
            raise ValidationError(
                field, "must not be empty" if blank else "is required: no character in it shows"
            )
        return None
    if limit is not None and len(text) > limit:
        raise PayloadTooLarge(field, f"is {len(text)} characters long; the limit is {limit}")
    return text


def idempotency_key(value: str | None, *, field: str = "Idempotency-Key") -> str | None:
    """Check a caller-supplied idempotency key."""
    if value is None or not value.strip():
        return None
    key = value.strip()
    if len(key) > MAX_KEY or not _KEY.match(key):
        raise ValidationError(
            field, f"use up to {MAX_KEY} letters, digits and . _ : - (got {key[:40]!r})"
        )
    return key


_TICKET_ID = re.compile(r"^[0-9]{1,30}$")


def follow_up_ticket(value: str | int | None) -> str | None:
    """Check the ticket an incident names (a Zoho ticket id: digits, as text or a number)."""
    if value is None or isinstance(value, bool):
        return None
    text = str(value).strip()
    if not text:
        return None
    if not _TICKET_ID.match(text):
        raise ValidationError("ticket_id", f"must be a Zoho ticket id, digits (got {text[:40]!r})")
    return text


# At most this many files per request; more are dropped with a note on the ticket.
MAX_ATTACHMENTS: Final = 10
MAX_ATTACHMENT_URL: Final = 2048
_MAX_CONTENT_TYPE = 100


@dataclass(frozen=True, slots=True)
class IncomingFile:
    """A file as a request gives it: a ``url`` the service fetches, or ``data`` (base64)."""

    url: str | None = None
    filename: str | None = None
    content_type: str | None = None
    size: int | str | None = None
    data: str | None = None


def inline_bytes(data: str) -> bytes:
    """The bytes of base64 ``data`` (standard or URL-safe alphabet, padding optional).

    Raises:
        ValueError: not base64.
    """
    text = "".join(data.split())
    text += "=" * (-len(text) % 4)
    alphabet = text.replace("-", "+").replace("_", "/")
    return base64.b64decode(alphabet, validate=True)


def blob_id(key: str, index: int) -> str:
    """Where the bytes of a request's file ``index`` are staged."""
    return f"{key}#{index}"


@dataclass(frozen=True, slots=True)
class UploadedFile:
    """A file a request carried in its body (a multipart ``file`` part), already read aside
    by the caller: its name and type as the part gave them, and its size in bytes."""

    filename: str | None
    content_type: str | None
    size: int


@dataclass(frozen=True, slots=True)
class _Kept(Generic[_T]):
    """A file intake keeps: its name (fit, not yet unique), type, size, URL, and what the
    caller stages for it (None: nothing, it is fetched from ``url``)."""

    name: str
    content_type: str | None
    size: int | None
    url: str | None
    staged: _T | None


def _content_type(value: str | None) -> str | None:
    return (value or "").strip()[:_MAX_CONTENT_TYPE] or None


def _specs(
    kept: Sequence[_Kept[_T]], key: str, staged: dict[str, _T] | None
) -> tuple[AttachmentSpec, ...]:
    """The kept files as accepted: named uniquely among them, the staged ones under
    ``blob_id(key, n)`` (n their place among the kept), what to stage put in ``staged``."""
    names = unique_names([k.name for k in kept])
    specs: list[AttachmentSpec] = []
    for i, k in enumerate(kept):
        blob = blob_id(key, i) if k.staged is not None else None
        if blob is not None and staged is not None and k.staged is not None:
            staged[blob] = k.staged
        specs.append(
            AttachmentSpec(names[i], content_type=k.content_type, size=k.size, url=k.url, blob=blob)
        )
    return tuple(specs)


def _too_many(kept: Sequence[object], label: str, notes: Notes) -> bool:
    """Whether the request has its ``MAX_ATTACHMENTS`` files already (this one dropped)."""
    if len(kept) < MAX_ATTACHMENTS:
        return False
    notes.drop("attachment", label, f"more than {MAX_ATTACHMENTS} files in one message")
    return True


def attachment_specs(
    files: Sequence[IncomingFile],
    key: str,
    notes: Notes,
    *,
    max_bytes: int,
    staged: dict[str, bytes] | None = None,
) -> tuple[AttachmentSpec, ...]:
    """The request's files as accepted: each a URL to fetch or bytes to stage (under
    ``blob_id(key, n)``, n its place here), named fit for the helpdesk and uniquely. A file
    that cannot be read (neither or both of url and data, not base64, a URL that is not
    http(s), over ``max_bytes``, past the tenth) is dropped with a note on the ticket: the
    ticket never fails for a file. The bytes of inline files go into ``staged`` (blob id →
    bytes), for the caller to stage before the request is accepted."""
    kept: list[_Kept[bytes]] = []
    for n, f in enumerate(files):
        label = f.filename or f.url or f"#{n + 1}"
        if _too_many(kept, label, notes):
            continue
        if bool(f.url) == bool(f.data):
            notes.drop("attachment", label, "give either a url or base64 data")
            continue
        size: int | None = None
        content: bytes | None = None
        if f.url:
            url = f.url.strip()
            if len(url) > MAX_ATTACHMENT_URL or not url.lower().startswith(("https://", "http://")):
                notes.drop("attachment", label, "the url must be http(s), at most 2048 characters")
                continue
        else:
            try:
                content = inline_bytes(f.data or "")
            except ValueError:
                notes.drop("attachment", label, "its data is not base64")
                continue
            size = len(content)
            if size > max_bytes:
                notes.drop("attachment", label, f"larger than {max_bytes} bytes")
                continue
        if size is None and f.size is not None and str(f.size).strip().isdigit():
            size = int(str(f.size).strip())
        name = attachment_name(f.filename or (f.url or "").split("?")[0].rstrip("/"))
        link = f.url.strip() if f.url else None
        kept.append(_Kept(name, _content_type(f.content_type), size, link, content))
    return _specs(kept, key, staged)


def uploaded_specs(
    files: Sequence[UploadedFile],
    key: str,
    notes: Notes,
    *,
    staged: dict[str, int] | None = None,
) -> tuple[AttachmentSpec, ...]:
    """The files a request carried (multipart parts) as accepted, by the rules of
    :func:`attachment_specs`: named fit and uniquely, each staged under ``blob_id(key, n)``,
    past the tenth dropped with a note. ``staged`` gets blob id → the file's index in
    ``files``, for the caller to stage those of its bytes before the request is accepted.
    The caller refuses a file over the size limit itself, before reading it whole."""
    kept: list[_Kept[int]] = []
    for n, f in enumerate(files):
        if _too_many(kept, f.filename or f"#{n + 1}", notes):
            continue
        kept.append(
            _Kept(attachment_name(f.filename), _content_type(f.content_type), f.size, None, n)
        )
    return _specs(kept, key, staged)


def api_client(api_key: str | None) -> str:
    """The namespace of an API key's callers: a short stable digest, never the key itself."""
    if not api_key:
        return ANONYMOUS_CLIENT
    return hashlib.sha256(b"ticketing api client\0" + api_key.encode()).hexdigest()[:12]


def scoped_key(client: str, key: str) -> str:
    """The ledger key of an HTTP caller's key: in its client's namespace."""
    return f"{_SCOPE}{client}/{key}"


def caller_key(key: str) -> str:
    """The key as its caller wrote it (the ledger key without its client's namespace)."""
    if key.startswith(_SCOPE):
        return key.split("/", 2)[-1]
    return key


def phone_country(value: str) -> str:
    """Check ``DEFAULT_PHONE_COUNTRY``: an ISO 3166 alpha-2 code with a phone numbering plan."""
    code = value.strip().upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"expected a country's two-letter ISO code such as MX, got {value!r}")
    return code


def customer_phone(value: str, *, field: str, country: str | None) -> str:
    """A customer's phone in E.164 form (the contact cache keys on it).

    With a country code (``+`` or ``00`` first) it is reduced by ``normalize_phone`` as
    always. Without one it is a national number: refused unless ``country``
    (``DEFAULT_PHONE_COUNTRY``) says whose, then read with that country's rules (trunk
    prefixes such as the UK's ``0``; Mexico's old mobile ``1`` is dropped by
    ``normalize_phone``) and checked against its numbering plan.
    """
    raw = value.strip()
    if raw.startswith("+") or re.sub(r"[\s().\-]", "", raw).startswith("00"):
        return normalize_phone(raw, field=field)
    if country is None:
        raise ValidationError(
            field,
            f"{raw[:40]!r} has no country code: write it with + and the country code "
            "(e.g. +52 55 1234 5678), or set DEFAULT_PHONE_COUNTRY",
        )
    normalize_phone(raw, field=field)  # the same characters and lengths as any number
    try:
        number = phonenumbers.parse(raw, country)
    except phonenumbers.NumberParseException:
        number = None
    e164 = (
        ""
        if number is None
        else normalize_phone(
            phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), field=field
        )
    )
    if not e164 or not phonenumbers.is_possible_number(phonenumbers.parse(e164)):
        raise ValidationError(
            field,
            f"{raw[:40]!r} is not a phone number of {country} (DEFAULT_PHONE_COUNTRY); "
            "write it with + and the country code",
        )
    return e164


class Notes:
    """What intake kept in the description or dropped, to put on the ticket and log."""

    def __init__(self) -> None:
        self.kept: list[str] = []  # the whole value of a field that was cut
        self.dropped: list[str] = []  # an optional field that was dropped, and why

    def keep(self, label: str, whole: str) -> None:
        self.kept.append(f"[{label}, whole: {whole}]")

    def drop(self, field: str, value: object, why: str) -> None:
        self.dropped.append(f"[{field} {str(value)[:_QUOTED]!r} dropped: {why}]")

    def describe(self, text: str, key: str) -> str:
        """The description: the notes, a blank line, then the customer's text whole."""
        for line in self.dropped:
            log.warning("intake of %s: %s", key, line.strip("[]"))
        if not self.kept and not self.dropped:
            return text
        description = "\n".join(self.kept + self.dropped) + "\n\n" + text
        if len(description) > MAX_DESCRIPTION:
            raise PayloadTooLarge(
                "description",
                f"with the whole subject and name it is {len(description)} characters long; "
                f"the limit is {MAX_DESCRIPTION}",
            )
        return description


def _cut(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters at a word boundary (else between graphemes, never
    inside one), ending in an ellipsis."""
    if len(text) <= limit:
        return text
    head = cut_graphemes(text, limit - 1)
    space = head.rfind(" ")
    if space > limit // 2:
        head = head[:space]
    return head.rstrip() + "…"


def _fitted(value: str | None, field: str, limit: int, label: str, notes: Notes) -> str | None:
    """A name or subject (bidirectional controls removed) cut to its limit; the whole of it
    kept in the description when cut."""
    text = _clean(value, field, None, keep_bidi=False)
    if text is not None and len(text) > limit:
        notes.keep(label, text)
        return _cut(text, limit)
    return text


def _optional(value: str | None, field: str, limit: int, notes: Notes) -> str | None:
    """An optional picklist-like value: dropped (and noted) when over its limit."""
    text = _clean(value, field, None)
    if text is not None and len(text) > limit:
        notes.drop(field, text, f"{len(text)} characters; the limit is {limit}")
        return None
    return text


def customer(
    name: str | None,
    email: str | None,
    phone: str | None,
    *,
    prefix: str = "customer_",
    notes: Notes | None = None,
    phone_country: str | None = None,
) -> Customer:
    """A customer with a normalized email and/or phone; one of the two must be valid.

    An invalid one beside a valid one is dropped (noted in ``notes``): the valid one
    identifies the customer. A name over its limit is cut, the whole name kept in the notes.
    """
    notes = notes if notes is not None else Notes()
    clean_email = _clean(email, f"{prefix}email", None)
    clean_phone = _clean(phone, f"{prefix}phone", None)
    if not clean_email and not clean_phone:
        raise ValidationError(f"{prefix}email", "an email or a phone number is required")
    valid_email = valid_phone = None
    problems: list[ValidationError] = []
    if clean_email:
        try:
            if len(clean_email) > MAX_EMAIL:
                raise PayloadTooLarge(f"{prefix}email", f"is longer than {MAX_EMAIL} characters")
            valid_email = normalize_email(clean_email, field=f"{prefix}email")
        except ValidationError as exc:
            problems.append(exc)
    if clean_phone:
        try:
            if len(clean_phone) > MAX_PHONE:
                raise PayloadTooLarge(f"{prefix}phone", f"is longer than {MAX_PHONE} characters")
            valid_phone = customer_phone(clean_phone, field=f"{prefix}phone", country=phone_country)
        except ValidationError as exc:
            problems.append(exc)
    if not valid_email and not valid_phone:
        first = problems[0]
        if len(problems) == 1:
            raise first
        raise ValidationError(first.field, f"{first.reason}; and {problems[1]}")
    for problem in problems:
        given = clean_email if problem.field.endswith("email") else clean_phone
        notes.drop(problem.field, given, problem.reason)
    return Customer(
        name=_fitted(name, f"{prefix}name", MAX_NAME, "Customer name", notes),
        email=valid_email,
        phone=valid_phone,
    )


def _priority(value: str | int | None, policy: IntakePolicy, notes: Notes) -> Priority:
    """A priority word; an unknown one gives the default priority, noted on the ticket."""
    try:
        return parse_priority(value, default=policy.default_priority)
    except ValidationError:
        notes.drop("priority", value, "not a known priority word; ignored")
        return policy.default_priority


def confidence_of(value: float | str | None, notes: Notes) -> float | None:
    """The classifier's confidence: a number, or a number written as a string."""
    if value is None or isinstance(value, float | int):
        return value
    try:
        return float(value)
    except ValueError:
        notes.drop("confidence", value, "not a number; ignored")
        return None


def customer_ticket(
    *,
    customer_name: str | None,
    customer_email: str | None,
    customer_phone: str | None,
    subject: str | None,
    description: str | None,
    priority: str | None,
    category: str | None,
    channel: str | None,
    key: str | None,
    received_at: datetime,
    policy: IntakePolicy,
    source: Source = Source.HTTP,
    request_id: str | None = None,
    client: str | None = None,
    uploads: Sequence[UploadedFile] = (),
    staged: dict[str, int] | None = None,
) -> TicketDraft:
    """A draft from the HTTP API's fields (see :func:`_person_ticket` for the rules).

    ``request_id`` is the HTTP request's id (possibly the caller's ``X-Request-ID``), so the
    ticket's log lines carry it everywhere; it never becomes the idempotency key, because a
    caller may reuse it for different tickets. ``client`` (see :func:`api_client`) is the
    namespace the key lives in; the HTTP API always gives one. None takes the key as it is,
    for in-process callers that own every key (tests, benchmarks). ``uploads``: the files
    the request carried (see :func:`uploaded_specs`; ``staged`` gets what to stage).
    """
    notes = Notes()
    return _person_ticket(
        who=customer(
            customer_name,
            customer_email,
            customer_phone,
            notes=notes,
            phone_country=policy.default_phone_country,
        ),
        notes=notes,
        subject=subject,
        description=description,
        priority=priority,
        category=category,
        channel=channel,
        key=key,
        received_at=received_at,
        policy=policy,
        source=source,
        request_id=request_id,
        client=client,
        uploads=uploads,
        staged=staged,
    )


def admin_ticket(
    *,
    contact_id: str | None,
    contact_email: str | None,
    subject: str | None,
    description: str | None,
    priority: str | None,
    category: str | None,
    key: str | None,
    received_at: datetime,
    policy: IntakePolicy,
    request_id: str | None = None,
    client: str | None = None,
) -> TicketDraft:
    """A draft for ``POST /tickets``: under the configured default contact."""
    if not contact_id and not contact_email:
        raise ValidationError(
            "contact", "POST /tickets needs DEFAULT_CONTACT_ID or DEFAULT_CONTACT_EMAIL set"
        )
    return _person_ticket(
        who=Customer(email=normalize_email(contact_email) if contact_email else None),
        notes=Notes(),
        subject=subject,
        description=description,
        priority=priority,
        category=category,
        channel=None,
        key=key,
        received_at=received_at,
        policy=policy,
        source=Source.HTTP,
        request_id=request_id,
        client=client,
        contact_id=contact_id,
    )


def _person_ticket(
    *,
    who: Customer,
    notes: Notes,
    subject: str | None,
    description: str | None,
    priority: str | None,
    category: str | None,
    channel: str | None,
    key: str | None,
    received_at: datetime,
    policy: IntakePolicy,
    source: Source,
    request_id: str | None,
    client: str | None,
    contact_id: str | None = None,
    uploads: Sequence[UploadedFile] = (),
    staged: dict[str, int] | None = None,
) -> TicketDraft:
    """The rules people's tickets share (HTTP and CLI): subject and description required, a
    checked idempotency key in the client's namespace. What is optional or cosmetic never
    refuses the ticket: a subject or name over its limit is cut (kept whole in the
    description), a category or channel over its limit is dropped (noted in the
    description). An unknown priority word is refused, as the contract says."""
    key_default = new_request_id()
    own_key = idempotency_key(key) or key_default
    own_key = own_key if client is None else scoped_key(client, own_key)
    text = _clean(description, "description", MAX_DESCRIPTION, required=True) or ""
    _clean(subject, "subject", None, required=True, keep_bidi=False)  # required; cut below
    subject_text = _fitted(subject, "subject", MAX_SUBJECT, "Subject", notes) or ""
    wanted_priority = parse_priority(priority, default=policy.default_priority)
    clean_category = _optional(category, "category", MAX_CATEGORY, notes)
    clean_channel = _optional(channel, "channel", MAX_CHANNEL, notes) or policy.default_channel
    files = uploaded_specs(uploads, own_key, notes, staged=staged)
    return TicketDraft(
        key=own_key,
        request_id=request_id or key_default,
        subject=subject_text,
        # Strict on HTTP, as the contract says: a priority the caller typed is theirs to fix.
        priority=wanted_priority,
        customer=who,
        source=source,
        received_at=received_at,
        category=clean_category,
        channel=clean_channel,
        contact_id=contact_id,
        description=notes.describe(text, own_key),
        attachments=files,
    )


def derive_subject(category: str | None, description: str) -> str:
    """A subject for an incident that came without one: category and the text's start."""
    first_line = " ".join(description.split())
    head = first_line[:80].rstrip()
    if len(first_line) > 80:
        head += "…"
    label = (category or "").strip().replace("_", " ").capitalize()
    subject = f"{label}: {head}" if label else head
    return subject[:MAX_SUBJECT]


def incident_ticket(
    *,
    incident_id: str,
    customer_name: str | None,
    customer_email: str | None,
    customer_phone: str | None,
    subject: str | None,
    description: str,
    category: str | None,
    priority: str | int | None,
    confidence: float | str | None,
    channel: str | None,
    received_at: datetime,
    policy: IntakePolicy,
    ticket_id: str | int | None = None,
    conversation_id: str | None = None,
    attachments: Sequence[IncomingFile] = (),
    max_attachment_bytes: int = ZOHO_MAX_BYTES,
    staged: dict[str, bytes] | None = None,
) -> TicketDraft:
    """A draft from a classifier incident: the same rules as a person's ticket (one intake),
    with a subject derived when there is none, and a classifier's unsure label tolerated."""
    key = idempotency_key(incident_id, field="incident_id")
    if key is None:
        raise ValidationError("incident_id", "is required")
    text = _clean(description, "description", MAX_DESCRIPTION, required=True) or ""
    notes = Notes()
    who = customer(
        customer_name,
        customer_email,
        customer_phone,
        prefix="customer.",
        notes=notes,
        phone_country=policy.default_phone_country,
    )
    clean_category = _optional(category, "category", MAX_CATEGORY, notes)
    subject_text = _fitted(subject, "subject", MAX_SUBJECT, "Subject", notes)
    trusted = confidence_of(confidence, notes)
    _priority(priority, policy, notes)  # an unknown word is noted; the classifier's rule decides
    files = attachment_specs(attachments, key, notes, max_bytes=max_attachment_bytes, staged=staged)
    return TicketDraft(
        key=key,
        request_id=new_request_id(),
        subject=subject_text or derive_subject(clean_category, text),
        priority=classifier_priority(
            priority,
            trusted,
            min_confidence=policy.low_confidence_threshold,
            low_confidence_default=policy.low_confidence_priority,
            default=policy.default_priority,
        ),
        customer=who,
        source=Source.REDIS,
        received_at=received_at,
        category=clean_category,
        channel=_optional(channel, "channel", MAX_CHANNEL, notes) or "WhatsApp",
        incident_id=key,
        description=notes.describe(text, key),
        ticket_id=follow_up_ticket(ticket_id),
        conversation_id=idempotency_key(conversation_id, field="conversation_id"),
        attachments=files,
    )
