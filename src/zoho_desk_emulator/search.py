"""Zoho Desk's search: the contact and ticket search endpoints' paging, terms and matching."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any

from zoho_desk_emulator.errors import FieldError, invalid_data
from zoho_desk_emulator.records import ContactRecord, TicketRecord

CONTACT_SORTS = ("relevance", "modifiedTime", "createdTime", "lastName", "firstName")
TICKET_SORTS = ("relevance", "modifiedTime", "createdTime", "ticketNumber", "dueDate")


def search_contacts(
    contacts: Iterable[ContactRecord], org_id: str, params: Mapping[str, str], *, lenient: bool
) -> tuple[list[dict[str, Any]], int]:
    """Zoho's loose contact search: ``(page, total)``; callers filter for exact matches."""
    start, limit = _page(params)
    tests: list[tuple[list[str], Callable[[ContactRecord, str], bool]]] = []
    if "_all" in params:
        _all_term(params)
    for name, fields_of in (
        ("email", lambda c: (c.email, c.secondary_email)),
        ("firstName", lambda c: (c.first_name,)),
        ("lastName", lambda c: (c.last_name,)),
        ("fullName", lambda c: (c.full_name,)),
        ("_all", lambda c: (c.email, c.full_name, c.phone, c.mobile)),
    ):
        if name in params:
            tests.append((_terms(params, name), _text_matcher(fields_of)))
    for name in ("phone", "mobile"):
        if name in params:
            tests.append((_terms(params, name), _phone_search(name, lenient=lenient)))
    cf_tests = _custom_field_tests(params)
    found = [
        c
        for c in contacts
        if c.org_id == org_id
        and all(any(match(c, term) for term in terms) for terms, match in tests)
        and all(_cf_matches(c.cf, name, value) for name, value in cf_tests)
    ]
    found = _sorted(found, params.get("sortBy"), CONTACT_SORTS, _contact_sort_key)
    return [c.as_zoho() for c in found[start : start + limit]], len(found)


def _phone_search(name: str, *, lenient: bool) -> Callable[[ContactRecord, str], bool]:
    """``phone=`` reads only ``phone`` and ``mobile=`` only ``mobile`` (facts page), each
    against the stored string: exact (case-insensitive), or ``*`` as a wildcard. Lenient: the
    old digits-only match on either field."""
    if lenient:
        return _phone_matcher
    read = attrgetter(name)
    return lambda contact, term: _wildcard(term, read(contact))


def search_tickets(
    tickets: Iterable[TicketRecord],
    org_id: str,
    params: Mapping[str, str],
    *,
    indexed_before: datetime | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """Ticket search: ``(page, total)``; tickets created after ``indexed_before`` (the
    ``search_lag`` fault) are not indexed yet."""
    start, limit = _page(params)
    subject = params.get("subject")
    if subject is not None and len(subject.strip()) < 3:
        raise invalid_data(FieldError("subject", "invalid", "subject needs 3 characters"))
    window = _time_range(params.get("createdTimeRange"), "createdTimeRange")
    modified = _time_range(params.get("modifiedTimeRange"), "modifiedTimeRange")
    cf_tests = _custom_field_tests(params)
    exact = {name: params[name] for name in _TICKET_FIELDS if name in params}
    checks: list[Callable[[TicketRecord], bool]] = [lambda t: t.org_id == org_id]
    if indexed_before is not None:
        cutoff = indexed_before
        checks.append(lambda t: t.created_time <= cutoff)
    checks += [_field_equals(name, wanted.strip()) for name, wanted in exact.items()]
    if subject is not None:
        checks.append(lambda t: _loose(subject, t.subject))
    if "email" in params:
        emails = _terms(params, "email")
        checks.append(lambda t: any(_loose(e, t.email) for e in emails))
    if "phone" in params:
        phones = _terms(params, "phone")
        checks.append(lambda t: any(_phone_like(p, t.phone) for p in phones))
    if "_all" in params:
        everything = _all_term(params)
        checks.append(lambda t: any(_loose(everything, v) for v in _ticket_columns(t)))
    if window is not None:
        low, high = window
        checks.append(lambda t: low <= t.created_time <= high)
    if modified is not None:
        since, until = modified
        # the index lags changes as it lags new tickets (the search_lag fault)
        checks.append(lambda t: since <= t.modified_as_of(indexed_before) <= until)
    checks += [_ticket_cf_matches(name, value) for name, value in cf_tests]
    found = [t for t in tickets if all(check(t) for check in checks)]
    found = _sorted(found, params.get("sortBy"), TICKET_SORTS, _ticket_sort_key)
    return [t.as_zoho() for t in found[start : start + limit]], len(found)


# ---------------------------------------------------------------------- matching


def int_param(params: Mapping[str, str], name: str, *, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise invalid_data(FieldError(name, "invalid", f"{name} is between {low} and {high}"))
    return value


def _page(params: Mapping[str, str]) -> tuple[int, int]:
    """A search's ``(from, limit)``: from 0 to 999, limit 1 to 100 (10 unless given)."""
    limit = int_param(params, "limit", default=10, low=1, high=100)  # limit is checked first
    return int_param(params, "from", default=0, low=0, high=999), limit


def _terms(params: Mapping[str, str], name: str) -> list[str]:
    terms = [t.strip() for t in params[name].split(",") if t.strip()]
    if not terms or len(terms) > 30:
        raise invalid_data(FieldError(name, "invalid", f"{name} takes 1 to 30 values"))
    return terms


def _all_term(params: Mapping[str, str]) -> str:
    """The ``_all`` search term: 3 to 100 characters (``Search.json``), else 422."""
    term = params["_all"].strip()
    if not 3 <= len(term) <= 100:
        raise invalid_data(FieldError("_all", "invalid", "_all takes 3 to 100 characters"))
    return term


def _ticket_columns(ticket: TicketRecord) -> tuple[str | None, ...]:
    """What ``_all`` searches in a ticket: its text columns, custom fields included."""
    return (
        ticket.subject,
        ticket.description,
        ticket.email,
        ticket.phone,
        ticket.ticket_number,
        ticket.status,
        ticket.priority,
        ticket.channel,
        *(str(v) for v in ticket.cf.values() if v is not None),
        *(str(v) for v in ticket.extra.values() if v is not None),
    )


def _loose(term: str, value: str | None) -> bool:
    """Zoho-like loose match: case-insensitive containment, ``*`` as a wildcard."""
    if not value:
        return False
    term = term.strip().lower()
    if "*" in term:
        pattern = ".*".join(re.escape(part) for part in term.split("*"))
        return re.fullmatch(pattern, value.lower()) is not None
    return term in value.lower()


def _wildcard(term: str, value: str | None) -> bool:
    """Zoho's search against a stored string: ``*`` matches anything, otherwise the whole
    value must match (case-insensitively)."""
    if not value:
        return False
    pattern = ".*".join(re.escape(part) for part in term.strip().lower().split("*"))
    return re.fullmatch(pattern, value.strip().lower()) is not None


def _text_matcher(
    fields_of: Callable[[ContactRecord], tuple[str | None, ...]],
) -> Callable[[ContactRecord, str], bool]:
    def match(contact: ContactRecord, term: str) -> bool:
        return any(_loose(term, v) for v in fields_of(contact))

    return match


def _digits(value: str | None) -> str:
    return "".join(ch for ch in value or "" if ch.isdigit())


def _phone_like(term: str, value: str | None) -> bool:
    wanted, have = _digits(term), _digits(value)
    if not wanted or not have:
        return False
    # loose both ways, so "+52 1 55 1234 5678" and "5512345678" find each other
    return wanted in have or (len(have) >= 7 and have in wanted)


def _phone_matcher(contact: ContactRecord, term: str) -> bool:
    return _phone_like(term, contact.phone) or _phone_like(term, contact.mobile)


def _custom_field_tests(params: Mapping[str, str]) -> list[tuple[str, str]]:
    tests = []
    for n in range(1, 11):
        raw = params.get(f"customField{n}")
        if raw is None:
            continue
        name, sep, value = raw.partition(":")
        if not sep or not name.strip().startswith("cf_"):
            raise invalid_data(
                FieldError(f"customField{n}", "invalid", "customFieldN is cf_api_name:value")
            )
        tests.append((name.strip(), value.strip()))
    return tests


def _cf_matches(cf: Mapping[str, str | None], name: str, value: str) -> bool:
    have = cf.get(name)
    if have is None:
        return False
    if "*" in value:
        return _loose(value, have)
    return have.lower() == value.lower()


def _parse_time(raw: str) -> datetime:
    raw = raw.strip()
    if raw.isdigit():
        return datetime.fromtimestamp(int(raw) / 1000, UTC)
    moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _time_range(raw: str | None, name: str) -> tuple[datetime, datetime] | None:
    if raw is None:
        return None
    start, sep, end = raw.partition(",")
    try:
        if not sep:
            raise ValueError(raw)
        return _parse_time(start), _parse_time(end)
    except ValueError:
        raise invalid_data(FieldError(name, "invalid", f"{name} is ISO,ISO")) from None


def _sorted(items: list[Any], sort_by: str | None, allowed: tuple[str, ...], key: Any) -> list[Any]:
    if sort_by is None:
        return items
    name = sort_by.removeprefix("-")
    if name not in allowed:
        raise invalid_data(FieldError("sortBy", "invalid", f"sortBy is one of {allowed}"))
    if name == "relevance":
        return items
    return sorted(items, key=lambda item: key(item, name), reverse=sort_by.startswith("-"))


def _contact_sort_key(contact: ContactRecord, name: str) -> Any:
    if name in ("createdTime", "modifiedTime"):
        return contact.created_time
    return ((contact.last_name if name == "lastName" else contact.first_name) or "").lower()


# the ticket search's exact-match parameters and the record attribute each one reads
_TICKET_FIELDS: dict[str, Callable[[TicketRecord], str | None]] = {
    "contactId": attrgetter("contact_id"),
    "departmentId": attrgetter("department_id"),
    "ticketNumber": attrgetter("ticket_number"),
    "status": attrgetter("status"),
    "priority": attrgetter("priority"),
}


def _field_equals(name: str, wanted: str) -> Callable[[TicketRecord], bool]:
    read = _TICKET_FIELDS[name]
    return lambda ticket: read(ticket) == wanted


def _ticket_cf_matches(name: str, value: str) -> Callable[[TicketRecord], bool]:
    return lambda ticket: _cf_matches(ticket.cf, name, value)


def _ticket_sort_key(ticket: TicketRecord, name: str) -> Any:
    if name == "ticketNumber":
        return int(ticket.ticket_number)
    if name == "dueDate":
        return str(ticket.extra.get("dueDate") or "")
    if name == "modifiedTime":
        return ticket.modified_time or ticket.created_time
    if name == "recentThread":
        return ticket.recent_thread_time or ticket.created_time
    return ticket.created_time


LIST_SORTS = ("dueDate", "createdTime", "recentThread")


def list_tickets(
    tickets: Iterable[TicketRecord], org_id: str, params: Mapping[str, str]
) -> list[dict[str, Any]]:
    """``GET /tickets``: a page (``limit`` 25 unless given, at most 100) filtered by
    ``departmentId``/``departmentIds``, ``status``, ``priority``, ``channel``."""
    limit = int_param(params, "limit", default=25, low=1, high=100)
    start = int_param(params, "from", default=0, low=0, high=1_000_000)
    departments = set(_list(params, "departmentIds")) | set(_list(params, "departmentId"))
    statuses = {v.lower() for v in _list(params, "status")}
    priorities = {v.lower() for v in _list(params, "priority")}
    channels = {v.lower() for v in _list(params, "channel")}
    found = [
        t
        for t in tickets
        if t.org_id == org_id
        and (not departments or t.department_id in departments)
        and (not statuses or t.status.lower() in statuses)
        and (not priorities or (t.priority or "").lower() in priorities)
        and (not channels or (t.channel or "").lower() in channels)
    ]
    found = _sorted(found, params.get("sortBy"), LIST_SORTS, _ticket_sort_key)
    return [t.as_zoho() for t in found[start : start + limit]]


def _list(params: Mapping[str, str], name: str) -> list[str]:
    return [v.strip() for v in params.get(name, "").split(",") if v.strip()]
