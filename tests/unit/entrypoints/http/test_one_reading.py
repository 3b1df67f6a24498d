"""One reading of every request: a field given twice is a 400 naming it on every transport
(query, form, JSON, query and body together), invisible text is missing, bidirectional
controls never reach a name or subject, and names are kept whole on the ticket."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from ticketing.container import Container
from ticketing.domain.model import reference_line

from tests.support.http import OLD_FORM

pytestmark = pytest.mark.anyio

URL = "/tickets/customer"
JSON = {"Content-Type": "application/json"}


def refused_twice(response: Any, field: str, where: str) -> None:
    assert response.status_code == 400, response.text
    answer = response.json()
    assert answer["error"] == "duplicate_field"
    assert answer["field"] == field
    assert answer["message"].startswith(f"{field} is given twice ({where})")


async def test_a_repeated_query_parameter_is_refused(
    client: AsyncTestClient, container: Container
) -> None:  # type: ignore[type-arg]
    """``?customer_email=a&customer_email=b``: neither is guessed; nothing reaches Zoho."""
    params = [*OLD_FORM.items(), ("customer_email", "other@example.com")]
    response = await client.post(URL, params=params)
    refused_twice(response, "customer_email", "in the query")
    assert container.emulator_state().tickets == {}


async def test_a_repeated_form_field_is_refused(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    """``curl -d subject=a -d subject=b`` (urlencoded)."""
    content = "&".join(f"{k}={v}" for k, v in OLD_FORM.items()) + "&subject=Otro"
    response = await client.post(
        URL, content=content, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    refused_twice(response, "subject", "in the form body")


@pytest.mark.parametrize(
    "raw",
    [
        b'{"customer_email":"a@example.com","customer_email":"b@example.com",'
        b'"subject":"S","description":"D"}',
        # the same key written with a JSON escape: decoded before comparing
        b'{"customer_email":"a@example.com","customer_\\u0065mail":"b@example.com",'
        b'"subject":"S","description":"D"}',
        # a null is still a second value given
        b'{"customer_email":"a@example.com","subject":"S","description":"D","customer_email":null}',
    ],
)
async def test_a_json_key_written_twice_is_refused(
    client: AsyncTestClient, container: Container, raw: bytes
) -> None:  # type: ignore[type-arg]
    """msgspec keeps the last value of a repeated key without a word: refused instead."""
    response = await client.post(URL, content=raw, headers=JSON)
    refused_twice(response, "customer_email", "in the JSON body")
    assert container.emulator_state().tickets == {}


async def test_a_field_in_the_query_and_the_body_is_refused(
    client: AsyncTestClient,
) -> None:  # type: ignore[type-arg]
    """The body used to win over the query silently: now it is a 400 naming the field, for a
    JSON body and a form body alike."""
    response = await client.post(URL, params={"subject": "Query"}, json=OLD_FORM)
    refused_twice(response, "subject", "in the query and the JSON body")
    response = await client.post(URL, params={"subject": "Query"}, data=OLD_FORM)
    refused_twice(response, "subject", "in the query and the form body")


async def test_fields_split_between_query_and_body_are_read_once_each(
    client: AsyncTestClient, container: Container
) -> None:  # type: ignore[type-arg]
    """Each field once, some in the query and some in the body: the old scripts' way, kept."""
    query = {"customer_email": OLD_FORM["customer_email"], "priority": "Low"}
    rest = {k: v for k, v in OLD_FORM.items() if k not in ("customer_email", "priority")}
    response = await client.post(URL, params=query, json=rest)
    assert response.status_code == 201, response.text
    [ticket] = container.emulator_state().tickets.values()
    assert ticket.priority == "Low"


async def test_unknown_names_may_repeat(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    """A name the route does not read (a cache buster, say) is not a field: not refused."""
    params = [*OLD_FORM.items(), ("_", "1"), ("_", "2")]
    response = await client.post(URL, params=params)
    assert response.status_code == 201, response.text


async def test_a_repeated_field_on_the_admin_route_is_refused() -> None:
    """``POST /tickets`` reads its fields the same way."""
    from tests.support.http import app_client, make_container

    container = make_container({"DEFAULT_CONTACT_EMAIL": "ops@example.com"})
    async with app_client(container) as client:
        response = await client.post(
            "/tickets", params={"subject": "S"}, json={"subject": "T", "description": "D"}
        )
    refused_twice(response, "subject", "in the query and the JSON body")


@pytest.mark.parametrize("text", ["\u200b\u200b", "\ufeff", "\u2060 \u200d", "\u00ad"])
@pytest.mark.parametrize("field", ["subject", "description"])
async def test_an_invisible_subject_or_description_is_missing(
    client: AsyncTestClient, field: str, text: str
) -> None:  # type: ignore[type-arg]
    """Text with no visible character is the missing-field 422, naming the field."""
    response = await client.post(URL, json={**OLD_FORM, field: text})
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field


async def test_bidi_overrides_never_reach_zoho(
    client: AsyncTestClient, container: Container
) -> None:  # type: ignore[type-arg]
    """A right-to-left override in the name and subject is removed before Zoho sees them."""
    fields = {**OLD_FORM, "customer_name": "\u202eAna\u202c López", "subject": "\u2066Pago\u2069"}
    response = await client.post(URL, json=fields)
    assert response.status_code == 201, response.text
    state = container.emulator_state()
    [ticket] = state.tickets.values()
    [contact] = state.contacts.values()
    assert ticket.subject == "Pago"
    assert (contact.first_name, contact.last_name) == ("Ana", "López")


async def test_a_long_name_is_whole_on_the_ticket_and_fitted_on_the_contact(
    client: AsyncTestClient, container: Container
) -> None:  # type: ignore[type-arg]
    """A 90-character name is accepted whole: the contact gets what fits Zoho's limits, the
    ticket's description keeps the whole name before the reference line."""
    name = (
        "María de los Ángeles Guadalupe Fernández Castillo y Rodríguez de la Peña Montenegro Ruiz S"
    )
    assert len(name) == 90
    response = await client.post(
        URL,
        json={**OLD_FORM, "customer_name": name, "customer_phone": "+52 55 1234 5678"},
        headers={"Idempotency-Key": "long-name-1"},
    )
    assert response.status_code == 201, response.text
    state = container.emulator_state()
    [ticket] = state.tickets.values()
    [contact] = state.contacts.values()
    assert contact.last_name == "S"
    assert contact.first_name == "María de los Ángeles Guadalupe Fernández"  # Zoho's 40
    assert ticket.description is not None
    assert f"\n\nCustomer: {name}\n\nRef: " in ticket.description
    assert ticket.description.endswith(reference_line("api/anonymous/long-name-1"))


async def test_an_emoji_name_gives_a_sensible_contact(
    client: AsyncTestClient, container: Container
) -> None:  # type: ignore[type-arg]
    """The issue's name: the contact is Zoë Ñandú, and the ticket keeps what was written."""
    name = "🔥💯 Zoë 😀 Ñandú 👨\u200d👩\u200d👧"
    response = await client.post(URL, json={**OLD_FORM, "customer_name": name})
    assert response.status_code == 201, response.text
    state = container.emulator_state()
    [contact] = state.contacts.values()
    [ticket] = state.tickets.values()
    assert (contact.first_name, contact.last_name) == ("Zoë", "Ñandú")
    assert f"Customer: {name}" in (ticket.description or "")
