"""The two-way sync's test helpers: a helpdesk world (the in-memory fake, or the emulator
behind the real Zoho client) where agents act, and a ticket the service "created"."""

from __future__ import annotations

import inspect
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import httpx
from prometheus_client import generate_latest

from ticketing.adapters.memory import (
    InMemoryConversations,
    InMemoryLeases,
    InMemorySyncInbox,
    InMemorySyncLog,
    InMemoryTicketStore,
    InMemoryTokenStore,
)
from ticketing.adapters.prometheus import PrometheusMetrics
from ticketing.adapters.zoho_desk.client import ZohoDeskClient, build_http_client
from ticketing.adapters.zoho_desk.oauth import TokenManager, ZohoOAuth
from ticketing.application.sync import (
    HandleDeliveries,
    PollChanges,
    ReceiveDelivery,
    SyncPublisher,
)
from ticketing.domain.conversation import WebhookEvent
from ticketing.domain.model import (
    Customer,
    Outcome,
    Priority,
    Source,
    Ticket,
    TicketCreated,
    TicketDraft,
)
from ticketing.domain.ports import Conversations, TicketLedger
from zoho_desk_emulator import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_DEPARTMENT_ID,
    SANDBOX_ORG_ID,
    SANDBOX_REDIRECT_URI,
    SANDBOX_REFRESH_TOKEN,
    SANDBOX_SCOPE,
    EmulatorState,
    create_emulator_app,
)

from tests.support.clock import ManualClock
from tests.support.metrics import parse, sample

EMULATOR = "http://zoho-emulator.invalid"
ANA = Customer(name="Ana López", email="ana@example.com", phone="+525512345678")


class Desk(Protocol):
    """A helpdesk a test acts in as its agents would; ``conversations`` reads it."""

    conversations: Conversations

    def ticket(self) -> str: ...

    def reply(self, ticket_id: str, text: str, **options: Any) -> str: ...

    def comment(self, ticket_id: str, text: str, *, public: bool = True) -> str: ...

    def close(self, ticket_id: str) -> None: ...

    def set_status(self, ticket_id: str, status: str) -> None: ...


@dataclass
class FakeDesk:
    """The in-memory fake."""

    conversations: InMemoryConversations
    _n: int = 0

    def ticket(self) -> str:
        self._n += 1
        return self.conversations.add_ticket(f"7{self._n:05d}").id

    def reply(self, ticket_id: str, text: str, **options: Any) -> str:
        return self.conversations.add_thread(ticket_id, text, **options).id

    def comment(self, ticket_id: str, text: str, *, public: bool = True) -> str:
        return self.conversations.add_comment(ticket_id, text, public=public).id

    def close(self, ticket_id: str) -> None:
        self.set_status(ticket_id, "Closed")

    def set_status(self, ticket_id: str, status: str) -> None:
        self.conversations.set_status(ticket_id, status)


@dataclass
class EmulatorDesk:
    """The emulator's state, read through the real Zoho client."""

    state: EmulatorState
    conversations: ZohoDeskClient

    def ticket(self) -> str:
        record = self.state.desk.create_ticket(
            SANDBOX_ORG_ID,
            {
                "subject": "Pago no reflejado",
                "departmentId": SANDBOX_DEPARTMENT_ID,
                "contact": {"lastName": "López", "firstName": "Ana", "email": "ana@example.com"},
                "description": "Hola, pagué ayer",
            },
            EMULATOR,
        )
        return record.id

    def reply(self, ticket_id: str, text: str, **options: Any) -> str:
        return self.state.conversations.add_thread(ticket_id, text=text, **options).id

    def comment(self, ticket_id: str, text: str, *, public: bool = True) -> str:
        return self.state.conversations.add_comment(ticket_id, text=text, is_public=public).id

    def close(self, ticket_id: str) -> None:
        self.set_status(ticket_id, "Closed")

    def set_status(self, ticket_id: str, status: str) -> None:
        self.state.desk.update_ticket(SANDBOX_ORG_ID, ticket_id, {"status": status})


@asynccontextmanager
async def emulator_client(
    state: EmulatorState, clock: ManualClock
) -> AsyncIterator[ZohoDeskClient]:
    """The real Zoho client, OAuth included, against the in-process emulator ``state``."""
    transport = httpx.ASGITransport(app=create_emulator_app(state))
    async with build_http_client(transport=transport) as http:
        oauth = ZohoOAuth(
            http,
            accounts_url=EMULATOR,
            client_id=SANDBOX_CLIENT_ID,
            client_secret=SANDBOX_CLIENT_SECRET,
            redirect_uri=SANDBOX_REDIRECT_URI,
            scope=SANDBOX_SCOPE,
            clock=clock,
        )
        tokens = TokenManager(
            oauth, InMemoryTokenStore(), clock, refresh_token=SANDBOX_REFRESH_TOKEN
        )
        yield ZohoDeskClient(http, tokens, clock, desk_url=EMULATOR)


async def record_ticket(
    ledger: TicketLedger, ticket_id: str, at: datetime, *, key: str | None = None
) -> TicketDraft:
    """Record ``ticket_id`` in the ledger as a ticket the service created for Ana's
    incident (as the processor does), and return its draft."""
    key = key or f"wa-{ticket_id}"
    draft = TicketDraft(
        key=key,
        request_id=f"req-{ticket_id}",
        subject="Pago no reflejado",
        description="Hola, pagué ayer",
        priority=Priority.MEDIUM,
        customer=ANA,
        source=Source.REDIS,
        received_at=at,
        incident_id=key,
    )
    await ledger.accept(draft)
    ticket = Ticket(
        id=ticket_id, ticket_number=f"#{ticket_id}", contact_id="c1", subject=draft.subject
    )
    event = TicketCreated(
        request_id=draft.request_id,
        incident_id=draft.incident_id,
        ticket_id=ticket.id,
        ticket_number=ticket.ticket_number,
        contact_id=ticket.contact_id,
        web_url=None,
        created_at=at,
        source=draft.source,
    )
    await ledger.complete(key, Outcome.created(draft, ticket, at), event)
    return draft


def payloads(raw: list[str]) -> list[dict[str, Any]]:
    return [json.loads(p) for p in raw]


@dataclass
class SyncWorld:
    """The sync's use cases over in-process adapters (or any given): a helpdesk with agents,
    the ledger, the log with its two streams, the inbox."""

    clock: ManualClock
    desk: FakeDesk
    store: Any  # a TicketStore
    log: Any  # a SyncLog: InMemorySyncLog, or RedisSyncLog
    inbox: Any  # a SyncInbox
    metrics: PrometheusMetrics
    publisher: SyncPublisher
    handle: HandleDeliveries
    receive: ReceiveDelivery
    poll: PollChanges

    @property
    def conversations(self) -> InMemoryConversations:
        return self.desk.conversations  # type: ignore[return-value]

    async def our_ticket(self) -> str:
        """A ticket the service created (in the helpdesk and in the ledger)."""
        ticket_id = self.desk.ticket()
        await record_ticket(self.store, ticket_id, self.clock.now())
        return ticket_id

    def replies(self) -> list[dict[str, Any]]:
        return payloads(self.log.replies)

    def statuses(self) -> list[dict[str, Any]]:
        return payloads(self.log.status)

    def counted(self, name: str, **labels: str) -> float:
        return sample(parse(generate_latest(self.metrics.registry).decode()), name, **labels) or 0


def sync_world(
    clock: ManualClock,
    *,
    conversations: InMemoryConversations | None = None,
    store: Any = None,
    log: Any = None,
    inbox: Any = None,
    leases: Any = None,
    idle: float = 60.0,
    **options: Any,
) -> SyncWorld:
    """The sync over in-process adapters, or over those given (Redis ones, shared by two
    worlds as by two processes)."""
    conversations = conversations or InMemoryConversations(clock)
    store = store or InMemoryTicketStore(clock)
    log = log or InMemorySyncLog()
    inbox = inbox or InMemorySyncInbox(clock)
    leases = leases or InMemoryLeases(clock)
    metrics = PrometheusMetrics()
    publisher = SyncPublisher(conversations, store, log, leases, clock, metrics)
    poll = PollChanges(
        conversations,
        publisher,
        log,
        leases,
        clock,
        metrics,
        owner=options.get("owner", "poller-1"),
        overlap=options.get("overlap", 30.0),
        first_window=options.get("first_window", 3600.0),
        follow_closed=options.get("follow_closed", 86400.0),
        lease_ttl=options.get("lease_ttl", 180.0),
    )
    return SyncWorld(
        clock=clock,
        desk=FakeDesk(conversations),
        store=store,
        log=log,
        inbox=inbox,
        metrics=metrics,
        publisher=publisher,
        handle=HandleDeliveries(inbox, publisher, idle=idle),
        receive=ReceiveDelivery(inbox, metrics),
        poll=poll,
    )


def thread_added(ticket_id: str, thread_id: str) -> WebhookEvent:
    return WebhookEvent("Ticket_Thread_Add", "1", ticket_id, thread_id)


def comment_added(ticket_id: str, comment_id: str) -> WebhookEvent:
    return WebhookEvent("Ticket_Comment_Add", "1", ticket_id, comment_id)


def ticket_updated(ticket_id: str, status: str = "Closed", before: str = "Open") -> WebhookEvent:
    return WebhookEvent("Ticket_Update", "1", ticket_id, ticket_id, None, status, before)


async def resolved(value: Any) -> Any:
    """A container provider's value, awaited when it is built from an async resource."""
    return await value if inspect.isawaitable(value) else value
