"""Raw uploads (``POST /api/files/upload``): a request body streamed to disk, then put in place (design 3.5).

The bytes go, as they arrive, to a hidden staging file in the target folder
(``FileWriter.scratch_path``: a killed server's leftover is swept at start-up), so an upload
of any size holds at most one buffer in memory and ends with a rename or link on the same
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

import os
import posixpath
import threading
from typing import TYPE_CHECKING, Any

from nbserver.errors import Conflict, InvalidInput
from nbserver.services.contents.notebooks import read_notebook
from nbserver.services.contents.validation import validate_notebook

if TYPE_CHECKING:
    from nbserver.services.contents.filemanager import FileContentsManager

ON_CONFLICT = ("fail", "rename", "overwrite")
#: How many ``name (n).ext`` an ``on_conflict=rename`` upload tries before answering 409.
MAX_RENAMES = 1000


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

    def write(self, data: bytes) -> None:
        with self._lock:
            if self._fd is None:
                return  # aborted meanwhile
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view):]
            self.size += len(data)

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
            model, created = self._place()
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

    def _place(self) -> tuple[dict[str, Any], bool]:
        assert self.staging is not None
        if self.on_conflict != "rename":
            try:
                return self.manager.place_staged_file(self.staging, self.path, replace=self.on_conflict == "overwrite")
            except Conflict:
                raise Conflict(f"Something is already at {self.path}.", code="name_conflict",
                               conflict_path=self.path) from None
        for number in range(MAX_RENAMES + 1):
            name = renamed(self.name, number) if number else self.name
            try:
                self.manager.writable_os_path(posixpath.join(self.folder, name))
                return self.manager.place_staged_file(self.staging, posixpath.join(self.folder, name), replace=False)
            except Conflict:
                continue
            except InvalidInput:
                break  # the numbered name no longer fits NAME_MAX
        raise Conflict(f"No free name for {self.name} here.", code="name_conflict", conflict_path=self.path)
