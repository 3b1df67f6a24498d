"""Exactly-once under faults, with real processes: the scenario of `benchmarks/chaos.py`, small.

The Zoho Desk emulator runs standalone with mixed faults (errors, create-then-fail,
create-then-hang beyond ZOHO_TIMEOUT, a 429 window, search lag) and an outage window (dropped
connections, then 503s); `ticketing serve` and three `ticketing worker`s share the real Redis
under names of their own. Tickets come over HTTP (some keys repeated) and over the inbound
stream (some entries duplicated, some also published), with a few poison messages; workers
are killed with SIGKILL at seeded random moments and restarted.
"""

from __future__ import annotations

import pytest
from benchmarks.chaos import Scenario, run

pytestmark = [pytest.mark.slow, pytest.mark.redis]


def test_every_key_makes_exactly_one_ticket_under_faults_and_kills(real_redis_url: str) -> None:
    """Every key sent has exactly one ticket in Zoho, nothing is left pending or unacked, and
    the dead letters hold exactly the poison messages, each once."""
    scenario = Scenario(
        http_tickets=40,
        redis_tickets=40,
        poison=4,
        workers=3,
        worker_kills=4,
        seed=3,
        send_window=6.0,
        outage_for=2.0,
        rate_limit_for=1.0,
        redis_url=real_redis_url,
        redis_restarts=0,
        drain_timeout=35.0,
        log=print,
    )
    result, diagnosis = run(scenario)

    assert result.problems() == [], diagnosis
    assert len(result.sent_keys) == 80, diagnosis
    assert all(result.per_key.get(key) == 1 for key in result.sent_keys), diagnosis
    assert len(result.dead_letters) == len(result.poison_markers) == 4, diagnosis
    # The faults did happen, and so did the kills: otherwise this proves nothing. The outage
    # is a second of connection resets ("0") then a second of 503s; when the resets open the
    # breaker (as they should), no call reaches Zoho in the 503 second, so the outage counts
    # as met in either form.
    answers = set(result.zoho_answers)
    assert {"429", "500"} <= answers, diagnosis
    assert answers & {"0", "503"}, diagnosis
    assert len(result.kills) == 4, diagnosis
    assert result.http_replays > 0, diagnosis
