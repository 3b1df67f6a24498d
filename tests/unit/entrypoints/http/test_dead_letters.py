"""The dead letters over HTTP (issue 16): listed newest first with totals and a reason
filter, replayed and deleted one by one; a malformed id or limit is a 400 naming it."""

from __future__ import annotations

import pytest
from litestar.testing import AsyncTestClient

from ticketing.adapters.memory_helpdesk import InMemoryHelpdesk
from ticketing.domain.errors import HelpdeskRejected

from tests.support.http import OLD_FORM

pytestmark = pytest.mark.anyio


async def refused(client: AsyncTestClient, helpdesk: InMemoryHelpdesk, n: int) -> None:  # type: ignore[type-arg]
    """``n`` tickets Zoho refuses for good, each a dead letter."""
    for i in range(n):
        helpdesk.fail_next(
            "create_ticket",
            HelpdeskRejected(f"email {i} is not valid", status=422, field="email"),
        )
        form = {**OLD_FORM, "email": f"c{i}@example.com"}
        response = await client.post(
            "/tickets/customer", data=form, headers={"Idempotency-Key": f"k{i}"}
        )
        assert response.status_code == 422


async def test_listed_newest_first_with_totals_and_a_reason_filter(
    memory_helpdesk: InMemoryHelpdesk,
    client: AsyncTestClient,  # type: ignore[type-arg]
) -> None:
    await refused(client, memory_helpdesk, 3)
    body = (await client.get("/queue/dead", params={"limit": 2})).json()
    assert (body["total"], body["matching"]) == (3, 3)
    labels = [d["label"] for d in body["dead_letters"]]
    assert labels == ["api/anonymous/k2", "api/anonymous/k1"]  # keys are namespaced
    assert "payload" not in body["dead_letters"][0]  # the customer's message stays out
    body = (await client.get("/queue/dead", params={"reason": "EMAIL 1"})).json()
    assert (body["total"], body["matching"]) == (3, 1)
    assert [d["key"] for d in body["dead_letters"]] == ["api/anonymous/k1"]
    newest = (await client.get("/queue")).json()["dead_letters"][0]
    assert newest["label"] == "api/anonymous/k2"


async def test_a_letter_is_replayed_then_becomes_a_ticket(
    memory_helpdesk: InMemoryHelpdesk,
    client: AsyncTestClient,  # type: ignore[type-arg]
) -> None:
    await refused(client, memory_helpdesk, 1)
    [letter] = (await client.get("/queue/dead")).json()["dead_letters"]
    response = await client.post(f"/queue/dead/{letter['entry_id']}/replay")
    assert (response.status_code, response.json()) == (200, {"replayed": 1})
    assert (await client.post("/queue/process")).json()["created"] == 1
    assert len(memory_helpdesk.tickets) == 1
    again = await client.post(f"/queue/dead/{letter['entry_id']}/replay")
    assert again.status_code == 404
    assert again.json()["error"] == "not_found"


async def test_a_letter_is_deleted_once(
    memory_helpdesk: InMemoryHelpdesk,
    client: AsyncTestClient,  # type: ignore[type-arg]
) -> None:
    await refused(client, memory_helpdesk, 2)
    first, second = (await client.get("/queue/dead")).json()["dead_letters"]
    assert (await client.delete(f"/queue/dead/{first['entry_id']}")).status_code == 204
    gone = await client.delete(f"/queue/dead/{first['entry_id']}")
    assert gone.status_code == 404
    assert first["entry_id"] in gone.json()["message"]
    body = (await client.get("/queue/dead")).json()
    assert [d["entry_id"] for d in body["dead_letters"]] == [second["entry_id"]]
    story = (await client.get("/tickets/requests/k1")).json()
    assert story["state"] == "dead"  # its story still says what happened


@pytest.mark.parametrize(
    ("method", "path", "field"),
    [
        ("DELETE", "/queue/dead/abc", "entry_id"),
        ("POST", "/queue/dead/1-1x/replay", "entry_id"),
        ("GET", "/queue/dead?limit=0", "limit"),
        ("GET", "/queue/dead?limit=1001", "limit"),
        ("GET", "/queue/dead?reason=", "reason"),
        ("GET", "/queue/pending?limit=many", "limit"),
    ],
)
async def test_a_bad_parameter_is_a_400_naming_it(
    client: AsyncTestClient,  # type: ignore[type-arg]
    method: str,
    path: str,
    field: str,
) -> None:
    response = await client.request(method, path)
    assert response.status_code == 400
    body = response.json()
    assert (body["error"], body["field"]) == ("invalid_parameter", field)
    assert body["message"].startswith(f"{field}: ")
