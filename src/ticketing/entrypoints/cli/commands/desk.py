"""`departments`: what the Zoho Desk organisation offers."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ticketing.entrypoints.cli.errors import EXIT_OK
from ticketing.entrypoints.cli.render import emit, render_table

if TYPE_CHECKING:
    from ticketing.container import Services


async def departments(services: Services, args: argparse.Namespace) -> int:
    departments = await services.departments()
    data = [
        {"id": d.id, "name": d.name, "is_default": d.is_default, "is_enabled": d.is_enabled}
        for d in departments
    ]
    emit(
        args,
        data,
        lambda: render_table(
            [(d.id, d.name, "yes" if d.is_default else "") for d in departments],
            ["ID", "NAME", "DEFAULT"],
        ),
    )
    return EXIT_OK
