"""A customer's phone: E.164 with its country code, never a guessed country."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ticketing.application.intake import IntakePolicy, customer_phone, customer_ticket
from ticketing.domain.errors import ValidationError

FIELD = "customer_phone"


@pytest.mark.parametrize("raw", ["55 1234 5678", "5512345678", "(55) 1234-5678", "5215512345678"])
def test_a_number_without_a_country_code_is_refused_naming_the_field(raw: str) -> None:
    """Without DEFAULT_PHONE_COUNTRY nobody knows whose number it is: refused, never +55…"""
    with pytest.raises(ValidationError) as caught:
        customer_phone(raw, field=FIELD, country=None)
    assert caught.value.field == FIELD
    assert "country code" in caught.value.reason
    assert "DEFAULT_PHONE_COUNTRY" in caught.value.reason


@pytest.mark.parametrize(
    ("raw", "country", "e164"),
    [
        ("55 1234 5678", "MX", "+525512345678"),
        ("(55) 1234-5678", "MX", "+525512345678"),
        ("1 55 1234 5678", "MX", "+525512345678"),  # Mexico's old mobile "1"
        ("5215512345678", "MX", "+525512345678"),  # WhatsApp's digits, the country code first
        ("020 7946 0000", "GB", "+442079460000"),  # the UK's trunk "0"
        ("(415) 555-0123", "US", "+14155550123"),
    ],
)
def test_a_national_number_is_read_in_the_default_country(
    raw: str, country: str, e164: str
) -> None:
    assert customer_phone(raw, field=FIELD, country=country) == e164


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("+52 1 55 1234 5678", "+525512345678"),
        ("0052 55 1234 5678", "+525512345678"),
        ("+44 20 7946 0000", "+442079460000"),
    ],
)
@pytest.mark.parametrize("country", [None, "US"])
def test_a_number_with_its_country_code_is_unchanged_by_the_setting(
    raw: str, e164: str, country: str | None
) -> None:
    """The E.164 form the contact cache keys on is the same with or without the setting."""
    assert customer_phone(raw, field=FIELD, country=country) == e164


def test_a_number_that_is_not_one_of_the_country_is_refused() -> None:
    with pytest.raises(ValidationError, match="not a phone number of MX"):
        customer_phone("99 9999 9999 99", field=FIELD, country="MX")


def test_http_phone_only_customer_without_country_code_is_refused() -> None:
    """Through the HTTP intake: the phone is the customer, so the ticket is refused."""
    with pytest.raises(ValidationError) as caught:
        customer_ticket(
            customer_name="Ana",
            customer_email=None,
            customer_phone="55 1234 5678",
            subject="Hola",
            description="d",
            priority=None,
            category=None,
            channel=None,
            key=None,
            received_at=datetime.now(UTC),
            policy=IntakePolicy(),
        )
    assert caught.value.field == FIELD
