"""Contact resolution: normalizing identities, matching helpdesk contacts, naming new ones."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime

from ticketing.domain.errors import ValidationError
from ticketing.domain.model import Contact, Customer, NewContact

# Pragmatic address check: one @, a dot in the domain, no spaces or control characters.
# ASCII only on purpose: Zoho and most mail routes refuse internationalized addresses.
_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL = re.compile(rf"{_LOCAL}@{_LABEL}(?:\.{_LABEL})+")
# Digits, a "+", and the separators people type or paste (space, no-break spaces, tab, - . / ()).
# Not \s: it also admits control characters such as \x1c-\x1f and \x85.
_PHONE_CHARS = re.compile(r"[0-9+()\-./ \t\u00a0\u2009\u202f]+")
MAX_EMAIL = 254
MAX_NAME = 80


def normalize_email(value: str, *, field: str = "customer_email") -> str:
    """Trim and lower-case an email address; raise ValidationError if it is not one."""
    email = value.strip().lower()
    if len(email) > MAX_EMAIL:
        raise ValidationError(field, f"email longer than {MAX_EMAIL} characters")
    local, _, _domain = email.partition("@")
    # fullmatch, not match with "$": "$" also matches before a trailing newline.
    if not _EMAIL.fullmatch(email) or len(local) > 64:
        raise ValidationError(field, f"not a valid email address: {value[:60]!r}")
    return email


def normalize_phone(value: str, *, field: str = "customer_phone") -> str:
    """Reduce a phone number to E.164 form (``+`` and 8 to 15 digits).

    Separators (spaces, dashes, dots, parentheses) are dropped, a leading ``00`` becomes
    ``+``, and a Mexican mobile's old ``1`` after ``+52`` is dropped. A number without a
    country code is kept as its digits with a ``+`` so that the same number always compares
    equal to itself.
    """
    raw = value.strip()
    if not raw or not _PHONE_CHARS.fullmatch(raw) or "+" in raw[1:]:
        raise ValidationError(field, f"not a valid phone number: {value[:40]!r}")
    digits = re.sub(r"\D", "", raw)
    if not raw.startswith("+") and digits.startswith("00"):
        digits = digits[2:]
    if not 8 <= len(digits) <= 15:
        raise ValidationError(field, f"a phone number needs 8 to 15 digits: {value[:40]!r}")
    if len(digits) == 13 and digits.startswith("521"):
        # Mexico dropped the mobile "1" after +52 in 2019, but WhatsApp still sends it:
        # +52 1 55 1234 5678 and +52 55 1234 5678 are the same line.
        digits = "52" + digits[3:]
    return "+" + digits


def same_phone(a: str | None, b: str | None) -> bool:
    """True when two phone numbers, as Zoho stores them, are the same E.164 number."""
    if not a or not b:
        return False
    try:
        return normalize_phone(a) == normalize_phone(b)
    except ValidationError:
        return False


def matches(contact: Contact, customer: Customer) -> bool:
    """Exact match: same email (case-insensitive) or, for phone-only customers, same phone."""
    if customer.email:
        # Both sides lowered: a customer built without normalize_email must not miss its contact.
        wanted = customer.email.strip().lower()
        return contact.email is not None and contact.email.strip().lower() == wanted
    if customer.phone:
        return same_phone(contact.phone, customer.phone) or same_phone(
            contact.mobile, customer.phone
        )
    return False


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _created_key(contact: Contact) -> tuple[datetime, int, str]:
    created = contact.created_time or _EPOCH
    if created.tzinfo is None:
        # Naive and aware datetimes do not compare; a naive helpdesk time is UTC.
        created = created.replace(tzinfo=UTC)
    # Zoho ids are decimal strings: shorter is smaller, then lexical order.
    return created, len(contact.id), contact.id


def choose_contact(candidates: Iterable[Contact], customer: Customer) -> Contact | None:
    """Pick the contact for a customer among search results, deterministically.

    Zoho's search treats ``*`` as a wildcard and matches loosely, so only exact matches count.
    Among several, the oldest (then the smallest id) wins, so every instance picks the same one.
    """
    exact = [c for c in candidates if matches(c, customer)]
    if not exact:
        return None
    return min(exact, key=_created_key)


def split_name(full_name: str) -> tuple[str | None, str]:
    """Split a full name into (first name, last name); Zoho requires a last name.

    Everything but the last word is the first name: "Ana María López" → ("Ana María", "López").
    """
    words = full_name.split()
    if not words:
        raise ValueError("empty name")
    if len(words) == 1:
        return None, words[0]
    return " ".join(words[:-1]), words[-1]


def new_contact_for(customer: Customer) -> NewContact:
    """What to create for a customer with no contact yet.

    Without a name, the last name is derived from the email's local part or the phone number.
    """
    # Checked first: a name alone would make a contact nobody can ever find again.
    if not customer.email and not customer.phone:
        raise ValidationError("customer", "an email or a phone number is required")
    first: str | None
    if customer.name and customer.name.strip():
        first, last = split_name(customer.name.strip())
    elif customer.email:
        first, last = None, customer.email.split("@", 1)[0]
    else:
        first, last = None, customer.phone or ""
    return NewContact(
        last_name=last[:MAX_NAME],
        first_name=first[:MAX_NAME] if first else None,
        email=customer.email,
        phone=customer.phone,
    )
