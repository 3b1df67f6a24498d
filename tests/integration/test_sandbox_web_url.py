"""A sandbox ticket's web_url opens a page, through real processes: `ticketing serve` on its
embedded defaults (the emulator in-process, reachable only through the service), and the
service pointed at `ticketing sandbox` (the emulator on its own port)."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from tests.integration.test_multipart_serve import serve
from tests.support.env import sandbox_client_at
from tests.support.http import OLD_FORM
from tests.support.processes import standalone_emulator

pytestmark = pytest.mark.slow


def _clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any setting of the service, plus ``extra``."""
    keep = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ZOHO_", "REDIS_", "SYNC_", "INBOUND_", "API_KEYS"))
        and k not in ("HOST", "PORT")
    }
    return {**keep, "LOG_LEVEL": "warning", **extra}


def _opens_the_ticket(web_url: str, subject: str) -> None:
    page = httpx.get(web_url, timeout=10)
    assert page.status_code == 200, (web_url, page.text[:500])
    assert page.headers["content-type"].startswith("text/html")
    assert subject in page.text


def test_the_embedded_sandbox_web_url_opens_on_the_service(tmp_path: Path) -> None:
    """`ticketing serve` with no Zoho credentials: the 201's web_url is under the service's
    own address (/sandbox/…), and opening it shows the ticket."""
    with serve(_clean_env(), tmp_path) as (url, _):
        created = httpx.post(f"{url}/tickets/customer", data=OLD_FORM, timeout=30)
        assert created.status_code == 201, created.text
        web_url = created.json()["web_url"]
        assert web_url.startswith(f"{url}/sandbox/agent/"), web_url
        _opens_the_ticket(web_url, OLD_FORM["subject"])


def test_the_standalone_sandbox_web_url_opens_on_the_emulator(tmp_path: Path) -> None:
    """The service pointed at `ticketing sandbox`: the web_url is on the emulator's port."""
    with standalone_emulator() as emulator_url:
        env = _clean_env(
            **sandbox_client_at(emulator_url, ZOHO_TOKEN_FILE=str(tmp_path / "tokens.json"))
        )
        with serve(env, tmp_path) as (url, _):
            created = httpx.post(f"{url}/tickets/customer", data=OLD_FORM, timeout=30)
            assert created.status_code == 201, created.text
            web_url = created.json()["web_url"]
            assert web_url.startswith(f"{emulator_url}/agent/"), web_url
            _opens_the_ticket(web_url, OLD_FORM["subject"])
        index = httpx.get(f"{emulator_url}/", timeout=10)
        assert index.status_code == 200
        assert OLD_FORM["subject"] in index.text
