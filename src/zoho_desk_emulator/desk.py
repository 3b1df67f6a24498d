"""The emulated Desk resources: portals, departments, picklists, contacts and tickets, with
Zoho's validation of every create (422 ``INVALID_DATA``) and the searches over them."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from zoho_desk_emulator import search
from zoho_desk_emulator.clock import Clock
from zoho_desk_emulator.constraints import (
    CREATE_CONTACT,
    CREATE_TICKET,
    DEFAULT_PICKLISTS,
    UPDATE_TICKET,
    Schema,
    picklist_value,
    validate,
)
from zoho_desk_emulator.errors import DeskError, FieldError, invalid_data, not_a_json_object
from zoho_desk_emulator.events import DeskEvent, Listener
from zoho_desk_emulator.faults import Faults
from zoho_desk_emulator.records import (
    TICKET_EXTRAS,
    ContactRecord,
    DepartmentRecord,
    OrganizationRecord,
    TicketRecord,
    ticket_page_path,
)
from zoho_desk_emulator.sandbox import (
    ARCHIVE_DEPARTMENT_ID,
    BILLING_DEPARTMENT_ID,
    SANDBOX_AGENT_ID,
    SANDBOX_DEPARTMENT_ID,
    SANDBOX_ORG_ID,
    SECOND_ORG_DEPARTMENT_ID,
    SECOND_ORG_ID,
)
from zoho_desk_emulator.search import int_param

_ID_BASE = 900000000000100000
# the properties of each create that must be text when present
_CONTACT_STRINGS = (
    "lastName",
    "firstName",
    "email",
    "secondaryEmail",
    "phone",
    "mobile",
    "accountId",
    "description",
    "language",
)
_TICKET_STRINGS = (
    "subject",
    "departmentId",
    "contactId",
    "description",
    "priority",
    "status",
    "channel",
    "email",
    "phone",
    *TICKET_EXTRAS,
)
_NUMERIC = re.compile(r"[0-9]+")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@dataclass(slots=True)
class LateCreate:
    """A create validated on arrival and committed at ``due`` (the ``create_late`` fault)."""

    due: datetime
    commit: Callable[[datetime], TicketRecord]
    ticket: TicketRecord | None = None


class Desk:
    """One emulated Zoho Desk account's data: two portals with the sandbox's departments, their
    picklists, and the contacts and tickets created since.

    ``faults`` is shared with the rest of the emulator: ``clock_skew`` sets Zoho's clock,
    ``search_lag`` hides new tickets from search and ``duplicate_contact_email`` decides whether
    a second contact with one email is refused. ``lenient`` skips the checks against Zoho's
    published constraints (demos only).
    """

    def __init__(
        self, clock: Clock, faults: Faults, *, edition: str = "Enterprise", lenient: bool = False
    ) -> None:
        self.clock = clock
        self.faults = faults
        self.lenient = lenient
        now = clock.now()
        self.organizations: dict[str, OrganizationRecord] = {
            SANDBOX_ORG_ID: OrganizationRecord(
                SANDBOX_ORG_ID, "Sandbox Support Co.", "sandbox", True, edition
            ),
            SECOND_ORG_ID: OrganizationRecord(
                SECOND_ORG_ID, "Sandbox Second Portal", "sandbox2", False, edition
            ),
        }
        self.departments: dict[str, DepartmentRecord] = {
            d.id: d
            for d in (
                DepartmentRecord(
                    SANDBOX_DEPARTMENT_ID, SANDBOX_ORG_ID, "Support", True, True, "Support", now
                ),
                DepartmentRecord(
                    BILLING_DEPARTMENT_ID, SANDBOX_ORG_ID, "Billing", True, False, "Billing", now
                ),
                DepartmentRecord(
                    ARCHIVE_DEPARTMENT_ID, SANDBOX_ORG_ID, "Archive", False, False, "Old", now
                ),
                DepartmentRecord(
                    SECOND_ORG_DEPARTMENT_ID, SECOND_ORG_ID, "Sales", True, True, "Sales", now
                ),
            )
        }
        # each portal's picklists (x-dynamic-enum fields), seeded with Zoho's defaults
        self.picklists: dict[str, dict[str, list[str]]] = {
            org_id: {name: list(values) for name, values in DEFAULT_PICKLISTS.items()}
            for org_id in self.organizations
        }
        self.contacts: dict[str, ContactRecord] = {}
        self.tickets: dict[str, TicketRecord] = {}
        self.contacts_created = 0
        self.tickets_created = 0
        self._ids = 0
        self._ticket_numbers = 100
        self._late: list[LateCreate] = []
        # called with each ticket as it is stored (before its Ticket_Add event)
        self.on_ticket_stored: list[Callable[[TicketRecord], None]] = []
        # told of every event (the webhooks)
        self.listeners: list[Listener] = []

    def emit(self, event: DeskEvent) -> None:
        """Tell the listeners (the webhook subscriptions) of one event."""
        for listener in self.listeners:
            listener(event)

    def __repr__(self) -> str:
        return f"Desk(tickets={len(self.tickets)}, contacts={len(self.contacts)})"

    def now(self) -> datetime:
        """Zoho's clock: the host's, set apart by the ``clock_skew`` fault."""
        return self.clock.now() + timedelta(seconds=self.faults.clock_skew)

    def set_picklist(
        self,
        name: str,
        *,
        add: Iterable[str] = (),
        remove: Iterable[str] = (),
        org_id: str | None = None,
    ) -> list[str]:
        """Add values to or remove values from one picklist of one portal (the default one
        when ``org_id`` is None), as an admin would in Zoho's layout settings. Raises
        ``ValueError`` on an unknown list or portal."""
        org = org_id or SANDBOX_ORG_ID
        if org not in self.picklists:
            raise ValueError(f"no portal {org!r}")
        lists = self.picklists[org]
        if name not in lists:
            raise ValueError(f"no picklist {name!r}; the lists are {', '.join(sorted(lists))}")
        values = lists[name]
        for value in add:
            if picklist_value(str(value), values) is None:
                values.append(str(value))
        gone = {str(v).strip().lower() for v in remove}
        lists[name] = [v for v in values if v.lower() not in gone]
        return list(lists[name])

    def check_query(self, schema: Schema, params: Mapping[str, str]) -> None:
        """422 ``INVALID_DATA`` for query parameters Zoho's description does not allow."""
        if self.lenient:
            return
        errors = [FieldError(v.field, v.error_type, v.message) for v in validate(schema, params)]
        if errors:
            raise invalid_data(*errors)

    def _checked_body(
        self, schema: Schema, body: Any, org_id: str, strings: Iterable[str]
    ) -> tuple[Mapping[str, Any], list[FieldError]]:
        """A create's body, checked against Zoho's description (422 at once) and then for the
        properties that must be text (the errors, to report with the others)."""
        if not isinstance(body, Mapping):
            raise not_a_json_object()
        found = [] if self.lenient else validate(schema, body, self.picklists.get(org_id))
        if found:
            raise invalid_data(*(FieldError(f"/{v.field}", v.error_type, v.message) for v in found))
        return body, _string_fields(body, "/", strings)

    def _picklist(self, org_id: str, name: str, value: str | None) -> tuple[str | None, bool]:
        """(the portal's spelling of a picklist value, whether the portal has it)."""
        if value is None:
            return None, True
        if self.lenient and name not in ("priority", "channel", "status"):
            return value, True  # the old emulator checked only these three
        lists = DEFAULT_PICKLISTS if self.lenient else self.picklists.get(org_id, {})
        allowed = lists.get(name)
        if allowed is None:
            return value, True
        canonical = picklist_value(value, allowed)
        return (canonical or value), canonical is not None

    def organization_fields(self, org_id: str) -> list[dict[str, Any]]:
        """``GET /organizationFields?module=tickets``: the ticket fields with their picklists."""
        labels = {"subCategory": "Sub Category"}
        return [
            {
                "id": str(_ID_BASE // 1000 + n),
                "apiName": name,
                "displayLabel": labels.get(name, name[:1].upper() + name[1:]),
                "type": "Picklist",
                "isCustomField": False,
                "isMandatory": name == "status",
                "allowedValues": list(values),
            }
            for n, (name, values) in enumerate(self.picklists[org_id].items(), start=1)
        ]

    def new_id(self) -> str:
        self._ids += 1
        return str(_ID_BASE + self._ids)

    def check_org(self, org_id: str | None) -> str:
        """The request's organization id; every token here sees every emulated organization.

        The status of ``OAUTH_ORG_MISMATCH`` is unconfirmed (facts page); 403 is the likely one.
        """
        if not org_id:
            raise DeskError(403, "OAUTH_ORG_MISMATCH", "The orgId header is missing.")
        if org_id.strip() not in self.organizations:
            raise DeskError(
                403,
                "OAUTH_ORG_MISMATCH",
                "The OAuth Token does not belong to the organization in the orgId header.",
            )
        return org_id.strip()

    def list_organizations(self) -> list[dict[str, Any]]:
        return [o.as_zoho() for o in self.organizations.values()]

    def myinfo(self) -> dict[str, Any]:
        return {
            "id": SANDBOX_AGENT_ID,
            "firstName": "Sandbox",
            "lastName": "Agent",
            "name": "Sandbox Agent",
            "emailId": "agent@sandbox.invalid",
            "status": "ACTIVE",
            "roleId": "900000000000000011",
            "profileId": "900000000000000012",
            "langCode": "en_US",
            "timeZone": "UTC",
            "isConfirmed": True,
            "photoURL": None,
            "phone": None,
            "mobile": None,
        }

    def list_departments(self, org_id: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
        enabled = params.get("isEnabled")
        if enabled not in (None, "true", "false"):
            raise invalid_data(FieldError("isEnabled", "invalid", "isEnabled is true or false"))
        limit = int_param(params, "limit", default=10, low=1, high=200)
        start = int_param(params, "from", default=0, low=0, high=10_000)
        found = [
            d
            for d in self.departments.values()
            if d.org_id == org_id and (enabled is None or d.is_enabled == (enabled == "true"))
        ]
        return [d.as_zoho() for d in found[start : start + limit]]

    def create_contact(self, org_id: str, body: Any) -> ContactRecord:
        """``POST /contacts``; a duplicate email is accepted unless the fault switch says reject."""
        body, errors = self._checked_body(CREATE_CONTACT, body, org_id, _CONTACT_STRINGS)
        if not _text(body.get("lastName")):
            errors.append(FieldError("/lastName", "missing", "lastName is mandatory"))
        email = _text(body.get("email"))
        if email and not _EMAIL.fullmatch(email):
            errors.append(FieldError("/email", "invalid", "email is not a valid email address"))
        cf, cf_errors = _custom_fields(body.get("cf"), "/cf")
        errors += cf_errors
        if (
            email
            and not errors
            and self.faults.duplicate_contact_email == "reject"
            and self._contact_by_email(org_id, email) is not None
        ):
            errors.append(FieldError("/email", "duplicate", "A contact with this email exists"))
        if errors:
            raise invalid_data(*errors)
        return self._add_contact(org_id, body, cf)

    def _add_contact(
        self, org_id: str, body: Mapping[str, Any], cf: dict[str, str | None]
    ) -> ContactRecord:
        contact = ContactRecord(
            id=self.new_id(),
            org_id=org_id,
            last_name=str(body["lastName"]).strip(),
            created_time=self.now(),
            first_name=_text(body.get("firstName")),
            email=_text(body.get("email")),
            secondary_email=_text(body.get("secondaryEmail")),
            phone=_text(body.get("phone")),
            mobile=_text(body.get("mobile")),
            account_id=_text(body.get("accountId")),
            description=_text(body.get("description")),
            language=_text(body.get("language")),
            cf=cf,
        )
        self.contacts[contact.id] = contact
        self.contacts_created += 1
        return contact

    def _contact_by_email(self, org_id: str, email: str) -> ContactRecord | None:
        wanted = email.strip().lower()
        for contact in self.contacts.values():
            if contact.org_id == org_id and (contact.email or "").lower() == wanted:
                return contact
        return None

    def create_ticket(self, org_id: str, body: Any, web_base: str) -> TicketRecord:
        """``POST /tickets``: validate like Zoho (422 ``INVALID_DATA``), then store the ticket."""
        return self.prepare_ticket(org_id, body, web_base)(self.now())

    def create_ticket_later(
        self, org_id: str, body: Any, web_base: str, delay: float
    ) -> LateCreate:
        """``POST /tickets`` validated now and committed ``delay`` seconds from now (Zoho's
        clock), whatever becomes of the request meanwhile: see :meth:`settle`."""
        commit = self.prepare_ticket(org_id, body, web_base)
        late = LateCreate(self.now() + timedelta(seconds=delay), commit)
        self._late.append(late)
        return late

    def settle(self) -> None:
        """Commit the late creates that are due, each stamped with its due time."""
        now = self.now()
        for late in [late for late in self._late if late.due <= now]:
            self._late.remove(late)
            late.ticket = late.commit(late.due)

    def prepare_ticket(
        self, org_id: str, body: Any, web_base: str
    ) -> Callable[[datetime], TicketRecord]:
        """Validate a create like Zoho (422 ``INVALID_DATA``); returns the step that stores
        the ticket, stamped with the time it is given."""
        body, errors = self._checked_body(CREATE_TICKET, body, org_id, _TICKET_STRINGS)
        if errors:
            raise invalid_data(*errors)
        subject = _text(body.get("subject"))
        if not subject:
            errors.append(FieldError("/subject", "missing", "subject is mandatory"))
        department_id = _text(body.get("departmentId"))
        department = self.departments.get(department_id or "")
        if not department_id:
            errors.append(FieldError("/departmentId", "missing", "departmentId is mandatory"))
        elif department is None or department.org_id != org_id or not department.is_enabled:
            errors.append(FieldError("/departmentId", "invalid", "no such enabled department"))
        contact, inline, contact_errors = self._ticket_contact(org_id, body)
        errors += contact_errors
        picked: dict[str, str | None] = {}
        for name in ("priority", "channel", "status", *TICKET_EXTRAS):
            value, known = self._picklist(org_id, name, _text(body.get(name)))
            if not known:
                errors.append(FieldError(f"/{name}", "invalid", f"{name} is not in the picklist"))
            picked[name] = value
        priority, channel = picked["priority"], picked["channel"]
        status = picked["status"] or "Open"
        cf, cf_errors = _custom_fields(body.get("cf"), "/cf")
        errors += cf_errors
        if errors:
            raise invalid_data(*errors)
        assert subject is not None
        assert department_id is not None

        def commit(at: datetime) -> TicketRecord:
            return self._store_ticket(
                org_id,
                body,
                web_base,
                subject,
                department_id,
                contact,
                inline,
                at,
                status=status,
                priority=priority,
                channel=channel,
                picked=picked,
                cf=cf,
            )

        return commit

    def _store_ticket(
        self,
        org_id: str,
        body: Mapping[str, Any],
        web_base: str,
        subject: str,
        department_id: str,
        contact: ContactRecord | None,
        inline: Mapping[str, Any] | None,
        at: datetime,
        *,
        status: str,
        priority: str | None,
        channel: str | None,
        picked: Mapping[str, str | None],
        cf: dict[str, str | None],
    ) -> TicketRecord:
        if contact is None:
            assert inline is not None
            # Zoho matches the inline contact by email when it commits the ticket.
            email = str(inline.get("email") or "")
            contact = self._contact_by_email(org_id, email) or self._add_contact(org_id, inline, {})
        ticket_id = self.new_id()
        self._ticket_numbers += 1
        ticket = TicketRecord(
            id=ticket_id,
            org_id=org_id,
            ticket_number=str(self._ticket_numbers),
            subject=subject,
            department_id=department_id,
            contact_id=contact.id,
            created_time=at,
            web_url=web_base + ticket_page_path(self.organizations[org_id].portal_name, ticket_id),
            description=_text(body.get("description")),
            email=_text(body.get("email")) or contact.email,
            phone=_text(body.get("phone")) or contact.phone or contact.mobile,
            status=status,
            priority=priority,
            channel=channel,
            extra={k: picked.get(k) or body[k] for k in TICKET_EXTRAS if body.get(k) is not None},
            cf=cf,
        )
        self.tickets[ticket.id] = ticket
        self.tickets_created += 1
        for hook in self.on_ticket_stored:
            hook(ticket)
        self.emit(DeskEvent("Ticket_Add", org_id, department_id, ticket.as_zoho(), at))
        return ticket

    def update_ticket(self, org_id: str, ticket_id: str, body: Any) -> TicketRecord:
        """``PATCH /tickets/{id}``: validate like Zoho (422), apply, and when something changed
        stamp ``modifiedTime`` (and ``closedTime``) and tell the subscriptions
        (``Ticket_Update`` with the changed fields and the state before)."""
        ticket = self.get_ticket(org_id, ticket_id)
        body, errors = self._checked_body(UPDATE_TICKET, body, org_id, _TICKET_STRINGS)
        if errors:
            raise invalid_data(*errors)
        updates: dict[str, Any] = {}
        for name, value in body.items():
            if name == "cf":
                cf, cf_errors = _custom_fields(value, "/cf")
                errors += cf_errors
                updates["cf"] = {**ticket.cf, **cf}
                continue
            text = _text(value)
            if name in ("priority", "channel", "status", *TICKET_EXTRAS):
                text, known = self._picklist(org_id, name, text)
                if not known:
                    errors.append(FieldError(f"/{name}", "invalid", f"{name} is not listed"))
            if name in ("subject", "status") and not text:
                errors.append(FieldError(f"/{name}", "invalid", f"{name} cannot be empty"))
            if name == "departmentId":
                department = self.departments.get(text or "")
                if department is None or department.org_id != org_id:
                    errors.append(FieldError("/departmentId", "invalid", "no such department"))
            updates[name] = text
        if errors:
            raise invalid_data(*errors)
        before = ticket.as_zoho()
        changed = [name for name, value in updates.items() if _ticket_value(ticket, name) != value]
        if not changed:
            return ticket
        now = self.now()
        for name in changed:
            _set_ticket_value(ticket, name, updates[name])
        ticket.touch(now)
        if "status" in changed:
            ticket.closed_time = now if ticket.status == "Closed" else None
        self.emit(
            DeskEvent(
                "Ticket_Update",
                org_id,
                ticket.department_id,
                ticket.as_zoho(),
                now,
                prev_state=before,
                changed=tuple(changed),
            )
        )
        return ticket

    def list_tickets(self, org_id: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
        """``GET /tickets``: a page of the portal's tickets (no search, no lag)."""
        return search.list_tickets(self.tickets.values(), org_id, params)

    def _ticket_contact(
        self, org_id: str, body: Mapping[str, Any]
    ) -> tuple[ContactRecord | None, Mapping[str, Any] | None, list[FieldError]]:
        contact_id = _text(body.get("contactId"))
        if contact_id:
            contact = self.contacts.get(contact_id)
            if contact is None or contact.org_id != org_id:
                return None, None, [FieldError("/contactId", "invalid", "no such contact")]
            return contact, None, []
        inline = body.get("contact")
        if inline is None:
            return None, None, [FieldError("/contactId", "missing", "contactId is mandatory")]
        if not isinstance(inline, Mapping):
            return None, None, [FieldError("/contact", "invalid", "contact is an object")]
        errors = _string_fields(
            inline, "/contact/", ("lastName", "firstName", "email", "phone", "mobile")
        )
        email = _text(inline.get("email"))
        if not _text(inline.get("lastName")):
            errors.append(FieldError("/contact/lastName", "missing", "lastName is mandatory"))
        if not email:
            errors.append(FieldError("/contact/email", "missing", "email is mandatory"))
        elif not _EMAIL.fullmatch(email):
            errors.append(FieldError("/contact/email", "invalid", "email is not valid"))
        if errors:
            return None, None, errors
        assert email is not None
        return self._contact_by_email(org_id, email), inline, []

    def get_ticket(self, org_id: str, ticket_id: str) -> TicketRecord:
        ticket = self.tickets.get(ticket_id) if _NUMERIC.fullmatch(ticket_id) else None
        if ticket is None or ticket.org_id != org_id:
            raise DeskError(404, "URL_NOT_FOUND", "The URL you requested could not be found.")
        return ticket

    def tickets_by_key(self, field_name: str) -> dict[str, list[TicketRecord]]:
        """Tickets grouped by the value of one custom field (e.g. the idempotency key)."""
        grouped: dict[str, list[TicketRecord]] = {}
        for ticket in self.tickets.values():
            value = ticket.cf.get(field_name)
            if value is not None:
                grouped.setdefault(value, []).append(ticket)
        return grouped

    def search_contacts(
        self, org_id: str, params: Mapping[str, str]
    ) -> tuple[list[dict[str, Any]], int]:
        """Zoho's loose contact search: ``(page, total)``; callers filter for exact matches."""
        return search.search_contacts(self.contacts.values(), org_id, params, lenient=self.lenient)

    def search_tickets(
        self, org_id: str, params: Mapping[str, str]
    ) -> tuple[list[dict[str, Any]], int]:
        """Ticket search: ``(page, total)``; tickets younger than ``search_lag`` are not indexed,
        and changes younger than it are not seen by ``modifiedTimeRange``."""
        lag = self.faults.search_lag
        indexed_before = self.now() - timedelta(seconds=lag) if lag else None
        return search.search_tickets(
            self.tickets.values(), org_id, params, indexed_before=indexed_before
        )


# ---------------------------------------------------------------------- validation

# the ticket attribute behind each updatable API name (the rest live in ``extra``)
_TICKET_ATTRIBUTES = {
    "subject": "subject",
    "description": "description",
    "email": "email",
    "phone": "phone",
    "status": "status",
    "priority": "priority",
    "channel": "channel",
    "departmentId": "department_id",
    "contactId": "contact_id",
    "cf": "cf",
}


def _ticket_value(ticket: TicketRecord, name: str) -> Any:
    attribute = _TICKET_ATTRIBUTES.get(name)
    return getattr(ticket, attribute) if attribute else ticket.extra.get(name)


def _set_ticket_value(ticket: TicketRecord, name: str, value: Any) -> None:
    attribute = _TICKET_ATTRIBUTES.get(name)
    if attribute:
        setattr(ticket, attribute, value)
    else:
        ticket.extra[name] = value


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _string_fields(body: Mapping[str, Any], prefix: str, names: Iterable[str]) -> list[FieldError]:
    errors = []
    for name in names:
        value = body.get(name)
        # ids may come as JSON numbers; anything else that is not text is refused
        if value is not None and (isinstance(value, bool) or not isinstance(value, str | int)):
            errors.append(FieldError(f"{prefix}{name}", "invalid", f"{name} is a string"))
    return errors


def _custom_fields(value: Any, where: str) -> tuple[dict[str, str | None], list[FieldError]]:
    if value is None:
        return {}, []
    if not isinstance(value, Mapping):
        return {}, [FieldError(where, "invalid", "cf is an object of cf_* fields")]
    stored: dict[str, str | None] = {}
    errors: list[FieldError] = []
    for name, raw in value.items():
        if not isinstance(name, str) or not name.startswith("cf_"):
            errors.append(FieldError(f"{where}/{name}", "invalid", "custom fields start with cf_"))
        elif raw is not None and (isinstance(raw, Mapping | list)):
            errors.append(FieldError(f"{where}/{name}", "invalid", "a custom field holds a value"))
        else:
            stored[name] = None if raw is None else str(raw)
    return stored, errors
