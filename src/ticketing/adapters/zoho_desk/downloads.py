"""Downloading a thread attachment's bytes from Zoho Desk as a stream, never whole in memory.

OAS (``zoho/zohodesk-oas`` ``v1.0/Thread.json``, operation ``getThreadAttachmentContent``):
``GET /api/v1/tickets/{ticketId}/threads/{threadId}/attachments/{attachmentId}/content``, the
three ids ``([0-9]+)``, ``orgId``, no query parameter, scope ``Desk.tickets.READ``, 200
``fileResponse`` or 422. ``TicketComment.json`` has no content route for a comment's files
(a comment's ``attachments`` carry only an ``href``), so only threads are downloaded here.
"""

from __future__ import annotations

import collections
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Final
from urllib.parse import quote

import httpx

from ticketing.adapters.zoho_desk.wire import decode_error
from ticketing.domain.conversation import Download
from ticketing.domain.errors import HelpdeskAuthError, HelpdeskError, HelpdeskRejected

if TYPE_CHECKING:
    from ticketing.adapters.zoho_desk.oauth import TokenManager
    from ticketing.adapters.zoho_desk.wire import ErrorBody

API: Final = "/api/v1"
CHUNK: Final = 64 * 1024
# An error body is small JSON; a larger one is not read whole.
ERROR_BODY_MAX: Final = 64 * 1024


def _digits(name: str, value: str) -> str:
    if not value.isascii() or not value.isdigit():
        raise HelpdeskRejected(f"{name} is digits (Zoho's ids are), not {value!r}", status=404)
    return value


class DownloadCalls:
    """Streamed downloads, mixed into ``ZohoDeskClient`` (its HTTP client, token, org id,
    credit and clock bookkeeping and error mapping)."""

    if TYPE_CHECKING:
        desk_url: str
        _http: httpx.AsyncClient
        _tokens: TokenManager
        calls: collections.Counter[str]

        async def org_id(self) -> str: ...

        def _note_credits(self, response: httpx.Response) -> None: ...

        def _note_clock(self, response: httpx.Response) -> None: ...

        @staticmethod
        def _transport_error(method: str, path: str, exc: httpx.RequestError) -> HelpdeskError: ...

        def _status_error(
            self, method: str, path: str, response: httpx.Response, error: ErrorBody
        ) -> HelpdeskError: ...

    async def open_thread_attachment(
        self, ticket_id: str, thread_id: str, attachment_id: str
    ) -> Download:
        """Start downloading a thread's file: returns once Zoho's headers are in, with the
        body still to read (``Download.chunks``; ``close`` it). A file or thread Zoho does not
        have is ``HelpdeskRejected`` (404); errors otherwise map as every call's do."""
        ids = (
            _digits("ticketId", ticket_id),
            _digits("threadId", thread_id),
            _digits("attachmentId", attachment_id),
        )
        path = "/tickets/{}/threads/{}/attachments/{}/content".format(
            *(quote(i, safe="") for i in ids)
        )
        response = await self._send_streamed("GET", path, "download_thread_attachment")
        size_header = response.headers.get("Content-Length", "")
        # A compressed answer's length is not the file's (the chunks come decoded).
        encoded = response.headers.get("Content-Encoding", "identity").lower() != "identity"
        size = int(size_header) if size_header.isdigit() and not encoded else None

        async def chunks() -> AsyncIterator[bytes]:
            try:
                async for chunk in response.aiter_bytes(CHUNK):
                    yield chunk
            except httpx.RequestError as exc:
                raise self._transport_error("GET", path, exc) from exc

        return Download(
            content_type=response.headers.get("Content-Type") or "application/octet-stream",
            size=size,
            chunks=chunks(),
            close=response.aclose,
        )

    @asynccontextmanager
    async def download_thread_attachment(
        self, ticket_id: str, thread_id: str, attachment_id: str
    ) -> AsyncIterator[Download]:
        """:meth:`open_thread_attachment` as a context manager that closes the download."""
        download = await self.open_thread_attachment(ticket_id, thread_id, attachment_id)
        try:
            yield download
        finally:
            await download.close()

    async def _send_streamed(self, method: str, path: str, operation: str) -> httpx.Response:
        """The request with the body left unread on success (the caller closes the response);
        one retry after INVALID_OAUTH, as ``_call``."""
        headers = {"orgId": await self.org_id()}
        url = f"{self.desk_url}{API}{path}"
        for attempt in (1, 2):
            token = await self._tokens.access_token()
            headers["Authorization"] = f"Zoho-oauthtoken {token}"
            self.calls[operation] += 1
            request = self._http.build_request(method, url, headers=headers)
            try:
                response = await self._http.send(request, stream=True)
            except httpx.RequestError as exc:
                raise self._transport_error(method, path, exc) from exc
            self._note_credits(response)
            self._note_clock(response)
            if response.status_code == 200:
                return response
            try:
                body = await _read_some(response, ERROR_BODY_MAX)
            except httpx.RequestError as exc:
                raise self._transport_error(method, path, exc) from exc
            finally:
                await response.aclose()
            error = decode_error(body)
            if response.status_code == 401 and error.error_code == "INVALID_OAUTH":
                if attempt == 1:
                    await self._tokens.invalidate(token)
                    continue
                raise HelpdeskAuthError(
                    "Zoho Desk rejected a freshly refreshed token (INVALID_OAUTH)",
                    status=401,
                    code="INVALID_OAUTH",
                )
            if response.status_code < 300:
                raise HelpdeskRejected(
                    f"Zoho Desk {method} {API}{path} → {response.status_code}: no file",
                    status=404,
                )
            raise self._status_error(method, path, response, error)
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover


async def _read_some(response: httpx.Response, limit: int) -> bytes:
    parts: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        parts.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    return b"".join(parts)[:limit]
