"""The two-way sync's adapters and use cases: its log and inbox on Redis or in this process,
the Zoho client as its ``Conversations``, and what the entrypoints get (:class:`SyncServices`);
and the follow-ups (THREAD_WINDOW) the ticket processor adds to open tickets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, cast

import httpx

from ticketing.adapters.memory import InMemorySyncInbox, InMemorySyncLog, InMemoryThreadIndex
from ticketing.adapters.prometheus import PrometheusMetrics
from ticketing.adapters.redis.connection import RedisClient
from ticketing.adapters.redis.sync import RedisSyncInbox, RedisSyncLog
from ticketing.adapters.redis.threads import RedisThreadIndex
from ticketing.adapters.zoho_desk.client import ZohoDeskClient
from ticketing.adapters.zoho_desk.signature import ZohoJwks, ZohoWebhookSignatures
from ticketing.adapters.zoho_desk.wire_sync import SYNC_SUBSCRIPTIONS
from ticketing.application.guard import GuardedHelpdesk
from ticketing.application.sync import (
    HandleDeliveries,
    MeasureLag,
    PollChanges,
    ReceiveDelivery,
    SyncPublisher,
)
from ticketing.application.sync.access import SyncAccess
from ticketing.application.sync.download import DownloadReplyFile
from ticketing.application.sync.guard import GuardedConversations
from ticketing.application.sync.signature import CheckSignature, SignatureMode
from ticketing.application.sync.webhooks import ManageWebhooks
from ticketing.application.tickets.follow_ups import FollowUpPolicy, FollowUps
from ticketing.container.backend import key_layout
from ticketing.domain.ports import (
    Clock,
    Conversations,
    Credentials,
    DeliverySignatures,
    Leases,
    SyncInbox,
    SyncLog,
    ThreadIndex,
    TicketLedger,
    WebhookRegistry,
    lease_owner,
)
from ticketing.settings import Settings

# A process that holds the poller's lease keeps it this many poll intervals after its last
# poll: a dead poller's successor starts within that.
POLL_LEASE_INTERVALS: Final = 3


@dataclass(frozen=True)
class SyncServices:
    """What the entrypoints use of the sync: the receiver's use case and token, the inbox
    handler and the poller, and the mode each process runs."""

    consumer: str  # this process's name in the inbox's consumer group
    mode: str | None  # SYNC_MODE: webhook, poll, off; None: decided by what is registered
    token: str | None  # ZOHO_WEBHOOK_TOKEN
    receive: ReceiveDelivery
    handle: HandleDeliveries
    poll: PollChanges
    publisher: SyncPublisher
    inbox: SyncInbox
    log: SyncLog
    poll_interval: float
    webhooks: ManageWebhooks
    access: SyncAccess  # the scopes the token lacks for the sync, as last seen
    lag: MeasureLag  # how far behind it is (the metrics' scrape reads it)
    credentials: Credentials | None = None  # what Zoho granted the token (its scopes)
    # ZOHO_WEBHOOK_SIGNATURE's check of a delivery; None: no check at all
    check_signature: CheckSignature | None = None
    # GET /tickets/{t}/threads/{th}/attachments/{a}: a reply's file, streamed from Zoho
    download: DownloadReplyFile | None = None


def build_sync_log(settings: Settings, redis: RedisClient | None) -> SyncLog:
    if redis is None:
        return InMemorySyncLog()
    return RedisSyncLog(
        redis,
        prefix=settings.redis_key_prefix,
        layout=key_layout(settings),
        retention=settings.ledger_retention,
    )


def build_follow_ups(
    settings: Settings,
    redis: RedisClient | None,
    store: TicketLedger,
    zoho: ZohoDeskClient,
    helpdesk: GuardedHelpdesk,
    clock: Clock,
) -> FollowUps:
    """The follow-ups: the thread index where the ledger is (Redis or this process), and the
    comment calls behind the ticket calls' breaker and call gate."""
    index: ThreadIndex = (
        InMemoryThreadIndex(clock)
        if redis is None
        else RedisThreadIndex(redis, prefix=settings.redis_key_prefix, layout=key_layout(settings))
    )
    policy = FollowUpPolicy(
        window=settings.thread_window, conversation_ttl=float(settings.ledger_retention)
    )
    return FollowUps(store, index, GuardedConversations(zoho, helpdesk), policy)


def build_sync_inbox(settings: Settings, redis: RedisClient | None, clock: Clock) -> SyncInbox:
    if redis is None:
        return InMemorySyncInbox(clock)
    return RedisSyncInbox(redis, prefix=settings.redis_key_prefix, layout=key_layout(settings))


def build_webhook_signatures(
    http: httpx.AsyncClient, desk_url: str, clock: Clock
) -> DeliverySignatures:
    """Zoho's X-ZDesk-JWT, checked against the keys of the Desk host the client talks to
    (the data centre's, ZOHO_DESK_URL's, or the sandbox emulator's)."""
    return ZohoWebhookSignatures(ZohoJwks(http, desk_url, clock), clock)


def build_sync(
    settings: Settings,
    zoho: ZohoDeskClient,
    helpdesk: GuardedHelpdesk,
    store: TicketLedger,
    log: SyncLog,
    inbox: SyncInbox,
    leases: Leases,
    clock: Clock,
    metrics: PrometheusMetrics,
    consumer: str,
    access: SyncAccess,
    credentials: Credentials | None = None,
    signatures: DeliverySignatures | None = None,
) -> SyncServices:
    # Typed: mypy holds the client to the ports here. The reads go through the ticket calls'
    # breaker and call gate: one cap on Zoho calls in flight, one 429 pause, one breaker.
    conversations: Conversations = GuardedConversations(zoho, helpdesk)
    registry: WebhookRegistry = zoho
    publisher = SyncPublisher(conversations, store, log, leases, clock, metrics)
    interval = settings.sync_poll_interval
    return SyncServices(
        consumer=consumer,
        mode=settings.sync_mode,
        token=settings.zoho_webhook_token,
        receive=ReceiveDelivery(inbox, metrics),
        check_signature=CheckSignature(
            signatures,
            conversations,
            log,
            metrics,
            cast(SignatureMode, settings.zoho_webhook_signature),
        ),
        handle=HandleDeliveries(inbox, publisher),
        poll=PollChanges(
            conversations,
            publisher,
            log,
            leases,
            clock,
            metrics,
            owner=lease_owner(),  # this process's, for as long as it lives
            overlap=settings.zoho_search_lag,
            first_window=max(interval, 3600.0),
            follow_closed=settings.sync_follow_closed,
            lease_ttl=POLL_LEASE_INTERVALS * interval,
        ),
        publisher=publisher,
        inbox=inbox,
        log=log,
        poll_interval=interval,
        webhooks=ManageWebhooks(registry, log, SYNC_SUBSCRIPTIONS, settings.zoho_webhook_token),
        access=access,
        lag=MeasureLag(inbox, log, clock),
        credentials=credentials,
        download=DownloadReplyFile(zoho, publisher, helpdesk),
    )
