"""One kernel's ZMQ sockets, shared by every websocket client of that kernel.

The bridge holds a DEALER socket for each of shell, control and stdin (one identity for
the three, so the kernel's input requests come back to the socket that asked) and a SUB
socket for iopub. It routes what the kernel sends: iopub to every connected client,
replies and input requests to the client session whose request they answer. While a
session is away its messages wait in a bounded buffer, replayed when it reconnects.
It also keeps the kernel's record (execution state, activity, connections) current.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import json
import logging
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Protocol

import zmq
from jupyter_client.session import DELIM, Session
from zmq.eventloop.zmqstream import ZMQStream

from nbserver.errors import NotFound
from nbserver.services.kernels.buffering import SessionBuffer
from nbserver.services.kernels.handshake import CHANNEL_SOCKET_TYPES, HandshakeWatch, StagedChannels, connect_staged
from nbserver.services.kernels.messages import (
    KernelMessage,
    Payload,
    notice_message,
    server_header,
    status_message,
)
from nbserver.services.kernels.ratelimit import OutputRateLimiter, OutputThrottle
from nbserver.services.kernels.state import ExecutionState, KernelRecord

#: iopub messages that carry state rather than output: never dropped by the rate limit.
UNLIMITED_IOPUB_TYPES = frozenset({"status", "execute_input", "comm_open", "comm_close", "error"})
#: How many disconnected sessions of one kernel keep a buffer; the longest-gone go first.
MAX_OFFLINE_SESSIONS = 64
#: How many requests remember which session sent them (for routing their replies).
MAX_TRACKED_REQUESTS = 10_000
#: Seconds between kernel_info requests while waiting for a kernel to answer at all...
NUDGE_INTERVAL = 0.5
#: ...and once it answers, while waiting for our iopub subscription to reach it.
FAST_NUDGE_INTERVAL = 0.05
#: Seconds a kernel that answers may still wait for the handshake of our stdin socket (see
#: handshake.py) before it is called ready anyway, with a warning.
STDIN_HANDSHAKE_GRACE = 5.0
WS_CLOSE_NORMAL = 1000
#: Message parts at least this long stay in the ZeroMQ frame they arrived in and travel on as a
#: view of it (to the websocket, a session's buffer, the rate limit); shorter ones are copied to
#: bytes, which is cheaper for them than a view and does not pin a frame.
ZERO_COPY_MIN_BYTES = 64 * 1024


def _payload(frame: zmq.Frame) -> Payload:
    """A frame's data: a view of the frame when it is big, else a copy as bytes.

    The view keeps the frame alive, and a frame received with copy=False owns its ZeroMQ
    message: nothing reuses that memory while the view is held (in a replay buffer, say).
    """
    if len(frame) >= ZERO_COPY_MIN_BYTES:
        return frame.buffer
    return frame.bytes


class KernelDied(Exception):
    """The kernel process exited while the bridge waited for it."""


class MessageSink(Protocol):
    """A client connection, as the bridge sees it (the websocket handler implements it)."""

    session_key: str
    #: Whether the session's messages are kept while it is away (it has a session_id).
    keep_buffer: bool

    def deliver(self, message: KernelMessage) -> bool:
        """Send a message; False when the connection is closing and cannot take it."""
        ...

    def close_connection(self, code: int, reason: str) -> None: ...


@dataclass(frozen=True)
class BridgeLimits:
    buffer_max_messages: int
    buffer_max_bytes: int
    iopub_msg_rate_limit: float
    iopub_data_rate_limit: float
    rate_limit_window: float


class KernelBridge:
    """Multiplexes one kernel's channels between its ZMQ sockets and many client sessions."""

    def __init__(
        self,
        record: KernelRecord,
        connection: Any,
        session: Session,
        limits: BridgeLimits,
        log: logging.Logger | logging.LoggerAdapter[Any],
    ) -> None:
        #: ``connection`` makes the sockets: a jupyter_client kernel manager (connect_shell...).
        self.record = record
        self._connection = connection
        self.session = session
        self.limits = limits
        self.log = log
        self._identity = uuid.uuid4().hex.encode("ascii")
        # The session the server's own messages (status, notices) are written as.
        self._server_session = uuid.uuid4().hex
        self._streams: dict[str, ZMQStream] = {}
        self._sinks: dict[str, MessageSink] = {}
        self._offline: OrderedDict[str, SessionBuffer] = OrderedDict()
        self._request_owner: OrderedDict[str, str] = OrderedDict()
        self._internal_requests: OrderedDict[str, None] = OrderedDict()
        #: The server's own requests awaiting their reply (``request_quietly``), by msg_id.
        self._quiet_replies: dict[str, asyncio.Future[KernelMessage]] = {}
        self._internal_reply = asyncio.Event()
        self._internal_idle = asyncio.Event()
        self._stdin_watch: HandshakeWatch | None = None
        self._staged: StagedChannels | None = None
        self._throttle = OutputThrottle(
            OutputRateLimiter(limits.iopub_msg_rate_limit, limits.iopub_data_rate_limit, limits.rate_limit_window),
            self._server_session,
        )
        self._flood_timer: asyncio.TimerHandle | None = None
        self.closed = False

    # -- sockets -------------------------------------------------------------------------

    def connect(self) -> None:
        """(Re)connect the sockets to the kernel's current ports and start reading them."""
        self.disconnect()
        self._reset_readiness()
        # Shell first, the others once the kernel listens (handshake.py: no storm of refused
        # connections while it starts).
        self._staged = connect_staged(self._connection, self._identity)
        if self._staged is not None:
            streams = self._staged.streams
            self._stdin_watch = self._staged.stdin_watch
        else:
            streams = {}
            for channel in CHANNEL_SOCKET_TYPES:
                options = {} if channel == "iopub" else {"identity": self._identity}
                socket = getattr(self._connection, f"connect_{channel}")(**options)
                # jupyter_client's IOLoop kernel managers hand out ZMQStreams already.
                streams[channel] = socket if isinstance(socket, ZMQStream) else ZMQStream(socket)
        for channel, stream in streams.items():
            # copy=False: a frame's memory is handed over, not copied into bytes (see _payload).
            stream.on_recv(functools.partial(self._on_recv, channel), copy=False)
            self._streams[channel] = stream

    def _reset_readiness(self) -> None:
        """Forget that the kernel answered: the next wait_ready waits for it again."""
        self._internal_reply.clear()
        self._internal_idle.clear()

    def disconnect(self) -> None:
        if self._staged is not None:
            self._staged.close()
            self._staged = None
        if self._stdin_watch is not None:
            self._stdin_watch.close()
            self._stdin_watch = None
        for stream in self._streams.values():
            stream.on_recv(None)
            stream.close(linger=0)
        self._streams = {}

    def close(self, reason: str) -> None:
        """Stop for good: close the sockets and every client connection, forget the buffers."""
        self.closed = True
        if self._flood_timer is not None:
            self._flood_timer.cancel()
            self._flood_timer = None
        self.disconnect()
        for sink in list(self._sinks.values()):
            sink.close_connection(WS_CLOSE_NORMAL, reason)
        self._sinks.clear()
        self._offline.clear()
        self.record.connections = 0
        for waiter in self._quiet_replies.values():
            if not waiter.done():
                waiter.set_exception(KernelDied(reason))
        self._quiet_replies.clear()

    def _on_recv(self, channel: str, frames: list[zmq.Frame]) -> None:
        try:
            message = self._parse(channel, frames)
        except (ValueError, IndexError) as exc:
            self.log.warning("Kernel %s: ignoring a malformed %s message: %s", self.record.id, channel, exc)
            return
        try:
            self._route(message)
        except Exception:
            self.log.exception("Kernel %s: routing a %s message failed", self.record.id, channel)

    def _parse(self, channel: str, frames: list[zmq.Frame]) -> KernelMessage:
        delimiter = next(
            (index for index, frame in enumerate(frames) if len(frame) == len(DELIM) and frame.bytes == DELIM), None
        )
        if delimiter is None:
            raise ValueError("no delimiter frame")
        parts = frames[delimiter + 1:]
        if len(parts) < 5:
            raise ValueError("too few message parts")
        signature, header_bytes, parent_bytes, metadata_bytes = (frame.bytes for frame in parts[:4])
        content = _payload(parts[4])
        buffers = [_payload(frame) for frame in parts[5:]]
        if self.session.auth is not None:
            expected = self.session.sign([header_bytes, parent_bytes, metadata_bytes, content])
            if not hmac.compare_digest(expected, signature):
                raise ValueError("invalid signature")
        header = json.loads(header_bytes)
        parent = json.loads(parent_bytes) or {}
        if not isinstance(header, dict) or not isinstance(parent, dict):
            raise ValueError("headers must be JSON objects")
        return KernelMessage(channel, header, parent, header_bytes, parent_bytes, metadata_bytes, content, buffers)

    # -- from the kernel -------------------------------------------------------------------

    def _route(self, message: KernelMessage) -> None:
        self.record.touch()
        internal = message.parent_msg_id in self._internal_requests
        if message.channel == "iopub":
            if message.msg_type == "status":
                state = ExecutionState.from_status(message.content().get("execution_state"))
                if internal:
                    # Our own kernel_info requests say nothing about the clients' work.
                    if state is ExecutionState.IDLE:
                        self._internal_idle.set()
                elif state is not None:
                    self.record.execution_state = state
                    if state is ExecutionState.IDLE:
                        self._end_flood()  # its notice and last lines go before the idle status
            if not internal:
                self._route_iopub(message)
        elif internal:
            waiter = self._quiet_replies.pop(message.parent_msg_id or "", None)
            if waiter is None:
                self._internal_reply.set()
            elif not waiter.done():
                waiter.set_result(message)
        else:
            owner = self._owner_of(message)
            if owner is None:
                self.log.debug("Kernel %s: no session for %s reply", self.record.id, message.msg_type)
            else:
                self._send_to_session(owner, message)

    def _route_iopub(self, message: KernelMessage) -> None:
        if message.msg_type in UNLIMITED_IOPUB_TYPES:
            self._publish(message)
            return
        flooding = self._throttle.flood is not None
        for outgoing in self._throttle.filter(message):
            self._publish(outgoing)
        if not flooding and self._throttle.flood is not None:
            self._watch_flood()

    def _publish(self, message: KernelMessage) -> None:
        """Send an iopub message to every connected client, and keep it for its session if away."""
        for sink in list(self._sinks.values()):
            self._deliver(sink, message)
        owner = self._owner_of(message)
        if owner is not None and owner not in self._sinks and owner in self._offline:
            self._offline[owner].append(message)

    def _end_flood(self) -> None:
        if self._flood_timer is not None:
            self._flood_timer.cancel()
            self._flood_timer = None
        for message in self._throttle.end_flood():
            self._publish(message)

    def _watch_flood(self, delay: float | None = None) -> None:
        """End the flood once no output has come for a window (a print, then a long sleep)."""
        window = self._throttle.limiter.window
        self._flood_timer = asyncio.get_running_loop().call_later(
            window if delay is None else delay, self._check_flood)

    def _check_flood(self) -> None:
        self._flood_timer = None
        flood = self._throttle.flood
        if flood is None or self.closed:
            return
        quiet = self._throttle.limiter.clock() - flood.last_drop
        window = self._throttle.limiter.window
        if quiet >= window:
            self._end_flood()
        else:
            self._watch_flood(window - quiet)

    def _owner_of(self, message: KernelMessage) -> str | None:
        parent_id = message.parent_msg_id
        if parent_id is not None and parent_id in self._request_owner:
            return self._request_owner[parent_id]
        session = message.parent_header.get("session")
        if isinstance(session, str) and (session in self._sinks or session in self._offline):
            return session
        return None

    def _send_to_session(self, key: str, message: KernelMessage) -> None:
        sink = self._sinks.get(key)
        if sink is not None and self._deliver(sink, message):
            return
        if key in self._offline:
            self._offline[key].append(message)

    def _deliver(self, sink: MessageSink, message: KernelMessage) -> bool:
        """Hand a message to a connection; one that is closing counts as gone from now on."""
        try:
            if sink.deliver(message):
                return True
        except Exception:
            self.log.exception("Kernel %s: delivering to session %s failed", self.record.id, sink.session_key)
        # The client has begun to close: whatever comes next for it waits in its buffer.
        self.detach(sink)
        return False

    def broadcast_status(self, state: ExecutionState) -> None:
        """Tell every client, present or buffered, the kernel's new state (restarting, dead)."""
        message = status_message(state.value, self._server_session)
        for sink in list(self._sinks.values()):
            self._deliver(sink, message)
        for buffer in self._offline.values():
            buffer.append(message)

    # -- clients ---------------------------------------------------------------------------

    def attach(self, sink: MessageSink) -> None:
        """Connect a client session; replay what was kept for it while it was away."""
        if self.closed:
            raise NotFound("The kernel is no longer running.")
        key = sink.session_key
        stale = self._sinks.get(key)
        if stale is not None and stale is not sink:
            self.log.info("Kernel %s: session %s reconnected; closing its older connection", self.record.id, key)
            stale.close_connection(WS_CLOSE_NORMAL, "Replaced by a newer connection of the same session")
        self._sinks[key] = sink
        self.record.connections = len(self._sinks)
        buffer = self._offline.pop(key, None)
        if buffer is None:
            return
        replay = buffer.drain()
        if replay.dropped:
            text = (
                f"{replay.dropped} messages for this session were dropped while it was disconnected "
                f"(the buffer keeps at most {self.limits.buffer_max_messages} messages and "
                f"{self.limits.buffer_max_bytes} bytes)."
            )
            self._deliver(sink, notice_message(text, replay.dropped_parent, self._server_session))
        self.log.debug("Kernel %s: replaying %d messages to session %s", self.record.id, len(replay.messages), key)
        for index, message in enumerate(replay.messages):
            if not self._deliver(sink, message):
                for unsent in replay.messages[index:]:
                    self._send_to_session(key, unsent)
                return

    def detach(self, sink: MessageSink) -> None:
        """Disconnect a client session; one with keep_buffer keeps its messages until it returns."""
        key = sink.session_key
        if self._sinks.get(key) is not sink:
            return  # already replaced by a newer connection of the same session
        del self._sinks[key]
        self.record.connections = len(self._sinks)
        if sink.keep_buffer and not self.closed:
            self._offline[key] = SessionBuffer(self.limits.buffer_max_messages, self.limits.buffer_max_bytes)
            while len(self._offline) > MAX_OFFLINE_SESSIONS:
                self._offline.popitem(last=False)

    def send(self, session_key: str, message: KernelMessage) -> None:
        """Forward a client's message to the kernel; NotFound once the kernel is gone."""
        if self.closed:
            raise NotFound("The kernel is no longer running.")
        self._transmit(message)
        self._request_owner[message.msg_id] = session_key
        self._request_owner.move_to_end(message.msg_id)
        while len(self._request_owner) > MAX_TRACKED_REQUESTS:
            self._request_owner.popitem(last=False)
        self.record.touch()

    def _transmit(self, message: KernelMessage) -> None:
        """Put a message on the kernel's channel: here a ZeroMQ socket, signed with the kernel's key.

        The one place a message leaves for the kernel; a bridge over another transport (a
        kernel gateway's websocket) overrides it, with connect and disconnect.
        """
        stream = self._streams.get(message.channel)
        if stream is None:
            raise NotFound("The kernel is no longer running.")
        parts = [message.header_bytes, message.parent_header_bytes, message.metadata_bytes, message.content_bytes]
        stream.send_multipart([DELIM, self.session.sign(parts), *parts, *message.buffers])

    # -- readiness -------------------------------------------------------------------------

    def _send_internal(self, msg_type: str) -> None:
        message = KernelMessage.from_parts("shell", server_header(msg_type, self._server_session), {}, {}, {})
        self._internal_requests[message.msg_id] = None
        while len(self._internal_requests) > MAX_TRACKED_REQUESTS:
            self._internal_requests.popitem(last=False)
        self._transmit(message)

    async def request_quietly(self, message: KernelMessage, timeout: float) -> KernelMessage:
        """Send the server's own request and return its reply; nothing the kernel sends about it
        (its busy and idle status, any output) reaches a client or changes the execution state.

        Raises TimeoutError after ``timeout`` s, KernelDied when the bridge closes first,
        NotFound when it is closed already.
        """
        if self.closed:
            raise NotFound("The kernel is no longer running.")
        waiter: asyncio.Future[KernelMessage] = asyncio.get_running_loop().create_future()
        self._quiet_replies[message.msg_id] = waiter
        self._internal_requests[message.msg_id] = None
        while len(self._internal_requests) > MAX_TRACKED_REQUESTS:
            self._internal_requests.popitem(last=False)
        try:
            self._transmit(message)
            return await asyncio.wait_for(waiter, timeout)
        except asyncio.TimeoutError:  # not yet the builtin TimeoutError on Python 3.10
            raise TimeoutError(f"no reply within {timeout:g} s") from None
        finally:
            self._quiet_replies.pop(message.msg_id, None)

    async def wait_ready(self, timeout: float, is_alive: Callable[[], Awaitable[bool]]) -> None:
        """Wait until the kernel answers a kernel_info request and its idle status reaches us.

        Raises KernelDied when the process exits first, TimeoutError after ``timeout`` s.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not (self._internal_reply.is_set() and self._internal_idle.is_set()):
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"the kernel did not answer within {timeout:g} s")
            if not await is_alive():
                raise KernelDied("the kernel process exited")
            # Requests wait in ZMQ's queue until the kernel listens, so while it starts one
            # every NUDGE_INTERVAL is enough. Once it replies, its status messages are lost only
            # until our iopub subscription reaches it: ask again quickly.
            self._send_internal("kernel_info_request")
            if self._internal_reply.is_set():
                waiting, interval = self._internal_idle.wait(), FAST_NUDGE_INTERVAL
            else:
                waiting, interval = self._internal_reply.wait(), NUDGE_INTERVAL
            try:
                await asyncio.wait_for(waiting, min(interval, remaining))
            except asyncio.TimeoutError:
                pass
        await self._wait_stdin_handshake(min(STDIN_HANDSHAKE_GRACE, max(0.0, deadline - loop.time())))
        if self.record.execution_state in (ExecutionState.STARTING, ExecutionState.RESTARTING):
            self.record.execution_state = ExecutionState.IDLE

    async def _wait_stdin_handshake(self, timeout: float) -> None:
        """Until the kernel's stdin socket knows ours, or ``timeout`` s (then go on, warned)."""
        watch = self._stdin_watch
        if watch is None or watch.done.is_set():
            return
        try:
            await asyncio.wait_for(watch.done.wait(), timeout)
        except asyncio.TimeoutError:
            self.log.warning("Kernel %s: the stdin channel did not finish connecting within %g s; "
                             "an input() may go unanswered", self.record.id, timeout)
