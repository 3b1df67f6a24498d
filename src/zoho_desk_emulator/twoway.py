"""The emulator's two-way endpoints: a ticket's threads, comments and conversation, ticket
updates and lists, the webhook subscription API, and the control switches a test drives
(an agent's reply, a comment, a status change, the deliveries made)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Final
from urllib.parse import quote

import anyio
from litestar import Response, delete, get, patch, post
from litestar.types import ControllerRouterHandler

from zoho_desk_emulator import constraints
from zoho_desk_emulator.conversations import thread_files
from zoho_desk_emulator.credits import PLAIN_WEIGHT, SEARCH_WEIGHT
from zoho_desk_emulator.errors import DeskError
from zoho_desk_emulator.plumbing import (
    Answer,
    AnyRequest,
    Emu,
    answer,
    base_url,
    credit_headers,
    desk_call,
    desk_read,
    internal_error,
    json_body,
    listing,
    query,
)
from zoho_desk_emulator.records import ThreadFile

# Thread.json and TicketComment.json: Desk.tickets.READ to read, .UPDATE to comment
READ: Final = ("Desk.tickets.READ",)
UPDATE: Final = ("Desk.tickets.UPDATE",)


def _webhook_scopes(operation: str) -> tuple[str, ...]:
    """Webhook.json: any of Desk.events.*, Desk.settings.*, Desk.webhooks.* for the operation."""
    return tuple(f"Desk.{kind}.{operation}" for kind in ("events", "settings", "webhooks"))


def _ticket_id(request: AnyRequest) -> str:
    return str(request.path_params["ticket_id"])


# ---------------------------------------------------------------------- tickets


@get("/api/v1/tickets")
async def list_tickets(request: AnyRequest, emu: Emu) -> Response[Any]:
    def read(org_id: str, params: dict[str, str]) -> Answer:
        return listing(emu.desk.list_tickets(org_id, params))

    return await desk_read(
        request, emu, constraints.LIST_TICKETS, read, weight=SEARCH_WEIGHT, scopes=READ
    )


@patch("/api/v1/tickets/{ticket_id:str}")
async def update_ticket(request: AnyRequest, emu: Emu) -> Response[Any]:
    async def run(org_id: str) -> Answer:
        emu.desk.check_query(constraints.UPDATE_TICKET_QUERY, query(request))
        ticket = emu.desk.update_ticket(org_id, _ticket_id(request), await json_body(request))
        return 200, ticket.as_zoho()

    return await desk_call(request, emu, PLAIN_WEIGHT, run, scopes=UPDATE)


# ---------------------------------------------------------------------- threads


@get("/api/v1/tickets/{ticket_id:str}/threads")
async def list_threads(request: AnyRequest, emu: Emu) -> Response[Any]:
    def read(org_id: str, params: dict[str, str]) -> Answer:
        return listing(emu.conversations.list_threads(org_id, _ticket_id(request), params))

    return await desk_read(
        request, emu, constraints.LIST_THREADS, read, weight=SEARCH_WEIGHT, scopes=READ
    )


@get("/api/v1/tickets/{ticket_id:str}/threads/{thread_id:str}")
async def get_thread(request: AnyRequest, emu: Emu) -> Response[Any]:
    thread_id = str(request.path_params["thread_id"])

    def read(org_id: str, params: dict[str, str]) -> Answer:
        return 200, emu.conversations.get_thread(org_id, _ticket_id(request), thread_id, params)

    return await desk_read(request, emu, constraints.GET_THREAD, read, scopes=READ)


@get(
    "/api/v1/tickets/{ticket_id:str}/threads/{thread_id:str}/attachments/{attachment_id:str}/content"
)
async def thread_attachment_content(request: AnyRequest, emu: Emu) -> Response[Any]:
    """A thread attachment's bytes. Thread.json ``getThreadAttachmentContent`` (its summary
    and description are copied from the delete's by mistake): path ids ``([0-9]+)``, orgId,
    no query parameter, scope ``Desk.tickets.READ``, 200 ``fileResponse`` or 422. The weight
    is not published: one credit, as a single GET. TicketComment.json has no such route for
    a comment's files."""
    thread_id = str(request.path_params["thread_id"])
    attachment_id = str(request.path_params["attachment_id"])
    found: list[ThreadFile] = []

    def read(org_id: str, _: dict[str, str]) -> Answer:
        found.append(
            emu.conversations.thread_file(org_id, _ticket_id(request), thread_id, attachment_id)
        )
        return 200, None

    done = await desk_read(request, emu, constraints.THREAD_ATTACHMENT_CONTENT, read, scopes=READ)
    if done.status_code != 200 or not found:
        return done
    file = found[0]
    # Zoho's header is unconfirmed; a download's usual one, the name quoted as RFC 6266 has it
    disposition = f"attachment; filename*=UTF-8''{quote(file.name, safe='')}"
    return Response(
        content=file.data,
        status_code=200,
        media_type=file.content_type,
        headers={**credit_headers(emu, PLAIN_WEIGHT), "Content-Disposition": disposition},
    )


@get("/api/v1/tickets/{ticket_id:str}/latestThread")
async def latest_thread(request: AnyRequest, emu: Emu) -> Response[Any]:
    def read(org_id: str, params: dict[str, str]) -> Answer:
        found = emu.conversations.latest_thread(org_id, _ticket_id(request), params)
        return (204, None) if found is None else (200, found)

    return await desk_read(request, emu, constraints.LATEST_THREAD, read, scopes=READ)


@get("/api/v1/tickets/{ticket_id:str}/conversations")
async def list_conversations(request: AnyRequest, emu: Emu) -> Response[Any]:
    def read(org_id: str, params: dict[str, str]) -> Answer:
        found = emu.conversations.list_conversations(org_id, _ticket_id(request), params)
        return listing(found)

    return await desk_read(
        request, emu, constraints.LIST_CONVERSATIONS, read, weight=SEARCH_WEIGHT, scopes=READ
    )


# ---------------------------------------------------------------------- comments


@post("/api/v1/tickets/{ticket_id:str}/comments")
async def create_comment(request: AnyRequest, emu: Emu) -> Response[Any]:
    async def run(org_id: str) -> Answer:
        emu.desk.check_query(constraints.CREATE_COMMENT_QUERY, query(request))
        body = await json_body(request)
        comment = emu.conversations.create_comment(org_id, _ticket_id(request), body)
        faults = emu.faults
        if faults.comment_then_fail > 0:  # stored, then the answer is a 500
            faults.comment_then_fail -= 1
            raise internal_error()
        if faults.comment_then_hang > 0:  # stored, then no answer for `hang` seconds
            faults.comment_then_hang -= 1
            await anyio.sleep(faults.hang)
        return 200, comment.as_zoho()

    return await desk_call(request, emu, PLAIN_WEIGHT, run, scopes=UPDATE)


@get("/api/v1/tickets/{ticket_id:str}/comments")
async def list_comments(request: AnyRequest, emu: Emu) -> Response[Any]:
    def read(org_id: str, params: dict[str, str]) -> Answer:
        return listing(emu.conversations.list_comments(org_id, _ticket_id(request), params))

    return await desk_read(
        request, emu, constraints.LIST_COMMENTS, read, weight=SEARCH_WEIGHT, scopes=READ
    )


@get("/api/v1/tickets/{ticket_id:str}/comments/{comment_id:str}")
async def get_comment(request: AnyRequest, emu: Emu) -> Response[Any]:
    comment_id = str(request.path_params["comment_id"])

    def read(org_id: str, params: dict[str, str]) -> Answer:
        found = emu.conversations.get_comment(org_id, _ticket_id(request), comment_id, params)
        return 200, found

    return await desk_read(request, emu, constraints.GET_COMMENT, read, scopes=READ)


# ---------------------------------------------------------------------- webhooks


@get("/api/v1/webhooks")
async def list_webhooks(request: AnyRequest, emu: Emu) -> Response[Any]:
    def read(org_id: str, _: dict[str, str]) -> Answer:
        return listing(emu.webhooks.listing(org_id))

    return await desk_read(
        request, emu, constraints.WEBHOOK_QUERY, read, scopes=_webhook_scopes("READ")
    )


@post("/api/v1/webhooks")
async def create_webhook(request: AnyRequest, emu: Emu) -> Response[Any]:
    async def run(org_id: str) -> Answer:
        emu.desk.check_query(constraints.WEBHOOK_QUERY, query(request))
        record = await emu.webhooks.create(org_id, await json_body(request))
        return 200, record.as_zoho()

    return await desk_call(request, emu, PLAIN_WEIGHT, run, scopes=_webhook_scopes("CREATE"))


@get("/api/v1/webhooks/{webhook_id:str}")
async def get_webhook(request: AnyRequest, emu: Emu) -> Response[Any]:
    webhook_id = str(request.path_params["webhook_id"])

    def read(org_id: str, _: dict[str, str]) -> Answer:
        return 200, emu.webhooks.get(org_id, webhook_id).as_zoho()

    return await desk_read(
        request, emu, constraints.WEBHOOK_QUERY, read, scopes=_webhook_scopes("READ")
    )


@patch("/api/v1/webhooks/{webhook_id:str}")
async def update_webhook(request: AnyRequest, emu: Emu) -> Response[Any]:
    webhook_id = str(request.path_params["webhook_id"])

    async def run(org_id: str) -> Answer:
        emu.desk.check_query(constraints.WEBHOOK_QUERY, query(request))
        record = await emu.webhooks.update(org_id, webhook_id, await json_body(request))
        return 200, record.as_zoho()

    return await desk_call(request, emu, PLAIN_WEIGHT, run, scopes=_webhook_scopes("UPDATE"))


@delete("/api/v1/webhooks/{webhook_id:str}", status_code=200)
async def delete_webhook(request: AnyRequest, emu: Emu) -> Response[Any]:
    webhook_id = str(request.path_params["webhook_id"])

    async def run(org_id: str) -> Answer:
        emu.desk.check_query(constraints.WEBHOOK_QUERY, query(request))
        emu.webhooks.delete(org_id, webhook_id)
        return 200, None

    done = await desk_call(request, emu, PLAIN_WEIGHT, run, scopes=_webhook_scopes("DELETE"))
    if done.status_code == 200:
        # Webhook.json: 200 with Common.json's emptyResponse (no body)
        return Response(content=b"", status_code=200, headers=credit_headers(emu, PLAIN_WEIGHT))
    return done


@get("/.well-known/jwks.json", sync_to_thread=False)
def webhook_jwks(emu: Emu) -> Response[Any]:
    """The public key of the deliveries' ``X-ZDesk-JWT`` (signing.py: the scheme is
    unconfirmed). On the Desk host, no token, no organization, no credits; an outage fails
    it like every Desk path."""
    return answer(200, emu.signer.jwks())


# ---------------------------------------------------------------------- control


class _BadControl(ValueError):
    pass


async def _control_body(request: AnyRequest, allowed: set[str]) -> dict[str, Any]:
    try:
        data = json.loads(await request.body() or b"{}")
    except ValueError:
        raise _BadControl("the body is a JSON object") from None
    if not isinstance(data, dict):
        raise _BadControl("the body is a JSON object")
    unknown = set(data) - allowed
    if unknown:
        raise _BadControl(f"unknown fields {sorted(unknown)}; known: {sorted(allowed)}")
    return data


async def _control(run: Callable[[], Any]) -> Response[Any]:
    try:
        return answer(200, await run())
    except DeskError as error:
        return answer(400, {"error": error.message, **error.body()})
    except ValueError as error:
        return answer(400, {"error": str(error)})


@post("/_emulator/tickets/{ticket_id:str}/threads", status_code=200)
async def control_add_thread(request: AnyRequest, emu: Emu) -> Response[Any]:
    """An agent's reply (``direction`` out, the default) or a customer's message (in):
    ``{"text" | "content", "visibility", "status", "channel", "attachments"}``, where
    ``attachments`` is ``[{"name", "content_type", "data" (base64)}]``."""

    async def run() -> Any:
        data = await _control_body(
            request,
            {"text", "content", "direction", "visibility", "status", "channel", "attachments"},
        )
        files = thread_files(data["attachments"]) if "attachments" in data else []
        thread = emu.conversations.add_thread(
            _ticket_id(request),
            text=data.get("text"),
            content=data.get("content"),
            direction=data.get("direction", "out"),
            visibility=data.get("visibility", "public"),
            status=data.get("status", "SUCCESS"),
            channel=data.get("channel"),
            files=files,
            base_url=base_url(request),
        )
        return {**thread.as_zoho(plain_text=True), "ticketId": thread.ticket_id}

    return await _control(run)


@post("/_emulator/tickets/{ticket_id:str}/comments", status_code=200)
async def control_add_comment(request: AnyRequest, emu: Emu) -> Response[Any]:
    """A comment: ``{"text" | "content", "isPublic" (true), "by": "agent" | "end_user"}``."""

    async def run() -> Any:
        data = await _control_body(request, {"text", "content", "isPublic", "by"})
        comment = emu.conversations.add_comment(
            _ticket_id(request),
            text=data.get("text"),
            content=data.get("content"),
            is_public=data.get("isPublic", True),
            by=data.get("by", "agent"),
        )
        return {**comment.as_zoho(plain_text=True), "ticketId": comment.ticket_id}

    return await _control(run)


@get("/_emulator/tickets/{ticket_id:str}/comments", sync_to_thread=False)
def control_comments(request: AnyRequest, emu: Emu) -> dict[str, Any]:
    """Every comment of a ticket, oldest first, with its plain text (no auth, no credits)."""
    ticket_id = _ticket_id(request)
    found = sorted(
        (c for c in emu.conversations.comments.values() if c.ticket_id == ticket_id),
        key=lambda c: (c.commented_time, int(c.id)),
    )
    return {"data": [c.as_zoho(plain_text=True) for c in found]}


@post("/_emulator/tickets/{ticket_id:str}/status", status_code=200)
async def control_set_status(request: AnyRequest, emu: Emu) -> Response[Any]:
    """An agent changes the ticket's status: ``{"status": "Closed"}``."""

    async def run() -> Any:
        data = await _control_body(request, {"status"})
        emu.settle()
        ticket = emu.tickets.get(_ticket_id(request))
        if ticket is None:
            raise _BadControl(f"no ticket {_ticket_id(request)!r}")
        if not isinstance(data.get("status"), str):
            raise _BadControl('the body is {"status": "Closed"}')
        return emu.desk.update_ticket(
            ticket.org_id, ticket.id, {"status": data["status"]}
        ).as_zoho()

    return await _control(run)


def _webhooks_state(emu: Any) -> dict[str, Any]:
    hooks = emu.webhooks
    return {
        "subscriptions": [w.as_zoho() | {"orgId": w.org_id} for w in hooks.subscriptions.values()],
        "deliveries": [d.as_json() for d in hooks.deliveries],
        "pending": hooks.pending(),
    }


@get("/_emulator/webhooks", sync_to_thread=False)
def control_webhooks(emu: Emu) -> dict[str, Any]:
    """Every subscription (all portals), every delivery made, the events still queued."""
    return _webhooks_state(emu)


@post("/_emulator/webhooks/drain", status_code=200)
async def control_drain_webhooks(emu: Emu) -> dict[str, Any]:
    """Deliver what is queued, wait for the deliveries in flight, then as GET."""
    await emu.webhooks.drain()
    return _webhooks_state(emu)


HANDLERS: Final[list[ControllerRouterHandler]] = [
    list_tickets,
    update_ticket,
    list_threads,
    get_thread,
    thread_attachment_content,
    latest_thread,
    list_conversations,
    create_comment,
    list_comments,
    get_comment,
    list_webhooks,
    create_webhook,
    get_webhook,
    update_webhook,
    delete_webhook,
    webhook_jwks,
    control_add_thread,
    control_add_comment,
    control_comments,
    control_set_status,
    control_webhooks,
    control_drain_webhooks,
]
