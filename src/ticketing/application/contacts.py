"""Finding or creating the customer's helpdesk contact, once per customer fleet-wide."""

from __future__ import annotations

import logging
import uuid

import anyio

from ticketing.domain.contacts import choose_contact, new_contact_for
from ticketing.domain.errors import ValidationError
from ticketing.domain.model import Customer
from ticketing.domain.ports import Clock, ContactCache, Helpdesk, Leases

log = logging.getLogger(__name__)


def identity_of(customer: Customer) -> str:
    """The cache and lock key for a customer: the email, else the E.164 phone."""
    if customer.email:
        return f"email:{customer.email}"
    if customer.phone:
        return f"phone:{customer.phone}"
    raise ValidationError("customer", "an email or a phone number is required")


class ContactResolver:
    """Resolve a customer to a contact id: cache, then exact-match search, then create.

    Creation happens under a fleet-wide lease per identity, so two first tickets for the same
    new customer arriving at once create one contact: the second waits, then finds the first's
    contact in the cache.
    """

    def __init__(
        self,
        helpdesk: Helpdesk,
        cache: ContactCache,
        leases: Leases,
        clock: Clock,
        *,
        lock_ttl: float = 30.0,
        lock_wait: float = 20.0,
    ) -> None:
        self._helpdesk = helpdesk
        self._cache = cache
        self._leases = leases
        self._clock = clock
        self._lock_ttl = lock_ttl
        self._lock_wait = lock_wait

    async def cached(self, customer: Customer) -> str | None:
        """The cached contact id, if any."""
        return await self._cache.get(identity_of(customer))

    async def forget(self, customer: Customer) -> None:
        """Drop a cached id that the helpdesk refused."""
        await self._cache.forget(identity_of(customer))

    async def resolve(self, customer: Customer) -> str:
        """The contact id for a customer, creating the contact if there is none."""
        identity = identity_of(customer)
        cached = await self._cache.get(identity)
        if cached:
            return cached
        owner = uuid.uuid4().hex
        lease = f"contact:{identity}"
        deadline = self._clock.monotonic() + self._lock_wait
        delay = 0.02
        while not await self._leases.acquire(lease, owner, self._lock_ttl):
            await anyio.sleep(delay)
            delay = min(delay * 2, 0.5)
            cached = await self._cache.get(identity)
            if cached:
                return cached
            if self._clock.monotonic() > deadline:
                # A holder that takes this long is stuck; searching first keeps this safe
                # unless the holder is still about to create.
                log.warning("contact lock wait timed out; resolving without it")
                return await self._find_or_create(customer, identity)
        try:
            cached = await self._cache.get(identity)
            if cached:
                return cached
            return await self._find_or_create(customer, identity)
        finally:
            # Also when the attempt is cut off (cancelled): else the customer's next tickets
            # wait for the lock to expire.
            with anyio.CancelScope(shield=True):
                await self._leases.release(lease, owner)

    async def _find_or_create(self, customer: Customer, identity: str) -> str:
        if customer.email:
            found = await self._helpdesk.search_contacts(email=customer.email)
        else:
            found = await self._helpdesk.search_contacts(phone=customer.phone)
        contact = choose_contact(found, customer)
        if contact is None:
            contact = await self._helpdesk.create_contact(new_contact_for(customer))
            log.info("created contact %s", contact.id)
        await self._cache.put(identity, contact.id)
        return contact.id
