"""Every timeout derived from the attempt timeout (QUEUE_ATTEMPT_TIMEOUT), with why it is so."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

# How long a caller waits for a free Zoho call slot before it stays in the queue: the gate
# keeps a slot this long for the next call of the same attempt (see ``RedisCallGate``).
GATE_HOLD_FOR: Final = 5.0
# Slack for clock drift and the round trips around one call, on top of an attempt and a hold.
GATE_SLACK: Final = 5.0

# Process liveness (``adapters/redis/liveness.py``): every process renews its heartbeat key
# this often...
HEARTBEAT_EVERY: Final = 1.0
# ...and the key expires this long after the last renewal: five renewals may be missed (a slow
# Redis round trip, a busy event loop, a short network blip) before a live process is taken
# for dead. This, not the attempt timeout, bounds how long a dead process's work waits.
HEARTBEAT_TTL: Final = 5.0
# A dead process's stream entry is taken only when it was delivered at least this long ago:
# a restarted process with the dead one's name may have just re-read it between the
# heartbeat check and the claim (XCLAIM's min-idle makes that check and the claim safe).
TAKEOVER_MIN_IDLE: Final = 1.0


@dataclass(frozen=True, slots=True)
class Timeouts:
    """The timings of one deployment, all in seconds, all sized from ``attempt``.

    One attempt at a ticket (contact resolution and the create, each with its own timeout) is
    cut off after ``attempt`` seconds. Everything that must outlive a live attempt, or must
    notice that one was abandoned, is sized from it, so these always hold: contact lock =
    attempt < gate holder, and attempt < lease < queue reclaim < inbound reclaim.
    """

    attempt: float

    @classmethod
    def from_attempt(cls, seconds: float) -> Timeouts:
        """The timings for an attempt timeout of ``seconds`` (``Settings.attempt_timeout``)."""
        return cls(attempt=float(seconds))

    @property
    def lease(self) -> float:
        """A ticket's lease: twice an attempt. The attempt is cut off long before its lease
        ends, so no second process ever works on a ticket whose first attempt is still
        running; a crashed holder's ticket is free again after two attempts at most."""
        return self.attempt * 2

    @property
    def queue_reclaim_idle(self) -> float:
        """Idle time after which another consumer takes a pending-queue entry: three
        attempts, one more than the lease, so the lease of a consumer that died has expired
        by then and the taker can lease the ticket at once."""
        return self.attempt * 3

    @property
    def inbound_reclaim_idle(self) -> float:
        """Idle time after which another consumer takes an inbound-stream entry: four
        attempts. A batch (20 entries, ZOHO_MAX_CONCURRENCY at once) is handled in about two
        waves of attempts; an entry idle for twice that was left behind by a consumer that
        died."""
        return self.attempt * 4

    @property
    def inbound_reclaim_every(self) -> float:
        """How often a running inbound consumer looks for abandoned entries."""
        return reclaim_every(self.inbound_reclaim_idle)

    @property
    def heartbeat_every(self) -> float:
        """How often a process renews its heartbeat (independent of the attempt)."""
        return HEARTBEAT_EVERY

    @property
    def heartbeat_ttl(self) -> float:
        """How long a process's heartbeat outlives its last renewal: a process silent this long
        is dead, and the fleet takes over its stream entries."""
        return HEARTBEAT_TTL

    @property
    def takeover_every(self) -> float:
        """How often a running process looks for dead processes' entries: once per renewal,
        so a dead process's work waits at most a heartbeat and a renewal."""
        return HEARTBEAT_EVERY

    @property
    def takeover_min_idle(self) -> float:
        """The least idle time of an entry taken from a dead process (see
        ``TAKEOVER_MIN_IDLE``): small, but never 0."""
        return TAKEOVER_MIN_IDLE

    @property
    def gate_holder_ttl(self) -> float:
        """How long a Zoho call slot stays taken when its holder crashed: one attempt (a live
        call never lasts longer, the attempt is cut off), plus the hold kept for the
        attempt's next call, plus slack."""
        return self.attempt + GATE_HOLD_FOR + GATE_SLACK

    @property
    def gate_hold_for(self) -> float:
        """How long the gate keeps a finished call's slot for the same attempt's next call."""
        return GATE_HOLD_FOR

    @property
    def contact_lock_ttl(self) -> float:
        """The per-customer contact-creation lock: one attempt. Contact creation is part of an
        attempt and cut off with it; a lock that outlived it would only stall the customer's
        next tickets after a crash."""
        return self.attempt

    @property
    def contact_lock_wait(self) -> float:
        """How long a ticket waits for another's contact creation: at most one attempt, which
        is as long as that creation can run."""
        return self.attempt

    @property
    def ambiguous_attempt_end(self) -> float:
        """When an ambiguous create left no end time (its process died), it ended at the
        latest when its timeout cut it off: one attempt after it began."""
        return self.attempt


def reclaim_every(idle: float) -> float:
    """How often to look for entries idle for ``idle`` seconds: twice per idle time, so an
    abandoned entry waits at most one and a half idle times (a consumer given its own idle
    time, as tests do, uses this too)."""
    return idle / 2
