"""Zoho's webhook deliveries: ``POST /webhooks/zoho/{token}`` stores a delivery's events in the
sync's inbox before answering, ``GET`` answers Zoho's URL check. Not behind API_KEYS (Zoho
sends no key): the token in the path is the key, and a wrong one is a 404 like any unknown
path. Zoho's signature (``X-ZDesk-JWT``) is checked as ZOHO_WEBHOOK_SIGNATURE says; a
refused one is a 401."""

from __future__ import annotations

import hmac
import logging
from typing import Any, Final

import anyio
import msgspec
from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.status_codes import (
    HTTP_200_OK,
    HTTP_400_BAD_REQUEST,
    HTTP_401_UNAUTHORIZED,
    HTTP_404_NOT_FOUND,
    HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    HTTP_503_SERVICE_UNAVAILABLE,
)

from ticketing.adapters.zoho_desk.wire_sync import decode_delivery
from ticketing.application.sync.signature import SignatureRefused
from ticketing.container import Services, SyncServices
from ticketing.domain.errors import StoreUnavailable
from ticketing.entrypoints.http.deps import ServicesDep

log = logging.getLogger("ticketing.http.webhooks")

# A delivery carries whole threads (HTML) and tickets, batched: far more than a ticket
# submission, still bounded.
WEBHOOK_MAX_BYTES: Final = 4 * 1024 * 1024
# Zoho waits 5 s for the answer: the signature check gets SIGNATURE_DEADLINE (1.5), the
# durable write 3, and a 503 goes out in time if Redis is slower (Zoho's redelivery, or the
# poller, brings the change back).
STORE_DEADLINE: Final = 3.0
PATH: Final = "/webhooks/zoho/{token:str}"
# Zoho's signature of a delivery (unconfirmed; see adapters/zoho_desk/signature.py).
SIGNATURE_HEADER: Final = "x-zdesk-jwt"


def _text(status: int, message: str) -> Response[dict[str, str]]:
    return Response({"status": message}, status_code=status)


def _sync_for(services: Services, token: str) -> SyncServices | None:
    """The sync services when ``token`` is the configured one; None (a 404) otherwise,
    including when no token is configured."""
    sync = services.sync
    if sync is None or not sync.token:
        return None
    if not hmac.compare_digest(token.encode(), sync.token.encode()):
        if services.metrics is not None:
            services.metrics.webhook_delivery("wrong_token")
        return None
    return sync


async def _body(request: Request[Any, Any, Any]) -> bytes | None:
    """The body, or None when it is over WEBHOOK_MAX_BYTES (read no further)."""
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > WEBHOOK_MAX_BYTES:
            return None
        parts.append(chunk)
    return b"".join(parts)


@get(
    PATH,
    operation_id="checkZohoWebhook",
    summary="Zoho's check of the webhook URL (200 with the right token)",
    tags=["webhooks"],
    opt={"public": True},
    include_in_schema=False,
)
async def webhook_check(token: FromPath[str], services: ServicesDep) -> Response[dict[str, str]]:
    if _sync_for(services, token) is None:
        return _text(HTTP_404_NOT_FOUND, "not found")
    return _text(HTTP_200_OK, "ok")


@post(
    PATH,
    operation_id="receiveZohoWebhook",
    summary="Zoho's webhook deliveries: stored durably, then answered; handled after",
    tags=["webhooks"],
    opt={"public": True},
    request_max_body_size=None,  # read and capped below, so that an oversize body is counted
    include_in_schema=False,
)
async def webhook_receive(
    token: FromPath[str], request: Request[Any, Any, Any], services: ServicesDep
) -> Response[dict[str, str]]:
    sync = _sync_for(services, token)
    if sync is None:
        return _text(HTTP_404_NOT_FOUND, "not found")
    metrics = services.metrics
    body = await _body(request)
    if body is None:
        if metrics is not None:
            metrics.webhook_delivery("too_large")
        log.warning("webhook: a delivery over %d bytes was refused", WEBHOOK_MAX_BYTES)
        return _text(HTTP_413_REQUEST_ENTITY_TOO_LARGE, "too large")
    try:
        events = decode_delivery(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        if metrics is not None:
            metrics.webhook_delivery("malformed")
        log.warning("webhook: a delivery that is not Zoho's event array was refused: %s", exc)
        return _text(HTTP_400_BAD_REQUEST, "not a webhook delivery")
    if not events:
        # Nothing to store: Zoho's URL check may POST an empty array, signed or not.
        return _text(HTTP_200_OK, "empty")
    try:
        if sync.check_signature is not None:
            await sync.check_signature(request.headers.get(SIGNATURE_HEADER), events)
    except SignatureRefused as exc:
        log.warning("webhook: a delivery of %d events was refused: %s", len(events), exc.message)
        what = "signature required" if exc.outcome == "unsigned" else "bad signature"
        return _text(HTTP_401_UNAUTHORIZED, what)
    stored = False
    try:
        with anyio.move_on_after(STORE_DEADLINE):
            await sync.receive(events)
            stored = True
    except StoreUnavailable as exc:
        log.warning("webhook: a delivery of %d events was not stored: %s", len(events), exc)
    if not stored:
        return _text(HTTP_503_SERVICE_UNAVAILABLE, "not stored")
    return _text(HTTP_200_OK, "stored")
