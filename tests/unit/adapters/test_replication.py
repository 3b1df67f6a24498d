"""The WAIT step's probe key lands in the hash slot of the key it vouches for, so in a cluster
the probe and WAIT go to the primary that took the acceptance."""

from __future__ import annotations

import pytest
from redis.crc import key_slot

from ticketing.adapters.redis.replication import same_slot_key


@pytest.mark.parametrize(
    "anchor",
    ["tickets:pending", "acme:tickets:pending", "{tickets}:pending", "x{a}y{b}"],
)
def test_the_probe_shares_the_anchors_slot(anchor: str) -> None:
    """With or without a hash tag, the probe hashes like the anchor."""
    probe = same_slot_key(anchor, ":wait-probe")
    assert key_slot(probe.encode()) == key_slot(anchor.encode())
    assert probe != anchor
