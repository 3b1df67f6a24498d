"""Process liveness: every process that reads the streams has a name and a heartbeat.

The heartbeat is the key ``<prefix>ticketing:alive:<name>``, set with a time to live of
``HEARTBEAT_TTL`` and renewed every ``HEARTBEAT_EVERY`` while the process lives, deleted when
it stops cleanly. A consumer of a group without a heartbeat is a process that is gone: the
rest of the fleet takes over what it held at once (``ConsumerGroup.take_over``), instead of
waiting for the attempt-sized reclaim.

The name is the process's consumer name in both groups. ``CONSUMER_NAME`` gives it; by
default it is ``<host>-<slot>``, the lowest slot of this host whose heartbeat is free, so a
restarted process usually gets its predecessor's name back and reads its pending entries
first. Two living processes never share a name: a name is taken with ``SET NX`` (or, from a
heartbeat that has not expired yet, only when that heartbeat provably belongs to a process of
this host and pid namespace that is gone), and a heartbeat is renewed only by its holder.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time
from collections.abc import Collection, Sequence
from typing import Final

import anyio
from redis.exceptions import RedisError

from ticketing.adapters.redis.connection import RedisClient
from ticketing.adapters.redis.scripts import LivenessScripts
from ticketing.adapters.redis.streams import text
from ticketing.domain.errors import ConfigurationError

log = logging.getLogger(__name__)

ALIVE_PREFIX: Final = "ticketing:alive:"
# Slots tried per host before falling back to a name no other process can have.
MAX_SLOTS: Final = 256


def pid_namespace() -> str:
    """This process's pid namespace ("pid:[4026531836]" on Linux), or "-" when unknown: two
    processes of one host name are comparable by pid only within one namespace."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return "-"


def unique_name(host: str | None = None) -> str:
    """A name no other process has: host, pid and a random suffix."""
    return f"{host or socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


class Heartbeat:
    """This process's name and heartbeat, and the fleet's view of who is alive.

    Args:
        client: An asyncio Redis client.
        prefix: ``REDIS_KEY_PREFIX``.
        ttl: Seconds a heartbeat outlives its last renewal (``Timeouts.heartbeat_ttl``).
        every: Seconds between renewals (``Timeouts.heartbeat_every``).
        host, pid, namespace: This process's identity (tests give their own).
    """

    def __init__(
        self,
        client: RedisClient,
        *,
        prefix: str = "",
        ttl: float,
        every: float,
        host: str | None = None,
        pid: int | None = None,
        namespace: str | None = None,
    ) -> None:
        self._client = client
        self._prefix = prefix + ALIVE_PREFIX
        self.ttl = ttl
        self.every = every
        self.host = host or socket.gethostname()
        self.pid = os.getpid() if pid is None else pid
        self.namespace = pid_namespace() if namespace is None else namespace
        # This incarnation (a process restarted under the same name is another one).
        self.incarnation = secrets.token_hex(8)
        self.value = f"{self.host} {self.namespace} {self.pid} {self.incarnation}"
        self.name = ""
        self._scripts = LivenessScripts(client)
        self._healthy = True
        # time.monotonic() when the last claim or renewal that Redis accepted was SENT: the
        # key lives at least ``ttl`` from then (Redis sets the expiry when it receives it).
        self._held_since: float | None = None
        # The number of the current unbroken run of renewals (a new one after any gap).
        self._run = 0

    def __repr__(self) -> str:
        return f"Heartbeat({self.name!r})"

    @property
    def holder(self) -> str:
        """What this process's lease owners start with, ``<name>/<incarnation>``: a lease whose
        holder is gone (no heartbeat, or another incarnation's) is taken over; empty before
        the name is claimed."""
        return f"{self.name}/{self.incarnation}" if self.name else ""

    def surely_held(self) -> bool:
        """Whether this process's heartbeat is certainly still in Redis, with a renewal's
        interval to spare."""
        if self._held_since is None:
            return False
        return time.monotonic() - self._held_since < self.ttl - self.every

    def held_since(self, run: int) -> bool:
        """Surely held, and unbroken since run ``run`` began: no process can have taken over
        a lease this process took during that run (see :class:`ProcessLiveness`)."""
        return run == self._run and self.surely_held()

    async def hold(self) -> int | None:
        """The current run, renewing the heartbeat at once when it is not surely held (a
        process whose Redis just came back does not wait for its next renewal); None when
        Redis does not answer or another process has the name."""
        if self.surely_held():
            return self._run
        if not self.name:
            return None
        sent = time.monotonic()
        try:
            state = await self.beat()
        except (RedisError, OSError):
            return None
        if state == 0:
            return None
        self._renewed(sent, lapsed=state == 2)
        return self._run

    def _renewed(self, sent: float, *, lapsed: bool) -> None:
        """Redis accepted a claim or renewal sent at ``sent``: a new run when the key had
        lapsed, or when it may have (no renewal surely alive when this one was sent)."""
        held = self._held_since
        if lapsed or held is None or sent - held >= self.ttl:
            self._run += 1
        self._held_since = sent

    def key(self, name: str) -> str:
        """The heartbeat key of the process named ``name``."""
        return self._prefix + name

    @property
    def _ms(self) -> int:
        return max(1, int(self.ttl * 1000))

    async def claim(self, wanted: str | None = None) -> str:
        """Take a name and start the heartbeat: ``wanted`` (waiting up to a heartbeat for a
        predecessor's to expire), else ``<host>-<slot>``; with Redis out of reach, ``wanted``
        or a unique name (whose heartbeat starts once Redis answers). Returns the name.

        Raises:
            ConfigurationError: ``wanted`` is held by a living process.
        """
        sent = time.monotonic()
        try:
            self.name = await (self._claim_wanted(wanted) if wanted else self._claim_slot())
            self._renewed(sent, lapsed=True)
        except (RedisError, OSError) as exc:
            # A service starts with Redis down: the first renewal that reaches Redis sets it.
            self.name = wanted or unique_name(self.host)
            log.debug("no Redis to claim a process name (%s); using %s", exc, self.name)
        return self.name

    async def _claim_wanted(self, wanted: str) -> str:
        # A predecessor in another pid namespace (a restarted container) cannot be told from
        # a living process: its heartbeat is waited out.
        tries = int((self.ttl + self.every) / (self.every / 4)) + 1
        for _ in range(tries):
            if await self._take(wanted):
                return wanted
            await anyio.sleep(self.every / 4)
        held = text(await self._client.get(self.key(wanted)))
        raise ConfigurationError(
            f"CONSUMER_NAME {wanted!r} is in use by a living process ({held.rsplit(' ', 1)[0]}"
            f"); every process needs its own: unset it to get <host>-<slot>"
        )

    async def _claim_slot(self) -> str:
        for slot in range(MAX_SLOTS):
            name = f"{self.host}-{slot}"
            if await self._take(name):
                return name
        name = unique_name(self.host)
        await self._client.set(self.key(name), self.value, px=self._ms)
        return name

    async def _take(self, name: str) -> bool:
        key = self.key(name)
        if await self._client.set(key, self.value, nx=True, px=self._ms):
            return True
        held = await self._client.get(key)
        if held is not None and not self._predecessor(text(held)):
            return False
        return await self._scripts.take(alive=key, seen=text(held), value=self.value, ms=self._ms)

    def _predecessor(self, held: str) -> bool:
        """Whether the heartbeat value ``held`` belongs to a process of this host that is gone:
        same host name and pid namespace (a pid means nothing in another), and that pid runs
        no process. Anything else may be alive (our own pid too: another container of this
        process, as tests build them)."""
        host, namespace, pid, *_ = [*held.split(" "), "", "", ""]
        if host != self.host or namespace != self.namespace or namespace == "-":
            return False
        if not pid.isdigit() or int(pid) == self.pid:
            return False
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except OSError:
            return False  # exists, another user's
        return False

    async def beat(self) -> int:
        """Renew the heartbeat once: 1 renewed, 2 set again after a lapse, 0 another process
        holds the name now (ours lapsed and it was taken)."""
        return await self._scripts.beat(alive=self.key(self.name), value=self.value, ms=self._ms)

    async def run(self) -> None:
        """Renew the heartbeat every ``every`` seconds, forever (until cancelled); one log line
        per change of state, not per failure."""
        while True:
            await anyio.sleep(self.every)
            sent = time.monotonic()
            try:
                state = await self.beat()
            except (RedisError, OSError) as exc:
                if self._healthy:
                    log.warning("heartbeat %s: %s; renewing it when Redis answers", self.name, exc)
                self._healthy = False
                continue
            if state == 0:
                if self._healthy:
                    log.error(
                        "heartbeat %s lapsed and another process took the name; this process's "
                        "work may be taken over while it runs: restart it",
                        self.name,
                    )
                self._healthy = False
                continue
            self._renewed(sent, lapsed=state == 2)
            if state == 2:
                log.warning("heartbeat %s had lapsed; set again", self.name)
            elif not self._healthy:
                log.info("heartbeat %s renewed again", self.name)
            self._healthy = True

    async def end(self) -> None:
        """Delete the heartbeat (only if still ours): the fleet takes over what this process
        left at once."""
        if self.name:
            await self._scripts.end(alive=self.key(self.name), value=self.value)

    async def living(self, names: Sequence[str]) -> Collection[str]:
        """Which of ``names`` have a heartbeat (one pipelined round trip)."""
        if not names:
            return set()
        async with self._client.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.exists(self.key(name))
            found = await pipe.execute()
        return {name for name, alive in zip(names, found, strict=True) if alive}
