"""ports.py: which of a kernel's TCP ports another socket holds."""

from __future__ import annotations

import socket
from typing import Iterator

import pytest

from nbserver.services.kernels.ports import kernel_ports_taken, ports_taken


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
