"""GatewayBridge: the channels bridge of a kernel that runs on a kernel gateway.

The routing, the offline buffers, the replay and the rate limits of KernelBridge stay as they
are for the clients; only the transport differs: one websocket to the gateway's
``/api/kernels/<id>/channels`` instead of ZeroMQ sockets. It speaks
``v1.kernel.websocket.jupyter.org`` when the gateway accepts it (binary buffers travel as they
are), else the legacy framing (JSON text frames; a message with buffers as a binary frame).

When the gateway connection drops, the bridge reconnects with backoff (GatewayClient's retry
settings) under the same upstream session id, so a gateway that buffers a disconnected
session's output (Jupyter Server and Enterprise Gateway do) replays it. Client messages sent
meanwhile wait in order and go out once the connection is back. A message written in the very
instant the connection dies may be lost: the protocol has no acknowledgement, and sending it
again could run a cell twice. After gateway_retry_max failed attempts in a row the kernel
counts as lost (``on_lost``).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import deque
from enum import Enum
from typing import Any, Callable

from jupyter_client.session import Session
from tornado.httpclient import HTTPClientError
from tornado.websocket import WebSocketClientConnection, WebSocketClosedError, websocket_connect

from nbserver.errors import NotFound
from nbserver.services.kernels.bridge import BridgeLimits, KernelBridge
from nbserver.services.kernels.framing import V1_SUBPROTOCOL, WireProtocol, decode_frame, encode_frame
from nbserver.services.kernels.gateway.client import GatewayClient, quote_segment
from nbserver.services.kernels.messages import CHANNELS, InvalidMessage, KernelMessage
from nbserver.services.kernels.state import KernelRecord

#: Largest message taken from the gateway, in bytes (tornado's default, 10 MiB, is too small
#: for a notebook's output).
UPSTREAM_MAX_MESSAGE_BYTES = 1024 * 1024 * 1024
#: Seconds between pings on the gateway connection: they reveal a connection that died silently.
UPSTREAM_PING_INTERVAL = 15.0


class UpstreamState(str, Enum):
    """Where the gateway connection of a bridge stands."""

    CONNECTING = "connecting"
    OPEN = "open"
    LOST = "lost"  # gave up reconnecting: the kernel is gone or unreachable
    CLOSED = "closed"  # closed on purpose (shutdown)


class GatewayBridge(KernelBridge):
    """Relays one remote kernel's channels between its gateway websocket and many client sessions."""

    def __init__(
        self,
        record: KernelRecord,
        client: GatewayClient,
        limits: BridgeLimits,
        log: logging.Logger | logging.LoggerAdapter[Any],
        on_lost: Callable[[str], None],
    ) -> None:
        # The gateway signs what it puts on the kernel's sockets; this session signs nothing (a
        # random key only keeps jupyter_client from warning about a session without one).
        super().__init__(record, None, Session(key=uuid.uuid4().hex.encode("ascii")), limits, log)
        self._client = client
        self._on_lost = on_lost
        #: The session id this server uses upstream, the same across reconnections.
        self.upstream_session = uuid.uuid4().hex
        self.upstream_protocol = WireProtocol.LEGACY
        self.state = UpstreamState.CONNECTING
        #: How many times an open gateway connection closed and was opened again.
        self.reconnections = 0
        self._upstream: WebSocketClientConnection | None = None
        self._pending: deque[KernelMessage] = deque()
        self._runner: asyncio.Task[None] | None = None
        self._reconnect_now = False

    # -- the transport ---------------------------------------------------------------------

    def connect(self) -> None:
        """Open the gateway connection, or open it again at once (after a restart)."""
        if self.closed:
            return
        self._reset_readiness()
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run())
        elif self._upstream is not None:
            self._reconnect_now = True
            self._upstream.close()

    def disconnect(self) -> None:
        if self._runner is not None:
            self._runner.cancel()
            self._runner = None
        if self._upstream is not None:
            self._upstream.close()
            self._upstream = None

    def close(self, reason: str) -> None:
        if self.state is not UpstreamState.LOST:
            self.state = UpstreamState.CLOSED
        self._pending.clear()
        super().close(reason)

    def _transmit(self, message: KernelMessage) -> None:
        if self.state in (UpstreamState.LOST, UpstreamState.CLOSED):
            raise NotFound("The kernel is no longer running.")
        if self._upstream is None or self._pending:
            self._queue(message)
            return
        try:
            self._write(self._upstream, message)
        except WebSocketClosedError:
            self._queue(message)

    def _queue(self, message: KernelMessage) -> None:
        self._pending.append(message)
        while len(self._pending) > self.limits.buffer_max_messages:
            dropped = self._pending.popleft()
            self.log.warning("Kernel %s: gateway unreachable; dropped queued %s", self.record.id, dropped.msg_type)

    def _write(self, connection: WebSocketClientConnection, message: KernelMessage) -> None:
        payload, binary = encode_frame(self.upstream_protocol, message)
        future = connection.write_message(payload, binary=binary)
        # A write that fails because the connection died is followed by a reconnection.
        future.add_done_callback(lambda done: done.exception())

    def _flush(self, connection: WebSocketClientConnection) -> None:
        while self._pending:
            try:
                self._write(connection, self._pending[0])
            except WebSocketClosedError:
                return
            self._pending.popleft()

    async def _open(self) -> WebSocketClientConnection:
        path = (f"{self._client.kernels_endpoint}/{quote_segment(self.record.id)}/channels"
                f"?session_id={self.upstream_session}")
        return await websocket_connect(
            self._client.websocket_request(path), subprotocols=[V1_SUBPROTOCOL],
            ping_interval=UPSTREAM_PING_INTERVAL, max_message_size=UPSTREAM_MAX_MESSAGE_BYTES,
        )

    async def _run(self) -> None:
        """Connect, read until the connection drops, reconnect with backoff; give up after
        gateway_retry_max failures in a row (or at once when the gateway no longer has the kernel)."""
        failures = 0
        while not self.closed:
            self.state = UpstreamState.CONNECTING
            try:
                connection = await self._open()
            except HTTPClientError as exc:
                if exc.code == 404:
                    self._give_up("the gateway no longer has the kernel")
                    return
                failures += 1
                problem = f"HTTP {exc.code}"
            except (OSError, asyncio.TimeoutError, WebSocketClosedError) as exc:
                failures += 1
                problem = str(exc) or type(exc).__name__
            else:
                failures = 0
                await self._serve(connection)
                if self.closed:
                    return
                if self._reconnect_now:
                    self._reconnect_now = False
                    continue
                problem = "the connection closed"
            if failures > self._client.gateway_retry_max:
                self._give_up(f"{failures} attempts to reconnect failed ({problem})")
                return
            delay = self._client.backoff(max(0, failures - 1))
            self.log.warning("Kernel %s: gateway connection: %s; reconnecting in %.1f s",
                             self.record.id, problem, delay)
            await asyncio.sleep(delay)

    async def _serve(self, connection: WebSocketClientConnection) -> None:
        """Use an open connection until it closes: send what waited, route what comes."""
        self.upstream_protocol = (
            WireProtocol.V1 if connection.selected_subprotocol == V1_SUBPROTOCOL else WireProtocol.LEGACY
        )
        if self.closed:
            connection.close()
            return
        self.log.debug("Kernel %s: gateway connection open (%s)", self.record.id, self.upstream_protocol.value)
        self._upstream = connection
        self.state = UpstreamState.OPEN
        self._flush(connection)
        try:
            while True:
                data = await connection.read_message()
                if data is None:
                    break
                self._on_frame(data)
        finally:
            connection.close()  # also when the gateway closed it: tornado lets go of it only then
            if self._upstream is connection:
                self._upstream = None
            if not self.closed:
                self.reconnections += 1

    def _on_frame(self, data: str | bytes) -> None:
        try:
            message = decode_frame(self.upstream_protocol, data, CHANNELS)
        except InvalidMessage as exc:
            self.log.warning("Kernel %s: ignoring a malformed message from the gateway: %s", self.record.id, exc)
            return
        try:
            self._route(message)
        except Exception:
            self.log.exception("Kernel %s: routing a %s message failed", self.record.id, message.channel)

    def _give_up(self, why: str) -> None:
        self.log.error("Kernel %s: lost its gateway connection: %s", self.record.id, why)
        self.state = UpstreamState.LOST
        self._pending.clear()
        self._on_lost(self.record.id)
