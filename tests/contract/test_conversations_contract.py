"""The Conversations contract: the same assertions on the in-memory fake and on the real Zoho
client against the emulator, so the fake the sync's tests use cannot drift from Zoho."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import timedelta

import pytest

from ticketing.adapters.memory import InMemoryConversations
from ticketing.domain.conversation import Comment, Thread
from ticketing.domain.errors import HelpdeskRejected
from zoho_desk_emulator import EmulatorState

from tests.support.clock import ManualClock
from tests.support.sync import Desk, EmulatorDesk, FakeDesk, emulator_client

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def fake(clock: ManualClock) -> AsyncIterator[Desk]:
    yield FakeDesk(InMemoryConversations(clock))


@asynccontextmanager
async def emulated(clock: ManualClock) -> AsyncIterator[Desk]:
    state = EmulatorState(clock)
    async with emulator_client(state, clock) as client:
        yield EmulatorDesk(state, client)


FACTORIES: dict[str, Callable[[ManualClock], AbstractAsyncContextManager[Desk]]] = {
    "memory": fake,
    "zoho-emulator": emulated,
}


@pytest.fixture(params=sorted(FACTORIES))
async def desk(request: pytest.FixtureRequest, clock: ManualClock) -> AsyncIterator[Desk]:
    async with FACTORIES[request.param](clock) as made:
        yield made


async def test_a_thread_comes_back_with_its_plain_text_and_kind(
    desk: Desk, clock: ManualClock
) -> None:
    """An agent's public reply is read back as one, with its text as plain text."""
    ticket = desk.ticket()
    clock.advance(5)
    reply = desk.reply(ticket, "Hola Ana, ya está")
    private = desk.reply(ticket, "nota interna", visibility="private")
    thread = await desk.conversations.get_thread(ticket, reply)
    assert (thread.plain_text, thread.author.is_agent) == ("Hola Ana, ya está", True)
    assert thread.is_public_agent_reply
    assert thread.created_time == clock.now()
    assert not (await desk.conversations.get_thread(ticket, private)).is_public_agent_reply


async def test_comments_are_read_with_their_visibility(desk: Desk) -> None:
    """A public and a private comment come back as such, with their text and an agent."""
    ticket = desk.ticket()
    public = desk.comment(ticket, "Lo revisamos hoy")
    private = desk.comment(ticket, "revisar mañana", public=False)
    got = await desk.conversations.get_comment(ticket, public)
    assert (got.plain_text, got.is_public, got.author.is_agent) == ("Lo revisamos hoy", True, True)
    assert not (await desk.conversations.get_comment(ticket, private)).is_public


async def test_the_conversation_lists_threads_and_comments_newest_first(
    desk: Desk, clock: ManualClock
) -> None:
    """The list holds the new reply and comment (summaries), newest first."""
    ticket = desk.ticket()
    clock.advance(1)
    reply = desk.reply(ticket, "primero")
    clock.advance(1)
    comment = desk.comment(ticket, "segundo")
    items = await desk.conversations.list_conversations(ticket)
    ours = [i for i in items if i.id in (reply, comment)]
    assert [(type(i), i.id) for i in ours] == [(Comment, comment), (Thread, reply)]
    listed = next(i for i in ours if isinstance(i, Thread))
    assert (listed.direction, listed.visibility, listed.status) == ("out", "public", "SUCCESS")


async def test_a_status_change_shows_in_the_state_and_the_modified_search(
    desk: Desk, clock: ManualClock
) -> None:
    """Closing a ticket is seen in its state, and the search of modified tickets finds it
    in a window around the change and not in one before it."""
    ticket = desk.ticket()
    before = clock.now()
    clock.advance(60)
    desk.close(ticket)
    state = await desk.conversations.ticket_state(ticket)
    assert state.is_closed
    assert state.modified_time == clock.now()
    window = await desk.conversations.modified_tickets(
        clock.now() - timedelta(seconds=5), clock.now()
    )
    assert [t.id for t in window] == [ticket]
    assert await desk.conversations.modified_tickets(before, before + timedelta(seconds=30)) == []
    assert await desk.conversations.org_id()


async def test_ids_the_helpdesk_does_not_hold_are_refused(desk: Desk) -> None:
    """An unknown thread, comment or ticket is a HelpdeskRejected, not an empty answer."""
    ticket = desk.ticket()
    other = desk.ticket()
    reply = desk.reply(other, "de otro ticket")
    with pytest.raises(HelpdeskRejected):
        await desk.conversations.get_thread(ticket, "999999999")
    with pytest.raises(HelpdeskRejected):
        await desk.conversations.get_thread(ticket, reply)  # another ticket's thread
    with pytest.raises(HelpdeskRejected):
        await desk.conversations.get_comment(ticket, "999999999")
    with pytest.raises(HelpdeskRejected):
        await desk.conversations.ticket_state("999999999")
