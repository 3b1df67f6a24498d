"""What the entrypoints get: use cases, and what an entrypoint needs itself; never the raw
store or the processor the use cases wrap."""

from __future__ import annotations

import typing
from dataclasses import fields

import pytest

from ticketing.application.tickets import TicketProcessor
from ticketing.container import Services, start, stop
from ticketing.domain.ports import (
    DeadLetters,
    PendingQueue,
    QueueMonitor,
    TicketLedger,
    TicketStore,
)

from tests.support.containers import store_of
from tests.support.http import make_container

RAW = {TicketStore, TicketLedger, PendingQueue, DeadLetters, QueueMonitor, TicketProcessor}


def test_no_field_is_typed_as_the_store_or_the_processor() -> None:
    """Each entrypoint goes through a use case: no field of ``Services`` is declared as the
    ticket store, one of its narrow ports, or the ticket processor."""
    hints = typing.get_type_hints(Services)
    raw = {name: hint for name, hint in hints.items() if hint in RAW}
    assert not raw, raw


@pytest.mark.anyio
async def test_no_service_is_the_containers_store() -> None:
    """The built services hold no reference to the store itself (tests that assert on its
    state take it from the container, with ``store_of``)."""
    container = make_container()
    services = await start(container)
    try:
        store = await store_of(container)
        assert all(getattr(services, f.name) is not store for f in fields(services))
    finally:
        await stop(container)
