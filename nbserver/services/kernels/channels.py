"""The websocket end of the kernel channels bridge, and the one place of its wire framing.

Each connection speaks one of two framings, chosen at the handshake:

* legacy (no subprotocol): a message is a JSON text frame with its ``channel``; a message
  with binary buffers is a binary frame: a big-endian uint32 count ``n`` of parts (the
  JSON, then each buffer), ``n`` big-endian uint32 offsets of those parts, then the parts.
* ``v1.kernel.websocket.jupyter.org``: every message is a binary frame: a little-endian
  uint64 count of offsets, the uint64 offsets, then channel, header, parent_header,
  metadata, content and the buffers; the last offset is the frame's length.
"""

from __future__ import annotations

import json
import logging
import struct
import uuid
from enum import Enum
from typing import Any

from tornado.websocket import WebSocketClosedError, WebSocketHandler

from nbserver.base.handlers import BaseHandler, JSONErrorsMixin
from nbserver.errors import NotFound
from nbserver.jsonio import JSONRefused, parse_client_json
from nbserver.services.kernels.bridge import KernelBridge
from nbserver.services.kernels.frame_writer import write_message_parts
from nbserver.services.kernels.manager import MappingKernelManager
from nbserver.services.kernels.messages import (
    SERVER_USERNAME,
    InvalidMessage,
    KernelMessage,
    Payload,
    notice_message,
    validate_client_message,
)

log = logging.getLogger("nbserver")

V1_SUBPROTOCOL = "v1.kernel.websocket.jupyter.org"
# Offsets before the parts of a v1 frame: channel, header, parent_header, metadata, content, end.
V1_MIN_OFFSETS = 6
#: Seconds between pings when the app sets no ``websocket_ping_interval``: they keep proxies from
#: closing quiet connections and reveal dead ones, whose session then starts buffering.
DEFAULT_PING_INTERVAL = 30.0


class WireProtocol(Enum):
    LEGACY = "legacy"
    V1 = V1_SUBPROTOCOL


# -- framing -------------------------------------------------------------------------------


def _json_text(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8")


def legacy_parts(message: KernelMessage) -> tuple[list[Payload], bool]:
    """A message in the legacy framing, as parts to concatenate, and whether it is a binary frame.

    The content and the buffers are passed as they are, so big ones are never copied here.
    """
    body: list[Payload] = [
        b'{"channel":', _json_text(message.channel),
        b',"header":', message.header_bytes,
        b',"msg_id":', _json_text(message.msg_id),
        b',"msg_type":', _json_text(message.msg_type),
        b',"parent_header":', message.parent_header_bytes,
        b',"metadata":', message.metadata_bytes,
        b',"content":', message.content_bytes,
        b"}" if message.buffers else b',"buffers":[]}',
    ]
    if not message.buffers:
        return body, False
    count = 1 + len(message.buffers)
    position = 4 * (count + 1)
    offsets = [position]
    position += sum(len(part) for part in body)
    for buffer in message.buffers:
        offsets.append(position)
        position += len(buffer)
    return [struct.pack(f"!{count + 1}I", count, *offsets), *body, *message.buffers], True


def v1_parts(message: KernelMessage) -> list[Payload]:
    """A message in the ``v1.kernel.websocket.jupyter.org`` framing, as parts to concatenate."""
    parts: list[Payload] = [
        message.channel.encode("utf-8"), message.header_bytes, message.parent_header_bytes,
        message.metadata_bytes, message.content_bytes, *message.buffers,
    ]
    count = len(parts) + 1
    position = 8 * (count + 1)
    offsets = [position]
    for part in parts:
        position += len(part)
        offsets.append(position)
    return [struct.pack(f"<{count + 1}Q", count, *offsets), *parts]


def _loads(data: bytes | str, what: str) -> Any:
    try:
        return parse_client_json(data)
    except JSONRefused as exc:
        raise InvalidMessage(f"The {what} is not valid JSON: {exc}.") from None


def _message_from_object(value: Any, buffers: list[Payload]) -> KernelMessage:
    if not isinstance(value, dict):
        raise InvalidMessage("A message must be a JSON object.")
    channel = value.get("channel")
    header = value.get("header")
    parent = value.get("parent_header") or {}
    metadata = value.get("metadata") or {}
    content = value.get("content", {})
    return KernelMessage.from_parts(*validate_client_message(channel, header, parent, metadata, content), buffers)


def _checked_bounds(offsets: tuple[int, ...], start: int, length: int) -> list[int]:
    bounds = list(offsets)
    if bounds[0] < start or any(b > a for a, b in zip(bounds[1:], bounds)) or bounds[-1] > length:
        raise InvalidMessage("The frame's offsets do not fit the frame.")
    return bounds


def _buffer_views(data: bytes, bounds: list[int]) -> list[Payload]:
    """The binary buffers between consecutive ``bounds``, as views: a big upload is not copied."""
    view = memoryview(data)
    return [view[bounds[i]:bounds[i + 1]] for i in range(len(bounds) - 1)]


def decode_legacy_binary(data: bytes) -> KernelMessage:
    if len(data) < 8:
        raise InvalidMessage("The binary frame is too short.")
    (count,) = struct.unpack_from("!I", data, 0)
    start = 4 * (count + 1)
    if count < 1 or start > len(data):
        raise InvalidMessage("The binary frame's part count does not fit the frame.")
    bounds = _checked_bounds(struct.unpack_from(f"!{count}I", data, 4), start, len(data)) + [len(data)]
    return _message_from_object(_loads(data[bounds[0]:bounds[1]], "message"), _buffer_views(data, bounds[1:]))


def decode_v1(data: bytes) -> KernelMessage:
    if len(data) < 8:
        raise InvalidMessage("The binary frame is too short.")
    (count,) = struct.unpack_from("<Q", data, 0)
    start = 8 * (count + 1)
    if count < V1_MIN_OFFSETS or start > len(data):
        raise InvalidMessage("The frame's offset count does not fit the frame.")
    bounds = _checked_bounds(struct.unpack_from(f"<{count}Q", data, 8), start, len(data))
    parts = [data[bounds[i]:bounds[i + 1]] for i in range(5)]
    try:
        channel = parts[0].decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidMessage("The channel is not UTF-8 text.") from None
    header = _loads(parts[1], "header")
    parent = _loads(parts[2], "parent_header") or {}
    metadata = _loads(parts[3], "metadata") or {}
    content = _loads(parts[4], "content")
    validate_client_message(channel, header, parent, metadata, content)
    return KernelMessage(
        channel, header, parent, parts[1], parts[2] if parent else b"{}", parts[3] if metadata else b"{}",
        parts[4], _buffer_views(data, bounds[5:]),
    )


def decode_frame(protocol: WireProtocol, data: str | bytes) -> KernelMessage:
    """A client's frame as a message; InvalidMessage when it is not one."""
    if isinstance(data, str):
        return _message_from_object(_loads(data, "message"), [])
    if protocol is WireProtocol.V1:
        return decode_v1(data)
    return decode_legacy_binary(data)


def frame_parts(protocol: WireProtocol, message: KernelMessage) -> tuple[list[Payload], bool]:
    """A message as (parts of its payload, binary) for a client speaking ``protocol``."""
    if protocol is WireProtocol.V1:
        return v1_parts(message), True
    return legacy_parts(message)


def encode_frame(protocol: WireProtocol, message: KernelMessage) -> tuple[bytes, bool]:
    """A message as (payload, binary) for a client speaking ``protocol``."""
    parts, binary = frame_parts(protocol, message)
    return b"".join(parts), binary


# -- the websocket handler -------------------------------------------------------------------


class KernelChannelsHandler(JSONErrorsMixin, WebSocketHandler, BaseHandler):
    """``/api/kernels/<id>/channels``: one client connection to a kernel's bridge."""

    auth_resource = "kernels"
    auth_actions = {"GET": "execute"}  # the websocket upgrade; the pipeline runs before it
    bridge: KernelBridge | None = None
    protocol = WireProtocol.LEGACY
    session_key = ""
    keep_buffer = False

    @property
    def kernel_manager(self) -> MappingKernelManager:
        return self.settings["kernel_manager"]  # type: ignore[no-any-return]

    async def get(self, *args: Any, **kwargs: Any) -> None:
        kernel_id = kwargs["kernel_id"]
        if not self.kernel_manager.has_kernel(kernel_id):
            raise NotFound(f"No such kernel: {kernel_id}")
        session_id = self.get_query_argument("session_id", default="") or ""
        # Without a session_id a client cannot come back for its messages: nothing is kept.
        self.keep_buffer = bool(session_id) and self.kernel_manager.buffer_offline_messages
        self.session_key = session_id or uuid.uuid4().hex
        await super().get(*args, **kwargs)

    @property
    def ping_interval(self) -> float | None:
        return self.settings.get("websocket_ping_interval", DEFAULT_PING_INTERVAL)  # type: ignore[no-any-return]

    def get_compression_options(self) -> dict[str, Any] | None:
        # permessage-deflate, when the application's settings ask for it (jupyter_server's
        # setting name); off by default, as compressing multi-MB output costs more than it saves
        # on the loopback and LAN links a notebook server mostly serves.
        options: dict[str, Any] | None = self.settings.get("websocket_compression_options")
        return options

    def check_origin(self, origin: str) -> bool:
        return self.origin_allowed(origin)

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        return V1_SUBPROTOCOL if V1_SUBPROTOCOL in subprotocols else None

    def open(self, *args: Any, **kwargs: Any) -> None:
        self.set_nodelay(True)
        if self.selected_subprotocol == V1_SUBPROTOCOL:
            self.protocol = WireProtocol.V1
        try:
            self.bridge = self.kernel_manager.channels_bridge(kwargs["kernel_id"])
            self.bridge.attach(self)
        except NotFound as exc:
            self.bridge = None
            self.close(1000, exc.message)

    async def on_message(self, message: str | bytes) -> None:
        try:
            kernel_message = decode_frame(self.protocol, message)
        except InvalidMessage as exc:
            log.warning("Kernel channels: refused a message from session %s: %s", self.session_key, exc)
            self.deliver(notice_message(f"nbserver refused a message: {exc}", {}, SERVER_USERNAME))
            return
        if self.bridge is None:
            return
        try:
            self.bridge.send(self.session_key, kernel_message)
        except NotFound as exc:
            self.close(1000, exc.message)

    def on_close(self) -> None:
        if self.bridge is not None:
            self.bridge.detach(self)

    # -- MessageSink ---------------------------------------------------------------------

    def deliver(self, message: KernelMessage) -> bool:
        if self.ws_connection is None or self.ws_connection.is_closing():
            return False
        parts, binary = frame_parts(self.protocol, message)
        try:
            future = write_message_parts(self, parts, binary)
        except WebSocketClosedError:
            return False
        # A write that fails because the client went away needs no report.
        future.add_done_callback(lambda done: done.exception())
        return True

    def close_connection(self, code: int, reason: str) -> None:
        self.close(code, reason)
