"""An app over a function-scoped container: sandbox defaults, or an in-memory helpdesk (the
helpers these fixtures use live in tests/support/http)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from dependency_injector import providers
from litestar.testing import AsyncTestClient

from ticketing.adapters.memory_helpdesk import InMemoryHelpdesk
from ticketing.container import Container

from tests.support.http import app_client, make_container


@pytest.fixture
def container() -> Container:
    """Sandbox mode: the in-process Zoho Desk emulator, in-memory store."""
    return make_container()


@pytest.fixture
def memory_helpdesk(container: Container) -> InMemoryHelpdesk:
    """Swap Zoho for the in-memory helpdesk, for fault injection.

    Request it before ``client`` in a test's arguments: the app resolves its services when the
    client starts it.
    """
    helpdesk = InMemoryHelpdesk(clock=container.clock())
    container.zoho.override(providers.Object(helpdesk))
    return helpdesk


@pytest.fixture
async def client(container: Container) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    async with app_client(container) as test_client:
        yield test_client
