"""Turning what arrives (HTTP fields, classifier incidents) into validated ticket drafts."""

from __future__ import annotations

import hashlib
import re
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime

from ticketing.domain.contacts import normalize_email, normalize_phone
from ticketing.domain.errors import PayloadTooLarge, ValidationError
from ticketing.domain.model import (
    MAX_CUSTOMER_DESCRIPTION,
    Customer,
    Priority,
    Source,
    TicketDraft,
)
from ticketing.domain.priority import classifier_priority, parse_priority

# Zoho Desk's own limits where known; generous but bounded elsewhere.
MAX_SUBJECT = 255
# The description Zoho gets ends with the ticket's reference line: the customer's text is
# refused (never cut) when the two would not fit the description limit together.
MAX_DESCRIPTION = MAX_CUSTOMER_DESCRIPTION
MAX_NAME = 100
MAX_CATEGORY = 100
MAX_CHANNEL = 50
MAX_KEY = 200
_KEY = re.compile(r"^[A-Za-z0-9._:\-]+$")
# HTTP keys live in their API client's namespace, ``api/<client>/<key>``: ``/`` is outside the
# key syntax, so no caller can name another client's key or an incident's (a bare incident id).
_SCOPE = "api/"
ANONYMOUS_CLIENT = "anonymous"  # every caller while API_KEYS is unset


@dataclass(frozen=True, slots=True)
class IntakePolicy:
    """The defaults and thresholds intake applies."""

    default_priority: Priority = Priority.MEDIUM
    low_confidence_threshold: float = 0.5
    low_confidence_priority: Priority = Priority.MEDIUM
    default_channel: str = "Web"


def new_request_id() -> str:
    """A fresh request id (also the idempotency key when the caller gave none)."""
    return f"req_{uuid.uuid4().hex}"


def _clean(value: str | None, field: str, limit: int, *, required: bool = False) -> str | None:
    if value is None:
        if required:
            raise ValidationError(field, "is required")
        return None
    text = "".join(
        ch for ch in str(value) if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cs")
    ).strip()
    if not text:
        if required:
            raise ValidationError(field, "must not be empty")
        return None
    if len(text) > limit:
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


def customer(
    name: str | None, email: str | None, phone: str | None, *, prefix: str = "customer_"
) -> Customer:
    """A customer with a normalized email and/or phone; one of the two is required."""
    clean_email = _clean(email, f"{prefix}email", 254)
    clean_phone = _clean(phone, f"{prefix}phone", 40)
    if not clean_email and not clean_phone:
        raise ValidationError(f"{prefix}email", "an email or a phone number is required")
    return Customer(
        name=_clean(name, f"{prefix}name", MAX_NAME),
        email=normalize_email(clean_email, field=f"{prefix}email") if clean_email else None,
        phone=normalize_phone(clean_phone, field=f"{prefix}phone") if clean_phone else None,
    )


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
) -> TicketDraft:
    """A draft from the HTTP API's fields. Strict: an unknown priority is an error.

    ``request_id`` is the HTTP request's id (possibly the caller's ``X-Request-ID``), so the
    ticket's log lines carry it everywhere; it never becomes the idempotency key, because a
    caller may reuse it for different tickets. ``client`` (see :func:`api_client`) is the
    namespace the key lives in; the HTTP API always gives one. None takes the key as it is,
    for in-process callers that own every key (tests, benchmarks).
    """
    return _person_ticket(
        who=customer(customer_name, customer_email, customer_phone),
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
) -> TicketDraft:
    """The strict rules people's tickets share (HTTP and CLI): subject and description
    required, a known priority word, a checked idempotency key in the client's namespace."""
    key_default = new_request_id()
    own_key = idempotency_key(key) or key_default
    return TicketDraft(
        key=own_key if client is None else scoped_key(client, own_key),
        request_id=request_id or key_default,
        subject=_clean(subject, "subject", MAX_SUBJECT, required=True) or "",
        description=_clean(description, "description", MAX_DESCRIPTION, required=True) or "",
        priority=parse_priority(priority, default=policy.default_priority),
        customer=who,
        source=source,
        received_at=received_at,
        category=_clean(category, "category", MAX_CATEGORY),
        channel=_clean(channel, "channel", MAX_CHANNEL) or policy.default_channel,
        contact_id=contact_id,
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
    confidence: float | None,
    channel: str | None,
    received_at: datetime,
    policy: IntakePolicy,
) -> TicketDraft:
    """A draft from a classifier incident. Tolerant of the label, strict on identity."""
    key = idempotency_key(incident_id, field="incident_id")
    if key is None:
        raise ValidationError("incident_id", "is required")
    text = _clean(description, "description", MAX_DESCRIPTION, required=True) or ""
    clean_category = _clean(category, "category", MAX_CATEGORY)
    return TicketDraft(
        key=key,
        request_id=new_request_id(),
        subject=_clean(subject, "subject", MAX_SUBJECT) or derive_subject(clean_category, text),
        description=text,
        priority=classifier_priority(
            priority,
            confidence,
            min_confidence=policy.low_confidence_threshold,
            low_confidence_default=policy.low_confidence_priority,
            default=policy.default_priority,
        ),
        customer=customer(customer_name, customer_email, customer_phone, prefix="customer."),
        source=Source.REDIS,
        received_at=received_at,
        category=clean_category,
        channel=_clean(channel, "channel", MAX_CHANNEL) or "WhatsApp",
        incident_id=key,
    )
