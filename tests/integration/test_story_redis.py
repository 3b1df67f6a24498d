"""A request's story on a production-wired instance over Redis (real and fakeredis): an
incident's story by its id and by its request_id (the operator's view), an HTTP caller's by
its key and request_id, and nobody else's."""

from __future__ import annotations

import pytest

from tests.integration import test_key_scopes as scopes
from tests.integration.test_key_scopes import FORM, KEY_A, KEY_B, Wired, bearer, deliver

pytestmark = pytest.mark.anyio

api_keys = scopes.api_keys
wired = scopes.wired


async def test_an_incidents_story_is_the_operators(wired: Wired, api_keys: str) -> None:
    """Found by the incident id and by its request_id (the index written by accept.lua), with
    the created event as published; an HTTP caller gets 404 for both."""
    await deliver(wired, "wa-STORY0001")
    story = await wired.services.story("wa-STORY0001")
    assert story is not None
    assert story.state == "created"
    assert story.event is not None
    assert story.event.incident_id == "wa-STORY0001"
    again = await wired.services.story(story.outcome.request_id)
    assert again is not None
    assert again.outcome.key == "wa-STORY0001"
    for ref in ("wa-STORY0001", story.outcome.request_id):
        answer = await wired.client.get(f"/tickets/requests/{ref}", headers=bearer(KEY_A, api_keys))
        assert answer.status_code == 404, answer.text


async def test_an_http_callers_story_by_key_and_request_id(wired: Wired, api_keys: str) -> None:
    created = await wired.client.post(
        "/tickets/customer",
        data=FORM,
        headers={**bearer(KEY_A, api_keys), "Idempotency-Key": "story-1"},
    )
    assert created.status_code == 201, created.text
    location = created.headers["location"]
    assert location == "/tickets/requests/story-1"
    request_id = created.json()["request_id"]
    mine = (await wired.client.get(location, headers=bearer(KEY_A, api_keys))).json()
    assert mine["state"] == "created"
    assert mine["ticket"]["id"] == created.json()["ticket_id"]
    by_id = await wired.client.get(
        f"/tickets/requests/{request_id}", headers=bearer(KEY_A, api_keys)
    )
    assert by_id.json() == mine
    if api_keys:  # another client's namespace
        other = await wired.client.get(location, headers=bearer(KEY_B, api_keys))
        assert other.status_code == 404
        other_id = await wired.client.get(
            f"/tickets/requests/{request_id}", headers=bearer(KEY_B, api_keys)
        )
        assert other_id.status_code == 404
