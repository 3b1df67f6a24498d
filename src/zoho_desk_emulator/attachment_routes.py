"""The emulator's attachment endpoints: a ticket's attachments (add, list, delete), temporary
uploads, and the control route that shows what was stored, with each file's digest."""

from __future__ import annotations

from typing import Any, Final

import anyio
from litestar import Response, delete, get, post
from litestar.types import ControllerRouterHandler

from zoho_desk_emulator.attachments import ReceivedFile, receive_file
from zoho_desk_emulator.constraints import CREATE_ATTACHMENT_QUERY, LIST_ATTACHMENTS, NO_QUERY
from zoho_desk_emulator.credits import PLAIN_WEIGHT, SEARCH_WEIGHT
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
    listing,
    query,
)
from zoho_desk_emulator.state import EmulatorState

# TicketAttachment.json: READ to list, UPDATE to attach and delete; Upload.json: basic.CREATE
READ: Final = ("Desk.tickets.READ",)
UPDATE: Final = ("Desk.tickets.UPDATE",)
UPLOAD: Final = ("Desk.basic.CREATE",)


def _ticket_id(request: AnyRequest) -> str:
    return str(request.path_params["ticket_id"])


async def _receive(request: AnyRequest, emu: EmulatorState) -> ReceivedFile:
    """The request's file, then the failure switches that come before anything is stored."""
    received = await receive_file(
        request.headers.get("content-type"),
        request.headers.get("content-length"),
        request.stream(),
        emu.faults,
    )
    if emu.faults.upload_fail > 0:
        emu.faults.upload_fail -= 1
        raise internal_error()
    return received


async def _after_storing(emu: EmulatorState) -> None:
    """The failure switches that come after the file is stored."""
    faults = emu.faults
    if faults.upload_then_fail > 0:
        faults.upload_then_fail -= 1
        raise internal_error()
    if faults.upload_then_hang > 0:
        faults.upload_then_hang -= 1
        await anyio.sleep(faults.hang)


# request_max_body_size=None: receive_file caps the body itself (the file limit is a fault switch)
@post("/api/v1/tickets/{ticket_id:str}/attachments", request_max_body_size=None)
async def create_attachment(request: AnyRequest, emu: Emu) -> Response[Any]:
    async def run(org_id: str) -> Answer:
        params = query(request)
        emu.desk.check_query(CREATE_ATTACHMENT_QUERY, params)
        ticket_id = emu.attachments.ticket_id(org_id, _ticket_id(request))
        received = await _receive(request, emu)
        record = emu.attachments.attach(
            org_id,
            ticket_id,
            received,
            is_public=params.get("isPublic") == "true",
            base_url=base_url(request),
        )
        await _after_storing(emu)
        return 200, record.as_zoho()

    return await desk_call(request, emu, PLAIN_WEIGHT, run, scopes=UPDATE)


@get("/api/v1/tickets/{ticket_id:str}/attachments")
async def list_attachments(request: AnyRequest, emu: Emu) -> Response[Any]:
    def read(org_id: str, params: dict[str, str]) -> Answer:
        return listing(emu.attachments.listing(org_id, _ticket_id(request), params))

    return await desk_read(request, emu, LIST_ATTACHMENTS, read, weight=SEARCH_WEIGHT, scopes=READ)


@delete("/api/v1/tickets/{ticket_id:str}/attachments/{attachment_id:str}", status_code=200)
async def delete_attachment(request: AnyRequest, emu: Emu) -> Response[Any]:
    attachment_id = str(request.path_params["attachment_id"])

    async def run(org_id: str) -> Answer:
        emu.desk.check_query(NO_QUERY, query(request))
        emu.attachments.delete(org_id, _ticket_id(request), attachment_id)
        return 200, None

    done = await desk_call(request, emu, PLAIN_WEIGHT, run, scopes=UPDATE)
    if done.status_code == 200:
        # TicketAttachment.json: 200 with Common.json's emptyResponse (no body)
        return Response(content=b"", status_code=200, headers=credit_headers(emu, PLAIN_WEIGHT))
    return done


@post("/api/v1/uploads", request_max_body_size=None)
async def create_upload(request: AnyRequest, emu: Emu) -> Response[Any]:
    async def run(org_id: str) -> Answer:
        emu.desk.check_query(NO_QUERY, query(request))
        received = await _receive(request, emu)
        record = emu.attachments.upload(org_id, received, base_url=base_url(request))
        await _after_storing(emu)
        body = record.as_zoho()
        del body["isPublic"]  # uploadFileResponse has no isPublic (only its example does)
        return 200, body

    return await desk_call(request, emu, PLAIN_WEIGHT, run, scopes=UPLOAD)


@get("/_emulator/tickets/{ticket_id:str}/attachments", sync_to_thread=False)
def control_attachments(request: AnyRequest, emu: Emu) -> Response[Any]:
    """A ticket's stored attachments (any portal), oldest first, each with its ``sha256``
    and ``contentType``: to count exactly the files that were sent."""
    emu.settle()
    ticket_id = _ticket_id(request)
    if ticket_id not in emu.tickets:
        return answer(404, {"error": f"no ticket {ticket_id!r}"})
    found = [r.as_control() for r in emu.attachments.of_ticket(ticket_id)]
    return answer(200, {"data": found, "count": len(found)})


HANDLERS: Final[list[ControllerRouterHandler]] = [
    create_attachment,
    list_attachments,
    delete_attachment,
    create_upload,
    control_attachments,
]
