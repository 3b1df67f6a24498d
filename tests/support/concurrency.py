"""Many callers at once: the tests that prove one lookup or one refresh serves them all."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio
import httpx

T = TypeVar("T")


async def concurrently(callers: int, call: Callable[[], Awaitable[T]]) -> list[T]:
    """Start ``call`` ``callers`` times in one task group and wait for all; their results in
    the order they finished."""
    results: list[T] = []

    async def one() -> None:
        results.append(await call())

    async with anyio.create_task_group() as tg:
        for _ in range(callers):
            tg.start_soon(one)
    return results


def answer_late(
    body: object, delay: float = 0.01
) -> Callable[[httpx.Request], Awaitable[httpx.Response]]:
    """A respx side effect: 200 with ``body`` after ``delay`` seconds, so that callers arriving
    at once overlap while the first one waits."""

    async def respond(request: httpx.Request) -> httpx.Response:
        await anyio.sleep(delay)
        return httpx.Response(200, json=body)

    return respond
