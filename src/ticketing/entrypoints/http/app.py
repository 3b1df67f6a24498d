"""`create_app()`: the Litestar app. Nothing runs at import."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qsl

import anyio
import msgspec
from litestar import Controller, Litestar, MediaType, Request, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.exceptions import HTTPException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_202_ACCEPTED

from ticketing import __version__
from ticketing.application import context, intake
from ticketing.container import Container, Services, start, stop
from ticketing.domain.errors import TicketingError
from ticketing.domain.model import TicketState
from ticketing.entrypoints.background import run_background
from ticketing.entrypoints.http import openapi, ops
from ticketing.entrypoints.http.errors import (
    BadRequest,
    handle_http_exception,
    handle_ticketing_error,
    handle_unexpected,
)
from ticketing.entrypoints.http.guard import CLIENT_STATE, api_key_guard
from ticketing.entrypoints.schemas import (
    AdminTicketIn,
    CustomerTicketIn,
    DepartmentsOut,
    QueueOut,
    QueueProcessOut,
    TicketOut,
    dead_letter_out,
    departments_out,
    drain_out,
    first_values,
    nesting_problem,
    ticket_out,
)

log = logging.getLogger(__name__)

ServicesDep = NamedDependency[Services]

_STATUS_CODE = {
    TicketState.CREATED: HTTP_201_CREATED,
    TicketState.ACCEPTED: HTTP_202_ACCEPTED,
    TicketState.CREATING: HTTP_202_ACCEPTED,
    TicketState.DEAD: 422,
}


async def read_fields(request: Request[Any, Any, Any]) -> dict[str, str]:
    """Query parameters, then the body (form or JSON) on top: the old clients send all three."""
    fields = first_values(request.query_params.multi_items())
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    if not body.strip():
        return fields
    if content_type == "application/json" or (not content_type and body.lstrip()[:1] == b"{"):
        if problem := nesting_problem(body):  # before decoding: deep nesting exhausts the stack
            raise BadRequest("body", problem)
        try:
            data = msgspec.json.decode(body)
        except msgspec.DecodeError as exc:
            raise BadRequest("body", f"not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise BadRequest("body", "expected a JSON object")
        for name, value in data.items():
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                raise BadRequest(str(name)[:60], "expected a string")
            fields[str(name)] = str(value)
    elif content_type == "multipart/form-data":
        form = await request.form()
        fields.update(first_values(form.multi_items()))
    else:  # curl -d sends application/x-www-form-urlencoded
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest("body", "the form body is not UTF-8") from None
        fields.update(first_values(parse_qsl(text, keep_blank_values=True)))
    return fields


def api_client_of(request: Request[Any, Any, Any]) -> str:
    """The caller's key namespace, as the API-key guard found it."""
    return str(request.state.get(CLIENT_STATE, intake.ANONYMOUS_CLIENT))


def _ticket_response(outcome: Any, new: bool) -> Response[TicketOut]:
    headers = {} if new else {"Idempotent-Replayed": "true"}
    return Response(
        ticket_out(outcome),
        status_code=_STATUS_CODE[outcome.state],
        media_type=MediaType.JSON,
        headers=headers,
    )


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
    )
    async def create_customer_ticket(
        self, request: Request[Any, Any, Any], services: ServicesDep
    ) -> Response[TicketOut]:
        """Find or create the customer's contact, then the ticket; 202 when queued."""
        fields = await read_fields(request)
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
            key=request.headers.get("idempotency-key"),
            received_at=services.clock.now(),
            policy=services.policy,
            request_id=context.request_id(),
            client=api_client_of(request),
        )
        outcome, new = await services.submit(draft)
        return _ticket_response(outcome, new)

    @post(
        "/",
        operation_id="createTicket",
        summary="Create a ticket under the configured default contact",
        status_code=HTTP_201_CREATED,
        responses=openapi.TICKET,
        operation_class=openapi.AdminTicketOperation,
    )
    async def create_ticket(
        self, request: Request[Any, Any, Any], services: ServicesDep
    ) -> Response[TicketOut]:
        """A ticket under DEFAULT_CONTACT_ID (or DEFAULT_CONTACT_EMAIL)."""
        fields = await read_fields(request)
        body = msgspec.convert(fields, AdminTicketIn)
        draft = intake.admin_ticket(
            contact_id=services.settings.default_contact_id,
            contact_email=services.settings.default_contact_email,
            subject=body.subject,
            description=body.description,
            priority=body.priority,
            category=body.category,
            key=request.headers.get("idempotency-key"),
            received_at=services.clock.now(),
            policy=services.policy,
            request_id=context.request_id(),
            client=api_client_of(request),
        )
        outcome, new = await services.submit(draft)
        return _ticket_response(outcome, new)


class QueueController(Controller):
    """The pending queue and the dead letters."""

    path = "/queue"
    tags = ["queue"]  # noqa: RUF012

    @get(
        "/",
        operation_id="getQueue",
        summary="Queue and dead-letter figures",
        responses=openapi.responses(openapi.GUARDED, openapi.STORE_DOWN),
    )
    async def get_queue(self, services: ServicesDep) -> QueueOut:
        figures = await services.queue_status(dead_limit=20)
        return QueueOut(
            pending=figures.pending,
            dead=figures.dead,
            dead_letters=[dead_letter_out(d) for d in figures.dead_letters],
        )

    @post(
        "/process",
        operation_id="processQueue",
        summary="Drain the pending queue now",
        status_code=HTTP_200_OK,
        responses=openapi.responses(openapi.GUARDED, openapi.STORE_DOWN),
    )
    async def process_queue(self, services: ServicesDep) -> QueueProcessOut:
        return drain_out(await services.drain())


@get(
    "/health",
    operation_id="getHealth",
    responses=openapi.HEALTH,
    summary="Health, queue length and activity",
    tags=["ops"],
    opt={"public": True},
)
async def health(services: ServicesDep) -> Response[openapi.HealthOut]:
    """200 while tickets can be accepted (healthy or degraded), 503 when they cannot."""
    report = await services.health()
    last, limits = report.drain, report.limits
    body = openapi.HealthOut(
        status=report.status,
        service="ticket-service",
        version=__version__,
        zoho_connected=report.zoho_connected,
        redis_connected=report.redis_connected,
        queue_length=report.queue_length,
        dead_letters=report.dead_letters,
        breaker=report.breaker,
        mode=report.mode,
        store=report.store,
        draining=report.draining,
        last_drain=openapi.LastDrainOut(
            processed=last.processed, created=last.created, failed=last.failed
        )
        if last
        else None,
        last_error=report.last_error or None,
        zoho_limits=openapi.ZohoLimitsOut(
            credits_remaining=limits.credits_remaining,
            max_concurrency=limits.max_concurrency,
            calls_in_flight=limits.in_flight,
            paused_for=limits.paused_for,
            credits_ran_out_at=limits.credits_ran_out_at,
            credits_back_at=limits.credits_back_at,
        )
        if limits is not None
        else None,
    )
    return Response(body, status_code=200 if report.accepting else 503, media_type=MediaType.JSON)


@get(
    "/departments",
    operation_id="listDepartments",
    summary="Zoho Desk departments",
    tags=["zoho"],
    responses=openapi.ZOHO,
)
async def departments(services: ServicesDep) -> DepartmentsOut:
    return departments_out(await services.departments())


@get(
    "/auth/url",
    operation_id="getAuthUrl",
    summary="A Zoho consent URL",
    tags=["zoho"],
    responses=openapi.GUARDED,
)
async def auth_url(services: ServicesDep) -> dict[str, str]:
    url, state = services.auth_url()
    return {"auth_url": url, "state": state}


def create_app(
    container: Container,
    *,
    drain: bool = True,
    consumer: bool = True,
) -> Litestar:
    """The HTTP API over the container's use cases; background drain and consumer optional."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        try:
            services = await start(container)
            app.state.services = services
            async with anyio.create_task_group() as tg:
                await run_background(tg, container, services, drain=drain, consumer=consumer)
                try:
                    yield
                finally:
                    tg.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await stop(container)

    def provide_services(request: Request[Any, Any, Any]) -> Services:
        return request.app.state.services  # type: ignore[no-any-return]

    settings = container.settings()
    app = Litestar(
        route_handlers=[
            TicketController,
            QueueController,
            health,
            departments,
            auth_url,
            ops.live,
            ops.ready,
            ops.metrics,
        ],
        dependencies={"services": Provide(provide_services, sync_to_thread=False)},
        guards=[api_key_guard(settings.api_keys)],
        lifespan=[lifespan],
        exception_handlers={
            TicketingError: handle_ticketing_error,
            HTTPException: handle_http_exception,
            msgspec.ValidationError: lambda r, e: handle_ticketing_error(
                r, BadRequest("body", str(e))
            ),
            Exception: handle_unexpected,
        },
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="ticketing",
            version=__version__,
            description="Customer messages in, Zoho Desk tickets out, exactly once.",
            path="/schema",
            components=Components(
                security_schemes={"bearer": SecurityScheme(type="http", scheme="bearer")}
            ),
        ),
        debug=False,
        logging_config=None,
    )
    ops.wrap_outermost(app)
    return app
