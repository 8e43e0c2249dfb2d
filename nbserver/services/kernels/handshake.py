"""A kernel's channel sockets, watched: when the kernel's side knows them, and connected in stages.

The kernel sends an ``input_request`` to its stdin ROUTER socket, addressed to the identity of
the shell request that asked. A ROUTER drops, without a word, a message for a peer whose ZMTP
handshake has not finished, and the kernel then waits for an answer forever. So a kernel is not
ready for ``input()`` before the handshake of our stdin socket is done, and the shell reply to
kernel_info proves nothing about it: it is a different connection. ZeroMQ reports the handshake
to a socket monitor, which must watch the socket before it connects.

The same watch on the shell socket stages a start: only the shell socket connects at once, the
others (iopub, control, stdin) once its handshake is done. A socket whose kernel does not listen
yet retries its refused TCP connection every ``RECONNECT_IVL`` (10 ms, manager.py); four sockets
per kernel, five kernels starting at once on two cores (2-3 s each), made 2,000-3,000 refused
connections per burst (jupyter_server's 150-200), CPU taken from the starting kernels. ipykernel
binds all its channels together (``IPKernelApp.init_sockets``), so once the shell handshake is
done the others connect at their first attempt, long before the kernel can answer.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any, Callable

import zmq
from zmq.eventloop.zmqstream import ZMQStream
from zmq.utils.monitor import parse_monitor_message


class HandshakeWatch:
    """Sets ``done`` once ``socket`` has finished a handshake with its peer (and calls ``on_done``,
    if given), then stops watching."""

    def __init__(self, socket: zmq.Socket[Any], on_done: Callable[[], None] | None = None) -> None:
        self.done = asyncio.Event()
        self._on_done = on_done
        self._socket = socket
        address = f"inproc://nbserver-handshake-{uuid.uuid4().hex}"
        socket.monitor(address, zmq.EVENT_HANDSHAKE_SUCCEEDED)
        pair = socket.context.socket(zmq.PAIR, socket_class=zmq.Socket)
        pair.linger = 0
        pair.connect(address)
        self._stream: ZMQStream | None = ZMQStream(pair)
        self._stream.on_recv(self._on_event)

    def _on_event(self, parts: list[bytes]) -> None:
        if parse_monitor_message(parts)["event"] == zmq.EVENT_HANDSHAKE_SUCCEEDED:
            self.done.set()
            self.close()
            if self._on_done is not None:
                self._on_done()

    def close(self) -> None:
        if self._stream is None:
            return
        stream, self._stream = self._stream, None
        stream.on_recv(None)
        stream.close(linger=0)
        if not self._socket.closed:
            self._socket.disable_monitor()


#: The channels of a kernel the bridge connects to, with their socket types.
CHANNEL_SOCKET_TYPES = {"shell": zmq.DEALER, "control": zmq.DEALER, "stdin": zmq.DEALER, "iopub": zmq.SUB}


@dataclass
class StagedChannels:
    """A kernel's channel streams, connected in two stages (see the module docstring)."""

    streams: dict[str, ZMQStream]
    #: Done once the kernel's stdin ROUTER knows our stdin socket (its input requests reach us).
    stdin_watch: HandshakeWatch
    #: Done once the shell handshake is; the other channels connect then.
    shell_watch: HandshakeWatch

    def close(self) -> None:
        """Stop watching (the streams are closed by their owner)."""
        self.shell_watch.close()
        self.stdin_watch.close()


def connect_staged(connection: Any, identity: bytes) -> StagedChannels | None:
    """Streams for the shell, control, stdin (DEALERs with ``identity``) and iopub (SUB, every
    topic) channels of the kernel behind ``connection`` (a jupyter_client kernel manager): shell
    connects now, the others once its handshake is done; stdin is watched from before it connects.

    Messages sent on a channel not connected yet wait in its stream. None when this connection
    cannot be built here (CurveZMQ keys, or a manager without jupyter_client's URL helper): the
    caller then connects every channel the usual way, unstaged and without the stdin watch.
    """
    make_url = getattr(connection, "_make_url", None)
    if make_url is None or getattr(connection, "curve_publickey", None) is not None:
        return None
    sockets: dict[str, zmq.Socket[Any]] = {}
    for channel, kind in CHANNEL_SOCKET_TYPES.items():
        # Through the context, so that its socket options (the reconnect interval) apply; a plain
        # zmq.Socket, which ZMQStream needs, whatever the context's own socket class is.
        socket = connection.context.socket(kind, socket_class=zmq.Socket)
        socket.linger = 1000
        if kind == zmq.SUB:
            socket.setsockopt(zmq.SUBSCRIBE, b"")
        else:
            socket.identity = identity
        sockets[channel] = socket
    stdin_watch = HandshakeWatch(sockets["stdin"])

    def connect_the_others() -> None:
        for channel, socket in sockets.items():
            if channel != "shell" and not socket.closed:
                socket.connect(make_url(channel))

    shell_watch = HandshakeWatch(sockets["shell"], on_done=connect_the_others)
    sockets["shell"].connect(make_url("shell"))
    return StagedChannels({channel: ZMQStream(socket) for channel, socket in sockets.items()},
                          stdin_watch, shell_watch)
