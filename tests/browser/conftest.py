"""A real headless Chromium (Debian's ``chromium``) driven by Playwright, for the tests in this
folder; skipped when either is missing, failed instead under REQUIRE_REDIS=1 (CI)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.redis import REQUIRE_REDIS

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext

CHROMIUM = "/usr/bin/chromium"
# Headless, and nothing that reaches the network on its own (updates, sync, safe browsing).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
INSTALL = "apt-get install chromium (Debian's package), and uv sync for playwright"


def _unavailable(reason: str) -> None:
    message = f"{reason}: {INSTALL}"
    if REQUIRE_REDIS:  # CI installs both: a missing one is a failure there, never a skip
        pytest.fail(f"REQUIRE_REDIS is set but {message}")
    pytest.skip(message)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[BrowserContext]:
    """A Chromium context on a fresh profile (its own user-data-dir), closed after the test."""
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        _unavailable(f"no {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed")
        raise  # unreachable: _unavailable skips or fails
    executable = CHROMIUM if Path(CHROMIUM).exists() else str(shutil.which("chromium"))
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=executable,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            yield context
        finally:
            context.close()
