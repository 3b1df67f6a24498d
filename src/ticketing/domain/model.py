"""The model: customers, contacts, ticket drafts, tickets and what happened to them."""

from __future__ import annotations

import base64
import enum
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Final

from ticketing.domain.attachments import AttachmentSpec
from ticketing.domain.text import cut_graphemes


class Priority(enum.Enum):
    """Zoho Desk's default priority picklist."""

    HIGH = "High"
    MEDIUM = "Medium"
    LOW = "Low"


class Source(enum.Enum):
    """Which entrypoint a ticket came in through."""

    HTTP = "http"
    REDIS = "redis"
    CLI = "cli"


class TicketState(enum.Enum):
    """Where a request is in its life; stored in the idempotency ledger."""

    ACCEPTED = "accepted"  # durably stored, not yet tried or failed cleanly
    CREATING = "creating"  # a create was sent and its outcome is unknown (ambiguous)
    CREATED = "created"  # the helpdesk confirmed the ticket
    APPENDED = "appended"  # a follow-up: added as a comment to the customer's open ticket
    DEAD = "dead"  # can never succeed; in the dead-letter stream

    @property
    def finished(self) -> bool:
        """Nothing more will happen to the request: its ticket exists (CREATED), it joined an
        open one (APPENDED), or it never will (DEAD)."""
        return self in (TicketState.CREATED, TicketState.APPENDED, TicketState.DEAD)


@dataclass(frozen=True, slots=True)
class Customer:
    """Who wrote to us. At least one of email and phone is set (normalized)."""

    name: str | None = None
    email: str | None = None
    phone: str | None = None


@dataclass(frozen=True, slots=True)
class Contact:
    """A helpdesk contact."""

    id: str
    last_name: str
    first_name: str | None = None
    email: str | None = None
    phone: str | None = None
    mobile: str | None = None
    created_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class NewContact:
    """What is sent to create a contact."""

    last_name: str
    first_name: str | None = None
    email: str | None = None
    phone: str | None = None
    mobile: str | None = None


@dataclass(frozen=True, slots=True)
class TicketDraft:
    """A validated ticket, ready to be created; what the durable queue holds.

    ``key`` is the idempotency key: the ``Idempotency-Key`` header, the incident id, or a
    generated request id. ``contact_id`` is set for admin tickets (``POST /tickets``) and skips
    contact resolution.
    """

    key: str
    request_id: str
    subject: str
    description: str
    priority: Priority
    customer: Customer
    source: Source
    received_at: datetime
    category: str | None = None
    channel: str | None = None
    contact_id: str | None = None
    department_id: str | None = None
    incident_id: str | None = None
    # A follow-up may name the ticket it belongs to, or the conversation (THREAD_WINDOW).
    ticket_id: str | None = None
    conversation_id: str | None = None
    # Files to put on the ticket once it exists (fetched or staged; see AttachmentSpec).
    attachments: tuple[AttachmentSpec, ...] = ()


FINGERPRINT_VERSION: Final = "v1"


def request_fingerprint(draft: TicketDraft) -> str:
    """What a request asked for, as a short digest kept in the ledger at acceptance: the
    SHA-256 of the normalized draft's customer, subject, description, priority, category,
    channel, contact and department (not its request id, key or time of arrival, which
    differ on every retry). The same request sent twice, however its fields were spelled
    (``alta`` or ``High``), has the same fingerprint; another request under the same key has
    another (Stripe's rule for idempotency keys)."""
    asked = [
        draft.customer.name,
        draft.customer.email,
        draft.customer.phone,
        draft.subject,
        draft.description,
        draft.priority.value,
        draft.category,
        draft.channel,
        draft.contact_id,
        draft.department_id,
    ]
    text = json.dumps(asked, ensure_ascii=False, separators=(",", ":"))
    return f"{FINGERPRINT_VERSION}:{hashlib.sha256(text.encode()).hexdigest()}"


def same_request(draft: TicketDraft, known: Outcome) -> bool:
    """Is ``draft`` the request its key was accepted for? A record with no fingerprint (kept
    before fingerprints were) or one of another version cannot tell: taken as the same."""
    stored = known.fingerprint
    if not stored or not stored.startswith(f"{FINGERPRINT_VERSION}:"):
        return True
    return stored == request_fingerprint(draft)


# The longest description sent to the helpdesk: the customer's text and the reference line.
# Zoho publishes no limit for a ticket's description; 32,000 is its limit for a comment's
# content, and a description is stored as the ticket's first thread, so it is assumed here.
DESCRIPTION_LIMIT: Final = 32_000
REFERENCE_PREFIX: Final = "Ref: "


def ticket_reference(key: str) -> str:
    """The short, deterministic reference of an idempotency key: ``tk`` and 20 base32
    characters (100 bits) of its SHA-256, lowercase. One word, so a helpdesk's full-text
    search (Zoho's ``_all``) matches it whole, and nothing of the key itself shows."""
    digest = hashlib.sha256(key.encode()).digest()
    return "tk" + base64.b32encode(digest).decode("ascii")[:20].lower()


def picklist_note(field: str, value: str) -> str:
    """The line that keeps a picklist value the helpdesk refused, at the description's end
    (before the reference line)."""
    return f'\n\n[{field} "{value[:_PICKLIST_NOTE_VALUE]}" is not in this portal\'s picklist]'


def reference_line(key: str) -> str:
    """The line that ends every description the service sends (after a blank line)."""
    return f"\n\n{REFERENCE_PREFIX}{ticket_reference(key)}"


# Room the reference line takes: the customer's text may use the rest.
REFERENCE_ROOM: Final = len(reference_line(""))
# Ticket fields whose values come from a portal's picklists: a value the portal lacks is
# refused with 422 on that field, and the ticket is then sent without it (see
# ``without_picklist_value``), the value kept as a note in the description.
PICKLIST_FIELDS: Final = ("channel", "category", "subCategory", "classification", "priority")
_PICKLIST_NOTE_VALUE = 100  # longest value quoted in a note (a category is at most 100)
# Room kept for those notes (one per field the service sends: channel, category, priority).
PICKLIST_NOTE_ROOM: Final = 3 * (len(picklist_note("subCategory", "")) + _PICKLIST_NOTE_VALUE)
# The longest customer name a ticket carries: intake cuts a longer one (at a word boundary)
# and keeps the whole of it in the description's notes.
MAX_CUSTOMER_NAME: Final = 100
CUSTOMER_PREFIX: Final = "Customer: "


def customer_line(name: str) -> str:
    """The line that keeps a customer's whole name on the ticket when the contact's name
    cannot hold it (Zoho's shorter limits, words of emoji left out): before the reference
    line."""
    return f"\n\n{CUSTOMER_PREFIX}{name}"


# Room the customer line takes at most.
CUSTOMER_ROOM: Final = len(customer_line("")) + MAX_CUSTOMER_NAME
MAX_CUSTOMER_DESCRIPTION: Final = (
    DESCRIPTION_LIMIT - REFERENCE_ROOM - PICKLIST_NOTE_ROOM - CUSTOMER_ROOM
)


def referenced_description(
    description: str, key: str | None, *, customer: str | None = None
) -> str:
    """The description as sent: the customer's text, whole, then the customer line (when
    ``customer`` is given) and the key's reference line (when there is a key).

    Within ``DESCRIPTION_LIMIT`` always: intake keeps room for both lines, but a ticket
    accepted under an older, larger limit may not fit; then its text is cut (between
    graphemes, ending in ``…``), never the lines after it: the reference line is how an
    ambiguous create is found again."""
    ending = (customer_line(customer) if customer else "") + (reference_line(key) if key else "")
    room = DESCRIPTION_LIMIT - len(ending)
    if len(description) > room:
        description = cut_graphemes(description, max(0, room - 1)) + "…"
    return description + ending


@dataclass(frozen=True, slots=True)
class TicketRequest:
    """What is sent to the helpdesk to create one ticket.

    The ticket's contact is either a known ``contact_id`` or, for a customer with an email
    and no known contact, an inline ``contact`` that the helpdesk matches by email or creates.
    """

    subject: str
    department_id: str
    contact_id: str | None
    description: str
    priority: Priority | None
    category: str | None = None
    channel: str | None = None
    email: str | None = None
    phone: str | None = None
    idempotency_key: str | None = None
    contact: NewContact | None = None
    # The customer's name as intake accepted it (the ticket keeps it whole when the contact's
    # name cannot hold it; see ``customer_line``).
    customer_name: str | None = None

    def __post_init__(self) -> None:
        if not self.contact_id and not (self.contact and self.contact.email):
            raise ValueError("a ticket needs a contact_id or an inline contact with an email")

    def without_picklist_value(self, field: str | None) -> tuple[TicketRequest, str] | None:
        """This request without the picklist value the helpdesk refused (``field`` as Zoho
        names it), the value kept as a note in the description; and the value. None when
        ``field`` is not a picklist value this request carries."""
        values = {"channel": self.channel, "category": self.category}
        values["priority"] = self.priority.value if self.priority is not None else None
        value = values.get(field or "")
        if field is None or not value:
            return None
        description = self.description + picklist_note(field, value)
        if field == "channel":
            return replace(self, channel=None, description=description), value
        if field == "category":
            return replace(self, category=None, description=description), value
        return replace(self, priority=None, description=description), value


@dataclass(frozen=True, slots=True)
class Ticket:
    """A ticket as the helpdesk reports it."""

    id: str
    ticket_number: str
    contact_id: str | None
    subject: str
    web_url: str | None = None
    created_time: datetime | None = None
    department_id: str | None = None
    priority: str | None = None
    status: str | None = None


@dataclass(frozen=True, slots=True)
class Department:
    """A helpdesk department."""

    id: str
    name: str
    is_enabled: bool = True
    is_default: bool = False


@dataclass(frozen=True, slots=True)
class Organization:
    """A helpdesk organization (portal)."""

    id: str
    name: str
    is_default: bool = False
    edition: str | None = None


def default_organization(organizations: Sequence[Organization]) -> Organization | None:
    """The organization used when none is configured: the default one (the oldest, i.e. the
    smallest id, if several say so), else the oldest; None if there is none."""
    defaults = [o for o in organizations if o.is_default] or list(organizations)
    return min(defaults, key=lambda o: (len(o.id), o.id), default=None)


def default_department(departments: Sequence[Department]) -> Department | None:
    """The department new tickets go to when none is configured, by the same rule among the
    enabled ones; None if none is enabled."""
    enabled = [d for d in departments if d.is_enabled]
    defaults = [d for d in enabled if d.is_default] or enabled
    return min(defaults, key=lambda d: (len(d.id), d.id), default=None)


@dataclass(frozen=True, slots=True)
class Agent:
    """The agent the access token belongs to."""

    id: str
    name: str
    email: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one request; what a repeated idempotency key answers with."""

    key: str
    request_id: str
    state: TicketState
    ticket_id: str | None = None
    ticket_number: str | None = None
    contact_id: str | None = None
    web_url: str | None = None
    created_at: datetime | None = None
    reason: str | None = None
    incident_id: str | None = None
    source: Source | None = None
    attempts: int = 0
    reason_at: datetime | None = None  # when ``reason`` was recorded (a failure or a burial)
    last_attempt_at: datetime | None = None  # when the last create was sent
    attempt_ended_at: datetime | None = None  # when that create ended without an answer
    # Where a follow-up goes, once decided (recorded before anything is sent): an open
    # ticket to comment on, or NEW_TICKET. None: not decided (or no threading).
    joins: Joined | None = None
    comment_id: str | None = None  # APPENDED: the comment the follow-up became
    # The request's fingerprint (see request_fingerprint), kept from its acceptance: a key
    # sent again with another request is told apart. Not part of the outcome's identity.
    fingerprint: str | None = field(default=None, compare=False)

    @classmethod
    def of(cls, draft: TicketDraft, state: TicketState, *, reason: str | None = None) -> Outcome:
        """The draft's outcome in ``state``: its key, request, incident and source."""
        return cls(
            key=draft.key,
            request_id=draft.request_id,
            state=state,
            reason=reason,
            incident_id=draft.incident_id,
            source=draft.source,
        )

    @classmethod
    def created(cls, draft: TicketDraft, ticket: Ticket, at: datetime) -> Outcome:
        """The draft's outcome once the helpdesk made ``ticket`` (created ``at``)."""
        return replace(
            cls.of(draft, TicketState.CREATED),
            ticket_id=ticket.id,
            ticket_number=ticket.ticket_number,
            contact_id=ticket.contact_id,
            web_url=ticket.web_url,
            created_at=at,
        )

    @classmethod
    def appended(cls, draft: TicketDraft, joined: Joined, comment_id: str, at: datetime) -> Outcome:
        """The draft's outcome once it became comment ``comment_id`` on the ``joined`` ticket."""
        return replace(
            cls.of(draft, TicketState.APPENDED),
            ticket_id=joined.ticket_id,
            ticket_number=joined.ticket_number,
            contact_id=joined.contact_id,
            web_url=joined.web_url,
            created_at=at,
            joins=joined,
            comment_id=comment_id,
        )

    def created_event(self) -> TicketCreated:
        """The event a created ticket's (or an appended follow-up's) outcome publishes."""
        if (
            self.state not in (TicketState.CREATED, TicketState.APPENDED)
            or self.ticket_id is None
            or self.ticket_number is None
            or self.created_at is None
            or self.source is None
        ):
            raise ValueError(f"outcome of {self.key!r} is not a complete created ticket")
        return TicketCreated(
            request_id=self.request_id,
            incident_id=self.incident_id,
            ticket_id=self.ticket_id,
            ticket_number=self.ticket_number,
            contact_id=self.contact_id,
            web_url=self.web_url,
            created_at=self.created_at,
            source=self.source,
            status=self.state.value,
            comment_id=self.comment_id,
        )


@dataclass(frozen=True, slots=True)
class Joined:
    """The open ticket a follow-up joins (``ticket_id`` == NEW_TICKET: a new ticket instead)."""

    ticket_id: str
    ticket_number: str | None = None
    web_url: str | None = None
    contact_id: str | None = None

    @property
    def new(self) -> bool:
        return self.ticket_id == NEW_TICKET


# Recorded as a follow-up's target when it is to become a ticket of its own.
NEW_TICKET: Final = "new"


@dataclass(frozen=True, slots=True)
class TicketCreated:
    """The event published once per created ticket (and per follow-up appended to one:
    ``status`` "appended", with the comment's id)."""

    request_id: str
    incident_id: str | None
    ticket_id: str
    ticket_number: str
    contact_id: str | None
    web_url: str | None
    created_at: datetime
    source: Source
    status: str = "created"
    comment_id: str | None = None


@dataclass(frozen=True, slots=True)
class QueuedTicket:
    """One entry of the durable pending queue, as handed to a drain."""

    entry_id: str
    draft: TicketDraft
    deliveries: int = 1


@dataclass(frozen=True, slots=True)
class PendingEntry:
    """One entry of the pending queue as an operator lists it: its key and when it was queued
    (the stream entry's time)."""

    entry_id: str
    key: str
    queued_at: datetime


# A dead letter's id as a store gives it (a Redis stream id, ``<ms>-<seq>``), for documents.
ENTRY_ID_PATTERN = r"^\d{1,20}-\d{1,20}$"
_STREAM_ID_PART_MAX = 2**64 - 1


def is_entry_id(text: str) -> bool:
    """Whether ``text`` can name a dead letter: ``<ms>-<seq>``, each a 64-bit number. Any other
    text names none, and is never sent to a store (Redis would refuse it as its own error)."""
    ms, dash, seq = text.partition("-")
    return bool(dash) and all(
        part.isascii() and part.isdigit() and len(part) <= 20 and int(part) <= _STREAM_ID_PART_MAX
        for part in (ms, seq)
    )


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An entry that can never succeed, with why."""

    entry_id: str
    reason: str
    payload: str
    failed_at: datetime
    key: str | None = None
    origin: str = "pending"  # the stream a replay puts it back on

    @property
    def label(self) -> str:
        """What an operator knows the letter by: its idempotency key; for a message that
        never became a ticket (no key), the id it carries (``incident_id``, ``request_id``,
        ``key``), else where it came from."""
        if self.key:
            return self.key
        try:
            message = json.loads(self.payload)
        except ValueError:
            message = None
        if isinstance(message, dict):
            for name in _LABEL_FIELDS:
                value = message.get(name)
                if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
                    return f"{name} {str(value)[:80]}"
        return f"a message from {self.origin} (unreadable)"

    def matches(self, reason: str | None) -> bool:
        """Whether ``reason`` (a case-insensitive piece of text) is in the letter's reason;
        None matches every letter."""
        return reason is None or reason.casefold() in self.reason.casefold()


# The fields a message without a key is labelled by, the first present first.
_LABEL_FIELDS: Final = ("incident_id", "request_id", "key", "idempotency_key")


@dataclass(frozen=True, slots=True)
class DeadLetterSearch:
    """Dead letters found, newest first: at most the limit asked of those ``matching`` the
    reason, out of ``total`` in the dead letters."""

    letters: Sequence[DeadLetter]
    matching: int
    total: int


@dataclass(slots=True)
class DrainReport:
    """What one drain pass did."""

    processed: int = 0
    created: int = 0
    appended: int = 0  # follow-ups added to open tickets as comments (THREAD_WINDOW)
    failed: int = 0
    dead: int = 0
    skipped: int = 0
    remaining: int = 0
    errors: list[str] = field(default_factory=list)
