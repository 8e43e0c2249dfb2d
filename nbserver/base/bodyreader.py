"""A request's ``Content-Length`` body read another way than tornado's own (HTTP/1, tornado 6).

tornado reads a body of known length in ``HTTP1Connection._read_fixed_body`` once ``prepare`` has
run: 64 KB at a time, each piece copied out of the stream's buffer into a new ``bytes`` before
``data_received`` sees it (and a handler that wants the whole body then joins them: a third copy).
A handler can give its request's connection object (tornado makes one per request on a kept-alive
socket) another reader for that body. tornado keeps the framing around it: the ``Content-Length``
check, ``100-continue``, the body timeout, and keep-alive after exactly that many bytes.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from tornado.http1connection import HTTP1Connection
from tornado.iostream import IOStream

from nbserver.base.numbers import ascii_whole_number

#: The private ``HTTP1Connection`` method that reads a ``Content-Length`` body (tornado 6; setup.py
#: pins tornado below 7). When a tornado lacks it, bodies are read tornado's way.
TORNADO_FIXED_BODY_READER = "_read_fixed_body"

#: Reads ``length`` body bytes from the stream; ``delegate`` is tornado's message delegate.
FixedBodyReader = Callable[[IOStream, int, Any], Awaitable[None]]


def declared_length(headers: Any) -> int | None:
    """The message's ``Content-Length`` (a request's, or a fetched answer's) when it is one ASCII
    number, else None (absent, or something tornado itself refuses when it reads the body: 400
    for a request, an error for a fetch; ``str.isdigit`` would accept a ``²`` that ``int`` then
    refuses). RFC 9110 section 8.6: ``Content-Length = 1*DIGIT``."""
    return ascii_whole_number(headers.get("Content-Length"))


def replace_fixed_body_reader(handler: Any, reader: FixedBodyReader, max_length: int) -> Callable[[], None] | None:
    """Have ``reader`` read this request's ``Content-Length`` body; returns the undo.

    None (tornado's reader stays) for a chunked or encoded body, a length past ``max_length``, a
    connection that is not HTTP/1, or a tornado without that reader.
    """
    connection = handler.request.connection
    headers = handler.request.headers
    length = declared_length(headers)
    if (not isinstance(connection, HTTP1Connection) or length is None
            or "Transfer-Encoding" in headers or "Content-Encoding" in headers
            or length > max_length
            or not callable(getattr(connection, TORNADO_FIXED_BODY_READER, None))):
        return None

    async def read_fixed_body(content_length: int, delegate: Any) -> None:
        await reader(connection.stream, content_length, delegate)

    setattr(connection, TORNADO_FIXED_BODY_READER, read_fixed_body)  # this connection object only

    def undo() -> None:
        vars(connection).pop(TORNADO_FIXED_BODY_READER, None)  # tornado's own reader again (should the object be reused)
    return undo


async def _read_whole(stream: IOStream, length: int, delegate: Any) -> None:
    buffer = bytearray(length)
    view = memoryview(buffer)
    filled = 0
    while filled < length:
        filled += await stream.read_into(view[filled:], partial=True)  # type: ignore[arg-type]
    del view  # a bytearray with a view open cannot be resized by whoever keeps it
    result = delegate.data_received(buffer)
    if result is not None:
        await result


def read_body_whole(handler: Any, min_length: int, max_length: int) -> Callable[[], None] | None:
    """Have this request's body, when its ``Content-Length`` is from ``min_length`` to
    ``max_length``, read from the socket straight into one ``bytearray`` of that length (what
    tornado holds already first) and given to ``data_received`` at once; returns the undo, or
    None when tornado reads it (shorter, longer, chunked, encoded). One copy instead of three, and
    a few reads instead of one event-loop turn per 64 KB. The buffer is the body's size from the
    start: ``max_length`` bounds what a client can make the server hold before sending it.
    """
    length = declared_length(handler.request.headers)
    if length is None or length < min_length:
        return None
    return replace_fixed_body_reader(handler, _read_whole, max_length)
