"""Where a deployment's keys live: one rule for standalone, Sentinel and Cluster.

A Redis Cluster runs a Lua script only when every key it touches is in one hash slot, and
Redis hashes only the part of a name between the first ``{`` and the next ``}`` when there is
one (a *hash tag*). In cluster mode the service's own keys (ledgers, leases, heartbeats, the
gate, the refresh budget, tokens, the contact cache, the outbox, ...) carry the hash tag of the
pending stream: ``{tickets:pending}ticketing:ledger:<key>`` hashes like ``tickets:pending``
itself, so a script can touch the pending stream, a ledger, a lease and a heartbeat at once.
The contract's streams keep their names (and so their own slots); what a script writes onto
one of them goes through an idempotent append in that stream's slot (``lua/append_once.lua``).

In standalone and sentinel mode nothing is tagged: names stay as they always were, and an
existing deployment keeps its data.
"""

from __future__ import annotations

from dataclasses import dataclass

from ticketing.domain.errors import ConfigurationError


def hash_part(name: str) -> str:
    """The part of ``name`` Redis hashes to find its slot: the content of its first non-empty
    ``{...}``, else the whole name."""
    start = name.find("{")
    if start != -1:
        end = name.find("}", start + 1)
        if end > start + 1:
            return name[start + 1 : end]
    return name


def slot_tag(name: str) -> str:
    """A hash tag that puts a key in ``name``'s slot (``{tickets:pending}``).

    Raises:
        ConfigurationError: ``name`` holds a ``}`` that no tag can carry.
    """
    part = hash_part(name)
    if "}" in part:
        raise ConfigurationError(
            f"the stream name {name!r} holds a '}}' outside a hash tag: in cluster mode no key "
            "can be placed in its slot; rename it (TICKET_QUEUE_NAME and friends)"
        )
    return "{" + part + "}"


@dataclass(frozen=True)
class KeyLayout:
    """The key names of one deployment.

    Args:
        anchor: The stream whose slot the service's own keys share (the pending stream) in
            cluster mode; "" (standalone, sentinel) tags nothing.
    """

    anchor: str = ""

    @classmethod
    def for_mode(cls, mode: str, pending_stream: str) -> KeyLayout:
        """The layout ``REDIS_MODE`` calls for, anchored on the pending stream."""
        if mode != "cluster":
            return cls()
        slot_tag(pending_stream)  # refuses a name no tag can follow
        return cls(anchor=pending_stream)

    @property
    def clustered(self) -> bool:
        return bool(self.anchor)

    def own(self, name: str) -> str:
        """A key (or key prefix) of the service's own, in the anchor's slot."""
        return slot_tag(self.anchor) + name if self.anchor else name

    def beside(self, stream: str, suffix: str) -> str:
        """A key that belongs with ``stream`` (its dead-letter digests, its append markers),
        in ``stream``'s slot: ``<stream><suffix>``, or ``{<stream>}<suffix>`` in a cluster."""
        return slot_tag(stream) + suffix if self.anchor else stream + suffix
