"""A request body moved from the socket into a file by the kernel (``splice(2)``), never entering user space.

Linux moves socket data into a pipe by reference (``splice`` from a TCP socket) and from the pipe
into a file (one copy, into the page cache), so an upload's bytes are not copied into Python
buffers and out again. :class:`SplicePipe` does the moving, in a worker thread, without waiting
on the socket (it is non-blocking: an empty socket ends a call). :class:`SocketLease` takes the
socket away from its tornado ``IOStream`` for that time, so that tornado reads nothing of it
(the stream's own handler would read whatever arrives into its buffer), waits for readability on
the event loop, and gives the socket back, idle, for a kept-alive connection's next request.

Only for a plain TCP ``IOStream`` on a system with ``os.splice`` (Linux, Python >= 3.10): TLS
streams (``SSLIOStream``: the kernel sees ciphertext) and other platforms keep reading into
buffers. :func:`can_splice` says which.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
from types import TracebackType

from tornado.ioloop import IOLoop
from tornado.iostream import IOStream, StreamClosedError

#: Bytes a pipe holds (``F_SETPIPE_SZ``; Linux's default limit for unprivileged users is 1 MiB).
PIPE_BYTES = 1024 * 1024
#: Seconds between checks, while waiting for a body's next bytes, that tornado has not closed the stream.
CLOSED_CHECK_SECONDS = 1.0
#: ``fcntl`` command to size a pipe (linux/fcntl.h), in Python's fcntl module since 3.10.
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)


def can_splice(stream: object) -> bool:
    """Whether ``stream``'s body can be spliced: a plain TCP IOStream (not TLS), idle, on a system with splice."""
    return (hasattr(os, "splice") and type(stream) is IOStream and not stream.closed()
            and not stream.writing() and not stream.reading()
            and isinstance(getattr(stream, "_read_buffer_size", None), int)
            and hasattr(stream, "_state"))


def buffered_bytes(stream: IOStream) -> int:
    """Bytes tornado has already read from the socket and not handed out (the body's first part, maybe)."""
    return int(stream._read_buffer_size)


class SplicePipe:
    """A pipe that moves bytes from a non-blocking socket into a file descriptor (blocking calls: run in a thread).

    ``taken`` counts the bytes taken from the socket, ``delivered`` those that reached a
    destination, ``pending`` those in between, still in the pipe (after a destination's error
    they go to the next call's destination).
    """

    def __init__(self) -> None:
        self.read_end, self.write_end = os.pipe2(os.O_CLOEXEC)
        try:
            fcntl.fcntl(self.write_end, F_SETPIPE_SZ, PIPE_BYTES)
        except OSError:
            pass  # a smaller pipe (over the system's limit): more calls, same bytes
        self.size = fcntl.fcntl(self.write_end, getattr(fcntl, "F_GETPIPE_SZ", 1032))
        self.taken = 0
        self.delivered = 0
        self.pending = 0
        self._devnull: int | None = None

    def pump(self, source: int, destination: int, limit: int) -> int:
        """Move up to ``limit`` bytes from socket ``source`` to ``destination``; the bytes taken from the socket.

        Returns early (maybe 0) when the socket has nothing more now. EOFError when the peer
        closed or reset the connection; OSError of the destination (``ENOSPC``...) with what was taken
        left in ``pending``; OSError of the socket (``ECONNRESET``...).
        """
        self._flush(destination)
        taken = 0
        while taken < limit:
            try:
                count = os.splice(source, self.write_end, min(self.size, limit - taken),
                                  flags=os.SPLICE_F_MOVE | os.SPLICE_F_NONBLOCK)
            except BlockingIOError:
                break
            except OSError as exc:  # ECONNRESET...: the client is gone, as with an orderly close
                raise EOFError(f"the connection failed: {exc.strerror}") from exc
            if count == 0:
                raise EOFError("the client closed the connection")
            taken += count
            self.taken += count
            self.pending += count
            self._flush(destination)
        return taken

    def discard(self, source: int, limit: int) -> int:
        """:meth:`pump` into ``/dev/null``: the rest of a body that can no longer be stored."""
        if self._devnull is None:
            self._devnull = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
        return self.pump(source, self._devnull, limit)

    def _flush(self, destination: int) -> None:
        while self.pending:
            count = os.splice(self.read_end, destination, self.pending, flags=os.SPLICE_F_MOVE)
            self.pending -= count
            self.delivered += count

    def close(self) -> None:
        for fd in (self.read_end, self.write_end, self._devnull):
            if fd is not None:
                os.close(fd)


class SocketLease:
    """An ``IOStream``'s socket, taken from tornado while a body is spliced (``async with``).

    Inside, tornado's handler for the socket is off (its ``_state`` None: during a body read
    tornado has no close callback on the stream, so nothing registers it again), so tornado reads
    nothing and its ``close`` leaves the loop alone; :attr:`fd` is a duplicate of the socket that
    stays valid even if tornado closes the stream meanwhile (a body timeout, server shutdown), so
    a worker thread never splices from a reused descriptor number. :meth:`readable` waits on the
    event loop. On leaving, the duplicate is closed and the stream is idle: tornado registers its
    handler again at its next read.
    """

    def __init__(self, stream: IOStream) -> None:
        self.stream = stream
        self.fd = -1
        self._io_loop = IOLoop.current()

    async def __aenter__(self) -> SocketLease:
        stream = self.stream
        if stream._state is not None:
            self._io_loop.remove_handler(stream.fileno())
            stream._state = None
        self.fd = os.dup(stream.socket.fileno())
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        os.close(self.fd)
        self.fd = -1

    async def readable(self) -> None:
        """Wait until the socket has bytes (or the peer closed it); StreamClosedError once tornado
        has closed the stream (checked every ``CLOSED_CHECK_SECONDS`` while waiting)."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def ready(fd: int, events: int) -> None:
            if not waiter.done():
                waiter.set_result(None)

        self._io_loop.add_handler(self.fd, ready, IOLoop.READ)
        try:
            while not self.stream.closed() and not waiter.done():
                await asyncio.wait([waiter], timeout=CLOSED_CHECK_SECONDS)
        finally:
            self._io_loop.remove_handler(self.fd)
            waiter.cancel()
        if self.stream.closed():
            raise StreamClosedError()
