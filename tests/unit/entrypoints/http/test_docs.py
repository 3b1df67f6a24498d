"""The API's documentation works on a closed network (issue 16): the Swagger UI pages load
every script, style and icon from the service itself; the document stays behind the API key."""

from __future__ import annotations

import re

import pytest

from tests.support.http import API_KEY, app_client, make_container

pytestmark = pytest.mark.anyio

REFERENCE = re.compile(r'(?:src|href)="([^"]*)"')


@pytest.mark.parametrize("page", ["/schema", "/schema/swagger"])
async def test_the_page_loads_nothing_from_elsewhere(page: str) -> None:
    async with app_client(make_container()) as client:
        response = await client.get(page)
        assert response.status_code == 200
        assert "SwaggerUIBundle" in response.text
        assert not re.search(r"https?://", response.text), "a URL off this service"
        references = REFERENCE.findall(response.text)
        assert len(references) == 4  # the style, two scripts and the icon
        for url in references:
            asset = await client.get(url)
            assert asset.status_code == 200, url
            assert len(asset.content) > 500, url
        kinds = {(await client.get(u)).headers["content-type"].split(";")[0] for u in references}
        assert kinds >= {"text/css", "image/png"}
        assert kinds & {"text/javascript", "application/javascript"}


async def test_the_document_is_named_and_the_old_redoc_page_is_gone() -> None:
    async with app_client(make_container()) as client:
        document = await client.get("/schema/openapi.json")
        assert document.status_code == 200
        assert document.json()["info"]["title"] == "ticketing"
        assert (await client.get("/schema/redoc")).status_code == 404  # its scripts need a CDN


async def test_with_api_keys_the_assets_are_public_but_the_document_is_not() -> None:
    async with app_client(make_container({"API_KEYS": API_KEY})) as client:
        assert (await client.get("/schema/assets/swagger-ui.css")).status_code == 200
        assert (await client.get("/schema/swagger")).status_code == 401
        assert (await client.get("/schema/openapi.json")).status_code == 401
        bearer = {"Authorization": f"Bearer {API_KEY}"}
        assert (await client.get("/schema/swagger", headers=bearer)).status_code == 200
