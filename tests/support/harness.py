"""A wired set of use cases over the in-memory adapters: the application tests' harness."""

from __future__ import annotations

from dataclasses import dataclass

from ticketing.adapters.memory import InMemoryContactCache, InMemoryLeases, InMemoryTicketStore
from ticketing.adapters.memory_helpdesk import InMemoryHelpdesk
from ticketing.application.contacts import ContactResolver
from ticketing.application.guard import GuardedHelpdesk
from ticketing.application.intake import IntakePolicy, customer_ticket
from ticketing.application.tickets import (
    DrainQueue,
    ProcessingPolicy,
    SubmitTicket,
    TicketProcessor,
)
from ticketing.domain.breaker import CircuitBreaker
from ticketing.domain.model import TicketDraft

from tests.support.clock import ManualClock


@dataclass
class Harness:
    """The ticket use cases wired over the in-memory adapters, on a manual clock; tests
    assert on the adapters' state."""

    clock: ManualClock
    helpdesk: InMemoryHelpdesk
    store: InMemoryTicketStore
    leases: InMemoryLeases
    cache: InMemoryContactCache
    breaker: CircuitBreaker
    guarded: GuardedHelpdesk
    contacts: ContactResolver
    processor: TicketProcessor
    submit: SubmitTicket
    drain: DrainQueue

    def draft(
        self, email: str = "ana@example.com", key: str | None = None, **kw: object
    ) -> TicketDraft:
        fields: dict[str, object] = {
            "customer_name": "Ana López",
            "customer_email": email,
            "customer_phone": None,
            "subject": "Pago no reflejado",
            "description": "Pagué ayer y no llega la confirmación",
            "priority": "alta",
            "category": "billing",
            "channel": None,
            "key": key,
        }
        fields.update(kw)
        return customer_ticket(
            **fields,  # type: ignore[arg-type]
            received_at=self.clock.now(),
            policy=IntakePolicy(),
        )

    def second_drain(self, consumer: str = "other") -> DrainQueue:
        return DrainQueue(
            self.store, self.processor, self.guarded, consumer=consumer, concurrency=4
        )

    def later(self, seconds: float) -> None:
        self.clock.advance(seconds)


def make_harness(clock: ManualClock, **helpdesk_kw: object) -> Harness:
    """A fresh harness on ``clock``; ``helpdesk_kw`` configures the in-memory helpdesk."""
    helpdesk = InMemoryHelpdesk(clock=clock, **helpdesk_kw)  # type: ignore[arg-type]
    store = InMemoryTicketStore(clock)
    leases = InMemoryLeases(clock)
    cache = InMemoryContactCache(clock)
    breaker = CircuitBreaker(clock, failure_threshold=3, timeout=30)
    guarded = GuardedHelpdesk(helpdesk, breaker, clock)
    contacts = ContactResolver(guarded, cache, leases, clock)
    processor = TicketProcessor(
        store,
        guarded,
        contacts,
        clock,
        ProcessingPolicy(max_deliveries=5, ambiguous_grace=30),
    )
    return Harness(
        clock=clock,
        helpdesk=helpdesk,
        store=store,
        leases=leases,
        cache=cache,
        breaker=breaker,
        guarded=guarded,
        contacts=contacts,
        processor=processor,
        submit=SubmitTicket(store, processor, guarded),
        drain=DrainQueue(store, processor, guarded, consumer="main", concurrency=4),
    )
