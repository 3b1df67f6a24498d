"""What the OpenAPI document says about requests and answers the handlers read and write by hand.

The ticket endpoints read their fields from the query, a form or a JSON body (see
``read_fields``), and answer with several statuses; Litestar cannot infer that from the
handler signatures, so it is described here, once, and fuzzed against (tests/fuzz).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import (
    OpenAPIFormat,
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Parameter,
    RequestBody,
    Schema,
)

from ticketing.application import intake
from ticketing.domain.contacts import MAX_EMAIL
from ticketing.domain.priority import KNOWN_PRIORITY_WORDS
from ticketing.entrypoints.schemas import ErrorOut, TicketOut


class LastDrainOut(msgspec.Struct, kw_only=True):
    processed: int
    created: int
    failed: int


class ZohoLimitsOut(msgspec.Struct, kw_only=True, omit_defaults=True):
    credits_remaining: int | None  # API credits left today, per Zoho's last answer
    max_concurrency: int | None  # ZOHO_MAX_CONCURRENCY
    calls_in_flight: int  # this process's
    paused_for: float  # seconds left of a 429 Retry-After pause
    credits_ran_out_at: datetime | None = None  # when Zoho said the day's credits are spent
    credits_back_at: datetime | None = None  # when they come back (Zoho's Retry-After)


class HealthOut(msgspec.Struct, kw_only=True, omit_defaults=True):
    """``GET /health``: the contract's keys and more."""

    status: str  # healthy | degraded | unhealthy
    service: str
    version: str
    zoho_connected: bool
    redis_connected: bool
    queue_length: int  # the contract's int: 0 when unknown, with queue_length_known false
    queue_length_known: bool  # false: the store did not answer, the figures are not known
    dead_letters: int | None  # null when unknown
    breaker: str
    mode: str
    store: str
    draining: bool
    last_drain: LastDrainOut | None
    last_error: str | None = None
    zoho_limits: ZohoLimitsOut | None = None
    store_error: str | None = None  # why tickets cannot be accepted durably now
    zoho_credentials_ok: bool | None = None  # false: an operator must act (auth setup)
    # The scopes the two-way sync lacks and what to re-authorize; tickets are still created.
    sync_reauthorize: str | None = None


def _error(description: str) -> ResponseSpec:
    return ResponseSpec(data_container=ErrorOut, description=description, generate_examples=False)


error_response = _error  # for the route modules that declare their own refusals


UNAUTHORIZED = _error("Missing or wrong API key (only when API_KEYS is set)")

THROTTLED = _error(
    "Too many wrong API keys from this address: wait Retry-After seconds (only when API_KEYS "
    "is set)"
)

GUARDED: dict[int, ResponseSpec] = {401: UNAUTHORIZED, 429: THROTTLED}

STORE_DOWN: dict[int, ResponseSpec] = {
    503: _error("The ticket store (Redis) does not answer"),
}

ZOHO: dict[int, ResponseSpec] = {
    401: UNAUTHORIZED,
    429: THROTTLED,
    502: _error("Zoho Desk refused the credentials or the call"),
    503: _error("Zoho Desk is unreachable, throttling, or the circuit breaker is open"),
}

TICKET: dict[int, ResponseSpec] = {
    202: ResponseSpec(
        data_container=TicketOut,
        description="Accepted and stored durably; Zoho Desk cannot take it now, it will be "
        "created later (status queued)",
        generate_examples=False,
    ),
    400: _error(
        "The request cannot be read, naming what: a body that is not a JSON object or a form "
        "of strings, JSON sent without Content-Type: application/json, JSON nested more than "
        "32 levels, a form that is not UTF-8, a malformed multipart body; or a field given "
        "twice (in the query and the body, or repeated)"
    ),
    401: UNAUTHORIZED,
    413: _error(
        "The body is over MAX_BODY_BYTES (a declared Content-Length before the body is sent); "
        "a multipart body: a file over ATTACHMENT_MAX_BYTES (naming it), its text over "
        "MAX_BODY_BYTES or the body over its cap. Sent whole at once; the rest of the body is "
        "read and dropped before the connection closes"
    ),
    429: THROTTLED,
    422: ResponseSpec(
        data_container=ErrorOut | TicketOut,
        description="Invalid input, naming the field (error body); an Idempotency-Key sent "
        "before with another request (error idempotency_key_reused); or Zoho Desk refused the "
        "ticket for good (status rejected, kept in the dead letters)",
        generate_examples=False,
    ),
    503: _error("The ticket store (Redis) does not answer: nothing was accepted"),
}

HEALTH: dict[int, ResponseSpec] = {
    503: ResponseSpec(
        data_container=HealthOut,
        description="Unhealthy: tickets cannot be accepted now",
        generate_examples=False,
    )
}


@dataclass(frozen=True)
class FieldRule:
    """What the document promises about one ticket field, on every transport (query, form,
    JSON, multipart). ``max_length`` is intake's limit for the field: past it a value is
    refused, or cut or dropped with a note, as ``text`` says (the drift test,
    test_openapi_drift.py, checks each against intake itself)."""

    max_length: int
    text: str
    pattern: str | None = None
    min_length: int | None = None
    examples: tuple[str, ...] = ()


# A phone written with its country code (+ or 00 first), then 8 to 15 digits among the
# separators people type or paste: what intake takes whatever DEFAULT_PHONE_COUNTRY says
# (normalize_phone). A national number is taken only when that setting says whose it is.
_PHONE_SEPARATORS = r"[()\-./ \t\u00a0\u2009\u202f]"
# Between the two zeros of 00, intake drops only these (intake.customer_phone): not "/".
_PREFIX_SEPARATORS = r"[()\-. \t\u00a0\u2009\u202f]"
PHONE_PATTERN = (
    rf"^(?:\+|0{_PREFIX_SEPARATORS}*0)(?:{_PHONE_SEPARATORS}*[0-9]){{8,15}}{_PHONE_SEPARATORS}*$"
)
# The addresses intake takes (domain/contacts.py normalize_email): Zoho's inline-contact
# pattern, a local part of at most 64 characters, with no two dots in a row and none last.
# Written without ambiguity, so that no validator backtracks on it.
_EMAIL_CHARS = r"[a-zA-Z0-9_+\-'&~]"
EMAIL_PATTERN = (
    rf"^(?![^@]{{65}})[a-zA-Z0-9_]{_EMAIL_CHARS}*(?:\.{_EMAIL_CHARS}+)*"
    r"@(?:[a-zA-Z0-9]+(?:[\-_]+[a-zA-Z0-9]+)*\.)+[a-zA-Z]{2,22}$"
)
KEY_PATTERN = r"^[A-Za-z0-9._:\-]+$"  # intake.idempotency_key
REQUEST_ID_PATTERN = r"^[A-Za-z0-9._:\-]{1,128}$"  # middleware.request_id_from


def _any_case(word: str) -> str:
    return "".join(
        f"[{re.escape(ch.upper())}{re.escape(ch)}]" if ch.upper() != ch else re.escape(ch)
        for ch in word
    )


# Every word parse_priority knows, in any case; empty means "the default priority".
PRIORITY_PATTERN = "^(?:" + "|".join(_any_case(w) for w in sorted(KNOWN_PRIORITY_WORDS)) + ")?$"

CUSTOMER_FIELDS: dict[str, FieldRule] = {
    "customer_email": FieldRule(
        MAX_EMAIL,
        "The customer's email, an address Zoho Desk accepts (an email or a phone is required)",
        pattern=EMAIL_PATTERN,
        examples=("ana@example.com",),
    ),
    "customer_name": FieldRule(
        intake.MAX_NAME,
        "The customer's full name (a longer one is cut, kept whole in the description)",
    ),
    "customer_phone": FieldRule(
        intake.MAX_PHONE,
        "The customer's phone with its country code (+52 55 1234 5678, 0052 55 1234 5678), "
        "any common separators, 8 to 15 digits; without a country code only when "
        "DEFAULT_PHONE_COUNTRY is set (the pattern describes the form always accepted)",
        pattern=PHONE_PATTERN,
        examples=("+52 55 1234 5678", "+525512345678"),
    ),
    "subject": FieldRule(
        intake.MAX_SUBJECT,
        "Ticket subject (required; a longer one is cut, kept whole in the description)",
        min_length=1,
    ),
    "description": FieldRule(
        intake.MAX_DESCRIPTION, "Ticket text (required; a longer one is refused)", min_length=1
    ),
    "priority": FieldRule(
        max(len(w) for w in KNOWN_PRIORITY_WORDS),
        "High, Medium or Low in any case; also urgent, critical, p1-p5, 1-5, alta, media, "
        "baja; empty: DEFAULT_PRIORITY; another word is refused",
        pattern=PRIORITY_PATTERN,
        examples=("High", "medium", "alta", "p1", "3"),
    ),
    "category": FieldRule(
        intake.MAX_CATEGORY, "Ticket category (a longer one is dropped and noted)"
    ),
    "channel": FieldRule(
        intake.MAX_CHANNEL,
        "Zoho channel (default DEFAULT_CHANNEL; a longer one is dropped and noted)",
    ),
}
ADMIN_FIELDS = {k: CUSTOMER_FIELDS[k] for k in ("subject", "description", "priority", "category")}
# Fields intake refuses a ticket without, wherever they come from (so no transport marks
# them required: the query may carry one and the body the other).
REQUIRED = ("subject", "description")
_ONCE = (
    "Each field once, as a query parameter or in the body: a field given twice (in the query "
    "and the body, or repeated) is refused, 400 naming it"
)


def _field(rule: FieldRule) -> Schema:
    return Schema(
        type=OpenAPIType.STRING,
        max_length=rule.max_length,
        min_length=rule.min_length,
        pattern=rule.pattern,
        examples=list(rule.examples) or None,
        description=rule.text,
    )


def _fields_schema(fields: dict[str, FieldRule]) -> Schema:
    return Schema(
        type=OpenAPIType.OBJECT,
        properties={name: _field(rule) for name, rule in fields.items()},
        description=f"Unknown fields are ignored. {' and '.join(REQUIRED)} are required, here or "
        f"as query parameters. {_ONCE}",
    )


def _headers() -> list[Parameter]:
    return [
        Parameter(
            name="Idempotency-Key",
            param_in="header",
            required=False,
            schema=Schema(type=OpenAPIType.STRING, max_length=intake.MAX_KEY, pattern=KEY_PATTERN),
            description="A repeated key with the same request answers with the first outcome "
            "and creates nothing new; with another request it is refused (422) "
            "(letters, digits and . _ : -)",
        ),
        Parameter(
            name="X-Request-ID",
            param_in="header",
            required=False,
            schema=Schema(type=OpenAPIType.STRING, max_length=128, pattern=REQUEST_ID_PATTERN),
            description="Correlation id for the logs, echoed back; absent or another value: a "
            "fresh one (never refused)",
        ),
    ]


def _with_files(schema: Schema) -> Schema:
    """The fields plus ``file`` parts (curl -F): multipart/form-data."""
    files = Schema(
        type=OpenAPIType.ARRAY,
        items=Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY),
        max_items=intake.MAX_ATTACHMENTS,
        description="Files to attach, each a part named file (filename and type kept); each "
        "at most ATTACHMENT_MAX_BYTES (413 past it), past the tenth dropped with a note",
    )
    return Schema(
        type=OpenAPIType.OBJECT,
        properties={**(schema.properties or {}), "file": files},
        description=schema.description,
    )


def _header(text: str, *, required: bool = False, example: str | None = None) -> OpenAPIHeader:
    return OpenAPIHeader(
        schema=Schema(type=OpenAPIType.STRING, examples=[example] if example else None),
        description=text,
        required=required,
    )


_LOCATION = _header(
    "/tickets/requests/<idempotency key>: the request's story (GET it)",
    required=True,
    example="/tickets/requests/order-4711",
)
_REPLAYED = _header("true: a repeated Idempotency-Key, answered with the first outcome")
_RETRY_AFTER = _header("Seconds to wait before trying again", required=True, example="2")
_RETRY_STORE = _header("Seconds to wait before trying again (the store's refusal: 2)", example="2")
_CLOSE = _header("close: the connection is closed once the rest of the body is read and dropped")
# Headers every ticket answer of these statuses carries (Litestar's ResponseSpec has none).
_ANSWER_HEADERS: dict[str, dict[str, OpenAPIHeader]] = {
    "201": {"Location": _LOCATION, "Idempotent-Replayed": _REPLAYED},
    "202": {"Location": _LOCATION, "Idempotent-Replayed": _REPLAYED},
    "413": {"Connection": _CLOSE},
    "422": {"Idempotent-Replayed": _REPLAYED},
    "429": {"Retry-After": _RETRY_AFTER},
    "503": {"Retry-After": _RETRY_STORE},
}


def _describe_answers(operation: Operation) -> None:
    for status, response in (operation.responses or {}).items():
        if not isinstance(response, OpenAPIResponse):
            continue
        if status == "201":
            response.description = "Created in Zoho Desk (status created or appended)"
        response.headers = {**(response.headers or {}), **_ANSWER_HEADERS.get(status, {})}


_LONG_URL = 2000  # characters past which some proxies and clients refuse a URL


def _describe(operation: Operation, fields: dict[str, FieldRule], *, files: bool = False) -> None:
    schema = _fields_schema(fields)
    content = {
        "application/json": OpenAPIMediaType(schema=schema),
        "application/x-www-form-urlencoded": OpenAPIMediaType(schema=schema),
    }
    if files:
        content["multipart/form-data"] = OpenAPIMediaType(schema=_with_files(schema))
    operation.request_body = RequestBody(
        content=content,
        required=False,
        description="The fields as a JSON object (Content-Type: application/json) or a form "
        "body (curl -d)"
        + (", or multipart/form-data with files (curl -F)" if files else "")
        + f"; or as query parameters. {_ONCE}",
    )
    query = [
        Parameter(
            name=name,
            param_in="query",
            required=False,
            schema=_field(rule),
            description=rule.text + " (long text belongs in the body: proxies may refuse long URLs)"
            if rule.max_length > _LONG_URL
            else rule.text,
        )
        for name, rule in fields.items()
    ]
    operation.parameters = [*query, *_headers()]
    _describe_answers(operation)


@dataclass
class CustomerTicketOperation(Operation):
    """``POST /tickets/customer``: fields from the query, a form, a JSON body or a
    multipart body with files."""

    def __post_init__(self) -> None:
        _describe(self, CUSTOMER_FIELDS, files=True)


@dataclass
class AdminTicketOperation(Operation):
    """``POST /tickets``: fields from the query, a form or a JSON body."""

    def __post_init__(self) -> None:
        _describe(self, ADMIN_FIELDS)


def responses(*groups: dict[int, ResponseSpec]) -> dict[int, ResponseSpec]:
    """Merge response groups (later ones win)."""
    out: dict[int, ResponseSpec] = {}
    for group in groups:
        out.update(group)
    return out


__all__: list[Any] = [
    "GUARDED",
    "HEALTH",
    "STORE_DOWN",
    "TICKET",
    "ZOHO",
    "AdminTicketOperation",
    "CustomerTicketOperation",
    "HealthOut",
    "ZohoLimitsOut",
    "responses",
]
