"""The sync's rules on in-process adapters: which threads, comments and status changes become
events, what the events hold (fetched from the helpdesk, never from a delivery), and that each
helpdesk id gives one event however often and by whichever way it is reported."""

from __future__ import annotations

import pytest

from ticketing.domain.conversation import Attachment, Author

from tests.support.clock import ManualClock
from tests.support.sync import (
    SyncWorld,
    comment_added,
    sync_world,
    thread_added,
    ticket_updated,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def w(clock: ManualClock) -> SyncWorld:
    return sync_world(clock)


async def deliver(w: SyncWorld, *events: object) -> None:
    await w.receive(list(events))  # type: ignore[arg-type]
    await w.handle("worker-1")


async def test_a_public_agent_reply_becomes_exactly_the_contract_event(w: SyncWorld) -> None:
    """The reply event carries the contract's fields, the text as Zoho's plain text, and the
    customer and ids the service recorded when it created the ticket."""
    ticket = await w.our_ticket()
    w.clock.advance(30)
    reply = w.desk.reply(ticket, "Hola Ana, ya está")
    w.clock.advance(2)
    await deliver(w, thread_added(ticket, reply))
    assert w.replies() == [
        {
            "event_id": reply,
            "kind": "reply",
            "ticket_id": ticket,
            "ticket_number": f"#{ticket}",
            "incident_id": f"wa-{ticket}",
            "request_id": f"req-{ticket}",
            "customer": {"name": "Ana López", "email": "ana@example.com", "phone": "+525512345678"},
            "author": {"name": "Agent", "type": "AGENT"},
            "text": "Hola Ana, ya está",
            "attachments": [],
            "created_at": "2026-11-26T10:00:30Z",
            "org_id": "1",
        }
    ]
    assert w.counted("ticketing_sync_events_total", kind="reply") == 1
    assert w.counted("ticketing_sync_reply_latency_seconds_sum") == 2


async def test_attachments_keep_zoho_s_fields_and_a_reply_s_gain_the_download_path(
    w: SyncWorld,
) -> None:
    """Each attachment keeps name, size and Zoho's url (the contract's) and gains
    ``download``: the service's path for a reply's file; None for a comment's file (Zoho has
    no content route for those) and for a file Zoho gave no id."""
    ticket = await w.our_ticket()
    photo = Attachment("9001", "recibo.png", 12734, "https://desk.zoho.eu/api/v1/x/9001")
    reply = w.conversations.add_thread(
        ticket, "Adjunto el recibo", attachments=(photo, Attachment(None, "sin-id.txt"))
    ).id
    comment = w.conversations.add_comment(ticket, "Y la factura", attachments=(photo,)).id
    await deliver(w, thread_added(ticket, reply), comment_added(ticket, comment))
    by_kind = {e["kind"]: e["attachments"] for e in w.replies()}
    assert by_kind == {
        "reply": [
            {
                "name": "recibo.png",
                "size": 12734,
                "url": "https://desk.zoho.eu/api/v1/x/9001",
                "download": f"/tickets/{ticket}/threads/{reply}/attachments/9001",
            },
            {"name": "sin-id.txt", "size": None, "url": None, "download": None},
        ],
        "comment": [
            {
                "name": "recibo.png",
                "size": 12734,
                "url": "https://desk.zoho.eu/api/v1/x/9001",
                "download": None,
            }
        ],
    }


async def test_only_public_agent_replies_and_comments_become_events(w: SyncWorld) -> None:
    """Private threads, drafts, pending and failed sends, the customer's messages, private
    comments, the customer's comments and the service's own comments publish nothing; a
    public agent comment publishes a comment event."""
    ticket = await w.our_ticket()
    quiet = [
        w.desk.reply(ticket, "nota", visibility="private"),
        w.desk.reply(ticket, "borrador", status="DRAFT"),
        w.desk.reply(ticket, "enviando", status="PENDING"),
        w.desk.reply(ticket, "falló", status="FAILED"),
        w.desk.reply(ticket, "del cliente", direction="in"),
    ]
    private = w.desk.comment(ticket, "revisar", public=False)
    by_customer = w.conversations.add_comment(
        ticket, "yo también", author=Author("5", "Ana", "END_USER")
    ).id
    own = w.desk.comment(ticket, "[Cliente] ¿novedades?")
    await w.log.record_own_comment(own)
    public = w.desk.comment(ticket, "Lo revisamos hoy")
    events = [thread_added(ticket, t) for t in quiet]
    events += [comment_added(ticket, c) for c in (private, by_customer, own, public)]
    await deliver(w, *events)
    assert [(e["kind"], e["event_id"], e["text"]) for e in w.replies()] == [
        ("comment", public, "Lo revisamos hoy")
    ]
    assert w.counted("ticketing_sync_skipped_total", reason="private") == 8


async def test_tickets_the_service_did_not_create_are_left_alone(w: SyncWorld) -> None:
    """A reply on a ticket the ledger does not know publishes nothing."""
    foreign = w.desk.ticket()
    reply = w.desk.reply(foreign, "hola")
    await deliver(w, thread_added(foreign, reply), ticket_updated(foreign))
    assert (w.log.replies, w.log.status) == ([], [])
    assert w.counted("ticketing_sync_skipped_total", reason="foreign") == 2


async def test_a_forged_delivery_with_unknown_ids_publishes_nothing(w: SyncWorld) -> None:
    """A delivery naming one of our tickets but a thread or comment Zoho does not hold (or
    another ticket's) publishes nothing, is counted, and is not retried."""
    ticket = await w.our_ticket()
    other = await w.our_ticket()
    elsewhere = w.desk.reply(other, "de otro ticket")
    await deliver(
        w,
        thread_added(ticket, "999999"),
        comment_added(ticket, "888888"),
        thread_added(ticket, elsewhere),
        ticket_updated("777777"),
    )
    assert (w.log.replies, w.log.status) == ([], [])
    assert w.counted("ticketing_sync_skipped_total", reason="unknown") == 3
    assert w.counted("ticketing_sync_skipped_total", reason="foreign") == 1
    assert await w.inbox.backlog() == 0


async def test_a_delivery_made_three_times_gives_one_event(w: SyncWorld) -> None:
    """The same reply and close delivered three times: one reply and one status event, and
    the repeats cost no helpdesk call for the reply."""
    ticket = await w.our_ticket()
    reply = w.desk.reply(ticket, "Hola")
    w.desk.close(ticket)
    for _ in range(3):
        await deliver(w, thread_added(ticket, reply), ticket_updated(ticket))
    assert [e["event_id"] for e in w.replies()] == [reply]
    assert [(e["status"], e["previous_status"]) for e in w.statuses()] == [("Closed", "Open")]
    assert w.conversations.calls["get_thread"] == 1


async def test_each_status_change_is_one_event_whoever_reports_it(w: SyncWorld) -> None:
    """Close, reopen, close: three events numbered by change; a webhook and a poll of each
    agree, and a stale delivery of an old change adds nothing."""
    ticket = await w.our_ticket()
    w.clock.advance(10)
    w.desk.close(ticket)
    await deliver(w, ticket_updated(ticket))
    await w.poll()
    w.clock.advance(10)
    w.desk.set_status(ticket, "Open")
    await w.poll()
    await deliver(w, ticket_updated(ticket, "Open", "Closed"))
    w.clock.advance(10)
    w.desk.close(ticket)
    await deliver(w, ticket_updated(ticket), ticket_updated(ticket, "Open", "Closed"))
    await w.poll()
    assert [(e["event_id"], e["previous_status"], e["status"]) for e in w.statuses()] == [
        (f"{ticket}:status:1", "Open", "Closed"),
        (f"{ticket}:status:2", "Closed", "Open"),
        (f"{ticket}:status:3", "Open", "Closed"),
    ]
    assert w.statuses()[0]["changed_at"] == "2026-11-26T10:00:10Z"
    assert set(w.statuses()[0]) == {
        "event_id",
        "ticket_id",
        "ticket_number",
        "incident_id",
        "status",
        "previous_status",
        "customer",
        "changed_at",
        "org_id",
    }
