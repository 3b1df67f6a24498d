"""Contact resolution: normalizing identities, matching helpdesk contacts, naming new ones."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime

from ticketing.domain.errors import ValidationError
from ticketing.domain.model import Contact, Customer, NewContact
from ticketing.domain.text import without_bidi

# Exactly the addresses Zoho accepts everywhere this service sends one: the pattern of the
# inline ticket contact's email (zohodesk-oas Ticket.json createTicketRequest.contact.email),
# the strictest of Zoho's email patterns (ASCII only, no "!"; Contact.json's also admits
# Unicode letters and "!"). The local part starts with a letter, digit or "_" and goes on with
# letters, digits and _ + - . ' & ~; the domain is labels of letters and digits (joined by - or
# _) and a top-level domain of 2 to 22 letters.
_EMAIL = re.compile(
    r"[a-zA-Z0-9_][a-zA-Z0-9_+\-.'&~]*@(?=.{4,256}$)"
    r"(?:[a-zA-Z0-9]+(?:[\-_]*[a-zA-Z0-9])*\.)+[a-zA-Z]{2,22}"
)
# Digits, a "+", and the separators people type or paste (space, no-break spaces, tab, - . / ()).
# Not \s: it also admits control characters such as \x1c-\x1f and \x85.
_PHONE_CHARS = re.compile(r"[0-9+()\-./ \t\u00a0\u2009\u202f]+")
# The ticket's own ``email`` field (Ticket.json commonKeys.email) takes at most 150.
MAX_EMAIL = 150
# A number written without its country code matches an E.164 number whose digits end with it,
# when what is left is a country code (1 to 3 digits) and the number keeps 8 digits or more.
_MIN_NATIONAL_DIGITS = 8


def normalize_email(value: str, *, field: str = "customer_email") -> str:
    """Trim and lower-case an email address; raise ValidationError if it is not one."""
    email = value.strip().lower()
    if len(email) > MAX_EMAIL:
        raise ValidationError(field, f"email longer than {MAX_EMAIL} characters")
    local, _, _domain = email.partition("@")
    # fullmatch, not match with "$": "$" also matches before a trailing newline.
    # Beyond Zoho's pattern, only what no mail server takes: a local part over 64 characters,
    # ending with a dot or with two dots in a row (RFC 5321/5322).
    if not _EMAIL.fullmatch(email) or len(local) > 64 or ".." in local or local.endswith("."):
        raise ValidationError(
            field,
            f"not an email address Zoho Desk accepts: {value[:60]!r} (letters, digits and "
            "_ + - . ' & ~ before the @, starting with a letter, digit or _)",
        )
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


def same_phone(stored: str | None, wanted: str | None) -> bool:
    """True when a number as the helpdesk stores it is the customer's (E.164) number.

    The same number in another format (spaces, dashes, ``00`` for ``+``, Mexico's old mobile
    ``1``) is the same number. A stored number without a country code (``55 1234 5678``, or
    ``020 7946 0000`` with a national trunk ``0``) is the customer's when the customer's digits
    are a country code of 1 to 3 digits followed by it, and it keeps at least 8 digits.
    """
    if not stored or not wanted:
        return False
    try:
        mine = normalize_phone(wanted)
        theirs = normalize_phone(stored)
    except ValidationError:
        return False
    if mine == theirs:
        return True
    raw = stored.strip()
    if raw.startswith("+") or re.sub(r"\D", "", raw).startswith("00"):
        return False  # written with its country code, and a different one
    national = theirs[1:]
    if national.startswith("0"):
        national = national[1:]
    digits = mine[1:]
    return (
        len(national) >= _MIN_NATIONAL_DIGITS
        and digits.endswith(national)
        and 1 <= len(digits) - len(national) <= 3
    )


def phone_tail(phone: str) -> str:
    """The last 8 digits of a number: what every way of writing it ends with, whatever its
    country code, spacing or trunk prefix (what a loose helpdesk search can look for)."""
    return re.sub(r"\D", "", phone)[-_MIN_NATIONAL_DIGITS:]


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


def _named(word: str) -> bool:
    """A word that can name someone: it has a letter or a digit (not only emoji or symbols)."""
    return any(ch.isalnum() for ch in word)


def split_name(full_name: str) -> tuple[str | None, str]:
    """Split a full name into (first name, last name); Zoho requires a last name.

    Everything but the last word is the first name: "Ana María López" → ("Ana María", "López").
    Words without a letter or digit (emoji, symbols) are left out of both: "🔥 Zoë 😀 Ñandú
    👨‍👩‍👧" → ("Zoë", "Ñandú"). Bidirectional controls never reach a contact's name.

    Raises:
        ValueError: no word has a letter or digit.
    """
    words = [w for w in without_bidi(full_name).split() if _named(w)]
    if not words:
        raise ValueError("no word of the name has a letter or digit")
    if len(words) == 1:
        return None, words[0]
    return " ".join(words[:-1]), words[-1]


def new_contact_for(customer: Customer, *, channel: str | None = None) -> NewContact:
    """What to create for a customer with no contact yet.

    Without a name (or one with no word of letters or digits), the last name is derived from
    the email's local part or the phone number.
    A number that wrote on WhatsApp goes in ``mobile`` (where the helpdesk's own WhatsApp
    channel puts it); any other in ``phone``. The name is kept whole: the helpdesk adapter
    fits it to its own limits.
    """
    # Checked first: a name alone would make a contact nobody can ever find again.
    if not customer.email and not customer.phone:
        raise ValidationError("customer", "an email or a phone number is required")
    first: str | None = None
    try:
        first, last = split_name(customer.name or "")
    except ValueError:  # no name, or none made of letters or digits
        last = customer.email.split("@", 1)[0] if customer.email else customer.phone or ""
    on_whatsapp = (channel or "").strip().lower() == "whatsapp"
    return NewContact(
        last_name=last,
        first_name=first,
        email=customer.email,
        phone=None if on_whatsapp else customer.phone,
        mobile=customer.phone if on_whatsapp else None,
    )
