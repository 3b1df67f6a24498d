"""`queue status|process|dead|replay|delete|purge`: the pending queue and its dead letters."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from ticketing.domain.errors import ValidationError
from ticketing.domain.model import DeadLetter, DeadLetterSearch
from ticketing.entrypoints.cli.errors import EXIT_ERROR, EXIT_OK, EXIT_PENDING
from ticketing.entrypoints.cli.render import (
    ProgressBar,
    emit,
    render_fields,
    render_table,
    say,
)

if TYPE_CHECKING:
    from ticketing.container import Services


def warn_without_redis(services: Services) -> None:
    """Without REDIS_URL the CLI's store is its own, in this process: empty, and not the
    service's. One line on stderr says so (stdout stays the result)."""
    if not services.settings.redis_url:
        say(
            "ticketing: warning: no REDIS_URL, so this is the CLI's own in-process queue "
            "(empty), not the service's; set REDIS_URL to the service's Redis"
        )


async def status(services: Services, args: argparse.Namespace) -> int:
    warn_without_redis(services)
    figures = await services.queue_status(dead_limit=0)
    emit(
        args,
        {"pending": figures.pending, "dead": figures.dead},
        lambda: render_fields([("pending", figures.pending), ("dead letters", figures.dead)]),
    )
    return EXIT_OK


async def process(services: Services, args: argparse.Namespace) -> int:
    warn_without_redis(services)
    total = await services.queue_status.pending()
    if args.limit is not None:
        total = min(total, args.limit)
    bar = ProgressBar(args, total, "processed")

    def progress(report: Any) -> None:
        bar.show(report.processed, f"{report.created} created, {report.failed} failed")

    try:
        report = await services.drain(limit=args.limit, progress=progress)
    finally:
        bar.close()
    data = {
        "processed": report.processed,
        "created": report.created,
        "appended": report.appended,
        "failed": report.failed,
        "dead": report.dead,
        "remaining": report.remaining,
        "errors": report.errors,
    }
    emit(
        args,
        data,
        lambda: render_fields(
            [
                ("processed", report.processed),
                ("created", report.created),
                *((("appended", report.appended),) if report.appended else ()),
                ("failed", report.failed),
                ("dead", report.dead),
                ("remaining", report.remaining),
                *(("error", e) for e in report.errors),
            ]
        ),
    )
    return EXIT_PENDING if report.failed or report.remaining else EXIT_OK


def _letter(d: DeadLetter) -> dict[str, Any]:
    return {
        "entry_id": d.entry_id,
        "key": d.key,
        "label": d.label,
        "reason": d.reason,
        "failed_at": d.failed_at.isoformat(),
        "origin": d.origin,
        "payload": d.payload,
    }


def _totals(found: DeadLetterSearch, reason: str | None) -> str:
    """``3 of 12 dead letters, newest first`` (with a filter: ``3 of 5 matching 'x' (12 in
    all)``)."""
    shown = len(found.letters)
    if reason is None:
        return f"{shown} of {found.total} dead letter(s), newest first"
    return f"{shown} of {found.matching} matching {reason!r} ({found.total} in all), newest first"


async def dead(services: Services, args: argparse.Namespace) -> int:
    warn_without_redis(services)
    found = await services.dead_letters(args.limit, reason=args.reason)
    data = {
        "total": found.total,
        "matching": found.matching,
        "dead_letters": [_letter(d) for d in found.letters],
    }

    def table() -> str:
        if not found.letters:
            return "no dead letters" + (f" matching {args.reason!r}" if args.reason else "")
        rows = [
            (d.entry_id, d.label[:60], d.failed_at.isoformat(timespec="seconds"), d.reason[:80])
            for d in found.letters
        ]
        return (
            render_table(rows, ["ENTRY", "KEY OR MESSAGE", "FAILED AT", "REASON"])
            + "\n"
            + _totals(found, args.reason)
        )

    emit(args, data, table)
    return EXIT_OK


async def delete(services: Services, args: argparse.Namespace) -> int:
    warn_without_redis(services)
    deleted = await services.delete_dead.these(list(dict.fromkeys(args.entry_ids)))
    emit(args, {"deleted": deleted}, lambda: f"deleted {deleted} dead letter(s)")
    return EXIT_OK


def _confirmed(question: str) -> bool:
    """Ask on the terminal; False for anything but yes."""
    sys.stderr.write(f"{question} [y/N] ")
    sys.stderr.flush()
    try:
        answer = input()
    except EOFError:
        return False
    return answer.strip().casefold() in {"y", "yes"}


async def purge(services: Services, args: argparse.Namespace) -> int:
    """Delete every dead letter whose reason holds ``--reason`` (or all, ``--all``) after a
    confirmation: asked on a terminal, ``--yes`` otherwise."""
    reason: str | None = None if args.all else args.reason
    warn_without_redis(services)
    count = (await services.dead_letters(0, reason=reason)).matching
    which = "" if reason is None else f" matching {reason!r}"
    if not count:
        emit(args, {"deleted": 0}, lambda: f"nothing to purge: no dead letters{which}")
        return EXIT_OK
    if not args.yes:
        if not sys.stdin.isatty():
            raise ValidationError(
                "yes", f"this deletes {count} dead letter(s) for good: pass --yes to confirm"
            )
        if not _confirmed(f"delete {count} dead letter(s){which} for good?"):
            emit(args, {"deleted": 0}, lambda: "nothing deleted")
            return EXIT_ERROR
    bar = ProgressBar(args, count, "deleted")
    try:
        deleted = await services.delete_dead.matching(reason, progress=bar.show)
    finally:
        bar.close()
    emit(args, {"deleted": deleted}, lambda: f"deleted {deleted} dead letter(s)")
    return EXIT_OK


async def replay(services: Services, args: argparse.Namespace) -> int:
    """Replay named letters, those whose reason holds ``--reason``, or all (``--all``)."""
    ids: list[str] = list(args.entry_ids)
    reason: str | None = args.reason
    chosen = sum((bool(ids), args.all, reason is not None))
    if not chosen:
        raise ValidationError(
            "entry_ids", "name the dead-letter entry ids to replay, or pass --reason or --all"
        )
    if chosen > 1:
        raise ValidationError("entry_ids", "name entry ids, --reason or --all: one of them")
    warn_without_redis(services)
    if ids:
        total = len(ids)
    elif reason is not None:
        total = (await services.dead_letters(0, reason=reason)).matching
    else:
        total = await services.dead_letters.count()
    bar = ProgressBar(args, total, "replayed")
    try:
        if ids:
            moved = await services.replay.these(ids, progress=bar.show)
        elif reason is not None:
            moved = await services.replay.matching(reason, progress=bar.show)
        else:
            moved = await services.replay.every(progress=bar.show)
    finally:
        bar.close()
    emit(args, {"replayed": moved}, lambda: f"replayed {moved} dead letter(s) onto the queue")
    return EXIT_OK
