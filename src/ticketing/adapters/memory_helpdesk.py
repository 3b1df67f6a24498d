"""An in-memory ``Helpdesk`` that behaves like Zoho Desk where it matters, with fault injection."""

from __future__ import annotations

import collections
import fnmatch
import itertools
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Final

import anyio.lowlevel

from ticketing.adapters.clock import SystemClock
from ticketing.domain.contacts import phone_tail, same_phone
from ticketing.domain.errors import HelpdeskAuthError, HelpdeskRejected, HelpdeskUnavailable
from ticketing.domain.model import (
    Agent,
    Contact,
    Department,
    NewContact,
    Organization,
    Ticket,
    TicketRequest,
    default_department,
    referenced_description,
)
from ticketing.domain.ports import Clock, TicketProbe

OPERATIONS: Final = frozenset(
    {
        "search_contacts",
        "create_contact",
        "create_ticket",
        "find_ticket",
        "get_ticket",
        "list_departments",
        "department_id",
        "list_organizations",
        "whoami",
        "ticket_field_values",
    }
)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def _wildcard_hit(pattern: re.Pattern[str] | None, stored: str | None) -> bool:
    """Zoho's search against a stored string: the whole value must match."""
    if pattern is None or not stored:
        return False
    return pattern.fullmatch(stored.strip()) is not None


class InMemoryHelpdesk:
    """A ``Helpdesk`` in dicts, for unit tests, contract tests and fast runs.

    Like Zoho it searches loosely (an email search also returns contacts whose address merely
    contains the term; ``*`` is a wildcard; a phone search is the Zoho client's: see
    ``_phone_hits``), gives numeric-string ids, refuses a ticket for an
    unknown contact or department with 422 naming the field, and may hide fresh tickets from
    ``find_ticket`` for ``search_lag`` seconds.

    Args:
        clock: stamps ``created_time``; the system clock by default.
        idempotency_field: as ``ZOHO_IDEMPOTENCY_FIELD``: when set, ``find_ticket`` looks up
            the probe's key; when None, the contact, subject and creation window.
        departments: the departments; one default "Support" department by default.
        department_id: the configured department; None for the default one.
        search_lag: seconds a new ticket stays invisible to ``find_ticket``.
        create_then_fail: how many next ``create_ticket`` calls store the ticket and then
            raise ``HelpdeskUnavailable(sent=True)``, like a read timeout after Zoho committed.

    Attributes:
        contacts: contact id → contact.
        tickets: ticket id → ticket.
        ticket_requests: ticket id → the request that created it (to assert on what was sent).
        calls: every operation called, in order (faulted calls included).
        contacts_created_inline: contacts made by tickets with an inline contact.
        picklists: field (``channel``, ``category``, ``priority``) → the values the portal
            allows; a ticket with another value is refused with 422 naming the field.
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        idempotency_field: str | None = "cf_request_key",
        departments: Iterable[Department] | None = None,
        department_id: str | None = None,
        search_lag: float = 0.0,
        create_then_fail: int = 0,
    ) -> None:
        self._clock: Clock = clock or SystemClock()
        self.idempotency_field = idempotency_field
        self.departments: list[Department] = list(
            departments
            if departments is not None
            else [
                Department(id="813934000000006907", name="Support", is_default=True),
                Department(id="813934000000006911", name="Billing"),
            ]
        )
        self._department_id = department_id
        self.search_lag = search_lag
        self.create_then_fail = create_then_fail
        self.organizations = [
            Organization(id="60001234567", name="Sandbox", is_default=True, edition="FREE")
        ]
        self.agent = Agent(id="813934000000139001", name="Sandbox Agent", email="agent@example.com")
        self.contacts: dict[str, Contact] = {}
        self.tickets: dict[str, Ticket] = {}
        self.ticket_requests: dict[str, TicketRequest] = {}
        self._keys: dict[str, str] = {}  # ticket id → idempotency key
        self.calls: list[str] = []
        self.contacts_created_inline = 0
        self.credits_remaining: int | None = None  # Zoho's header; none here
        # A portal's picklists (field → allowed values): a field named here refuses other
        # values, as Zoho does; fields not named take anything.
        self.picklists: dict[str, set[str]] = {}
        self._faults: dict[str, collections.deque[Exception]] = collections.defaultdict(
            collections.deque
        )
        self._ids = itertools.count(813934000000200001)
        self._numbers = itertools.count(101)

    def __repr__(self) -> str:
        faults = {op: len(q) for op, q in self._faults.items() if q}
        return (
            f"InMemoryHelpdesk(contacts={len(self.contacts)}, tickets={len(self.tickets)}, "
            f"calls={len(self.calls)}, faults={faults}, create_then_fail={self.create_then_fail})"
        )

    def _check_picklists(self, request: TicketRequest) -> None:
        """Zoho's answer to a value its portal's picklist lacks: 422 naming the field."""
        sent = {
            "channel": request.channel,
            "category": request.category,
            "priority": request.priority.value if request.priority is not None else None,
        }
        for name, value in sent.items():
            allowed = self.picklists.get(name)
            if value and allowed is not None and value not in allowed:
                raise HelpdeskRejected(
                    f"{value!r} is not a value of {name}",
                    status=422,
                    code="INVALID_DATA",
                    field=name,
                )

    def fail_next(self, operation: str, error: Exception, times: int = 1) -> None:
        """Make the next ``times`` calls of ``operation`` raise ``error`` (nothing is done)."""
        if operation not in OPERATIONS:
            raise ValueError(f"unknown operation {operation!r}; one of {sorted(OPERATIONS)}")
        self._faults[operation].extend([error] * times)

    def count(self, operation: str) -> int:
        """How many times ``operation`` was called."""
        return self.calls.count(operation)

    async def _enter(self, operation: str) -> None:
        self.calls.append(operation)
        # A real call yields to the event loop; so does this one, so races can show.
        await anyio.lowlevel.checkpoint()
        queue = self._faults.get(operation)
        if queue:
            raise queue.popleft()

    def _next_id(self) -> str:
        return str(next(self._ids))

    # ------------------------------------------------------------ Helpdesk

    async def search_contacts(
        self, *, email: str | None = None, phone: str | None = None
    ) -> list[Contact]:
        """Loose search, like Zoho's: callers must filter for the exact contact."""
        await self._enter("search_contacts")
        if email:
            term = email.strip().lower()
            found = [c for c in self.contacts.values() if self._email_hit(c.email, term)]
        elif phone:
            found = self._phone_hits(phone)
        else:
            found = []
        return sorted(found, key=lambda c: (len(c.id), c.id))

    def _phone_hits(self, phone: str) -> list[Contact]:
        """What the Zoho client gets for a phone: Zoho's wildcard ``*d*d*…*d`` (the last 8
        digits, anything before and between them, nothing after) over ``mobile``, then over
        ``phone`` unless a mobile held the very number."""
        tail = phone_tail(phone)
        pattern = re.compile(".*" + ".*".join(tail)) if tail else None
        in_mobile = [c for c in self.contacts.values() if _wildcard_hit(pattern, c.mobile)]
        if any(same_phone(c.mobile, phone) for c in in_mobile):
            return in_mobile
        in_phone = [c for c in self.contacts.values() if _wildcard_hit(pattern, c.phone)]
        return list({c.id: c for c in in_mobile + in_phone}.values())

    @staticmethod
    def _email_hit(address: str | None, term: str) -> bool:
        if not address or not term:
            return False
        address = address.lower()
        if "*" in term:
            return fnmatch.fnmatchcase(address, term)
        return term in address

    async def create_contact(self, contact: NewContact) -> Contact:
        """Store a contact; duplicates are allowed (Zoho's answer there is unconfirmed)."""
        await self._enter("create_contact")
        if not contact.last_name.strip():
            raise HelpdeskRejected(
                "lastName is required", status=422, code="INVALID_DATA", field="lastName"
            )
        return self._store_contact(contact)

    def _store_contact(self, contact: NewContact) -> Contact:
        created = Contact(
            id=self._next_id(),
            last_name=contact.last_name,
            first_name=contact.first_name,
            email=contact.email,
            phone=contact.phone,
            mobile=contact.mobile,
            created_time=self._clock.now(),
        )
        self.contacts[created.id] = created
        return created

    async def create_ticket(self, request: TicketRequest) -> Ticket:
        """Store a ticket; 422 naming the field for an unknown contact or department."""
        await self._enter("create_ticket")
        if not request.subject.strip():
            raise HelpdeskRejected(
                "subject is required", status=422, code="INVALID_DATA", field="subject"
            )
        if request.department_id not in {d.id for d in self.departments}:
            raise HelpdeskRejected(
                f"no department {request.department_id}",
                status=422,
                code="INVALID_DATA",
                field="departmentId",
            )
        self._check_picklists(request)
        if request.contact_id is None and request.contact is not None:
            contact_id = self._inline_contact(request.contact)
        elif request.contact_id in self.contacts:
            contact_id = request.contact_id
        else:
            raise HelpdeskRejected(
                f"no contact {request.contact_id}",
                status=422,
                code="INVALID_DATA",
                field="contactId",
            )
        ticket_id = self._next_id()
        ticket = Ticket(
            id=ticket_id,
            ticket_number=str(next(self._numbers)),
            contact_id=contact_id,
            subject=request.subject,
            web_url=f"https://desk.example.invalid/agent/sandbox/tickets/details/{ticket_id}",
            created_time=self._clock.now(),
            department_id=request.department_id,
            priority=request.priority.value if request.priority is not None else None,
            status="Open",
        )
        self.tickets[ticket_id] = ticket
        self.ticket_requests[ticket_id] = request
        if request.idempotency_key:
            self._keys[ticket_id] = request.idempotency_key
        if self.create_then_fail > 0:
            self.create_then_fail -= 1
            raise HelpdeskUnavailable(
                "injected: the ticket was stored, then the answer was lost", sent=True
            )
        return ticket

    def _inline_contact(self, contact: NewContact) -> str:
        """Like Zoho with a ticket's inline ``contact``: the contact with that email (the
        oldest, if several), else a new one."""
        email = (contact.email or "").strip().lower()
        if not email or not contact.last_name.strip():
            raise HelpdeskRejected(
                "the inline contact needs lastName and email",
                status=422,
                code="INVALID_DATA",
                field="contact/email" if not email else "contact/lastName",
            )
        same = [c for c in self.contacts.values() if (c.email or "").lower() == email]
        if same:
            return min(same, key=lambda c: (len(c.id), c.id)).id
        self.contacts_created_inline += 1
        # Zoho's inline contact holds only lastName, firstName and email.
        inline = NewContact(contact.last_name, contact.first_name, contact.email)
        return self._store_contact(inline).id

    async def find_ticket(self, probe: TicketProbe) -> Ticket | None:
        """By key when ``idempotency_field`` is set, else by the key's reference in the
        description (as sent, see ``referenced_description``), contact, subject and window."""
        await self._enter("find_ticket")
        visible_before = self._clock.now() - timedelta(seconds=self.search_lag)
        found: list[Ticket] = []
        for ticket_id, ticket in self.tickets.items():
            created = ticket.created_time or _EPOCH
            if self.search_lag and created > visible_before:
                continue
            if self.idempotency_field:
                if self._keys.get(ticket_id) == probe.key:
                    found.append(ticket)
            elif (
                probe.reference in self._description(ticket_id)
                and ticket.contact_id == probe.contact_id
                and ticket.subject.strip() == probe.subject.strip()
                and probe.created_from <= created <= probe.created_to
            ):
                found.append(ticket)
        if not found:
            return None
        return min(found, key=lambda t: (t.created_time or _EPOCH, len(t.id), t.id))

    def _description(self, ticket_id: str) -> str:
        """A ticket's description as Zoho would hold it: the text and the reference line."""
        request = self.ticket_requests[ticket_id]
        if not request.idempotency_key:
            return request.description
        return referenced_description(request.description, request.idempotency_key)

    async def get_ticket(self, ticket_id: str) -> Ticket:
        """The ticket; 404 ``HelpdeskRejected`` when unknown."""
        await self._enter("get_ticket")
        ticket = self.tickets.get(ticket_id)
        if ticket is None:
            raise HelpdeskRejected(
                f"no ticket {ticket_id}", status=404, code="URL_NOT_FOUND", field=None
            )
        return ticket

    async def list_departments(self) -> list[Department]:
        """The enabled departments."""
        await self._enter("list_departments")
        return [d for d in self.departments if d.is_enabled]

    async def department_id(self) -> str:
        """The configured department, else the default enabled one."""
        await self._enter("department_id")
        if self._department_id is None:
            chosen = default_department(self.departments)
            if chosen is None:
                raise HelpdeskAuthError(
                    "no enabled department for new tickets: enable one, or set ZOHO_DEPARTMENT_ID"
                )
            self._department_id = chosen.id
        return self._department_id

    async def list_organizations(self) -> list[Organization]:
        """The one sandbox organization."""
        await self._enter("list_organizations")
        return list(self.organizations)

    async def ticket_field_values(self) -> dict[str, frozenset[str]]:
        """The picklists set in ``picklists`` (the fields that refuse other values)."""
        await self._enter("ticket_field_values")
        return {name: frozenset(allowed) for name, allowed in self.picklists.items()}

    async def whoami(self) -> Agent:
        """The sandbox agent."""
        await self._enter("whoami")
        return self.agent

    def forget_contact(self, contact_id: str) -> None:
        """Delete a contact behind the service's back (to test stale contact caches)."""
        self.contacts.pop(contact_id, None)
