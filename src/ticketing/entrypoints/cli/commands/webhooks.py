"""`webhooks setup|status|remove`: the webhook Zoho posts agents' replies and status changes to."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ticketing.application.sync.webhooks import shown
from ticketing.domain.errors import ConfigurationError
from ticketing.entrypoints.cli.errors import EXIT_OK
from ticketing.entrypoints.cli.render import emit, render_fields, render_table

if TYPE_CHECKING:
    from ticketing.application.sync.webhooks import ManageWebhooks
    from ticketing.container import Services


def _webhooks(services: Services) -> ManageWebhooks:
    if services.sync is None:
        raise ConfigurationError("the two-way sync is not configured in this process")
    return services.sync.webhooks


async def setup(services: Services, args: argparse.Namespace) -> int:
    manage = _webhooks(services)
    webhook = await manage.setup(args.public_url)
    url = shown(webhook.url, manage.token)
    emit(
        args,
        {"id": webhook.id, "url": url, "subscriptions": dict(webhook.subscriptions)},
        lambda: render_fields(
            [
                ("webhook", webhook.id),
                ("url", url),
                ("events", ", ".join(webhook.subscriptions)),
                ("next", "SYNC_MODE unset now means webhook mode (restart the workers)"),
            ]
        ),
    )
    return EXIT_OK


async def status(services: Services, args: argparse.Namespace) -> int:
    manage = _webhooks(services)
    found = await manage.status()
    rows = [
        (w.id, "yes" if w.enabled else "no", shown(w.url, manage.token), ", ".join(w.subscriptions))
        for w in found.ours
    ]
    emit(
        args,
        {
            "registered": found.registered,
            "webhooks": [
                dict(zip(("id", "enabled", "url", "events"), r, strict=True)) for r in rows
            ],
        },
        lambda: (
            render_fields([("registered", found.registered or "none")])
            + ("\n\n" + render_table(rows, ["id", "enabled", "url", "events"]) if rows else "")
        ),
    )
    return EXIT_OK


async def remove(services: Services, args: argparse.Namespace) -> int:
    removed = await _webhooks(services).remove()
    emit(args, {"removed": removed}, lambda: render_fields([("removed", removed)]))
    return EXIT_OK
