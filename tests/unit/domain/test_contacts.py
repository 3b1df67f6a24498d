"""Contact resolution: normalizing emails and phones, matching loose search results, naming."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone

import pytest

from ticketing.domain.contacts import (
    MAX_EMAIL,
    choose_contact,
    matches,
    new_contact_for,
    normalize_email,
    normalize_phone,
    same_phone,
    split_name,
)
from ticketing.domain.errors import ValidationError
from ticketing.domain.model import Contact, Customer, NewContact

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def contact(
    id: str,
    *,
    email: str | None = None,
    phone: str | None = None,
    mobile: str | None = None,
    created: datetime | None = T0,
) -> Contact:
    return Contact(
        id=id, last_name="X", email=email, phone=phone, mobile=mobile, created_time=created
    )


# --- email -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("ana@example.com", "ana@example.com"),
        ("  Ana.Lopez@Example.COM \n", "ana.lopez@example.com"),
        ("ana+tickets@mail.example.co.uk", "ana+tickets@mail.example.co.uk"),
        ("o'brien_1-x@sub-domain.example.org", "o'brien_1-x@sub-domain.example.org"),
    ],
)
def test_valid_email_is_trimmed_and_lowercased(value: str, expected: str) -> None:
    """A valid address comes back trimmed and lower-cased, for case-insensitive matching."""
    assert normalize_email(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        "ana.example.com",  # no @
        "ana@",
        "@example.com",
        "ana@@example.com",
        "ana@example",  # no dot in the domain
        "ana lopez@example.com",  # space
        "ana@exa mple.com",
        "ana..lopez@example.com",  # double dots
        "ana@example..com",
        ".ana@example.com",  # dot at the edge of the local part
        "ana.@example.com",
        "ana@-example.com",
        "ana@example.com-",
        "ana@example.com\nbcc@evil.com",  # header injection
        "ana\x00@example.com",  # control characters
        "ana@exam\x7fple.com",
        "ana\u202e@example.com",  # right-to-left override
        "ana@exam\u200bple.com",  # zero-width space
        "josé@example.com",  # non-ASCII
    ],
)
def test_invalid_email_is_refused_naming_the_field(value: str) -> None:
    """An address that is not one raises ValidationError on the customer_email field."""
    with pytest.raises(ValidationError) as caught:
        normalize_email(value)
    assert caught.value.field == "customer_email"
    assert caught.value.message.startswith("customer_email: ")


def test_email_error_names_the_given_field() -> None:
    """The caller chooses the field name the error reports (e.g. the Redis `customer.email`)."""
    with pytest.raises(ValidationError) as caught:
        normalize_email("nope", field="customer.email")
    assert caught.value.field == "customer.email"


def test_email_over_the_length_limit_is_refused() -> None:
    """An address longer than 150 characters (the ticket's ``email`` field in Zoho's
    Ticket.json) is refused with a message saying so."""
    domain = ".".join(["a" * 40] * 2) + ".com"  # 85 characters
    value = "a" * 64 + "x@" + domain
    assert len(value) == MAX_EMAIL + 1
    with pytest.raises(ValidationError) as caught:
        normalize_email(value)
    assert caught.value.field == "customer_email"
    assert "150" in caught.value.reason


def test_email_at_the_length_limit_is_accepted() -> None:
    """150 characters is still an address Zoho takes."""
    domain = ".".join(["a" * 40] * 2) + ".com"
    value = "a" * 64 + "@" + domain
    assert len(value) == MAX_EMAIL
    assert normalize_email(value) == value


@pytest.mark.parametrize(
    "value",
    [
        "a!b@example.com",  # "!" only in Contact.json's pattern, not the inline contact's
        "a#b@example.com",
        "a%b@example.com",
        "a*b@example.com",
        "a/b@example.com",
        "a=b@example.com",
        ".ana@example.com",
        "-ana@example.com",
        "ana@example.c",
        "ana@example.c0m",
        "ana@-example.com",
        "ana@exa_mple.com" + "x" * 0 + ".",
        "josé@example.com",
        "ana@exámple.com",
    ],
)
def test_email_zoho_refuses_is_refused_naming_the_field(value: str) -> None:
    """Intake refuses exactly what Zoho's email pattern (Ticket.json createTicketRequest
    .contact.email) refuses, naming the field."""
    with pytest.raises(ValidationError) as caught:
        normalize_email(value, field="customer.email")
    assert caught.value.field == "customer.email"
    assert "Zoho" in caught.value.reason


@pytest.mark.parametrize(
    "value",
    [
        "ana.lopez+tickets@example.com",
        "o'brien@example.ie",
        "a&b@example.com",
        "a~b@example.com",
        "_ana@example.com",
        "ana@mail.exa-mple.com",
        "ana@exa_mple.com",
        "ana@example.museum",
    ],
)
def test_email_zoho_accepts_is_accepted(value: str) -> None:
    """Characters Zoho's pattern allows pass intake (lower-cased)."""
    assert normalize_email(value) == value.lower()


def test_email_local_part_over_64_is_refused() -> None:
    """The local part is limited to 64 characters."""
    assert normalize_email("a" * 64 + "@example.com")
    with pytest.raises(ValidationError):
        normalize_email("a" * 65 + "@example.com")


# --- phone -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("+52 1 55 1234 5678", "+525512345678"),
        ("+52 55 1234 5678", "+525512345678"),
        ("(55) 1234-5678", "+5512345678"),
        ("0044 20 7946 0958", "+442079460958"),
        ("+44 20 7946 0958", "+442079460958"),
        ("+1.415.555.0100", "+14155550100"),
        ("+34/912/345/678", "+34912345678"),
        ("+52\u00a055\u00a01234\u00a05678", "+525512345678"),  # pasted no-break spaces
        ("  +5215512345678  ", "+525512345678"),
        ("12345678", "+12345678"),  # 8 digits: the minimum
        ("+123456789012345", "+123456789012345"),  # 15 digits: the E.164 maximum
    ],
)
def test_phone_is_reduced_to_e164(value: str, expected: str) -> None:
    """Separators go, a leading 00 becomes +, and the result is + and the digits."""
    assert normalize_phone(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "1234567",  # too short
        "+1 234 567",
        "+1234567890123456",  # too long
        "00 1234 567",  # too short once 00 is dropped
        "555-CALL-NOW",  # letters
        "+52 55 1234 5678 ext 12",
        "+52 55+1234 5678",  # + in the middle
        "52+5512345678",
        "++5215512345678",
        "(+52) 55 1234 5678",
        "55\x1c1234\x1d5678",  # control characters \s would let through
        "+52 55 1234 5678\x00",
        "+٥٢٥٥١٢٣٤٥٦٧٨",  # non-ASCII digits
    ],
)
def test_invalid_phone_is_refused_naming_the_field(value: str) -> None:
    """Too short, too long, letters, a misplaced + or control characters: ValidationError."""
    with pytest.raises(ValidationError) as caught:
        normalize_phone(value)
    assert caught.value.field == "customer_phone"


def test_phone_error_names_the_given_field() -> None:
    """The caller chooses the field name the error reports."""
    with pytest.raises(ValidationError) as caught:
        normalize_phone("abc", field="customer.phone")
    assert caught.value.field == "customer.phone"


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("+44 20 7946 0958", "0044 20 7946 0958", True),
        ("+52 1 55 1234 5678", "5215512345678", True),
        ("+52 1 55 1234 5678", "+52 55 1234 5678", True),
        ("+52 1 55 1234 5678", "+52 1 55 1234 5679", False),
        ("+5215512345678", "+15215512345678", False),
        (None, "+5215512345678", False),
        ("", "+5215512345678", False),
        ("n/a", "+5215512345678", False),  # junk stored in the helpdesk never matches
    ],
)
def test_same_phone_compares_normalized_numbers(a: str | None, b: str | None, same: bool) -> None:
    """Two stored phone strings are the same number when their E.164 forms are equal."""
    assert same_phone(a, b) is same
    assert same_phone(b, a) is same


# --- matching and choosing ---------------------------------------------------------------------

ANA = Customer(name="Ana López", email="ana@example.com")


def test_wildcard_false_positives_are_filtered_out() -> None:
    """Loose search hits that only contain the address (xana@, .mx, .co) are not matches."""
    loose = [
        contact("1", email="xana@example.com"),
        contact("2", email="ana@example.com.mx"),
        contact("3", email="ana@example.co"),
        contact("4", email="ana.lopez@example.com"),
        contact("5", email=None),
    ]
    assert [c for c in loose if matches(c, ANA)] == []
    assert choose_contact(loose, ANA) is None


def test_email_match_ignores_case_and_padding() -> None:
    """The helpdesk's stored address matches whatever its case or stray whitespace."""
    stored = contact("7", email=" ANA@Example.com ")
    assert matches(stored, ANA)
    assert choose_contact([contact("1", email="xana@example.com"), stored], ANA) == stored


def test_email_match_when_the_customer_was_not_normalized() -> None:
    """A customer built with a mixed-case email still finds its contact."""
    assert matches(contact("7", email="ana@example.com"), Customer(email="Ana@Example.COM"))


def test_customer_with_email_is_matched_by_email_only() -> None:
    """With an email, a contact sharing only the phone is not the customer."""
    customer = Customer(email="ana@example.com", phone="+5215512345678")
    assert not matches(contact("1", email="other@example.com", phone="+5215512345678"), customer)
    assert not matches(contact("2", phone="+5215512345678"), customer)


def test_phone_only_customer_matches_phone_or_mobile() -> None:
    """A phone-only customer matches a contact's phone or mobile, in any stored format."""
    customer = Customer(phone="+5215512345678")
    by_phone = contact("1", phone="+52 1 55 1234 5678")
    by_mobile = contact("2", phone="+44 20 7946 0958", mobile="(521) 55-1234-5678")
    neither = contact("3", phone="+5215512345670", mobile="n/a")
    assert matches(by_phone, customer)
    assert matches(by_mobile, customer)
    assert not matches(neither, customer)
    assert choose_contact([neither, by_mobile], customer) == by_mobile


def test_customer_without_identity_matches_nothing() -> None:
    """A customer with neither email nor phone matches no contact."""
    assert not matches(contact("1", email="ana@example.com"), Customer(name="Ana"))


def test_choose_picks_the_oldest_exact_match_in_any_order() -> None:
    """Among several exact matches, the oldest created_time wins whatever the input order."""
    old = contact("300", email="ana@example.com", created=T0)
    mid = contact("100", email="Ana@example.com", created=T0 + timedelta(days=1))
    new = contact("200", email="ANA@example.com", created=T0 + timedelta(days=2))
    noise = contact("1", email="xana@example.com", created=T0 - timedelta(days=9))
    for order in itertools.permutations([old, mid, new, noise]):
        assert choose_contact(order, ANA) == old


def test_choose_breaks_time_ties_by_numeric_id() -> None:
    """Equal creation times fall back to the smallest id, compared as a number."""
    a = contact("99", email="ana@example.com")
    b = contact("100", email="ana@example.com")
    c = contact("101", email="ana@example.com")
    for order in itertools.permutations([a, b, c]):
        assert choose_contact(order, ANA) == a


def test_choose_compares_instants_across_timezones() -> None:
    """created_time in different offsets is compared as instants, not wall clocks."""
    utc = contact("1", email="ana@example.com", created=datetime(2024, 1, 1, 12, tzinfo=UTC))
    mexico = contact(
        "2",
        email="ana@example.com",
        created=datetime(2024, 1, 1, 7, tzinfo=timezone(timedelta(hours=-6))),  # 13:00 UTC
    )
    assert choose_contact([mexico, utc], ANA) == utc


def test_choose_tolerates_naive_and_missing_times() -> None:
    """Naive times (read as UTC) and missing times mix with aware ones without crashing."""
    aware = contact("1", email="ana@example.com", created=datetime(2024, 1, 2, tzinfo=UTC))
    naive = contact("2", email="ana@example.com", created=datetime(2024, 1, 1))
    missing = contact("3", email="ana@example.com", created=None)
    assert choose_contact([aware, naive], ANA) == naive
    for order in itertools.permutations([aware, naive, missing]):
        # Unknown age sorts first: deterministic across instances, which is what matters.
        assert choose_contact(order, ANA) == missing


def test_choose_with_no_candidates_is_none() -> None:
    """No search results means no contact."""
    assert choose_contact([], ANA) is None
    assert choose_contact(iter([]), ANA) is None


# --- names -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("full", "expected"),
    [
        ("Ana López", ("Ana", "López")),
        ("Ana María López", ("Ana María", "López")),
        ("  Ana   María\tLópez García ", ("Ana María López", "García")),
        ("Cher", (None, "Cher")),
        (" Cher ", (None, "Cher")),
        ("🔥💯 Zoë 😀 Ñandú 👨‍👩‍👧", ("Zoë", "Ñandú")),
        ("👨‍👩‍👧 Ana 🇲🇽", (None, "Ana")),
        ("Ana\u202e López\u202c", ("Ana", "López")),
        ("R2-D2 ★", (None, "R2-D2")),
        ("李小龙", (None, "李小龙")),
    ],
)
def test_split_name_puts_the_last_word_in_the_last_name(
    full: str, expected: tuple[str | None, str]
) -> None:
    """Everything but the last word is the first name; one word is only a last name; words
    with no letter or digit (emoji, symbols) and bidirectional controls are left out."""
    assert split_name(full) == expected


@pytest.mark.parametrize("full", ["", "   ", "🔥💯 😀 👨‍👩‍👧", "★ ☆ ♥", "\u202e"])
def test_split_name_refuses_a_name_without_a_letter_or_digit(full: str) -> None:
    """A name with no word of letters or digits cannot be split (Zoho requires a last name)."""
    with pytest.raises(ValueError, match="letter or digit"):
        split_name(full)


@pytest.mark.parametrize(
    ("customer", "last"),
    [
        (Customer(name="🔥💯 😀", email="zoe.n@example.com"), "zoe.n"),
        (Customer(name="★★★", phone="+525512345678"), "+525512345678"),
        (Customer(name="   ", email="ana@example.com"), "ana"),
    ],
)
def test_a_name_of_emoji_only_falls_back_to_the_email_or_phone(
    customer: Customer, last: str
) -> None:
    """A name with no word of letters or digits names the contact as no name does: by the
    email's local part, else the phone number."""
    contact = new_contact_for(customer)
    assert (contact.first_name, contact.last_name) == (None, last)


def test_an_emoji_name_gives_the_words_that_name() -> None:
    """The issue's name: the contact is Zoë Ñandú, not the last emoji."""
    contact = new_contact_for(Customer(name="🔥💯 Zoë 😀 Ñandú 👨‍👩‍👧", email="z@example.com"))
    assert (contact.first_name, contact.last_name) == ("Zoë", "Ñandú")


def test_new_contact_with_a_name() -> None:
    """With a name, first and last names come from it and email and phone are carried over."""
    customer = Customer(name="Ana María López", email="ana@example.com", phone="+5215512345678")
    assert new_contact_for(customer) == NewContact(
        last_name="López",
        first_name="Ana María",
        email="ana@example.com",
        phone="+5215512345678",
    )


def test_new_contact_from_email_only() -> None:
    """Without a name, the last name is the email's local part."""
    assert new_contact_for(Customer(email="ana.lopez@example.com")) == NewContact(
        last_name="ana.lopez", first_name=None, email="ana.lopez@example.com"
    )


def test_new_contact_blank_name_falls_back_to_email() -> None:
    """A whitespace-only name counts as no name."""
    made = new_contact_for(Customer(name="   ", email="ana@example.com"))
    assert (made.first_name, made.last_name) == (None, "ana")


def test_new_contact_from_phone_only() -> None:
    """Without a name or email, the last name is the phone number."""
    assert new_contact_for(Customer(phone="+5215512345678")) == NewContact(
        last_name="+5215512345678", first_name=None, phone="+5215512345678"
    )


def test_new_contact_keeps_the_whole_name() -> None:
    """The domain keeps the name whole; the Zoho adapter fits it to Zoho's limits."""
    made = new_contact_for(Customer(name=f"{'A' * 100} {'B' * 100}", email="a@example.com"))
    assert made.first_name == "A" * 100
    assert made.last_name == "B" * 100


def test_new_contact_on_whatsapp_keeps_the_number_in_mobile() -> None:
    """A number that wrote on WhatsApp goes in ``mobile``, where Zoho's own WhatsApp channel
    puts it; from any other channel in ``phone``."""
    customer = Customer(phone="+5215512345678")
    on_whatsapp = new_contact_for(customer, channel="WhatsApp")
    assert (on_whatsapp.phone, on_whatsapp.mobile) == (None, "+5215512345678")
    on_web = new_contact_for(customer, channel="Web")
    assert (on_web.phone, on_web.mobile) == ("+5215512345678", None)


@pytest.mark.parametrize(
    ("stored", "same"),
    [
        ("55 1234 5678", True),  # national format, without the country code
        ("(55) 1234-5678", True),
        ("1234 5678", False),  # what is left, "5255", is no country code
        ("+1 55 1234 5678", False),  # written with another country code
        ("0055 1234 5678", False),
    ],
)
def test_same_phone_accepts_a_number_stored_without_its_country_code(
    stored: str, same: bool
) -> None:
    """A number stored as a person types it at home is the customer's E.164 number when the
    customer's digits are a country code followed by it."""
    assert same_phone(stored, "+525512345678") is same


def test_same_phone_drops_a_national_trunk_zero() -> None:
    """``020 7946 0958`` (UK, trunk 0) is +44 20 7946 0958."""
    assert same_phone("020 7946 0958", "+442079460958")
    assert not same_phone("020 7946 0958", "+442079460959")


def test_new_contact_needs_an_email_or_phone() -> None:
    """A customer with only a name cannot become a contact: ValidationError on `customer`."""
    with pytest.raises(ValidationError) as caught:
        new_contact_for(Customer(name="Ana"))
    assert caught.value.field == "customer"
