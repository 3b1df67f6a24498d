"""The two-way calls of the real Zoho client against the in-process emulator: what the
client sends the emulator accepts, and a reply, a private note, comments and a close made
in the emulator come back as the domain's threads, comments, states and deliveries."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest

from ticketing.adapters.zoho_desk.client import ZohoDeskClient
from ticketing.adapters.zoho_desk.wire_sync import SYNC_SUBSCRIPTIONS
from ticketing.domain.conversation import Comment, Thread
from zoho_desk_emulator import (
    SANDBOX_DEPARTMENT_ID,
    SANDBOX_ORG_ID,
    EmulatorState,
)

from tests.support.clock import ManualClock
from tests.support.sync import EMULATOR, emulator_client
from tests.zoho_desk_emulator.helpers import SUBSCRIBER, Receiver

pytestmark = pytest.mark.anyio

BASE = EMULATOR


@pytest.fixture
def receiver() -> Receiver:
    return Receiver()


@pytest.fixture
def state(clock: ManualClock, receiver: Receiver) -> EmulatorState:
    return EmulatorState(clock, webhook_transport=httpx.ASGITransport(receiver))


@pytest.fixture
async def zoho(state: EmulatorState, clock: ManualClock) -> AsyncIterator[ZohoDeskClient]:
    async with emulator_client(state, clock) as client:
        yield client


async def test_the_whole_two_way_surface_round_trips(
    zoho: ZohoDeskClient, state: EmulatorState, receiver: Receiver, clock: ManualClock
) -> None:
    """Subscribe; an agent replies publicly and privately, comments, the service comments,
    the agent closes: the deliveries carry each, and the reads see them as Zoho holds them."""
    hook = await zoho.create_webhook(
        SUBSCRIBER,
        SYNC_SUBSCRIPTIONS,
        name="ticketing",
        description="ticketing: agent replies and status changes",
    )
    ticket = state.desk.create_ticket(
        SANDBOX_ORG_ID,
        {
            "subject": "Pago no reflejado",
            "departmentId": SANDBOX_DEPARTMENT_ID,
            "contact": {"lastName": "López", "firstName": "Ana", "email": "ana@example.com"},
            "description": "Hola, pagué ayer",
            "channel": "WhatsApp",
        },
        BASE,
    )
    created = ticket.created_time
    clock.advance(60)
    public = state.conversations.add_thread(ticket.id, content="<p>Hola <b>Ana</b>, ya está</p>")
    state.conversations.add_thread(ticket.id, text="nota interna", visibility="private")
    state.conversations.add_comment(ticket.id, text="revisar mañana", is_public=False)
    mine = await zoho.add_comment(ticket.id, "[Cliente] ¿Alguna novedad?")
    clock.advance(60)
    state.desk.update_ticket(SANDBOX_ORG_ID, ticket.id, {"status": "Closed"})
    await state.webhooks.drain()

    types = [e["eventType"] for e in receiver.events()]
    assert types == [
        "Ticket_Thread_Add",
        "Ticket_Thread_Add",
        "Ticket_Comment_Add",
        "Ticket_Comment_Add",
        "Ticket_Update",
    ]
    assert receiver.events()[-1]["prevState"]["status"] == "Open"

    used = state.credits_left()
    threads = await zoho.list_threads(ticket.id)
    assert state.credits_left() == used - 3
    replies = [t for t in threads if t.is_public_agent_reply]
    assert [t.id for t in replies] == [public.id]
    reply = await zoho.get_thread(ticket.id, public.id)
    assert state.credits_left() == used - 4
    assert reply.plain_text == "Hola Ana, ya está"
    assert reply.author.is_agent
    latest = await zoho.latest_thread(ticket.id, public_only=True)
    assert latest is not None
    assert latest.id == public.id

    comments = await zoho.list_comments(ticket.id)
    assert [(c.plain_text, c.is_public) for c in comments] == [
        ("revisar mañana", False),
        ("[Cliente] ¿Alguna novedad?", True),
    ]
    assert (await zoho.get_comment(ticket.id, mine.id)).plain_text == mine.plain_text
    conversation = await zoho.list_conversations(ticket.id)
    assert sorted(type(i).__name__ for i in conversation) == sorted(
        ["Thread"] * 3 + ["Comment"] * 2
    )
    assert all(isinstance(i, Thread | Comment) for i in conversation)

    now = await zoho.ticket_state(ticket.id)
    assert now.is_closed
    assert now.closed_time == created + timedelta(seconds=120)
    changed = await zoho.modified_tickets(created + timedelta(seconds=90), clock.now())
    assert [t.id for t in changed] == [ticket.id]
    assert await zoho.modified_tickets(created, created + timedelta(seconds=30)) == []

    assert [w.id for w in await zoho.list_webhooks()] == [hook.id]
    off = await zoho.update_webhook(hook.id, SYNC_SUBSCRIPTIONS, enabled=False)
    assert off.enabled is False
    await zoho.delete_webhook(hook.id)
    assert await zoho.list_webhooks() == []
    assert zoho.credits_remaining == state.credits_left()
