"""Ports of the attachments: the helpdesk's side (upload a file to a ticket, list a ticket's
files) and the fetcher that brings a file in from a URL."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol

from ticketing.domain.attachments import FetchedFile, FileSource, TicketAttachment


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
