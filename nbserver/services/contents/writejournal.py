"""The write journal: where a killed server's unfinished writes are found, and their recovery.

A server killed mid-save leaves hidden files beside users' files: temporary files of a
replacing save, upload staging files and, in the in-place path, backups of old content that
must be copied back (see :mod:`fileio`). The root tree can hold millions of files, so start-up
does not walk it. Instead each writer keeps a small journal, ``<journal dir>/<writer id>.jsonl``
(by default under the Jupyter runtime folder), of

- every folder it has created such a file in, once per folder per process (one fsynced line);
- every in-place write, naming target and backup, fsynced after the backup and before the
  target is touched (the in-place path is the rare one; replacing saves add no journal write
  after their folder's first).

Start-up recovery (:func:`recover_interrupted_writes`) reads the journals of writers that are
gone, copies each recorded backup back over its target, and lists only the folders they named:
its cost is the number of folders written by killed servers, not the size of the tree.

Liveness: a writer holds an exclusive ``flock`` on its journal for its lifetime; the kernel
drops it when the process dies, however it dies, and a recovering server only touches
journals it can lock itself (so two recovering servers never work on the same one, and a pid
reused by another process misleads nobody). Where locks are not supported, a journal counts as
live while a process with its pid runs on the same host. Of a dead writer's files, only those
carrying its writer id in their name are touched: never a file a live server is writing.

Age: backups are restored at once, since the file they protect may be half-written. Other
leftovers (temporary and staging files, incomplete backups) are removed only once older than
``min_age`` seconds (``FileContentsManager.leftover_min_age``), a second guard for writers whose
liveness was misjudged (a network filesystem shared by hosts); younger ones stay, with their
journal, for the next start-up.
"""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import json
import logging
import os
import shutil
import socket
import stat
import threading
import time
import weakref
from typing import Any

from nbserver.services.contents import fileio

JOURNAL_SUFFIX = ".jsonl"
#: The journal folder's subfolder for backups of files whose own folder is read-only.
BACKUP_FOLDER = "backups"

log = logging.getLogger(__name__)


class WriteJournal:
    """One writer's journal in ``directory``: the folders it writes in and its in-place writes.

    Created lazily at the first record; if it cannot be written (a read-only runtime folder),
    writes go on unjournaled and a warning is logged once.
    """

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.writer_id = fileio.new_writer_id()
        self._fd: int | None = None
        self._folders: set[str] = set()
        self._lock = threading.Lock()
        self._failed = False
        self._closer: weakref.finalize[[int], WriteJournal] | None = None

    @property
    def usable(self) -> bool:
        """False once the journal could not be written: its writer then avoids the in-place path."""
        return not self._failed

    @property
    def path(self) -> str:
        return os.path.join(self.directory, self.writer_id + JOURNAL_SUFFIX)

    def note_folder(self, folder: str) -> None:
        """Record that this writer creates hidden files in ``folder`` (once per folder)."""
        if folder not in self._folders and self._append({"folder": folder}):
            self._folders.add(folder)

    def record_restore(self, target: str, backup: str, info: os.stat_result) -> None:
        """Record that ``backup`` holds the complete old content of ``target`` (whose ``stat`` is ``info``)."""
        self._append({"restore": target, "backup": backup, "dev": info.st_dev, "ino": info.st_ino})

    def backup_folder(self) -> str | None:
        """A folder for backups of files whose own folder is read-only; None if there is none."""
        folder = os.path.join(self.directory, BACKUP_FOLDER)
        try:
            os.makedirs(folder, mode=0o700, exist_ok=True)
        except OSError:
            return None
        self.note_folder(folder)
        return folder

    def close(self) -> None:
        """Let the journal go, lock and all, as when its writer dies: it records nothing more, and
        the next start-up's recovery treats it as a finished writer's."""
        with self._lock:
            if self._closer is not None:
                self._closer()
                self._closer = None
            self._fd = None
            self._failed = True

    def _append(self, record: dict[str, Any]) -> bool:
        line = (json.dumps(record) + "\n").encode("utf-8", "surrogateescape")
        with self._lock:
            if self._failed:
                return False
            try:
                if self._fd is None:
                    self._fd = self._create()
                    # Closing it (when this journal is dropped) releases the lock: the journal is then
                    # a dead writer's, which the next start-up sweeps and removes.
                    self._closer = weakref.finalize(self, os.close, self._fd)
                os.write(self._fd, line)
                os.fsync(self._fd)
            except OSError:
                self._failed = True
                log.warning("Cannot write the write journal in %s; a server killed now leaves files "
                            "that the next start cannot clean up or restore", self.directory, exc_info=True)
                return False
        return True

    def _create(self) -> int:
        """Create the journal locked: under a temporary name, locked, then renamed into place."""
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        temp = self.path + ".new"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                    raise
                log.info("No file locks in %s; journal liveness falls back to pids", self.directory)
            header = {"pid": os.getpid(), "host": socket.gethostname()}
            os.write(fd, (json.dumps(header) + "\n").encode())
            os.fsync(fd)
            os.rename(temp, self.path)
        except BaseException:
            os.close(fd)
            fileio.unlink_quietly(temp)
            raise
        fileio.fsync_directory(self.directory)
        return fd


@dataclasses.dataclass
class RecoveryReport:
    """What one start-up recovery did: counts of files."""

    restored: int = 0  # targets given back their old content from a backup
    removed: int = 0  # leftover files deleted
    kept: int = 0  # leftovers left for a later start-up (too young, or not removable)

    def add(self, other: RecoveryReport) -> None:
        self.restored += other.restored
        self.removed += other.removed
        self.kept += other.kept


def recover_interrupted_writes(directory: str, min_age: float) -> RecoveryReport:
    """Finish the writes of every dead writer journaled in ``directory``; see the module docstring.

    ``min_age`` is in seconds. Blocking; meant for start-up, before requests are served.
    """
    report = RecoveryReport()
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return report
    for name in names:
        path = os.path.join(directory, name)
        if name == BACKUP_FOLDER:
            continue
        try:
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            records = _read_records(fd)
            if not _writer_is_gone(fd, records):
                continue
            writer_id = name.split(".", 1)[0]
            done = _recover_writer(writer_id, records, min_age)
            report.add(done)
            if done.kept == 0:
                os.unlink(path)
        finally:
            os.close(fd)
    return report


def _read_records(fd: int) -> list[dict[str, Any]]:
    with os.fdopen(os.dup(fd), "rb") as handle:
        lines = handle.read().splitlines()
    records = []
    for line in lines:
        try:
            record = json.loads(line.decode("utf-8", "surrogateescape"))
        except ValueError:
            continue  # a line torn by a power loss: its write had not begun
        if isinstance(record, dict):
            records.append(record)
    return records


def _writer_is_gone(fd: int, records: list[dict[str, Any]]) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
            return False
    header = records[0] if records else {}
    if header.get("host") != socket.gethostname() or not isinstance(header.get("pid"), int):
        return False
    try:
        os.kill(header["pid"], 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def _recover_writer(writer_id: str, records: list[dict[str, Any]], min_age: float) -> RecoveryReport:
    report = RecoveryReport()
    folders: set[str] = set()
    for record in records:
        if isinstance(record.get("folder"), str):
            folders.add(record["folder"])
        elif isinstance(record.get("restore"), str) and isinstance(record.get("backup"), str):
            folders.add(os.path.dirname(record["backup"]))
            report.add(_restore(record))
    prefix = f"{fileio.STAGING_PREFIX}{writer_id}-"
    now = time.time()
    for folder in sorted(folders):
        try:
            names = [name for name in os.listdir(folder) if name.startswith(prefix)]
        except OSError:
            continue  # the folder is gone, and its leftovers with it
        for name in names:
            path = os.path.join(folder, name)
            try:
                info = os.lstat(path)
                if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)) or now - info.st_mtime < min_age:
                    report.kept += 1
                    continue
                if stat.S_ISDIR(info.st_mode):
                    shutil.rmtree(path)  # a cross-filesystem move's partial copy of a folder
                else:
                    os.unlink(path)
                report.removed += 1
            except FileNotFoundError:
                continue
            except OSError:
                log.warning("Cannot remove the leftover %s", path, exc_info=True)
                report.kept += 1
    return report


def _restore(record: dict[str, Any]) -> RecoveryReport:
    """Copy a journaled backup back over its target, unless the target has been replaced since."""
    report = RecoveryReport()
    target, backup = record["restore"], record["backup"]
    if not os.path.lexists(backup):
        return report  # the write finished, or an earlier recovery restored it
    try:
        info = os.stat(target)
    except FileNotFoundError:
        info = None
    if info is None or (info.st_dev, info.st_ino) != (record.get("dev"), record.get("ino")):
        # Deleted or replaced by someone else after the crash: their file wins over our old copy.
        log.warning("Not restoring %s from %s: the file was replaced or removed since", target, backup)
        return report  # the backup is swept as a leftover
    try:
        fileio.restore_backup(backup, target)
    except OSError:
        log.exception("Cannot restore %s from its backup %s", target, backup)
        report.kept += 1
        return report
    log.warning("Restored %s from the backup a killed server left", target)
    report.restored += 1
    return report
