"""Raw uploads (``POST /api/files/upload``): a request body streamed to disk, then put in place (design 3.5).

The bytes go, as they arrive, to a hidden staging file in the target folder
(``FileWriter.scratch_path``: a killed server's leftover is swept at start-up), written in a
thread in batches while the event loop reads on (:class:`UploadStream`), so an upload of any
size holds at most two batches in memory, its SHA-256 is computed as it is written (the file is
never read again for it), it is fsynced once, and it ends with a rename or link on the same
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
import hashlib
import os
import posixpath
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from nbserver.blocking import run_blocking
from nbserver.errors import Conflict, InvalidInput
from nbserver.services.contents.notebooks import read_notebook
from nbserver.services.contents.validation import validate_notebook

if TYPE_CHECKING:
    from nbserver.services.contents.filemanager import FileContentsManager

ON_CONFLICT = ("fail", "rename", "overwrite")
#: How many ``name (n).ext`` an ``on_conflict=rename`` upload tries before answering 409.
MAX_RENAMES = 1000
#: Bytes of body gathered before one hand-over to the writer thread; at most two such batches
#: (one being written, one waiting) are held in memory per upload.
WRITE_BATCH_BYTES = 2 * 1024 * 1024
#: Buffers per ``os.writev`` call (POSIX guarantees IOV_MAX >= 16; Linux has 1024).
WRITEV_BUFFERS = 512


def renamed(name: str, number: int) -> str:
    """``a (1).ipynb``, ``a (2).ipynb``... (folders and files without an extension: ``a (1)``)."""
    stem, ext = posixpath.splitext(name)
    return f"{stem} ({number}){ext}"


class StagedUpload:
    """One upload's staging file. ``write`` and ``commit`` block (run them in a thread);
    ``abort`` may be called from any thread at any time, also while a write runs."""

    def __init__(self, manager: FileContentsManager, folder: str, name: str, on_conflict: str,
                 check_notebook_bytes: int) -> None:
        if on_conflict not in ON_CONFLICT:
            raise ValueError(on_conflict)
        self.manager = manager
        self.folder = folder
        self.name = name
        self.on_conflict = on_conflict
        self.check_notebook_bytes = check_notebook_bytes
        self.size = 0
        self.staging: str | None = None
        self._fd: int | None = None
        self._lock = threading.Lock()
        self._digest = hashlib.sha256()  # computed as the bytes are written: the file is not read again

    @property
    def path(self) -> str:
        return posixpath.join(self.folder, self.name)

    def open(self) -> None:
        """Make the staging file in the target folder (which must exist: NotFound otherwise)."""
        target = self.manager.writable_os_path(self.path)
        staging = self.manager.file_writer.scratch_path(target, "upload")
        with self._lock:
            self._fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            self.staging = staging

    def write(self, chunks: Sequence[bytes]) -> None:
        """Append ``chunks`` (in order) to the staging file and the running SHA-256. Blocking."""
        with self._lock:
            if self._fd is None:
                return  # aborted meanwhile
            for start in range(0, len(chunks), WRITEV_BUFFERS):
                group = chunks[start:start + WRITEV_BUFFERS]
                write_all(self._fd, group)
                for chunk in group:
                    self._digest.update(chunk)  # hashlib lets other threads run while it hashes
                    self.size += len(chunk)

    def abort(self) -> None:
        """Close and remove the staging file (idempotent)."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            if self.staging is not None:
                try:
                    os.unlink(self.staging)
                except FileNotFoundError:
                    pass
                self.staging = None

    def commit(self) -> tuple[dict[str, Any], bool]:
        """Check a notebook, then put the staged file in place: (saved model, created).

        InvalidInput for an unreadable notebook; Conflict ``name_conflict`` (with
        ``conflict_path``) when ``fail`` meets a taken name. The staging file is gone afterwards,
        whatever the outcome.
        """
        try:
            with self._lock:
                assert self._fd is not None and self.staging is not None, "commit after abort"
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
            nb, note = read_notebook(handle.read())  # InvalidInput: not readable as a notebook
        return " ".join(filter(None, (note, validate_notebook(nb).message))) or None

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


def write_all(fd: int, chunks: Sequence[bytes]) -> None:
    """Write ``chunks`` in order at ``fd``'s position: one ``writev``, finished by ``write`` after a short one."""
    done = os.writev(fd, chunks)
    for chunk in chunks:
        if done >= len(chunk):
            done -= len(chunk)
            continue
        view = memoryview(chunk)[done:]
        done = 0
        while view:
            view = view[os.write(fd, view):]


class UploadStream:
    """Hands a request body to a :class:`StagedUpload`'s writes in a thread, in batches, with back-pressure.

    ``feed`` gathers chunks; each full batch (``batch_bytes``) goes to a thread while the event
    loop reads on. A batch that fills while the previous one is still being written makes
    ``feed`` return an awaitable that ends when that write ends: tornado's
    ``stream_request_body`` stops reading the socket until then. So at most two batches (each
    at most one chunk past ``batch_bytes``) are held in memory whatever the body's size, and a
    slow disk slows the client down. ``buffered`` / ``peak_buffered`` count those bytes.
    """

    def __init__(self, upload: StagedUpload, batch_bytes: int = WRITE_BATCH_BYTES) -> None:
        self.upload = upload
        self.batch_bytes = batch_bytes
        self.buffered = 0
        self.peak_buffered = 0
        self.error: OSError | None = None
        self._batch: list[bytes] = []
        self._batch_size = 0
        self._writing: asyncio.Future[None] | None = None

    def feed(self, chunk: bytes) -> asyncio.Future[None] | None:
        """Take the next body chunk; an awaitable when the reader must wait for the disk."""
        if self.error is not None:
            return None
        self._batch.append(chunk)
        self._batch_size += len(chunk)
        self.buffered += len(chunk)
        self.peak_buffered = max(self.peak_buffered, self.buffered)
        if self._batch_size < self.batch_bytes:
            return None
        return asyncio.ensure_future(self._hand_over())

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

    async def _write(self, batch: list[bytes], size: int) -> None:
        try:
            await run_blocking(self.upload.write, batch)
        except OSError as exc:  # a full disk: remembered, answered once the body is read
            self.error = exc
            self.upload.abort()
        finally:
            self.buffered -= size
