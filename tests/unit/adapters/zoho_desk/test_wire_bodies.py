"""Request bodies fitted to Zoho's limits without losing anything, and the key encoding."""

from __future__ import annotations

import json
import re

import pytest
import respx
from hypothesis import given
from hypothesis import strategies as st

from ticketing.adapters.zoho_desk.client import ZohoDeskClient
from ticketing.adapters.zoho_desk.wire import (
    CF_VALUE_MAX,
    CONTACT_FIRST_NAME,
    contact_body,
    custom_field_value,
    ticket_body,
)
from ticketing.application.intake import MAX_DESCRIPTION, MAX_NAME
from ticketing.domain.contacts import new_contact_for
from ticketing.domain.model import (
    DESCRIPTION_LIMIT,
    Customer,
    NewContact,
    Priority,
    TicketRequest,
    picklist_note,
    reference_line,
)
from ticketing.domain.text import graphemes
from zoho_desk_emulator.constraints import CF_PATTERN

from tests.unit.adapters.zoho_desk.test_wire_respx import API, CONTACT_ISO, TICKET

pytestmark = pytest.mark.anyio

LONG_FIRST = "María de los Ángeles Guadalupe Fernández"  # 40 characters
LONGER_FIRST = LONG_FIRST + " Castillo"


def test_a_first_name_over_40_is_cut_and_the_whole_name_kept() -> None:
    """POST /contacts takes a firstName of 40 (Contact.json commonJson): it is cut there and
    the whole name goes in the contact's description."""
    body = contact_body(NewContact(last_name="López", first_name=LONGER_FIRST, email="a@x.co"))
    assert body["firstName"] == LONG_FIRST
    assert len(body["firstName"]) <= 40
    assert body["lastName"] == "López"
    assert body["description"] == f"Full name: {LONGER_FIRST} López"


def test_a_name_is_cut_after_its_last_word_that_fits() -> None:
    """A cut that would end inside a word ends before it: no 'Fernánde'."""
    first = "María de los Ángeles Guadalupe Fernándezz"  # 41 characters
    body = contact_body(NewContact(last_name="López", first_name=first))
    assert body["firstName"] == "María de los Ángeles Guadalupe"
    assert body["description"] == f"Full name: {first} López"


def test_a_name_within_the_limits_is_sent_as_it_is() -> None:
    """No cut, no description."""
    body = contact_body(NewContact(last_name="López", first_name=LONG_FIRST))
    assert body == {"lastName": "López", "firstName": LONG_FIRST}


def test_a_whatsapp_number_goes_in_mobile() -> None:
    """A contact's mobile is sent as ``mobile``, its phone as ``phone``."""
    body = contact_body(NewContact(last_name="R", mobile="+525512345678"))
    assert body == {"lastName": "R", "mobile": "+525512345678"}


async def test_create_contact_posts_the_cut_name(
    router: respx.MockRouter, desk: ZohoDeskClient
) -> None:
    """Through the adapter: the posted body is the fitted one."""
    route = router.post(f"{API}/contacts").respond(200, json=CONTACT_ISO)
    await desk.create_contact(NewContact(last_name="López", first_name=LONGER_FIRST))
    sent = json.loads(route.calls.last.request.content)
    assert sent["firstName"] == LONG_FIRST
    assert "Castillo" in sent["description"]


async def test_inline_contact_has_no_phone_and_the_ticket_keeps_it(
    router: respx.MockRouter, desk: ZohoDeskClient
) -> None:
    """The inline contact carries lastName, firstName and email only; the customer's phone is
    the ticket's own ``phone``."""
    route = router.post(f"{API}/tickets").respond(200, json=TICKET)
    ana = NewContact(
        last_name="López", first_name="Ana", email="ana@example.com", phone="+525512345678"
    )
    await desk.create_ticket(
        TicketRequest(
            subject="Pago",
            department_id="7001",
            contact_id=None,
            description="Hola",
            priority=Priority.HIGH,
            email=ana.email,
            phone=ana.phone,
            contact=ana,
        )
    )
    sent = json.loads(route.calls.last.request.content)
    assert sent["contact"] == {"lastName": "López", "firstName": "Ana", "email": "ana@example.com"}
    assert sent["phone"] == "+525512345678"


def test_an_inline_name_over_its_limit_is_kept_in_the_description() -> None:
    """The inline contact takes a firstName of 100 and has no description: the ticket's
    description ends with the whole name."""
    first = "A" * 120
    request = TicketRequest(
        subject="Pago",
        department_id="7001",
        contact_id=None,
        description="Hola",
        priority=Priority.HIGH,
        contact=NewContact(last_name="López", first_name=first, email="a@example.com"),
    )
    body = ticket_body(request, idempotency_field=None)
    assert body["contact"]["firstName"] == "A" * 100
    assert body["description"] == f"Hola\n\nCustomer: {first} López"


def _request(name: str, *, inline: bool, description: str = "Hola") -> TicketRequest:
    customer = Customer(name=name, email="zoe@example.com")
    return TicketRequest(
        subject="Pago",
        department_id="7001",
        contact_id=None if inline else "9001",
        description=description,
        priority=Priority.HIGH,
        email=customer.email,
        idempotency_key="order-4711",
        contact=new_contact_for(customer) if inline else None,
        customer_name=name,
    )


@pytest.mark.parametrize("inline", [True, False])
def test_a_cut_name_keeps_the_reference_line_last(inline: bool) -> None:
    """The known bug: the whole-name line used to replace the description that ended with the
    reference line, so an ambiguous create could not be found again. Now the name line comes
    before the reference line, which still ends the description."""
    name = "María de los Ángeles Guadalupe Fernández Castillo López"  # first name over 40
    if inline:
        name = "A" * 120 + " López"  # an inline firstName over 100
    body = ticket_body(_request(name, inline=inline), idempotency_field=None)
    assert body["description"] == f"Hola\n\nCustomer: {name}" + reference_line("order-4711")


def test_an_emoji_name_names_the_contact_by_its_words_and_the_ticket_keeps_it_whole() -> None:
    """The issue's name: the inline contact is Zoë Ñandú; the ticket keeps what the customer
    wrote, emoji included, before the reference line."""
    name = "🔥💯 Zoë 😀 Ñandú 👨‍👩‍👧"
    body = ticket_body(_request(name, inline=True), idempotency_field=None)
    assert body["contact"] == {"lastName": "Ñandú", "firstName": "Zoë", "email": "zoe@example.com"}
    assert body["description"].endswith(f"\n\nCustomer: {name}" + reference_line("order-4711"))


@pytest.mark.parametrize("inline", [True, False])
def test_a_name_the_contact_holds_whole_adds_no_line(inline: bool) -> None:
    """Nothing to keep: the description is the text and the reference line."""
    body = ticket_body(_request("  Ana   López ", inline=inline), idempotency_field=None)
    assert body["description"] == "Hola" + reference_line("order-4711")


def test_a_name_is_cut_between_graphemes_never_inside_an_emoji_sequence() -> None:
    """A first name whose 40th character falls inside a ZWJ sequence is cut before the
    sequence, and a name with an accent written as a combining mark keeps it."""
    family = "👨‍👩‍👧"
    first = "A" * 37 + family + " Zoé"
    body = contact_body(NewContact(last_name="López", first_name=first))
    assert body["firstName"] == "A" * 37
    assert len(body["firstName"]) <= CONTACT_FIRST_NAME
    assert body["description"] == f"Full name: {first} López"
    accented = contact_body(NewContact(last_name="López", first_name="B" * 38 + "é"))
    assert accented["firstName"] == "B" * 38 + "é"
    assert list(graphemes(accented["firstName"]))[-1] == "é"


def test_the_longest_accepted_ticket_fits_with_every_line() -> None:
    """The longest description intake accepts, three picklist notes, the longest name on its
    line and the reference line fit Zoho's description together: nothing is cut."""
    text = "d" * MAX_DESCRIPTION
    for field in ("channel", "category", "priority"):
        text += picklist_note(field, "v" * 100)
    name = "N" * (MAX_NAME - 6) + " 😀 Zoë"  # the emoji word makes the line needed
    body = ticket_body(_request(name, inline=False, description=text), idempotency_field=None)
    assert body["description"] == text + f"\n\nCustomer: {name}" + reference_line("order-4711")
    assert len(body["description"]) <= DESCRIPTION_LIMIT


def test_a_description_over_the_limit_is_cut_and_its_lines_survive() -> None:
    """A ticket accepted under an older, larger limit: its text is cut (ending in …), never the
    customer line or the reference line after it."""
    text = "ü" * DESCRIPTION_LIMIT
    name = "Zoë 😀 Ñandú"
    body = ticket_body(_request(name, inline=True, description=text), idempotency_field=None)
    description = body["description"]
    assert len(description) == DESCRIPTION_LIMIT
    assert description.endswith("ü…\n\nCustomer: Zoë 😀 Ñandú" + reference_line("order-4711"))


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("order-A", "order-A"),
        ("api/anonymous/order:A", "api/anonymous/order!3AA"),
        ("a!b", "a!21b"),
        ("wa-3EB0C767D3B5", "wa-3EB0C767D3B5"),
        ("café", "caf!C3!A9"),
    ],
)
def test_the_key_encoding_is_the_documented_one(key: str, value: str) -> None:
    """Letters, digits and ``_ - . /`` stay; everything else is ``!`` + hex per UTF-8 byte."""
    assert custom_field_value(key) == value


@given(st.text(min_size=1, max_size=300), st.text(min_size=1, max_size=300))
def test_the_key_encoding_is_safe_and_one_to_one(a: str, b: str) -> None:
    """Any key becomes a value Zoho's cf pattern accepts, of at most 255 characters, without
    ``:`` or ``*``; two different keys never share a value."""
    for key in (a, b):
        value = custom_field_value(key)
        assert len(value) <= CF_VALUE_MAX
        assert re.fullmatch(CF_PATTERN, value)
        assert ":" not in value
        assert "*" not in value
    if a != b:
        assert custom_field_value(a) != custom_field_value(b)
