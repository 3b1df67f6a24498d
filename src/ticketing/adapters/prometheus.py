"""Prometheus metrics: the ``Metrics`` port, Zoho call instrumentation and scrape-time gauges.

Each container gets its own ``CollectorRegistry`` (never the global one), so several apps in
one process, as in the tests, do not collide.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Final, get_args

import httpx
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ticketing.application.sync.lag import SyncLag
from ticketing.domain.attachments import FETCH_REASONS, RefusalReason
from ticketing.domain.breaker import BreakerState
from ticketing.domain.model import PICKLIST_FIELDS, Source
from ticketing.domain.ports import Credentials, QueueMonitor

log = logging.getLogger(__name__)

CONTENT_TYPE: Final = "text/plain; version=0.0.4"  # the framework adds the charset
OUTCOMES: Final = (
    "accepted",
    "duplicate",
    "queued",
    "created",
    "appended",
    "dead",
    "invalid",
)

# From a fast create to a ticket that waited out a day-long Zoho outage.
LATENCY_BUCKETS: Final = (0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 86400)
ZOHO_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 15, 30, 60)
# Why a file is refused: the helpdesk's reasons, the fetcher's, and a ticket that cannot take
# files (application/attachments.py). Shown at 0 from the start: a counter that first appears
# at 1 has no increase() in Prometheus, so the first refusal would never alert.
ATTACHMENT_REFUSALS: Final = tuple(
    dict.fromkeys((*get_args(RefusalReason), *FETCH_REASONS, "ticket_gone"))
)
_ID_SEGMENT = re.compile(r"^(?:\d+|[0-9a-fA-F-]{16,}|1000\..*)$")


def endpoint_of(path: str) -> str:
    """A URL path with its ids replaced by ``{id}``, so labels stay few."""
    segments = [("{id}" if _ID_SEGMENT.match(s) else s) for s in path.split("/")]
    return "/".join(segments) or "/"


class PrometheusMetrics:
    """The ``Metrics`` port in Prometheus form, plus what adapters and entrypoints record.

    Gauges that describe state (queue and dead-letter length, breaker state, token
    refreshes) are read at scrape time from the sources given to :meth:`watch`.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.tickets = Counter(
            "ticketing_tickets",
            "Tickets by outcome (accepted, duplicate, queued, created, appended, dead, invalid)"
            " and source",
            ["outcome", "source"],
            registry=r,
        )
        self.ticket_seconds = Histogram(
            "ticketing_ticket_latency_seconds",
            "Time from a message being received to its ticket existing in Zoho Desk",
            ["source"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.zoho_requests = Counter(
            "ticketing_zoho_requests",
            "HTTP requests to Zoho (Desk and accounts) by endpoint, method and status "
            "(an HTTP status, or timeout/error when no answer came)",
            ["endpoint", "method", "status"],
            registry=r,
        )
        self.zoho_seconds = Histogram(
            "ticketing_zoho_request_duration_seconds",
            "Zoho request latency until the response headers, by endpoint and method",
            ["endpoint", "method"],
            buckets=ZOHO_BUCKETS,
            registry=r,
        )
        self.zoho_credits = Gauge(
            "ticketing_zoho_credits_remaining",
            "API credits left today, from the last X-Rate-Limit-Remaining-v3 header",
            registry=r,
        )
        self.http_requests = Counter(
            "ticketing_http_requests",
            "Requests to this service's HTTP API by route and status",
            ["method", "route", "status"],
            registry=r,
        )
        self.pubsub_messages = Counter(
            "ticketing_pubsub_messages",
            "Incidents from the inbound pub/sub channel: received, or lost (could not be "
            "appended to the intake stream)",
            ["outcome"],
            registry=r,
        )
        self.pubsub_disconnects = Counter(
            "ticketing_pubsub_disconnects",
            "Times the inbound pub/sub subscription was cut off (Redis closed it: output-buffer "
            "limit, restart) and re-established; what was published meanwhile is lost",
            registry=r,
        )
        self.poison_messages = Counter(
            "ticketing_poison_messages",
            "Inbound Redis messages dead-lettered at intake (malformed, over the size or "
            "nesting limit, or failing unexpectedly), by transport (stream, pubsub)",
            ["transport"],
            registry=r,
        )
        self.picklist_values_refused = Counter(
            "ticketing_picklist_values_refused",
            "Ticket values Zoho refused as not in the portal's picklist (the ticket was sent "
            "again without the value, kept in its description), by field",
            ["field"],
            registry=r,
        )
        for outcome in ("received", "lost"):  # shown at 0 from the start, for alerts
            self.pubsub_messages.labels(outcome)
        for field in PICKLIST_FIELDS:
            self.picklist_values_refused.labels(field)
        for transport in ("stream", "pubsub"):
            self.poison_messages.labels(transport)
        # The two-way sync (issue 14).
        self.sync_events = Counter(
            "ticketing_sync_events",
            "Events appended to tickets:replies (reply, comment) and tickets:status (status)",
            ["kind"],
            registry=r,
        )
        self.sync_skipped_items = Counter(
            "ticketing_sync_skipped",
            "Threads, comments and tickets a delivery or a poll pointed at that gave no event: "
            "unknown (Zoho does not hold it: forged or deleted), foreign (not the service's "
            "ticket), private (not a public agent reply or comment)",
            ["reason"],
            registry=r,
        )
        self.webhook_deliveries = Counter(
            "ticketing_webhook_deliveries",
            "Webhook requests by outcome (stored, malformed, too_large, wrong_token, "
            "unavailable, bad_signature, unsigned)",
            ["outcome"],
            registry=r,
        )
        self.webhook_signatures = Counter(
            "ticketing_webhook_signatures",
            "Signature checks of webhook deliveries (verified, bad, unsigned, unverified)",
            ["check"],
            registry=r,
        )
        self.sync_reply_seconds = Histogram(
            "ticketing_sync_reply_latency_seconds",
            "Time from an agent's reply or comment in Zoho to its event on Redis",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.sync_poll_credits = Counter(
            "ticketing_sync_poll_credits",
            "Zoho API credits spent by polling (search 3, conversations 3, one item 1)",
            registry=r,
        )
        for kind in ("reply", "comment", "status"):
            self.sync_events.labels(kind)
        for outcome in (
            "stored",
            "malformed",
            "too_large",
            "wrong_token",
            "unavailable",
            "bad_signature",
            "unsigned",
        ):
            self.webhook_deliveries.labels(outcome)
        for check in ("verified", "bad", "unsigned", "unverified"):
            self.webhook_signatures.labels(check)
        # Attachments (issue 15).
        self.attachments_uploaded = Counter(
            "ticketing_attachments_uploaded", "Files put on their tickets", registry=r
        )
        self.attachments_refused = Counter(
            "ticketing_attachments_refused",
            "Files that will not be put on their tickets, by reason (too_large, blocked_type, "
            "empty, gone, host_not_allowed, private_address, bad_content_type, source_error, "
            "timeout, ticket_gone)",
            ["reason"],
            registry=r,
        )
        for reason in ATTACHMENT_REFUSALS:
            self.attachments_refused.labels(reason)
        self.attachment_bytes = Counter(
            "ticketing_attachment_bytes", "Bytes of the files put on tickets", registry=r
        )
        self.attachment_upload_seconds = Histogram(
            "ticketing_attachment_upload_seconds",
            "Time one file's upload to Zoho took",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.store_up = Gauge(
            "ticketing_store_up", "1 when the ticket store (Redis) answered the scrape", registry=r
        )
        self._state = _StateCollector()
        r.register(self._state)
        self._store: QueueMonitor | None = None
        self._credits: Callable[[], int | None] | None = None
        self._credentials: Credentials | None = None
        self._sync_lag: Callable[[], Awaitable[SyncLag]] | None = None

    def __repr__(self) -> str:
        return f"PrometheusMetrics(watching={self._store is not None})"

    # --- the Metrics port ---------------------------------------------------------------

    def attachment_uploaded(self, size: int, seconds: float) -> None:
        self.attachments_uploaded.inc()
        self.attachment_bytes.inc(size)
        self.attachment_upload_seconds.observe(max(0.0, seconds))

    def attachment_refused(self, reason: str) -> None:
        self.attachments_refused.labels(reason).inc()

    def ticket(self, outcome: str, source: Source) -> None:
        self.tickets.labels(outcome, source.value).inc()

    def ticket_latency(self, source: Source, seconds: float) -> None:
        self.ticket_seconds.labels(source.value).observe(max(0.0, seconds))

    def picklist_refused(self, field: str) -> None:
        self.picklist_values_refused.labels(field).inc()

    # --- the SyncMetrics port -----------------------------------------------------------

    def sync_event(self, kind: str) -> None:
        self.sync_events.labels(kind).inc()

    def sync_skipped(self, reason: str) -> None:
        self.sync_skipped_items.labels(reason).inc()

    def webhook_delivery(self, outcome: str) -> None:
        self.webhook_deliveries.labels(outcome).inc()

    def webhook_signature(self, check: str) -> None:
        self.webhook_signatures.labels(check).inc()

    def reply_latency(self, seconds: float) -> None:
        self.sync_reply_seconds.observe(max(0.0, seconds))

    def poll_credits(self, credits: int) -> None:
        self.sync_poll_credits.inc(credits)

    # --- adapters and entrypoints -------------------------------------------------------

    def zoho_call(self, endpoint: str, method: str, status: str, seconds: float) -> None:
        self.zoho_requests.labels(endpoint, method, status).inc()
        self.zoho_seconds.labels(endpoint, method).observe(seconds)

    def http_request(self, method: str, route: str, status: int) -> None:
        self.http_requests.labels(method, route, str(status)).inc()

    def pubsub_received(self, count: int) -> None:
        self.pubsub_messages.labels("received").inc(count)

    def pubsub_lost(self, count: int) -> None:
        self.pubsub_messages.labels("lost").inc(count)

    def pubsub_disconnect(self) -> None:
        self.pubsub_disconnects.inc()

    def poison(self, transport: str) -> None:
        self.poison_messages.labels(transport).inc()

    def instrument(self, inner: httpx.AsyncBaseTransport) -> httpx.AsyncBaseTransport:
        """Wrap an HTTP transport so every Zoho request is counted and timed."""
        return MeteredTransport(inner, self)

    def watch(
        self,
        *,
        store: QueueMonitor,
        breaker_state: Callable[[], BreakerState],
        token_refreshes: Callable[[], int],
        credits_remaining: Callable[[], int | None] | None = None,
        credentials: Credentials | None = None,
    ) -> None:
        """Where the scrape-time figures come from."""
        self._store = store
        self._state.breaker_state = breaker_state
        self._state.token_refreshes = token_refreshes
        self._credits = credits_remaining
        self._credentials = credentials

    def watch_sync(self, lag: Callable[[], Awaitable[SyncLag]]) -> None:
        """Where ``ticketing_sync_lag_seconds`` comes from: set by a process that runs the
        sync (not with SYNC_MODE=off, where nothing is behind because nothing is followed)."""
        self._sync_lag = lag

    async def scrape(self) -> bytes:
        """Read the store's figures now, then render every metric in the text format."""
        credits = self._credits() if self._credits is not None else None
        if credits is not None:  # the helpdesk client keeps the last header Zoho sent
            self.zoho_credits.set(credits)
        if self._store is not None:
            # Unknown is not zero: without the store's answer the queue samples are left
            # out (an alert on absent() fires; one on a threshold does not see a false 0).
            self._state.queue = None
            try:
                ok = await self._store.ping()
                if ok:
                    pending = await self._store.pending_count()
                    self._state.queue = (pending, await self._store.dead_count())
            except Exception as exc:  # a scrape must answer even when Redis does not
                log.warning("metrics: the store did not answer: %s", exc)
                ok = False
            self.store_up.set(1 if ok else 0)
        if self._credentials is not None:
            self._state.credentials_ok = await self._credentials_ok(self._credentials)
        if self._sync_lag is not None:
            self._state.sync_lag = None  # unknown, not 0, while the store does not answer
            try:
                self._state.sync_lag = await self._sync_lag()
            except Exception as exc:  # a scrape must answer even when Redis does not
                log.warning("metrics: the sync's lag could not be read: %s", exc)
        return generate_latest(self.registry)

    @staticmethod
    async def _credentials_ok(credentials: Credentials) -> bool | None:
        """True while Zoho tokens can be had without an operator; None when the token
        store cannot say (left out of the scrape, like the queue)."""
        try:
            status = await credentials.report()
        except Exception:  # the store's own trouble shows in ticketing_store_up
            return None
        return status.authorized and status.needs_operator is None


class _StateCollector(Collector):
    """Breaker state, token refreshes, the queue, the credentials and the sync's lag, read
    when Prometheus scrapes."""

    def __init__(self) -> None:
        self.breaker_state: Callable[[], BreakerState] | None = None
        self.token_refreshes: Callable[[], int] | None = None
        self.queue: tuple[int, int] | None = None  # (pending, dead) as last read; None: unknown
        self.credentials_ok: bool | None = None
        self.sync_lag: SyncLag | None = None  # as last read; None: unknown or no sync here

    def collect(self) -> Iterator[Metric]:
        if self.sync_lag is not None:
            family = GaugeMetricFamily(
                "ticketing_sync_lag_seconds",
                "How far behind the two-way sync is: inbox, the age of the oldest webhook "
                "delivery not handled yet (0 when none); poll, seconds since the end of the "
                "poller's last complete window (absent before the first poll)",
                labels=["source"],
            )
            family.add_metric(["inbox"], self.sync_lag.inbox)
            if self.sync_lag.poll is not None:
                family.add_metric(["poll"], self.sync_lag.poll)
            yield family
        if self.queue is not None:
            pending, dead = self.queue
            yield GaugeMetricFamily(
                "ticketing_queue_pending",
                "Tickets accepted and not yet in Zoho (absent while the store does not answer)",
                value=float(pending),
            )
            yield GaugeMetricFamily(
                "ticketing_queue_dead",
                "Entries in the dead letters (absent while the store does not answer)",
                value=float(dead),
            )
        if self.credentials_ok is not None:
            yield GaugeMetricFamily(
                "ticketing_zoho_credentials_ok",
                "1 while Zoho tokens can be had without an operator; 0 when Zoho refused the "
                "refresh token or the client for good, or there is none (run `ticketing auth "
                "setup`)",
                value=1.0 if self.credentials_ok else 0.0,
            )
        if self.breaker_state is not None:
            current = self.breaker_state()
            family = GaugeMetricFamily(
                "ticketing_breaker_state",
                "Circuit breaker around Zoho: 1 for the current state",
                labels=["state"],
            )
            for state in BreakerState:
                family.add_metric([state.value], 1.0 if state is current else 0.0)
            yield family
            yield GaugeMetricFamily(
                "ticketing_breaker_open",
                "1 while the breaker refuses Zoho calls (open), else 0",
                value=1.0 if current is BreakerState.OPEN else 0.0,
            )
        if self.token_refreshes is not None:
            yield CounterMetricFamily(
                "ticketing_zoho_token_refreshes",
                "Access-token refreshes done by this process",
                value=float(self.token_refreshes()),
            )

    def describe(self) -> Iterator[Metric]:
        return iter(())


class MeteredTransport(httpx.AsyncBaseTransport):
    """Counts and times each request."""

    def __init__(self, inner: httpx.AsyncBaseTransport, metrics: PrometheusMetrics) -> None:
        self._inner = inner
        self._metrics = metrics

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        endpoint = endpoint_of(request.url.path)
        started = time.perf_counter()
        status = "error"
        try:
            response = await self._inner.handle_async_request(request)
            status = str(response.status_code)
            return response
        except httpx.TimeoutException:
            status = "timeout"
            raise
        finally:
            self._metrics.zoho_call(endpoint, request.method, status, time.perf_counter() - started)

    async def aclose(self) -> None:
        await self._inner.aclose()
