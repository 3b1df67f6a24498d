"""In sandbox mode the in-process emulator is reachable only through the service: the app
serves its pages under /sandbox, and a created ticket's web_url leads there."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from ticketing.container import Container, show_emulator_pages_at
from ticketing.entrypoints.cli import supervise

from tests.support.http import API_KEY, app_client, make_container

pytestmark = pytest.mark.anyio

SERVICE = "http://testserver.local"  # where the test client reaches the app


async def test_a_created_tickets_web_url_opens_its_page(container: Container) -> None:
    """The web_url of the 201 (and of the story) is under the service's /sandbox, and that
    page answers 200 with the ticket; customer text in it is escaped."""
    pages = show_emulator_pages_at(container.emulator_state(), SERVICE)
    assert pages == f"{SERVICE}/sandbox/"
    async with app_client(container) as client:
        created = await client.post(
            "/tickets/customer",
            json={
                "customer_email": "ana@example.com",
                "customer_name": "Ana López",
                "subject": "<script>alert(1)</script> card declined",
                "description": "Charged twice",
            },
            headers={"Idempotency-Key": "order-4711"},
        )
        assert created.status_code == 201, created.text
        web_url = created.json()["web_url"]
        assert web_url.startswith(f"{SERVICE}/sandbox/agent/sandbox/tickets/details/")
        story = await client.get("/tickets/requests/order-4711")
        assert story.json()["ticket"]["url"] == web_url
        page = await client.get(urlsplit(web_url).path)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "&lt;script&gt;alert(1)&lt;/script&gt; card declined" in page.text
        assert "<script>" not in page.text
        assert "Ana López" in page.text
        index = await client.get("/sandbox/")
        assert index.status_code == 200
        assert f'href="{urlsplit(web_url).path}"' in index.text
        assert "/_emulator/" not in index.text  # not served here: no dead links
        missing = await client.get("/sandbox/agent/sandbox/tickets/details/1")
        assert missing.status_code == 404
        assert '<a href="/sandbox/">All tickets</a>' in missing.text


async def test_the_pages_are_read_only_and_not_the_emulator(container: Container) -> None:
    """Only the pages are served: not the emulator's Desk API, control API or accounts."""
    async with app_client(container) as client:
        for path in ("/sandbox/api/v1/organizations", "/sandbox/_emulator/state"):
            assert (await client.get(path)).status_code == 404, path
        assert (await client.post("/sandbox/_emulator/reset")).status_code in (404, 405)


async def test_the_pages_need_the_api_key_like_every_route() -> None:
    """With API_KEYS set, the pages answer 401 without the key and 200 with it."""
    container = make_container({"API_KEYS": API_KEY})
    async with app_client(container) as client:
        assert (await client.get("/sandbox/")).status_code == 401
        allowed = await client.get("/sandbox/", headers={"Authorization": f"Bearer {API_KEY}"})
        assert allowed.status_code == 200


async def test_no_pages_without_an_in_process_emulator() -> None:
    """Against a Zoho (or a standalone emulator) by URL there is nothing to serve: 404."""
    container = make_container(
        {
            "ZOHO_CLIENT_ID": "1000.fake-client-id",
            "ZOHO_CLIENT_SECRET": "fake-secret",
            "ZOHO_DESK_URL": "http://127.0.0.1:9",
            "ZOHO_ACCOUNTS_URL": "http://127.0.0.1:9",
        }
    )
    assert container.emulator_pages() is None
    assert show_emulator_pages_at(container.emulator_state(), SERVICE) is None
    async with app_client(container) as client:
        assert (await client.get("/sandbox/")).status_code == 404


@pytest.mark.parametrize(
    ("host", "shown"),
    [
        ("0.0.0.0", "localhost"),  # noqa: S104 - a value under test, nothing binds it
        ("::", "localhost"),
        ("127.0.0.1", "127.0.0.1"),
        ("::1", "::1"),
    ],
)
def test_a_wildcard_bind_address_links_to_localhost(host: str, shown: str) -> None:
    """`serve` bound to every interface (a container's 0.0.0.0) puts localhost in the
    web_url: a wildcard address is nowhere to browse to."""
    assert supervise.browsable(host) == shown


async def test_a_page_is_logged_by_the_path_asked_for(
    container: Container, caplog: pytest.LogCaptureFixture
) -> None:
    """The request line names /sandbox/…, not the path the mounted pages see."""
    caplog.set_level("INFO", logger="ticketing.http")
    async with app_client(container) as client:
        assert (await client.get("/sandbox/")).status_code == 200
    lines = [r.getMessage() for r in caplog.records if r.name == "ticketing.http"]
    assert any(line.startswith("GET /sandbox/ → 200") for line in lines), lines
