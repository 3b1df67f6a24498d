"""Zoho Desk lookups: the departments, and a consent URL for the OAuth set-up."""

from __future__ import annotations

from litestar import get

from ticketing.entrypoints.http import openapi
from ticketing.entrypoints.http.deps import ServicesDep
from ticketing.entrypoints.schemas import DepartmentsOut, departments_out


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
