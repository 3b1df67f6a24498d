"""How an admin command runs: the container started, the command body, everything closed."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio

from ticketing.entrypoints.cli.boot import build_container

if TYPE_CHECKING:
    from ticketing.container import AdminServices, Container, Services


@dataclass(frozen=True)
class Admin:
    """What an admin command runs against: the services, the admin use cases, the container."""

    services: Services
    admin: AdminServices
    container: Container


AdminBody = Callable[[Admin, argparse.Namespace], Awaitable[int]]


async def run_admin(
    body: AdminBody, args: argparse.Namespace, container: Container | None = None
) -> int:
    """Build (or take) the container, start it, run the command, close everything."""
    from ticketing.container import admin_of, start, stop

    container = container or build_container()
    if getattr(args, "no_browser", False):
        from dependency_injector import providers

        from ticketing.adapters.browser import NoBrowser

        container.browser.override(providers.Object(NoBrowser()))
    try:
        services = await start(container)
        admin = await admin_of(container)
        return await body(Admin(services, admin, container), args)
    finally:
        with anyio.CancelScope(shield=True):
            await stop(container)


def with_services(
    body: Callable[[Services, argparse.Namespace], Awaitable[int]],
) -> AdminBody:
    """An admin command that needs only the services."""

    async def run(ctx: Admin, args: argparse.Namespace) -> int:
        return await body(ctx.services, args)

    return run
