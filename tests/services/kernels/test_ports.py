"""ports.py: where a kernel's TCP ports are picked, and which of them another socket holds."""

from __future__ import annotations

import random
import socket
from typing import Iterator

import pytest
from jupyter_client.connect import LocalPortCache

from nbserver.services.kernels.ports import (
    IANA_EPHEMERAL,
    KernelPortCache,
    ephemeral_range,
    install_port_cache,
    kernel_ports_taken,
    parse_port_range,
    ports_taken,
    registered,
)


@pytest.fixture
def held_port() -> Iterator[int]:
    """A port on 127.0.0.1 that a listening socket holds for the test."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_port_another_socket_listens_on_is_taken(held_port):
    assert ports_taken("127.0.0.1", [held_port]) == [held_port]


def test_a_free_port_is_not_taken():
    assert ports_taken("127.0.0.1", [free_port()]) == []


def test_the_local_end_of_an_outgoing_connection_is_taken(held_port):
    with socket.create_connection(("127.0.0.1", held_port)) as client:
        local_port = client.getsockname()[1]
        assert ports_taken("127.0.0.1", [local_port]) == [local_port]


def test_connection_info_reports_only_the_taken_ports(held_port):
    free = free_port()
    info = {"transport": "tcp", "ip": "127.0.0.1", "shell_port": free, "iopub_port": held_port,
            "stdin_port": 0, "control_port": free, "hb_port": free}
    assert kernel_ports_taken(info) == [held_port]


def test_an_ipc_kernel_has_no_ports_to_lose(held_port):
    assert kernel_ports_taken({"transport": "ipc", "ip": "kernel-1", "shell_port": held_port}) == []


# -- where a kernel's ports are picked --------------------------------------------------------------


def test_auto_is_the_ports_from_20000_to_just_below_the_ephemeral_range():
    assert parse_port_range("auto", (32768, 60999)) == (20000, 32767)
    assert parse_port_range(" AUTO ", (49152, 65535)) == (20000, 49151)


def test_auto_falls_back_to_jupyter_clients_choice_when_the_ephemeral_range_starts_low():
    assert parse_port_range("auto", (1024, 65535)) is None
    assert parse_port_range("auto", (20500, 65535)) is None


def test_ephemeral_and_explicit_ranges():
    assert parse_port_range("ephemeral") is None
    assert parse_port_range("30000-30100") == (30000, 30100)
    assert parse_port_range("30000-30000") == (30000, 30000)


@pytest.mark.parametrize("text", ["", "30000", "30000:30100", "a-b", "²-³", "30100-30000", "80-90", "60000-70000", "-1-5"])
def test_a_range_that_is_not_one_is_refused(text):
    with pytest.raises(ValueError, match="kernel_port_range"):
        parse_port_range(text)


def test_the_ephemeral_range_is_read_from_the_system(tmp_path):
    setting = tmp_path / "ip_local_port_range"
    setting.write_text("40000\t50000\n")
    assert ephemeral_range(str(setting)) == (40000, 50000)
    assert ephemeral_range(str(tmp_path / "missing")) == IANA_EPHEMERAL
    setting.write_text("garbage\n")
    assert ephemeral_range(str(setting)) == IANA_EPHEMERAL


def bindable(port: int) -> bool:
    return not ports_taken("127.0.0.1", [port])


@pytest.fixture
def three_free_ports() -> list[int]:
    """Three consecutive ports below the ephemeral range that nothing holds now."""
    for _ in range(200):
        base = random.randint(20000, 30000)
        ports = [base, base + 1, base + 2]
        if all(map(bindable, ports)):
            return ports
    pytest.skip("no three free consecutive ports found")


def test_a_pick_skips_ports_another_socket_holds(three_free_ports):
    first, second, third = three_free_ports
    cache = KernelPortCache()
    cache.port_range = (first, third)
    with socket.socket() as one, socket.socket() as two:
        for holder, port in ((one, first), (two, third)):
            # As a kernel's ZeroMQ socket binds: a connection an earlier test left in TIME_WAIT on
            # this port must not stop the bind (without it, CI once failed here with EADDRINUSE).
            holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            holder.bind(("127.0.0.1", port))
            holder.listen()
        assert {cache.find_available_port("127.0.0.1") for _ in range(3)} >= {second}
        assert first not in cache.currently_used_ports and third not in cache.currently_used_ports


def test_a_port_picked_for_one_kernel_is_not_picked_for_another_until_returned(three_free_ports):
    cache = KernelPortCache()
    cache.port_range = (three_free_ports[0], three_free_ports[0])
    port = cache.find_available_port("127.0.0.1")
    assert port == three_free_ports[0]
    other = cache.find_available_port("127.0.0.1")  # the range is used up: jupyter_client's choice
    assert other != port and other in cache.currently_used_ports
    cache.return_port(port)
    assert cache.find_available_port("127.0.0.1") == port


def test_without_a_range_the_pick_is_jupyter_clients():
    cache = KernelPortCache()
    low, high = ephemeral_range()
    port = cache.find_available_port("127.0.0.1")
    assert low <= port <= high


def test_the_installed_cache_is_jupyter_clients_and_keeps_what_the_previous_one_reserved():
    saved = LocalPortCache._instance, KernelPortCache._instance
    try:
        LocalPortCache._instance = KernelPortCache._instance = None
        previous = LocalPortCache.instance()
        reserved = previous.find_available_port("127.0.0.1")
        cache = install_port_cache((20000, 20999))
        assert LocalPortCache.instance() is cache and cache.port_range == (20000, 20999)
        assert reserved in cache.currently_used_ports
        assert install_port_cache(None) is cache and cache.port_range is None
    finally:
        LocalPortCache._instance, KernelPortCache._instance = saved


def test_a_port_a_service_is_registered_for_is_not_picked():
    names = [port for port in range(1024, 5000) if registered(port) and bindable(port)]
    if not names:
        pytest.skip("no registered service port free between 1024 and 5000 here")
    port = names[0]
    cache = KernelPortCache()
    cache.port_range = (port, port)
    assert cache.find_available_port("127.0.0.1") != port  # jupyter_client's choice instead
    assert socket.getservbyport(port, "tcp")  # the system's name for it, e.g. "socks" for 1080
