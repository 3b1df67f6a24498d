"""A ticket's conversation: its threads (the description, agents' replies, the customer's
messages) and its comments, as ``Thread.json``, ``TicketComment.json`` and
``Conversation.json`` describe them, with the events each new one raises."""

from __future__ import annotations

import base64
import binascii
import html
from collections.abc import Mapping, Sequence
from html.parser import HTMLParser
from typing import Any, Final

from zoho_desk_emulator.constraints import CREATE_COMMENT, validate
from zoho_desk_emulator.desk import Desk
from zoho_desk_emulator.errors import DeskError, FieldError, invalid_data, not_a_json_object
from zoho_desk_emulator.events import DeskEvent
from zoho_desk_emulator.records import (
    CommentRecord,
    ThreadFile,
    ThreadRecord,
    TicketRecord,
    person,
)
from zoho_desk_emulator.sandbox import SANDBOX_AGENT_ID
from zoho_desk_emulator.search import int_param

DIRECTIONS: Final = ("in", "out")
VISIBILITIES: Final = ("public", "private")
THREAD_STATUSES: Final = ("SUCCESS", "PENDING", "FAILED", "DRAFT")
# Conversation.json generalThreadResponseJson.channel
THREAD_CHANNELS: Final = (
    "FACEBOOK",
    "TWITTER",
    "EMAIL",
    "FORUMS",
    "PHONE",
    "WEB",
    "FEEDBACK",
    "FEEDBACK_WIDGET",
    "TWITTER_DM",
    "ONLINE_CHAT",
    "OFFLINE_CHAT",
    "CUSTOMERPORTAL",
)
# a ticket's channel (a picklist value) → its description thread's channel; the enum has
# no IM channel (WhatsApp, Telegram …): those threads say WEB here (unconfirmed)
_TICKET_TO_THREAD_CHANNEL: Final = {
    "email": "EMAIL",
    "phone": "PHONE",
    "web": "WEB",
    "chat": "ONLINE_CHAT",
    "forums": "FORUMS",
    "twitter": "TWITTER",
    "facebook": "FACEBOOK",
    "feedback widget": "FEEDBACK_WIDGET",
    "customer portal": "CUSTOMERPORTAL",
}
AGENT: Final = person(SANDBOX_AGENT_ID, "Sandbox", "Agent", "agent@sandbox.invalid", "AGENT")
_NOT_FOUND: Final = "The URL you requested could not be found."
# The control API's files on a thread: kept in memory with their bytes, so kept small.
THREAD_FILE_MAX: Final = 5 * 1024 * 1024
THREAD_FILES_MAX: Final = 10
_FILE_KEYS: Final = frozenset({"name", "content_type", "data"})


def thread_files(raw: Any) -> list[tuple[str, str, bytes]]:
    """The control API's ``attachments``: ``[{"name", "content_type", "data" (base64)}]``,
    each checked (``ValueError``, one line, on anything else) and decoded."""
    if not isinstance(raw, list) or len(raw) > THREAD_FILES_MAX:
        raise ValueError(f"attachments is a list of at most {THREAD_FILES_MAX} files")
    files: list[tuple[str, str, bytes]] = []
    for n, item in enumerate(raw):
        where = f"attachments[{n}]"
        if not isinstance(item, dict) or set(item) != _FILE_KEYS:
            raise ValueError(f'{where} is {{"name", "content_type", "data"}}, all three')
        name, kind, data = item["name"], item["content_type"], item["data"]
        if not isinstance(name, str) or not name.strip() or len(name) > 100:
            raise ValueError(f"{where}.name is a file name of 1 to 100 characters")
        if not isinstance(kind, str) or "/" not in kind:
            raise ValueError(f"{where}.content_type is a media type such as image/png")
        if not isinstance(data, str):
            raise ValueError(f"{where}.data is the file's bytes in base64")
        try:
            decoded = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"{where}.data is not valid base64") from None
        if not decoded:
            raise ValueError(f"{where}.data is empty")
        if len(decoded) > THREAD_FILE_MAX:
            raise ValueError(f"{where} is over the emulator's {THREAD_FILE_MAX} bytes per file")
        files.append((name, kind, decoded))
    return files


class _PlainText(HTMLParser):
    _BREAKS: Final = frozenset({"br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._BREAKS and tag != "br":
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def plain_text(content: str) -> str:
    """Zoho's ``plainText`` of an HTML content: the text, a line per block or ``<br>``."""
    parser = _PlainText()
    parser.feed(content)
    parser.close()
    lines = [line.strip() for line in "".join(parser.parts).splitlines()]
    return "\n".join(line for line in lines if line)


def as_html(text: str) -> str:
    """Text as the HTML content Zoho stores for it."""
    return "<div>" + html.escape(text).replace("\n", "<br />") + "</div>"


class Conversations:
    """The threads and comments of one emulated account's tickets.

    A ticket gets its description thread when it is stored; agents' replies, customers'
    messages and comments come from the control API (and comments from the Desk API too).
    Each new thread or comment bumps the ticket's counts and ``modifiedTime`` (whether
    Zoho moves ``modifiedTime`` on a thread is unconfirmed) and raises its event.
    """

    def __init__(self, desk: Desk) -> None:
        self.desk = desk
        self.threads: dict[str, ThreadRecord] = {}
        self.comments: dict[str, CommentRecord] = {}
        desk.on_ticket_stored.append(self._description_thread)

    def __repr__(self) -> str:
        return f"Conversations(threads={len(self.threads)}, comments={len(self.comments)})"

    # ------------------------------------------------------------ new threads and comments

    def _description_thread(self, ticket: TicketRecord) -> None:
        contact = self.desk.contacts.get(ticket.contact_id)
        author = self._end_user(ticket)
        text = ticket.description or ""
        thread = ThreadRecord(
            id=self.desk.new_id(),
            ticket_id=ticket.id,
            org_id=ticket.org_id,
            direction="in",
            visibility="public",
            status="SUCCESS",
            channel=thread_channel(ticket.channel),
            content=as_html(text),
            plain_text=text,
            author=author if contact else AGENT,
            created_time=ticket.created_time,
            is_description=True,
        )
        self.threads[thread.id] = thread
        ticket.thread_count += 1
        ticket.recent_thread_time = thread.created_time

    def _end_user(self, ticket: TicketRecord) -> dict[str, Any]:
        contact = self.desk.contacts.get(ticket.contact_id)
        if contact is None:
            return person(ticket.contact_id, None, "Customer", ticket.email, "END_USER")
        return person(contact.id, contact.first_name, contact.last_name, contact.email, "END_USER")

    def add_thread(
        self,
        ticket_id: str,
        *,
        text: str | None = None,
        content: str | None = None,
        direction: str = "out",
        visibility: str = "public",
        status: str = "SUCCESS",
        channel: str | None = None,
        files: Sequence[tuple[str, str, bytes]] = (),
        base_url: str = "",
    ) -> ThreadRecord:
        """A new thread (the control API's agent reply or customer message): ``out`` is the
        sandbox agent's, ``in`` the ticket's contact's; ``files`` (name, type, bytes) are its
        attachments, served under ``base_url``. Raises ``ValueError`` on bad input."""
        ticket = self._ticket_anywhere(ticket_id)
        _one_of("direction", direction, DIRECTIONS)
        _one_of("visibility", visibility, VISIBILITIES)
        _one_of("status", status, THREAD_STATUSES)
        description = self._description_of(ticket)
        channel = channel or (description.channel if description else "EMAIL")
        _one_of("channel", channel, THREAD_CHANNELS)
        body = _content(text, content)
        now = self.desk.now()
        thread_id = self.desk.new_id()
        prefix = f"{base_url}/api/v1/tickets/{ticket.id}/threads/{thread_id}/attachments"
        stored = []
        for name, kind, data in files:
            file_id = self.desk.new_id()
            href = f"{prefix}/{file_id}/content"
            stored.append(ThreadFile(file_id, name, kind, data, href))
        thread = ThreadRecord(
            id=thread_id,
            ticket_id=ticket.id,
            org_id=ticket.org_id,
            direction=direction,
            visibility=visibility,
            status=status,
            channel=channel,
            content=body,
            plain_text=plain_text(body),
            author=AGENT if direction == "out" else self._end_user(ticket),
            created_time=now,
            files=tuple(stored),
        )
        self.threads[thread.id] = thread
        ticket.thread_count += 1
        ticket.recent_thread_time = now
        ticket.touch(now)
        # Every thread raises Ticket_Thread_Add, drafts and failed sends included (whether
        # Zoho does for those is unconfirmed: a receiver must look at status anyway).
        self.desk.emit(
            DeskEvent(
                "Ticket_Thread_Add",
                ticket.org_id,
                ticket.department_id,
                {**thread.as_zoho(), "ticketId": ticket.id},
                now,
                direction=direction,
            )
        )
        return thread

    def create_comment(self, org_id: str, ticket_id: str, body: Any) -> CommentRecord:
        """``POST /tickets/{id}/comments``: checked against ``addCommentPayload`` (422); the
        commenter is the token's agent."""
        ticket = self.desk.get_ticket(org_id, ticket_id)
        if not isinstance(body, Mapping):
            raise not_a_json_object()
        if not self.desk.lenient:
            found = validate(CREATE_COMMENT, body)
            if found:
                raise invalid_data(
                    *(FieldError(f"/{v.field}", v.error_type, v.message) for v in found)
                )
        content = str(body.get("content") or "")
        if not content.strip():
            raise invalid_data(FieldError("/content", "missing", "content is mandatory"))
        return self._store_comment(
            ticket,
            content,
            content_type=str(body.get("contentType") or "html"),
            is_public=bool(body.get("isPublic", False)),
            commenter=AGENT,
        )

    def add_comment(
        self,
        ticket_id: str,
        *,
        text: str | None = None,
        content: str | None = None,
        is_public: bool = True,
        by: str = "agent",
    ) -> CommentRecord:
        """A comment from the control API: the sandbox agent's, or the contact's
        (``by="end_user"``, as from the help centre). Raises ``ValueError`` on bad input."""
        ticket = self._ticket_anywhere(ticket_id)
        _one_of("by", by, ("agent", "end_user"))
        if not isinstance(is_public, bool):
            raise ValueError("isPublic is true or false")
        commenter = AGENT if by == "agent" else self._end_user(ticket)
        if content is None and text is not None:
            return self._store_comment(ticket, text, "plainText", is_public, commenter)
        return self._store_comment(ticket, _content(None, content), "html", is_public, commenter)

    def _store_comment(
        self,
        ticket: TicketRecord,
        content: str,
        content_type: str,
        is_public: bool,
        commenter: dict[str, Any],
    ) -> CommentRecord:
        now = self.desk.now()
        comment = CommentRecord(
            id=self.desk.new_id(),
            ticket_id=ticket.id,
            org_id=ticket.org_id,
            content=content,
            content_type=content_type,
            plain_text=plain_text(content) if content_type == "html" else content,
            is_public=is_public,
            commenter=dict(commenter),
            commented_time=now,
        )
        self.comments[comment.id] = comment
        ticket.comment_count += 1
        ticket.touch(now)
        self.desk.emit(
            DeskEvent(
                "Ticket_Comment_Add",
                ticket.org_id,
                ticket.department_id,
                {**comment.as_zoho(), "ticketId": ticket.id},
                now,
            )
        )
        return comment

    # ------------------------------------------------------------ reads

    def list_threads(
        self, org_id: str, ticket_id: str, params: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        """``GET /threads``: newest first unless ``sortBy=sendDateTime``; no content.
        ``limit`` defaults to 25 (the description gives none)."""
        ticket = self.desk.get_ticket(org_id, ticket_id)
        limit = int_param(params, "limit", default=25, low=1, high=200)
        start = int_param(params, "from", default=0, low=0, high=1_000_000)
        newest_first = params.get("sortBy", "-sendDateTime").startswith("-")
        threads = sorted(
            self._threads_of(ticket),
            key=lambda t: (t.created_time, int(t.id)),
            reverse=newest_first,
        )
        return [t.as_listed() for t in threads[start : start + limit]]

    def get_thread(
        self, org_id: str, ticket_id: str, thread_id: str, params: Mapping[str, str]
    ) -> dict[str, Any]:
        ticket = self.desk.get_ticket(org_id, ticket_id)
        thread = self.threads.get(thread_id)
        if thread is None or thread.ticket_id != ticket.id:
            raise DeskError(404, "URL_NOT_FOUND", _NOT_FOUND)
        return thread.as_zoho(plain_text=params.get("include") == "plainText")

    def thread_file(
        self, org_id: str, ticket_id: str, thread_id: str, attachment_id: str
    ) -> ThreadFile:
        """``GET .../threads/{th}/attachments/{a}/content``: the file, or 404 URL_NOT_FOUND
        for a ticket, thread or file that is not there (or not of that ticket and thread)."""
        for name, value in (("threadId", thread_id), ("attachmentId", attachment_id)):
            if not value.isascii() or not value.isdigit():
                # Thread.json: both path ids have the pattern ([0-9]+); the route lists 422
                raise invalid_data(FieldError(f"/{name}", "invalid", f"{name} is digits"))
        ticket = self.desk.get_ticket(org_id, ticket_id)
        thread = self.threads.get(thread_id)
        if thread is not None and thread.ticket_id == ticket.id:
            for file in thread.files:
                if file.id == attachment_id:
                    return file
        raise DeskError(404, "URL_NOT_FOUND", _NOT_FOUND)

    def latest_thread(
        self, org_id: str, ticket_id: str, params: Mapping[str, str]
    ) -> dict[str, Any] | None:
        """``GET /latestThread``: the newest thread that is not a draft (drafts are not
        sent: an assumption), narrowed by ``needPublic``, ``needIncomingThread`` and
        ``threadStatus``; None (204) when none is left."""
        ticket = self.desk.get_ticket(org_id, ticket_id)
        wanted_status = params.get("threadStatus")
        candidates = [
            t
            for t in self._threads_of(ticket)
            if t.status != "DRAFT"
            and (params.get("needPublic") != "true" or t.visibility == "public")
            and (params.get("needIncomingThread") != "true" or t.direction == "in")
            and (wanted_status is None or t.status == wanted_status.upper())
        ]
        if not candidates:
            return None
        newest = max(candidates, key=lambda t: (t.created_time, int(t.id)))
        return newest.as_zoho(plain_text="plainText" in params.get("include", "").split(","))

    def list_comments(
        self, org_id: str, ticket_id: str, params: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        """``GET /comments``: oldest first unless ``sortBy=-commentedTime``; 50 by default."""
        ticket = self.desk.get_ticket(org_id, ticket_id)
        limit = int_param(params, "limit", default=50, low=1, high=100)
        start = int_param(params, "from", default=0, low=0, high=1_000_000)
        comments = sorted(
            (c for c in self.comments.values() if c.ticket_id == ticket.id),
            key=lambda c: (c.commented_time, int(c.id)),
            reverse=params.get("sortBy", "").startswith("-"),
        )
        plain = "plainText" in params.get("include", "").split(",")
        return [c.as_zoho(plain_text=plain) for c in comments[start : start + limit]]

    def get_comment(
        self, org_id: str, ticket_id: str, comment_id: str, params: Mapping[str, str]
    ) -> dict[str, Any]:
        ticket = self.desk.get_ticket(org_id, ticket_id)
        comment = self.comments.get(comment_id)
        if comment is None or comment.ticket_id != ticket.id:
            raise DeskError(404, "URL_NOT_FOUND", _NOT_FOUND)
        return comment.as_zoho(plain_text="plainText" in params.get("include", "").split(","))

    def list_conversations(
        self, org_id: str, ticket_id: str, params: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        """``GET /conversations``: threads (``type: thread``, no content) and comments
        (``type: comment``) together, newest first (the order is not documented); 100 by
        default, at most 200."""
        ticket = self.desk.get_ticket(org_id, ticket_id)
        limit = int_param(params, "limit", default=100, low=1, high=200)
        start = int_param(params, "from", default=0, low=0, high=1_000_000)
        items: list[tuple[Any, int, dict[str, Any]]] = [
            (t.created_time, int(t.id), {**t.as_listed(), "type": "thread"})
            for t in self._threads_of(ticket)
        ]
        for c in self.comments.values():
            if c.ticket_id == ticket.id:
                # Conversation.json's comment item (commentCommonResponse) lists no id; an item
                # nobody can refer to is useless, so the id stays (an assumption)
                body = c.as_zoho()
                del body["encodedContent"], body["impersonatedUser"]
                items.append((c.commented_time, int(c.id), {**body, "type": "comment"}))
        items.sort(key=lambda item: (item[0], item[1]), reverse=True)
        return [body for _, _, body in items[start : start + limit]]

    # ------------------------------------------------------------ helpers

    def _threads_of(self, ticket: TicketRecord) -> list[ThreadRecord]:
        return [t for t in self.threads.values() if t.ticket_id == ticket.id]

    def _description_of(self, ticket: TicketRecord) -> ThreadRecord | None:
        return next((t for t in self._threads_of(ticket) if t.is_description), None)

    def _ticket_anywhere(self, ticket_id: str) -> TicketRecord:
        self.desk.settle()
        ticket = self.desk.tickets.get(str(ticket_id))
        if ticket is None:
            raise ValueError(f"no ticket {ticket_id!r}")
        return ticket


def thread_channel(ticket_channel: str | None) -> str:
    """The description thread's channel for a ticket's channel."""
    return _TICKET_TO_THREAD_CHANNEL.get((ticket_channel or "").strip().lower(), "WEB")


def _one_of(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} is one of {', '.join(allowed)}")


def _content(text: str | None, content: str | None) -> str:
    if content is not None:
        if not isinstance(content, str) or not content.strip():
            raise ValueError("content is non-empty HTML")
        return content
    if not isinstance(text, str) or not text.strip():
        raise ValueError('give "text" (plain) or "content" (HTML)')
    return as_html(text)
