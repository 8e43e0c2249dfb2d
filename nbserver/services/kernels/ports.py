"""Whether a kernel that exited while starting lost one of its TCP ports to another socket.

jupyter_client picks a new kernel's ports by binding port 0 and closing that socket again; the
kernel binds the ports itself once it has started, half a second or more later. Meanwhile any
socket on the machine may get one of them: another program's bind(0), or the local end of any
outgoing connection, which comes from the same ephemeral range (``ip_local_port_range``). The
kernel then exits at once ("Address already in use"). jupyter_client's ``LocalPortCache`` keeps
two kernels of one server apart, not other sockets. The manager asks ``ports_taken`` after such an
exit and starts the kernel once more, on new ports, when the answer names a port.
"""

from __future__ import annotations

import errno
import socket
from typing import Any, Iterable, Mapping

#: The connection-info fields that name a kernel's TCP ports (Jupyter's connection file).
PORT_FIELDS = ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")


def ports_taken(ip: str, ports: Iterable[int]) -> list[int]:
    """The ports among ``ports`` that a socket holds on address ``ip`` now, so a kernel cannot bind them.

    Each is probed with a bind as ZeroMQ binds (``SO_REUSEADDR``: a closed connection waiting in
    TIME_WAIT does not count); a port that cannot be bound for another reason than EADDRINUSE
    (permission, no such address) is not reported. Port 0 (not chosen) is skipped.
    """
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    taken = []
    for port in ports:
        if port <= 0:
            continue
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((ip, port))
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    taken.append(port)
    return taken


def kernel_ports_taken(connection_info: Mapping[str, Any]) -> list[int]:
    """``ports_taken`` for a kernel's connection info (``transport``, ``ip`` and the ports);
    [] for a kernel on another transport than TCP (ipc: files, nothing to lose)."""
    if connection_info.get("transport", "tcp") != "tcp":
        return []
    ports = [int(connection_info.get(name) or 0) for name in PORT_FIELDS]
    return ports_taken(str(connection_info.get("ip") or "127.0.0.1"), ports)
