"""What the OpenAPI document says about requests and answers the handlers read and write by hand.

The ticket endpoints read their fields from the query, a form or a JSON body (see
``read_fields``), and answer with several statuses; Litestar cannot infer that from the
handler signatures, so it is described here, once, and fuzzed against (tests/fuzz).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import (
    OpenAPIFormat,
    OpenAPIMediaType,
    OpenAPIType,
    Operation,
    Parameter,
    RequestBody,
    Schema,
)

from ticketing.application import intake
from ticketing.domain.contacts import MAX_EMAIL
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
    400: _error("The body is not JSON or form data of strings"),
    401: UNAUTHORIZED,
    413: _error(
        "The body is over MAX_BODY_BYTES; a multipart body: a file over ATTACHMENT_MAX_BYTES "
        "(naming it), its text over MAX_BODY_BYTES or the body over its cap"
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

CUSTOMER_FIELDS: dict[str, tuple[int, str]] = {
    "customer_email": (MAX_EMAIL, "The customer's email (an email or a phone is required)"),
    "customer_name": (
        intake.MAX_NAME,
        "The customer's full name (a longer one is cut, kept whole in the description)",
    ),
    "customer_phone": (
        40,
        "The customer's phone with its country code (+52 55 1234 5678), any common format; "
        "without one only when DEFAULT_PHONE_COUNTRY is set",
    ),
    "subject": (
        intake.MAX_SUBJECT,
        "Ticket subject (required; a longer one is cut, kept whole in the description)",
    ),
    "description": (intake.MAX_DESCRIPTION, "Ticket text (required)"),
    "priority": (20, "High, Medium or Low in any case; also urgent, p1-p5, 1-5, alta, media, baja"),
    "category": (intake.MAX_CATEGORY, "Ticket category (a longer one is dropped and noted)"),
    "channel": (intake.MAX_CHANNEL, "Zoho channel (default DEFAULT_CHANNEL)"),
}
# Long text belongs in the body: URLs over a few kilobytes are refused by clients and proxies.
MAX_QUERY_FIELD = 2000
ADMIN_FIELDS = {k: CUSTOMER_FIELDS[k] for k in ("subject", "description", "priority", "category")}


# Shapes that tell clients (and the fuzzer) what a good value looks like; the service itself
# is more lenient (any common phone format, priority words in any case).
_FORMATS: dict[str, dict[str, Any]] = {
    "customer_email": {"format": "email"},
    "customer_phone": {"pattern": r"^\+[1-9][0-9]{7,14}$"},
    "priority": {"examples": ["High", "medium", "alta", "p1", "3"]},
    "subject": {"min_length": 1},
    "description": {"min_length": 1},
}


def _field(name: str, limit: int, text: str) -> Schema:
    return Schema(
        type=OpenAPIType.STRING, max_length=limit, description=text, **_FORMATS.get(name, {})
    )


def _fields_schema(fields: dict[str, tuple[int, str]]) -> Schema:
    return Schema(
        type=OpenAPIType.OBJECT,
        properties={name: _field(name, limit, text) for name, (limit, text) in fields.items()},
        required=["subject", "description"],
        description="Unknown fields are ignored. subject and description are required, in the "
        "body or as query parameters",
    )


def _headers() -> list[Parameter]:
    return [
        Parameter(
            name="Idempotency-Key",
            param_in="header",
            required=False,
            schema=Schema(type=OpenAPIType.STRING, max_length=intake.MAX_KEY),
            description="A repeated key with the same request answers with the first outcome "
            "and creates nothing new; with another request it is refused (422) "
            "(letters, digits and . _ : -)",
        ),
        Parameter(
            name="X-Request-ID",
            param_in="header",
            required=False,
            schema=Schema(type=OpenAPIType.STRING, max_length=128),
            description="Correlation id for the logs, echoed back (a fresh one when absent)",
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
        required=schema.required,
        description=schema.description,
    )


def _describe(
    operation: Operation, fields: dict[str, tuple[int, str]], *, files: bool = False
) -> None:
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
        description="The fields as a JSON object or a form body (curl -d)"
        + (", or multipart/form-data with files (curl -F)" if files else "")
        + "; the same fields may also come as query parameters, and the body wins",
    )
    query = [
        Parameter(
            name=name,
            param_in="query",
            required=False,
            schema=_field(name, min(limit, MAX_QUERY_FIELD), text),
            description=text,
        )
        for name, (limit, text) in fields.items()
    ]
    operation.parameters = [*query, *_headers()]


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
