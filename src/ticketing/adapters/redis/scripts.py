"""The Lua scripts of ``lua/*.lua``: loaded from the package once, each behind a wrapper whose
signature names the script's keys and arguments (their order lives here and in the file's
header only)."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from importlib import resources
from typing import Any

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript

# A line ``--! include <name>`` stands for the Lua file <name>.lua (a library of functions).
_INCLUDE = re.compile(r"^--! include (\w+)$", re.MULTILINE)


@functools.cache
def lua(name: str) -> str:
    """The source of ``lua/<name>.lua``, its includes expanded; read from the installed
    package (a wheel, a zip) as from a checkout."""
    source = (resources.files(__package__) / "lua" / f"{name}.lua").read_text(encoding="utf-8")
    return _INCLUDE.sub(lambda match: lua(match.group(1)), source)


def register(client: aioredis.Redis, name: str) -> AsyncScript:
    """``lua/<name>.lua`` registered with ``client``: sent by EVALSHA, loaded on NOSCRIPT."""
    return client.register_script(lua(name))


def flatten(fields: Mapping[str, str]) -> list[str]:
    """Field/value pairs as the flat argument list a script reads them from."""
    return [part for item in fields.items() for part in item]


class TicketScripts:
    """The ticket store's atomic steps (``RedisTicketStore``), one Lua file each."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._accept = register(client, "accept")
        self._lease = register(client, "lease")
        self._release = register(client, "release")
        self._complete = register(client, "complete")
        self._bury = register(client, "bury")
        self._bury_raw = register(client, "bury_raw")
        self._mark_creating = register(client, "mark_creating")
        self._mark_failed = register(client, "mark_failed")
        self._mark_ambiguous = register(client, "mark_ambiguous")
        self._replay = register(client, "replay")

    async def accept(
        self,
        *,
        ledger: str,
        pending: str,
        lease: str,
        key: str,
        payload: str,
        owner: str,
        lease_ms: int,
        fields: Mapping[str, str],
    ) -> Any:
        """``{0, 0, ledger}`` for a known key, ``{1, leased}`` for a new one."""
        return await self._accept(
            keys=[ledger, pending, lease], args=[key, payload, owner, lease_ms, *flatten(fields)]
        )

    async def lease(self, *, lease: str, ledger: str, owner: str, ms: int) -> Any:
        """``{held, ledger}``."""
        return await self._lease(keys=[lease, ledger], args=[owner, ms])

    async def release(self, *, lease: str, owner: str) -> Any:
        return await self._release(keys=[lease], args=[owner])

    async def complete(
        self,
        *,
        ledger: str,
        pending: str,
        created: str,
        lease: str,
        owner_key: str,
        group: str,
        event: str,
        maxlen: int,
        retention: int,
        channel: str,
        owner: str,
        key: str,
        oldest: str,
        ticket: Mapping[str, str],
        identity: Mapping[str, str],
    ) -> Any:
        """1 done, 0 already created, or the key the ticket is recorded for already."""
        return await self._complete(
            keys=[ledger, pending, created, lease, owner_key],
            args=[
                group,
                event,
                maxlen,
                retention,
                channel,
                len(ticket),
                owner,
                key,
                oldest,
                *flatten(ticket),
                *flatten(identity),
            ],
        )

    async def bury(
        self,
        *,
        ledger: str,
        pending: str,
        dead: str,
        group: str,
        key: str,
        reason: str,
        failed_at: str,
        retention: int,
        maxlen: int,
        entry: str = "",
        payload: str = "",
    ) -> Any:
        """Without ``entry``, the key's own entry and draft (-1: unknown key, 0: finished
        already); with it, that queue entry with ``payload``."""
        return await self._bury(
            keys=[ledger, pending, dead],
            args=[
                group,
                key,
                reason,
                failed_at,
                retention,
                entry,
                payload,
                "entry" if entry else "key",
                maxlen,
            ],
        )

    async def bury_raw(
        self,
        *,
        dead: str,
        digest: str,
        old_index: str,
        reason: str,
        payload: str,
        failed_at: str,
        origin: str,
        retention: int,
        maxlen: int,
    ) -> Any:
        return await self._bury_raw(
            keys=[dead, digest, old_index],
            args=[reason, payload, failed_at, origin, retention, maxlen],
        )

    async def mark_creating(self, *, ledger: str, at: str) -> Any:
        """The ledger afterwards, None for an unknown key."""
        return await self._mark_creating(keys=[ledger], args=[at])

    async def mark_failed(self, *, ledger: str, reason: str) -> Any:
        return await self._mark_failed(keys=[ledger], args=[reason])

    async def mark_ambiguous(self, *, ledger: str, at: str) -> Any:
        return await self._mark_ambiguous(keys=[ledger], args=[at])

    async def replay(
        self,
        *,
        dead: str,
        target: str,
        ledger: str,
        entry: str,
        to_pending: bool,
        key: str,
        payload: str,
        identity: Mapping[str, str],
    ) -> int:
        """1 when the letter went back, 0 when it was gone or its key lives again."""
        result = await self._replay(
            keys=[dead, target, ledger],
            args=[entry, "pending" if to_pending else "stream", key, payload, *flatten(identity)],
        )
        return int(result)


class LeaseScripts:
    """Leases (``RedisLeases``): take or renew, give back."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._acquire = register(client, "acquire")
        self._release = register(client, "release")

    async def acquire(self, *, lease: str, owner: str, ms: int) -> bool:
        return bool(await self._acquire(keys=[lease], args=[owner, ms]))

    async def release(self, *, lease: str, owner: str) -> None:
        await self._release(keys=[lease], args=[owner])


class ForgetConsumer:
    """Delete a group's consumer only if it holds nothing (``lua/forget_consumer.lua``)."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._script = register(client, "forget_consumer")

    async def __call__(self, *, stream: str, group: str, consumer: str) -> bool:
        return bool(await self._script(keys=[stream], args=[group, consumer]))


class GateScripts:
    """The Zoho call gate (``RedisCallGate``): take a slot, read the pause, pause."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._enter = register(client, "gate_enter")
        self._peek = register(client, "gate_peek")
        self._pause = register(client, "gate_pause")

    async def enter(
        self,
        *,
        slots: str,
        pause: str,
        waiters: str,
        process: str,
        slot: str,
        capacity: int,
        holder_ms: int,
        waiter_ms: int,
    ) -> tuple[int, int, int]:
        """(granted, pause ms left, other processes waiting)."""
        granted, pause_ms, others = await self._enter(
            keys=[slots, pause, waiters], args=[process, slot, capacity, holder_ms, waiter_ms]
        )
        return int(granted), int(pause_ms), int(others)

    async def peek(self, *, pause: str, waiters: str, process: str) -> tuple[int, int]:
        """(pause ms left, other processes waiting)."""
        pause_ms, others = await self._peek(keys=[pause, waiters], args=[process])
        return int(pause_ms), int(others)

    async def pause(self, *, pause: str, ms: int) -> None:
        await self._pause(keys=[pause], args=[ms])


class BudgetScripts:
    """The token refresh budget (``RedisRefreshBudget``): look, count, Zoho's pause, back-off."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._look = register(client, "budget_look")
        self._record = register(client, "budget_record")
        self._throttled = register(client, "budget_throttled")
        self._failed = register(client, "budget_failed")

    async def look(
        self, *, log: str, pause: str, backoff: str, now: int, window: int, limit: int
    ) -> tuple[int, int, int, int, int]:
        """(granted, used, until, reason, failures); reason 1 Zoho's pause, 2 the count,
        3 the back-off."""
        granted, used, until, reason, failures = await self._look(
            keys=[log, pause, backoff], args=[now, window, limit]
        )
        return int(granted), int(used), int(until), int(reason), int(failures)

    async def record(self, *, log: str, backoff: str, now: int, window: int, member: str) -> None:
        await self._record(keys=[log, backoff], args=[now, window, member])

    async def throttled(
        self, *, log: str, pause: str, now: int, window: int, member: str, until: int, keep_ms: int
    ) -> None:
        await self._throttled(keys=[log, pause], args=[now, window, member, until, keep_ms])

    async def failed(
        self, *, backoff: str, now: int, first: int, cap: int, jitter: float, keep_ms: int
    ) -> None:
        await self._failed(keys=[backoff], args=[now, first, cap, jitter, keep_ms])
