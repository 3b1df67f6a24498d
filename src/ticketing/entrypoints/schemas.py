"""Wire formats at the service's edges: HTTP bodies and Redis messages (msgspec)."""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from itertools import accumulate
from typing import Any

import msgspec

from ticketing.application.intake import caller_key
from ticketing.domain.errors import DuplicateField
from ticketing.domain.model import DeadLetter, Department, DrainReport, Outcome, TicketState

# How deep a JSON body or message may nest. An incident nests 2 levels; a decoder recurses
# once per level, and a few thousand levels end in a RecursionError, so this is checked on the
# raw bytes before anything decodes them.
MAX_JSON_DEPTH = 32

_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_A_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = [0] * 256
_STEP[ord("[")] = _STEP[ord("{")] = 1
_STEP[ord("]")] = _STEP[ord("}")] = -1


def json_depth(data: bytes) -> int:
    """How deep a JSON text nests arrays and objects, read from its bytes without decoding
    them (brackets inside strings do not count). Linear and in C: the strings are cut out by
    one regular expression, the brackets kept by ``translate``, the running depth summed by
    ``accumulate``. For malformed JSON (an unterminated string) it may overcount, never
    undercount."""
    brackets = _JSON_STRING.sub(b"", data).translate(None, _NOT_A_BRACKET)
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def nesting_problem(data: bytes) -> str | None:
    """Why a JSON text is refused before decoding (too deeply nested), or None."""
    depth = json_depth(data)
    if depth > MAX_JSON_DEPTH:
        return f"JSON nested {depth} levels deep; the limit is {MAX_JSON_DEPTH}"
    return None


class _Pairs(list[tuple[str, Any]]):
    """A JSON object as its key-value pairs, in order, repeats included."""


def duplicate_key(data: bytes | str, *, nested: bool = False) -> str | None:
    """The first key a JSON object gives twice, or None (also for text that is not JSON:
    the decoder says what is wrong with it). Keys are compared decoded, so ``"email"`` and
    ``"\\u0065mail"`` are the same key. Only the top-level object unless ``nested``; a nested
    key is named by its path (``customer.email``, ``attachments[0].url``).

    msgspec, like most decoders, silently keeps the last value of a repeated key: this reads
    the text a second time with the standard library, which reports every pair."""
    try:
        tree = json.loads(data, object_pairs_hook=_Pairs)
    except (ValueError, RecursionError):
        return None
    return _first_duplicate(tree, "", nested=nested)


def _first_duplicate(node: Any, path: str, *, nested: bool) -> str | None:
    if isinstance(node, _Pairs):
        seen: set[str] = set()
        for key, _ in node:
            if key in seen:
                return f"{path}{key}"
            seen.add(key)
        children = [(f"{path}{key}.", value) for key, value in node]
    elif isinstance(node, list):
        base = path.removesuffix(".")
        children = [(f"{base}[{i}].", item) for i, item in enumerate(node)]
    else:
        return None
    if not nested:
        return None
    for child_path, child in children:
        if found := _first_duplicate(child, child_path, nested=True):
            return found
    return None


def single_fields(
    sources: Sequence[tuple[str, Iterable[tuple[str, Any]]]], names: Collection[str]
) -> dict[str, str]:
    """One value per field from the request's sources (``("query", pairs)``, ``("form
    body", pairs)``, …): each of ``names`` may be given once in all of them together. Other
    names are not read, and keep their first value.

    Raises:
        DuplicateField: a field of ``names`` given twice, in one source or in two (the body
            used to win over the query without a word).
    """
    out: dict[str, str] = {}
    given_in: dict[str, str] = {}
    for label, pairs in sources:
        for name, value in pairs:
            if not isinstance(value, str):
                continue
            if name in names and name in given_in:
                first = given_in[name]
                where = f"in the {label}" if first == label else f"in the {first} and the {label}"
                raise DuplicateField(name, where)
            given_in.setdefault(name, label)
            out.setdefault(name, value)
    return out


class CustomerTicketIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=False):
    """``POST /tickets/customer``: as query parameters, a form body or a JSON body."""

    customer_email: str | None = None
    customer_name: str | None = None
    customer_phone: str | None = None
    subject: str | None = None
    description: str | None = None
    priority: str | None = None
    category: str | None = None
    channel: str | None = None


class AdminTicketIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=False):
    """``POST /tickets``: a ticket under the configured default contact."""

    subject: str | None = None
    description: str | None = None
    priority: str | None = None
    category: str | None = None


# The fields each ticket route reads: each may be given once per request.
CUSTOMER_FIELDS: frozenset[str] = frozenset(CustomerTicketIn.__struct_fields__)
ADMIN_FIELDS: frozenset[str] = frozenset(AdminTicketIn.__struct_fields__)


class IncidentCustomer(msgspec.Struct, kw_only=True, forbid_unknown_fields=False):
    """The customer inside a classifier incident (a phone may come as a JSON number)."""

    name: str | None = None
    email: str | None = None
    phone: str | int | None = None


class IncidentAttachment(msgspec.Struct, kw_only=True, forbid_unknown_fields=False):
    """A file of a classified incident: a ``url`` to fetch, or base64 ``data``."""

    url: str | None = None
    filename: str | None = None
    content_type: str | None = None
    size: int | str | None = None
    data: str | None = None


class Incident(msgspec.Struct, kw_only=True, forbid_unknown_fields=False):
    """A classified incident from ``tickets:classify:result`` (the classifier's format)."""

    incident_id: str
    description: str
    customer: IncidentCustomer
    subject: str | None = None
    category: str | None = None
    priority: str | int | None = None
    confidence: float | str | None = None  # "0.9" is read as 0.9
    channel: str | None = None
    # A follow-up's ticket or conversation (THREAD_WINDOW); a number is read as its digits.
    ticket_id: str | int | None = None
    conversation_id: str | None = None
    attachments: list[IncidentAttachment] | None = None
    # Not used (the service stamps when it received the incident), so any value is taken.
    received_at: Any = None


class TicketOut(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The answer to a ticket submission."""

    status: str  # created | queued | rejected
    request_id: str
    idempotency_key: str
    ticket_id: str | None = None
    ticket_number: str | None = None
    contact_id: str | None = None
    web_url: str | None = None
    message: str | None = None


class DepartmentOut(msgspec.Struct, kw_only=True):
    id: str
    name: str
    is_enabled: bool
    is_default: bool


class DepartmentsOut(msgspec.Struct, kw_only=True):
    data: list[DepartmentOut]
    count: int


class QueueProcessOut(msgspec.Struct, kw_only=True):
    processed: int
    created: int
    failed: int
    remaining: int
    dead: int = 0
    errors: list[str] = msgspec.field(default_factory=list)


class DeadLetterOut(msgspec.Struct, kw_only=True):
    entry_id: str
    key: str | None
    label: str  # the key, or the id the message carries ("incident_id wa-…")
    reason: str
    failed_at: datetime
    origin: str


class DeadLettersOut(msgspec.Struct, kw_only=True):
    total: int  # dead letters in all
    matching: int  # of those, how many match the reason asked (all, without one)
    dead_letters: list[DeadLetterOut]  # newest first, at most the limit


class QueueOut(msgspec.Struct, kw_only=True):
    pending: int
    dead: int
    dead_letters: list[DeadLetterOut]


class ErrorOut(msgspec.Struct, kw_only=True, omit_defaults=True):
    error: str
    message: str
    field: str | None = None


_STATUS = {
    TicketState.CREATED: "created",
    TicketState.APPENDED: "appended",
    TicketState.ACCEPTED: "queued",
    TicketState.CREATING: "queued",
    TicketState.DEAD: "rejected",
}


def ticket_out(outcome: Outcome) -> TicketOut:
    """The API's view of an outcome."""
    message = None
    if outcome.state is TicketState.DEAD:
        message = outcome.reason or "Zoho Desk refused the ticket"
    elif outcome.state not in (TicketState.CREATED, TicketState.APPENDED):
        message = "Zoho Desk cannot take the ticket now; it is stored and will be created later"
    return TicketOut(
        status=_STATUS[outcome.state],
        request_id=outcome.request_id,
        idempotency_key=caller_key(outcome.key),
        ticket_id=outcome.ticket_id,
        ticket_number=outcome.ticket_number,
        contact_id=outcome.contact_id,
        web_url=outcome.web_url,
        message=message,
    )


def departments_out(departments: list[Department]) -> DepartmentsOut:
    data = [msgspec.convert(d, DepartmentOut, from_attributes=True) for d in departments]
    return DepartmentsOut(data=data, count=len(data))


def drain_out(report: DrainReport) -> QueueProcessOut:
    return msgspec.convert(report, QueueProcessOut, from_attributes=True)


def dead_letter_out(letter: DeadLetter) -> DeadLetterOut:
    return msgspec.convert(letter, DeadLetterOut, from_attributes=True)
