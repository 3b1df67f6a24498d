"""Operator routes: health, liveness, readiness, Prometheus metrics, the queue, and the Zoho
Desk lookups (departments, a consent URL)."""

from __future__ import annotations

import logging
from typing import Annotated

import msgspec
from litestar import Controller, MediaType, Response, delete, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import PathParameter, QueryParameter
from litestar.status_codes import HTTP_200_OK

from ticketing import __version__
from ticketing.adapters.prometheus import CONTENT_TYPE
from ticketing.domain.model import ENTRY_ID_PATTERN
from ticketing.entrypoints.http import openapi
from ticketing.entrypoints.http.deps import ServicesDep
from ticketing.entrypoints.schemas import (
    DeadLettersOut,
    DepartmentsOut,
    QueueOut,
    QueueProcessOut,
    dead_letter_out,
    departments_out,
    drain_out,
)

log = logging.getLogger("ticketing.http")


class LiveOut(msgspec.Struct, kw_only=True):
    status: str  # alive


class ReadyOut(msgspec.Struct, kw_only=True):
    status: str  # ready | not_ready
    store: str  # memory | redis
    store_ok: bool


@get(
    "/health/live",
    operation_id="getLiveness",
    summary="Liveness: the process answers",
    tags=["ops"],
    opt={"public": True},
    sync_to_thread=False,
)
def live() -> LiveOut:
    """Always 200 while the process can answer HTTP; restart it when this fails."""
    return LiveOut(status="alive")


@get(
    "/health/ready",
    operation_id="getReadiness",
    summary="Readiness: a ticket would be accepted durably now (the store takes a write)",
    tags=["ops"],
    opt={"public": True},
    responses={
        503: ResponseSpec(
            data_container=ReadyOut,
            description="The store does not answer or refuses writes (e.g. full): send no "
            "traffic here",
            generate_examples=False,
        )
    },
)
async def ready(services: ServicesDep) -> Response[ReadyOut]:
    """200 when a ticket would be accepted durably now, 503 when the store does not answer
    or refuses the readiness write (Redis over maxmemory with noeviction)."""
    readiness = await services.ready()  # any failure of the store means "not ready"
    if readiness.error is not None:
        log.warning("readiness: the store did not answer: %s", readiness.error)
    ok = readiness.ok
    body = ReadyOut(status="ready" if ok else "not_ready", store=readiness.store, store_ok=ok)
    return Response(body, status_code=200 if ok else 503, media_type=MediaType.JSON)


@get(
    "/metrics",
    operation_id="getMetrics",
    summary="Prometheus metrics (needs the API key when API_KEYS is set)",
    tags=["ops"],
    media_type=CONTENT_TYPE,
    responses=openapi.GUARDED,
)
async def metrics(services: ServicesDep) -> Response[bytes]:
    """The text exposition format; queue, dead-letter and breaker figures are read now."""
    collector = services.metrics
    body = await collector.scrape() if collector is not None else b""
    return Response(body, media_type=CONTENT_TYPE)


@get(
    "/health",
    operation_id="getHealth",
    responses=openapi.HEALTH,
    summary="Health, queue length and activity",
    tags=["ops"],
    opt={"public": True},
)
async def health(services: ServicesDep) -> Response[openapi.HealthOut]:
    """200 while tickets can be accepted (healthy or degraded), 503 when they cannot."""
    report = await services.health()
    last, limits = report.drain, report.limits
    body = openapi.HealthOut(
        status=report.status,
        service="ticket-service",
        version=__version__,
        zoho_connected=report.zoho_connected,
        redis_connected=report.redis_connected,
        queue_length=report.queue_length or 0,
        queue_length_known=report.queue_length is not None,
        dead_letters=report.dead_letters,
        breaker=report.breaker,
        mode=report.mode,
        store=report.store,
        draining=report.draining,
        last_drain=openapi.LastDrainOut(
            processed=last.processed, created=last.created, failed=last.failed
        )
        if last
        else None,
        last_error=report.last_error or None,
        zoho_limits=openapi.ZohoLimitsOut(
            credits_remaining=limits.credits_remaining,
            max_concurrency=limits.max_concurrency,
            calls_in_flight=limits.in_flight,
            paused_for=limits.paused_for,
            credits_ran_out_at=limits.credits_ran_out_at,
            credits_back_at=limits.credits_back_at,
        )
        if limits is not None
        else None,
        store_error=report.store_error,
        zoho_credentials_ok=report.credentials_ok,
        sync_reauthorize=report.sync_reauthorize,
    )
    return Response(body, status_code=200 if report.accepting else 503, media_type=MediaType.JSON)


# A dead letter's id as listed (a Redis stream id); anything else is a 400 before Redis.
EntryId = Annotated[str, PathParameter(pattern=ENTRY_ID_PATTERN, max_length=41)]
_NO_LETTER = {
    400: openapi.error_response("entry_id is not a dead-letter id (like 1733250000000-0)"),
    404: openapi.error_response("No dead letter with that id (replayed or deleted already)"),
}


class QueueController(Controller):
    """The pending queue and the dead letters."""

    path = "/queue"
    tags = ["queue"]  # noqa: RUF012

    @get(
        "/",
        operation_id="getQueue",
        summary="Queue and dead-letter figures",
        responses=openapi.responses(openapi.GUARDED, openapi.STORE_DOWN),
    )
    async def get_queue(self, services: ServicesDep) -> QueueOut:
        figures = await services.queue_status(dead_limit=20)
        return QueueOut(
            pending=figures.pending,
            dead=figures.dead,
            dead_letters=[dead_letter_out(d) for d in figures.dead_letters],
        )

    @get(
        "/dead",
        operation_id="listDeadLetters",
        summary="Dead letters, newest first, optionally those whose reason holds some text",
        responses=openapi.responses(
            openapi.GUARDED,
            openapi.STORE_DOWN,
            {400: openapi.error_response("limit is not a whole number from 1 to 1000")},
        ),
    )
    async def list_dead(
        self,
        services: ServicesDep,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 50,
        reason: Annotated[str | None, QueryParameter(min_length=1, max_length=200)] = None,
    ) -> DeadLettersOut:
        found = await services.dead_letters(limit, reason=reason)
        return DeadLettersOut(
            total=found.total,
            matching=found.matching,
            dead_letters=[dead_letter_out(d) for d in found.letters],
        )

    @delete(
        "/dead/{entry_id:str}",
        operation_id="deleteDeadLetter",
        summary="Delete a dead letter for good",
        responses=openapi.responses(openapi.GUARDED, openapi.STORE_DOWN, _NO_LETTER),
    )
    async def delete_dead(self, services: ServicesDep, entry_id: EntryId) -> None:
        await services.delete_dead.these([entry_id])
        log.info("dead letter %s deleted", entry_id)

    @post(
        "/dead/{entry_id:str}/replay",
        operation_id="replayDeadLetter",
        summary="Put a dead letter back where it came from, to be tried again",
        status_code=HTTP_200_OK,
        responses=openapi.responses(openapi.GUARDED, openapi.STORE_DOWN, _NO_LETTER),
    )
    async def replay_dead(self, services: ServicesDep, entry_id: EntryId) -> dict[str, int]:
        moved = await services.replay.these([entry_id])
        log.info("dead letter %s replayed", entry_id)
        return {"replayed": moved}

    @post(
        "/process",
        operation_id="processQueue",
        summary="Drain the pending queue now",
        status_code=HTTP_200_OK,
        responses=openapi.responses(openapi.GUARDED, openapi.STORE_DOWN),
    )
    async def process_queue(self, services: ServicesDep) -> QueueProcessOut:
        return drain_out(await services.drain())


@get(
    "/departments",
    operation_id="listDepartments",
    summary="Zoho Desk departments",
    tags=["zoho"],
    responses=openapi.ZOHO,
)
async def departments(services: ServicesDep) -> DepartmentsOut:
    return departments_out(await services.departments())


@get(
    "/auth/url",
    operation_id="getAuthUrl",
    summary="A Zoho consent URL",
    tags=["zoho"],
    responses=openapi.GUARDED,
)
async def auth_url(services: ServicesDep) -> dict[str, str]:
    url, state = services.auth_url()
    return {"auth_url": url, "state": state}
