"""The API's own documentation, served without the internet: the OpenAPI document at
``/schema/openapi.json`` and Swagger UI at ``/schema`` and ``/schema/swagger``, its scripts and
styles from the ``swagger-ui-py`` package's copy of ``swagger-ui-dist`` (Litestar's defaults
load them from a CDN, which renders a blank page on a closed network)."""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.router import Router
from litestar.static_files import create_static_files_router

from ticketing import __version__

DOCS_PATH = "/schema"
ASSETS_PATH = f"{DOCS_PATH}/assets"


def _static() -> Path:
    """``swagger_ui/static``, found without importing the package (its own code is for other
    frameworks, and it carries no type hints)."""
    spec = find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the swagger-ui-py package is missing: run `uv sync`")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


def openapi_config() -> OpenAPIConfig:
    """The document and one UI (Swagger, at the root and at ``/swagger``), all assets local."""
    swagger = SwaggerRenderPlugin(
        path=["/", "/swagger"],
        js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
        css_url=f"{ASSETS_PATH}/swagger-ui.css",
        standalone_preset_js_url=f"{ASSETS_PATH}/swagger-ui-standalone-preset.js",
        favicon=f'<link rel="icon" type="image/png" href="{ASSETS_PATH}/favicon-32x32.png">',
    )
    return OpenAPIConfig(
        title="ticketing",
        version=__version__,
        description="Customer messages in, Zoho Desk tickets out, exactly once.",
        path=DOCS_PATH,
        render_plugins=[swagger],
        components=Components(
            security_schemes={"bearer": SecurityScheme(type="http", scheme="bearer")}
        ),
    )


def assets_router() -> Router:
    """Swagger UI's files. Public even with ``API_KEYS``: they are the library's, not ours, and
    a browser fetches them without the key; the page and the document stay behind it."""
    return create_static_files_router(
        path=ASSETS_PATH,
        directories=[_static()],
        opt={"public": True},
        include_in_schema=False,
        name="docs-assets",
        cache_control=None,
    )
