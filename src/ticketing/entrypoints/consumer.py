"""The Redis inbound consumer: classified incidents from a stream and a pub/sub channel."""

from __future__ import annotations

import contextlib
import logging
from datetime import timedelta
from typing import Any

import anyio
import msgspec
from redis.exceptions import RedisError

from ticketing.adapters.redis.connection import RedisClient
from ticketing.adapters.redis.pubsub import open_pubsub
from ticketing.adapters.redis.store import CONSUMER_GROUP
from ticketing.adapters.redis.streams import (
    ConsumerGroup,
    StreamEntry,
    forget_idle_consumers,
    replay_from,
    text,
    trim_consumed,
)
from ticketing.application import context, intake
from ticketing.container import Services, check_streams
from ticketing.domain.errors import StoreUnavailable, ValidationError
from ticketing.domain.model import Outcome, Source
from ticketing.domain.timeouts import Timeouts, reclaim_every
from ticketing.entrypoints.outage import Outage
from ticketing.entrypoints.schemas import Incident, duplicate_key, nesting_problem

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 256 * 1024
# Entries taken over from dead consumers per XAUTOCLAIM round trip.
_RECLAIM_PAGE = 100


def _text(value: Any) -> str:
    return text(value, "replace")


class Poison(Exception):
    """A message that can never become a ticket."""


def decode_incident(raw: bytes | str) -> Incident:
    """Parse and check one incident; raises Poison with a reason naming the field (a key
    written twice, at any depth, included)."""
    data = raw.encode() if isinstance(raw, str) else raw
    if len(data) > MAX_MESSAGE_BYTES:
        raise Poison(f"message is {len(data)} bytes; the limit is {MAX_MESSAGE_BYTES}")
    if problem := nesting_problem(data):  # before decoding: deep nesting exhausts the stack
        raise Poison(problem)
    if twice := duplicate_key(data, nested=True):
        # msgspec would keep the last value: which one the classifier meant is not guessed.
        raise Poison(f"{twice} is given twice in the message; send it once")
    try:
        return msgspec.json.decode(data, type=Incident)
    except msgspec.ValidationError as exc:
        raise Poison(f"invalid incident: {exc}") from None
    except msgspec.DecodeError as exc:
        raise Poison(f"not JSON: {exc}") from None


async def handle_message(
    raw: bytes | str,
    services: Services,
    *,
    origin: str,
    transport: str = "stream",
    finish: bool = False,
) -> Outcome | None:
    """One incident → one accepted ticket (created now if Zoho takes it).

    A malformed message goes to the dead letters with the reason (``origin`` is the stream a
    replay puts it back on; ``transport``, ``stream`` or ``pubsub``, labels the poison counter)
    and None is returned. Raises StoreUnavailable when it could not be stored: the caller must
    not acknowledge it. With ``finish`` (an entry taken over from a process that is gone), a
    ticket accepted before and unfinished is attempted now: the dead process was working on
    it, and its queue entry may wait behind the whole queue.
    """
    try:
        incident = decode_incident(raw)
        phone = incident.customer.phone
        staged: dict[str, bytes] = {}
        files = [
            intake.IncomingFile(a.url, a.filename, a.content_type, a.size, a.data)
            for a in incident.attachments or ()
        ]
        draft = intake.incident_ticket(
            incident_id=incident.incident_id,
            customer_name=incident.customer.name,
            customer_email=incident.customer.email,
            customer_phone=None if phone is None else str(phone),
            subject=incident.subject,
            description=incident.description,
            category=incident.category,
            priority=incident.priority,
            confidence=incident.confidence,
            channel=incident.channel,
            received_at=services.clock.now(),
            policy=services.policy,
            ticket_id=incident.ticket_id,
            conversation_id=incident.conversation_id,
            attachments=files,
            max_attachment_bytes=services.settings.attachment_max_bytes,
            staged=staged,
        )
    except (Poison, ValidationError) as exc:
        reason = str(exc)
        log.warning("poison message from %s (%s): %s", origin, transport, reason)
        # Whole: the store keeps it up to the limit and notes a cut beyond it.
        await services.reject(_text(raw), reason, origin)
        if services.metrics is not None:
            services.metrics.ticket("invalid", Source.REDIS)
            services.metrics.poison(transport)
        return None
    with context.bind(request_id=draft.request_id, incident_id=draft.incident_id, key=draft.key):
        if staged and services.attachments is not None:
            await services.attachments.stage(draft.key, staged)
        outcome, new = await services.submit(draft)
        if finish and not new and not outcome.state.finished:
            outcome = await services.submit.finish(draft)
    return outcome


class InboundConsumer:
    """Reads ``tickets:classify:result`` through consumer group ``ticket-service`` and the
    pub/sub channel of the same name.

    A stream entry is acknowledged only once its ticket is durably accepted. The subscriber
    does nothing but append each pub/sub message to the service's own intake stream
    (``<prefix>tickets:intake``), in pipelined batches, so it always keeps up; the same group
    machinery then works that stream like the inbound one (acknowledgements, redelivery,
    reclaim, dead letters). Pub/sub has no redelivery: what is published while no subscriber is
    connected is gone, so a lost connection is logged, counted and re-established.
    """

    def __init__(
        self,
        redis: RedisClient,
        services: Services,
        *,
        consumer: str | None = None,
        batch: int = 20,
        block_ms: int = 1000,
        reclaim_idle_ms: int | None = None,
    ) -> None:
        settings = services.settings
        self.group = settings.inbound_group
        self._group = ConsumerGroup(redis, self.group)
        self._redis = redis
        self._services = services
        self.stream = settings.inbound_stream
        self.intake = settings.intake_stream
        self.consumer = consumer or services.drain.consumer
        self._batch = batch
        self._block_ms = block_ms
        timeouts = Timeouts.from_attempt(settings.attempt_timeout)
        self._reclaim_idle_ms = reclaim_idle_ms or int(timeouts.inbound_reclaim_idle * 1000)
        self._take_over_every = timeouts.takeover_every
        self._take_over_idle_ms = int(timeouts.takeover_min_idle * 1000)
        self._limiter = anyio.CapacityLimiter(max(1, settings.zoho_max_concurrency))
        self._retention = settings.ledger_retention
        self.handled = 0
        self.reconnects = 0  # times the pub/sub connection was lost and re-established

    @property
    def streams(self) -> tuple[str, str]:
        """The streams the group is read on: the classifier's, and pub/sub's intake."""
        return (self.stream, self.intake)

    async def run(self) -> None:
        """Consume forever (until cancelled); survives Redis outages by retrying."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._stream_loop)
            tg.start_soon(self._pubsub_loop)

    async def ensure_group(self) -> None:
        if await self._group.create(self.stream, start="$"):
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
        # From the start: the subscriber may have appended before the group existed.
        await self._group.create(self.intake, start="0")

    async def trim(self) -> int:
        """Drop the inbound entries every group has acknowledged once they are older than the
        ledger's retention (never one unread or in flight), and consumers long gone; returns
        how many entries went."""
        older_than = self._services.clock.now() - timedelta(seconds=self._retention)
        trimmed = await trim_consumed(self._redis, self.stream, older_than)
        for stream in self.streams:
            await forget_idle_consumers(self._redis, stream, self.group, self._retention)
        # The queue's drain adds a consumer per process too.
        queue = self._services.settings.ticket_queue_name
        await forget_idle_consumers(self._redis, queue, CONSUMER_GROUP, self._retention)
        if trimmed:
            log.info("trimmed %d handled entries past the retention from %s", trimmed, self.stream)
        return trimmed

    async def _stream_loop(self) -> None:
        delay = 0.5
        checked = False
        outage = Outage(log, "inbound stream")  # one warning per outage, not per retry
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
                every = reclaim_every(self._reclaim_idle_ms / 1000)
                next_reclaim = anyio.current_time() + every
                next_take_over = anyio.current_time() + self._take_over_every
                while True:
                    await self.poll_once()
                    delay = 0.5
                    outage.recovered()
                    if anyio.current_time() >= next_take_over:
                        # A process that is gone: its entries wait for its heartbeat only.
                        await self.take_over()
                        next_take_over = anyio.current_time() + self._take_over_every
                    if anyio.current_time() >= next_reclaim:
                        # A process alive but stuck: its entries wait the attempt-sized time.
                        await self._reclaim()
                        await self.trim()
                        next_reclaim = anyio.current_time() + every
            except (RedisError, OSError, StoreUnavailable) as exc:
                outage.failed("redis", "inbound stream: %s; retrying in %.1fs", exc, delay)
                await anyio.sleep(delay)
                delay = min(delay * 2, 15.0)

    async def _reclaim(self) -> None:
        for stream in self.streams:
            pages = self._group.reclaim(
                self.consumer, stream, self._reclaim_idle_ms, lambda: _RECLAIM_PAGE
            )
            async for page in pages:
                await self._handle_entries(page)

    async def take_over(self) -> None:
        """Handle the entries of consumers whose process is gone (no heartbeat), now this
        consumer's; without a heartbeat of its own (no liveness), nothing is taken."""
        liveness = self._services.liveness
        if liveness is None:
            return
        for stream in self.streams:
            pages = self._group.take_over(
                self.consumer,
                stream,
                liveness.living,
                self._take_over_idle_ms,
                lambda: _RECLAIM_PAGE,
            )
            async for page in pages:
                await self._handle_entries(page, finish=True)

    async def recover(self) -> None:
        """Handle again the entries this consumer was given and did not acknowledge (their
        ticket could not be stored), then those of processes that are gone (no heartbeat),
        then those that any consumer left idle for the reclaim time. Raises StoreUnavailable
        when the store still fails."""
        for stream in self.streams:
            # A predecessor under this name may have died working on them: finished now.
            async for page in self._group.own(self.consumer, stream, lambda: self._batch):
                await self._handle_entries(page, finish=True)
        await self.take_over()
        await self._reclaim()

    async def poll_once(self, *, block_ms: int | None = None) -> int:
        """Read and handle one batch of new entries of both streams; returns how many."""
        entries = await self._group.read(
            self.consumer,
            dict.fromkeys(self.streams, ">"),
            self._batch,
            block_ms=self._block_ms if block_ms is None else block_ms,
        )
        await self._handle_entries(entries)
        return len(entries)

    async def _handle_entries(self, entries: list[StreamEntry], *, finish: bool = False) -> None:
        if not entries:
            return
        acked: dict[str, list[str]] = {}
        failures: list[str] = []

        async def one(entry: StreamEntry) -> None:
            stream, entry_id, payload = entry.stream, entry.id, entry.payload
            transport = "pubsub" if stream == self.intake else "stream"
            async with self._limiter:
                try:
                    if entry.gone:
                        pass  # deleted while pending: only its pending record was left
                    elif payload is None:
                        # Another program's format: keep every field, as JSON, so nothing is
                        # lost and a replay can still be read.
                        await self._services.reject(
                            entry.fields_json(errors="replace", ensure_ascii=False),
                            "stream entry has no 'payload' field",
                            stream,
                        )
                    else:
                        await handle_message(
                            payload,
                            self._services,
                            origin=stream,
                            transport=transport,
                            finish=finish,
                        )
                except StoreUnavailable as exc:
                    failures.append(exc.message)  # not acknowledged: it will be redelivered
                    return
                except (RedisError, OSError) as exc:
                    failures.append(f"Redis: {exc}")  # the same: Redis failed, not the message
                    return
                except Exception as exc:
                    # Unforeseen, on this one message: it would fail the same way on every
                    # delivery, so it is buried once, with the reason, instead of coming back
                    # forever; a replay puts it back once the cause is fixed.
                    if not await self._bury_failed(stream, transport, entry_id, payload, exc):
                        return  # could not even be buried: left pending, tried again later
                acked.setdefault(stream, []).append(entry_id)
                self.handled += 1

        try:
            async with anyio.create_task_group() as tg:
                for entry in entries:
                    tg.start_soon(one, entry)
        finally:
            if acked:
                with anyio.CancelScope(shield=True):
                    await self._ack(acked)
        if failures:
            raise StoreUnavailable(failures[0])

    async def _ack(self, acked: dict[str, list[str]]) -> None:
        # The intake is the service's own stream, read by this group only: a handled entry
        # has nothing left to give.
        await self._group.ack(acked, delete_from=(self.intake,))

    async def _bury_failed(
        self, stream: str, transport: str, entry_id: Any, payload: Any, exc: Exception
    ) -> bool:
        """A dead letter for an entry whose handling raised unexpectedly; one log line (the
        traceback at debug level). False when the dead letter could not be written."""
        reason = f"unexpected {type(exc).__name__}: {exc}"[:500]
        log.error(
            "inbound entry %s of %s failed (%s); dead-lettered, not redelivered",
            _text(entry_id),
            stream,
            reason,
            exc_info=exc if log.isEnabledFor(logging.DEBUG) else None,
        )
        try:
            await self._services.reject(_text(payload or b""), reason, stream)
        except Exception as bury_exc:
            log.error("inbound entry %s stays pending: %s", _text(entry_id), bury_exc)
            return False
        if self._services.metrics is not None:
            self._services.metrics.ticket("invalid", Source.REDIS)
            self._services.metrics.poison(transport)
        return True

    def _reconnected(self, _connection: Any) -> None:
        """redis-py re-established the subscriber's connection by itself (after Redis closed
        it: output-buffer limit, restart); it re-subscribes, but what came meanwhile is gone."""
        self.reconnects += 1

    async def _pubsub_loop(self) -> None:
        delay = 0.5
        outage = Outage(log, "inbound pub/sub")  # one warning per outage, not per retry
        while True:
            pubsub: Any = None
            connection: Any = None
            try:
                pubsub = await open_pubsub(self._redis, ignore_subscribe_messages=True)
                await pubsub.subscribe(self.stream)
                if delay > 0.5:
                    log.info("inbound pub/sub %s: subscribed again", self.stream)
                outage.recovered(say=False)  # the line above says it
                connection = pubsub.connection
                if connection is not None:
                    connection.register_connect_callback(self._reconnected)
                delay = 0.5
                seen = self.reconnects
                while True:
                    messages = await self._receive(pubsub)
                    if self.reconnects != seen:
                        seen = self.reconnects
                        self._lost_subscription(
                            "the connection was closed (a subscriber over Redis's "
                            "client-output-buffer-limit, or a Redis restart) and re-established"
                        )
                    if messages:
                        await self._append(messages)
            except (RedisError, OSError) as exc:
                if connection is not None:  # it was subscribed: a loss, counted once
                    self._lost_subscription(f"{exc}; subscribing again in {delay:.1f}s")
                    outage.begin("redis")
                else:
                    outage.failed("redis", "inbound pub/sub: %s; retrying in %.1fs", exc, delay)
                await anyio.sleep(delay)
                delay = min(delay * 2, 15.0)
            finally:
                with anyio.CancelScope(shield=True):
                    if connection is not None:
                        connection.deregister_connect_callback(self._reconnected)
                    if pubsub is not None:
                        with contextlib.suppress(RedisError, OSError):
                            await pubsub.aclose()

    async def _receive(self, pubsub: Any, most: int = 500) -> list[Any]:
        """The next pub/sub message (waiting up to a second) and all that are already there."""
        messages: list[Any] = []
        message = await pubsub.get_message(timeout=1.0)
        while message is not None:
            if message.get("type") == "message":
                messages.append(message["data"])
            if len(messages) >= most:
                break
            message = await pubsub.get_message(timeout=0)
        return messages

    async def _append(self, messages: list[Any]) -> None:
        """Pub/sub messages onto the intake stream, one pipelined round trip. An oversized
        one is dead-lettered at once instead (no point storing megabytes to refuse them)."""
        metrics = self._services.metrics
        if metrics is not None:
            metrics.pubsub_received(len(messages))
        fitting = [m for m in messages if len(m) <= MAX_MESSAGE_BYTES]
        try:
            if fitting:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for data in fitting:
                        pipe.xadd(self.intake, {"payload": data})
                    await pipe.execute()
            for data in messages:
                if len(data) > MAX_MESSAGE_BYTES:
                    await handle_message(
                        data, self._services, origin=self.intake, transport="pubsub"
                    )
        except (RedisError, OSError, StoreUnavailable) as exc:
            # Pub/sub cannot redeliver; the stream copy (if the publisher writes both) is the
            # durable path. A Redis that is gone breaks the subscription too, which reconnects.
            log.error(
                "%d pub/sub incidents could not be stored and are lost: %s", len(messages), exc
            )
            if metrics is not None:
                metrics.pubsub_lost(len(messages))

    def _lost_subscription(self, what: str) -> None:
        log.warning(
            "inbound pub/sub %s: %s; messages published meanwhile are lost (only the stream "
            "%s is lossless)",
            self.stream,
            what,
            self.stream,
        )
        if self._services.metrics is not None:
            self._services.metrics.pubsub_disconnect()
