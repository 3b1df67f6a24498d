"""The look-up after an ambiguous create finds only the key's own ticket: never another key's
of the same customer and subject, whatever Zoho's clock says, and not before a create that
Zoho commits late has had its chance. Through the HTTP API and the drain, against the Zoho
Desk emulator (in-process, or served on a real socket for timeouts) and real Redis."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from ticketing.application.intake import ANONYMOUS_CLIENT, scoped_key
from ticketing.domain.model import TicketState, reference_line
from zoho_desk_emulator import EmulatorState

from tests.integration.failures import served_emulator
from tests.integration.test_failure_paths import (
    LOOKUPS,
    app,
    desk_calls,
    form,
    process,
    record_of,
    sandbox,
    tickets,
)
from tests.integration.wired import RedisBackend, wait_for, wire
from tests.support.clock import ManualClock
from tests.support.env import zoho_at
from tests.support.processes import free_port

pytestmark = pytest.mark.anyio

Client = AsyncTestClient  # type: ignore[type-arg]
SUBJECT = "Consulta desde la web"  # a web form's fixed subject


async def submit(client: Client, key: str, **fields: str) -> Any:
    return await client.post(
        "/tickets/customer", data={**form(SUBJECT), **fields}, headers={"Idempotency-Key": key}
    )


# ------------------------------------------------------------------ hole 1: another key's ticket


@pytest.mark.parametrize(
    "fault",
    [{"error_rate": 1.0}, {"create_then_fail": 1}],
    ids=["500-before-commit", "500-after-commit"],
)
async def test_same_customer_and_subject_under_another_key_gets_its_own_ticket(
    clock: ManualClock, backend: RedisBackend, fault: dict[str, Any]
) -> None:
    """order-A is created; order-B (same customer, same subject) meets a 500 that Zoho
    answered before or after committing it. After recovery order-B has its own ticket (the
    one Zoho made, or a new one once the grace has passed) and order-A's is untouched."""
    emulator = EmulatorState(clock)
    container = wire(
        backend.env(ZOHO_SEARCH_LAG="30"), backend=backend, emulator=emulator, clock=clock
    )
    async with Client(app(container)) as client:
        first = await submit(client, "order-A")
        assert first.status_code == 201, first.text
        a_ticket = first.json()["ticket_id"]
        emulator.apply_faults(fault)
        assert (await submit(client, "order-B")).status_code == 202
        emulator.faults.clear()

        await process(client)
        clock.advance(31)
        report = await process(client)
        assert report["remaining"] == 0, report
        a = client.blocking_portal.call(record_of, container, "order-A")
        b = client.blocking_portal.call(record_of, container, "order-B")
    assert a is not None
    assert b is not None
    assert (a.state, a.ticket_id) == (TicketState.CREATED, a_ticket)
    assert b.state is TicketState.CREATED
    assert b.ticket_id != a_ticket
    assert len(tickets(emulator, SUBJECT)) == 2
    assert {emulator.tickets[t].contact_id for t in (a_ticket, b.ticket_id)} == {a.contact_id}


async def test_a_ticket_recorded_for_another_key_is_never_taken(
    clock: ManualClock, backend: RedisBackend
) -> None:
    """Even when order-A's ticket carries order-B's reference (the customer typed it, or
    two keys' references collided), the ledger knows that ticket is order-A's: order-B's
    ambiguous create is posted once the grace has passed, and gets a ticket of its own."""
    emulator = EmulatorState(clock)
    container = wire(
        backend.env(ZOHO_SEARCH_LAG="30"), backend=backend, emulator=emulator, clock=clock
    )
    typed = "Pagué ayer." + reference_line(scoped_key(ANONYMOUS_CLIENT, "order-B"))
    async with Client(app(container)) as client:
        first = await submit(client, "order-A", description=typed)
        assert first.status_code == 201, first.text
        a_ticket = first.json()["ticket_id"]
        emulator.apply_faults({"error_rate": 1.0})
        assert (await submit(client, "order-B")).status_code == 202
        emulator.faults.clear()

        inside_grace = await process(client)
        assert inside_grace["created"] == 0  # found order-A's ticket, and left it
        clock.advance(31)
        assert (await process(client))["created"] == 1
        b = client.blocking_portal.call(record_of, container, "order-B")
    assert b is not None
    assert b.ticket_id not in (None, a_ticket)
    assert len(tickets(emulator, SUBJECT)) == 2
    async with backend.connected() as redis:  # the ticket-id records live under the prefix
        owners = {
            ticket: await redis.get(f"{backend.prefix}ticketing:ticket-key:{ticket}")
            for ticket in (a_ticket, b.ticket_id)
        }
    assert owners == {
        a_ticket: scoped_key(ANONYMOUS_CLIENT, "order-A").encode(),
        b.ticket_id: scoped_key(ANONYMOUS_CLIENT, "order-B").encode(),
    }


# ------------------------------------------------------------------ hole 3: Zoho's clock


@pytest.mark.parametrize("skew", [300, -300], ids=["zoho-5min-ahead", "zoho-5min-behind"])
async def test_ambiguous_create_is_found_when_the_hosts_clock_is_5_minutes_off(
    clock: ManualClock, skew: int
) -> None:
    """Zoho's clock 5 minutes away from the service's: the ticket an ambiguous create made
    is found by the drain (its createdTime compared in Zoho's clock), never posted twice."""
    container, emulator = sandbox(clock, ZOHO_SEARCH_LAG="30")
    emulator.apply_faults({"clock_skew": skew, "create_then_fail": 1})
    async with Client(app(container)) as client:
        assert (await submit(client, "k-skew")).status_code == 202
        [made] = tickets(emulator, SUBJECT)

        clock.advance(120)  # well past the grace: a miss would post it again
        report = await process(client)
        record = await record_of(container, "k-skew")
    assert report["remaining"] == 0, report
    assert record is not None
    assert (record.state, record.ticket_id) == (TicketState.CREATED, made.id)
    assert desk_calls(emulator, "POST", "/tickets") == 1
    assert emulator.tickets_created == 1


# ------------------------------------------------------------------ hole 4: a late commit


@pytest.mark.slow
@pytest.mark.parametrize("lookup", LOOKUPS)
async def test_a_create_committed_after_the_timeout_is_found_not_posted_again(
    lookup: dict[str, str],
) -> None:
    """Zoho commits the create 3 s after it arrived (a proxy held it), the client gave up
    at 2 s: the grace (2 s) counts from that timeout, so the drain finds the late ticket
    instead of posting a second one at 2 s after the start."""
    emulator = EmulatorState()
    emulator.apply_faults({"create_late": 1, "commit_delay": 3})
    with served_emulator(emulator, free_port()) as url:
        container = wire(zoho_at(url, ZOHO_TIMEOUT="2", ZOHO_SEARCH_LAG="2", **lookup))
        async with Client(app(container)) as client:
            response = await submit(client, "k-late")
            assert response.status_code == 202, response.text

            async def drained() -> bool:
                return (await process(client))["remaining"] == 0

            await wait_for(drained, within=8, what="the late ticket found")
            record = await record_of(container, "k-late")
        emulator.settle()
    assert record is not None
    assert record.state is TicketState.CREATED
    assert emulator.tickets_created == 1
    assert desk_calls(emulator, "POST", "/tickets") == 1
