"""``ticketing_sync_lag_seconds``: the age of the oldest webhook delivery not handled yet and
the time since the poller's last complete window, read at scrape time; unknown (absent), not
0, when the store does not answer; not shown by a process that does not run the sync."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import anyio
import pytest
from litestar.testing import AsyncTestClient
from prometheus_client import generate_latest

from ticketing.adapters.memory import InMemoryConversations
from ticketing.adapters.prometheus import PrometheusMetrics
from ticketing.application.sync import MeasureLag, SyncLag
from ticketing.domain.conversation import TicketState
from ticketing.domain.errors import HelpdeskUnavailable, StoreUnavailable
from ticketing.entrypoints.http.app import create_app

from tests.support.clock import ManualClock
from tests.support.http import make_container
from tests.support.metrics import parse, sample
from tests.support.sync import SyncWorld, sync_world, thread_added

pytestmark = pytest.mark.anyio


@pytest.fixture
def w(clock: ManualClock) -> SyncWorld:
    return sync_world(clock)


def lag_of(w: SyncWorld) -> MeasureLag:
    return MeasureLag(w.inbox, w.log, w.clock)


async def test_nothing_stored_and_never_polled_is_no_inbox_lag_and_no_poll_lag(
    w: SyncWorld,
) -> None:
    assert await lag_of(w)() == SyncLag(inbox=0.0, poll=None)


async def test_the_inbox_lag_is_the_age_of_the_oldest_delivery_not_acknowledged(
    w: SyncWorld,
) -> None:
    """Two deliveries stored 30 s apart: the older one counts, handed out or not, until it
    is acknowledged; then the younger one; then none."""
    ticket = await w.our_ticket()
    reply = w.desk.reply(ticket, "Hola Ana")
    first = await w.receive([thread_added(ticket, reply)])
    w.clock.advance(30)
    second = await w.receive([thread_added(ticket, reply)])
    w.clock.advance(12)
    assert (await lag_of(w)()).inbox == 42
    await w.inbox.claim("c1", 10, 60.0)  # handed out, not handled: still behind
    assert (await lag_of(w)()).inbox == 42
    await w.inbox.ack([first])
    assert (await lag_of(w)()).inbox == 12
    await w.inbox.ack([second])
    assert (await lag_of(w)()).inbox == 0


async def test_a_handled_delivery_leaves_no_inbox_lag(w: SyncWorld) -> None:
    ticket = await w.our_ticket()
    reply = w.desk.reply(ticket, "Hola Ana")
    await w.receive([thread_added(ticket, reply)])
    w.clock.advance(3)
    report = await w.handle("c1")
    assert (report.done, report.published) == (1, 1)
    assert (await lag_of(w)()).inbox == 0


class DownDesk(InMemoryConversations):
    """A helpdesk whose search fails while ``down``."""

    down = False

    async def modified_tickets(
        self, since: datetime, until: datetime, *, start: int = 0, limit: int = 100
    ) -> list[TicketState]:
        if self.down:
            raise HelpdeskUnavailable("503 from Zoho", status=503)
        return await super().modified_tickets(since, until, start=start, limit=limit)


async def test_the_poll_lag_is_the_time_since_the_last_complete_window(
    clock: ManualClock,
) -> None:
    """A poll moves the cursor to its start: the lag is 0 then, and grows until the next one;
    polls that fail (the helpdesk down) leave it growing until one works."""
    desk = DownDesk(clock)
    w = sync_world(clock, conversations=desk)
    await w.poll()
    assert (await lag_of(w)()).poll == 0
    w.clock.advance(45)
    assert (await lag_of(w)()).poll == 45
    desk.down = True
    for _ in range(3):
        w.clock.advance(60)
        with pytest.raises(HelpdeskUnavailable):
            await w.poll()
    assert (await lag_of(w)()).poll == 225
    desk.down = False
    await w.poll()
    assert (await lag_of(w)()).poll == 0


async def test_a_cursor_ahead_of_this_clock_is_no_lag_not_a_negative_one(w: SyncWorld) -> None:
    await w.log.set_poll_cursor(w.clock.now() + timedelta(seconds=5))
    assert (await lag_of(w)()).poll == 0


def scraped(metrics: PrometheusMetrics) -> dict[str, float]:
    return parse(generate_latest(metrics.registry).decode())


async def scrape(metrics: PrometheusMetrics) -> dict[str, float]:
    await metrics.scrape()
    return scraped(metrics)


def giving(lag: SyncLag) -> Callable[[], Awaitable[SyncLag]]:
    async def read() -> SyncLag:
        return lag

    return read


async def test_the_gauge_shows_both_sources() -> None:
    metrics = PrometheusMetrics()
    metrics.watch_sync(giving(SyncLag(inbox=1.5, poll=61.0)))
    m = await scrape(metrics)
    assert sample(m, "ticketing_sync_lag_seconds", source="inbox") == 1.5
    assert sample(m, "ticketing_sync_lag_seconds", source="poll") == 61.0


async def test_before_the_first_poll_only_the_inbox_is_shown() -> None:
    metrics = PrometheusMetrics()
    metrics.watch_sync(giving(SyncLag(inbox=0.0, poll=None)))
    m = await scrape(metrics)
    assert sample(m, "ticketing_sync_lag_seconds", source="inbox") == 0
    assert sample(m, "ticketing_sync_lag_seconds", source="poll") is None


async def test_the_lag_is_absent_while_the_store_does_not_answer() -> None:
    """Unknown is not 0: an alert on absent() fires, one on a threshold sees no false 0; the
    scrape still answers, and the lag is back once the store is."""
    metrics = PrometheusMetrics()
    up = True

    async def read() -> SyncLag:
        if not up:
            raise StoreUnavailable("Redis is down")
        return SyncLag(inbox=3.0, poll=10.0)

    metrics.watch_sync(read)
    assert sample(await scrape(metrics), "ticketing_sync_lag_seconds", source="inbox") == 3
    up = False
    m = await scrape(metrics)
    assert sample(m, "ticketing_sync_lag_seconds", source="inbox") is None
    assert sample(m, "ticketing_sync_lag_seconds", source="poll") is None
    up = True
    assert sample(await scrape(metrics), "ticketing_sync_lag_seconds", source="poll") == 10


async def test_a_process_that_does_not_watch_the_sync_shows_no_lag() -> None:
    assert not [k for k in await scrape(PrometheusMetrics()) if "sync_lag" in k]


async def metrics_of(env: dict[str, str]) -> dict[str, float]:
    """/metrics of `serve` (sandbox, in memory) with its background sync running."""
    app = create_app(make_container(env), drain=False, consumer=True)
    async with AsyncTestClient(app) as client:
        with anyio.fail_after(10):
            while True:  # the first poll is made at start, then the cursor is there
                response = await client.get("/metrics")
                assert response.status_code == 200
                m = parse(response.text)
                if (
                    env.get("SYNC_MODE") == "off"
                    or sample(m, "ticketing_sync_lag_seconds", source="poll") is not None
                ):
                    return m
                await anyio.sleep(0.05)


async def test_serve_running_the_sync_shows_its_lag() -> None:
    m = await metrics_of({"SYNC_MODE": "poll"})
    assert sample(m, "ticketing_sync_lag_seconds", source="inbox") == 0
    poll = sample(m, "ticketing_sync_lag_seconds", source="poll")
    assert poll is not None
    assert 0 <= poll < 5


async def test_sync_mode_off_shows_no_lag() -> None:
    """Nothing is followed, so nothing is behind: no sample an alert would fire on."""
    m = await metrics_of({"SYNC_MODE": "off"})
    assert not [k for k in m if "sync_lag" in k]
