"""What Zoho's published API description allows in each request this service makes, as data.

Every entry names the file of ``zoho/zohodesk-oas`` (``v1.0/…``) and the schema or operation it
was copied from. The emulator validates the requests it receives against these schemas (unless
it runs ``lenient``). A Zoho client can validate the bodies and query parameters it produces
against the same schemas (``ticketing`` does, in
``tests/unit/adapters/zoho_desk/test_client_constraints.py``), so the two cannot drift.

Patterns are Zoho's (Java regular expressions, matched against the whole value) translated to
Python: ``\\P{InBasicLatin}`` (any non-ASCII character) becomes ``\\u0080-\\U0010ffff`` inside a
character class; ``\\p{L}\\p{M}\\p{N}`` (Unicode letters, marks, digits) become ``[^\\W_]``, which
is the same set as far as this service is concerned (it sends ASCII addresses only).
Where the description is silent the facts page (``shared/zoho-desk-api.md``) decides; where both
are silent the stricter reading is taken and the entry says so.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

Kind = Literal["string", "integer", "boolean", "object", "array", "null"]

_NON_ASCII = "\\u0080-\\U0010ffff"
# Ticket.json commonKeys.channel / priority / language, commonJson.category / status …
PICKLIST_PATTERN: Final = rf"[0-9a-zA-Z_\-.$@?:/!{_NON_ASCII}\s()]+"
# Ticket.json createTicketRequest.phone, commonKeys.phone; Contact.json commonJson.phone / mobile
PHONE_PATTERN: Final = rf"[0-9a-zA-Z_+\-.$@?,;:'/!{_NON_ASCII}\s]+"
# Ticket.json commonJson.cf (values and API names)
CF_PATTERN: Final = rf"[0-9a-zA-Z_\-.$@?,:'/!{_NON_ASCII}\s]+"
# Ticket.json createTicketRequest.contact.email: ASCII only, no "!"
INLINE_EMAIL_PATTERN: Final = (
    r"[a-zA-Z0-9_][a-zA-Z0-9_+\-.'&~]*@(?=.{4,256}$)"
    r"(?:[a-zA-Z0-9]+(?:[\-_]*[a-zA-Z0-9])*\.)+[a-zA-Z]{2,22}"
)
# Contact.json commonJson.email and Ticket.json commonKeys.email: Unicode letters, "!" allowed
EMAIL_PATTERN: Final = (
    r"(?:[^\W_]|_)(?:[^\W_]|[_+\-.'&!~])*@(?=.{4,256}$)"
    r"(?:[^\W_]+(?:[\-_]*[^\W_])*\.)+[^\W\d_]{2,22}"
)
ID_PATTERN: Final = r"[0-9]+"
# Search.json createdTimeRange: two ISO instants with a Z, comma-separated
_ISO = (
    r"(?:19|20)\d\d[-/.](?:0?[1-9]|1[012])[-/.](?:0?[1-9]|[12][0-9]|3[01])T"
    r"(?:[01]?[0-9]|2[0-3]):[0-5]?[0-9]:[0-5]?[0-9](?:[/.]\d{0,3})?Z"
)
TIME_RANGE_PATTERN: Final = rf"{_ISO},{_ISO}"
# Search.json customField1..10: "<API name>:<value>", the API name's class admitting ":"
# (``([0-9a-zA-Z_\-.$@?:/!\P{InBasicLatin}\s()]+):.*``), so "cf_a:b:c" has no single
# reading. The stricter reading (facts page): one ":" only, the value holds none.
CUSTOM_FIELD_SEARCH_PATTERN: Final = rf"[0-9a-zA-Z_\-.$@?/!{_NON_ASCII}\s()]+:[^:]*"


@dataclass(frozen=True, slots=True)
class Field:
    """One property or query parameter."""

    kinds: tuple[Kind, ...] = ("string", "null")
    max_length: int | None = None
    min_length: int | None = None
    pattern: str | None = None
    enum: tuple[str, ...] | None = None
    # x-dynamic-enum: the value must be in the portal's picklist of this name
    picklist: str | None = None
    minimum: int | None = None
    maximum: int | None = None
    # objects: their own schema; arrays / comma lists: at most this many items
    schema: Schema | None = None
    max_items: int | None = None
    # arrays: each item is checked with this field
    items: Field | None = None


@dataclass(frozen=True, slots=True)
class Schema:
    """A JSON body or a set of query parameters."""

    source: str
    fields: Mapping[str, Field]
    required: tuple[str, ...] = ()
    # at least one of these must be present (e.g. contactId or an inline contact)
    one_of: tuple[str, ...] = ()
    additional: bool = False
    # the values of these object properties are checked with this field (patternProperties)
    values: Field | None = None
    # query parameters (always text) rather than a JSON body
    query: bool = False
    notes: str = ""


@dataclass(frozen=True, slots=True)
class Violation:
    """One refusal, in Zoho's ``errors[]`` terms."""

    field: str
    error_type: str  # invalid | missing
    message: str


_TEXT: Final = Field()
_ID: Final = Field(kinds=("string", "integer", "null"), pattern=ID_PATTERN)
_PICK: Final = Field(pattern=PICKLIST_PATTERN)


def _pick(name: str) -> Field:
    return Field(pattern=PICKLIST_PATTERN, picklist=name)


# ---------------------------------------------------------------- POST /api/v1/tickets

INLINE_CONTACT: Final = Schema(
    source="Ticket.json requestBodies/createTicketRequest → properties.contact",
    fields={
        "lastName": Field(kinds=("string",), max_length=200),
        "email": Field(kinds=("string",), max_length=255, pattern=INLINE_EMAIL_PATTERN),
        "firstName": Field(max_length=100),
    },
    required=("email", "lastName"),
    notes="additionalProperties false: no phone, no mobile (the phone goes on the ticket)",
)

CUSTOM_FIELD_VALUE: Final = Field(
    kinds=("string", "integer", "null"), max_length=255, pattern=CF_PATTERN
)

CREATE_TICKET: Final = Schema(
    source=(
        "Ticket.json requestBodies/createTicketRequest (allOf schemas/commonJson, "
        "schemas/commonKeys)"
    ),
    fields={
        # commonKeys
        "productId": Field(kinds=("string", "integer", "null"), pattern=r"[0-9]*|null|undefined"),
        "phone": Field(kinds=("string",), max_length=120, pattern=PHONE_PATTERN),
        "subject": Field(kinds=("string",), max_length=1000),
        "dueDate": _TEXT,
        "channel": _pick("channel"),
        "language": _pick("language"),
        "priority": _pick("priority"),
        "assigneeId": Field(kinds=("string", "integer", "null"), pattern=r"[0-9]*|null|undefined"),
        "email": Field(max_length=150, pattern=EMAIL_PATTERN),
        # commonJson
        "subCategory": _pick("subCategory"),
        "cf": Field(
            kinds=("object", "null"),
            schema=Schema(
                source="Ticket.json schemas/commonJson.cf (patternProperties)",
                fields={},
                additional=True,
                values=CUSTOM_FIELD_VALUE,
            ),
        ),
        "description": Field(max_length=65535),
        "classification": _pick("classification"),
        "category": _pick("category"),
        "status": Field(kinds=("string",), pattern=PICKLIST_PATTERN, picklist="status"),
        # createTicketRequest
        "contactId": _ID,
        "departmentId": _ID,
        "contact": Field(kinds=("object",), schema=INLINE_CONTACT),
        "accountId": _ID,
        "uploads": Field(kinds=("array",)),
        "resolution": Field(kinds=("string",), max_length=65535),
        "teamId": Field(kinds=("string", "integer"), pattern=r"[0-9]*|null|undefined"),
        "secondaryContacts": Field(kinds=("array",), max_items=20),
        "entitySkills": Field(kinds=("array",), max_items=10),
        "layoutId": _ID,
    },
    # "subject" is required by the facts page and by the older revision of the schema.
    required=("subject", "departmentId"),
    one_of=("contactId", "contact"),
)

# ---------------------------------------------------------------- POST /api/v1/contacts

CREATE_CONTACT: Final = Schema(
    source="Contact.json schemas/contactjson (allOf schemas/commonJson)",
    fields={
        "lastName": Field(max_length=200),
        "firstName": Field(max_length=40),
        "email": Field(max_length=255, pattern=EMAIL_PATTERN),
        "secondaryEmail": Field(max_length=100, pattern=EMAIL_PATTERN),
        "phone": Field(max_length=50, pattern=PHONE_PATTERN),
        "mobile": Field(max_length=50, pattern=PHONE_PATTERN),
        "accountId": Field(kinds=("string", "integer", "null"), pattern=r"[0-9]*|null|undefined"),
        "ownerId": Field(kinds=("string", "integer", "null"), pattern=r"[0-9]*|null|undefined"),
        "type": _PICK,
        "description": Field(max_length=65535),
        "language": _TEXT,
        "title": Field(max_length=100),
        "street": Field(max_length=250),
        "city": Field(max_length=30),
        "state": Field(max_length=30),
        "country": Field(max_length=30),
        "zip": Field(kinds=("string", "integer", "null"), pattern=ID_PATTERN),
        "twitter": Field(max_length=100),
        "facebook": Field(max_length=100),
        "cf": Field(
            kinds=("object", "null"),
            schema=Schema(
                source="Contact.json schemas/contactjson.cf (patternProperties)",
                fields={},
                additional=True,
                values=Field(max_length=100, pattern=CF_PATTERN),
            ),
        ),
    },
    # The schema marks nothing required; the facts page: lastName is mandatory.
    required=("lastName",),
)

# ---------------------------------------------------------------- searches and lists

_LIMIT_100: Final = Field(kinds=("integer",), minimum=1, maximum=100)
_FROM_999: Final = Field(kinds=("integer",), minimum=0, maximum=999)
_CUSTOM_SEARCH: Final = Field(max_length=1000, pattern=CUSTOM_FIELD_SEARCH_PATTERN)
# Search.json: comma-separated values, "*" a wildcard, at most 30 values
_TERMS: Final = Field(max_items=30)
# Search.json's id lists: numeric ids, comma separated
_IDS: Final = Field(pattern=r"[0-9]+(?:,[0-9]+)*")

SEARCH_CONTACTS: Final = Schema(
    source="Search.json paths./api/v1/contacts/search.get.parameters",
    fields={
        "email": _TERMS,
        # phone and mobile are separate fields, searched separately (facts page)
        "phone": _TERMS,
        "mobile": _TERMS,
        "firstName": _TERMS,
        "lastName": _TERMS,
        "fullName": _TERMS,
        "_all": Field(min_length=3, max_length=100),
        "limit": _LIMIT_100,
        "from": _FROM_999,
        "sortBy": Field(
            pattern=r"-?(?:relevance|modifiedTime|createdTime|lastName|firstName)",
        ),
        **{f"customField{n}": _CUSTOM_SEARCH for n in range(1, 11)},
    },
    query=True,
)

SEARCH_TICKETS: Final = Schema(
    source="Search.json paths./api/v1/tickets/search.get.parameters",
    fields={
        "email": _TERMS,
        "phone": _TERMS,
        "subject": Field(min_length=3, max_length=1000),
        "_all": Field(min_length=3, max_length=100),
        "ticketNumber": _IDS,
        "id": _IDS,
        "contactId": _IDS,
        "departmentId": Field(pattern=ID_PATTERN),
        "accountId": _IDS,
        "assigneeId": _IDS,
        "createdTimeRange": Field(max_length=100, pattern=TIME_RANGE_PATTERN),
        "modifiedTimeRange": Field(max_length=100, pattern=TIME_RANGE_PATTERN),
        "status": _TEXT,
        "priority": _TEXT,
        "limit": _LIMIT_100,
        "from": _FROM_999,
        "sortBy": Field(
            pattern=r"-?(?:relevance|modifiedTime|createdTime|ticketNumber|dueDate)",
        ),
        **{f"customField{n}": _CUSTOM_SEARCH for n in range(1, 11)},
    },
    query=True,
)

LIST_DEPARTMENTS: Final = Schema(
    source="Department.json paths./api/v1/departments.get.parameters",
    fields={
        "isEnabled": Field(kinds=("boolean",)),
        "chatStatus": Field(enum=("AVAILABLE", "DISABLED", "NOT_CREATED")),
        "searchStr": Field(max_length=100),
        "limit": Field(kinds=("integer",), minimum=1, maximum=200),
        "from": Field(kinds=("integer",), minimum=0),
    },
    query=True,
)

LIST_ORGANIZATIONS: Final = Schema(
    source="Organization.json paths./api/v1/organizations.get (no parameters)",
    fields={},
    query=True,
)

MY_INFO: Final = Schema(
    source="Agent.json paths./api/v1/myinfo.get (no parameters)",
    fields={},
    query=True,
)

GET_TICKET: Final = Schema(
    source="Ticket.json paths./api/v1/tickets/{ticketId}.get.parameters",
    fields={
        "include": Field(
            pattern=r"(?:contacts|products|assignee|departments|contract|isRead|team|skills)"
            r"(?:,(?:contacts|products|assignee|departments|contract|isRead|team|skills))*",
        ),
    },
    query=True,
)
# Ticket.json components/parameters/ticketId
TICKET_ID_PATTERN: Final = ID_PATTERN

ORGANIZATION_FIELDS: Final = Schema(
    source="Field.json paths./api/v1/organizationFields.get.parameters",
    fields={
        "module": Field(
            kinds=("string",),
            enum=("tickets", "contacts", "accounts", "tasks", "calls", "events", "products"),
        ),
        "apiNames": _TEXT,
    },
    required=("module",),
    query=True,
    notes=(
        "the path's entry in Field.json is unconfirmed; the answer's shape (data[].apiName, "
        "allowedValues) follows the facts page and Pipedream's zoho_desk component"
    ),
)


# ---------------------------------------------------------------- ticket updates and lists

UPDATE_TICKET: Final = Schema(
    source=(
        "Ticket.json paths./api/v1/tickets/{ticketId}.patch (requestBodies/updateTicketRequest: "
        "the create's commonJson and commonKeys properties)"
    ),
    fields={
        name: spec
        for name, spec in CREATE_TICKET.fields.items()
        if name not in ("contact", "uploads", "secondaryContacts", "entitySkills")
    },
    notes="nothing is required; a field not in the create's schema is refused",
)

UPDATE_TICKET_QUERY: Final = Schema(
    source="Ticket.json paths./api/v1/tickets/{ticketId}.patch.parameters",
    fields={"disableClosureNotification": Field(kinds=("boolean",))},
    query=True,
)

_TICKET_INCLUDES = "(?:contacts|products|departments|team|assignee)"
LIST_TICKETS: Final = Schema(
    source="Ticket.json paths./api/v1/tickets.get.parameters",
    fields={
        "include": Field(pattern=rf"{_TICKET_INCLUDES}(?:,{_TICKET_INCLUDES})*"),
        "departmentIds": Field(pattern=r"[0-9]+(?:,[0-9]+)*", max_items=20),
        "priority": Field(max_items=20, pattern=PICKLIST_PATTERN),
        "departmentId": Field(pattern=ID_PATTERN),
        # the description gives a default (25) and no range; the stricter reading: 1 to 100
        "limit": Field(kinds=("integer",), minimum=1, maximum=100),
        "channel": Field(pattern=PICKLIST_PATTERN),
        "from": Field(kinds=("integer",), minimum=0),
        # enum dueDate | createdTime | recentThread; "-" for descending as on every Desk list
        "sortBy": Field(pattern=r"-?(?:dueDate|createdTime|recentThread)"),
        "assignee": Field(pattern=r"(?:[0-9]+|Unassigned)(?:,(?:[0-9]+|Unassigned))*"),
        "teamIds": Field(pattern=r"[0-9]+(?:,[0-9]+)*"),
        "receivedInDays": Field(enum=("15", "30", "90", "-1")),
        "status": Field(pattern=PICKLIST_PATTERN.replace("\\s()", "\\s(),")),
        "viewId": Field(pattern=ID_PATTERN),
        "fields": Field(max_items=30),
        "filters": Field(max_length=4500),
    },
    query=True,
    notes="no modifiedTimeRange here: polling by modification time is a search",
)

# ---------------------------------------------------------------- threads and conversations

# the threads' limit: Thread.json gives only the pattern [0-9]+; the stricter reading is
# the range of the conversations list (1 to 200)
LIST_THREADS: Final = Schema(
    source="Thread.json paths./api/v1/tickets/{ticketId}/threads.get.parameters",
    fields={
        "limit": Field(kinds=("integer",), minimum=1, maximum=200),
        "from": Field(kinds=("integer",), minimum=0),
        # enum sendDateTime; its description allows "-sendDateTime" (descending, the default)
        "sortBy": Field(max_length=100, pattern=r"-?sendDateTime"),
    },
    query=True,
)

GET_THREAD: Final = Schema(
    source="Thread.json paths./api/v1/tickets/{ticketId}/threads/{threadId}.get.parameters",
    fields={"include": Field(kinds=("string",), enum=("plainText",))},
    query=True,
)

LATEST_THREAD: Final = Schema(
    source="Thread.json paths./api/v1/tickets/{ticketId}/latestThread.get.parameters",
    fields={
        "needPublic": Field(kinds=("boolean",)),
        "needIncomingThread": Field(kinds=("boolean",)),
        "include": Field(max_length=100, pattern=r"(?:source|plainText)(?:,(?:source|plainText))?"),
        "threadStatus": Field(max_length=100, enum=("success", "failed")),
    },
    query=True,
)

LIST_CONVERSATIONS: Final = Schema(
    source="Thread.json paths./api/v1/tickets/{ticketId}/conversations.get.parameters",
    fields={
        "limit": Field(kinds=("integer",), minimum=1, maximum=200),
        "from": Field(kinds=("integer",), minimum=0),
    },
    query=True,
)

# ---------------------------------------------------------------- comments

CREATE_COMMENT: Final = Schema(
    source="TicketComment.json schemas/addCommentPayload (requestBodies/addCommentInput)",
    fields={
        "isPublic": Field(kinds=("boolean",)),
        "attachmentIds": Field(
            kinds=("array",), items=Field(kinds=("string", "integer"), pattern=ID_PATTERN)
        ),
        "contentType": Field(kinds=("string",), enum=("plainText", "html")),
        "content": Field(kinds=("string",), max_length=32000),
    },
    required=("content",),
)

# ``include``'s items enum is ["mentions"] while its description allows mentions and
# plainText (and the history answer has plainText): both are accepted
_COMMENT_INCLUDE: Final = Field(
    pattern=r"(?:mentions|plainText)(?:,(?:mentions|plainText))?",
)
LIST_COMMENTS: Final = Schema(
    source="TicketComment.json paths./api/v1/tickets/{ticketId}/comments.get.parameters",
    fields={
        "include": _COMMENT_INCLUDE,
        "limit": Field(kinds=("integer",), minimum=1, maximum=100),
        "from": Field(kinds=("integer",), minimum=0),
        "sortBy": Field(pattern=r"-?commentedTime"),
    },
    query=True,
)

CREATE_COMMENT_QUERY: Final = Schema(
    source="TicketComment.json paths./api/v1/tickets/{ticketId}/comments.post (no query)",
    fields={},
    query=True,
)

GET_COMMENT: Final = Schema(
    source=(
        "TicketComment.json paths./api/v1/tickets/{ticketId}/comments/{commentId}.get.parameters"
    ),
    fields={"include": _COMMENT_INCLUDE},
    query=True,
)

# ---------------------------------------------------------------- attachments

CREATE_ATTACHMENT_QUERY: Final = Schema(
    source="TicketAttachment.json paths./api/v1/tickets/{ticketId}/attachments.post.parameters",
    fields={"isPublic": Field(kinds=("boolean",))},
    query=True,
)
LIST_ATTACHMENTS: Final = Schema(
    source="TicketAttachment.json paths./api/v1/tickets/{ticketId}/attachments.get.parameters",
    fields={
        "include": Field(pattern=r"creator"),
        "limit": Field(kinds=("integer",), minimum=1, maximum=100),
        "isPublic": Field(kinds=("boolean",)),
        "from": Field(kinds=("integer",), minimum=0),
        "sortBy": Field(pattern=r"-?createdTime"),
    },
    query=True,
)
THREAD_ATTACHMENT_CONTENT: Final = Schema(
    source=(
        "Thread.json paths./api/v1/tickets/{ticketId}/threads/{threadId}/attachments/"
        "{attachmentId}/content.get.parameters: the path ids and orgId only"
    ),
    fields={},
    query=True,
)
NO_QUERY: Final = Schema(
    source="TicketAttachment.json (delete), Upload.json (post): no query parameter",
    fields={},
    query=True,
)

# ---------------------------------------------------------------- webhooks

_WEBHOOK_IDS: Final = Field(
    kinds=("array", "null"), items=Field(kinds=("string", "integer", "null"), pattern=ID_PATTERN)
)
_FILTERS: Final[Mapping[str, Field]] = {
    "departmentId": _WEBHOOK_IDS,
    "departmentIds": _WEBHOOK_IDS,
    "fields": Field(
        kinds=("array", "null"),
        max_items=5,
        items=Field(max_length=100, pattern=rf"[0-9a-zA-Z_\-.$@?,:'/!{_NON_ASCII}\s]+"),
    ),
    "includePrevState": Field(kinds=("boolean", "null")),
    "direction": Field(kinds=("string", "null"), enum=("in", "out")),
}
# Webhook.json schemas/subscriptions: every event Zoho knows, and the filters it takes
# (None: the event takes no filter, its value is null). Each filter object is
# additionalProperties false; its "required" lists every property (and min/maxProperties
# their count), which Zoho's own request example does not follow ({"departmentIds": [...]}
# alone): the emulator refuses unknown filters and bad values, not missing ones.
WEBHOOK_EVENTS: Final[Mapping[str, tuple[str, ...] | None]] = {
    "Ticket_Add": ("departmentId", "departmentIds"),
    "Ticket_Update": ("departmentId", "departmentIds", "fields", "includePrevState"),
    "Ticket_Delete": None,
    "Ticket_Thread_Add": ("departmentId", "departmentIds", "direction"),
    "Ticket_Comment_Add": ("departmentId", "departmentIds"),
    "Ticket_Comment_Update": ("departmentId", "departmentIds"),
    "Ticket_Attachment_Add": (),
    "Ticket_Attachment_Update": (),
    "Ticket_Attachment_Trashed": ("departmentIds",),
    "Ticket_Attachment_Restored": ("departmentIds",),
    "Ticket_Attachment_Delete": ("departmentIds",),
    "Ticket_Comment_Attachment_Add": None,
    "Ticket_Comment_Attachment_Delete": None,
    "Ticket_Approval_Add": None,
    "Ticket_Approval_Update": ("includePrevState",),
    "Contact_Add": None,
    "Contact_Update": ("includePrevState",),
    "Contact_Delete": None,
    "Account_Add": None,
    "Account_Update": ("includePrevState",),
    "Account_Delete": None,
    "Agent_Add": None,
    "Agent_Update": ("includePrevState",),
    "Agent_Delete": None,
    "Agent_Presence_Update": None,
    "Agent_Channel_Preference_Update": None,
    "Department_Add": None,
    "Department_Update": ("includePrevState",),
    "Task_Add": ("departmentIds",),
    "Task_Update": ("departmentIds", "includePrevState"),
    "Task_Delete": None,
    "Call_Add": ("departmentIds",),
    "Call_Update": ("departmentIds", "includePrevState"),
    "Call_Delete": None,
    "Event_Add": ("departmentIds",),
    "Event_Update": ("departmentIds", "includePrevState"),
    "Event_Delete": None,
    "TimeEntry_Add": None,
    "TimeEntry_Update": ("includePrevState",),
    "TimeEntry_Delete": None,
    "Article_Add": None,
    "Article_Update": ("includePrevState",),
    "Article_Delete": None,
    "Article_Translation_Add": None,
    "Article_Translation_Update": ("includePrevState",),
    "Article_Translation_Delete": None,
    "Article_Feedback_Add": None,
    "KBRootCategory_Add": None,
    "KBRootCategory_Update": ("includePrevState",),
    "KBRootCategory_Delete": None,
    "KBSection_Add": None,
    "KBSection_Update": ("includePrevState",),
    "KBSection_Delete": None,
    "IM_Message_Add": ("departmentIds",),
    "IM_Message_Status": ("departmentIds",),
    "IM_Session_Status": ("departmentId", "departmentIds"),
}


def _event_field(filters: tuple[str, ...] | None) -> Field:
    if filters is None:
        return Field(kinds=("string", "null"))
    return Field(
        kinds=("object", "null"),
        schema=Schema(
            source="Webhook.json schemas/subscriptions (one event's filters)",
            fields={name: _FILTERS[name] for name in filters},
        ),
    )


SUBSCRIPTIONS: Final = Schema(
    source="Webhook.json schemas/subscriptions",
    fields={event: _event_field(filters) for event, filters in WEBHOOK_EVENTS.items()},
)

_UUID_OR_EMPTY: Final = (
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|"
)
_AUTOMATION: Final = Field(
    kinds=("array",), items=Field(kinds=("string",), max_length=100, pattern="AUTOMATION")
)
CREATE_WEBHOOK: Final = Schema(
    source="Webhook.json requestBodies/webhookjson",
    fields={
        "subscriptions": Field(kinds=("object", "null"), schema=SUBSCRIPTIONS),
        "includeEventsFrom": _AUTOMATION,
        "isEnabled": Field(kinds=("boolean",)),
        "name": Field(
            kinds=("string",),
            max_length=100,
            pattern=rf"[0-9a-zA-Z_\-&.$@^(){{}}~=|*+?\[\],:\"'/!{_NON_ASCII}\s]+",
        ),
        "description": Field(
            kinds=("string",), max_length=3000, pattern=rf"[0-9a-zA-Z_\-.$@?,:'/!{_NON_ASCII}\s]+"
        ),
        "ignoreSourceId": Field(kinds=("string",), max_length=250, pattern=_UUID_OR_EMPTY),
        "url": Field(
            kinds=("string",),
            max_length=500,
            pattern=(
                r"(?:(?:ht|f)tps?://[0-9a-zA-Z][-.\w]*(?::[0-9])*/?"
                r"[a-zA-Z0-9\-.?,|:'/\\+=&%$#_\[\]@!()*;~]*)|[*]"
            ),
        ),
    },
    required=("subscriptions", "url"),
)

UPDATE_WEBHOOK: Final = Schema(
    source="Webhook.json requestBodies/updateWebhook_webhookjson",
    fields={
        "subscriptions": Field(kinds=("object", "null"), schema=SUBSCRIPTIONS),
        "includeEventsFrom": _AUTOMATION,
        "isEnabled": Field(kinds=("boolean",)),
        "name": Field(kinds=("string",), max_length=100),
        "description": Field(kinds=("string",), max_length=3000),
        "ignoreSourceId": Field(kinds=("string",), max_length=100, pattern=_UUID_OR_EMPTY),
        # the update's url: at most 100 characters, and an older pattern than the create's
        "url": Field(
            kinds=("string",),
            max_length=100,
            pattern=r"(?:ht|f)tps?://[-.\w]*/?[a-zA-Z0-9\-.?,:'/\\+=&amp;%$#_@]*",
        ),
    },
    # the update requires the subscriptions, even when only the URL changes
    required=("subscriptions",),
)

WEBHOOK_QUERY: Final = Schema(
    source="Webhook.json paths./api/v1/webhooks (no query parameters on any operation)",
    fields={},
    query=True,
)

# ---------------------------------------------------------------- validation


def _kind_ok(value: Any, kinds: Sequence[Kind], *, query: bool) -> bool:
    if query:
        # query parameters are text; the kind says what the text must read as
        if "integer" in kinds:
            return re.fullmatch(r"-?[0-9]+", value) is not None
        if "boolean" in kinds:
            return value in ("true", "false")
        return True
    checks = {
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "object": lambda v: isinstance(v, Mapping),
        "array": lambda v: isinstance(v, list),
        "null": lambda v: v is None,
    }
    return any(checks[kind](value) for kind in kinds)


def _check(
    name: str,
    value: Any,
    spec: Field,
    picklists: Mapping[str, Sequence[str]] | None,
    *,
    query: bool,
) -> list[Violation]:
    if not _kind_ok(value, spec.kinds, query=query):
        wanted = " or ".join(k for k in spec.kinds if k != "null")
        return [Violation(name, "invalid", f"{name} must be {wanted or 'null'}")]
    if value is None:
        return []
    if isinstance(value, Mapping):
        return validate(spec.schema, value, picklists, prefix=f"{name}/") if spec.schema else []
    if isinstance(value, list):
        if spec.max_items is not None and len(value) > spec.max_items:
            return [Violation(name, "invalid", f"{name} takes at most {spec.max_items} items")]
        if spec.items is not None:
            for item in value:
                found = _check(name, item, spec.items, picklists, query=False)
                if found:
                    return found
        return []
    text = str(value) if not isinstance(value, bool) else ("true" if value else "false")
    if query and spec.max_items is not None:
        terms = [t for t in text.split(",") if t.strip()]
        if not terms or len(terms) > spec.max_items:
            return [Violation(name, "invalid", f"{name} takes 1 to {spec.max_items} values")]
    if spec.max_length is not None and len(text) > spec.max_length:
        return [
            Violation(
                name, "invalid", f"{name} is longer than {spec.max_length} characters ({len(text)})"
            )
        ]
    if spec.min_length is not None and len(text) < spec.min_length:
        return [Violation(name, "invalid", f"{name} needs at least {spec.min_length} characters")]
    if spec.pattern is not None and re.fullmatch(spec.pattern, text) is None:
        return [Violation(name, "invalid", f"{name} does not match Zoho's pattern for it")]
    if spec.enum is not None and text not in spec.enum:
        return [Violation(name, "invalid", f"{name} is one of {', '.join(spec.enum)}")]
    if query and (spec.minimum is not None or spec.maximum is not None):
        number = int(text)
        low = spec.minimum if spec.minimum is not None else number
        high = spec.maximum if spec.maximum is not None else number
        if not low <= number <= high:
            return [Violation(name, "invalid", f"{name} is between {low} and {high}")]
    if spec.picklist is not None and picklists is not None and spec.picklist in picklists:
        allowed = picklists[spec.picklist]
        if picklist_value(text, allowed) is None:
            return [
                Violation(name, "invalid", f"{text!r} is not a value of the portal's {name} list")
            ]
    return []


def picklist_value(value: str, allowed: Sequence[str]) -> str | None:
    """The portal's own spelling of a picklist value, matched case-insensitively; None if absent."""
    wanted = value.strip().lower()
    for candidate in allowed:
        if candidate.lower() == wanted:
            return candidate
    return None


def validate(
    schema: Schema,
    data: Mapping[str, Any],
    picklists: Mapping[str, Sequence[str]] | None = None,
    *,
    prefix: str = "",
) -> list[Violation]:
    """Every way ``data`` breaks ``schema``: unknown properties, types, lengths, patterns,
    enums, the portal's picklists (when given) and missing required properties."""
    violations: list[Violation] = []
    for name, value in data.items():
        where = f"{prefix}{name}"
        spec = schema.fields.get(name)
        if spec is None:
            if schema.values is not None:
                if re.fullmatch(CF_PATTERN, str(name)) is None:
                    violations.append(Violation(where, "invalid", "not a valid API name"))
                else:
                    violations += _check(where, value, schema.values, picklists, query=False)
            elif not schema.additional:
                violations.append(Violation(where, "invalid", f"an extra parameter {name!r}"))
            continue
        violations += _check(where, value, spec, picklists, query=schema.query)
    for name in schema.required:
        if data.get(name) is None or (isinstance(data.get(name), str) and not data[name].strip()):
            violations.append(Violation(f"{prefix}{name}", "missing", f"{name} is mandatory"))
    if schema.one_of and not any(data.get(name) is not None for name in schema.one_of):
        first = schema.one_of[0]
        violations.append(
            Violation(
                f"{prefix}{first}", "missing", f"one of {', '.join(schema.one_of)} is mandatory"
            )
        )
    return violations


# ---------------------------------------------------------------- the portal's picklists

# Zoho's defaults for a new portal (facts page: priority High|Medium|Low, status Open …,
# channels Email, Phone, Chat, Web …). Categories are the sandbox portal's own choice: Zoho
# ships none, so any category would be refused on a portal that configured none.
DEFAULT_PICKLISTS: Final[Mapping[str, tuple[str, ...]]] = {
    "channel": (
        "Email",
        "Phone",
        "Chat",
        "Web",
        "Forums",
        "Twitter",
        "Facebook",
        "Instagram",
        "WhatsApp",
        "Telegram",
        "LINE",
        "WeChat",
        "Feedback Widget",
        "Customer Portal",
    ),
    "priority": ("High", "Medium", "Low"),
    "status": ("Open", "On Hold", "Escalated", "Closed"),
    "classification": ("Question", "Problem", "Feature", "Others"),
    "category": ("Billing", "General", "Technical"),
    "subCategory": (),
    "language": ("English",),
}

ALL_SCHEMAS: Final = {
    "POST /api/v1/tickets": CREATE_TICKET,
    "POST /api/v1/contacts": CREATE_CONTACT,
    "GET /api/v1/contacts/search": SEARCH_CONTACTS,
    "GET /api/v1/tickets/search": SEARCH_TICKETS,
    "GET /api/v1/tickets/{ticketId}": GET_TICKET,
    "GET /api/v1/departments": LIST_DEPARTMENTS,
    "GET /api/v1/organizations": LIST_ORGANIZATIONS,
    "GET /api/v1/myinfo": MY_INFO,
    "GET /api/v1/organizationFields": ORGANIZATION_FIELDS,
    "PATCH /api/v1/tickets/{ticketId}": UPDATE_TICKET,
    "GET /api/v1/tickets": LIST_TICKETS,
    "GET /api/v1/tickets/{ticketId}/threads": LIST_THREADS,
    "GET /api/v1/tickets/{ticketId}/threads/{threadId}": GET_THREAD,
    "GET /api/v1/tickets/{ticketId}/latestThread": LATEST_THREAD,
    "GET /api/v1/tickets/{ticketId}/conversations": LIST_CONVERSATIONS,
    "POST /api/v1/tickets/{ticketId}/comments": CREATE_COMMENT,
    "GET /api/v1/tickets/{ticketId}/comments": LIST_COMMENTS,
    "GET /api/v1/tickets/{ticketId}/comments/{commentId}": GET_COMMENT,
    "POST /api/v1/webhooks": CREATE_WEBHOOK,
    "PATCH /api/v1/webhooks/{webhookId}": UPDATE_WEBHOOK,
    "GET /api/v1/webhooks": WEBHOOK_QUERY,
    "POST /api/v1/tickets/{ticketId}/attachments": CREATE_ATTACHMENT_QUERY,
    "GET /api/v1/tickets/{ticketId}/attachments": LIST_ATTACHMENTS,
    "DELETE /api/v1/tickets/{ticketId}/attachments/{attachmentId}": NO_QUERY,
    "POST /api/v1/uploads": NO_QUERY,
    "GET /api/v1/tickets/{ticketId}/threads/{threadId}/attachments/{attachmentId}/content": (
        THREAD_ATTACHMENT_CONTENT
    ),
}

__all__ = [
    "ALL_SCHEMAS",
    "DEFAULT_PICKLISTS",
    "THREAD_ATTACHMENT_CONTENT",
    "Field",
    "Schema",
    "Violation",
    "picklist_value",
    "validate",
]
