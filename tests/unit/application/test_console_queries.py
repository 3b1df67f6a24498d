"""What the console reads besides /health: the tokens' facts (None when they cannot be read)
and the recent tickets (the created events, newest first)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from ticketing.adapters.memory import InMemoryTicketStore
from ticketing.application.queries import CheckHealth
from ticketing.application.story import RecentTickets
from ticketing.domain.errors import StoreUnavailable
from ticketing.domain.model import (
    Customer,
    Outcome,
    Priority,
    Source,
    TicketCreated,
    TicketDraft,
    TicketState,
)
from ticketing.domain.ports import TokenStatus

from tests.support.clock import ManualClock

pytestmark = pytest.mark.anyio

AT = datetime(2026, 11, 26, 10, 5, tzinfo=UTC)


class Tokens:
    """Credentials whose report is given, or fails."""

    def __init__(self, status: TokenStatus | None) -> None:
        self.status = status

    async def report(self) -> TokenStatus:
        if self.status is None:
            raise StoreUnavailable("Redis at fake:6379 failed (reading the tokens)")
        return self.status


def health(credentials: Any) -> CheckHealth:
    """Only the credentials matter to ``tokens()``."""
    nothing: Any = None
    return CheckHealth(
        nothing, nothing, nothing, mode="sandbox", store_kind="memory", credentials=credentials
    )


async def test_tokens_are_the_credentials_report() -> None:
    status = TokenStatus(store="memory", authorized=True, refreshes=2)
    assert await health(Tokens(status)).tokens() == status


async def test_tokens_that_cannot_be_read_are_none() -> None:
    """A store failure while reading the tokens is no failure of the page: None."""
    assert await health(Tokens(None)).tokens() is None
    assert await health(None).tokens() is None


async def test_recent_tickets_are_the_newest_created_events() -> None:
    store = InMemoryTicketStore(ManualClock())
    for n in range(3):
        draft = TicketDraft(
            key=f"k{n}",
            request_id=f"req-{n}",
            subject="Pago",
            description="Hola",
            priority=Priority.HIGH,
            customer=Customer(email="ana@example.com"),
            source=Source.HTTP,
            received_at=AT,
        )
        await store.accept(draft)
        outcome = Outcome(
            key=draft.key, request_id=draft.request_id, state=TicketState.CREATED, ticket_id=f"t{n}"
        )
        event = TicketCreated(
            request_id=draft.request_id,
            incident_id=None,
            ticket_id=f"t{n}",
            ticket_number=str(100 + n),
            contact_id=None,
            web_url=None,
            created_at=AT,
            source=Source.HTTP,
        )
        await store.complete(draft.key, outcome, event)
    assert [e.request_id for e in await RecentTickets(store)(2)] == ["req-2", "req-1"]
