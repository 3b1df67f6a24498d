"""Finding or creating the customer's helpdesk contact, once per customer fleet-wide."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import anyio

from ticketing.domain.contacts import choose_contact, new_contact_for
from ticketing.domain.errors import ValidationError
from ticketing.domain.model import Customer, NewContact
from ticketing.domain.ports import Clock, ContactCache, Helpdesk, Leases, lease_owner

log = logging.getLogger(__name__)


def identity_of(customer: Customer) -> str:
    """The cache and lock key for a customer: the email, else the E.164 phone."""
    if customer.email:
        return f"email:{customer.email}"
    if customer.phone:
        return f"phone:{customer.phone}"
    raise ValidationError("customer", "an email or a phone number is required")


@dataclass
class ContactClaim:
    """What is known of a customer's contact, for one ticket.

    ``contact_id`` is the contact to use. When it is None the customer is new to this service
    and the claim holds the customer's lock: the ticket goes out with ``new_contact`` inline
    (the helpdesk matches it by email or creates it), and the contact id the ticket comes
    back with is :meth:`remember`-ed before the lock is released.
    """

    contact_id: str | None
    new_contact: NewContact | None = None
    _resolver: ContactResolver | None = field(default=None, repr=False)
    _customer: Customer | None = field(default=None, repr=False)
    _channel: str | None = field(default=None, repr=False)

    async def remember(self, contact_id: str) -> None:
        """Cache the contact the helpdesk matched or created for the inline contact."""
        assert self._resolver is not None
        assert self._customer is not None
        self.contact_id = contact_id
        await self._resolver.remember(self._customer, contact_id)

    async def find_or_create(self) -> str:
        """Search, then create, under the lock this claim holds: for when the helpdesk
        refused the inline contact."""
        assert self._resolver is not None
        assert self._customer is not None
        self.contact_id = await self._resolver.find_or_create_locked(
            self._customer, channel=self._channel
        )
        self.new_contact = None
        return self.contact_id


class ContactResolver:
    """Resolve a customer to a contact id: cache, then exact-match search, then create.

    Creation happens under a fleet-wide lease per identity, so two first tickets for the same
    new customer arriving at once create one contact: the second waits, then finds the first's
    contact in the cache.

    With ``inline`` (``ZOHO_INLINE_CONTACT``), a new customer with an email costs no search and
    no contact creation: :meth:`claim` leaves the contact to the ticket (Zoho matches the
    ticket's inline contact by email or creates it), still under the customer's lease, so a
    second first ticket waits and then finds the contact id the first one came back with.
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
        inline: bool = False,
    ) -> None:
        self._helpdesk = helpdesk
        self._cache = cache
        self._leases = leases
        self._clock = clock
        self._lock_ttl = lock_ttl
        self._lock_wait = lock_wait
        self.inline = inline

    def inline_for(self, customer: Customer) -> bool:
        """Does a first ticket for this customer carry its contact inline?"""
        return self.inline and bool(customer.email)

    async def cached(self, customer: Customer) -> str | None:
        """The cached contact id, if any."""
        return await self._cache.get(identity_of(customer))

    async def forget(self, customer: Customer) -> None:
        """Drop a cached id that the helpdesk refused."""
        await self._cache.forget(identity_of(customer))

    async def remember(self, customer: Customer, contact_id: str) -> None:
        """Cache a customer's contact id learned elsewhere (from a created ticket)."""
        await self._cache.put(identity_of(customer), contact_id)

    async def find_or_create_locked(self, customer: Customer, *, channel: str | None = None) -> str:
        """Search, then create; only for a caller that holds the customer's lock."""
        return await self._find_or_create(customer, identity_of(customer), channel)

    async def resolve(self, customer: Customer, *, channel: str | None = None) -> str:
        """The contact id for a customer, creating the contact if there is none.

        ``channel`` is the ticket's: a new contact that wrote on WhatsApp keeps its number in
        ``mobile`` (see :func:`new_contact_for`).
        """
        async with self._claim(customer, inline=False, channel=channel) as claim:
            assert claim.contact_id is not None
            return claim.contact_id

    @asynccontextmanager
    async def claim(
        self, customer: Customer, *, channel: str | None = None
    ) -> AsyncIterator[ContactClaim]:
        """The customer's contact for one ticket: the known one, or, for a new customer with
        an email and ``inline`` on, none yet and the customer's lock held until the block
        ends (see :class:`ContactClaim`)."""
        async with self._claim(
            customer, inline=self.inline_for(customer), channel=channel
        ) as claim:
            yield claim

    @asynccontextmanager
    async def _claim(
        self, customer: Customer, *, inline: bool, channel: str | None = None
    ) -> AsyncIterator[ContactClaim]:
        identity = identity_of(customer)
        cached = await self._cache.get(identity)
        if cached:
            yield ContactClaim(cached)
            return
        owner = lease_owner()
        lease = f"contact:{identity}"
        deadline = self._clock.monotonic() + self._lock_wait
        delay = 0.02
        while not await self._leases.acquire(lease, owner, self._lock_ttl):
            await anyio.sleep(delay)
            delay = min(delay * 2, 0.5)
            cached = await self._cache.get(identity)
            if cached:
                yield ContactClaim(cached)
                return
            if self._clock.monotonic() > deadline:
                # A holder that takes this long is stuck; searching first keeps this safe
                # unless the holder is still about to create.
                log.warning("contact lock wait timed out; resolving without it")
                yield ContactClaim(await self._find_or_create(customer, identity, channel))
                return
        try:
            cached = await self._cache.get(identity)
            if cached:
                yield ContactClaim(cached)
            elif inline:
                new = new_contact_for(customer, channel=channel)
                yield ContactClaim(None, new, self, customer, channel)
            else:
                yield ContactClaim(await self._find_or_create(customer, identity, channel))
        finally:
            # Also when the attempt is cut off (cancelled): else the customer's next tickets
            # wait for the lock to expire.
            with anyio.CancelScope(shield=True):
                await self._leases.release(lease, owner)

    async def _find_or_create(
        self, customer: Customer, identity: str, channel: str | None = None
    ) -> str:
        if customer.email:
            found = await self._helpdesk.search_contacts(email=customer.email)
        else:
            found = await self._helpdesk.search_contacts(phone=customer.phone)
        contact = choose_contact(found, customer)
        if contact is None:
            contact = await self._helpdesk.create_contact(
                new_contact_for(customer, channel=channel)
            )
            log.info("created contact %s", contact.id)
        await self._cache.put(identity, contact.id)
        return contact.id
