"""Ports of the attachments: the helpdesk's side (upload a file to a ticket, list a ticket's
files) and the fetcher that brings a file in from a URL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from ticketing.domain.attachments import (
    AttachmentJob,
    FetchedFile,
    FileSource,
    TicketAttachment,
)


class AttachmentDesk(Protocol):
    """Files on helpdesk tickets. Every call may raise ``HelpdeskUnavailable`` (try later;
    ``sent`` True when an upload may have landed: look it up with :meth:`list_attachments`
    before sending it again), ``HelpdeskRejected`` (404: no such ticket) or
    ``HelpdeskAuthError``."""

    async def upload_attachment(
        self,
        ticket_id: str,
        filename: str,
        content_type: str,
        source: FileSource,
        *,
        is_public: bool = False,
    ) -> TicketAttachment:
        """Attach ``source`` to the ticket as ``filename`` (made fit by ``attachment_name``).

        Raises:
            AttachmentRejected: too large, a blocked type or empty; checked before sending
                when it can be, else the helpdesk's refusal. Never worth a retry.
        """
        ...

    async def list_attachments(self, ticket_id: str) -> list[TicketAttachment]:
        """Every file on the ticket, oldest first.

        Raises:
            HelpdeskRejected: no such ticket (404).
        """
        ...


class AttachmentFetcher(Protocol):
    """Fetches a file from a URL under the operator's rules (allowed hosts, no private
    addresses, a size and a time cap, the content type checked)."""

    def fetch(
        self, url: str, *, content_type: str | None = None
    ) -> AbstractAsyncContextManager[FetchedFile]:
        """The file at ``url``, held until the context ends (then deleted).

        ``content_type``: the type the message declared; the source's must match it.

        Raises:
            AttachmentFetchError: with the reason (``host_not_allowed``, ``private_address``,
                ``too_large``, ``timeout``, ``gone``, ``bad_content_type``, ``source_error``).
        """
        ...


class AttachmentBlobs(Protocol):
    """Bytes staged for an upload (inline data, a multipart part) between the request's
    acceptance and the upload: written in chunks, read in chunks, deleted once uploaded and
    expiring with the ledger otherwise."""

    async def put(self, blob_id: str, chunks: AsyncIterator[bytes], ttl: float) -> int:
        """Store the bytes under ``blob_id`` (replacing any); returns their size.

        Raises:
            StoreUnavailable: nothing usable was stored.
        """
        ...

    async def open(self, blob_id: str) -> FileSource | None:
        """The staged bytes as a source to upload from; None when they are gone."""
        ...

    async def delete(self, blob_ids: Sequence[str]) -> None: ...


class AttachmentWork(Protocol):
    """The queue of attachment jobs (one per request with files, queued with its ticket's
    completion) and each job's progress, file by file: fleet-wide with Redis."""

    async def claim(self, consumer: str, count: int, min_idle: float) -> list[AttachmentJob]:
        """Jobs for ``consumer``: its own not acknowledged, then others' idle ``min_idle``
        seconds (their process died), then new ones."""
        ...

    async def ack(self, entry_id: str) -> None:
        """The job is done: every file uploaded or dead (and the note posted)."""
        ...

    async def progress(self, key: str) -> dict[str, str]:
        """The job's recorded progress (``<n>:state`` …, ``baseline``, ``note``)."""
        ...

    async def record(self, key: str, fields: Mapping[str, str]) -> None:
        """Record progress ('' deletes a field); kept as long as the ledger."""
        ...

    async def backlog(self) -> int:
        """Jobs not done yet."""
        ...


class AttachmentMetrics(Protocol):
    """What the attachments count."""

    def attachment_uploaded(self, size: int, seconds: float) -> None:
        """A file put on its ticket: its bytes, and how long the upload took."""
        ...

    def attachment_refused(self, reason: str) -> None:
        """A file that will not be put on its ticket, by reason (``too_large``,
        ``blocked_type``, ``empty``, ``gone``, ``host_not_allowed``, ...)."""
        ...
