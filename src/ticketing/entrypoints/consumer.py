"""The Redis inbound consumer: classified incidents from a stream and a pub/sub channel."""

from __future__ import annotations

import contextlib
import json
import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

import anyio
import msgspec
import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from ticketing.adapters.redis.store import CONSUMER_GROUP
from ticketing.adapters.redis.streams import forget_idle_consumers, replay_from, trim_consumed
from ticketing.application import context, intake
from ticketing.domain.errors import StoreUnavailable, ValidationError
from ticketing.domain.model import Outcome, Source
from ticketing.entrypoints.schemas import Incident

if TYPE_CHECKING:
    from ticketing.container import Services

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 256 * 1024


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _entries(response: Any) -> list[Any]:
    """The (id, fields) entries of an XREADGROUP reply."""
    entries: list[Any] = []
    for _stream, items in cast(list[tuple[Any, list[Any]]], response or []):
        entries.extend(items)
    return entries


class Poison(Exception):
    """A message that can never become a ticket."""


def decode_incident(raw: bytes | str) -> Incident:
    """Parse and check one incident; raises Poison with a reason naming the field."""
    data = raw.encode() if isinstance(raw, str) else raw
    if len(data) > MAX_MESSAGE_BYTES:
        raise Poison(f"message is {len(data)} bytes; the limit is {MAX_MESSAGE_BYTES}")
    try:
        return msgspec.json.decode(data, type=Incident)
    except msgspec.ValidationError as exc:
        raise Poison(f"invalid incident: {exc}") from None
    except msgspec.DecodeError as exc:
        raise Poison(f"not JSON: {exc}") from None


async def handle_message(raw: bytes | str, services: Services, *, origin: str) -> Outcome | None:
    """One incident → one accepted ticket (created now if Zoho takes it).

    A malformed message goes to the dead letters with the reason and None is returned.
    Raises StoreUnavailable when it could not be stored: the caller must not acknowledge it.
    """
    try:
        incident = decode_incident(raw)
        draft = intake.incident_ticket(
            incident_id=incident.incident_id,
            customer_name=incident.customer.name,
            customer_email=incident.customer.email,
            customer_phone=incident.customer.phone,
            subject=incident.subject,
            description=incident.description,
            category=incident.category,
            priority=incident.priority,
            confidence=incident.confidence,
            channel=incident.channel,
            received_at=services.clock.now(),
            policy=services.policy,
        )
    except (Poison, ValidationError) as exc:
        reason = str(exc)
        log.warning("poison message from %s: %s", origin, reason)
        # Whole: the store keeps it up to the limit and notes a cut beyond it.
        await services.store.bury_raw(_text(raw), reason, origin)
        if services.metrics is not None:
            services.metrics.ticket("invalid", Source.REDIS)
        return None
    with context.bind(request_id=draft.request_id, incident_id=draft.incident_id, key=draft.key):
        outcome, _new = await services.submit(draft)
    return outcome


class InboundConsumer:
    """Reads ``tickets:classify:result`` through consumer group ``ticket-service`` and the
    pub/sub channel of the same name. A stream entry is acknowledged only once its ticket is
    durably accepted; pub/sub has no redelivery, so it is a best-effort second path."""

    def __init__(
        self,
        redis: aioredis.Redis,
        services: Services,
        *,
        consumer: str | None = None,
        batch: int = 20,
        block_ms: int = 1000,
        reclaim_idle_ms: int | None = None,
    ) -> None:
        self._redis = redis
        self._services = services
        settings = services.settings
        self.stream = settings.inbound_stream
        self.group = settings.inbound_group
        self.consumer = consumer or services.drain.consumer
        self._batch = batch
        self._block_ms = block_ms
        # A batch is handled in about two waves of attempts (20 entries, ZOHO_MAX_CONCURRENCY
        # at once); an entry idle for twice that was left behind by a consumer that died.
        attempt = services.processor.policy.attempt_timeout
        self._reclaim_idle_ms = reclaim_idle_ms or int(attempt * 4 * 1000)
        self._limiter = anyio.CapacityLimiter(max(1, settings.zoho_max_concurrency))
        self._retention = settings.ledger_retention
        self.handled = 0

    async def run(self) -> None:
        """Consume forever (until cancelled); survives Redis outages by retrying."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._stream_loop)
            tg.start_soon(self._pubsub_loop)

    async def ensure_group(self) -> None:
        try:
            await self._redis.xgroup_create(self.stream, self.group, id="$", mkstream=True)
            backlog = await self._redis.xlen(self.stream)
            if backlog:
                # Never from 0: an entry older than the ledger's retention was forgotten, and
                # replaying it would make its ticket a second time.
                since = replay_from(self._services.clock.now(), self._retention)
                log.warning(
                    "created consumer group %s at the end of %s; %d older entries are not "
                    "processed (XGROUP SETID %s %s %s processes those younger than "
                    "LEDGER_RETENTION; older ones would become new tickets)",
                    self.group,
                    self.stream,
                    backlog,
                    self.stream,
                    self.group,
                    since,
                )
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def trim(self) -> int:
        """Drop the inbound entries every group has acknowledged once they are older than the
        ledger's retention (never one unread or in flight), and consumers long gone; returns
        how many entries went."""
        older_than = self._services.clock.now() - timedelta(seconds=self._retention)
        trimmed = await trim_consumed(self._redis, self.stream, older_than)
        await forget_idle_consumers(self._redis, self.stream, self.group, self._retention)
        # The queue's drain adds a consumer per process too.
        queue = self._services.settings.ticket_queue_name
        await forget_idle_consumers(self._redis, queue, CONSUMER_GROUP, self._retention)
        if trimmed:
            log.info("trimmed %d handled entries past the retention from %s", trimmed, self.stream)
        return trimmed

    async def _stream_loop(self) -> None:
        from ticketing.container import check_streams

        delay = 0.5
        checked = False
        while True:
            try:
                if not checked:  # at start, or once Redis answers if it was down then
                    await check_streams(self._redis, self._services.settings)
                    checked = True
                await self.ensure_group()
                # Entries this consumer took and did not acknowledge (the store failed), then
                # those a dead consumer left behind, come first.
                await self.recover()
                # And again while running: a consumer killed meanwhile leaves its entries
                # behind, and no restart of this one may ever come to pick them up.
                every = self._reclaim_idle_ms / 2000
                next_reclaim = anyio.current_time() + every
                while True:
                    await self.poll_once()
                    delay = 0.5
                    if anyio.current_time() >= next_reclaim:
                        await self._reclaim()
                        await self.trim()
                        next_reclaim = anyio.current_time() + every
            except (RedisError, OSError, StoreUnavailable) as exc:
                log.warning("inbound stream: %s; retrying in %.1fs", exc, delay)
                await anyio.sleep(delay)
                delay = min(delay * 2, 15.0)

    async def _reclaim(self) -> None:
        start = "0-0"
        while True:
            result = await self._redis.xautoclaim(
                self.stream, self.group, self.consumer, self._reclaim_idle_ms, start, count=100
            )
            next_id, entries = result[0], result[1]
            await self._handle_entries(entries)
            if next_id in (b"0-0", "0-0"):
                return
            start = next_id

    async def recover(self) -> None:
        """Handle again the entries this consumer was given and did not acknowledge (their
        ticket could not be stored), then those that consumers that died left idle for the
        reclaim time. Raises StoreUnavailable when the store still fails."""
        start: Any = "0"
        while True:
            response = await self._redis.xreadgroup(
                self.group, self.consumer, {self.stream: start}, count=self._batch
            )
            entries = _entries(response)
            if not entries:
                break
            await self._handle_entries(entries)
            start = entries[-1][0]
        await self._reclaim()

    async def poll_once(self, *, block_ms: int | None = None) -> int:
        """Read and handle one batch of new stream entries; returns how many."""
        response = await self._redis.xreadgroup(
            self.group,
            self.consumer,
            {self.stream: ">"},
            count=self._batch,
            block=self._block_ms if block_ms is None else block_ms,
        )
        entries = _entries(response)
        await self._handle_entries(entries)
        return len(entries)

    async def _handle_entries(self, entries: list[Any]) -> None:
        if not entries:
            return
        acked: list[Any] = []
        failures: list[str] = []

        async def one(entry_id: Any, fields: dict[Any, Any] | None) -> None:
            async with self._limiter:
                payload = fields.get(b"payload", fields.get("payload")) if fields else None
                try:
                    if not fields:
                        pass  # deleted while pending: only its pending record was left
                    elif payload is None:
                        # Another program's format: keep every field, as JSON, so nothing is
                        # lost and a replay can still be read.
                        original = {_text(k): _text(v) for k, v in fields.items()}
                        await self._services.store.bury_raw(
                            json.dumps(original, ensure_ascii=False),
                            "stream entry has no 'payload' field",
                            self.stream,
                        )
                    else:
                        await handle_message(payload, self._services, origin=self.stream)
                except StoreUnavailable as exc:
                    failures.append(exc.message)  # not acknowledged: it will be redelivered
                    return
                except Exception:
                    # Unforeseen, on this one message: leave it pending (it is reclaimed and
                    # tried again later) and go on with the others.
                    log.exception("inbound entry %s failed; left pending", _text(entry_id))
                    return
                acked.append(entry_id)
                self.handled += 1

        try:
            async with anyio.create_task_group() as tg:
                for entry_id, fields in entries:
                    tg.start_soon(one, entry_id, fields)
        finally:
            if acked:
                with anyio.CancelScope(shield=True):
                    await self._redis.xack(self.stream, self.group, *acked)
        if failures:
            raise StoreUnavailable(failures[0])

    async def _pubsub_loop(self) -> None:
        delay = 0.5
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.stream)
                delay = 0.5
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is None or message.get("type") != "message":
                        continue
                    try:
                        await handle_message(message["data"], self._services, origin=self.stream)
                        self.handled += 1
                    except StoreUnavailable as exc:
                        # Pub/sub cannot redeliver; the stream copy (if the publisher writes
                        # both) is the durable path.
                        log.error("pub/sub incident could not be stored: %s", exc.message)
                    except Exception:
                        log.exception("pub/sub incident failed")  # the next one still counts
            except (RedisError, OSError) as exc:
                log.warning("inbound pub/sub: %s; retrying in %.1fs", exc, delay)
                await anyio.sleep(delay)
                delay = min(delay * 2, 15.0)
            finally:
                with anyio.CancelScope(shield=True):
                    with contextlib.suppress(RedisError, OSError):
                        await pubsub.aclose()  # type: ignore[no-untyped-call]
