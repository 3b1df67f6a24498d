"""The drain as a stream: the next batch is claimed while the last one is still at Zoho."""

from __future__ import annotations

import anyio
import pytest

from ticketing.adapters.memory import InMemoryContactCache, InMemoryLeases, InMemoryTicketStore
from ticketing.adapters.memory_gate import InMemoryCallGate
from ticketing.adapters.memory_helpdesk import InMemoryHelpdesk
from ticketing.application.contacts import ContactResolver
from ticketing.application.guard import GuardedHelpdesk
from ticketing.application.intake import IntakePolicy, customer_ticket
from ticketing.application.tickets import DrainQueue, TicketProcessor
from ticketing.domain.breaker import CircuitBreaker
from ticketing.domain.model import QueuedTicket, Ticket, TicketRequest

from tests.support.clock import ManualClock

pytestmark = pytest.mark.anyio


class SlowHelpdesk(InMemoryHelpdesk):
    """Ticket creation that takes a little while, counting how many run at once."""

    def __init__(self, clock: ManualClock) -> None:
        super().__init__(clock=clock)
        self.running = 0
        self.peak = 0

    async def create_ticket(self, request: TicketRequest) -> Ticket:
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            await anyio.sleep(0.005)
            return await super().create_ticket(request)
        finally:
            self.running -= 1


class WatchedStore(InMemoryTicketStore):
    """Remembers how many creates were under way at each claim."""

    helpdesk: SlowHelpdesk | None = None
    creates_at_claim: list[int]

    async def claim(self, consumer: str, count: int, min_idle: float) -> list[QueuedTicket]:
        assert self.helpdesk is not None
        self.creates_at_claim.append(self.helpdesk.running)
        return await super().claim(consumer, count, min_idle)


async def test_the_next_batch_is_claimed_while_calls_are_under_way(clock: ManualClock) -> None:
    """40 tickets, batches of 5, a gate of 3 slots and 6 tickets in progress: claims happen
    while creates are still running (no slot waits for a batch to finish), the gate holds
    Zoho to 3 at once, and every ticket is created once in one pass."""
    helpdesk = SlowHelpdesk(clock)
    store = WatchedStore(clock)
    store.helpdesk = helpdesk
    store.creates_at_claim = []
    leases = InMemoryLeases(clock)
    guard = GuardedHelpdesk(
        helpdesk,
        CircuitBreaker(clock, failure_threshold=3, timeout=30),
        clock,
        InMemoryCallGate(clock, 3),
    )
    contacts = ContactResolver(guard, InMemoryContactCache(clock), leases, clock)
    processor = TicketProcessor(store, guard, contacts, clock)
    drain = DrainQueue(store, processor, guard, consumer="main", concurrency=6, batch_size=5)
    for n in range(40):
        draft = customer_ticket(
            customer_name="Ana López",
            customer_email=f"c{n % 4}@example.com",
            customer_phone=None,
            subject=f"Consulta {n}",
            description="Hola",
            priority="alta",
            category=None,
            channel=None,
            key=f"k{n}",
            received_at=clock.now(),
            policy=IntakePolicy(),
        )
        await store.accept(draft)

    report = await drain()

    assert (report.processed, report.created, report.remaining) == (40, 40, 0)
    assert helpdesk.count("create_ticket") == 40
    assert helpdesk.peak == 3
    assert max(store.creates_at_claim) > 0  # a claim while tickets were at Zoho
    assert len(helpdesk.contacts) == 4
