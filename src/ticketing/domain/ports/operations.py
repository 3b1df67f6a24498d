"""Ports of operations (monitoring, the doctor, the dead-letter tools), and the whole
ticket store the adapters implement."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from ticketing.domain.model import DeadLetter, DeadLetterSearch, PendingEntry, TicketCreated
from ticketing.domain.ports.pipeline import PendingQueue, TicketLedger


class DeadLetters(Protocol):
    """The dead letters: tickets and messages that can never succeed, kept for an operator
    to inspect and replay."""

    async def bury_raw(self, payload: str, reason: str, origin: str) -> None:
        """A message that never became a ticket (malformed): straight to the dead letters,
        remembering the stream it came from (``origin``) so that a replay puts it back there.

        The same message from the same origin is buried once while its letter is there: a
        consumer killed before acknowledging it, or a pub/sub copy reaching every instance,
        adds nothing. A replayed letter can be buried again."""
        ...

    async def dead_count(self) -> int:
        """Entries in the dead letters."""
        ...

    async def list_dead(self, limit: int = 100) -> Sequence[DeadLetter]:
        """The oldest dead letters."""
        ...

    async def find_dead(self, *, reason: str | None = None, limit: int = 100) -> DeadLetterSearch:
        """The newest dead letters whose reason holds ``reason`` (case-insensitive; None: every
        letter), at most ``limit``, with how many match and how many there are."""
        ...

    async def replay_dead(self, entry_ids: Sequence[str] | None = None) -> int:
        """Move dead letters (all, or these) back to the pending queue; how many moved."""
        ...

    async def delete_dead(self, entry_ids: Sequence[str]) -> int:
        """Delete these dead letters for good (an operator gave up on them); how many were
        there. The tickets' ledger records are left as they are (dead)."""
        ...

    async def known_dead(self, entry_ids: Sequence[str]) -> set[str]:
        """Those of ``entry_ids`` that are dead letters now."""
        ...


class RequestIndex(Protocol):
    """What a request's story is read from besides the ledger: the request-id index and the
    pending queue's entries."""

    async def key_of_request(self, request_id: str) -> str | None:
        """The idempotency key accepted under ``request_id`` (written with the acceptance,
        kept as long as the key's ledger), or None."""
        ...

    async def pending_entries(self, limit: int) -> Sequence[PendingEntry]:
        """The oldest ``limit`` entries of the pending queue, oldest first."""
        ...

    async def recent_created(self, limit: int) -> Sequence[TicketCreated]:
        """The newest ``limit`` created events (the created-event stream, capped as it is
        kept), newest first; an event that cannot be read is left out."""
        ...


class QueueMonitor(Protocol):
    """What monitoring reads of the store: is it reachable, how much waits, how much is dead."""

    async def ping(self) -> bool:
        """Is the store reachable?"""
        ...

    async def probe_write(self) -> None:
        """Would a ticket be accepted durably now? A small write that fails the way an
        acceptance fails (e.g. Redis over ``maxmemory`` with ``noeviction``).

        Raises:
            StoreUnavailable: the store refused the write or cannot be reached; the message
                says why.
        """
        ...

    async def pending_count(self) -> int:
        """Tickets accepted and not yet created or dead."""
        ...

    async def dead_count(self) -> int:
        """Entries in the dead letters."""
        ...


@dataclass(frozen=True, slots=True)
class StoreFacts:
    """What the doctor reads of the Redis server behind the store.

    Attributes:
        mode: ``REDIS_MODE`` as seen: "standalone", "cluster, <n> primaries" or "sentinel".
        version: The server's version, e.g. "7.2.4".
        persistence: How the server keeps what it accepts across a restart: "aof" (the
            append-only file), "rdb" (snapshots only: the writes since the last one are lost),
            "none", or "unknown" (``CONFIG`` refused).
        persistence_detail: What was seen, e.g. "appendonly yes" or "CONFIG GET refused".
        eviction_policy: ``maxmemory-policy``; None when it cannot be read.
        processes: The names of the fleet's processes holding a heartbeat, sorted (not this
            process's own).
        topology: Who serves the data, in a line: the server, the cluster's primaries and
            replicas, or the sentinels' primary, replicas and quorum.
        topology_problems: What an operator should fix in it (a sentinel not answering, no
            replica to fail over to, fewer replicas than REDIS_WAIT_REPLICAS asks for).
    """

    mode: str
    version: str
    persistence: str
    persistence_detail: str
    eviction_policy: str | None
    processes: tuple[str, ...]
    topology: str = ""
    topology_problems: tuple[str, ...] = ()


class RedisFacts(Protocol):
    """The doctor's view of the Redis server: mode, version, persistence, eviction policy
    and the living processes of the fleet."""

    async def facts(self) -> StoreFacts:
        """Read them now.

        Raises:
            StoreUnavailable: Redis cannot be reached or refused the reads.
        """
        ...


class QuotaMeter(Protocol):
    """What the helpdesk last said about its API quota (Zoho's daily credits)."""

    @property
    def credits_remaining(self) -> int | None:
        """Credits left today per the last ``X-Rate-Limit-Remaining-v3``; None before any."""
        ...


class TicketStore(TicketLedger, PendingQueue, DeadLetters, QueueMonitor, RequestIndex, Protocol):
    """The whole store: the ledger, the pending queue and the dead letters kept together so
    that accepting, completing and burying a ticket are each one atomic step.

    Adapters implement it in one class; use cases ask only for the narrow port they use
    (:class:`TicketLedger`, :class:`PendingQueue`, :class:`DeadLetters`,
    :class:`QueueMonitor`), and the composition root hands the same object to each.
    """
