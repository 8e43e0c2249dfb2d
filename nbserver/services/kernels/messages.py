"""One Jupyter kernel message on its way between a kernel's ZMQ sockets and websocket clients.

A message keeps its header, parent header, metadata and content as the JSON bytes they
arrived as, so the bridge forwards them without decoding and re-encoding the content;
only the headers, which routing needs, are parsed. A big content or buffer from the kernel
stays in the ZeroMQ frame it arrived in (a memoryview of it) all the way to the websocket.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from jupyter_client._version import protocol_version  # the package re-exports it without __all__

from nbserver.timestamps import utc_now_iso

CHANNELS = ("shell", "iopub", "stdin", "control")
#: The channels a client may send on; iopub only flows from the kernel.
CLIENT_CHANNELS = ("shell", "stdin", "control")
#: A set of channels a frame may name.
Channels = tuple[str, ...]
#: The username and session of the messages the server itself writes to clients.
SERVER_USERNAME = "nbserver"

#: A part of a message: bytes, or a read-only view of a buffer that nobody changes (a ZeroMQ
#: frame received with copy=False owns its memory, so a view of it stays valid while held).
Payload = bytes | memoryview


class InvalidMessage(ValueError):
    """A message from a client that cannot be forwarded to the kernel."""


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@dataclass
class KernelMessage:
    """A message with its JSON parts as bytes, its headers parsed, and its binary buffers."""

    channel: str
    header: dict[str, Any]
    parent_header: dict[str, Any]
    header_bytes: bytes
    parent_header_bytes: bytes
    metadata_bytes: bytes
    content_bytes: Payload
    buffers: list[Payload] = field(default_factory=list)

    @classmethod
    def from_parts(
        cls,
        channel: str,
        header: dict[str, Any],
        parent_header: dict[str, Any],
        metadata: dict[str, Any],
        content: dict[str, Any],
        buffers: list[Payload] | None = None,
    ) -> KernelMessage:
        """Build a message from parsed parts (encoding them once)."""
        return cls(
            channel=channel,
            header=header,
            parent_header=parent_header,
            header_bytes=_dumps(header),
            parent_header_bytes=_dumps(parent_header),
            metadata_bytes=_dumps(metadata),
            content_bytes=_dumps(content),
            buffers=list(buffers or []),
        )

    @property
    def msg_id(self) -> str:
        return str(self.header.get("msg_id", ""))

    @property
    def msg_type(self) -> str:
        return str(self.header.get("msg_type", ""))

    @property
    def parent_msg_id(self) -> str | None:
        value = self.parent_header.get("msg_id")
        return value if isinstance(value, str) else None

    def content(self) -> dict[str, Any]:
        """The parsed content (parsed on each call: only status messages need it)."""
        data = self.content_bytes
        value = json.loads(data if isinstance(data, bytes) else data.tobytes())
        return value if isinstance(value, dict) else {}

    @property
    def size(self) -> int:
        """Bytes of the message's parts: what buffer and rate limits count."""
        return (
            len(self.header_bytes) + len(self.parent_header_bytes) + len(self.metadata_bytes)
            + len(self.content_bytes) + sum(len(buffer) for buffer in self.buffers)
        )


def validate_client_message(
    channel: Any, header: Any, parent_header: Any, metadata: Any, content: Any,
    channels: Channels = CLIENT_CHANNELS,
) -> tuple[str, dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The parsed parts, checked: InvalidMessage unless they make a message on one of ``channels``
    (by default, one a kernel can take from a client)."""
    if channel not in channels:
        raise InvalidMessage(f"'channel' must be one of {', '.join(channels)}, not {channel!r}.")
    if not isinstance(header, dict):
        raise InvalidMessage("'header' must be a JSON object.")
    for key in ("msg_id", "msg_type"):
        if not isinstance(header.get(key), str) or not header[key]:
            raise InvalidMessage(f"The header needs a non-empty string {key!r}.")
    for name, value in (("parent_header", parent_header), ("metadata", metadata), ("content", content)):
        if not isinstance(value, dict):
            raise InvalidMessage(f"{name!r} must be a JSON object.")
    return channel, header, parent_header, metadata, content


def server_header(msg_type: str, session: str) -> dict[str, Any]:
    """The header of a message the server writes itself."""
    return {
        "msg_id": uuid.uuid4().hex,
        "msg_type": msg_type,
        "username": SERVER_USERNAME,
        "session": session,
        "date": utc_now_iso(),
        "version": protocol_version,
    }


def status_message(state: str, session: str) -> KernelMessage:
    """An iopub ``status`` message the server sends for a kernel (restarting, dead)."""
    return KernelMessage.from_parts(
        "iopub", server_header("status", session), {}, {}, {"execution_state": state}
    )


def stream_message(name: str, text: str, parent_header: dict[str, Any], session: str) -> KernelMessage:
    """An iopub ``stream`` message the server writes, parented to the request it belongs to."""
    return KernelMessage.from_parts(
        "iopub", server_header("stream", session), parent_header, {}, {"name": name, "text": text},
    )


def notice_message(text: str, parent_header: dict[str, Any], session: str) -> KernelMessage:
    """An iopub stderr ``stream`` message: how Jupyter tells a client the server dropped output.

    Parented to the request it concerns, so a notebook shows it under the right cell.
    """
    return stream_message("stderr", text if text.endswith("\n") else text + "\n", parent_header, session)


def with_content(message: KernelMessage, content: dict[str, Any]) -> KernelMessage:
    """``message`` with another content and no buffers (its header, parent and metadata kept)."""
    return replace(message, content_bytes=_dumps(content), buffers=[])
