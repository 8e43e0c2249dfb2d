"""A notebook process (:mod:`.notebookprocesses`): ``python -m nbserver.services.contents.notebookworker
PARENT_PID KEEP_BYTES [REQUESTS_FILE REPLIES_FILE]``, and the framing both sides speak over its pipes.

The worker imports the notebook modules and passes one small save through them (their
first-use self-checks), then writes :data:`READY` and answers one job at a time until its
requests pipe closes: a job is a message ``(function, args)``, its answer ``(DONE, result)`` or
``(FAILED, exception)``. In between, a job may put questions to the server (:func:`ask`: the
worker sends ``(ASKING, question)``, the server answers ``(True, answer)`` or ``(False,
exception)``), for what only the server may know, such as whether a digest is in its notebook
signature database. A message is its frame count and their lengths, then its pickle, then the
large buffers in it (:func:`out_of_band`: a job's arguments and its result are wrapped so when
they are large buffers themselves, anything else by its sender), each read straight into one
buffer of its length, with no copy into or out of the pickle. With a shared file for each
direction (``REQUESTS_FILE`` and ``REPLIES_FILE``: descriptors of memory files the server made,
:class:`SharedFiles`), the large buffers are written into it instead of the pipe and read back
with one ``pread`` each: one copy each way with the GIL released, and no pipe to wake its reader
for every megabyte. For a 3 MB body a round trip costs a fraction of what ``multiprocessing``'s
connections cost here (docs/performance.md, sections 20 and 25). The worker is a plain ``python
-m`` command rather than a ``multiprocessing`` child, so the server's own main module (a console
script, or a user's launch script without a ``__main__`` guard) is never imported, let alone run,
in it.

Only the server that started it writes to it: the pickles it reads are that server's own.
"""

from __future__ import annotations

import gc
import os
import pickle
import signal
import struct
import sys
from typing import Any, NamedTuple

#: The byte a worker writes once it can take jobs.
READY = b"R"
#: A message's head: how many frames, then each one's length.
COUNT = struct.Struct("!I")
LENGTH = struct.Struct("!Q")
#: Bytes-like values from this size cross as frames of their own (:func:`out_of_band`).
OUT_OF_BAND_BYTES = 64 * 1024
#: The kinds of a worker's messages: a job's result, a job's exception, a job's question.
DONE, FAILED, ASKING = "done", "failed", "asking"

#: A shared file keeps its pages for the next message up to this size (bytes); after a larger
#: message its reader empties it, so an idle worker holds at most this much in each.
SHARED_KEEP_BYTES = 8 * 1024 * 1024


class SharedFiles(NamedTuple):
    """The descriptors of the two memory files a worker's large buffers cross in (see the module):
    ``requests`` written by the server and read by the worker, ``replies`` the other way."""

    requests: int
    replies: int


def shared_ends(shared: SharedFiles | None) -> tuple[int | None, int | None]:
    """(requests, replies) descriptors of ``shared``, or (None, None): the large buffers then cross
    in the pipes (the ``shared`` argument of :func:`write_message` and :func:`read_message`)."""
    return (shared.requests, shared.replies) if shared is not None else (None, None)


#: The channel while :func:`serve` runs (for :func:`ask`): the requests and replies pipes'
#: descriptors, then the shared files' (None without them).
_channel: tuple[int, int, int | None, int | None] | None = None


def read_exactly(fd: int, size: int) -> bytearray:
    """``size`` bytes from ``fd`` into one new buffer; EOFError when it ends first."""
    buffer = bytearray(size)
    view = memoryview(buffer)
    got = 0
    while got < size:
        count = os.readv(fd, [view[got:]])
        if count == 0:
            raise EOFError("the pipe closed")
        got += count
    return buffer


def write_all(fd: int, *pieces: bytes | bytearray | memoryview) -> None:
    """Write every piece to the blocking ``fd``, in as few calls as the pipe allows."""
    views = [memoryview(piece) for piece in pieces if piece]
    while views:
        written = os.writev(fd, views)
        while views and written >= len(views[0]):
            written -= len(views[0])
            views.pop(0)
        if views and written:
            views[0] = views[0][written:]


def write_message(fd: int, value: Any, shared: int | None = None) -> None:
    """Send ``value``: its pickle (protocol 5) on the pipe ``fd``, and each
    :class:`pickle.PickleBuffer` in it as a frame of its own, written from where it lies (no copy
    into the pickle): into the ``shared`` file one after the other from its start when there is
    one, else on the pipe after the pickle. Pickled, and its frames written to the shared file,
    before the first byte goes on the pipe, so a value that cannot be pickled or a shared file that
    cannot take it (OSError: out of memory) leaves the pipe as it was."""
    buffers: list[pickle.PickleBuffer] = []
    data = pickle.dumps(value, protocol=5, buffer_callback=buffers.append)
    frames = [memoryview(data), *(buffer.raw() for buffer in buffers)]
    head = COUNT.pack(len(frames)) + b"".join(LENGTH.pack(frame.nbytes) for frame in frames)
    if shared is None:
        write_all(fd, head, *frames)
        return
    offset = 0
    for frame in frames[1:]:
        pwrite_all(shared, frame, offset)
        offset += frame.nbytes
    write_all(fd, head, frames[0])


def read_message(fd: int, shared: int | None = None) -> Any:
    """The next value sent with :func:`write_message` with the same ``shared`` file or none (each
    out-of-band frame read into a buffer of its own: a bytearray from the pipe, bytes from the
    shared file, which is then emptied if the frames came to more than :data:`SHARED_KEEP_BYTES`);
    EOFError when the pipe closed."""
    (count,) = COUNT.unpack(read_exactly(fd, COUNT.size))
    sizes = [size for (size,) in LENGTH.iter_unpack(read_exactly(fd, LENGTH.size * count))]
    data = read_exactly(fd, sizes[0])
    frames: list[bytes | bytearray]
    if shared is None:
        frames = [read_exactly(fd, size) for size in sizes[1:]]
    else:
        frames, offset = [], 0
        for size in sizes[1:]:
            frames.append(pread_exactly(shared, size, offset))
            offset += size
        if offset > SHARED_KEEP_BYTES:
            os.ftruncate(shared, 0)
    return pickle.loads(data, buffers=frames)


def pwrite_all(fd: int, piece: memoryview, offset: int) -> None:
    """Write all of ``piece`` into the file ``fd`` from ``offset`` (the file grows as needed)."""
    written = 0
    while written < piece.nbytes:
        written += os.pwrite(fd, piece[written:], offset + written)


def pread_exactly(fd: int, size: int, offset: int) -> bytes:
    """``size`` bytes of the file ``fd`` from ``offset`` (one ``pread`` straight into the bytes it
    returns); EOFError when the file is shorter."""
    data = os.pread(fd, size, offset)
    while len(data) < size:  # a read cut short (a signal): the rest, joined
        more = os.pread(fd, size - len(data), offset + len(data))
        if not more:
            raise EOFError("the shared file is shorter than its message")
        data += more
    return data


def out_of_band(value: Any) -> Any:
    """``value`` wrapped to cross as a frame of its own when it is a large bytes-like object (from
    :data:`OUT_OF_BAND_BYTES`): it arrives as the buffer its frame was read into (a bytearray from a
    pipe, bytes from a shared file), whether bytes or a bytearray was sent. Anything else as it is."""
    if isinstance(value, (bytes, bytearray)) and len(value) >= OUT_OF_BAND_BYTES:
        return _OutOfBand(value)
    return value


class _OutOfBand:
    """A large buffer on its way: pickled as a :class:`pickle.PickleBuffer` (a frame of its own)."""

    def __init__(self, value: bytes | bytearray) -> None:
        self.value = value

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        return _arrived, (pickle.PickleBuffer(self.value),)


def _arrived(frame: Any) -> Any:
    """A frame's buffer as the receiver gets it: the bytes or bytearray it was read into (pickle
    hands a buffer that was read-only when sent, bytes, over as a read-only view of it, which
    json's parser for one refuses)."""
    if isinstance(frame, memoryview) and isinstance(frame.obj, (bytes, bytearray)):
        return frame.obj
    return frame


def ask(question: Any) -> Any:
    """The server's answer to ``question``, from a job running in a notebook process (the server
    answers with the ``answer`` function it gave with the job, see ``Worker.call``). Raises what
    that function raised; RuntimeError outside a notebook process; EOFError when the server went."""
    if _channel is None:
        raise RuntimeError("ask() is for jobs in a notebook process")
    requests, replies, to_worker, to_server = _channel
    write_message(replies, (ASKING, question), to_server)
    ok, value = read_message(requests, to_worker)
    if not ok:
        raise value
    return value


def serve(requests: int, replies: int, shared: SharedFiles | None = None) -> None:
    """Answer jobs from ``requests`` on ``replies`` until ``requests`` closes (their large buffers
    in the ``shared`` files when given)."""
    global _channel
    to_worker, to_server = shared_ends(shared)
    _channel = (requests, replies, to_worker, to_server)
    while True:
        try:
            function, args = read_message(requests, to_worker)
        except EOFError:
            return
        try:
            answer: tuple[str, Any] = (DONE, out_of_band(function(*args)))
        except EOFError:  # the server went while the job asked it something
            return
        except Exception as exc:  # the job's own error, raised again in the server
            answer = (FAILED, exc)
        try:
            write_message(replies, answer, to_server)
        except Exception as exc:  # an answer that cannot be pickled, or that the shared file cannot hold
            write_message(replies, (FAILED, RuntimeError(f"the notebook process could not send its answer: {exc!r}")))


def main(argv: list[str]) -> None:
    """Die with the server, leave Ctrl+C to it, keep freed buffers as it does, warm up, serve."""
    from nbserver.allocator import keep_freed_memory
    from nbserver.libc import die_with_parent
    from nbserver.services.contents import notebookread, savebody

    parent, keep_bytes = int(argv[0]), int(argv[1])
    shared = SharedFiles(int(argv[2]), int(argv[3])) if len(argv) > 3 else None
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(parent)
    keep_freed_memory(keep_bytes)
    # The pipes get descriptors of their own; a stray print in a job goes to stderr, not into them.
    requests, replies = os.dup(0), os.dup(1)
    os.dup2(2, 1)
    savebody.warm_up()
    notebookread.warm_up()
    gc.collect()
    gc.freeze()  # the modules' objects stay out of the collector's walks (as the server's own)
    write_all(replies, READY)
    serve(requests, replies, shared)


if __name__ == "__main__":
    # Run as the package's module, not as __main__: jobs import it by its name (ask() must see
    # the channel that serve() sets), and their pickles name its functions so.
    from nbserver.services.contents import notebookworker

    notebookworker.main(sys.argv[1:])
