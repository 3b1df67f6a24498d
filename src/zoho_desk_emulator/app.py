"""The Zoho Desk emulator over HTTP: accounts, Desk and a control API on one Litestar app."""

from __future__ import annotations

import json
from typing import Any, cast
from urllib.parse import parse_qsl, urlencode

import anyio
import httpx
from litestar import Litestar, Response, get, post
from litestar.di import Provide
from litestar.enums import ScopeType
from litestar.exceptions import HTTPException, MethodNotAllowedException, NotFoundException
from litestar.types import (
    HTTPScope,
    LifeSpanReceive,
    LifeSpanScope,
    LifeSpanSend,
    Message,
    Receive,
    Scope,
    Send,
)

from zoho_desk_emulator import constraints
from zoho_desk_emulator.attachment_routes import HANDLERS as ATTACHMENT_HANDLERS
from zoho_desk_emulator.calls import logged_headers, redacted_query
from zoho_desk_emulator.credits import PLAIN_WEIGHT, SEARCH_WEIGHT
from zoho_desk_emulator.desk import Desk
from zoho_desk_emulator.errors import OAuthError
from zoho_desk_emulator.faults import FaultError
from zoho_desk_emulator.pages import HANDLERS as PAGE_HANDLERS
from zoho_desk_emulator.pages import is_page, not_found
from zoho_desk_emulator.plumbing import (
    Answer,
    AnyRequest,
    Emu,
    answer,
    base_url,
    credit_headers,
    desk_call,
    desk_read,
    desk_search,
    internal_error,
    json_body,
    listing,
    query,
)
from zoho_desk_emulator.records import zoho_time
from zoho_desk_emulator.state import EmulatorState
from zoho_desk_emulator.twoway import HANDLERS as TWO_WAY_HANDLERS

_NOT_FOUND = {"errorCode": "URL_NOT_FOUND", "message": "The URL you requested could not be found."}


class EmulatorApp(Litestar):
    """Litestar plus what has to happen beneath it: the call log, outages, dropped connections."""

    emulator: EmulatorState

    async def __call__(
        self,
        scope: Scope | LifeSpanScope,
        receive: Receive | LifeSpanReceive,
        send: Send | LifeSpanSend,
    ) -> None:
        if scope["type"] != ScopeType.HTTP:
            await super().__call__(scope, receive, send)
            return
        http_scope = cast("HTTPScope", scope)
        if http_scope["path"].startswith("/_emulator") or is_page(http_scope["path"]):
            await super().__call__(scope, receive, send)
            return
        state = self.emulator
        http_send: Send = send  # type: ignore[assignment]
        status = 0

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await http_send(message)

        try:
            if state.faults.outage == "reset":
                # Under uvicorn, failing after the response started closes the socket mid-answer;
                # under ASGITransport the exception reaches the client: both are transport errors.
                await http_send(
                    {
                        "type": "http.response.start",
                        "status": 503,
                        "headers": [(b"content-length", b"100")],
                    }
                )
                raise httpx.ReadError("the Zoho emulator dropped the connection (outage=reset)")
            if state.faults.accounts_outage and http_scope["path"].startswith("/oauth/"):
                await _sendanswer(capture, 503, {"error": "Service Unavailable"})
                return
            if state.faults.outage == "503":
                await _sendanswer(
                    capture,
                    503,
                    {"errorCode": "SERVICE_UNAVAILABLE", "message": "Service Unavailable"},
                )
                return
            await super().__call__(scope, receive, capture)
        finally:
            state.record_call(
                http_scope["method"],
                http_scope["path"],
                redacted_query(http_scope["query_string"]),
                logged_headers(http_scope["headers"]),
                status,
            )


async def _sendanswer(send: Send, status: int, body: Any) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload, "more_body": False})


async def _oauth_params(request: AnyRequest) -> dict[str, str]:
    """Zoho takes the accounts parameters from the query string as well as from a form body."""
    params = query(request)
    params.update(parse_qsl((await request.body()).decode("utf-8", "replace")))
    return params


# ---------------------------------------------------------------------- accounts


@get("/oauth/v2/auth", sync_to_thread=False)
def oauth_authorize(request: AnyRequest, emu: Emu) -> Response[Any]:
    params = query(request)
    try:
        granted = emu.oauth.authorize(
            client_id=params.get("client_id"),
            redirect_uri=params.get("redirect_uri"),
            response_type=params.get("response_type"),
            scope=params.get("scope"),
            access_type=params.get("access_type"),
        )
    except OAuthError as error:
        # never redirect to an unverified URI; Zoho shows an error page instead
        return answer(400, error.body)
    if "code" in granted:
        granted |= {"location": "us", "accounts-server": base_url(request)}
    if "state" in params:
        granted["state"] = params["state"]
    redirect_uri = params["redirect_uri"]
    separator = "&" if "?" in redirect_uri else "?"
    return Response(
        content=b"",
        status_code=302,
        headers={"Location": redirect_uri + separator + urlencode(granted)},
    )


@post("/oauth/v2/token", status_code=200)
async def oauth_token(request: AnyRequest, emu: Emu) -> Response[Any]:
    params = await _oauth_params(request)
    try:
        return answer(200, emu.oauth.token(params))
    except OAuthError as error:
        return answer(emu.faults.token_error_status, error.body)


@post("/oauth/v2/token/revoke", status_code=200)
async def oauth_revoke(request: AnyRequest, emu: Emu) -> Response[Any]:
    token = (await _oauth_params(request)).get("token")
    if not token:
        return answer(emu.faults.token_error_status, {"error": "invalid_request"})
    emu.oauth.revoke(token)
    return answer(200, {"status": "success"})


# ---------------------------------------------------------------------- desk


@get("/api/v1/organizations")
async def organizations(request: AnyRequest, emu: Emu) -> Response[Any]:
    return await desk_read(
        request,
        emu,
        constraints.LIST_ORGANIZATIONS,
        lambda _, __: listing(emu.desk.list_organizations()),
        needs_org=False,
    )


@get("/api/v1/myinfo")
async def myinfo(request: AnyRequest, emu: Emu) -> Response[Any]:
    return await desk_read(
        request, emu, constraints.MY_INFO, lambda _, __: (200, emu.desk.myinfo())
    )


@get("/api/v1/departments")
async def departments(request: AnyRequest, emu: Emu) -> Response[Any]:
    def read(org_id: str, params: dict[str, str]) -> Answer:
        return listing(emu.desk.list_departments(org_id, params))

    return await desk_read(request, emu, constraints.LIST_DEPARTMENTS, read, weight=SEARCH_WEIGHT)


@get("/api/v1/contacts/search")
async def search_contacts(request: AnyRequest, emu: Emu) -> Response[Any]:
    return await desk_search(request, emu, constraints.SEARCH_CONTACTS, Desk.search_contacts)


@post("/api/v1/contacts")
async def create_contact(request: AnyRequest, emu: Emu) -> Response[Any]:
    async def run(org_id: str) -> Answer:
        return 200, emu.desk.create_contact(org_id, await json_body(request)).as_zoho()

    return await desk_call(request, emu, PLAIN_WEIGHT, run)


def _web_base(request: AnyRequest, emu: EmulatorState) -> str:
    """Where a new ticket's ``webUrl`` starts: where people open the emulator's pages."""
    return emu.web_url_base or base_url(request)


@post("/api/v1/tickets")
async def create_ticket(request: AnyRequest, emu: Emu) -> Response[Any]:
    async def run(org_id: str) -> Answer:
        faults = emu.faults
        if faults.create_late > 0:
            faults.create_late -= 1
            delay = faults.commit_delay
            late = emu.desk.create_ticket_later(
                org_id, await json_body(request), _web_base(request, emu), delay
            )
            # Committed at its due time even if nobody waits for this answer any more.
            await anyio.sleep(delay)
            emu.settle()
            if late.ticket is None:
                raise internal_error()
            return 200, late.ticket.as_zoho()
        ticket = emu.desk.create_ticket(org_id, await json_body(request), _web_base(request, emu))
        if faults.create_then_fail > 0:
            faults.create_then_fail -= 1
            raise internal_error()
        if faults.create_then_hang > 0:
            faults.create_then_hang -= 1
            await anyio.sleep(faults.hang)
        return 200, ticket.as_zoho()

    return await desk_call(request, emu, PLAIN_WEIGHT, run)


@get("/api/v1/tickets/search")
async def search_tickets(request: AnyRequest, emu: Emu) -> Response[Any]:
    return await desk_search(request, emu, constraints.SEARCH_TICKETS, Desk.search_tickets)


@get("/api/v1/tickets/{ticket_id:str}")
async def get_ticket(request: AnyRequest, emu: Emu) -> Response[Any]:
    ticket_id = str(request.path_params["ticket_id"])

    def read(org_id: str, _: dict[str, str]) -> Answer:
        return 200, emu.desk.get_ticket(org_id, ticket_id).as_zoho()

    return await desk_read(request, emu, constraints.GET_TICKET, read)


@get("/api/v1/organizationFields")
async def organization_fields(request: AnyRequest, emu: Emu) -> Response[Any]:
    def read(org_id: str, params: dict[str, str]) -> Answer:
        if params.get("module") != "tickets":
            return 204, None  # the emulator keeps picklists for tickets only
        return listing(emu.desk.organization_fields(org_id))

    return await desk_read(request, emu, constraints.ORGANIZATION_FIELDS, read)


# ---------------------------------------------------------------------- control


@get("/_emulator/state", sync_to_thread=False)
def control_state(emu: Emu) -> dict[str, Any]:
    emu.settle()
    return emu.summary()


@get("/_emulator/faults", sync_to_thread=False)
def control_get_faults(emu: Emu) -> dict[str, Any]:
    return emu.faults.as_json()


@post("/_emulator/faults", status_code=200)
async def control_set_faults(request: AnyRequest, emu: Emu) -> Response[Any]:
    try:
        data = json.loads(await request.body() or b"{}")
        if not isinstance(data, dict):
            raise FaultError("the body is a JSON object of switches")
        emu.apply_faults(data)
    except ValueError as error:  # FaultError and JSONDecodeError are both ValueErrors
        return answer(400, {"error": str(error)})
    return answer(200, emu.faults.as_json())


@get("/_emulator/picklists", sync_to_thread=False)
def control_get_picklists(emu: Emu) -> dict[str, Any]:
    return {"lenient": emu.lenient, "picklists": emu.picklists}


@post("/_emulator/picklists", status_code=200)
async def control_set_picklist(request: AnyRequest, emu: Emu) -> Response[Any]:
    """``{"field": "channel", "add": [...], "remove": [...], "org_id": optional}``."""
    try:
        data = json.loads(await request.body() or b"{}")
        if not isinstance(data, dict) or not isinstance(data.get("field"), str):
            raise ValueError('the body is {"field": name, "add": [...], "remove": [...]}')
        add, remove = data.get("add") or [], data.get("remove") or []
        if not isinstance(add, list) or not isinstance(remove, list):
            raise ValueError("add and remove are lists of values")
        values = emu.desk.set_picklist(
            data["field"], add=add, remove=remove, org_id=data.get("org_id")
        )
    except ValueError as error:
        return answer(400, {"error": str(error)})
    return answer(200, {"field": data["field"], "allowedValues": values})


@post("/_emulator/reset", status_code=200, sync_to_thread=False)
def control_reset(emu: Emu) -> dict[str, Any]:
    emu.reset()
    return emu.summary()


@get("/_emulator/tickets", sync_to_thread=False)
def control_tickets(request: AnyRequest, emu: Emu) -> dict[str, Any]:
    emu.settle()
    field = request.query_params.get("field")
    body: dict[str, Any] = {
        "data": [
            {
                "id": t.id,
                "orgId": t.org_id,
                "ticketNumber": t.ticket_number,
                "subject": t.subject,
                "description": t.description,
                "contactId": t.contact_id,
                "departmentId": t.department_id,
                "createdTime": zoho_time(t.created_time),
                "cf": dict(t.cf),
            }
            for t in emu.tickets.values()
        ],
        "count": len(emu.tickets),
    }
    if field:
        body["by_key"] = {key: len(found) for key, found in emu.tickets_by_key(field).items()}
    return body


@get("/_emulator/calls", sync_to_thread=False)
def control_calls(emu: Emu) -> dict[str, Any]:
    return emu.call_log.as_json()


# ---------------------------------------------------------------------- assembly


def _not_found(request: AnyRequest, _: Exception) -> Response[Any]:
    if is_page(request.url.path):
        return not_found("", f"Nothing at {request.url.path}.")
    app = request.app
    if isinstance(app, EmulatorApp) and request.url.path.startswith("/api/"):
        return answer(404, _NOT_FOUND, credit_headers(app.emulator, 0))
    return answer(404, _NOT_FOUND)


def _method_not_allowed(_: AnyRequest, __: Exception) -> Response[Any]:
    return answer(
        405, {"errorCode": "METHOD_NOT_ALLOWED", "message": "The method is not allowed here."}
    )


def _http_error(_: AnyRequest, error: HTTPException) -> Response[Any]:
    code = {400: "INVALID_DATA", 401: "UNAUTHORIZED", 403: "FORBIDDEN"}.get(
        error.status_code, "UNPROCESSABLE_ENTITY"
    )
    return answer(error.status_code, {"errorCode": code, "message": error.detail})


def _server_error(_: AnyRequest, __: Exception) -> Response[Any]:
    return answer(
        500,
        {"errorCode": "INTERNAL_SERVER_ERROR", "message": "An internal server error occurred."},
    )


def create_emulator_app(state: EmulatorState | None = None, *, lenient: bool = False) -> Litestar:
    """The emulator as an ASGI app; serve it with uvicorn or mount it in ``httpx.ASGITransport``.

    Strict by default: every Desk request is checked against Zoho's published constraints
    (``constraints.py``). ``lenient`` (for a new state) keeps the old, forgiving behaviour for
    demos; the test suite never uses it."""
    emulator = state if state is not None else EmulatorState(lenient=lenient)

    def provide_state() -> EmulatorState:
        return emulator

    app = EmulatorApp(
        route_handlers=[
            oauth_authorize,
            oauth_token,
            oauth_revoke,
            organizations,
            myinfo,
            departments,
            search_contacts,
            create_contact,
            create_ticket,
            search_tickets,
            get_ticket,
            organization_fields,
            control_state,
            control_get_picklists,
            control_set_picklist,
            control_get_faults,
            control_set_faults,
            control_reset,
            control_tickets,
            control_calls,
            *TWO_WAY_HANDLERS,
            *ATTACHMENT_HANDLERS,
            *PAGE_HANDLERS,
        ],
        dependencies={"emu": Provide(provide_state, sync_to_thread=False)},
        exception_handlers={
            NotFoundException: _not_found,
            MethodNotAllowedException: _method_not_allowed,
            HTTPException: _http_error,
            Exception: _server_error,
        },
        openapi_config=None,
        logging_config=None,
        debug=False,
    )
    app.emulator = emulator
    return app
