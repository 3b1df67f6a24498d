"""The HTTP API under test: a test API key, the first clients' ticket form, a production
container over sandbox defaults (or the settings given), and a test client over the API
alone."""

from __future__ import annotations

from litestar.testing import AsyncTestClient

from ticketing.container import Container
from ticketing.entrypoints.http.app import create_app

from tests.support.containers import container_with

API_KEY = "test-key-0123456789abcdef"

# The form body the first clients post to /tickets/customer with `curl -d`.
OLD_FORM = {
    "customer_email": "test@example.com",
    "customer_name": "Test User",
    "subject": "Test Issue",
    "description": "Testing",
    "priority": "High",
}


def make_container(env: dict[str, str] | None = None) -> Container:
    """A production container reading ``env`` (sandbox mode, in-memory store, when empty)."""
    return container_with(env or {})


def app_client(container: Container) -> AsyncTestClient:  # type: ignore[type-arg]
    """A test client over the API alone: no drain loop, no inbound consumer."""
    return AsyncTestClient(create_app(container, drain=False, consumer=False))
