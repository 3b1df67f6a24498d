"""Swagger UI on a closed network, in a real headless Chromium (issue 16): `ticketing serve` on
its embedded defaults, every request the page makes that leaves the service is refused, and the
page still renders every operation of /schema/openapi.json."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx
import pytest

from tests.integration.test_sync_e2e import serving
from tests.support.processes import free_port

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Route

pytestmark = [pytest.mark.slow]


@pytest.mark.parametrize("page_path", ["/schema", "/schema/swagger"])
def test_swagger_ui_renders_every_operation_without_the_internet(
    browser: BrowserContext, tmp_path: Path, page_path: str
) -> None:
    # Embedded defaults: no Zoho credentials, no Redis, no API keys (a clean environment).
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ZOHO_", "REDIS_", "API_KEYS", "HOST", "PORT"))
    }
    port = free_port()
    elsewhere: list[str] = []

    def only_the_service(route: Route) -> None:
        if urlsplit(route.request.url).netloc == f"127.0.0.1:{port}":
            route.continue_()
        else:  # what a closed network does to a CDN
            elsewhere.append(route.request.url)
            route.abort("internetdisconnected")

    with serving(env, tmp_path, port) as url:
        paths = httpx.get(f"{url}/schema/openapi.json").json()["paths"]
        operations = sum(len(methods) for methods in paths.values())
        page = browser.new_page()
        page.route("**/*", only_the_service)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{url}{page_path}")
        page.wait_for_selector(".opblock", timeout=20_000)
        assert page.locator(".opblock").count() == operations
        assert page.locator(".info .title").inner_text().startswith("ticketing")
        page.get_by_text("/tickets/customer", exact=True).first.click()  # opens the operation
        page.wait_for_selector(".opblock.is-open .parameters, .opblock.is-open .opblock-body")
        assert (elsewhere, errors) == ([], [])
