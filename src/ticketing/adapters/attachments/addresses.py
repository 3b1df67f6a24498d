"""Which IP addresses a fetch may connect to: only public ones (stdlib ``ipaddress``), looking
through the IPv6 forms that carry an IPv4 address (mapped, compatible, NAT64, 6to4, Teredo)."""

from __future__ import annotations

import ipaddress
from typing import Final

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64: Final = ipaddress.IPv6Network("64:ff9b::/96")
_COMPATIBLE: Final = ipaddress.IPv6Network("::/96")


def parse_address(text: str) -> IPAddress | None:
    """The address ``text`` spells (an IPv6 zone or brackets allowed), or None for a name."""
    try:
        return ipaddress.ip_address(text.strip("[]").partition("%")[0])
    except ValueError:
        return None


def _embedded(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    found: list[ipaddress.IPv4Address] = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)
    if address in _NAT64 or (address in _COMPATIBLE and int(address) > 1):
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def _public_one(address: IPAddress) -> bool:
    return (
        address.is_global
        and not address.is_private
        and not address.is_loopback
        and not address.is_link_local
        and not address.is_multicast
        and not address.is_reserved
        and not address.is_unspecified
    )


def is_public(address: IPAddress) -> bool:
    """Whether ``address`` is a public unicast address, and so is any IPv4 address inside it.

    Refused: private (10/8, 172.16/12, 192.168/16, fc00::/7), loopback, link-local (169.254/16
    with the cloud metadata address, fe80::/10), multicast, reserved, unspecified, shared
    (100.64/10), documentation and benchmarking ranges, and the same behind ``::ffff:``,
    ``::a.b.c.d``, ``64:ff9b::``, ``2002::`` and Teredo.
    """
    if not _public_one(address):
        return False
    if isinstance(address, ipaddress.IPv6Address):
        return all(_public_one(inner) for inner in _embedded(address))
    return True
