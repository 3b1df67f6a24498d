"""Webhook subscriptions (``Webhook.json``) and their deliveries: Zoho's URL check, the
editions' limits, and each event POSTed as a JSON array to the subscribed URLs in the
background, with Zoho's deadline, a ``410 Gone`` ending the subscription, and the batching,
redelivery and duplication switches of :class:`Faults`; each delivery signed (``X-ZDesk-JWT``,
:mod:`.signing`) unless the ``webhook_signature`` switch says otherwise."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import anyio
import httpx

from zoho_desk_emulator.clock import Clock
from zoho_desk_emulator.constraints import CREATE_WEBHOOK, UPDATE_WEBHOOK, Schema, validate
from zoho_desk_emulator.desk import Desk
from zoho_desk_emulator.errors import DeskError, FieldError, invalid_data, not_a_json_object
from zoho_desk_emulator.events import DeskEvent
from zoho_desk_emulator.faults import Faults
from zoho_desk_emulator.records import WebhookRecord, zoho_time
from zoho_desk_emulator.signing import HEADER as SIGNATURE_HEADER
from zoho_desk_emulator.signing import WebhookSigner

# Webhooks that can be enabled at once, by edition (facts page); editions not listed: none.
ENABLED_BY_EDITION: Final = {"PROFESSIONAL": 5, "ENTERPRISE": 10, "ZOHOONE": 10}
# configured (enabled or not) per portal
MAX_CONFIGURED: Final = 20
_NOT_FOUND: Final = "The URL you requested could not be found."


@dataclass(frozen=True, slots=True)
class Delivery:
    """One POST to a subscriber. ``outcome``: delivered (200 in time), failed (another
    status, or no connection: ``status`` 0), timeout (no answer by the deadline), gone (410:
    the subscription is removed); ``copy`` counts the duplicates of a delivered one;
    ``signature``: how it was signed (``valid``, ``bad``, ``none``)."""

    webhook_id: str
    url: str
    event_types: tuple[str, ...]
    attempt: int
    copy: int
    status: int
    outcome: str
    at: datetime
    seconds: float
    signature: str = "valid"

    def as_json(self) -> dict[str, Any]:
        return {
            "webhookId": self.webhook_id,
            "url": self.url,
            "eventTypes": list(self.event_types),
            "attempt": self.attempt,
            "copy": self.copy,
            "status": self.status,
            "outcome": self.outcome,
            "at": zoho_time(self.at),
            "seconds": round(self.seconds, 3),
            "signature": self.signature,
        }


class Webhooks:
    """One account's webhook subscriptions, and the deliveries made to them.

    Events come from :class:`Desk` (it calls :meth:`on_event`); each subscription that
    wants one gets it queued, and a background task per subscription POSTs its queue in
    batches, so no API call ever waits for a subscriber. Without a running event loop the
    events wait for :meth:`drain`. ``transport`` (tests) replaces the network.
    """

    def __init__(
        self,
        clock: Clock,
        faults: Faults,
        desk: Desk,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        lenient: bool = False,
        signer: WebhookSigner | None = None,
    ) -> None:
        self.clock = clock
        self.signer = signer or WebhookSigner()
        self.faults = faults
        self.desk = desk
        self.transport = transport
        self.lenient = lenient
        self.subscriptions: dict[str, WebhookRecord] = {}
        self.deliveries: list[Delivery] = []
        self._pending: dict[str, list[dict[str, Any]]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        desk.listeners.append(self.on_event)

    def __repr__(self) -> str:
        return (
            f"Webhooks(subscriptions={len(self.subscriptions)}, "
            f"deliveries={len(self.deliveries)}, pending={self.pending()})"
        )

    def pending(self) -> int:
        """Events queued and not yet handed to a delivery."""
        return sum(len(events) for events in self._pending.values())

    # ------------------------------------------------------------ the subscription API

    def listing(self, org_id: str) -> list[dict[str, Any]]:
        return [w.as_zoho() for w in self.subscriptions.values() if w.org_id == org_id]

    def get(self, org_id: str, webhook_id: str) -> WebhookRecord:
        found = self.subscriptions.get(webhook_id)
        if found is None or found.org_id != org_id:
            raise DeskError(404, "URL_NOT_FOUND", _NOT_FOUND)
        return found

    async def create(self, org_id: str, body: Any) -> WebhookRecord:
        """``POST /webhooks``: validated (422), within the edition's limits (403), created
        only when the URL answers Zoho's check with a 200 (422 otherwise)."""
        body = self._checked(CREATE_WEBHOOK, body)
        enabled = bool(body.get("isEnabled", True))
        mine = [w for w in self.subscriptions.values() if w.org_id == org_id]
        if len(mine) >= MAX_CONFIGURED:
            raise _limit(f"a portal has at most {MAX_CONFIGURED} webhooks")
        if enabled:
            self._check_enabled_limit(org_id, mine)
        url = str(body["url"])
        await self._check_url(url)
        now = self.desk.now()
        record = WebhookRecord(
            id=self.desk.new_id(),
            org_id=org_id,
            url=url,
            subscriptions=dict(body["subscriptions"]),
            created_time=now,
            modified_time=now,
            name=body.get("name"),
            description=body.get("description"),
            is_enabled=enabled,
            include_events_from=list(body.get("includeEventsFrom") or []),
            ignore_source_id=body.get("ignoreSourceId"),
        )
        self.subscriptions[record.id] = record
        return record

    async def update(self, org_id: str, webhook_id: str, body: Any) -> WebhookRecord:
        """``PATCH /webhooks/{id}``: ``subscriptions`` is required (and replaces the old);
        a new URL is checked like on create; enabling respects the edition's limit."""
        record = self.get(org_id, webhook_id)
        body = self._checked(UPDATE_WEBHOOK, body)
        if body.get("isEnabled") is True and not record.is_enabled:
            others = [w for w in self.subscriptions.values() if w.org_id == org_id]
            self._check_enabled_limit(org_id, others)
        url = body.get("url")
        if url is not None and url != record.url:
            await self._check_url(str(url))
            record.url = str(url)
        record.subscriptions = dict(body["subscriptions"])
        if "isEnabled" in body:
            record.is_enabled = bool(body["isEnabled"])
        for name, attribute in (
            ("name", "name"),
            ("description", "description"),
            ("ignoreSourceId", "ignore_source_id"),
        ):
            if name in body:
                setattr(record, attribute, body[name])
        if "includeEventsFrom" in body:
            record.include_events_from = list(body["includeEventsFrom"] or [])
        record.modified_time = self.desk.now()
        return record

    def delete(self, org_id: str, webhook_id: str) -> None:
        record = self.get(org_id, webhook_id)
        self._remove(record.id)

    def _remove(self, webhook_id: str) -> None:
        self.subscriptions.pop(webhook_id, None)
        self._pending.pop(webhook_id, None)

    def _checked(self, schema: Schema, body: Any) -> Mapping[str, Any]:
        if not isinstance(body, Mapping):
            raise not_a_json_object()
        if self.lenient:
            return body
        found = validate(schema, body)
        subscriptions = body.get("subscriptions")
        # an empty subscription list subscribes to nothing: refused (the description is
        # silent; the stricter reading)
        if not found and isinstance(subscriptions, Mapping) and not subscriptions:
            raise invalid_data(
                FieldError("/subscriptions", "invalid", "subscribe to at least one event")
            )
        if found:
            raise invalid_data(*(FieldError(f"/{v.field}", v.error_type, v.message) for v in found))
        return body

    def _check_enabled_limit(self, org_id: str, mine: list[WebhookRecord]) -> None:
        organization = self.desk.organizations[org_id]
        allowed = ENABLED_BY_EDITION.get(organization.edition.upper(), 0)
        if allowed == 0:
            raise _limit(f"the {organization.edition} edition has no webhooks")
        if sum(1 for w in mine if w.is_enabled) >= allowed:
            raise _limit(f"the {organization.edition} edition enables at most {allowed} webhooks")

    async def _check_url(self, url: str) -> None:
        """Zoho's validation: a GET to the URL; if that is not a 200, a POST (with an empty
        JSON array: the body is not documented); neither: the create fails."""
        for method in ("GET", "POST"):
            status, _ = await self._send(method, url, b"[]" if method == "POST" else None, {})
            if status == 200:
                return
        # The error Zoho gives for a URL that fails its check is not documented.
        raise invalid_data(
            FieldError("/url", "invalid", "the URL did not answer Zoho's validation with 200")
        )

    # ------------------------------------------------------------ events and deliveries

    def on_event(self, event: DeskEvent) -> None:
        """Queue an event for every enabled subscription that wants it, and start their
        deliveries (in the background, when an event loop runs)."""
        for record in list(self.subscriptions.values()):
            wanted, with_prev = _wants(record, event)
            if not wanted:
                continue
            self._pending.setdefault(record.id, []).append(event.as_zoho(prev_state=with_prev))
            self._start(record.id)

    def _start(self, webhook_id: str) -> None:
        if webhook_id in self._workers:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no event loop: drain() delivers
        self._workers[webhook_id] = loop.create_task(self._work(webhook_id))

    async def _work(self, webhook_id: str) -> None:
        try:
            if self.faults.webhook_batch_window:
                await anyio.sleep(self.faults.webhook_batch_window)
            while self._pending.get(webhook_id):
                queue = self._pending[webhook_id]
                batch = queue[: self.faults.webhook_batch]
                del queue[: len(batch)]
                record = self.subscriptions.get(webhook_id)
                if record is None:
                    break
                await self._deliver(record, batch)
        finally:
            # no await between the last look at the queue and this: nothing is stranded
            self._workers.pop(webhook_id, None)
            if not self._pending.get(webhook_id):
                self._pending.pop(webhook_id, None)

    async def drain(self) -> None:
        """Deliver every queued event and wait for the deliveries in flight (redeliveries
        and duplicates included)."""
        while True:
            for webhook_id, queue in list(self._pending.items()):
                if queue:
                    self._start(webhook_id)
            workers = list(self._workers.values())
            if not workers:
                return
            await asyncio.gather(*workers, return_exceptions=True)

    async def _deliver(self, record: WebhookRecord, batch: list[dict[str, Any]]) -> None:
        body = json.dumps(batch).encode()
        types = tuple(str(e["eventType"]) for e in batch)
        # the header's value is not documented: the event types of the delivery
        headers = {"x-zoho-event": ",".join(dict.fromkeys(types))}
        attempts = 1 + self.faults.webhook_redeliveries
        for attempt in range(1, attempts + 1):
            outcome = await self._post(record, body, headers, types, attempt, 0)
            if outcome == "gone":
                self._remove(record.id)
                return
            if outcome == "delivered":
                for copy in range(1, self.faults.webhook_duplicates + 1):
                    if await self._post(record, body, headers, types, attempt, copy) == "gone":
                        self._remove(record.id)
                        return
                return
            if attempt < attempts:
                await anyio.sleep(self.faults.webhook_redelivery_delay)

    async def _post(
        self,
        record: WebhookRecord,
        body: bytes,
        headers: dict[str, str],
        types: tuple[str, ...],
        attempt: int,
        copy: int,
    ) -> str:
        started = time.monotonic()
        # Signed per POST (a redelivery or a copy gets a fresh token, as a sender stamping
        # iat at sending would); the fault switch is read at sending too.
        signature = self.faults.webhook_signature
        if signature != "none":
            token = self.signer.sign(
                record.org_id, record.id, self.desk.now(), bad=signature == "bad"
            )
            headers = {**headers, SIGNATURE_HEADER: token}
        status, timed_out = await self._send("POST", record.url, body, headers)
        if timed_out:
            outcome = "timeout"
        elif status == 410:
            outcome = "gone"
        elif status == 200:
            outcome = "delivered"
        else:
            outcome = "failed"
        self.deliveries.append(
            Delivery(
                record.id,
                record.url,
                types,
                attempt,
                copy,
                status,
                outcome,
                self.desk.now(),
                time.monotonic() - started,
                signature,
            )
        )
        return outcome

    async def _send(
        self, method: str, url: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, bool]:
        """``(status, timed out)``; status 0 when there was no answer. The deadline covers
        the whole exchange, whatever the transport."""
        deadline = self.faults.webhook_timeout
        headers = {"content-type": "application/json", **headers} if body is not None else headers
        async with httpx.AsyncClient(transport=self.transport, timeout=deadline + 1) as http:
            with anyio.move_on_after(deadline) as scope:
                try:
                    answer = await http.request(method, url, content=body, headers=headers)
                except httpx.HTTPError:
                    return 0, False
                return answer.status_code, False
        return 0, scope.cancelled_caught


def _wants(record: WebhookRecord, event: DeskEvent) -> tuple[bool, bool]:
    """(whether the subscription wants the event, whether with ``prevState``)."""
    if not record.is_enabled or record.org_id != event.org_id:
        return False, False
    if event.event_type not in record.subscriptions:
        return False, False
    filters = record.subscriptions[event.event_type]
    if not isinstance(filters, Mapping):
        return True, False
    departments = [*(filters.get("departmentIds") or []), *(filters.get("departmentId") or [])]
    if departments and event.department_id not in {str(d) for d in departments}:
        return False, False
    direction = filters.get("direction")
    if direction and event.direction != direction:
        return False, False
    fields = filters.get("fields")
    if fields and not set(fields) & set(event.changed):
        return False, False
    return True, bool(filters.get("includePrevState"))


def _limit(message: str) -> DeskError:
    # The code Zoho gives beyond an edition's limits is unconfirmed.
    return DeskError(403, "LICENSE_ACCESS_LIMITED", message)
