"""A request's story (``GET /tickets/requests/{key}``) and the pending queue listed
(``GET /queue/pending``): read-only, behind API_KEYS like the other routes."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.params import FromPath, QueryParameter

from ticketing.application import intake
from ticketing.domain.errors import NotFound
from ticketing.entrypoints.http import openapi
from ticketing.entrypoints.http.deps import ServicesDep
from ticketing.entrypoints.http.guard import CLIENT_STATE
from ticketing.entrypoints.story import (
    REQUESTS_PATH,
    PendingListOut,
    StoryOut,
    pending_out,
    story_out,
)

_UNKNOWN = openapi.error_response(
    "No request of this caller's under that idempotency key or request_id (or its record "
    "is past the retention)"
)


class RequestController(Controller):
    """What happened to one request."""

    path = REQUESTS_PATH
    tags = ["tickets"]  # noqa: RUF012

    @get(
        "/{key:str}",
        operation_id="getRequest",
        summary="A request's story: state, Zoho ticket, attempts, last error, event, files",
        responses=openapi.responses(openapi.GUARDED, openapi.STORE_DOWN, {404: _UNKNOWN}),
    )
    async def get_request(
        self, request: Request[Any, Any, Any], services: ServicesDep, key: FromPath[str]
    ) -> StoryOut:
        """Found by the idempotency key as the caller wrote it, or by the request_id; a
        caller sees only its own requests (its API key's namespace)."""
        client = str(request.state.get(CLIENT_STATE, intake.ANONYMOUS_CLIENT))
        story = await services.story(key, client=client)
        if story is None:
            raise NotFound(f"no request {key[:80]!r} of this caller's is known")
        return story_out(story, caller=True)


@get(
    "/queue/pending",
    operation_id="listPending",
    summary="The oldest pending tickets: key, age, attempts, last error",
    tags=["queue"],
    responses=openapi.responses(
        openapi.GUARDED,
        openapi.STORE_DOWN,
        {400: openapi.error_response("limit is not a whole number from 1 to 1000")},
    ),
)
async def pending(
    services: ServicesDep, limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 50
) -> PendingListOut:
    """Read from the pending stream (oldest first) and each entry's ledger record."""
    return pending_out(list(await services.pending(limit)))
