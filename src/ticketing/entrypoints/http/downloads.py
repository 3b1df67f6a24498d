"""``GET /tickets/{ticket_id}/threads/{thread_id}/attachments/{attachment_id}``: a file of an
agent's reply, streamed from Zoho Desk to the messaging side (Zoho's own ``href`` needs the
service's token). Behind API_KEYS like the other ticket routes; a ticket the service did not
create, or a file that is not on one of its public agent replies, is a 404."""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import AsyncIterator
from typing import Final
from urllib.parse import quote

from litestar import Response, get
from litestar.background_tasks import BackgroundTask
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath
from litestar.response import Stream

from ticketing.application.sync.download import ReplyFile
from ticketing.domain.errors import HelpdeskUnavailable, NotFound
from ticketing.entrypoints.http.deps import ServicesDep
from ticketing.entrypoints.http.errors import BadRequest, error_body
from ticketing.entrypoints.http.openapi import ZOHO, error_response
from ticketing.entrypoints.schemas import ErrorOut

log = logging.getLogger("ticketing.http.downloads")

# Zoho's ids are digits (Thread.json: ([0-9]+)); 30 is well past an int64's 19.
_ID: Final = re.compile(r"[0-9]{1,30}")
# When Zoho is down without saying for how long: about one breaker probe away.
RETRY_AFTER: Final = 30
_UNSAFE: Final = re.compile(r'[\x00-\x1f\x7f"\\;/]')


def content_disposition(name: str) -> str:
    """``attachment`` with the file's name: an ASCII ``filename`` with anything unsafe
    replaced, and the exact name in ``filename*`` (RFC 6266 / RFC 5987)."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    plain = _UNSAFE.sub("_", plain).strip() or "file"
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(name, safe='')}"


def _check(name: str, value: str) -> None:
    if not _ID.fullmatch(value):
        raise BadRequest(name, f"{name} is digits (a Zoho Desk id)")


async def _body(file: ReplyFile) -> AsyncIterator[bytes]:
    try:
        async for chunk in file.download.chunks:
            yield chunk
    finally:
        await file.download.close()


@get(
    "/tickets/{ticket_id:str}/threads/{thread_id:str}/attachments/{attachment_id:str}",
    operation_id="downloadReplyAttachment",
    summary="A file of an agent's reply (an event's attachments[].download), streamed",
    tags=["tickets"],
    description=(
        "The bytes of a file of an agent's public reply on a ticket the service created, "
        "streamed from Zoho Desk with its type and a Content-Disposition naming it. The path "
        "is what a tickets:replies event gives in attachments[].download."
    ),
    responses={
        200: ResponseSpec(
            data_container=bytes,
            media_type="application/octet-stream",
            description="The file's bytes, with Zoho's Content-Type (image/png, "
            "application/pdf, ...) and Content-Disposition: attachment; filename",
            generate_examples=False,
        ),
        400: error_response("An id is not digits (Zoho Desk ids are)"),
        404: error_response(
            "Not a ticket the service created, or no such file on one of its public agent replies"
        ),
        **ZOHO,
    },
)
async def reply_attachment(
    ticket_id: FromPath[str],
    thread_id: FromPath[str],
    attachment_id: FromPath[str],
    services: ServicesDep,
) -> Stream | Response[ErrorOut]:
    for name, value in (
        ("ticket_id", ticket_id),
        ("thread_id", thread_id),
        ("attachment_id", attachment_id),
    ):
        _check(name, value)
    sync = services.sync
    if sync is None or sync.download is None:
        raise NotFound(f"no file {attachment_id} on a reply of ticket {ticket_id}")
    try:
        file = await sync.download(ticket_id, thread_id, attachment_id)
    except HelpdeskUnavailable as exc:
        log.warning("a reply's file could not be fetched: %s", exc.message)
        wait = int(exc.retry_after + 0.999) if exc.retry_after else RETRY_AFTER
        return Response(
            error_body("zoho_unavailable", exc.message),
            status_code=503,
            headers={"Retry-After": str(max(1, wait))},
        )
    headers = {
        "Content-Disposition": content_disposition(file.name),
        # The type is whatever the agent's file says: never let a browser guess another.
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
    }
    if file.download.size is not None:
        headers["Content-Length"] = str(file.download.size)
    return Stream(
        _body(file),
        media_type=file.download.content_type,
        headers=headers,
        # The stream closes the download when it ends; this closes it if it never starts.
        background=BackgroundTask(file.download.close),
    )
