"""Which network addresses an external-notebook fetch may connect to (design section 3.11, step 3).

An address is allowed when it is inside an explicitly allowed network (``external_allow_networks``)
or when it is globally routable and in none of the special-purpose blocks below (RFC 6890's
registries, plus the cloud metadata endpoints). IPv6 forms that carry an IPv4 address (mapped,
6to4, Teredo, NAT64) are unwrapped and every address they carry must pass too, so
``[::ffff:127.0.0.1]`` or ``[64:ff9b::a9fe:a9fe]`` cannot smuggle a refused IPv4 address through.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Iterable, Union

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
IPNetwork = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]

#: Blocks never fetched from, even where ``is_global`` of an older Python says otherwise (the
#: pre-CVE-2024-4032 tables); they cover 169.254.169.254, 100.100.100.200 and fd00:ec2::254.
DENIED_NETWORKS: tuple[IPNetwork, ...] = tuple(ipaddress.ip_network(block) for block in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15",
    "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4", "255.255.255.255/32",
    "::/96",  # the unspecified and loopback addresses, and the deprecated IPv4-compatible ::a.b.c.d
    "100::/64", "2001::/23", "2001:db8::/32", "64:ff9b:1::/48",  # discard, IETF/Teredo, docs, local NAT64
    "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
))

#: Cloud instance metadata addresses: named in refusals so the log says what was tried.
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(text) for text in (
    "169.254.169.254", "100.100.100.200", "fd00:ec2::254",
))

NAT64_WELL_KNOWN = ipaddress.ip_network("64:ff9b::/96")


def _literal_text(host: str) -> str:
    """A URL host without IPv6 brackets and zone id."""
    return host.strip("[]").split("%", 1)[0]


def parse_plain_literal(host: str) -> IPAddress | None:
    """The address a URL host names in the usual spelling (dotted decimal IPv4, or IPv6 with or
    without a zone id), as ``ipaddress`` reads it; None for anything else."""
    try:
        return ipaddress.ip_address(_literal_text(host))
    except ValueError:
        return None


def parse_literal(host: str) -> IPAddress | None:
    """The address a URL host names literally, or None for a host name.

    IPv6 zone ids are dropped; IPv4 in the forms ``inet_aton`` accepts (``2130706433``,
    ``0x7f.1``, ``0177.0.0.1``, ``127.1``) is normalised as the system's resolver would read it.
    """
    plain = parse_plain_literal(host)
    if plain is not None:
        return plain
    text = _literal_text(host)
    if not text or ":" in text or not all(char in "0123456789abcdefxABCDEFX." for char in text):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(text))
    except OSError:
        return None


def carried_addresses(address: IPAddress) -> list[IPAddress]:
    """The address itself and every IPv4 address an IPv6 form of it carries."""
    found: list[IPAddress] = [address]
    if isinstance(address, ipaddress.IPv6Address):
        address = ipaddress.IPv6Address(address.packed)  # without a zone id
        found = [address]
        if address.ipv4_mapped is not None:
            found.append(address.ipv4_mapped)
        if address.sixtofour is not None:
            found.append(address.sixtofour)
        if address.teredo is not None:
            found.extend(address.teredo)
        if address in NAT64_WELL_KNOWN:
            found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def refusal(address: IPAddress, allowed: Iterable[IPNetwork] = ()) -> str | None:
    """Why ``address`` may not be fetched from, or None when it may.

    Allowed: every address it carries lies in one of ``allowed``, or is global and outside
    :data:`DENIED_NETWORKS`.
    """
    allowed = tuple(allowed)
    for candidate in carried_addresses(address):
        if any(candidate.version == network.version and candidate in network for network in allowed):
            continue
        if candidate in METADATA_ADDRESSES:
            return f"{candidate} is a cloud metadata address"
        denied = next((network for network in DENIED_NETWORKS
                       if candidate.version == network.version and candidate in network), None)
        if denied is not None:
            return f"{candidate} is in the special-purpose block {denied}"
        if not candidate.is_global:
            return f"{candidate} is not a global address"
    return None
