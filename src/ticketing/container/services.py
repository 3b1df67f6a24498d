"""What the entrypoints get: the use cases, built from the ports (typed builders where mypy
should hold an adapter to its port)."""

from __future__ import annotations

import functools
import os
import socket
import uuid
from dataclasses import dataclass

from ticketing.adapters.prometheus import PrometheusMetrics
from ticketing.adapters.redis.liveness import Heartbeat
from ticketing.adapters.redis.store import RedisTicketStore
from ticketing.adapters.zoho_desk.client import ZohoDeskClient
from ticketing.adapters.zoho_desk.oauth import TokenManager
from ticketing.application.auth import (
    AuthStatus,
    ResumeRefreshes,
    SetupAuthorization,
    Whoami,
    ZohoConfig,
)
from ticketing.application.doctor import Doctor
from ticketing.application.guard import GuardedHelpdesk
from ticketing.application.intake import IntakePolicy
from ticketing.application.operations import (
    CheckReadiness,
    DeleteDeadLetters,
    ListDeadLetters,
    QueueStatus,
    RejectMessage,
    ReplayDeadLetters,
)
from ticketing.application.queries import (
    AuthorizationUrl,
    CheckHealth,
    ListDepartments,
)
from ticketing.application.story import ListPending, RecentTickets, ShowRequest
from ticketing.application.sync.access import SyncAccess
from ticketing.application.tickets import DrainQueue, SubmitTicket
from ticketing.application.tickets.drain import TakeOver
from ticketing.container.attachments import AttachmentServices
from ticketing.container.backend import Backend, store_kind
from ticketing.container.sync import SyncServices
from ticketing.container.zoho import ZohoEndpoints
from ticketing.domain.breaker import CircuitBreaker
from ticketing.domain.ports import (
    CallGate,
    Clock,
    QuotaMeter,
    TicketStore,
)
from ticketing.domain.timeouts import Timeouts
from ticketing.settings import Settings


def build_helpdesk(
    settings: Settings,
    zoho: ZohoDeskClient,
    breaker: CircuitBreaker,
    clock: Clock,
    gate: CallGate,
) -> GuardedHelpdesk:
    """Zoho Desk behind the breaker and the call gate (typed: mypy holds the client to the
    ``Helpdesk`` port here)."""
    return GuardedHelpdesk(zoho, breaker, clock, gate, slot_wait=settings.zoho_timeout)


def build_health(
    backend: Backend,
    endpoints: ZohoEndpoints,
    store: TicketStore,
    helpdesk: GuardedHelpdesk,
    drain: DrainQueue,
    zoho: ZohoDeskClient,
    tokens: TokenManager,
    sync_access: SyncAccess | None = None,
) -> CheckHealth:
    """``/health`` (typed: the client is held to ``QuotaMeter``, the token manager to
    ``Credentials``)."""
    return CheckHealth(
        store,
        helpdesk,
        drain,
        mode=endpoints.mode,
        store_kind=store_kind(backend),
        quota=zoho,
        credentials=tokens,
        sync_access=sync_access,
    )


def consumer_name() -> str:
    """A name for this process's queue consumer without Redis (nothing is shared, nobody takes
    over): host, pid and a random suffix."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def process_name(heartbeat: Heartbeat | None) -> str:
    """This process's consumer name: its heartbeat's (with Redis), else :func:`consumer_name`."""
    return heartbeat.name if heartbeat is not None else consumer_name()


def lease_holder(heartbeat: Heartbeat | None) -> str:
    """What this process's ticket lease owners start with (empty without a heartbeat)."""
    return heartbeat.holder if heartbeat is not None else ""


def build_take_over(
    store: TicketStore, heartbeat: Heartbeat | None, timeouts: Timeouts
) -> TakeOver | None:
    """How the drain takes over the pending entries of processes that are gone: with Redis
    and a heartbeat only (in one process, there is nobody else)."""
    if heartbeat is None or not isinstance(store, RedisTicketStore):
        return None
    return functools.partial(
        store.take_over, heartbeat.name, heartbeat.living, timeouts.takeover_min_idle
    )


@dataclass(frozen=True)
class AdminServices:
    """The admin commands' use cases (the CLI asks for these besides :class:`Services`)."""

    config: ZohoConfig
    whoami: Whoami
    auth_status: AuthStatus
    resume_refreshes: ResumeRefreshes
    setup_auth: SetupAuthorization
    doctor: Doctor


@dataclass(frozen=True)
class Services:
    """What the entrypoints use, built once per process: use cases, and the settings where
    an entrypoint needs its own configuration. Never the raw store: tests that assert on its
    state take it from the container."""

    settings: Settings
    clock: Clock  # intake stamps ``received_at`` (HTTP and the inbound consumer)
    policy: IntakePolicy
    helpdesk: GuardedHelpdesk  # background upkeep: the call gate's upkeep, the breaker's state
    submit: SubmitTicket
    drain: DrainQueue
    health: CheckHealth
    ready: CheckReadiness
    departments: ListDepartments
    auth_url: AuthorizationUrl
    queue_status: QueueStatus
    dead_letters: ListDeadLetters
    replay: ReplayDeadLetters
    delete_dead: DeleteDeadLetters
    reject: RejectMessage
    story: ShowRequest  # one request's story (GET /tickets/requests/{key}, ticketing show)
    pending: ListPending  # the pending queue listed (GET /queue/pending, queue list)
    recent: RecentTickets  # the newest created events (the console's recent tickets)
    mode: str
    metrics: PrometheusMetrics | None = None
    # This process's name and heartbeat (None without Redis): the inbound consumer asks it who
    # is alive before taking over a consumer's entries.
    liveness: Heartbeat | None = None
    # The two-way sync (the webhook receiver, the inbox handler, the poller).
    sync: SyncServices | None = None
    # The attachments (the staged bytes intake writes, the uploads the background runs).
    attachments: AttachmentServices | None = None


def watch_metrics(
    metrics: PrometheusMetrics,
    store: TicketStore,
    helpdesk: GuardedHelpdesk,
    tokens: TokenManager,
    quota: QuotaMeter,
) -> PrometheusMetrics:
    """Point the scrape-time gauges at this process's store, breaker, token manager and the
    helpdesk client's last view of Zoho's credits."""
    metrics.watch(
        store=store,
        breaker_state=lambda: helpdesk.breaker_state,
        token_refreshes=lambda: tokens.refreshes,
        credits_remaining=lambda: quota.credits_remaining,
        credentials=tokens,
    )
    return metrics
