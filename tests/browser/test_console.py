"""The console in a real headless Chromium (issue 16): `ticketing serve` on Redis against
`ticketing sandbox`, a ticket Zoho refuses for good (a department it does not have: a dead
letter, and a second one), then the service restarted with the right department, and an
operator who logs in, sees the letters, replays one and watches it become a ticket, purges
the other (after the confirmation page); then the same console on a 390-px-wide phone,
without horizontal scrolling. Screenshots go to SCREENSHOT_DIR (a tmp dir by default; CI
sets docs/console, the README's pictures)."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import httpx
import pytest
import redis

from ticketing.application.intake import api_client, scoped_key

from tests.integration.test_sync_e2e import serving, until
from tests.support.env import sandbox_client_at
from tests.support.http import OLD_FORM
from tests.support.processes import free_port, standalone_emulator

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

pytestmark = [pytest.mark.slow, pytest.mark.redis]

API_KEY = "console-fake-key-0123456789"
PHONE = {"width": 390, "height": 844}


# A department the sandbox's Zoho does not have: its tickets are refused for good (422).
NO_DEPARTMENT = "813934000000999999"


@contextlib.contextmanager
def serve(emulator_url: str, tmp: Path, redis_url: str, prefix: str, **extra: str) -> Iterator[str]:
    """`ticketing serve` on a free port against the emulator, on Redis under ``prefix``, with
    API_KEYS set; its URL once it answers, always stopped."""
    keep = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ZOHO_", "REDIS_", "SYNC_", "INBOUND_", "API_KEYS", "CONSOLE_"))
    }
    env = {
        **keep,
        **sandbox_client_at(
            emulator_url,
            ZOHO_TOKEN_FILE=str(tmp / "tokens.json"),
            API_KEYS=API_KEY,
            REDIS_URL=redis_url,
            REDIS_KEY_PREFIX=prefix,
            LOG_LEVEL="warning",
            **extra,
        ),
    }
    with serving(env, tmp, free_port()) as url:
        yield url


def refused_for_good(url: str, key: str) -> None:
    """A ticket Zoho refuses: a 422 and a dead letter."""
    response = httpx.post(
        f"{url}/tickets/customer",
        data={**OLD_FORM, "subject": "Pago no reflejado <b>hoy</b>"},
        headers={"Idempotency-Key": key, "Authorization": f"Bearer {API_KEY}"},
        timeout=30,
    )
    assert response.status_code == 422, response.text


def log_in(page: Page, url: str) -> None:
    page.goto(f"{url}/console/")
    assert page.url.endswith("/console/login")
    page.fill("#key", "wrong-key-0123456789")
    page.click("button[type=submit]")
    assert page.locator(".error").inner_text() == "wrong API key"
    page.fill("#key", API_KEY)
    page.click("button[type=submit]")
    page.wait_for_selector("#health-status")


def no_horizontal_scroll(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} is {width}px wide on a {PHONE['width']}px phone"


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where the screenshots go: SCREENSHOT_DIR (CI: docs/console), else this test's tmp dir,
    so a developer's run leaves the committed pictures alone."""
    folder = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def redis_prefix(real_redis_url: str, key_prefix: str) -> Iterator[str]:
    """A key prefix of this test's own on the test Redis, its keys deleted afterwards."""
    yield key_prefix
    client = redis.Redis.from_url(real_redis_url)
    try:
        keys = list(client.scan_iter(match=f"{key_prefix}*", count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def test_an_operator_replays_a_dead_letter_and_sees_its_ticket(
    browser: BrowserContext, tmp_path: Path, real_redis_url: str, redis_prefix: str, shots: Path
) -> None:
    """Log in, see the dead letters, Replay one and watch its story become a created ticket,
    purge the other; the phone view has no horizontal scroll."""
    key = "order-4711"
    with standalone_emulator() as emulator_url:
        with serve(
            emulator_url, tmp_path, real_redis_url, redis_prefix, ZOHO_DEPARTMENT_ID=NO_DEPARTMENT
        ) as url:
            refused_for_good(url, key)
            refused_for_good(url, "order-4712")
        # Drains every second (30 s by default), so the replayed ticket is created soon.
        with serve(
            emulator_url, tmp_path, real_redis_url, redis_prefix, QUEUE_RETRY_INTERVAL="1"
        ) as url:
            operate(browser, url, key, shots)


def operate(browser: BrowserContext, url: str, key: str, shots: Path) -> None:
    """What the operator does in the browser, from the login to the phone view."""
    stored = scoped_key(api_client(API_KEY), key)
    page = browser.new_page()
    log_in(page, url)
    assert page.locator("#dead-count").inner_text() == "2"

    page.click("text=Dead letters")
    assert page.locator(".letter").count() == 2
    letter = page.locator(".letter", has_text=stored)
    assert stored in letter.locator(".key").inner_text()
    assert "<b>hoy</b>" in (letter.locator("pre").text_content() or "")  # shown as text
    page.screenshot(path=str(shots / "dead-letters.png"), full_page=True)

    letter.locator("button", has_text="Replay").click()
    assert page.locator(".flash").inner_text() == "replayed 1"
    assert page.locator("#dead-totals").inner_text().startswith("1 in all")
    purge_the_other(page, shots)

    page.fill("input[name=ref]", stored)
    page.press("input[name=ref]", "Enter")

    def created() -> bool:
        if page.locator("#story-state").text_content() == "created":  # shown upper-case
            return True
        page.reload()
        return False

    until(created, "the replayed ticket to be created", within=30)
    assert re.fullmatch(r"#\d+ \(\d+\)", page.locator("#story-ticket").inner_text())
    page.screenshot(path=str(shots / "story.png"), full_page=True)

    page.goto(f"{url}/console/")
    assert page.locator("#dead-count").inner_text() == "0"
    assert page.locator(f"a[href='/console/story?ref={quote(key)}']").count() == 0
    assert page.locator("table.list tbody tr").count() == 1  # the recent ticket
    page.screenshot(path=str(shots / "overview.png"), full_page=True)

    phone = browser.new_page()
    phone.set_viewport_size(PHONE)
    for path in ("/console/", "/console/dead", "/console/queue", "/console/tickets"):
        phone.goto(f"{url}{path}")
        no_horizontal_scroll(phone)
    phone.goto(f"{url}/console/story?ref={quote(stored)}")
    no_horizontal_scroll(phone)
    phone.goto(f"{url}/console/")
    phone.screenshot(path=str(shots / "phone.png"), full_page=True)


def purge_the_other(page: Page, shots: Path) -> None:
    """Filter by the other letter's reason, Purge matching, read the question, confirm."""
    word = "departmentId"  # the field Zoho names in its 422
    assert word in page.locator(".letter .reason").inner_text()
    page.fill("#reason", word)
    page.press("#reason", "Enter")
    page.click("text=Purge matching")
    question = page.locator("#confirm-question").inner_text()
    assert question == f"Delete 1 dead letter(s) matching {word!r} for good?"
    page.screenshot(path=str(shots / "purge.png"), full_page=True)
    page.click("#confirm")
    assert page.locator(".flash").inner_text() == "deleted 1"
    assert page.locator("#dead-totals").inner_text().startswith("0 of 0 match")
