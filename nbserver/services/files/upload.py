"""Raw uploads (``POST /api/files/upload``): a request body streamed to disk, then put in place (design 3.5).

The bytes go, as they arrive, to a hidden staging file in the target folder
(``FileWriter.scratch_path``: a killed server's leftover is swept at start-up), written in a
thread in batches while the event loop reads on (:class:`UploadStream`; a ``Content-Length``
body spliced from the socket into the file by the kernel, or read straight into two buffers),
so an upload of any size holds at most two batches in memory, its SHA-256 is computed by
another thread beside the writes (from the buffers, or from the page cache just after a splice),
it is fsynced once, and it ends with a rename or link on the same
filesystem. The staging file becomes the target only when the whole body is there:
``fail`` links it to the free name (409 when taken), ``rename`` to the first free
``name (1).ext``, ``name (2).ext``... (Dropbox's autorename), ``overwrite`` replaces the file as
a contents save does (same id, same owner, mode and attributes). On any failure, a 413 or a
dropped connection, the staging file is removed: nothing is left behind.

A ``.ipynb`` is checked as a contents save checks a notebook: one that is not readable JSON is
refused (400, as a contents PUT refuses a notebook that is not an object); one that is JSON but
not valid nbformat is kept, and the answer's ``message`` says why, as a contents save answers.
Notebooks larger than ``FileServices.upload_check_notebook_mb`` are kept unchecked (parsing
one would take memory many times its size), with a ``message`` saying so.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import mmap
import os
import posixpath
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from tornado.iostream import IOStream, StreamClosedError

from nbserver.blocking import run_blocking
from nbserver.errors import Conflict, InvalidInput
from nbserver.services.contents.fileio import NAME_MAX, NEW_FILE_MODE, truncate_to_bytes
from nbserver.services.contents.notebooks import read_notebook
from nbserver.services.contents.validation import validate_notebook
from nbserver.services.files.splicing import SocketLease, SplicePipe, buffered_bytes
from nbserver.services.files.writeback import Writeback

if TYPE_CHECKING:
    from nbserver.services.contents.filemanager import FileContentsManager

#: What the staging file's writes and the hash take: tornado's chunks, or views of the body buffers.
Buffer = bytes | bytearray | memoryview

ON_CONFLICT = ("fail", "rename", "overwrite")
#: How many ``name (n).ext`` an ``on_conflict=rename`` upload tries before answering 409.
MAX_RENAMES = 1000
#: Bytes of body gathered before one hand-over to the writer thread; at most two such batches
#: (one being written, one waiting) are held in memory per upload.
WRITE_BATCH_BYTES = 2 * 1024 * 1024
#: Bytes of a Content-Length body read into each of the two buffers of :meth:`UploadStream.read_body`.
READ_BUFFER_BYTES = 4 * 1024 * 1024
#: Bytes of staging file after which its writeback to the disk is started (:class:`Writeback`).
WRITEBACK_BYTES = 32 * 1024 * 1024
#: Bytes of written staging file after which the disk's cache is flushed in the background (:class:`Writeback`).
FLUSH_BYTES = 128 * 1024 * 1024
#: Bytes of a spliced body moved per worker-thread call at most (:meth:`UploadStream.splice_body`).
SPLICE_BATCH_BYTES = 8 * 1024 * 1024
#: Pages of a mapped window read in at once (Linux); 0 elsewhere.
MAP_POPULATE = getattr(mmap, "MAP_POPULATE", 0)
#: Buffers per ``os.writev`` call (POSIX guarantees IOV_MAX >= 16; Linux has 1024).
WRITEV_BUFFERS = 512


def check_notebook(raw: bytes) -> str | None:
    """A save's notebook check of an uploaded ``.ipynb`` (file-services.md section 3.5): the
    message it is kept with (a parse note, a validation message) or None; InvalidInput (400,
    ``unreadable_notebook``) when the bytes do not parse as a notebook."""
    try:
        nb, note = read_notebook(raw)
    except InvalidInput as exc:
        raise InvalidInput(exc.message, code="unreadable_notebook") from None
    return " ".join(filter(None, (note, validate_notebook(nb).message))) or None


def renamed(name: str, number: int) -> str:
    """``a (1).ipynb``, ``a (2).ipynb``... (folders and files without an extension: ``a (1)``).

    The stem is shortened, on a character boundary, as far as the numbered name needs to fit
    NAME_MAX (255 bytes of UTF-8), without a dot or space left at its end; an extension too long
    to keep beside a stem is cut with it."""
    stem, ext = posixpath.splitext(name)
    suffix = f" ({number}){ext}"
    room = NAME_MAX - len(os.fsencode(suffix))
    if room < 1:
        stem, suffix = name, f" ({number})"
        room = NAME_MAX - len(os.fsencode(suffix))
    cut = truncate_to_bytes(stem, room)
    if cut != stem:
        cut = cut.rstrip(". ") or cut  # "x.tar" cut to "x." would read "x. (1).gz"
    return cut + suffix


class StagedUpload:
    """One upload's staging file. ``write`` and ``commit`` block (run them in a thread);
    ``abort`` may be called from any thread at any time, also while a write runs, and never waits for it."""

    #: Whether the body may be spliced into the staging file (:meth:`splice_from`, :meth:`hash_stored`):
    #: only an upload staged in a local file; one that stores its bytes elsewhere says False.
    spliceable = True

    def __init__(self, manager: FileContentsManager, folder: str, name: str, on_conflict: str,
                 check_notebook_bytes: int, writeback_bytes: int = WRITEBACK_BYTES,
                 flush_bytes: int = FLUSH_BYTES) -> None:
        if on_conflict not in ON_CONFLICT:
            raise ValueError(on_conflict)
        self.manager = manager
        self.folder = folder
        self.name = name
        self.on_conflict = on_conflict
        self.check_notebook_bytes = check_notebook_bytes
        self.writeback_bytes = writeback_bytes
        self.flush_bytes = flush_bytes
        self.size = 0
        self.staging: str | None = None
        self._fd: int | None = None
        self._writeback: Writeback | None = None
        self._aborted = False
        self._lock = threading.Lock()  # held by open, write and commit while they use the file
        self._digest = hashlib.sha256()  # computed as the bytes are written: the file is not read again

    @property
    def path(self) -> str:
        return posixpath.join(self.folder, self.name)

    def open(self) -> None:
        """Make the staging file in the target folder (which must exist: NotFound otherwise)."""
        target = self.manager.writable_os_path(self.path)
        staging = self.manager.file_writer.scratch_path(target, "upload")
        with self._holding():
            self._fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            self.staging = staging
            self._writeback = Writeback(self._fd, self.writeback_bytes, staging, self.flush_bytes)

    def write(self, chunks: Sequence[Buffer]) -> None:
        """Append ``chunks`` (in order) to the staging file. Blocking; the GIL is released while writing."""
        with self._holding():
            if self._fd is None:
                return  # aborted meanwhile
            for start in range(0, len(chunks), WRITEV_BUFFERS):
                group = chunks[start:start + WRITEV_BUFFERS]
                write_all(self._fd, group)
                self.size += sum(len(chunk) for chunk in group)
            if self._writeback is not None:
                self._writeback.written(self.size)  # the disk starts on it while the rest arrives

    def splice_from(self, pipe: SplicePipe, source: int, limit: int) -> int:
        """Move up to ``limit`` bytes from socket ``source`` through ``pipe`` to the end of the staging
        file (``SplicePipe.pump``: the bytes taken, 0 when the socket has none now; EOFError
        when the client is gone, OSError when the file cannot take them). After an abort the
        bytes are dropped. Blocking; the GIL is released while the kernel moves the bytes."""
        with self._holding():
            if self._fd is None:
                return pipe.discard(source, limit)
            before = pipe.delivered
            try:
                taken = pipe.pump(source, self._fd, limit)
            finally:
                self.size += pipe.delivered - before
            if self._writeback is not None:
                self._writeback.written(self.size)
            return taken

    def open_reader(self) -> int | None:
        """A read-only descriptor of the staging file, for :meth:`hash_stored` (the caller closes it);
        None after an abort."""
        with self._holding():
            if self.staging is None:
                return None
            return os.open(self.staging, os.O_RDONLY | os.O_CLOEXEC)

    def hash_stored(self, reader: int, start: int, end: int, buffer: memoryview) -> None:
        """Add bytes ``[start, end)`` of the staging file, through ``reader``, to the running SHA-256:
        the hash of exactly what was stored. Each window of ``len(buffer)`` bytes is mapped
        (``mmap``: the page cache's own pages, no copy); where mapping fails it is read into
        ``buffer``. Blocking; runs beside the next :meth:`splice_from` (both release the GIL)."""
        while start < end:
            window = min(len(buffer), end - start)
            aligned = start - start % mmap.ALLOCATIONGRANULARITY
            try:
                with mmap.mmap(reader, start + window - aligned, flags=mmap.MAP_SHARED | MAP_POPULATE,
                               prot=mmap.PROT_READ, offset=aligned) as mapped, memoryview(mapped) as view:
                    self._digest.update(view[start - aligned:])
                count = window
            except (OSError, ValueError):  # a file system that cannot map it: read it
                count = os.preadv(reader, [buffer[:window]], start)
                if count <= 0:
                    raise OSError(errno.EIO, "the staging file is shorter than what was stored in it") from None
                self._digest.update(buffer[:count])
            start += count

    def hash(self, chunks: Sequence[Buffer]) -> None:
        """Add ``chunks`` (in order) to the running SHA-256. Blocking; hashlib releases the GIL, so this
        runs on another core at the same time as the :meth:`write` of the same chunks."""
        for chunk in chunks:
            self._digest.update(chunk)

    def abort(self) -> None:
        """Close and remove the staging file (idempotent). It returns at once, also while a write
        in another thread holds the file (waiting for the disk, say: the event loop calls this
        when a client goes away); that write removes the file as it ends."""
        self._aborted = True
        self._remove_if_aborted()

    @contextlib.contextmanager
    def _holding(self) -> Iterator[None]:
        with self._lock:
            yield
        self._remove_if_aborted()  # an abort that came meanwhile and found the file in use

    def _remove_if_aborted(self) -> None:
        if not self._aborted or not self._lock.acquire(blocking=False):
            return  # not aborted, or the holder removes it when it lets go (``_holding``)
        try:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            if self.staging is not None:
                try:
                    os.unlink(self.staging)
                except FileNotFoundError:
                    pass
                self.staging = None
        finally:
            self._lock.release()

    def commit(self) -> tuple[dict[str, Any], bool]:
        """Check a notebook, then put the staged file in place: (saved model, created).

        InvalidInput for an unreadable notebook; Conflict ``name_conflict`` (with
        ``conflict_path``) when ``fail`` meets a taken name. The staging file is gone afterwards,
        whatever the outcome.
        """
        try:
            with self._holding():
                assert self._fd is not None and self.staging is not None, "commit after abort"
                if self._writeback is not None:
                    self._writeback.finish()  # a write error the hints saw fails the upload
                # The final mode now, inside this fsync: placing a new file then changes nothing
                # and its own fsync has no metadata left to commit (FileContentsManager._commit_upload).
                os.fchmod(self._fd, NEW_FILE_MODE)
                os.fsync(self._fd)
                os.close(self._fd)
                self._fd = None
            if self.on_conflict == "fail" and os.path.lexists(self.manager.os_path(self.path)):
                raise Conflict(f"Something is already at {self.path}.", code="name_conflict",
                               conflict_path=self.path)  # said before a notebook is parsed for nothing
            message = self._check_notebook() if self.name.endswith(".ipynb") else None
            model, created = self._place(self._digest.hexdigest())
            if message:
                model["message"] = message
            return model, created
        finally:
            self.abort()

    def _check_notebook(self) -> str | None:
        assert self.staging is not None
        if self.size > self.check_notebook_bytes:
            limit = self.check_notebook_bytes / (1024 * 1024)
            return f"Not checked as a notebook: it is larger than {limit:g} MB."
        with open(self.staging, "rb") as handle:
            return check_notebook(handle.read())

    def _place(self, digest: str) -> tuple[dict[str, Any], bool]:
        assert self.staging is not None
        if self.on_conflict != "rename":
            try:
                return self.manager.place_staged_file(self.staging, self.path, replace=self.on_conflict == "overwrite",
                                                      digest=digest)
            except Conflict:
                raise Conflict(f"Something is already at {self.path}.", code="name_conflict",
                               conflict_path=self.path) from None
        for number in range(MAX_RENAMES + 1):
            name = renamed(self.name, number) if number else self.name
            try:
                self.manager.writable_os_path(posixpath.join(self.folder, name))
                return self.manager.place_staged_file(self.staging, posixpath.join(self.folder, name), replace=False,
                                                      digest=digest)
            except Conflict:
                continue
            except InvalidInput:
                break  # the numbered name no longer fits NAME_MAX
        raise Conflict(f"No free name for {self.name} here.", code="name_conflict", conflict_path=self.path)


def write_all(fd: int, chunks: Sequence[Buffer]) -> None:
    """Write ``chunks`` in order at ``fd``'s position: one ``writev``, finished by ``write`` after a short one."""
    done = os.writev(fd, chunks)
    for chunk in chunks:
        if done >= len(chunk):
            done -= len(chunk)
            continue
        view = memoryview(chunk).cast("B")[done:]
        done = 0
        while view:
            view = view[os.write(fd, view):]


class UploadStream:
    """Hands a request body to a :class:`StagedUpload`'s writes in a thread, in batches, with back-pressure.

    Three ways in. A body of known length (``Content-Length``) on a plain TCP connection is moved
    by the kernel, socket to pipe to file, by :meth:`splice_body` (``splicing.py``); elsewhere
    (TLS, no ``os.splice``, ``upload_splice`` off) it is read by :meth:`read_body`
    straight from the connection into two preallocated buffers of ``read_buffer_bytes``: the socket's
    bytes land in one buffer (``recv_into``) while the other is written and hashed, and are never
    copied in Python. Any other body (chunked transfer-encoding) comes through :meth:`feed`,
    which gathers tornado's chunks; each full batch goes to a thread while the event loop reads
    on, and a batch that fills while the previous one is still being written makes ``feed``
    return an awaitable that ends when that write ends (tornado's ``stream_request_body`` stops
    reading the socket until then). Either way at most two batches (each at most one chunk past
    ``batch_bytes`` through ``feed``) are held in memory whatever the body's size, and a slow
    disk slows the client down. ``buffered`` / ``peak_buffered`` count those bytes.

    Each batch is written (``writev``) and hashed (SHA-256) by two threads at once: both calls release the GIL, so hashing overlaps the write instead of following it.
    """

    def __init__(self, upload: StagedUpload, batch_bytes: int = WRITE_BATCH_BYTES,
                 read_buffer_bytes: int = READ_BUFFER_BYTES) -> None:
        self.upload = upload
        self.batch_bytes = batch_bytes
        self.read_buffer_bytes = read_buffer_bytes
        self.buffered = 0
        self.peak_buffered = 0
        self.error: OSError | None = None
        self._batch: list[Buffer] = []
        self._batch_size = 0
        self._writing: asyncio.Future[None] | None = None

    def feed(self, chunk: bytes) -> asyncio.Future[None] | None:
        """Take the next body chunk; an awaitable when the reader must wait for the disk."""
        if self.error is not None:
            return None
        self._hold(chunk)
        if self._batch_size < self.batch_bytes:
            return None
        return asyncio.ensure_future(self._hand_over())

    async def read_body(self, source: IOStream, length: int) -> None:
        """Read exactly ``length`` body bytes from ``source`` and write them (ends when all are read).

        The bytes go from the socket into two buffers of ``read_buffer_bytes`` taking turns: one
        fills while the other is written and hashed. Never reads past ``length`` (a kept-alive connection's
        next request stays in ``source``). After a write error the rest of the body is still read,
        into the same buffer, and dropped, so that the error can be answered.
        StreamClosedError when the client goes away.
        """
        if length <= 0:
            return  # an empty file: nothing to read (and no buffer to make)
        size = min(self.read_buffer_bytes, length)
        buffers = [memoryview(bytearray(size)) for _ in range(2 if length > size else 1)]
        turn = 0
        while length > 0:
            buffer = buffers[turn][:min(length, size)]
            filled = 0
            while filled < len(buffer):
                filled += await source.read_into(buffer[filled:], partial=True)  # type: ignore[arg-type]
            length -= len(buffer)
            if self.error is None:
                self._hold(buffer)
                await self._hand_over()
                turn = (turn + 1) % len(buffers)
            await asyncio.sleep(0)  # as tornado's own body reader does: other requests get a turn

    async def splice_body(self, source: IOStream, length: int) -> None:
        """:meth:`read_body` with the kernel moving the bytes: socket, pipe, staging file (``splicing.py``).

        What tornado has already read from the socket (the body's first bytes may have come with
        the headers) goes through :meth:`read_body`; the rest, exactly ``length`` bytes in all, is
        spliced in a worker thread, batch after batch, while another thread hashes the batch
        before from the page cache. The socket is taken from tornado meanwhile and given back
        idle (keep-alive). After a write error the rest of the body is spliced to ``/dev/null``.
        StreamClosedError (the stream closed) when the client goes away. An upload that is not
        ``spliceable`` (no staging file) is read into buffers instead.
        """
        if not self.upload.spliceable:
            await self.read_body(source, length)
            return
        held = min(buffered_bytes(source), length)
        await self.read_body(source, held)  # from tornado's buffer: no socket read
        await self._wait_for_write()
        length -= held
        if length <= 0:
            return
        upload, pipe = self.upload, SplicePipe()
        reader: int | None = None
        hashing: asyncio.Future[None] | None = None
        hashed = upload.size
        buffer = memoryview(bytearray(min(self.read_buffer_bytes, length)))
        gone = False
        try:
            async with SocketLease(source) as lease:
                reader = await run_blocking(upload.open_reader)
                while pipe.taken < length:
                    if source.closed():  # by tornado meanwhile (a body timeout, shutdown): stop reading its socket
                        raise StreamClosedError()
                    before = pipe.taken
                    try:
                        await run_blocking(upload.splice_from, pipe, lease.fd, min(length - pipe.taken, SPLICE_BATCH_BYTES))
                    except EOFError:
                        gone = True
                        break
                    except OSError as exc:  # a full disk: remembered, answered once the body is read
                        self.error = exc
                        upload.abort()
                    if reader is not None and self.error is None and upload.size > hashed:
                        if hashing is not None:
                            await hashing  # in order, one range at a time
                        hashing = asyncio.ensure_future(run_blocking(upload.hash_stored, reader, hashed, upload.size,
                                                                     buffer))
                        hashed = upload.size
                    if pipe.taken == before:
                        await lease.readable()
        finally:
            try:
                if hashing is not None:
                    await hashing
            except OSError as exc:  # reading the staging file back failed: the upload cannot be vouched for
                self.error = self.error or exc
                upload.abort()
            finally:
                if reader is not None:
                    os.close(reader)
                pipe.close()
        if gone:
            source.close()
            raise StreamClosedError()

    def abort(self) -> None:
        """Drop the gathered chunks and remove the staging file (a 413, a dropped connection)."""
        self.buffered -= self._batch_size
        self._batch, self._batch_size = [], 0
        self.upload.abort()

    async def finish(self) -> None:
        """Write what is left and wait for every write; the first write's OSError is raised."""
        await self._hand_over()
        await self._wait_for_write()
        if self.error is not None:
            raise self.error

    def _hold(self, chunk: Buffer) -> None:
        self._batch.append(chunk)
        self._batch_size += len(chunk)
        self.buffered += len(chunk)
        self.peak_buffered = max(self.peak_buffered, self.buffered)

    async def _hand_over(self) -> None:
        batch, size = self._batch, self._batch_size
        self._batch, self._batch_size = [], 0
        await self._wait_for_write()  # back-pressure: one write at a time
        if self.error is None and batch:
            self._writing = asyncio.ensure_future(self._write(batch, size))
        else:
            self.buffered -= size

    async def _wait_for_write(self) -> None:
        if self._writing is not None:
            await self._writing
            self._writing = None

    async def _write(self, batch: list[Buffer], size: int) -> None:
        # Both threads are waited for, also when one fails: the batch's buffer is reused afterwards.
        outcomes = await asyncio.gather(run_blocking(self.upload.write, batch), run_blocking(self.upload.hash, batch),
                                        return_exceptions=True)
        self.buffered -= size
        for outcome in outcomes:
            if isinstance(outcome, OSError):  # a full disk: remembered, answered once the body is read
                self.error = outcome
                self.upload.abort()
            elif isinstance(outcome, BaseException):
                raise outcome
