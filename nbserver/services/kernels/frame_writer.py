"""Writing one websocket message from several buffers, without joining them first.

tornado's ``write_message`` takes one ``bytes`` payload, and its frame writer prepends the frame
header by concatenation: for a multi-MB kernel message that is two full copies (the caller's
join of the parts, then header + payload). Here the frame header and the parts go to the
connection's IOStream one after another. IOStream keeps a view of every piece over 2 KB and
sends it straight from the caller's buffer (for kernel output: the ZeroMQ frame it arrived in);
runs of small pieces are joined, so a small message is still one write.

Server frames are never masked (RFC 6455, 5.1). With permessage-deflate the payload has to be
compressed whole, so such a connection, and anything that is not tornado's RFC 6455 protocol,
goes through tornado's own ``write_message``. What this reads of tornado's protocol object
(``stream``, ``mask_outgoing``, ``_compressor``) is checked against tornado 6.6; should a later
tornado lack one of them, every message takes tornado's path.
"""

from __future__ import annotations

import struct
from asyncio import Future
from collections.abc import Sequence

from tornado.iostream import StreamClosedError
from tornado.websocket import WebSocketClosedError, WebSocketHandler, WebSocketProtocol13

Buffer = bytes | memoryview

#: Parts at least this long are written from their own buffer; shorter runs are joined (a copy
#: this small costs less than another write call).
SEPARATE_WRITE_MIN_BYTES = 64 * 1024
_FIN = 0x80
_OPCODE_TEXT = 0x1
_OPCODE_BINARY = 0x2


def frame_header(binary: bool, length: int) -> bytes:
    """The header of an unmasked, unfragmented, uncompressed data frame of ``length`` bytes."""
    first = _FIN | (_OPCODE_BINARY if binary else _OPCODE_TEXT)
    if length < 126:
        return struct.pack("!BB", first, length)
    if length <= 0xFFFF:
        return struct.pack("!BBH", first, 126, length)
    return struct.pack("!BBQ", first, 127, length)


def writes_directly(protocol: object) -> bool:
    """Whether the frame can bypass tornado: its RFC 6455 protocol, unmasked, no compression."""
    return (
        isinstance(protocol, WebSocketProtocol13)
        and getattr(protocol, "mask_outgoing", True) is False
        and getattr(protocol, "_compressor", "unknown") is None
        and getattr(protocol, "stream", None) is not None
    )


def write_message_parts(handler: WebSocketHandler, parts: Sequence[Buffer], binary: bool) -> Future[None]:
    """Send ``parts``, concatenated, as one websocket message of ``handler``'s connection.

    Raises WebSocketClosedError when the connection is closed; the returned future resolves
    when the message is written (with an exception, which nobody needs to retrieve, when the
    connection breaks first). The parts must stay unchanged until then: they are not copied.
    """
    protocol = handler.ws_connection
    if protocol is None or protocol.is_closing():
        raise WebSocketClosedError()
    if not writes_directly(protocol):
        return handler.write_message(b"".join(parts), binary=binary)
    assert isinstance(protocol, WebSocketProtocol13) and protocol.stream is not None
    length = sum(len(part) for part in parts)
    header = frame_header(binary, length)
    pieces: list[Buffer] = []
    small: list[Buffer] = [header]
    for part in parts:
        if len(part) >= SEPARATE_WRITE_MIN_BYTES:
            if small:
                pieces.append(b"".join(small))
                small = []
            pieces.append(part)
        elif part:
            small.append(part)
    if small:
        pieces.append(b"".join(small))
    try:
        future = None
        for piece in pieces:
            future = protocol.stream.write(piece)
    except StreamClosedError:
        raise WebSocketClosedError() from None
    assert future is not None
    return future
