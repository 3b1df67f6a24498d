"""The helpdesk's signature on a webhook delivery, checked before the delivery is stored, as
``ZOHO_WEBHOOK_SIGNATURE`` says (:class:`CheckSignature`)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Final, Literal, NoReturn

import anyio

from ticketing.domain.conversation import WebhookEvent
from ticketing.domain.errors import (
    HelpdeskError,
    SignatureInvalid,
    SignatureUnverifiable,
    StoreUnavailable,
)
from ticketing.domain.ports import Conversations, DeliverySignatures, SyncLog, SyncMetrics

log = logging.getLogger(__name__)

# verify: check a signature that is there; require: refuse a delivery without one; off: ignore.
SignatureMode = Literal["verify", "require", "off"]
# Zoho waits 5 s for the answer and the durable write gets 3 (entrypoints/http/webhooks.py):
# the check (our organization id, the keys) gets 1.5; later, the delivery is stored unverified.
SIGNATURE_DEADLINE: Final = 1.5


class SignatureRefused(SignatureInvalid):
    """The delivery is refused: ``outcome`` is what the receiver counts it as
    (``bad_signature`` or ``unsigned``)."""

    def __init__(self, message: str, outcome: str) -> None:
        super().__init__(message)
        self.outcome = outcome


class CheckSignature:
    """Whether a webhook delivery may be stored, from its signature.

    A signature that is there is verified (verify and require modes): refused when it is
    not the helpdesk's for our organization and webhook, or when an event in the body names
    another organization than the one it was issued for. A delivery without one is taken in
    verify mode and refused in require mode. When the keys (or our organization id) cannot
    be had within ``deadline``, the delivery is taken unverified, in either mode: what the
    sync publishes is fetched from the helpdesk by id, never taken from a delivery, so a
    forged one can publish nothing the helpdesk does not hold; refusing it would lose a real
    one for good (Zoho documents no retry) until the safety-net poll.

    Args:
        signatures: The helpdesk's signature check; None when it has none.
        desk: For our organization id (the token's issuer).
        log: For the webhook id ``ticketing webhooks setup`` registered (the audience); any
            webhook of the organization when none is recorded.
        mode: ZOHO_WEBHOOK_SIGNATURE.
    """

    def __init__(
        self,
        signatures: DeliverySignatures | None,
        desk: Conversations,
        log: SyncLog,
        metrics: SyncMetrics,
        mode: SignatureMode = "verify",
        *,
        deadline: float = SIGNATURE_DEADLINE,
    ) -> None:
        self._signatures = signatures
        self._desk = desk
        self._log = log
        self._metrics = metrics
        self.mode: SignatureMode = mode
        self._deadline = deadline

    async def __call__(self, token: str | None, events: Sequence[WebhookEvent]) -> str:
        """Returns how the delivery was taken: ``verified``, ``unsigned``, ``unverified``
        (the check could not be made) or ``off`` (the mode); each but ``off`` is counted.

        Raises:
            SignatureRefused: the delivery must not be stored (counted).
        """
        if self.mode == "off" or self._signatures is None:
            return "off"
        if not token:
            if self.mode == "require":
                self._refuse("unsigned", "unsigned", "no X-ZDesk-JWT and one is required")
            self._metrics.webhook_signature("unsigned")
            return "unsigned"
        try:
            with anyio.fail_after(self._deadline):
                org_id = await self._desk.org_id()
                webhook_id = await self._signatures.verify(
                    token, org_id=org_id, webhook_ids=await self._registered()
                )
        except SignatureInvalid as exc:
            self._refuse("bad", "bad_signature", exc.message)
        except (SignatureUnverifiable, HelpdeskError, TimeoutError) as exc:
            reason = "no answer in time" if isinstance(exc, TimeoutError) else str(exc)
            log.debug("webhook: a delivery is taken unverified: %s", reason)
            self._metrics.webhook_signature("unverified")
            return "unverified"
        foreign = sorted({e.org_id for e in events if e.org_id and e.org_id != org_id})
        if foreign:
            # The JWT does not sign the body: a token of ours on another body is a replay.
            self._refuse(
                "bad",
                "bad_signature",
                f"the signed delivery (webhook {webhook_id}) carries events of organization "
                f"{', '.join(foreign)}, not {org_id}",
            )
        self._metrics.webhook_signature("verified")
        return "verified"

    async def _registered(self) -> tuple[str, ...]:
        try:
            webhook_id = await self._log.registered_webhook()
        except StoreUnavailable:
            return ()  # any webhook of ours: Redis is down, the store will say so next
        return (webhook_id,) if webhook_id else ()

    def _refuse(self, check: str, outcome: str, message: str) -> NoReturn:
        self._metrics.webhook_signature(check)
        self._metrics.webhook_delivery(outcome)
        raise SignatureRefused(message, outcome)
