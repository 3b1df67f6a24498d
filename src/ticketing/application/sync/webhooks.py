"""Registering the webhook Zoho posts to (``ticketing webhooks setup|status|remove``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from ticketing.domain.conversation import WebhookSubscription
from ticketing.domain.errors import ConfigurationError, ValidationError
from ticketing.domain.ports import SyncLog, WebhookRegistry

WEBHOOK_NAME: Final = "ticketing"
WEBHOOK_DESCRIPTION: Final = "ticketing: agents' replies, comments and status changes"
RECEIVER_PATH: Final = "/webhooks/zoho/"


def receiver_url(public_url: str, token: str) -> str:
    """Where Zoho posts: the service's public root, the receiver's path, the token."""
    if not public_url.startswith(("https://", "http://")):
        raise ValidationError("public_url", "the public URL starts with https://")
    return public_url.rstrip("/") + RECEIVER_PATH + token


def shown(url: str, token: str | None) -> str:
    """A webhook URL with the token hidden (it is the receiver's key)."""
    return url.replace(token, "***") if token else url


@dataclass(frozen=True, slots=True)
class WebhookStatus:
    registered: str | None  # the id `setup` recorded
    ours: list[WebhookSubscription]  # the helpdesk's webhooks that point at a receiver of ours


class ManageWebhooks:
    """Setup, status and removal of the service's webhook subscription.

    Args:
        registry: The helpdesk's webhook API.
        log: Where the registered webhook's id is kept (SYNC_MODE's default reads it).
        subscriptions: The events and filters to subscribe to (the helpdesk's shape).
        token: ZOHO_WEBHOOK_TOKEN.
    """

    def __init__(
        self,
        registry: WebhookRegistry,
        log: SyncLog,
        subscriptions: Mapping[str, Any],
        token: str | None,
    ) -> None:
        self._registry = registry
        self._log = log
        self._subscriptions = subscriptions
        self.token = token

    async def setup(self, public_url: str) -> WebhookSubscription:
        """Register the receiver's URL (once: an existing webhook for it is kept).

        Raises:
            ConfigurationError: ZOHO_WEBHOOK_TOKEN is unset.
            HelpdeskRejected: Zoho refused (the URL did not answer its check, an edition
                without webhooks, a token without the Desk.events scope).
        """
        if not self.token:
            raise ConfigurationError(
                "ZOHO_WEBHOOK_TOKEN: set a secret of 32+ characters (e.g. `openssl rand -hex "
                "24`) before registering the webhook; it is part of the URL Zoho posts to"
            )
        url = receiver_url(public_url, self.token)
        existing = [w for w in await self._registry.list_webhooks() if w.url == url]
        webhook = (
            existing[0]
            if existing
            else await self._registry.create_webhook(
                url, self._subscriptions, name=WEBHOOK_NAME, description=WEBHOOK_DESCRIPTION
            )
        )
        await self._log.set_registered_webhook(webhook.id)
        return webhook

    async def status(self) -> WebhookStatus:
        ours = [w for w in await self._registry.list_webhooks() if RECEIVER_PATH in w.url]
        return WebhookStatus(await self._log.registered_webhook(), ours)

    async def remove(self) -> int:
        """Delete every webhook pointing at a receiver of ours; how many went."""
        found = await self.status()
        for webhook in found.ours:
            await self._registry.delete_webhook(webhook.id)
        await self._log.set_registered_webhook(None)
        return len(found.ours)
