"""The Zoho Desk calls of the two-way sync: a ticket's threads, comments and conversation,
its status, the tickets modified in a time range, and the webhook subscriptions."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, TypeVar
from urllib.parse import quote

from ticketing.adapters.zoho_desk.wire import format_time
from ticketing.adapters.zoho_desk.wire_sync import (
    COMMENT_MAX,
    WEBHOOK_UPDATE_URL_MAX,
    WEBHOOK_URL_MAX,
    WireComment,
    WireConversation,
    WireThread,
    WireTicketState,
    WireWebhook,
    webhook_body,
)
from ticketing.domain.conversation import Comment, Thread, TicketState, WebhookSubscription
from ticketing.domain.errors import HelpdeskRejected, ValidationError

T = TypeVar("T")

# Zoho checks a webhook's URL (a GET, then a POST, each given 5 s) before it answers the
# create or the URL's update: the answer can take over 10 s.
WEBHOOK_TIMEOUT: Final = 30.0
# GET /tickets/search: from 0 to 999, limit 1 to 100 (Search.json)
SEARCH_FROM_MAX: Final = 999
SEARCH_LIMIT_MAX: Final = 100


def _ticket(ticket_id: str) -> str:
    return f"/tickets/{quote(ticket_id, safe='')}"


class SyncCalls:
    """Zoho Desk's two-way endpoints, mixed into ``ZohoDeskClient`` (its ``_call``, its
    error mapping, credits and clock offset). Lists answer ``[]`` for Zoho's 204; a single
    resource that is not there is ``HelpdeskRejected`` (404)."""

    if TYPE_CHECKING:

        async def _call(
            self,
            method: str,
            path: str,
            operation: str,
            *,
            params: dict[str, str | int] | None = None,
            json: dict[str, Any] | None = None,
            org: bool = True,
            read_timeout: float | None = None,
        ) -> bytes | None: ...

        @staticmethod
        def _items(content: bytes | None, kind: type[T]) -> list[T]: ...

        @staticmethod
        def _one(content: bytes | None, kind: type[T], *, sent: bool) -> T: ...

    # ------------------------------------------------------------ threads

    async def list_threads(
        self, ticket_id: str, *, limit: int = 100, start: int = 0, oldest_first: bool = False
    ) -> list[Thread]:
        """A page of a ticket's threads (``GET /threads``: summaries, no content), newest
        first unless ``oldest_first``; about 3 credits."""
        params: dict[str, str | int] = {"limit": limit, "from": start}
        if oldest_first:
            params["sortBy"] = "sendDateTime"
        content = await self._call(
            "GET", f"{_ticket(ticket_id)}/threads", "list_threads", params=params
        )
        return [t.to_domain(ticket_id) for t in self._items(content, WireThread)]

    async def get_thread(self, ticket_id: str, thread_id: str) -> Thread:
        """One thread with its HTML ``content`` and Zoho's ``plainText``."""
        path = f"{_ticket(ticket_id)}/threads/{quote(thread_id, safe='')}"
        content = await self._call("GET", path, "get_thread", params={"include": "plainText"})
        return self._one(content, WireThread, sent=False).to_domain(ticket_id)

    async def latest_thread(
        self, ticket_id: str, *, public_only: bool = False, incoming_only: bool = False
    ) -> Thread | None:
        """The newest thread (with ``plainText``), None when none matches (204)."""
        params: dict[str, str | int] = {"include": "plainText"}
        if public_only:
            params["needPublic"] = "true"
        if incoming_only:
            params["needIncomingThread"] = "true"
        content = await self._call(
            "GET", f"{_ticket(ticket_id)}/latestThread", "latest_thread", params=params
        )
        if content is None:
            return None
        return self._one(content, WireThread, sent=False).to_domain(ticket_id)

    async def list_conversations(
        self, ticket_id: str, *, limit: int = 200, start: int = 0
    ) -> list[Thread | Comment]:
        """A page of a ticket's threads (summaries) and comments together; about 3 credits."""
        content = await self._call(
            "GET",
            f"{_ticket(ticket_id)}/conversations",
            "list_conversations",
            params={"limit": limit, "from": start},
        )
        return [c.item(ticket_id) for c in self._items(content, WireConversation)]

    # ------------------------------------------------------------ comments

    async def add_comment(self, ticket_id: str, text: str, *, public: bool = True) -> Comment:
        """Add a plain-text comment as the token's agent. Raises ``ValidationError`` for
        text Zoho refuses (empty, over 32,000 characters) before sending anything."""
        if not text.strip():
            raise ValidationError("content", "a comment needs text")
        if len(text) > COMMENT_MAX:
            raise ValidationError("content", f"a comment holds at most {COMMENT_MAX} characters")
        body = {"content": text, "isPublic": public, "contentType": "plainText"}
        content = await self._call(
            "POST", f"{_ticket(ticket_id)}/comments", "add_comment", json=body
        )
        return self._one(content, WireComment, sent=True).to_domain(ticket_id)

    async def post_comment(self, ticket_id: str, text: str) -> Comment:
        """A follow-up's public comment (``FollowUpDesk``)."""
        return await self.add_comment(ticket_id, text, public=True)

    async def list_comments(
        self, ticket_id: str, *, limit: int = 100, start: int = 0, newest_first: bool = False
    ) -> list[Comment]:
        """A page of a ticket's comments with ``plainText``, oldest first unless
        ``newest_first``; about 3 credits."""
        params: dict[str, str | int] = {
            "include": "plainText",
            "limit": limit,
            "from": start,
            "sortBy": "-commentedTime" if newest_first else "commentedTime",
        }
        content = await self._call(
            "GET", f"{_ticket(ticket_id)}/comments", "list_comments", params=params
        )
        return [c.to_domain(ticket_id) for c in self._items(content, WireComment)]

    async def get_comment(self, ticket_id: str, comment_id: str) -> Comment:
        path = f"{_ticket(ticket_id)}/comments/{quote(comment_id, safe='')}"
        content = await self._call("GET", path, "get_comment", params={"include": "plainText"})
        return self._one(content, WireComment, sent=False).to_domain(ticket_id)

    # ------------------------------------------------------------ tickets

    async def ticket_state(self, ticket_id: str) -> TicketState:
        """A ticket's status and times (``GET /tickets/{id}``)."""
        content = await self._call("GET", _ticket(ticket_id), "ticket_state")
        if content is None:
            raise HelpdeskRejected(f"Zoho Desk has no ticket {ticket_id}", status=404)
        return self._one(content, WireTicketState, sent=False).to_domain()

    async def modified_tickets(
        self,
        since: datetime,
        until: datetime,
        *,
        start: int = 0,
        limit: int = SEARCH_LIMIT_MAX,
        department_id: str | None = None,
    ) -> list[TicketState]:
        """The tickets modified in ``[since, until]`` (Zoho's clock), oldest change first:
        a search (``modifiedTimeRange``; ``GET /tickets`` has no such filter), about 3
        credits a page. Zoho's search index lags: overlap the windows. ``start`` stops at
        999: narrow the window rather than page further."""
        if not 0 <= start <= SEARCH_FROM_MAX:
            raise ValueError(f"a search starts at 0 to {SEARCH_FROM_MAX}, not {start}")
        params: dict[str, str | int] = {
            "modifiedTimeRange": f"{format_time(since)},{format_time(until)}",
            "sortBy": "modifiedTime",
            "from": start,
            "limit": min(max(limit, 1), SEARCH_LIMIT_MAX),
        }
        if department_id:
            params["departmentId"] = department_id
        content = await self._call("GET", "/tickets/search", "modified_tickets", params=params)
        return [t.to_domain() for t in self._items(content, WireTicketState)]

    # ------------------------------------------------------------ webhooks

    async def list_webhooks(self) -> list[WebhookSubscription]:
        content = await self._call("GET", "/webhooks", "list_webhooks")
        return [w.to_domain() for w in self._items(content, WireWebhook)]

    async def get_webhook(self, webhook_id: str) -> WebhookSubscription:
        content = await self._call("GET", f"/webhooks/{quote(webhook_id, safe='')}", "get_webhook")
        return self._one(content, WireWebhook, sent=False).to_domain()

    async def create_webhook(
        self,
        url: str,
        subscriptions: Mapping[str, Any],
        *,
        name: str | None = None,
        description: str | None = None,
        enabled: bool = True,
    ) -> WebhookSubscription:
        """Register a webhook; Zoho first checks that ``url`` answers 200 (GET, else POST)."""
        if len(url) > WEBHOOK_URL_MAX:
            raise ValidationError(
                "url", f"Zoho takes a webhook URL of {WEBHOOK_URL_MAX} characters at most"
            )
        body = webhook_body(
            subscriptions, url=url, name=name, description=description, enabled=enabled
        )
        content = await self._call(
            "POST", "/webhooks", "create_webhook", json=body, read_timeout=WEBHOOK_TIMEOUT
        )
        return self._one(content, WireWebhook, sent=True).to_domain()

    async def update_webhook(
        self,
        webhook_id: str,
        subscriptions: Mapping[str, Any],
        *,
        url: str | None = None,
        name: str | None = None,
        description: str | None = None,
        enabled: bool | None = None,
    ) -> WebhookSubscription:
        """Change a webhook; Zoho requires ``subscriptions`` on every update, and a new URL
        of at most 100 characters (the update's schema is older than the create's)."""
        if url is not None and len(url) > WEBHOOK_UPDATE_URL_MAX:
            raise ValidationError(
                "url",
                f"Zoho's update takes a URL of {WEBHOOK_UPDATE_URL_MAX} characters at most: "
                "delete the webhook and create it again",
            )
        body = webhook_body(
            subscriptions, url=url, name=name, description=description, enabled=enabled
        )
        content = await self._call(
            "PATCH",
            f"/webhooks/{quote(webhook_id, safe='')}",
            "update_webhook",
            json=body,
            read_timeout=WEBHOOK_TIMEOUT,
        )
        return self._one(content, WireWebhook, sent=True).to_domain()

    async def delete_webhook(self, webhook_id: str) -> None:
        """Remove a webhook (Zoho answers 200 with no body)."""
        await self._call("DELETE", f"/webhooks/{quote(webhook_id, safe='')}", "delete_webhook")
