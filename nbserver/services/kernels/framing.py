"""The two wire framings of kernel messages on a websocket, in one place.

A connection speaks one of two framings, chosen at the handshake:

* legacy (no subprotocol): a message is a JSON text frame with its ``channel``; a message
  with binary buffers is a binary frame: a big-endian uint32 count ``n`` of parts (the
  JSON, then each buffer), ``n`` big-endian uint32 offsets of those parts, then the parts.
* ``v1.kernel.websocket.jupyter.org``: every message is a binary frame: a little-endian
  uint64 count of offsets, the uint64 offsets, then channel, header, parent_header,
  metadata, content and the buffers; the last offset is the frame's length.

Clients speak them to nbserver (channels.py), and nbserver speaks them to a kernel gateway
(gateway/relay.py).
"""

from __future__ import annotations

import json
import struct
from enum import Enum
from typing import Any

from nbserver.jsonio import JSONRefused, parse_client_json
from nbserver.services.kernels.messages import (
    CLIENT_CHANNELS,
    Channels,
    InvalidMessage,
    KernelMessage,
    Payload,
    validate_client_message,
)

V1_SUBPROTOCOL = "v1.kernel.websocket.jupyter.org"
# Offsets before the parts of a v1 frame: channel, header, parent_header, metadata, content, end.
V1_MIN_OFFSETS = 6


class WireProtocol(Enum):
    LEGACY = "legacy"
    V1 = V1_SUBPROTOCOL


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


def _message_from_object(value: Any, buffers: list[Payload], channels: Channels) -> KernelMessage:
    if not isinstance(value, dict):
        raise InvalidMessage("A message must be a JSON object.")
    channel = value.get("channel")
    header = value.get("header")
    parent = value.get("parent_header") or {}
    metadata = value.get("metadata") or {}
    content = value.get("content", {})
    return KernelMessage.from_parts(
        *validate_client_message(channel, header, parent, metadata, content, channels), buffers)


def _checked_bounds(offsets: tuple[int, ...], start: int, length: int) -> list[int]:
    bounds = list(offsets)
    if bounds[0] < start or any(b > a for a, b in zip(bounds[1:], bounds)) or bounds[-1] > length:
        raise InvalidMessage("The frame's offsets do not fit the frame.")
    return bounds


def _buffer_views(data: bytes, bounds: list[int]) -> list[Payload]:
    """The binary buffers between consecutive ``bounds``, as views: a big upload is not copied."""
    view = memoryview(data)
    return [view[bounds[i]:bounds[i + 1]] for i in range(len(bounds) - 1)]


def decode_legacy_binary(data: bytes, channels: Channels = CLIENT_CHANNELS) -> KernelMessage:
    if len(data) < 8:
        raise InvalidMessage("The binary frame is too short.")
    (count,) = struct.unpack_from("!I", data, 0)
    start = 4 * (count + 1)
    if count < 1 or start > len(data):
        raise InvalidMessage("The binary frame's part count does not fit the frame.")
    bounds = _checked_bounds(struct.unpack_from(f"!{count}I", data, 4), start, len(data)) + [len(data)]
    return _message_from_object(
        _loads(data[bounds[0]:bounds[1]], "message"), _buffer_views(data, bounds[1:]), channels)


def decode_v1(data: bytes, channels: Channels = CLIENT_CHANNELS) -> KernelMessage:
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
    validate_client_message(channel, header, parent, metadata, content, channels)
    return KernelMessage(
        channel, header, parent, parts[1], parts[2] if parent else b"{}", parts[3] if metadata else b"{}",
        parts[4], _buffer_views(data, bounds[5:]),
    )


def decode_frame(protocol: WireProtocol, data: str | bytes, channels: Channels = CLIENT_CHANNELS) -> KernelMessage:
    """A frame as a message; InvalidMessage when it is not one on one of ``channels`` (by default
    those a client may send on; a kernel gateway's frames come on every channel)."""
    if isinstance(data, str):
        return _message_from_object(_loads(data, "message"), [], channels)
    if protocol is WireProtocol.V1:
        return decode_v1(data, channels)
    return decode_legacy_binary(data, channels)


def frame_parts(protocol: WireProtocol, message: KernelMessage) -> tuple[list[Payload], bool]:
    """A message as (parts of its payload, binary) for a client speaking ``protocol``."""
    if protocol is WireProtocol.V1:
        return v1_parts(message), True
    return legacy_parts(message)


def encode_frame(protocol: WireProtocol, message: KernelMessage) -> tuple[bytes, bool]:
    """A message as (payload, binary) for a client speaking ``protocol``."""
    parts, binary = frame_parts(protocol, message)
    return b"".join(parts), binary
