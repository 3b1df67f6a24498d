"""`queue status|process|dead|replay`: the pending queue and its dead letters."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from ticketing.domain.errors import ValidationError
from ticketing.entrypoints.cli.errors import EXIT_OK, EXIT_PENDING
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


async def dead(services: Services, args: argparse.Namespace) -> int:
    warn_without_redis(services)
    letters = await services.dead_letters(args.limit)
    data = [
        {
            "entry_id": d.entry_id,
            "key": d.key,
            "reason": d.reason,
            "failed_at": d.failed_at.isoformat(),
            "origin": d.origin,
            "payload": d.payload,
        }
        for d in letters
    ]
    emit(
        args,
        data,
        lambda: (
            render_table(
                [
                    (
                        d.entry_id,
                        d.key or "-",
                        d.failed_at.isoformat(timespec="seconds"),
                        d.reason[:80],
                    )
                    for d in letters
                ],
                ["ENTRY", "KEY", "FAILED AT", "REASON"],
            )
            if letters
            else "no dead letters"
        ),
    )
    return EXIT_OK


async def replay(services: Services, args: argparse.Namespace) -> int:
    ids: list[str] = list(args.entry_ids)
    if not ids and not args.all:
        raise ValidationError(
            "entry_ids", "name the dead-letter entry ids to replay, or pass --all"
        )
    if ids and args.all:
        raise ValidationError("entry_ids", "name entry ids or pass --all, not both")
    warn_without_redis(services)
    total = await services.dead_letters.count() if args.all else len(ids)
    bar = ProgressBar(args, total, "replayed")
    try:
        if args.all:
            moved = await services.replay.every(progress=bar.show)
        else:
            moved = await services.replay.these(ids, progress=bar.show)
    finally:
        bar.close()
    emit(args, {"replayed": moved}, lambda: f"replayed {moved} dead letter(s) onto the queue")
    return EXIT_OK
