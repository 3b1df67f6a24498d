"""Downloading a file of an agent's reply for the messaging side: only on a ticket the
service created, only a file of a public agent reply, and through the ticket calls' breaker
and call gate. The bytes are streamed by the caller; nothing here holds them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from ticketing.application.guard import GuardedHelpdesk
from ticketing.application.sync.events import TicketOrigin, is_public_agent_reply
from ticketing.domain.conversation import Download, Thread
from ticketing.domain.errors import HelpdeskRejected, NotFound

T = TypeVar("T")


class ThreadFiles(Protocol):
    """The helpdesk's side: a thread (with its files' ids and names) and a file's bytes."""

    async def get_thread(self, ticket_id: str, thread_id: str) -> Thread:
        """One thread of a ticket, its ``attachments`` listed; ``HelpdeskRejected`` (404)
        when the helpdesk has no such thread on that ticket."""
        ...

    async def open_thread_attachment(
        self, ticket_id: str, thread_id: str, attachment_id: str
    ) -> Download:
        """Start a file's download (headers in, body to read); ``HelpdeskRejected`` (404)
        when there is no such file."""
        ...


class Origins(Protocol):
    async def origin(self, ticket_id: str) -> TicketOrigin | None: ...


@dataclass(frozen=True, slots=True)
class ReplyFile:
    """A file being downloaded, with the name the helpdesk gave it."""

    name: str
    download: Download


class DownloadReplyFile:
    """``GET /tickets/{t}/threads/{th}/attachments/{a}``: the file of an agent's public reply
    on a ticket the service created, streamed from the helpdesk."""

    def __init__(self, files: ThreadFiles, origins: Origins, guard: GuardedHelpdesk) -> None:
        self._files = files
        self._origins = origins
        self._guard = guard

    async def __call__(self, ticket_id: str, thread_id: str, attachment_id: str) -> ReplyFile:
        """The file, its download started (the caller reads and closes it).

        Raises:
            NotFound: not a ticket of the service's, no such public agent reply on it, or no
                such file on that reply (one answer for all: nothing about other tickets leaks).
            HelpdeskUnavailable: Zoho is down, the breaker is open or no call slot freed up
                (``BreakerOpen``); nothing was downloaded.
        """
        if await self._origins.origin(ticket_id) is None:
            raise NotFound(f"no file {attachment_id} on a reply of ticket {ticket_id}")
        thread = await self._found(lambda: self._files.get_thread(ticket_id, thread_id))
        named = next((a for a in thread.attachments if a.id == attachment_id), None)
        if not is_public_agent_reply(thread) or named is None:
            raise NotFound(f"no file {attachment_id} on a reply of ticket {ticket_id}")
        download = await self._found(
            lambda: self._files.open_thread_attachment(ticket_id, thread_id, attachment_id)
        )
        return ReplyFile(named.name, download)

    async def _found(self, call: Callable[[], Awaitable[T]]) -> T:
        try:
            return await self._guard.guarded(call, "download")
        except HelpdeskRejected as exc:
            if exc.status in (404, 422):
                raise NotFound(exc.message) from exc
            raise
