"""The Lua scripts of ``lua/*.lua``: loaded from the package once, each behind a wrapper whose
signature names the script's keys and arguments (their order lives here and in the file's
header only)."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from importlib import resources
from typing import Any, ClassVar, Protocol

from redis.commands.core import AsyncScript

from ticketing.adapters.redis.connection import RedisClient

# A line ``--! include <name>`` stands for the Lua file <name>.lua (a library of functions).
_INCLUDE = re.compile(r"^--! include (\w+)$", re.MULTILINE)


@functools.cache
def lua(name: str) -> str:
    """The source of ``lua/<name>.lua``, its includes expanded; read from the installed
    package (a wheel, a zip) as from a checkout."""
    source = (resources.files(__package__) / "lua" / f"{name}.lua").read_text(encoding="utf-8")
    return _INCLUDE.sub(lambda match: lua(match.group(1)), source)


def register(client: RedisClient, name: str) -> AsyncScript:
    """``lua/<name>.lua`` registered with ``client``: sent by EVALSHA, loaded on NOSCRIPT."""
    return client.register_script(lua(name))


# What a script argument may be (redis-py encodes it).
Arg = str | int | float
# Calls of a script that asks to be called again with a heartbeat key declared (its holder
# changed in between each time: then it is taken for alive, as a lease held).
_LOOKS = 3
# Slot holders whose heartbeat keys the gate declares at most (the fleet's processes).
_MAX_HOLDERS = 64


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def flatten(fields: Mapping[str, str]) -> list[str]:
    """Field/value pairs as the flat argument list a script reads them from."""
    return [part for item in fields.items() for part in item]


class _Scripts:
    """Registers the Lua files named in ``files`` once, at construction (no round trip)."""

    files: ClassVar[tuple[str, ...]] = ()

    def __init__(self, client: RedisClient) -> None:
        self._registered = {name: register(client, name) for name in self.files}

    async def _run(self, name: str, keys: list[str], args: list[Arg]) -> Any:
        return await self._registered[name](keys=keys, args=args)


class StoreNames(Protocol):
    """What the ticket scripts are bound to: a store's streams, group and limits."""

    pending_stream: str  # the pending queue
    dead_stream: str  # the dead letters
    created_stream: str  # the created events
    created_channel: str  # the created events' pub/sub channel
    group: str  # the consumer group draining the pending queue
    outbox_stream: str  # what is still to be appended to another stream (pending's slot)
    attachments_stream: str  # the attachment jobs (pending's slot)
    retention: int  # seconds a finished key is remembered
    created_maxlen: int  # approximate cap of the created stream
    dead_maxlen: int  # approximate cap of the dead letters


class TicketScripts(_Scripts):
    """The ticket store's atomic steps (``RedisTicketStore``), bound to its streams and limits
    (``names``): a call names only what changes from one call to the next."""

    files = (
        "accept",
        "lease",
        "release",
        "complete",
        "bury",
        "bury_raw",
        "mark_creating",
        "mark_failed",
        "mark_ambiguous",
        "set_join",
        "replay",
        "append_once",
    )

    def __init__(self, client: RedisClient, names: StoreNames) -> None:
        super().__init__(client)
        self._pending, self._dead = names.pending_stream, names.dead_stream
        self._outbox = names.outbox_stream
        self._jobs = names.attachments_stream
        self._created, self._channel = names.created_stream, names.created_channel
        self._group, self._retention = names.group, names.retention
        self._created_maxlen, self._dead_maxlen = names.created_maxlen, names.dead_maxlen

    async def accept(
        self,
        *,
        ledger: str,
        lease: str,
        request: str,
        key: str,
        payload: str,
        owner: str,
        lease_ms: int,
        fields: Mapping[str, str],
    ) -> Any:
        """``{0, 0, ledger}`` for a known key, ``{1, leased}`` for a new one (``request``:
        the request-id index, written in the same step)."""
        keys = [ledger, self._pending, lease, request]
        args: list[Arg] = [key, payload, owner, lease_ms, self._retention, *flatten(fields)]
        return await self._run("accept", keys, args)

    async def lease(
        self, *, lease: str, ledger: str, owner: str, ms: int, alive: str = "", now: str = ""
    ) -> tuple[int, Any]:
        """``(held, ledger)``; a lease whose holder has no heartbeat under ``alive`` is taken
        over (``lua/lease.lua``: asked again with the holder's heartbeat key declared when
        the lease is another process's)."""
        beat = lease  # no heartbeat to declare yet: any key of the lease's slot
        for _ in range(_LOOKS):
            held, flat, holder = await self._run(
                "lease", [lease, ledger, beat], [owner, ms, alive, now]
            )
            if int(held) != -1:
                return int(held), flat
            beat = alive + _text(holder)
        return 0, flat

    async def release(self, *, lease: str, owner: str) -> Any:
        return await self._run("release", [lease], [owner])

    async def complete(
        self,
        *,
        ledger: str,
        lease: str,
        owner_key: str,
        request: str,
        event: str,
        owner: str,
        key: str,
        oldest: str,
        ticket: Mapping[str, str],
        identity: Mapping[str, str],
        via_outbox: bool = True,
    ) -> Any:
        """1 (the event appended) or, with ``via_outbox``, the outbox entry of the created
        event (``[id, field, value, ...]``) when done; 0 when created already, or the key the
        ticket is recorded for already (``lua/complete.lua``)."""
        keys = [ledger, self._pending, self._outbox, lease, owner_key, self._jobs, request]
        if not via_outbox:
            keys.append(self._created)
        limits: list[Arg] = [self._created_maxlen, self._retention, self._channel]
        args: list[Arg] = [self._group, event, *limits, len(ticket), owner, key, oldest]
        args.append(self._created)
        return await self._run("complete", keys, [*args, *flatten(ticket), *flatten(identity)])

    async def bury(
        self,
        *,
        ledger: str,
        key: str,
        reason: str,
        at: str,
        entry: str = "",
        payload: str = "",
        request: str = "",
    ) -> Any:
        """Without ``entry``, the key's own entry and draft (-1: unknown key, 0: finished
        already); with it, that queue entry with ``payload``; the dead letter's outbox entry
        (``[id, field, value, ...]``) when buried (``lua/bury.lua``)."""
        mode = "entry" if entry else "key"
        args: list[Arg] = [self._group, key, reason, at, self._retention, entry, payload, mode]
        keys = [ledger, self._pending, self._outbox, request or ledger]
        return await self._run("bury", keys, [*args, self._dead_maxlen, self._dead])

    async def bury_raw(
        self, *, digest: str, old_index: str, reason: str, payload: str, at: str, origin: str
    ) -> Any:
        """1 buried, 0 in the dead letters already (``lua/bury_raw.lua``)."""
        args: list[Arg] = [reason, payload, at, origin, self._retention, self._dead_maxlen]
        return await self._run("bury_raw", [self._dead, digest, old_index], args)

    async def mark_creating(self, *, ledger: str, at: str) -> Any:
        """The ledger afterwards, None for an unknown key."""
        return await self._run("mark_creating", [ledger], [at])

    async def mark_failed(self, *, ledger: str, reason: str, at: str) -> Any:
        return await self._run("mark_failed", [ledger], [reason, at])

    async def mark_ambiguous(self, *, ledger: str, at: str) -> Any:
        return await self._run("mark_ambiguous", [ledger], [at])

    async def set_join(self, *, ledger: str, fields: Mapping[str, str]) -> Any:
        """1 recorded, 0 for an unknown or finished key (``lua/set_join.lua``)."""
        args: list[Arg] = [*flatten(fields)]
        return await self._run("set_join", [ledger], args)

    async def append_once(
        self,
        *,
        stream: str,
        marker: str,
        fields: Mapping[str, str],
        maxlen: str = "",
        minid: str = "",
        channel: str = "",
    ) -> int:
        """An entry onto ``stream`` unless ``marker`` says it was appended already (1 appended,
        0 before; ``lua/append_once.lua``)."""
        args: list[Arg] = [self._retention, maxlen, minid, channel, *flatten(fields)]
        return int(await self._run("append_once", [stream, marker], args))

    async def replay_to_pending(
        self,
        *,
        ledger: str,
        marker: str,
        key: str,
        payload: str,
        identity: Mapping[str, str],
        request: str = "",
    ) -> int:
        """A dead letter back onto the pending queue, its ledger ACCEPTED, once (``marker``
        names the letter): 1, or 0 when replayed already or its key lives again
        (``lua/replay.lua``)."""
        keys = [self._pending, ledger, marker, request or ledger]
        args: list[Arg] = [self._retention, key, payload, *flatten(identity)]
        return int(await self._run("replay", keys, args))


class LeaseScripts(_Scripts):
    """Leases (``RedisLeases``): take or renew, give back (``lua/acquire.lua``,
    ``lua/release.lua``)."""

    files = ("acquire", "release")

    async def acquire(self, *, lease: str, owner: str, ms: int, alive: str = "") -> bool:
        beat = lease  # no heartbeat to declare yet: any key of the lease's slot
        for _ in range(_LOOKS):
            reply = await self._run("acquire", [lease, beat], [owner, ms, alive])
            if not isinstance(reply, bytes | str):
                return bool(reply)
            beat = alive + _text(reply)  # held by that process: declare its heartbeat
        return False

    async def release(self, *, lease: str, owner: str) -> None:
        await self._run("release", [lease], [owner])


class ForgetConsumer(_Scripts):
    """Delete a group's consumer only if it holds nothing (``lua/forget_consumer.lua``)."""

    files = ("forget_consumer",)

    async def __call__(self, *, stream: str, group: str, consumer: str) -> bool:
        return bool(await self._run("forget_consumer", [stream], [group, consumer]))


class LivenessScripts(_Scripts):
    """A process's heartbeat (``Heartbeat``): take a dead incarnation's name, renew, end
    (``lua/alive_*.lua``; the end is ``release.lua``: only the holder deletes it)."""

    files = ("alive_take", "alive_beat", "release")

    async def take(self, *, alive: str, seen: str, value: str, ms: int) -> bool:
        return bool(await self._run("alive_take", [alive], [seen, value, ms]))

    async def beat(self, *, alive: str, value: str, ms: int) -> int:
        return int(await self._run("alive_beat", [alive], [value, ms]))

    async def end(self, *, alive: str, value: str) -> bool:
        return bool(await self._run("release", [alive], [value]))


class GateScripts(_Scripts):
    """The Zoho call gate (``RedisCallGate``), bound to its keys: take a slot, read the pause,
    pause (``lua/gate_*.lua``).

    Args:
        client: An asyncio Redis client.
        slots: Sorted set of slot holders scored by their expiry.
        pause: The shared pause.
        waiters: Sorted set of the processes waiting, scored by expiry.
        process: This process's id.
        alive: The heartbeat key prefix: with it, the slots of a process that is gone (its id
            ``<name>/<incarnation>`` without a matching heartbeat) are freed ("" keeps them
            until they expire).
    """

    files = ("gate_enter", "gate_peek", "gate_pause")

    def __init__(
        self,
        client: RedisClient,
        *,
        slots: str,
        pause: str,
        waiters: str,
        process: str,
        alive: str = "",
    ) -> None:
        super().__init__(client)
        self._slots, self._pause, self._waiters, self._process = slots, pause, waiters, process
        self._alive = alive
        # The slot holders met so far, whose heartbeat keys each call declares (newest last).
        self._holders: dict[str, None] = {}

    async def enter(
        self, *, slot: str, capacity: int, holder_ms: int, waiter_ms: int
    ) -> tuple[int, int, int]:
        """(granted, pause ms left, other processes waiting); asked again at once when the
        script names slot holders whose heartbeats it was not given."""
        args: list[Arg] = [self._process, slot, capacity, holder_ms, waiter_ms, self._alive]
        for _ in range(_LOOKS):
            beats = [self._alive + name for name in self._holders] if self._alive else []
            keys = [self._slots, self._pause, self._waiters, *beats]
            granted, pause_ms, others, *unknown = await self._run("gate_enter", keys, args)
            if not unknown:
                break
            for name in unknown:
                self._holders[_text(name)] = None
            while len(self._holders) > _MAX_HOLDERS:
                del self._holders[next(iter(self._holders))]
        return int(granted), int(pause_ms), int(others)

    async def peek(self) -> tuple[int, int]:
        """(pause ms left, other processes waiting)."""
        pause_ms, others = await self._run(
            "gate_peek", [self._pause, self._waiters], [self._process]
        )
        return int(pause_ms), int(others)

    async def pause(self, *, ms: int) -> None:
        await self._run("gate_pause", [self._pause], [ms])


class BudgetScripts(_Scripts):
    """The token refresh budget (``RedisRefreshBudget``): look, count, Zoho's pause, back-off
    (``lua/budget_*.lua``)."""

    files = ("budget_look", "budget_record", "budget_throttled", "budget_failed")

    async def look(
        self, *, log: str, pause: str, backoff: str, now: int, window: int, limit: int
    ) -> tuple[int, int, int, int, int]:
        """(granted, used, until, reason, failures); reason 1 Zoho's pause, 2 the count,
        3 the back-off."""
        reply = await self._run("budget_look", [log, pause, backoff], [now, window, limit])
        granted, used, until, reason, failures = (int(value) for value in reply)
        return granted, used, until, reason, failures

    async def record(self, *, log: str, backoff: str, now: int, window: int, member: str) -> None:
        await self._run("budget_record", [log, backoff], [now, window, member])

    async def throttled(
        self, *, log: str, pause: str, now: int, window: int, member: str, until: int, keep_ms: int
    ) -> None:
        await self._run("budget_throttled", [log, pause], [now, window, member, until, keep_ms])

    async def failed(
        self, *, backoff: str, now: int, first: int, cap: int, jitter: float, keep_ms: int
    ) -> None:
        await self._run("budget_failed", [backoff], [now, first, cap, jitter, keep_ms])
