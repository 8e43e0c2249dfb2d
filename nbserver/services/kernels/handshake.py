"""A DEALER socket to a kernel channel that tells when the kernel's side knows it.

The kernel sends an ``input_request`` to its stdin ROUTER socket, addressed to the identity of
the shell request that asked. A ROUTER drops, without a word, a message for a peer whose ZMTP
handshake has not finished, and the kernel then waits for an answer forever. So a kernel is not
ready for ``input()`` before the handshake of our stdin socket is done, and the shell reply to
kernel_info proves nothing about it: it is a different connection. ZeroMQ reports the handshake
to a socket monitor, which must watch the socket before it connects.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import zmq
from zmq.eventloop.zmqstream import ZMQStream
from zmq.utils.monitor import parse_monitor_message


class HandshakeWatch:
    """Sets ``done`` once ``socket`` has finished a handshake with its peer, then stops watching."""

    def __init__(self, socket: zmq.Socket[Any]) -> None:
        self.done = asyncio.Event()
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

    def close(self) -> None:
        if self._stream is None:
            return
        stream, self._stream = self._stream, None
        stream.on_recv(None)
        stream.close(linger=0)
        if not self._socket.closed:
            self._socket.disable_monitor()


def connect_watched(connection: Any, channel: str, identity: bytes) -> tuple[ZMQStream, HandshakeWatch] | None:
    """A DEALER on ``channel`` of the kernel behind ``connection`` (a jupyter_client kernel
    manager), watched from before it connects. None when this connection cannot be built here
    (CurveZMQ keys, or a manager without jupyter_client's URL helper): the caller then connects
    the usual way and goes without the watch."""
    make_url = getattr(connection, "_make_url", None)
    if make_url is None or getattr(connection, "curve_publickey", None) is not None:
        return None
    # Through the context, so that its socket options (the reconnect interval) apply; a plain
    # zmq.Socket, which ZMQStream needs, whatever the context's own socket class is.
    socket = connection.context.socket(zmq.DEALER, socket_class=zmq.Socket)
    socket.linger = 1000
    socket.identity = identity
    watch = HandshakeWatch(socket)
    socket.connect(make_url(channel))
    return ZMQStream(socket), watch
