"""The production container for a test: settings from a dict (never a `.env` file), the
providers the test swaps, by name, and the raw store a test asserts on."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Mapping
from typing import Any, cast

from dependency_injector import providers

from ticketing.container import Container
from ticketing.domain.ports import TicketStore
from ticketing.settings import Settings


def container_with(
    env: dict[str, str],
    *,
    resources: Mapping[str, providers.Provider[Any]] | None = None,
    **objects: object,
) -> Container:
    """A container reading ``env``; each provider named in ``resources`` overridden by that
    provider, and each named in ``objects`` by that object (None: left as production builds
    it)."""
    container = Container()
    container.settings.override(providers.Object(Settings.load(env, dotenv=None)))
    for name, provider in (resources or {}).items():
        getattr(container, name).override(provider)
    for name, value in objects.items():
        if value is not None:
            getattr(container, name).override(providers.Object(value))
    return container


async def store_of(container: Container) -> TicketStore:
    """The container's raw store, for a test that asserts on its state (the entrypoints never
    get it: they use the use cases in ``Services``)."""
    store: TicketStore | Awaitable[TicketStore] = container.store()
    # Awaitable when the store is built from an async resource (the Redis client), else built.
    return await store if inspect.isawaitable(store) else cast(TicketStore, store)
