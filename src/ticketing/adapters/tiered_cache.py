"""A contact cache in two tiers: this process's memory in front of the fleet's (Redis)."""

from __future__ import annotations

from ticketing.domain.ports import ContactCache


class TwoTierContactCache:
    """The ``ContactCache`` port as a small, short-lived cache in this process (``near``) in
    front of the shared one (``far``, Redis): a returning customer costs no round trip.

    A contact id another process dropped (Zoho refused it) can live on in ``near`` for up to
    its time to live; using it costs one refused call, after which the ticket drops it here
    too and resolves the contact afresh, as for any stale id.

    Args:
        near: This process's cache, bounded and with a short time to live.
        far: The fleet's cache, the one that counts.
    """

    def __init__(self, near: ContactCache, far: ContactCache) -> None:
        self.near = near
        self.far = far

    def __repr__(self) -> str:
        return f"TwoTierContactCache(near={self.near!r}, far={self.far!r})"

    async def get(self, identity: str) -> str | None:
        contact_id = await self.near.get(identity)
        if contact_id is not None:
            return contact_id
        contact_id = await self.far.get(identity)
        if contact_id is not None:
            await self.near.put(identity, contact_id)
        return contact_id

    async def put(self, identity: str, contact_id: str) -> None:
        await self.far.put(identity, contact_id)
        await self.near.put(identity, contact_id)

    async def forget(self, identity: str) -> None:
        await self.near.forget(identity)
        await self.far.forget(identity)
