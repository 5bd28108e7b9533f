"""How much of the address space ``FORWARDED_ALLOW_IPS`` trusts.

A peer in a trusted range may name any client address in its ``X-Forwarded-For``; a list whose
ranges together hold every address (``0.0.0.0/0``, ``::/0``, ``0.0.0.0/1 128.0.0.0/1``) is ``*``
by another name. Ranges are compared in one space, IPv6, with each IPv4 range as its IPv4-mapped
form (``::ffff:a.b.c.d``): that is how HAProxy matches an IPv6 pattern against an IPv4 peer, so
``::ffff:0:0/96`` trusts every IPv4 peer too.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Every IPv4 peer, as an IPv6 pattern sees it.
MAPPED_IPV4 = ipaddress.IPv6Network("::ffff:0:0/96")
#: Every IPv6 peer that is not an IPv4 one in that form.
_IPV6_ONLY = tuple(ipaddress.IPv6Network("::/0").address_exclude(MAPPED_IPV4))
_IPV6_ONLY_COUNT = 2**128 - MAPPED_IPV4.num_addresses
#: Beyond these counts a list is broad enough for a warning: more IPv4 addresses than the private
#: ranges (10/8, 172.16/12, 192.168/16) and carrier-grade NAT (100.64/10) together, twice over;
#: more IPv6 addresses than all unique-local ones (fc00::/7).
BROAD_IPV4 = 2**25
BROAD_IPV6 = 2**121


def as_ipv6(network: Network) -> ipaddress.IPv6Network:
    """``network`` in the IPv6 space: IPv4 ranges as their IPv4-mapped form."""
    if isinstance(network, ipaddress.IPv6Network):
        return network
    first = int(MAPPED_IPV4.network_address) + int(network.network_address)
    return ipaddress.IPv6Network((first, 96 + network.prefixlen))


def _held(networks: list[ipaddress.IPv6Network], target: ipaddress.IPv6Network) -> int:
    """How many addresses of ``target`` the networks hold (two CIDR ranges are nested or apart)."""
    inside = [n if n.subnet_of(target) else target for n in networks if n.overlaps(target)]
    return sum(n.num_addresses for n in ipaddress.collapse_addresses(inside))


def trusted_counts(networks: Iterable[Network]) -> tuple[int, int]:
    """(IPv4 peers, other IPv6 peers) that the ranges trust, each address counted once."""
    space = [as_ipv6(n) for n in networks]
    return _held(space, MAPPED_IPV4), sum(_held(space, part) for part in _IPV6_ONLY)


def covered_families(networks: Iterable[Network]) -> str:
    """``"IPv4"``, ``"IPv6"`` or ``"IPv4 and IPv6"``: the families whose every address the ranges
    hold; ``""`` for none."""
    ipv4, ipv6 = trusted_counts(networks)
    names = ["IPv4"] * (ipv4 == MAPPED_IPV4.num_addresses) + ["IPv6"] * (ipv6 == _IPV6_ONLY_COUNT)
    return " and ".join(names)


def broad_warning(name: str, networks: Iterable[Network]) -> str:
    """A warning for a list that trusts far more peers than any proxy or ingress has, else ``""``."""
    ipv4, ipv6 = trusted_counts(networks)
    if ipv4 <= BROAD_IPV4 and ipv6 <= BROAD_IPV6:
        return ""
    share = max(ipv4 / MAPPED_IPV4.num_addresses, ipv6 / _IPV6_ONLY_COUNT)
    family = "IPv4" if ipv4 / MAPPED_IPV4.num_addresses >= ipv6 / _IPV6_ONLY_COUNT else "IPv6"
    return (
        f"WARNING: {name} trusts {share:.1%} of all {family} addresses: a visitor from any of them can "
        "name any client address and get past the per-visitor limits. List only the address or range "
        "of your reverse proxy or ingress (docs/security.md)."
    )
