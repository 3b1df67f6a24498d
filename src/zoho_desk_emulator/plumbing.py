"""The rules every Desk call of the emulator goes through (concurrency, faults, the token and
its scopes, the organization, credits) and the shape of its answers."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC
from email.utils import format_datetime
from typing import Any

import anyio
from litestar import Request, Response
from litestar.di import NamedDependency
from litestar.enums import MediaType

from zoho_desk_emulator import constraints
from zoho_desk_emulator.credits import PLAIN_WEIGHT, SEARCH_WEIGHT
from zoho_desk_emulator.desk import Desk
from zoho_desk_emulator.errors import DeskError
from zoho_desk_emulator.state import EmulatorState

AnyRequest = Request[Any, Any, Any]
Emu = NamedDependency[EmulatorState]
Answer = tuple[int, Any]


def has_scope(granted: str, wanted: Sequence[str]) -> bool:
    """Whether a token's scopes (``Desk.tickets.ALL,Desk.events.READ``) include one of
    ``wanted`` (``Desk.tickets.READ``), an ``.ALL`` covering every operation of its kind."""
    have = {s.strip() for s in granted.split(",") if s.strip()}
    for scope in wanted:
        kind, _, _ = scope.rpartition(".")
        if scope in have or f"{kind}.ALL" in have:
            return True
    return False


def answer(status: int, body: Any, headers: dict[str, str] | None = None) -> Response[Any]:
    if status == 204:
        return Response(content=b"", status_code=204, headers=headers or {})
    return Response(
        content=body, status_code=status, headers=headers or {}, media_type=MediaType.JSON
    )


def credit_headers(state: EmulatorState, weight: int) -> dict[str, str]:
    """The headers of every Desk answer: the credits, and the time in Zoho's clock."""
    return {
        "X-Rate-Limit-Remaining-v3": str(state.credits_left()),
        "X-Rate-Limit-Request-Weight-v3": str(weight),
        "Date": format_datetime(state.now().astimezone(UTC), usegmt=True),
    }


def check_rate_limit_fault(state: EmulatorState) -> None:
    faults = state.faults
    limited = False
    if faults.rate_limit_until is not None:
        if state.clock.monotonic() < faults.rate_limit_until:
            limited = True
        else:
            faults.rate_limit_until = None
    if not limited and faults.rate_limit_calls > 0:
        faults.rate_limit_calls -= 1
        limited = True
    if limited:
        raise DeskError(
            429,
            "TOO_MANY_REQUESTS",
            "Too many requests; try again later.",
            headers={"Retry-After": str(faults.retry_after)},
        )


def internal_error() -> DeskError:
    return DeskError(
        500,
        "INTERNAL_SERVER_ERROR",
        "An internal server error occurred while performing this operation.",
    )


async def desk_call(
    request: AnyRequest,
    state: EmulatorState,
    weight: int,
    run: Callable[[str], Awaitable[Answer]],
    *,
    needs_org: bool = True,
    scopes: Sequence[str] = (),
) -> Response[Any]:
    """The rules every Desk call goes through, in Zoho's order as far as it is known.

    ``scopes``: the token needs one of them (its ``.ALL`` does too), else 401
    ``SCOPE_MISMATCH`` (the status is unconfirmed). Checked on the endpoints that name theirs
    (the two-way ones); the older ones trust any token, as they always have here."""
    faults = state.faults
    if state.in_flight >= state.max_concurrency:
        return answer(
            429,
            {"errorCode": "TOO_MANY_REQUESTS", "message": "Too many concurrent requests."},
            {"Retry-After": "1", **credit_headers(state, 0)},
        )
    state.in_flight += 1
    try:
        if faults.latency:
            await anyio.sleep(faults.latency)
        charged = 0
        try:
            check_rate_limit_fault(state)
            token = state.oauth.authenticate(request.headers.get("authorization"))
            if scopes and not has_scope(token.scope, scopes):
                raise DeskError(
                    401,
                    "SCOPE_MISMATCH",
                    f"The OAuth token lacks the scope this needs: one of {', '.join(scopes)}.",
                )
            org_id = state.desk.check_org(request.headers.get("orgid")) if needs_org else ""
            if faults.error_rate and state.rng.random() < faults.error_rate:
                raise internal_error()
            state.credits.charge(weight)
            charged = weight
            state.desk.settle()
            status, body = await run(org_id)
        except DeskError as error:
            return answer(
                error.status, error.body(), {**error.headers, **credit_headers(state, charged)}
            )
        return answer(status, body, credit_headers(state, charged))
    finally:
        state.in_flight = max(0, state.in_flight - 1)


async def desk_read(
    request: AnyRequest,
    emu: EmulatorState,
    schema: constraints.Schema,
    read: Callable[[str, dict[str, str]], Answer],
    *,
    weight: int = PLAIN_WEIGHT,
    needs_org: bool = True,
    scopes: Sequence[str] = (),
) -> Response[Any]:
    """A Desk GET: its query checked against Zoho's description, then ``read(org_id, query)``."""

    async def run(org_id: str) -> Answer:
        params = query(request)
        emu.desk.check_query(schema, params)
        return read(org_id, params)

    return await desk_call(request, emu, weight, run, needs_org=needs_org, scopes=scopes)


async def desk_search(
    request: AnyRequest,
    emu: EmulatorState,
    schema: constraints.Schema,
    search: Callable[[Desk, str, dict[str, str]], tuple[list[dict[str, Any]], int]],
) -> Response[Any]:
    """A Desk search: a page of results with the total ``count``, at the search weight."""

    def read(org_id: str, params: dict[str, str]) -> Answer:
        return listing(*search(emu.desk, org_id, params))

    return await desk_read(request, emu, schema, read, weight=SEARCH_WEIGHT)


async def json_body(request: AnyRequest) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw or b"null")
    except ValueError:
        raise DeskError(
            422, "UNPROCESSABLE_ENTITY", "The request body is not valid JSON."
        ) from None


def query(request: AnyRequest) -> dict[str, str]:
    return {name: request.query_params[name] for name in request.query_params}


def base_url(request: AnyRequest) -> str:
    return str(request.base_url).rstrip("/")


def listing(items: list[Any], total: int | None = None) -> Answer:
    """Zoho answers an empty list or search with 204 and no body."""
    if not items:
        return 204, None
    body: dict[str, Any] = {"data": items}
    if total is not None:
        body["count"] = total
    return 200, body
