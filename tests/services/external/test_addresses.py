"""Which addresses an external fetch may reach: every refused form of checklist items 40-41, by value."""

from __future__ import annotations

import ipaddress

import pytest

from nbserver.services.external.addresses import carried_addresses, parse_literal, refusal


@pytest.mark.parametrize("text, expected", [
    ("2130706433", "127.0.0.1"), ("0x7f.1", "127.0.0.1"), ("0177.0.0.1", "127.0.0.1"), ("127.1", "127.0.0.1"),
    ("0x7f000001", "127.0.0.1"), ("[::1]", "::1"), ("fe80::1%eth0", "fe80::1"), ("example.org", None),
    ("1e100.net", None), ("deadbeef", None),
])
def test_literal_forms_are_normalised_like_the_system_resolver(text: str, expected: str | None) -> None:
    parsed = parse_literal(text)
    assert (str(parsed) if parsed is not None else None) == expected


@pytest.mark.parametrize("address", [
    "127.0.0.1", "127.255.0.9", "::1", "0.0.0.0", "::", "10.1.2.3", "172.16.0.1", "192.168.1.1",
    "169.254.169.254", "100.100.100.200", "fd00:ec2::254", "100.64.0.1", "100.127.255.254", "fe80::1",
    "fc00::1", "224.0.0.1", "ff02::1", "240.0.0.1", "255.255.255.255", "192.0.2.1", "198.18.0.1",
    "::ffff:127.0.0.1", "::ffff:169.254.169.254", "::127.0.0.1",
    "2002:7f00:0001::", "2002:a9fe:a9fe::1",  # 6to4 of 127.0.0.1 and of the metadata address
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo carrying 127.0.0.1 (client = ~7f000001)
    "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b::a00:1", "64:ff9b:1::a9fe:a9fe",  # NAT64
])
def test_refused_addresses(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "64:ff9b::5db8:d822"])
def test_global_addresses_are_allowed(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is None


def test_metadata_refusal_says_so() -> None:
    assert "metadata" in (refusal(ipaddress.ip_address("169.254.169.254")) or "")
    assert "metadata" in (refusal(ipaddress.ip_address("64:ff9b::a9fe:a9fe")) or "")


def test_ipv6_forms_carry_their_ipv4_addresses() -> None:
    carried = {str(a) for a in carried_addresses(ipaddress.ip_address("2001:0:4136:e378:8000:63bf:80ff:fffe"))}
    assert "127.0.0.1" in carried
    assert "127.0.0.1" in {str(a) for a in carried_addresses(ipaddress.ip_address("2002:7f00:1::"))}
    assert "127.0.0.1" in {str(a) for a in carried_addresses(ipaddress.ip_address("64:ff9b::7f00:1"))}


def test_allow_networks_admit_only_what_they_name() -> None:
    allowed = [ipaddress.ip_network("127.0.0.1/32")]
    assert refusal(ipaddress.ip_address("127.0.0.1"), allowed) is None
    assert refusal(ipaddress.ip_address("127.0.0.2"), allowed) is not None
    assert refusal(ipaddress.ip_address("169.254.169.254"), allowed) is not None
