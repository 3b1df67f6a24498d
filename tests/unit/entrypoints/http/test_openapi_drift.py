"""The OpenAPI document against intake (issue 16): every request constraint the document at
/schema/openapi.json states, on every transport (query, form, JSON, multipart), is what intake
does. Each maxLength is the length past which intake stops taking a value whole; each pattern
takes the README's examples and the values at the limits, and refuses what intake refuses; the
201 and 202 answers document their Location. A limit changed in intake and not in the document
(or the other way round) fails here."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient

from ticketing.application import intake
from ticketing.domain.errors import TicketingError
from ticketing.domain.model import TicketDraft
from ticketing.domain.priority import KNOWN_PRIORITY_WORDS
from ticketing.entrypoints.http.app import create_app

from tests.support.http import make_container

ENV = {"DEFAULT_CONTACT_EMAIL": "ops@example.com"}
README = Path(__file__).parents[4] / "README.md"
NOW = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
FAST = settings(max_examples=300, deadline=None, database=None)

CUSTOMER, ADMIN = "/tickets/customer", "/tickets"
QUERY, JSON, FORM, MULTIPART = (
    "query",
    "application/json",
    "application/x-www-form-urlencoded",
    "multipart/form-data",
)
TRANSPORTS = {CUSTOMER: (QUERY, JSON, FORM, MULTIPART), ADMIN: (QUERY, JSON, FORM)}
# The parameters of intake's use cases that are not request fields.
NOT_FIELDS = {
    "key",
    "received_at",
    "policy",
    "source",
    "request_id",
    "client",
    "uploads",
    "staged",
    "contact_id",
    "contact_email",
}


def served_document() -> dict[str, Any]:
    """The document as a client gets it: GET /schema/openapi.json."""
    app = create_app(make_container(ENV), drain=False, consumer=False)
    with TestClient(app) as client:
        response = client.get("/schema/openapi.json")
        assert response.status_code == 200
        document: dict[str, Any] = response.json()
        return document


DOCUMENT = served_document()


def fields_of(path: str, transport: str) -> dict[str, dict[str, Any]]:
    """The documented fields of ``POST path`` on one transport: name → JSON Schema."""
    operation = DOCUMENT["paths"][path]["post"]
    if transport == QUERY:
        return {p["name"]: p["schema"] for p in operation["parameters"] if p["in"] == "query"}
    properties = operation["requestBody"]["content"][transport]["schema"]["properties"]
    return {name: schema for name, schema in properties.items() if name != "file"}


def documented() -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    for path, transports in TRANSPORTS.items():
        for transport in transports:
            for name, schema in fields_of(path, transport).items():
                yield path, transport, name, schema


CONSTRAINTS = list(documented())
IDS = [f"{path} {transport} {name}" for path, transport, name, _ in CONSTRAINTS]
WITH_PATTERN = [c for c in CONSTRAINTS if "pattern" in c[3]]
PATTERN_IDS = [f"{path} {transport} {name}" for path, transport, name, _ in WITH_PATTERN]


def ecma(pattern: str) -> re.Pattern[str]:
    """A document's pattern as JSON Schema reads it (ECMA-262): ``$`` is the end of the text,
    where Python's also matches before a final newline."""
    assert pattern.endswith("$"), pattern
    return re.compile(pattern[:-1] + r"\Z")


def matches(schema: dict[str, Any], value: str) -> bool:
    """Whether ``value`` satisfies the string schema: length bounds and pattern."""
    if len(value) > schema.get("maxLength", len(value)):
        return False
    if len(value) < schema.get("minLength", 0):
        return False
    return "pattern" not in schema or ecma(schema["pattern"]).search(value) is not None


# --- intake, as the use cases apply it ------------------------------------------------------

GOOD = {"customer_email": "ana@example.com", "subject": "Hola", "description": "Texto"}
# The fields that name the customer: one checked alone, so that intake cannot drop it for the
# other (an invalid phone beside a valid email is dropped, not refused).
IDENTITY = ("customer_email", "customer_phone")


def draft(path: str, fields: dict[str, str | None]) -> TicketDraft:
    """What intake makes of ``fields`` for ``POST path`` (raises what it refuses with)."""
    common = {"key": None, "received_at": NOW, "policy": intake.IntakePolicy()}
    if path == ADMIN:
        admin = {k: fields.get(k) for k in ("subject", "description", "priority", "category")}
        return intake.admin_ticket(contact_id="1", contact_email=None, **admin, **common)
    names = ("customer_name", *IDENTITY, "subject", "description", "priority")
    customer = {k: fields.get(k) for k in (*names, "category", "channel")}
    return intake.customer_ticket(**customer, **common)


def carried(ticket: TicketDraft, name: str) -> str | None:
    """The field as the draft carries it."""
    return {
        "customer_email": ticket.customer.email,
        "customer_phone": ticket.customer.phone,
        "customer_name": ticket.customer.name,
        "subject": ticket.subject,
        "description": ticket.description,
        "priority": ticket.priority.value,
        "category": ticket.category,
        "channel": ticket.channel,
    }[name]


def takes(path: str, name: str, value: str) -> bool:
    """Whether intake takes ``value`` for field ``name`` whole: no refusal, nothing cut or
    dropped (an email is lower-cased, a phone reduced to E.164, a priority word mapped)."""
    fields: dict[str, str | None] = {**GOOD, name: value}
    if name in IDENTITY:
        fields = {k: v for k, v in fields.items() if k not in IDENTITY or k == name}
    try:
        ticket = draft(path, fields)
    except TicketingError:
        return False
    if name == "customer_email":
        return carried(ticket, name) == value.strip().lower()
    if name in ("customer_phone", "priority"):
        return carried(ticket, name) is not None
    return carried(ticket, name) == value


def of_length(name: str, n: int) -> str:
    """A value of field ``name``, ``n`` characters long, that is good but for its length."""
    if name == "customer_email":
        local = "a" * min(64, n - 12)
        return f"{local}@" + ("example.com" if len(local) < 64 else "b" * (n - 69) + ".com")
    if name == "customer_phone":
        return "+52" + " " * (n - 13) + "5512345678"
    if name == "priority":
        return next((w for w in sorted(KNOWN_PRIORITY_WORDS) if len(w) == n), "x" * n)
    return "w" * n


# --- the document's fields are intake's --------------------------------------------------


@pytest.mark.parametrize("path", list(TRANSPORTS))
def test_every_transport_documents_the_fields_intake_reads(path: str) -> None:
    """Query parameters and each body list exactly the fields of the use case behind the
    route (a field added to intake and not to the document fails here), with the same
    constraints on every transport."""
    use_case = intake.admin_ticket if path == ADMIN else intake.customer_ticket
    wanted = set(inspect.signature(use_case).parameters) - NOT_FIELDS
    body = fields_of(path, JSON)
    for transport in TRANSPORTS[path]:
        fields = fields_of(path, transport)
        assert set(fields) == wanted, transport
        for name, schema in fields.items():
            same = {k: v for k, v in schema.items() if k != "description"}
            assert same == {k: v for k, v in body[name].items() if k != "description"}


@pytest.mark.parametrize(("path", "transport", "name", "schema"), CONSTRAINTS, ids=IDS)
def test_each_max_length_is_intakes_limit(
    path: str, transport: str, name: str, schema: dict[str, Any]
) -> None:
    """At maxLength intake takes a value whole; one character more and it refuses it, cuts
    it or drops it: the document's limit is intake's, on this transport."""
    limit = schema["maxLength"]
    at_limit, past_it = of_length(name, limit), of_length(name, limit + 1)
    assert (len(at_limit), len(past_it)) == (limit, limit + 1)
    assert takes(path, name, at_limit), f"intake does not take {name} of {limit}"
    assert not takes(path, name, past_it), f"intake takes {name} of {limit + 1} whole"
    assert matches(schema, at_limit)
    assert not matches(schema, past_it)


def test_the_query_carries_the_full_limits() -> None:
    """No shorter limit for query parameters: a description intake takes from a body it takes
    from the query too (the document used to say 2,000)."""
    query = fields_of(CUSTOMER, QUERY)
    assert query["description"]["maxLength"] == intake.MAX_DESCRIPTION


@pytest.mark.parametrize("path", list(TRANSPORTS))
def test_required_is_what_intake_requires(path: str) -> None:
    """subject and description are required by intake wherever they come from, so the
    document marks them non-empty (minLength 1) on every transport and required on none (the
    query may carry one and the body the other); every field it lets be empty, intake takes
    empty."""
    operation = DOCUMENT["paths"][path]["post"]
    assert not any(p.get("required") for p in operation["parameters"] if p["in"] == "query")
    for transport in TRANSPORTS[path][1:]:
        assert "required" not in operation["requestBody"]["content"][transport]["schema"]
    for name in ("subject", "description"):
        with pytest.raises(TicketingError):
            draft(path, {**GOOD, name: None})
        with pytest.raises(TicketingError):
            draft(path, {**GOOD, name: ""})
    for transport in TRANSPORTS[path]:
        for name, schema in fields_of(path, transport).items():
            if name in ("subject", "description"):
                assert schema["minLength"] == 1
            elif matches(schema, ""):
                draft(path, {**GOOD, name: ""})  # taken: an empty field is an absent one


# --- patterns ------------------------------------------------------------------------------


def readme_examples() -> dict[str, set[str]]:
    """The phones and emails the README sends in its examples."""
    text = README.read_text(encoding="utf-8")
    phones = set(re.findall(r'"(?:customer_)?phone" ?: ?"([^"]+)"', text))
    phones |= set(re.findall(r"`((?:\+|00)[0-9][0-9 ]*[0-9])`", text))
    emails = set(re.findall(r'"(?:customer_)?email" ?: ?"([^"]+)"', text))
    emails |= set(re.findall(r"customer_email=([^\s&\"'\\]+)", text))
    return {"customer_phone": phones, "customer_email": emails}


README_EXAMPLES = readme_examples()

# Values intake refuses (checked below), which each pattern must refuse too.
REFUSED = {
    "customer_phone": [
        "55 1234 5678",  # no country code (DEFAULT_PHONE_COUNTRY unset)
        "020 7946 0000",
        "5215512345678",
        "+52 55 123",  # 7 digits
        "+1234567890123456",  # 16 digits
        "00 1234 567",  # 00 and 7 digits
        "+52 55 1234 5678 ext 9",
        "52+5512345678",
        "++525512345678",
        "+52_55_1234_5678",
        "+52\u200b5512345678",
        "tel:+525512345678",
        "+",
        "+52" + " " * 28 + "5512345678",  # 41 characters
    ],
    "customer_email": [
        "ana",
        "ana@",
        "@example.com",
        "ana@example",
        "ana@example.c",
        "ana..lopez@example.com",
        "ana.@example.com",
        ".ana@example.com",
        "-ana@example.com",
        "a!b@example.com",
        "ana lopez@example.com",
        "ana@exam ple.com",
        "ana@-example.com",
        "ana@example-.com",
        "ana@example.c0m",
        "ñandú@example.com",
        "a" * 65 + "@example.com",
        "a@" + "b" * 145 + ".com",  # 151 characters
    ],
    "priority": ["x", "highest!", "p6", "6", "0", "urgentísimo", "hi gh", "mediumm"],
}


def test_the_readme_has_examples_to_check() -> None:
    """The README's own phones (+52 55 1234 5678 among them) and emails are found."""
    assert "+52 55 1234 5678" in README_EXAMPLES["customer_phone"]
    assert len(README_EXAMPLES["customer_phone"]) >= 3
    assert "ana@example.com" in README_EXAMPLES["customer_email"]


@pytest.mark.parametrize(("path", "transport", "name", "schema"), WITH_PATTERN, ids=PATTERN_IDS)
def test_each_pattern_takes_what_intake_takes_and_refuses_what_it_refuses(
    path: str, transport: str, name: str, schema: dict[str, Any]
) -> None:
    """The README's examples, the documented examples, the values at the limits and (for a
    priority) every word intake knows in any case match the pattern and are taken by intake;
    values intake refuses do not match."""
    good = {
        *README_EXAMPLES.get(name, ()),
        *schema.get("examples", ()),
        of_length(name, schema["maxLength"]),
    }
    if name == "priority":
        good |= {f(w) for w in KNOWN_PRIORITY_WORDS for f in (str.lower, str.upper, str.title)}
    for value in good:
        assert takes(path, name, value), f"intake refuses {value!r}"
        assert matches(schema, value), f"the pattern refuses {value!r}, which intake takes"
    for value in REFUSED[name]:
        assert not takes(path, name, value), f"intake takes {value!r}"
        assert not matches(schema, value), f"the pattern takes {value!r}, which intake refuses"


def customer_field(name: str) -> dict[str, Any]:
    return fields_of(CUSTOMER, JSON)[name]


def text_of(alphabet: str, *, min_size: int = 0, max_size: int) -> st.SearchStrategy[str]:
    """Text from ``alphabet``, each character as likely as it appears there (repeat to weigh)."""
    return st.lists(st.sampled_from(alphabet), min_size=min_size, max_size=max_size).map("".join)


# Mostly digits, some separators and a stray +: near the edge of what intake takes.
PHONES = st.tuples(
    st.sampled_from(["+", "00", "", "0", "+0"]),
    text_of("0123456789" * 4 + "()-./ \t\u00a0\u2009\u202f+", max_size=30),
).map("".join)


@FAST
@given(PHONES)
def test_a_phone_is_taken_exactly_when_the_pattern_admits_it(phone: str) -> None:
    """A phone with + or 00 first that intake takes, the pattern admits, and the other way
    round: any separators, any count of digits (none without a country code is admitted,
    as none is taken without DEFAULT_PHONE_COUNTRY)."""
    if phone != phone.strip():
        return  # intake trims; the document asks for the phone without surrounding blanks
    admitted = matches(customer_field("customer_phone"), phone)
    assert admitted == takes(CUSTOMER, "customer_phone", phone), phone


_LETTERS = "abcdefxyzABZ"
EMAILS = st.tuples(
    text_of(_LETTERS * 3 + "09_+-.'&~.!", max_size=70),
    st.lists(text_of(_LETTERS * 2 + "09-_", max_size=9), min_size=1, max_size=4),
    text_of(_LETTERS * 4 + "0-", max_size=24),
).map(lambda p: f"{p[0]}@{'.'.join([*p[1], p[2]])}")


@FAST
@given(EMAILS)
def test_an_email_is_taken_exactly_when_the_pattern_admits_it(email: str) -> None:
    """Addresses built from the characters that matter (one intake never takes among them):
    intake takes one exactly when the pattern admits it."""
    admitted = matches(customer_field("customer_email"), email)
    assert admitted == takes(CUSTOMER, "customer_email", email), email


@FAST
@given(st.text(alphabet="abcdeghilmnoprstuvwxyzABCHILMOPUíÍ0123456789", max_size=9))
def test_a_priority_word_is_taken_exactly_when_the_pattern_admits_it(word: str) -> None:
    """A priority intake takes, the pattern admits, and the other way round."""
    assert matches(customer_field("priority"), word) == takes(CUSTOMER, "priority", word), word


def key_header() -> dict[str, Any]:
    operation = DOCUMENT["paths"][CUSTOMER]["post"]
    (header,) = [p for p in operation["parameters"] if p["name"] == "Idempotency-Key"]
    schema: dict[str, Any] = header["schema"]
    return schema


def takes_key(key: str) -> bool:
    try:
        return intake.idempotency_key(key) == key
    except TicketingError:
        return False


@FAST
@given(st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=210))
def test_an_idempotency_key_is_taken_exactly_when_the_header_schema_admits_it(key: str) -> None:
    """Idempotency-Key: the header's pattern and maxLength are intake's key rule."""
    assert matches(key_header(), key) == takes_key(key), key


def test_the_idempotency_key_limit_is_intakes() -> None:
    """A key of maxLength characters is taken, one more is refused."""
    limit = key_header()["maxLength"]
    assert takes_key("k" * limit)
    assert not takes_key("k" * (limit + 1))


# --- answers -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", list(TRANSPORTS))
def test_201_and_202_document_their_location(path: str) -> None:
    """Both answers that accept a ticket document Location (the request's story), required;
    the refusals the route really gives are all listed, 429 with Retry-After (503 with it when
    the store refused)."""
    answers = DOCUMENT["paths"][path]["post"]["responses"]
    for status in ("201", "202"):
        location = answers[status]["headers"]["Location"]
        assert location["required"] is True
        assert location["schema"]["type"] == "string"
    assert "URL follows" not in answers["201"]["description"]
    assert {"400", "401", "413", "422", "429", "503"} <= set(answers)
    assert answers["429"]["headers"]["Retry-After"]["required"] is True
    assert "Retry-After" in answers["503"]["headers"]


def test_the_document_says_a_field_given_twice_is_refused() -> None:
    """The document no longer says the body wins over the query: a field given twice (in
    the query and the body, or repeated) is a 400 naming it."""
    operation = DOCUMENT["paths"][CUSTOMER]["post"]
    assert "body wins" not in operation["requestBody"]["description"]
    assert "given twice" in operation["requestBody"]["description"]
    assert "given twice" in operation["responses"]["400"]["description"]


# --- the limits through HTTP, per transport -------------------------------------------------


def multipart(fields: dict[str, str]) -> tuple[bytes, str]:
    boundary = "drift-test-boundary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
        for k, v in fields.items()
    ]
    return "".join([*parts, f"--{boundary}--\r\n"]).encode(), boundary


def send(client: TestClient[Any], path: str, transport: str, fields: dict[str, str]) -> Any:
    if transport == QUERY:
        return client.post(path, params=fields)
    if transport == FORM:
        return client.post(path, data=fields)
    if transport == JSON:
        return client.post(path, json=fields)
    body, boundary = multipart(fields)
    content_type = f"multipart/form-data; boundary={boundary}"
    return client.post(path, content=body, headers={"Content-Type": content_type})


Sender = Callable[[str, str, dict[str, str]], Any]


@pytest.fixture(scope="module")
def service() -> Iterator[Sender]:
    app = create_app(make_container(ENV), drain=False, consumer=False)
    with TestClient(app) as client:
        yield lambda path, transport, fields: send(client, path, transport, fields)


REFUSING = [
    (path, transport, name)
    for path, transport, name, _ in CONSTRAINTS
    if name in ("description", "customer_email", "customer_phone")
]


@pytest.mark.parametrize(
    ("path", "transport", "name"), REFUSING, ids=[" ".join(r) for r in REFUSING]
)
def test_a_refusing_limit_holds_on_its_transport(
    service: Sender, path: str, transport: str, name: str
) -> None:
    """Through the app, on each transport: a value of maxLength is a ticket (201, with its
    Location), one character more is a 422 naming the field."""
    limit = fields_of(path, transport)[name]["maxLength"]
    base = GOOD if path == CUSTOMER else {k: GOOD[k] for k in ("subject", "description")}
    if name in IDENTITY:
        base = {k: v for k, v in base.items() if k not in IDENTITY}
    created = service(path, transport, {**base, name: of_length(name, limit)})
    assert created.status_code == 201, created.text
    assert created.headers["Location"].startswith("/tickets/requests/")
    refused = service(path, transport, {**base, name: of_length(name, limit + 1)})
    assert refused.status_code == 422, refused.text
    assert refused.json()["field"] == name
