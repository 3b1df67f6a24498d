"""Schemathesis against the service's own OpenAPI: no 5xx, and every answer (status, content
type, body) is one the document describes. Seeded and bounded, so it is part of every run."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from dependency_injector import providers
from hypothesis import HealthCheck, reject, settings
from litestar.testing import TestClient
from schemathesis import checks

from ticketing.adapters.memory_helpdesk import InMemoryHelpdesk
from ticketing.entrypoints.http.app import create_app

from tests.support.http import make_container

ENV = {"DEFAULT_CONTACT_EMAIL": "ops@example.com"}
# Per operation; derandomized, so every run sends the same requests.
EXAMPLES = 25
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
]


@pytest.fixture
def service() -> Iterator[TestClient[Any]]:
    """The service with an in-memory helpdesk and store, started once per operation."""
    container = make_container(ENV)
    # The in-memory helpdesk instead of the emulator over HTTP: the same answers, faster.
    container.zoho.override(providers.Object(InMemoryHelpdesk(clock=container.clock())))
    with TestClient(create_app(container, drain=False, consumer=False)) as client:
        yield client


def openapi_document() -> dict[str, Any]:
    """The document the service serves at /schema/openapi.json (built without starting it)."""
    app = create_app(make_container(ENV), drain=False, consumer=False)
    return app.openapi_schema.to_schema()


schema = schemathesis.openapi.from_dict(openapi_document())


def _parts(files: Any) -> list[tuple[str, Any]]:
    """Schemathesis's multipart parts, each value text or bytes (it may generate numbers)."""
    out: list[tuple[str, Any]] = []
    for name, value in files:
        filename, content, *rest = value if isinstance(value, tuple) else (None, value)
        if not isinstance(content, bytes | str):
            content = str(content)
        out.append((name, (filename, content, *rest)))
    return out


def send(client: TestClient[Any], case: Any) -> Any:
    kwargs = case.as_transport_kwargs(base_url="http://testserver.local")
    data = kwargs.pop("data", None)
    if isinstance(data, (bytes, str)):
        kwargs["content"] = data  # httpx wants raw bodies as content
    elif data is not None:
        kwargs["data"] = data
    kwargs.pop("cookies", None)
    if kwargs.get("files"):
        # A multipart case: encoded here, as the test transport reads bodies whole.
        encoded = httpx.Request(
            "POST", "http://x", files=_parts(kwargs.pop("files")), data=kwargs.pop("data", None)
        )
        kwargs["content"] = encoded.read()
        headers = {k: v for k, v in (kwargs.get("headers") or {}).items()}
        headers["Content-Type"] = encoded.headers["Content-Type"]
        kwargs["headers"] = headers
    try:
        return client.request(**kwargs)
    except httpx.InvalidURL:
        reject()  # a URL the client itself refuses to send (too long) says nothing of the service


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_answer_is_documented_and_none_is_a_server_error(
    case: Any, service: TestClient[Any]
) -> None:
    """Generated requests for each operation get no 5xx and answers matching the OpenAPI."""
    response = send(service, case)
    case.validate_response(response, checks=CHECKS)


def test_ticket_operations_describe_every_answer_and_request_form() -> None:
    """The OpenAPI of POST /tickets/customer lists its statuses, JSON, form and multipart
    (files) bodies and the fields as query parameters; POST /tickets takes no files."""
    operation = openapi_document()["paths"]["/tickets/customer"]["post"]
    assert set(operation["responses"]) >= {"201", "202", "400", "401", "413", "422", "503"}
    assert set(operation["requestBody"]["content"]) == {
        "application/json",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    }
    assert (
        "file" in operation["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]
    )
    admin = openapi_document()["paths"]["/tickets"]["post"]
    assert "multipart/form-data" not in admin["requestBody"]["content"]
    query = {p["name"] for p in operation["parameters"] if p["in"] == "query"}
    assert {"customer_email", "customer_phone", "subject", "description", "priority"} <= query
    headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
    assert headers == {"Idempotency-Key", "X-Request-ID"}
