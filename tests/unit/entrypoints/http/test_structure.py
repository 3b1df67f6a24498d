"""The seams of the HTTP package: one error body built from ``ErrorOut``, one way to the
started services (``Running``), and every refusal decoding as that body."""

from __future__ import annotations

import ast
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import msgspec
import pytest
from litestar import Litestar

from ticketing.container import start, stop
from ticketing.entrypoints import http
from ticketing.entrypoints.http.app import create_app
from ticketing.entrypoints.http.deps import Running
from ticketing.entrypoints.http.errors import error_body
from ticketing.entrypoints.schemas import ErrorOut

from tests.support.http import API_KEY, make_container

pytestmark = pytest.mark.anyio

GOOD = {"Authorization": f"Bearer {API_KEY}"}


def test_the_error_body_names_a_field_only_when_there_is_one() -> None:
    """`error`, `message`, then `field`; an empty or missing field is left out."""
    assert msgspec.json.encode(error_body("invalid", "bad", "subject")) == (
        b'{"error":"invalid","message":"bad","field":"subject"}'
    )
    assert msgspec.json.encode(error_body("internal", "oops")) == (
        b'{"error":"internal","message":"oops"}'
    )
    assert error_body("invalid", "bad", "") == ErrorOut(error="invalid", message="bad")


def test_running_reads_the_state_of_the_app_it_is_bound_to() -> None:
    """Before start-up there are no metrics and no services (a request then fails, as it
    always did); once something puts services in the app's state, handlers see them."""
    running = Running()
    app = Litestar(route_handlers=[])
    running.bind(app)
    assert running.metrics() is None
    with pytest.raises(KeyError):
        running.services()
    marker = object()
    app.state.services = marker  # what a test that starts the container itself does
    assert running.services() is marker


@pytest.fixture
async def guarded() -> AsyncIterator[httpx.AsyncClient]:
    """The API with API_KEYS and a small body limit, its services started here."""
    container = make_container({"API_KEYS": API_KEY, "MAX_BODY_BYTES": "1024"})
    app = create_app(container, drain=False, consumer=False)
    app.state.services = await start(container)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            yield client
    finally:
        await stop(container)


@pytest.mark.parametrize(
    ("method", "path", "headers", "body", "status"),
    [
        ("GET", "/queue", {}, b"", 401),
        ("GET", "/no/such/path", GOOD, b"", 404),
        ("DELETE", "/tickets/customer", GOOD, b"", 405),
        ("GET", "/a%2Fb", GOOD, b"", 400),
        ("POST", "/tickets/customer", GOOD, b"x" * 2000, 413),
        ("POST", "/tickets/customer", {**GOOD, "content-type": "application/json"}, b"[1]", 400),
        ("POST", "/tickets/customer", GOOD, b"subject=a", 422),
    ],
    ids=[
        "guard",
        "router-404",
        "router-405",
        "encoded-slash",
        "too-large",
        "not-object",
        "invalid",
    ],
)
async def test_every_refusal_is_an_error_out_body(
    guarded: httpx.AsyncClient,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes,
    status: int,
) -> None:
    """Whoever refuses (guard, router, middleware, size limit, intake), the body decodes
    strictly as ``ErrorOut``."""
    answer = await guarded.request(method, path, headers=headers, content=body)
    assert answer.status_code == status
    error = msgspec.json.decode(answer.content, type=ErrorOut, strict=True)
    assert error.error
    assert error.message


HTTP_PACKAGE = Path(http.__file__).parent


def test_no_function_local_imports_and_no_hand_reads_of_app_state() -> None:
    """Imports at the top of each module (a cycle cannot hide in a function body), and only
    ``deps.py`` touches the app's state: handlers use ``Provide``, the rest ``Running``."""
    for module in sorted(HTTP_PACKAGE.glob("*.py")):
        tree = ast.parse(module.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                local = [n for n in ast.walk(node) if isinstance(n, (ast.Import, ast.ImportFrom))]
                assert not local, f"{module.name}: import inside {node.name}()"
            if module.name != "deps.py" and isinstance(node, ast.Attribute):
                assert not (node.attr == "state" and _names_app(node.value)), (
                    f"{module.name}:{node.lineno} reads app.state"
                )


def _names_app(node: ast.expr) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "app") or (
        isinstance(node, ast.Name) and node.id == "app"
    )
