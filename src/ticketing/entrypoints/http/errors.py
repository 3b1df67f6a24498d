"""The one place that maps the service's errors to HTTP answers."""

from __future__ import annotations

import logging
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_401_UNAUTHORIZED,
    HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    HTTP_422_UNPROCESSABLE_ENTITY,
    HTTP_429_TOO_MANY_REQUESTS,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_502_BAD_GATEWAY,
    HTTP_503_SERVICE_UNAVAILABLE,
)

from ticketing.domain.errors import (
    ConfigurationError,
    HelpdeskAuthError,
    HelpdeskRejected,
    HelpdeskUnavailable,
    NotFound,
    PayloadTooLarge,
    StoreUnavailable,
    TicketingError,
    ValidationError,
)
from ticketing.entrypoints.http.ops import count_invalid

log = logging.getLogger(__name__)


class BadRequest(ValidationError):
    """A body that cannot be read at all (bad JSON, wrong shape)."""


def _body(error: str, message: str, field: str | None = None) -> dict[str, str]:
    out = {"error": error, "message": message}
    if field:
        out["field"] = field
    return out


# The first class that matches wins: a subclass stands before its base, and the order settles
# an error of two kinds (TokenStoreUnavailable is store_unavailable).
_STATUSES: tuple[tuple[type[TicketingError], int, str], ...] = (
    (BadRequest, HTTP_400_BAD_REQUEST, "bad_request"),
    (PayloadTooLarge, HTTP_422_UNPROCESSABLE_ENTITY, "too_long"),
    (ValidationError, HTTP_422_UNPROCESSABLE_ENTITY, "invalid"),
    (NotFound, 404, "not_found"),
    (StoreUnavailable, HTTP_503_SERVICE_UNAVAILABLE, "store_unavailable"),
    (HelpdeskUnavailable, HTTP_503_SERVICE_UNAVAILABLE, "zoho_unavailable"),
    (HelpdeskAuthError, HTTP_502_BAD_GATEWAY, "zoho_auth"),
    (HelpdeskRejected, HTTP_502_BAD_GATEWAY, "zoho_rejected"),
    (ConfigurationError, HTTP_500_INTERNAL_SERVER_ERROR, "configuration"),
)


def status_for(exc: TicketingError) -> tuple[int, str]:
    """HTTP status and error code for a service error."""
    for cls, status, code in _STATUSES:
        if isinstance(exc, cls):
            return status, code
    return HTTP_500_INTERNAL_SERVER_ERROR, "error"


def handle_ticketing_error(
    request: Request[Any, Any, Any], exc: Exception
) -> Response[dict[str, str]]:
    assert isinstance(exc, TicketingError)
    status, code = status_for(exc)
    if status >= 500:
        log.warning("%s %s failed: %s", request.method, request.url.path, exc.message)
    field: str | None = None
    message = exc.message
    if isinstance(exc, ValidationError):
        field, message = exc.field, exc.reason
        count_invalid(request)
    headers = {}
    if isinstance(exc, HelpdeskUnavailable) and exc.retry_after:
        headers["Retry-After"] = str(int(exc.retry_after + 0.999))
    return Response(
        _body(code, message, field), status_code=status, media_type=MediaType.JSON, headers=headers
    )


def handle_http_exception(
    request: Request[Any, Any, Any], exc: Exception
) -> Response[dict[str, str]]:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    if status == HTTP_413_REQUEST_ENTITY_TOO_LARGE:
        body = _body("too_large", "the request body is over the size limit", "body")
        count_invalid(request)
    elif status == HTTP_401_UNAUTHORIZED:
        body = _body("unauthorized", str(exc.detail))
    elif status == HTTP_429_TOO_MANY_REQUESTS:
        body = _body("too_many_requests", str(exc.detail))
    else:
        body = _body("http_error", str(exc.detail))
    return Response(body, status_code=status, media_type=MediaType.JSON, headers=exc.headers)


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, str]]:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return Response(
        _body("internal", "internal error; the request was not completed"),
        status_code=HTTP_500_INTERNAL_SERVER_ERROR,
        media_type=MediaType.JSON,
    )
