"""The production container for a test: settings from a dict (never a `.env` file), and the
providers the test swaps, by name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dependency_injector import providers

from ticketing.container import Container
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
