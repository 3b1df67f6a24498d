"""Ticket routes: `POST /tickets/customer` and `POST /tickets`, fields from the query, a form
or a JSON body."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypedDict
from urllib.parse import parse_qsl

import msgspec
from litestar import Controller, MediaType, Request, Response, post
from litestar.datastructures import ResponseHeader
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.status_codes import HTTP_201_CREATED, HTTP_202_ACCEPTED

from ticketing.application import context, intake
from ticketing.application.intake import IntakePolicy
from ticketing.container import Services
from ticketing.domain.errors import DuplicateField
from ticketing.domain.model import Outcome, TicketDraft, TicketState
from ticketing.entrypoints.http import openapi
from ticketing.entrypoints.http.deps import ServicesDep
from ticketing.entrypoints.http.errors import BadRequest
from ticketing.entrypoints.http.guard import CLIENT_STATE
from ticketing.entrypoints.http.uploads import (
    MultipartForm,
    UploadLimits,
    is_multipart,
    read_multipart,
)
from ticketing.entrypoints.schemas import (
    ADMIN_FIELDS,
    CUSTOMER_FIELDS,
    AdminTicketIn,
    CustomerTicketIn,
    TicketOut,
    duplicate_key,
    nesting_problem,
    single_fields,
    ticket_out,
)
from ticketing.entrypoints.story import request_location

_STATUS_CODE = {
    TicketState.CREATED: HTTP_201_CREATED,
    TicketState.APPENDED: HTTP_201_CREATED,
    TicketState.ACCEPTED: HTTP_202_ACCEPTED,
    TicketState.CREATING: HTTP_202_ACCEPTED,
    TicketState.DEAD: 422,
}

# 201 and 202 answers: where the request's story is read (GET /tickets/requests/{key}).
_LOCATION = ResponseHeader(
    name="Location",
    documentation_only=True,
    description="201 and 202: /tickets/requests/<idempotency key>, the request's story",
)


async def capped_body(request: Request[Any, Any, Any], limit: int) -> bytes:
    """The body, refused (413) once over ``limit`` bytes, as Litestar's own limit does: for a
    route whose multipart bodies have a cap of their own (``request_max_body_size=None``)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise RequestEntityTooLarge
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestEntityTooLarge
        parts.append(chunk)
    return b"".join(parts)


async def read_fields(
    request: Request[Any, Any, Any], names: frozenset[str], body: bytes | None = None
) -> dict[str, str]:
    """Query parameters and the body (form or JSON): the old clients send all three. Each of
    ``names`` (the route's fields) is read once: given twice, in one of them or in both, it
    is refused (400 naming it). ``body``: already read (else read here, under the app's
    MAX_BODY_BYTES)."""
    query = request.query_params.multi_items()
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if body is None:
        body = await request.body()
    if not body.strip():
        return single_fields([("query", query)], names)
    pairs: list[tuple[str, Any]]
    if content_type == "application/json" or (not content_type and body.lstrip()[:1] == b"{"):
        label = "JSON body"
        pairs = _json_pairs(body, names)
    elif content_type == "multipart/form-data":
        label = "form body"
        pairs = list((await request.form()).multi_items())
    else:  # curl -d sends application/x-www-form-urlencoded
        label = "form body"
        if body.lstrip()[:1] in (b"{", b"["):  # JSON that curl -d labelled a form
            raise BadRequest(
                "body",
                f"the body is JSON but was sent as {content_type or 'no content type'}; send "
                "it with Content-Type: application/json (curl -H 'Content-Type: "
                "application/json' -d …)",
            )
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest("body", "the form body is not UTF-8") from None
        pairs = parse_qsl(text, keep_blank_values=True)
    return single_fields([("query", query), (label, pairs)], names)


def _json_pairs(body: bytes, names: frozenset[str]) -> list[tuple[str, Any]]:
    """A JSON body's fields as pairs (null ones left out): an object of strings or numbers,
    with none of ``names`` written twice (msgspec would keep the last one silently)."""
    if problem := nesting_problem(body):  # before decoding: deep nesting exhausts the stack
        raise BadRequest("body", problem)
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise BadRequest("body", f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadRequest("body", "expected a JSON object")
    twice = duplicate_key(body)
    if twice is not None and twice in names:
        raise DuplicateField(twice, "in the JSON body")
    pairs: list[tuple[str, Any]] = []
    for name, value in data.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise BadRequest(str(name)[:60], "expected a string")
        pairs.append((str(name), str(value)))
    return pairs


def api_client_of(request: Request[Any, Any, Any]) -> str:
    """The caller's key namespace, as the API-key guard found it."""
    return str(request.state.get(CLIENT_STATE, intake.ANONYMOUS_CLIENT))


class _Submission(TypedDict):
    """What every ticket submission takes from its request and the services, beside its
    fields."""

    key: str | None
    received_at: datetime
    policy: IntakePolicy
    request_id: str | None
    client: str


def _submission(request: Request[Any, Any, Any], services: Services) -> _Submission:
    return _Submission(
        key=request.headers.get("idempotency-key"),
        received_at=services.clock.now(),
        policy=services.policy,
        request_id=context.request_id(),
        client=api_client_of(request),
    )


async def _submit(services: Services, draft: TicketDraft) -> Response[TicketOut]:
    """Submit the draft; the status says created (201), queued (202) or rejected (422), and a
    repeated idempotency key is marked as replayed."""
    outcome, new = await services.submit(draft)
    return _ticket_response(outcome, new)


def _ticket_response(outcome: Outcome, new: bool) -> Response[TicketOut]:
    headers = {} if new else {"Idempotent-Replayed": "true"}
    if _STATUS_CODE[outcome.state] in (HTTP_201_CREATED, HTTP_202_ACCEPTED):
        headers["Location"] = request_location(outcome.key)  # its story
    return Response(
        ticket_out(outcome),
        status_code=_STATUS_CODE[outcome.state],
        media_type=MediaType.JSON,
        headers=headers,
    )


async def _customer_ticket_with_files(
    request: Request[Any, Any, Any], services: Services, form: MultipartForm
) -> Response[TicketOut]:
    """A customer's ticket from a multipart body: the form's fields over the query's, its
    files staged (streamed from their spools) before the ticket is accepted."""
    fields = single_fields(
        [("query", request.query_params.multi_items()), ("form body", form.fields)],
        CUSTOMER_FIELDS,
    )
    body = msgspec.convert(fields, CustomerTicketIn)
    staged: dict[str, int] = {}
    draft = intake.customer_ticket(
        customer_name=body.customer_name,
        customer_email=body.customer_email,
        customer_phone=body.customer_phone,
        subject=body.subject,
        description=body.description,
        priority=body.priority,
        category=body.category,
        channel=body.channel,
        uploads=[f.uploaded() for f in form.files],
        staged=staged,
        **_submission(request, services),
    )
    if staged and services.attachments is not None:
        sources = {blob: form.files[i].source() for blob, i in staged.items()}
        await services.attachments.stage.stream(draft.key, sources)
    return await _submit(services, draft)


class TicketController(Controller):
    """Creating tickets."""

    path = "/tickets"
    tags = ["tickets"]  # noqa: RUF012

    @post(
        "/customer",
        operation_id="createCustomerTicket",
        summary="Create a ticket for a customer (query, form or JSON fields)",
        status_code=HTTP_201_CREATED,
        responses=openapi.TICKET,
        operation_class=openapi.CustomerTicketOperation,
        response_headers=[_LOCATION],
        # A multipart body (files) has its own cap; any other is read under MAX_BODY_BYTES.
        request_max_body_size=None,
    )
    async def create_customer_ticket(
        self, request: Request[Any, Any, Any], services: ServicesDep
    ) -> Response[TicketOut]:
        """Find or create the customer's contact, then the ticket; 202 when queued."""
        settings = services.settings
        if is_multipart(request.headers.get("content-type")):
            limits = UploadLimits(file=settings.attachment_max_bytes, text=settings.max_body_bytes)
            with await read_multipart(request, limits) as form:
                return await _customer_ticket_with_files(request, services, form)
        body_bytes = await capped_body(request, settings.max_body_bytes)
        fields = await read_fields(request, CUSTOMER_FIELDS, body_bytes)
        body = msgspec.convert(fields, CustomerTicketIn)
        draft = intake.customer_ticket(
            customer_name=body.customer_name,
            customer_email=body.customer_email,
            customer_phone=body.customer_phone,
            subject=body.subject,
            description=body.description,
            priority=body.priority,
            category=body.category,
            channel=body.channel,
            **_submission(request, services),
        )
        return await _submit(services, draft)

    @post(
        "/",
        operation_id="createTicket",
        summary="Create a ticket under the configured default contact",
        status_code=HTTP_201_CREATED,
        responses=openapi.TICKET,
        operation_class=openapi.AdminTicketOperation,
        response_headers=[_LOCATION],
    )
    async def create_ticket(
        self, request: Request[Any, Any, Any], services: ServicesDep
    ) -> Response[TicketOut]:
        """A ticket under DEFAULT_CONTACT_ID (or DEFAULT_CONTACT_EMAIL)."""
        body = msgspec.convert(await read_fields(request, ADMIN_FIELDS), AdminTicketIn)
        draft = intake.admin_ticket(
            contact_id=services.settings.default_contact_id,
            contact_email=services.settings.default_contact_email,
            subject=body.subject,
            description=body.description,
            priority=body.priority,
            category=body.category,
            **_submission(request, services),
        )
        return await _submit(services, draft)
