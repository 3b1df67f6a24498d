"""Webhook subscriptions in the emulator (Webhook.json, the editions' limits, Zoho's URL
check) and their deliveries: filters, batching, the deadline, redeliveries, duplicates, 410."""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx
import jwt
import pytest
from jwt.algorithms import RSAAlgorithm

from zoho_desk_emulator import EmulatorState, create_emulator_app

from tests.support.clock import ManualClock
from tests.zoho_desk_emulator.helpers import (
    BASE_URL,
    SUBSCRIBER,
    Receiver,
    create_ticket,
    desk_headers,
    refresh,
    subscription,
)

pytestmark = pytest.mark.anyio

THREADS_OUT = {"Ticket_Thread_Add": {"direction": "out"}}
STATUS = {"Ticket_Update": {"fields": ["status"], "includePrevState": True}}


async def subscribe(
    client: httpx.AsyncClient, headers: dict[str, str], **subscriptions: Any
) -> dict[str, Any]:
    answer = await client.post(
        "/api/v1/webhooks", headers=headers, json=subscription(**subscriptions)
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def new_ticket(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    answer = await create_ticket(client, headers)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["id"])


def errors_of(answer: httpx.Response) -> list[tuple[str, str]]:
    assert answer.status_code == 422, answer.text
    assert answer.json()["errorCode"] == "INVALID_DATA"
    return [(e["fieldName"], e["errorType"]) for e in answer.json()["errors"]]


async def test_the_subscription_api_round_trip(
    client: httpx.AsyncClient, headers: dict[str, str], receiver: Receiver
) -> None:
    """Create (after a GET to the URL), list, get, update, delete; an empty list is 204."""
    assert (await client.get("/api/v1/webhooks", headers=headers)).status_code == 204
    created = await subscribe(client, headers, **THREADS_OUT, **STATUS, Ticket_Comment_Add=None)
    assert receiver.requests[0][0] == "GET"
    assert created["url"] == SUBSCRIBER
    assert created["isEnabled"] is True
    assert created["type"] == "CUSTOMER_WEBHOOK"
    path = f"/api/v1/webhooks/{created['id']}"
    listed = await client.get("/api/v1/webhooks", headers=headers)
    assert [w["id"] for w in listed.json()["data"]] == [created["id"]]
    assert (await client.get(path, headers=headers)).json()["subscriptions"] == {
        **THREADS_OUT,
        **STATUS,
        "Ticket_Comment_Add": None,
    }
    updated = await client.patch(
        path, headers=headers, json={"subscriptions": THREADS_OUT, "isEnabled": False}
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["isEnabled"] is False
    assert updated.json()["subscriptions"] == THREADS_OUT
    deleted = await client.delete(path, headers=headers)
    assert (deleted.status_code, deleted.content) == (200, b"")
    assert (await client.get(path, headers=headers)).status_code == 404


async def test_the_url_check_tries_get_then_post(
    client: httpx.AsyncClient, headers: dict[str, str], receiver: Receiver
) -> None:
    """A GET that is not a 200 is followed by a POST; neither 200: the create is refused."""
    receiver.statuses = [405, 200]
    await subscribe(client, headers, **THREADS_OUT)
    assert [method for method, _, _ in receiver.requests] == ["GET", "POST"]
    receiver.status = 404
    answer = await client.post("/api/v1/webhooks", headers=headers, json=subscription(**STATUS))
    assert errors_of(answer) == [("/url", "invalid")]
    assert len((await client.get("/api/v1/webhooks", headers=headers)).json()["data"]) == 1


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"subscriptions": THREADS_OUT}, ("/url", "missing")),
        ({"url": SUBSCRIBER}, ("/subscriptions", "missing")),
        ({"url": SUBSCRIBER + "x" * 500, "subscriptions": THREADS_OUT}, ("/url", "invalid")),
        ({"url": "subscriber.example/hook", "subscriptions": THREADS_OUT}, ("/url", "invalid")),
        (
            {"url": SUBSCRIBER, "subscriptions": {"Ticket_Reply": None}},
            ("/subscriptions/Ticket_Reply", "invalid"),
        ),
        (
            {"url": SUBSCRIBER, "subscriptions": {"Ticket_Thread_Add": {"direction": "both"}}},
            ("/subscriptions/Ticket_Thread_Add/direction", "invalid"),
        ),
        (
            {"url": SUBSCRIBER, "subscriptions": {"Ticket_Thread_Add": {"fields": ["status"]}}},
            ("/subscriptions/Ticket_Thread_Add/fields", "invalid"),
        ),
        (
            {"url": SUBSCRIBER, "subscriptions": {"Ticket_Update": {"fields": list("abcdef")}}},
            ("/subscriptions/Ticket_Update/fields", "invalid"),
        ),
        (
            {"url": SUBSCRIBER, "subscriptions": {"Ticket_Add": {"departmentIds": ["sales"]}}},
            ("/subscriptions/Ticket_Add/departmentIds", "invalid"),
        ),
        (
            {"url": SUBSCRIBER, "subscriptions": {"Ticket_Delete": {"x": 1}}},
            ("/subscriptions/Ticket_Delete", "invalid"),
        ),
        ({"url": SUBSCRIBER, "subscriptions": {}}, ("/subscriptions", "invalid")),
        ({**subscription(**THREADS_OUT), "name": "n" * 101}, ("/name", "invalid")),
        ({**subscription(**THREADS_OUT), "description": "order #1"}, ("/description", "invalid")),
        (
            {**subscription(**THREADS_OUT), "ignoreSourceId": "not-a-uuid"},
            ("/ignoreSourceId", "invalid"),
        ),
        (
            {**subscription(**THREADS_OUT), "includeEventsFrom": ["MANUAL"]},
            ("/includeEventsFrom", "invalid"),
        ),
        ({**subscription(**THREADS_OUT), "isEnabled": "yes"}, ("/isEnabled", "invalid")),
        ({**subscription(**THREADS_OUT), "secret": "x"}, ("/secret", "invalid")),
    ],
)
async def test_create_refuses_what_webhook_json_refuses(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    body: dict[str, Any],
    expected: tuple[str, str],
) -> None:
    """Each bad create is a 422 INVALID_DATA naming the field."""
    answer = await client.post("/api/v1/webhooks", headers=headers, json=body)
    assert expected in errors_of(answer)


async def test_update_needs_subscriptions_and_a_short_url(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    """The update requires subscriptions, and its url has at most 100 characters."""
    path = f"/api/v1/webhooks/{(await subscribe(client, headers, **STATUS))['id']}"
    answer = await client.patch(path, headers=headers, json={"isEnabled": False})
    assert ("/subscriptions", "missing") in errors_of(answer)
    long_url = "http://subscriber.example/" + "x" * 80
    answer = await client.patch(
        path, headers=headers, json={"subscriptions": STATUS, "url": long_url}
    )
    assert ("/url", "invalid") in errors_of(answer)


async def test_editions_and_scopes_limit_webhooks(clock: ManualClock, receiver: Receiver) -> None:
    """Standard has none (403); Professional enables 5, a 6th only disabled; a token without
    Desk.events/settings/webhooks scopes is 401 SCOPE_MISMATCH."""
    for edition, enabled in (("Standard", 0), ("Professional", 5)):
        state = EmulatorState(
            clock, edition=edition, webhook_transport=httpx.ASGITransport(receiver)
        )
        transport = httpx.ASGITransport(app=create_emulator_app(state))
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            headers = desk_headers((await refresh(client)).json()["access_token"])
            for _ in range(enabled):
                await subscribe(client, headers, **STATUS)
            over = await client.post(
                "/api/v1/webhooks", headers=headers, json=subscription(**STATUS)
            )
            assert (over.status_code, over.json()["errorCode"]) == (403, "LICENSE_ACCESS_LIMITED")
            if enabled:
                disabled = {**subscription(**STATUS), "isEnabled": False}
                answer = await client.post("/api/v1/webhooks", headers=headers, json=disabled)
                assert answer.status_code == 200, answer.text
    state.oauth.add_refresh_token("1000.fake-sandbox-client-id", "Desk.tickets.ALL", "1000.narrow")
    transport = httpx.ASGITransport(app=create_emulator_app(state))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        headers = desk_headers((await refresh(client, "1000.narrow")).json()["access_token"])
        answer = await client.get("/api/v1/webhooks", headers=headers)
        assert (answer.status_code, answer.json()["errorCode"]) == (401, "SCOPE_MISMATCH")


async def test_deliveries_follow_the_filters(
    client: httpx.AsyncClient, headers: dict[str, str], receiver: Receiver, state: EmulatorState
) -> None:
    """Out threads only (not the customer's), comments, status changes with the state
    before (not a priority change): each a JSON array with Zoho's keys and x-zoho-event."""
    await subscribe(client, headers, **THREADS_OUT, **STATUS, Ticket_Comment_Add=None)
    ticket_id = await new_ticket(client, headers)
    base = f"/_emulator/tickets/{ticket_id}"
    await client.post(f"{base}/threads", json={"text": "hola", "direction": "in"})
    reply = (await client.post(f"{base}/threads", json={"text": "Ya está"})).json()
    comment = (
        await client.post(f"{base}/comments", json={"text": "nota", "isPublic": False})
    ).json()
    path = f"/api/v1/tickets/{ticket_id}"
    await client.patch(path, headers=headers, json={"priority": "Low"})
    await client.post(f"{base}/status", json={"status": "Closed"})
    await state.webhooks.drain()
    posts = receiver.posts()
    assert [h["x-zoho-event"] for h, _ in posts] == [
        "Ticket_Thread_Add",
        "Ticket_Comment_Add",
        "Ticket_Update",
    ]
    thread_event, comment_event, status_event = receiver.events()
    assert set(thread_event) == {"eventType", "eventTime", "orgId", "payload"}
    assert thread_event["orgId"] == "900000001"
    assert thread_event["payload"]["id"] == reply["id"]
    assert thread_event["payload"]["ticketId"] == ticket_id
    assert thread_event["payload"]["direction"] == "out"
    assert comment_event["payload"]["id"] == comment["id"]
    assert status_event["payload"]["status"] == "Closed"
    assert status_event["prevState"]["status"] == "Open"
    assert posts[0][0]["content-type"] == "application/json"


async def test_events_batch_up_to_the_switch(
    client: httpx.AsyncClient, headers: dict[str, str], receiver: Receiver, state: EmulatorState
) -> None:
    """Events raised together go in one delivery of at most webhook_batch events."""
    await subscribe(client, headers, **THREADS_OUT)
    ticket_id = await new_ticket(client, headers)
    state.apply_faults({"webhook_batch": 2})
    for n in range(3):
        state.conversations.add_thread(ticket_id, text=f"reply {n}")
    await state.webhooks.drain()
    assert [len(batch) for _, batch in receiver.posts()] == [2, 1]
    assert [e["payload"]["summary"] for e in receiver.events()] == [
        "reply 0",
        "reply 1",
        "reply 2",
    ]


async def test_a_slow_subscriber_never_holds_the_api(
    client: httpx.AsyncClient, headers: dict[str, str], receiver: Receiver, state: EmulatorState
) -> None:
    """The reply is answered while its delivery is still waiting for the subscriber."""
    await subscribe(client, headers, **THREADS_OUT)
    ticket_id = await new_ticket(client, headers)
    receiver.release = anyio.Event()
    answer = await client.post(f"/_emulator/tickets/{ticket_id}/threads", json={"text": "hola"})
    assert answer.status_code == 200
    listed = await client.get(f"/api/v1/tickets/{ticket_id}/threads", headers=headers)
    assert len(listed.json()["data"]) == 2
    assert state.webhooks.deliveries == []
    receiver.release.set()
    await state.webhooks.drain()
    assert [d.outcome for d in state.webhooks.deliveries] == ["delivered"]


async def test_late_and_failed_deliveries_are_sent_again_as_told(
    client: httpx.AsyncClient, headers: dict[str, str], receiver: Receiver, state: EmulatorState
) -> None:
    """An answer after the deadline is a timeout; no redelivery by default; with
    webhook_redeliveries the same body comes again until a 200."""
    await subscribe(client, headers, **THREADS_OUT)
    ticket_id = await new_ticket(client, headers)
    state.apply_faults({"webhook_timeout": 0.05})
    receiver.delay = 0.5
    state.conversations.add_thread(ticket_id, text="first")
    await state.webhooks.drain()
    assert [d.outcome for d in state.webhooks.deliveries] == ["timeout"]
    receiver.delay = 0.0
    receiver.statuses = [500, 503]
    state.apply_faults({"webhook_redeliveries": 3, "webhook_redelivery_delay": 0})
    state.conversations.add_thread(ticket_id, text="second")
    await state.webhooks.drain()
    outcomes = [(d.attempt, d.status, d.outcome) for d in state.webhooks.deliveries[1:]]
    assert outcomes == [(1, 500, "failed"), (2, 503, "failed"), (3, 200, "delivered")]
    bodies = [b for m, _, b in receiver.requests if m == "POST"]
    assert len(set(bodies[-3:])) == 1


async def test_duplicates_and_a_410_ending_the_subscription(
    client: httpx.AsyncClient, headers: dict[str, str], receiver: Receiver, state: EmulatorState
) -> None:
    """webhook_duplicates sends a delivered batch again; a 410 removes the subscription and
    nothing more is sent to it."""
    await subscribe(client, headers, **THREADS_OUT)
    ticket_id = await new_ticket(client, headers)
    state.apply_faults({"webhook_duplicates": 2})
    state.conversations.add_thread(ticket_id, text="once")
    await state.webhooks.drain()
    assert len(receiver.posts()) == 3
    assert len({str(batch) for _, batch in receiver.posts()}) == 1
    receiver.status = 410
    state.conversations.add_thread(ticket_id, text="gone")
    await state.webhooks.drain()
    assert state.webhooks.deliveries[-1].outcome == "gone"
    assert state.webhooks.subscriptions == {}
    state.conversations.add_thread(ticket_id, text="after")
    await state.webhooks.drain()
    assert [p["payload"]["summary"] for p in receiver.events()][-1] == "gone"


async def test_the_control_api_shows_and_drains_deliveries(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    """POST /_emulator/webhooks/drain waits for the deliveries and lists them."""
    hook = await subscribe(client, headers, **THREADS_OUT)
    ticket_id = await new_ticket(client, headers)
    await client.post(f"/_emulator/tickets/{ticket_id}/threads", json={"text": "hola"})
    drained = (await client.post("/_emulator/webhooks/drain")).json()
    assert drained["pending"] == 0
    assert [s["id"] for s in drained["subscriptions"]] == [hook["id"]]
    (delivery,) = drained["deliveries"]
    assert delivery["outcome"] == "delivered"
    assert delivery["eventTypes"] == ["Ticket_Thread_Add"]
    bad = await client.post("/_emulator/faults", json={"webhook_batch": 0})
    assert bad.status_code == 400


def jwt_of(request_headers: dict[str, str]) -> str:
    return request_headers["x-zdesk-jwt"]


async def test_each_delivery_is_signed_as_zoho_is_reported_to_sign_it(
    client: httpx.AsyncClient, headers: dict[str, str], receiver: Receiver, state: EmulatorState
) -> None:
    """X-ZDesk-JWT: RS256 under the kid of the key at /.well-known/jwks.json (no token, no
    credits), iss orgId:<org>, aud webhookId:<id>, iat now, exp five minutes on."""
    hook = await subscribe(client, headers, **THREADS_OUT)
    ticket_id = await new_ticket(client, headers)
    state.conversations.add_thread(ticket_id, text="firmado")
    await state.webhooks.drain()
    credits = state.credits_left()
    jwks = await client.get("/.well-known/jwks.json")
    assert jwks.status_code == 200
    assert state.credits_left() == credits
    (key,) = jwks.json()["keys"]
    assert (key["kty"], key["alg"], key["use"]) == ("RSA", "RS256", "sig")
    ((posted, _),) = receiver.posts()
    token = jwt_of(posted)
    assert jwt.get_unverified_header(token)["kid"] == key["kid"]
    public = RSAAlgorithm.from_jwk(json.dumps(key))
    claims = jwt.decode(
        token,
        public,
        algorithms=["RS256"],
        audience=f"webhookId:{hook['id']}",
        issuer="orgId:900000001",
        options={"verify_exp": False, "verify_iat": False},
    )
    now = int(state.now().timestamp())
    assert (claims["iat"], claims["exp"]) == (now, now + 300)
    assert [d.signature for d in state.webhooks.deliveries] == ["valid"]


async def test_the_signature_switch_sends_a_bad_signature_or_none(
    client: httpx.AsyncClient, headers: dict[str, str], receiver: Receiver, state: EmulatorState
) -> None:
    """webhook_signature "bad": signed by a key the JWKS does not hold, under its kid;
    "none": no header; anything else is refused. The deliveries list says which."""
    await subscribe(client, headers, **THREADS_OUT)
    ticket_id = await new_ticket(client, headers)
    key = (await client.get("/.well-known/jwks.json")).json()["keys"][0]
    public = RSAAlgorithm.from_jwk(json.dumps(key))
    for switch in ("bad", "none"):
        answer = await client.post("/_emulator/faults", json={"webhook_signature": switch})
        assert answer.status_code == 200, answer.text
        state.conversations.add_thread(ticket_id, text=switch)
        await state.webhooks.drain()
    (bad, _), (unsigned, _) = receiver.posts()
    assert jwt.get_unverified_header(jwt_of(bad))["kid"] == key["kid"]
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(jwt_of(bad), public, algorithms=["RS256"], options={"verify_aud": False})
    assert "x-zdesk-jwt" not in unsigned
    drained = (await client.post("/_emulator/webhooks/drain")).json()
    assert [d["signature"] for d in drained["deliveries"]] == ["bad", "none"]
    refused = await client.post("/_emulator/faults", json={"webhook_signature": "forged"})
    assert refused.status_code == 400
    assert "webhook_signature" in refused.json()["error"]


async def test_the_signing_key_outlives_a_reset_and_fails_with_an_outage(
    client: httpx.AsyncClient, state: EmulatorState
) -> None:
    """Zoho's keys are not a portal's data: a reset keeps them. The JWKS is on the Desk
    host: an outage takes it down too."""
    before = (await client.get("/.well-known/jwks.json")).json()
    await client.post("/_emulator/reset")
    assert (await client.get("/.well-known/jwks.json")).json() == before
    state.apply_faults({"outage": "503"})
    assert (await client.get("/.well-known/jwks.json")).status_code == 503
