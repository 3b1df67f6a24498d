"""GET /tickets/requests/{key} and GET /queue/pending over HTTP: the Location of 201 and 202
answers leads to the story; a caller sees only its own keys; 404 is one JSON line; the
pending queue lists key, age, attempts and the last error."""

from __future__ import annotations

import pytest
from litestar.testing import AsyncTestClient

from ticketing.adapters.memory_helpdesk import InMemoryHelpdesk
from ticketing.container import Container
from ticketing.domain.errors import HelpdeskUnavailable

from tests.support.http import API_KEY, OLD_FORM, app_client, make_container

pytestmark = pytest.mark.anyio

OTHER_KEY = "other-key-0123456789abcdef"


async def test_a_created_ticket_answers_with_the_location_of_its_story(
    client: AsyncTestClient,  # type: ignore[type-arg]
) -> None:
    """201 with Location /tickets/requests/<key as written>; the story has the Zoho ticket
    and the created event as published; found by request_id too."""
    response = await client.post(
        "/tickets/customer", data=OLD_FORM, headers={"Idempotency-Key": "order:4711"}
    )
    assert response.status_code == 201, response.text
    assert response.headers["location"] == "/tickets/requests/order:4711"
    body = response.json()
    story = await client.get(response.headers["location"])
    assert story.status_code == 200, story.text
    data = story.json()
    assert data["key"] == "order:4711"
    assert data["state"] == "created"
    assert data["ticket"] == {
        "id": body["ticket_id"],
        "number": body["ticket_number"],
        "url": body["web_url"],
    }
    assert data["created_event"]["ticket_id"] == body["ticket_id"]
    assert data["created_event"]["request_id"] == body["request_id"]
    assert data["created_event"]["source"] == "http"
    assert data["last_error"] is None
    assert data["joined"] is None
    by_id = await client.get(f"/tickets/requests/{body['request_id']}")
    assert by_id.json() == data


async def test_a_queued_ticket_answers_with_its_location_and_shows_queued(
    memory_helpdesk: InMemoryHelpdesk,
    client: AsyncTestClient,  # type: ignore[type-arg]
) -> None:
    """202 carries Location too; the pending queue lists it with its age and attempts."""
    memory_helpdesk.fail_next("search_contacts", HelpdeskUnavailable("connection refused"))
    response = await client.post("/tickets/customer", data=OLD_FORM)
    assert response.status_code == 202, response.text
    key = response.json()["idempotency_key"]
    assert response.headers["location"] == f"/tickets/requests/{key}"
    story = (await client.get(response.headers["location"])).json()
    assert story["state"] in ("accepted", "queued")
    assert story["ticket"] is None
    assert story["created_event"] is None
    pending = (await client.get("/queue/pending")).json()
    assert pending["count"] == 1
    [entry] = pending["entries"]
    assert entry["key"] == f"api/anonymous/{key}"
    assert entry["age_seconds"] >= 0
    assert set(entry) >= {"attempts", "last_error", "last_error_at", "queued_at", "state"}


async def test_a_replayed_key_also_carries_the_location(
    client: AsyncTestClient,  # type: ignore[type-arg]
) -> None:
    headers = {"Idempotency-Key": "again-1"}
    await client.post("/tickets/customer", data=OLD_FORM, headers=headers)
    second = await client.post("/tickets/customer", data=OLD_FORM, headers=headers)
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.headers["location"] == "/tickets/requests/again-1"


async def test_an_unknown_request_is_404_with_one_json_line(
    client: AsyncTestClient,  # type: ignore[type-arg]
) -> None:
    response = await client.get("/tickets/requests/nothing-here")
    assert response.status_code == 404
    body = response.json()
    assert body["error"] == "not_found"
    assert "nothing-here" in body["message"]
    assert "\n" not in response.text


async def test_a_caller_sees_only_its_own_requests() -> None:
    """With API_KEYS: the key's owner finds it by key and request_id, another key gets 404
    for both, and no key at all is 401."""
    container: Container = make_container({"API_KEYS": f"{API_KEY},{OTHER_KEY}"})
    mine = {"Authorization": f"Bearer {API_KEY}"}
    theirs = {"Authorization": f"Bearer {OTHER_KEY}"}
    async with app_client(container) as client:
        created = await client.post(
            "/tickets/customer", data=OLD_FORM, headers={**mine, "Idempotency-Key": "k-1"}
        )
        assert created.status_code == 201, created.text
        request_id = created.json()["request_id"]
        assert (await client.get("/tickets/requests/k-1", headers=mine)).status_code == 200
        found = await client.get(f"/tickets/requests/{request_id}", headers=mine)
        assert found.status_code == 200
        assert (await client.get("/tickets/requests/k-1", headers=theirs)).status_code == 404
        other = await client.get(f"/tickets/requests/{request_id}", headers=theirs)
        assert other.status_code == 404
        assert (await client.get("/tickets/requests/k-1")).status_code == 401
        assert (await client.get("/queue/pending")).status_code == 401


async def test_pending_limit_is_checked(
    client: AsyncTestClient,  # type: ignore[type-arg]
) -> None:
    assert (await client.get("/queue/pending?limit=0")).status_code == 400
    assert (await client.get("/queue/pending?limit=x")).status_code == 400
    empty = await client.get("/queue/pending?limit=5")
    assert empty.json() == {"entries": [], "count": 0}
