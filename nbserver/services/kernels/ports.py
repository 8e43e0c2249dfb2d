"""Kernel TCP ports: where a new kernel's are chosen, and whether one that exited lost them.

jupyter_client picks a new kernel's ports by binding port 0 and closing that socket again; the
kernel binds the ports itself once it has started, half a second or more later (several seconds
when many start at once). Meanwhile any socket on the machine may get one of them: another
program's bind(0), or the local end of any outgoing connection, which comes from the same
ephemeral range (``ip_local_port_range``): the server's own connections to the kernels starting
beside it, a browser's, a database client's. jupyter_client's ``LocalPortCache`` keeps two kernels
of one server apart, not other sockets. A kernel whose shell, stdin or control port was taken
exits at once ("Address already in use"); one whose iopub port was taken does not exit at all
(ipykernel 7 hangs) and would never answer.

So the server picks its kernels' ports outside the ephemeral range (:class:`KernelPortCache`,
``MappingKernelManager.kernel_port_range``): no outgoing connection can take them; only a program
that binds that very port number can. And the manager asks :func:`ports_taken` after a kernel
exited while starting, and starts it once more, on new ports, when the answer names a port.
"""

from __future__ import annotations

import errno
import random
import socket
from typing import Any, Iterable, Mapping

from jupyter_client.connect import LocalPortCache

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


#: Where the automatic kernel port range starts: above the well-known and most registered
#: services' ports, below Linux's default ephemeral range (32768-60999).
AUTO_RANGE_START = 20000
#: The ephemeral range where ``ip_local_port_range`` cannot be read (IANA's dynamic ports: the
#: BSDs', macOS's and Windows' default).
IANA_EPHEMERAL = (49152, 65535)
#: Fewer ports than this below the ephemeral range: "auto" falls back to jupyter_client's choice.
MIN_AUTO_PORTS = 1000
#: Ports tried per pick before falling back to jupyter_client's choice (a range nearly all taken).
PICK_ATTEMPTS = 200


def ephemeral_range(path: str = "/proc/sys/net/ipv4/ip_local_port_range") -> tuple[int, int]:
    """The ports the system hands out for bind(0) and outgoing connections, (low, high) inclusive:
    Linux's ``ip_local_port_range``, else :data:`IANA_EPHEMERAL`."""
    try:
        with open(path) as handle:
            low, high = (int(part) for part in handle.read().split()[:2])
    except (OSError, ValueError):
        return IANA_EPHEMERAL
    return low, high


def registered(port: int) -> bool:
    """Whether the system's services database (``/etc/services``) names a TCP service on ``port``:
    a kernel should not hold the port such a service may start on later."""
    try:
        socket.getservbyport(port, "tcp")
    except OSError:
        return False
    return True


def parse_port_range(text: str, ephemeral: tuple[int, int] | None = None) -> tuple[int, int] | None:
    """``kernel_port_range``'s value as (low, high), both inclusive, or None for jupyter_client's
    own choice (bind 0, in the ephemeral range).

    "auto": from :data:`AUTO_RANGE_START` up to just below the ephemeral range (None when that
    leaves fewer than :data:`MIN_AUTO_PORTS`); "LOW-HIGH": those ports; "ephemeral": None.
    Raises ValueError for anything else, or a range outside 1024-65535.
    """
    text = text.strip().lower()
    if text == "ephemeral":
        return None
    if text == "auto":
        low = (ephemeral or ephemeral_range())[0]
        if low - AUTO_RANGE_START < MIN_AUTO_PORTS:
            return None
        return AUTO_RANGE_START, low - 1
    first, dash, last = text.partition("-")
    if not dash or not first.strip().isdecimal() or not last.strip().isdecimal():
        raise ValueError(f"kernel_port_range must be 'auto', 'ephemeral' or 'LOW-HIGH', not {text!r}")
    low, high = int(first), int(last)
    if not 1024 <= low <= high <= 65535:
        raise ValueError(f"kernel_port_range {text!r} must lie within 1024-65535, low first")
    return low, high


class KernelPortCache(LocalPortCache):
    """jupyter_client's port cache (the ports its local provisioner gives each new kernel, kept
    apart until the kernel ends), picking from :attr:`port_range` rather than the ephemeral range.

    A pick is a random port of the range that no other kernel of this process holds, that no
    service is registered for (:func:`registered`), and that a bind as ZeroMQ binds
    (``SO_REUSEADDR``) finds free; ``port_range`` None, or a range in which
    :data:`PICK_ATTEMPTS` picks found nothing free, takes jupyter_client's choice. One per process
    (``LocalPortCache`` is a singleton): :func:`install_port_cache` makes it the one.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.port_range: tuple[int, int] | None = None

    def find_available_port(self, ip: str) -> int:
        if self.port_range is not None:
            low, high = self.port_range
            for _ in range(PICK_ATTEMPTS):
                port = random.randint(low, high)
                if port not in self.currently_used_ports and not registered(port) and not ports_taken(ip, [port]):
                    self.currently_used_ports.add(port)
                    return port
        return int(super().find_available_port(ip))


def install_port_cache(port_range: tuple[int, int] | None) -> KernelPortCache:
    """Make a :class:`KernelPortCache` jupyter_client's ``LocalPortCache.instance()`` (through
    traitlets' singleton, which a subclass's ``instance()`` sets on its parent classes too), with
    ``port_range``; ports it handed out before stay reserved. Returns it."""
    previous: Any = LocalPortCache._instance
    cache = KernelPortCache.instance()
    setattr(LocalPortCache, "_instance", cache)  # also when another LocalPortCache was made before ours
    if previous is not None and previous is not cache:
        cache.currently_used_ports |= set(getattr(previous, "currently_used_ports", ()))
    cache.port_range = port_range
    return cache
