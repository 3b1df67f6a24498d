"""The HTTP API under test: a test API key, a production container over sandbox defaults (or
the settings given), and a test client over the API alone."""

from __future__ import annotations

from litestar.testing import AsyncTestClient

from ticketing.container import Container
from ticketing.entrypoints.http.app import create_app

from tests.support.containers import container_with

API_KEY = "test-key-0123456789abcdef"


def make_container(env: dict[str, str] | None = None) -> Container:
    """A production container reading ``env`` (sandbox mode, in-memory store, when empty)."""
    return container_with(env or {})


def app_client(container: Container) -> AsyncTestClient:  # type: ignore[type-arg]
    """A test client over the API alone: no drain loop, no inbound consumer."""
    return AsyncTestClient(create_app(container, drain=False, consumer=False))
