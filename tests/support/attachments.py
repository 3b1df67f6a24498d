"""The attachments' use cases over in-memory adapters: a ticket store whose completions queue
jobs, the helpdesk's files, a fetcher of URLs, staged bytes and comments."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ticketing.adapters.memory import InMemoryConversations, InMemoryTicketStore
from ticketing.adapters.memory_attachments import (
    InMemoryAttachmentBlobs,
    InMemoryAttachments,
    InMemoryAttachmentWork,
    InMemoryFetcher,
)
from ticketing.adapters.prometheus import PrometheusMetrics
from ticketing.application.attachments import (
    AttachmentPolicy,
    AttachmentsReport,
    PutAttachments,
    StageFiles,
)
from ticketing.application.intake import IncomingFile, IntakePolicy, incident_ticket
from ticketing.domain.model import Outcome, Ticket, TicketDraft, TicketState

from tests.support.clock import ManualClock


@dataclass
class Files:
    clock: ManualClock
    store: InMemoryTicketStore
    desk: InMemoryAttachments
    fetcher: InMemoryFetcher
    blobs: InMemoryAttachmentBlobs
    work: InMemoryAttachmentWork
    comments: InMemoryConversations
    metrics: PrometheusMetrics
    put: PutAttachments
    stage: StageFiles

    async def request(
        self, key: str, files: list[IncomingFile], *, ticket_id: str = "500", joined: bool = False
    ) -> TicketDraft:
        """An incident with ``files``, staged, accepted and completed on ticket ``ticket_id``
        (created, or joined as a follow-up): its attachment job is queued."""
        staged: dict[str, bytes] = {}
        draft = incident_ticket(
            incident_id=key,
            customer_name="Ana",
            customer_email=None,
            customer_phone="+525512345678",
            subject=None,
            description="Mi pase de abordar",
            category=None,
            priority=None,
            confidence=None,
            channel="WhatsApp",
            received_at=self.clock.now(),
            policy=IntakePolicy(),
            attachments=files,
            max_attachment_bytes=self.fetcher.max_bytes,
            staged=staged,
        )
        await self.stage(draft.key, staged)
        await self.store.accept(draft)
        if ticket_id not in self.comments.tickets:
            self.comments.add_ticket(ticket_id)
        ticket = Ticket(id=ticket_id, ticket_number="101", contact_id="9", subject="s")
        outcome = Outcome.created(draft, ticket, self.clock.now())
        if joined:
            outcome = replace(outcome, state=TicketState.APPENDED, comment_id=f"c-{key}")
        await self.store.complete(draft.key, outcome, outcome.created_event())
        return draft

    async def passes(self, n: int = 1, *, every: float = 0.0) -> AttachmentsReport:
        report = AttachmentsReport()
        for _ in range(n):
            report = await self.put("worker")
            self.clock.advance(every)
        return report

    def names(self, ticket_id: str = "500") -> list[str]:
        return [f.attachment.name for f in self.desk.files.get(ticket_id, [])]

    def notes(self, ticket_id: str = "500") -> list[str]:
        return [c.content for c in self.comments.comments.values() if c.ticket_id == ticket_id]


def make_files(clock: ManualClock, *, max_bytes: int = 1000, grace: float = 30.0) -> Files:
    store = InMemoryTicketStore(clock)
    desk = InMemoryAttachments(clock=clock, max_bytes=max_bytes)
    fetcher = InMemoryFetcher(max_bytes=max_bytes)
    blobs = InMemoryAttachmentBlobs()
    work = InMemoryAttachmentWork(clock, store.attachment_jobs)
    comments = InMemoryConversations(clock)
    metrics = PrometheusMetrics()
    put = PutAttachments(
        work,
        blobs,
        desk,
        fetcher,
        comments,
        store,
        store,
        clock,
        metrics,
        AttachmentPolicy(grace=grace, idle=0.0),
    )
    return Files(
        clock,
        store,
        desk,
        fetcher,
        blobs,
        work,
        comments,
        metrics,
        put,
        StageFiles(blobs, store, 3600.0),
    )
