"""`show KEY|REQUEST_ID|INCIDENT_ID` (a request's story) and `queue list` (the pending
queue, oldest first)."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

import msgspec

from ticketing.domain.errors import NotFound
from ticketing.entrypoints.cli.errors import EXIT_OK
from ticketing.entrypoints.cli.render import emit, render_fields, render_table, when
from ticketing.entrypoints.story import StoryOut, pending_out, story_out

if TYPE_CHECKING:
    from ticketing.container import Services


async def show(services: Services, args: argparse.Namespace) -> int:
    """Any key as stored (an incident id, ``api/<client>/<key>``) or a request id; not found
    is an error (exit 1, one line)."""
    story = await services.story(args.ref)
    if story is None:
        raise NotFound(
            f"no request {args.ref!r}: not a known idempotency key, request_id or incident_id"
        )
    out = story_out(story, caller=False)
    emit(args, msgspec.to_builtins(out), lambda: _story_text(out))
    return EXIT_OK


def _story_text(out: StoryOut) -> str:
    rows: list[tuple[str, Any]] = [
        ("key", out.key),
        ("request_id", out.request_id),
        ("incident_id", out.incident_id or "-"),
        ("source", out.source or "-"),
        ("state", out.state),
    ]
    if out.ticket is not None:
        rows.append(("ticket", f"{out.ticket.id} #{out.ticket.number or '?'}"))
        rows.append(("url", out.ticket.url or "-"))
    rows.append(("attempts", out.attempts))
    if out.last_attempt_at is not None:
        rows.append(("last attempt", when(out.last_attempt_at)))
    if out.last_error is not None:
        rows.append(("last error", out.last_error.message))
        rows.append(("error at", when(out.last_error.at)))
    if out.joined is not None:
        target = "a new ticket" if out.joined.new_ticket else f"ticket {out.joined.ticket_id}"
        rows.append(("follow-up of", target))
        if out.joined.comment_id:
            rows.append(("comment", out.joined.comment_id))
    if out.created_event is not None:
        rows.append(("created event", json.dumps(out.created_event, sort_keys=True)))
    for name, value in sorted((out.attachments or {}).items()):
        rows.append((f"files {name}", value))
    return render_fields(rows)


async def queue_list(services: Services, args: argparse.Namespace) -> int:
    listed = pending_out(list(await services.pending(args.limit)))
    emit(
        args,
        msgspec.to_builtins(listed),
        lambda: (
            render_table(
                [
                    (
                        e.key or "-",
                        f"{e.age_seconds:.0f}s",
                        e.attempts,
                        e.state or "-",
                        (e.last_error or "-")[:80],
                    )
                    for e in listed.entries
                ],
                ["KEY", "AGE", "ATTEMPTS", "STATE", "LAST ERROR"],
            )
            if listed.entries
            else "the pending queue is empty"
        ),
    )
    return EXIT_OK
