"""The attachments' adapters and use case: staged bytes and the job queue on Redis or in this
process, the safe fetcher from the ``ATTACHMENT_*`` settings, and uploads and the note behind
the ticket calls' breaker and call gate."""

from __future__ import annotations

from dataclasses import dataclass

from ticketing.adapters.attachments.fetch import FetchRules, SafeFetcher
from ticketing.adapters.memory import InMemoryTicketStore
from ticketing.adapters.memory_attachments import InMemoryAttachmentBlobs, InMemoryAttachmentWork
from ticketing.adapters.prometheus import PrometheusMetrics
from ticketing.adapters.redis.attachments import RedisAttachmentBlobs, RedisAttachmentWork
from ticketing.adapters.redis.connection import RedisClient
from ticketing.adapters.zoho_desk.client import ZohoDeskClient
from ticketing.application.attachments import (
    AttachmentPolicy,
    GuardedAttachments,
    PutAttachments,
    StageFiles,
)
from ticketing.application.guard import GuardedHelpdesk
from ticketing.application.sync.guard import GuardedConversations
from ticketing.application.tickets import TicketProcessor
from ticketing.container.backend import key_layout
from ticketing.domain.ports import (
    AttachmentBlobs,
    AttachmentWork,
    Clock,
    TicketStore,
)
from ticketing.settings import Settings


@dataclass(frozen=True)
class AttachmentServices:
    """What the entrypoints use: the staged bytes (intake writes them) and the uploads."""

    blobs: AttachmentBlobs
    work: AttachmentWork
    put: PutAttachments
    stage: StageFiles
    consumer: str  # this process's name in the jobs' consumer group


def build_attachments(
    settings: Settings,
    redis: RedisClient | None,
    store: TicketStore,
    zoho: ZohoDeskClient,
    helpdesk: GuardedHelpdesk,
    processor: TicketProcessor,
    clock: Clock,
    metrics: PrometheusMetrics,
    consumer: str,
) -> AttachmentServices:
    blobs: AttachmentBlobs
    work: AttachmentWork
    if redis is None:
        assert isinstance(store, InMemoryTicketStore)
        blobs, work = (
            InMemoryAttachmentBlobs(),
            InMemoryAttachmentWork(clock, store.attachment_jobs),
        )
        origin = "ticketing:attachments"
    else:
        layout = key_layout(settings)
        prefix = settings.redis_key_prefix
        blobs = RedisAttachmentBlobs(redis, prefix=prefix, layout=layout)
        redis_work = RedisAttachmentWork(
            redis, prefix=prefix, layout=layout, retention=settings.ledger_retention
        )
        work, origin = redis_work, redis_work.stream
    rules = FetchRules(
        allowed_hosts=settings.attachment_allowed_hosts,
        private_hosts=settings.attachment_private_hosts,
        allow_http=settings.attachment_allow_http,
        max_bytes=settings.attachment_max_bytes,
        timeout=settings.attachment_fetch_timeout,
        content_types=settings.attachment_content_types,
        host_tokens=dict(settings.attachment_host_tokens),
    )
    policy = AttachmentPolicy(grace=settings.zoho_search_lag, origin=origin)
    put = PutAttachments(
        work,
        blobs,
        GuardedAttachments(zoho, helpdesk),
        SafeFetcher(rules),
        GuardedConversations(zoho, helpdesk),
        store,
        store,
        clock,
        metrics,
        policy,
        new_owner=processor.new_owner,  # leases the fleet takes over from a dead process
    )
    stage = StageFiles(blobs, store, float(settings.ledger_retention))
    return AttachmentServices(blobs, work, put, stage, consumer)
