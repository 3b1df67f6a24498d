"""The one place that maps the service's errors to HTTP answers, and the one error body."""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
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
from litestar.types import ExceptionHandlersMap

from ticketing.domain.errors import (
    ConfigurationError,
    DuplicateField,
    HelpdeskAuthError,
    HelpdeskRejected,
    HelpdeskUnavailable,
    IdempotencyKeyReused,
    NotFound,
    PayloadTooLarge,
    StoreUnavailable,
    TicketingError,
    ValidationError,
)
from ticketing.domain.model import Source
from ticketing.entrypoints.http.deps import Running
from ticketing.entrypoints.schemas import ErrorOut

log = logging.getLogger(__name__)


class BadRequest(ValidationError):
    """A body that cannot be read at all (bad JSON, wrong shape)."""


class BodyTooLarge(ValidationError):
    """A body, or one of its parts (a multipart file), over its size limit: 413, naming the
    part and the limit."""


STORE_RETRY_AFTER = "2"


def error_body(error: str, message: str, field: str | None = None) -> ErrorOut:
    """The body of every refusal; ``field`` only when there is one."""
    return ErrorOut(error=error, message=message, field=field or None)


# The first class that matches wins: a subclass stands before its base, and the order settles
# an error of two kinds (TokenStoreUnavailable is store_unavailable).
_STATUSES: tuple[tuple[type[TicketingError], int, str], ...] = (
    (BadRequest, HTTP_400_BAD_REQUEST, "bad_request"),
    (DuplicateField, HTTP_400_BAD_REQUEST, "duplicate_field"),
    (BodyTooLarge, HTTP_413_REQUEST_ENTITY_TOO_LARGE, "too_large"),
    (PayloadTooLarge, HTTP_422_UNPROCESSABLE_ENTITY, "too_long"),
    (IdempotencyKeyReused, HTTP_422_UNPROCESSABLE_ENTITY, "idempotency_key_reused"),
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


def _answer(
    body: ErrorOut, status: int, headers: dict[str, str] | None = None
) -> Response[ErrorOut]:
    return Response(body, status_code=status, media_type=MediaType.JSON, headers=headers)


class ErrorHandlers:
    """Litestar exception handlers over the services the app runs with (for the counter of
    ticket submissions refused at intake)."""

    def __init__(self, running: Running) -> None:
        self._running = running

    def all(self) -> ExceptionHandlersMap:
        """Every handler of the API app."""
        return {
            TicketingError: self.ticketing_error,
            HTTPException: self.http_exception,
            msgspec.ValidationError: self.unreadable,
            Exception: self.unexpected,
        }

    def _count_invalid(self, request: Request[Any, Any, Any]) -> None:
        """A ticket submission refused at intake (4xx): counted as outcome ``invalid``."""
        if request.method != "POST" or not request.url.path.startswith("/tickets"):
            return
        metrics = self._running.metrics()
        if metrics is not None:
            metrics.ticket("invalid", Source.HTTP)

    def ticketing_error(
        self, request: Request[Any, Any, Any], exc: Exception
    ) -> Response[ErrorOut]:
        assert isinstance(exc, TicketingError)
        status, code = status_for(exc)
        if status >= 500:
            log.warning("%s %s failed: %s", request.method, request.url.path, exc.message)
        field: str | None = None
        message = exc.message
        if isinstance(exc, ValidationError):
            field, message = exc.field, exc.reason
            self._count_invalid(request)
        headers = {}
        if isinstance(exc, HelpdeskUnavailable) and exc.retry_after:
            headers["Retry-After"] = str(int(exc.retry_after + 0.999))
        elif isinstance(exc, StoreUnavailable):
            # Long enough for a Redis failover to finish; a retry with the key is safe.
            headers["Retry-After"] = STORE_RETRY_AFTER
        return _answer(error_body(code, message, field), status, headers)

    def unreadable(self, request: Request[Any, Any, Any], exc: Exception) -> Response[ErrorOut]:
        """Fields that do not fit the body's struct: a bad request about the body."""
        return self.ticketing_error(request, BadRequest("body", str(exc)))

    def http_exception(self, request: Request[Any, Any, Any], exc: Exception) -> Response[ErrorOut]:
        assert isinstance(exc, HTTPException)
        status = exc.status_code
        if status == HTTP_413_REQUEST_ENTITY_TOO_LARGE:
            body = error_body("too_large", "the request body is over the size limit", "body")
            self._count_invalid(request)
        elif status == HTTP_401_UNAUTHORIZED:
            body = error_body("unauthorized", str(exc.detail))
        elif status == HTTP_429_TOO_MANY_REQUESTS:
            body = error_body("too_many_requests", str(exc.detail))
        elif isinstance(exc, ValidationException) and (problem := _first_problem(exc)):
            # Litestar's "Validation failed for GET /queue/dead?limit=0" names no parameter.
            field, message = problem
            body = error_body("invalid_parameter", f"{field}: {message}", field)
        else:
            body = error_body("http_error", str(exc.detail))
        return _answer(body, status, exc.headers)

    def unexpected(self, request: Request[Any, Any, Any], exc: Exception) -> Response[ErrorOut]:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return _answer(
            error_body("internal", "internal error; the request was not completed"),
            HTTP_500_INTERNAL_SERVER_ERROR,
        )


def _first_problem(exc: ValidationException) -> tuple[str, str] | None:
    """The first parameter a validation failure names, and what is wrong with it."""
    for problem in exc.extra if isinstance(exc.extra, list) else ():
        if isinstance(problem, dict) and problem.get("key"):
            return str(problem["key"]), str(problem.get("message") or "invalid")
    return None
