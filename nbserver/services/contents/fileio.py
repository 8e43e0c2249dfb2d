"""Filesystem primitives for the contents store: paths kept inside the root, safe writes.

Every path that reaches the disk goes through :func:`resolve_inside_root`; every write of a
user's file goes through a :class:`FileWriter`, which promises two things at once:

- **crash safety**: a crash (kill -9, power loss) at any moment leaves the old content or the
  new one, never a mix and never nothing;
- **identity**: the file keeps its owner, group, mode, extended attributes (POSIX ACLs are the
  ``system.posix_acl_access`` attribute) and, where a rename would lose something, its inode, so
  a hard link to it sees the new content.

It writes in one of two ways (``FileWriter.method``, the ``save_method`` setting):

replace
    The bytes go to a temporary file beside the target, which first gets the target's owner,
    group, mode and extended attributes; it is fsynced and renamed over the target, and the
    folder fsynced. A large old file is first hard-linked under a hidden name, so the rename frees
    none of its blocks, and unlinked after the save returns (freeing waits for the disk where it
    discards freed blocks). Used when the file has a single link, its folder lets us create a file and
    the identity can be copied (``chown`` succeeds).
in place
    Otherwise. A backup copy of the old content is written and fsynced (beside the target, or
    in the journal's folder when the target's folder is read-only), a record naming backup and
    target is fsynced in the write journal, then the target is overwritten, truncated and
    fsynced, and the backup removed. The target is locked (``flock``) meanwhile, so two writers
    never interleave. After a crash, start-up recovery (:mod:`writejournal`) copies the backup
    back; a backup without its record was never complete, and its target never touched. When
    the journal cannot be written, ``auto`` replaces hard-linked files instead (crash safety
    before identity); files that cannot be replaced (an owner that cannot be copied) are then
    written in place unjournaled, a crash leaving their backup beside them for a person to find,
    and a file in a read-only folder, where no backup can be made, is not written (EACCES).

Names derived from a user's file name (temporary files, upload staging files, backups,
checkpoints) must fit NAME_MAX, 255 *bytes* on Linux filesystems: :func:`fit_name` cuts them on
character boundaries and adds a short hash of the full name where it cuts, so they stay unique.
Derived names start with ``.~nbserver-<writer id>-``, the writer id being the pid of the server
and a random tag, so start-up recovery removes only files whose writer is gone.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import logging
import os
import secrets
import stat
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Iterable, Iterator, Union

from nbserver.errors import InvalidInput, NotFound
from nbserver.services.contents.sidedigest import PendingDigest, digest_aside

if TYPE_CHECKING:
    from nbserver.services.contents.writejournal import WriteJournal

log = logging.getLogger(__name__)

STAGING_PREFIX = ".~nbserver-"
#: Names of the server's own state (ids, trash): never listed, served or changed, even with allow_hidden.
RESERVED_PREFIX = ".nbserver"
#: The longest file name, in bytes, of Linux filesystems (ext4, xfs, btrfs, tmpfs, NFS).
NAME_MAX = 255
#: How many hex digits of the full name's SHA-256 a cut name carries.
NAME_HASH_DIGITS = 8
#: A cut name keeps its extension when it is at most this many bytes.
KEPT_EXTENSION_BYTES = 32
#: The ways a FileWriter can write over an existing file.
SAVE_METHODS = ("auto", "replace", "in_place")

BLOCK_SIZE = 1 << 20
# Errors of creating a file in a folder that say "not here", not "something is broken".
_CANNOT_CREATE_HERE = (errno.EACCES, errno.EPERM, errno.EROFS)

# The process umask, read once at import (reading it means setting it, which is not thread-safe).
_UMASK = os.umask(0o022)
os.umask(_UMASK)
NEW_FILE_MODE = 0o666 & ~_UMASK

Buffer = Union[bytes, bytearray, memoryview]


def split_api_path(path: str) -> list[str]:
    """Split an API path (``a/b/c.ipynb``) into checked components; reject NUL and ``..``."""
    if "\x00" in path:
        raise InvalidInput("A path may not contain NUL bytes.")
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if any(part == ".." for part in parts):
        raise InvalidInput("A path may not contain '..' components.")
    return parts


def is_reserved_name(name: str) -> bool:
    """True for ``.nbserver``, ``.nbserver-trash``...: the state folders of design section 4.1."""
    return name.startswith(RESERVED_PREFIX)


def is_visible_name(name: str, allow_hidden: bool) -> bool:
    """Whether a client sees a folder entry of this name: not reserved, not a staging file, and not
    hidden unless ``allow_hidden`` (the contents manager's setting)."""
    return not is_reserved_name(name) and not name.startswith(STAGING_PREFIX) and (
        allow_hidden or not name.startswith("."))


def normalize_api_path(path: str) -> str:
    """The canonical form of an API path: no leading or trailing slash, no empty parts."""
    return "/".join(split_api_path(path))


def is_inside(root: str, path: str) -> bool:
    """True when real path ``path`` is ``root`` or below it, compared component-wise."""
    try:
        return os.path.commonpath([root, path]) == root
    except ValueError:
        return False


def resolve_inside_root(root: str, api_path: str, allow_outside_root: bool = False) -> str:
    """Map an API path to an OS path under the real root ``root``.

    Symbolic links that lead out of the root are refused (as not found, so nothing is
    revealed about what lies outside) unless ``allow_outside_root`` is set.
    """
    os_path = os.path.join(root, *split_api_path(api_path))
    if not allow_outside_root and not is_inside(root, os.path.realpath(os_path)):
        raise NotFound(f"No such file or directory: {normalize_api_path(api_path)}",
                       log_detail=f"{os_path} resolves outside the root")
    return os_path


# -- names ---------------------------------------------------------------------------------

def truncate_to_bytes(text: str, limit: int) -> str:
    """The longest start of ``text`` whose OS encoding (UTF-8) has at most ``limit`` bytes.

    Whole characters only: a multi-byte character is kept whole or dropped.
    """
    used = 0
    for index, char in enumerate(text):
        used += len(os.fsencode(char))
        if used > limit:
            return text[:index]
    return text


def fit_name(name: str, limit: int = NAME_MAX) -> str:
    """``name`` when its UTF-8 form has at most ``limit`` bytes, else a unique shorter name.

    The shorter name is the start of ``name`` cut on a character boundary, ``~``, the first
    :data:`NAME_HASH_DIGITS` hex digits of the SHA-256 of the full name, and the extension
    (when it is short), so two long names sharing a start still differ. Deterministic: the
    same name always fits to the same result. ``limit`` must leave room for the hash.
    """
    encoded = os.fsencode(name)
    if len(encoded) <= limit:
        return name
    digest = hashlib.sha256(encoded).hexdigest()[:NAME_HASH_DIGITS]
    stem, extension = os.path.splitext(name)
    if len(os.fsencode(extension)) > KEPT_EXTENSION_BYTES:
        stem, extension = name, ""
    tail = f"~{digest}{extension}"
    return truncate_to_bytes(stem, limit - len(os.fsencode(tail))) + tail


def derived_name(prefix: str, name: str) -> str:
    """``prefix`` followed by as much of ``name`` as fits in NAME_MAX bytes (see :func:`fit_name`)."""
    return prefix + fit_name(name, NAME_MAX - len(os.fsencode(prefix)))


def new_writer_id() -> str:
    """An id for one writer in one process: its pid (for people) and a random tag (against reuse)."""
    return f"{os.getpid()}-{secrets.token_hex(3)}"


# -- small disk helpers --------------------------------------------------------------------

def fsync_directory(directory: str) -> None:
    """Make a folder's entries (a rename, a new file) durable; a no-op where that is not possible."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


#: An old version of a file at least this large is unlinked after its save returns (see
#: FileWriter._rename_into_place): on a filesystem mounted with ``discard`` freeing a file's
#: blocks waits for the disk (ext4 here: unlink 0.36 ms at 64 KiB, 1.2 ms at 1 MiB, 2.9 ms at
#: 3 MiB; a hard link 0.02-0.06 ms; docs/performance.md section 19).
RETIRE_MIN_BYTES = 64 << 10

#: The one thread of :func:`unlink_later` (started at its first use, as any pool's threads).
_unlinker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nbserver-unlink")


def unlink_later(path: str) -> Future[None]:
    """Unlink ``path`` on a thread kept for this, in order; the interpreter waits for what is
    queued when it exits (a kill leaves the file to start-up recovery)."""
    return _unlinker.submit(unlink_quietly, path)


def wait_for_unlinks(timeout: float | None = None) -> None:
    """Return once every unlink queued by :func:`unlink_later` so far is done (raises TimeoutError past ``timeout``)."""
    _unlinker.submit(lambda: None).result(timeout)


def unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def read_blocks(os_path: str) -> Iterator[bytes]:
    """A file's bytes in blocks of BLOCK_SIZE."""
    with open(os_path, "rb") as handle:
        yield from iter(lambda: handle.read(BLOCK_SIZE), b"")


def file_sha256(os_path: str) -> str:
    digest = hashlib.sha256()
    for block in read_blocks(os_path):
        digest.update(block)
    return digest.hexdigest()


def _as_chunks(data: bytes | Iterable[bytes]) -> Iterable[Buffer]:
    if isinstance(data, (bytes, bytearray, memoryview)):
        return [data]
    return data


def _write_all(fd: int, chunks: Iterable[Buffer]) -> tuple[PendingDigest, int]:
    """Write ``chunks`` at the start of ``fd``; return (their SHA-256, bytes written).

    A list of ``bytes`` of :data:`sidedigest.PARALLEL_MIN_BYTES` or more is hashed on a helper
    thread while this one writes (the caller fsyncs before it asks for the digest, so the hash
    overlaps the disk's wait too); other chunks are hashed here as they are written.
    """
    if isinstance(chunks, (list, tuple)) and all(type(chunk) is bytes for chunk in chunks):
        pending = digest_aside("sha256", chunks)
        offset = 0
        for chunk in chunks:
            offset = _write_at(fd, chunk, offset)
        return pending, offset
    digest = hashlib.sha256()
    offset = 0
    for chunk in chunks:
        digest.update(chunk)
        offset = _write_at(fd, chunk, offset)
    return PendingDigest(digest.hexdigest()), offset


def _write_at(fd: int, chunk: Buffer, offset: int) -> int:
    """Write all of ``chunk`` at ``offset`` of ``fd``; return the offset after it."""
    view = memoryview(chunk)
    while view:
        done = os.pwrite(fd, view, offset)
        offset += done
        view = view[done:]
    return offset


def _copy_fd(source: int, target: int) -> int:
    """Copy all of ``source`` over the start of ``target``, truncate and fsync it; return the size."""
    offset = 0
    while True:
        block = os.pread(source, BLOCK_SIZE, offset)
        if not block:
            break
        view = memoryview(block)
        while view:
            done = os.pwrite(target, view, offset)
            offset += done
            view = view[done:]
    os.ftruncate(target, offset)
    os.fsync(target)
    return offset


def lock_exclusively(fd: int) -> None:
    """``flock`` the file for writing, waiting for other writers; a no-op where locks do not exist."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except OSError as exc:
        if exc.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL):
            raise


def copy_identity(fd: int, original: str, info: os.stat_result, strict: bool = True) -> None:
    """Give the file open as ``fd`` the owner, group, mode and extended attributes of ``original``.

    ``info`` is the ``stat`` of ``original``. With ``strict``, an attribute that cannot be
    copied raises its OSError (the caller then writes in place instead); without, it is skipped.
    """
    def attempt(action: str, *args: object) -> None:
        try:
            getattr(os, action)(fd, *args)
        except OSError:
            if strict:
                raise

    current = os.fstat(fd)
    if (current.st_uid, current.st_gid) != (info.st_uid, info.st_gid):
        attempt("fchown", info.st_uid, info.st_gid)
    attempt("fchmod", stat.S_IMODE(info.st_mode))
    try:
        names = os.listxattr(original)
    except OSError:
        names = []  # a filesystem without extended attributes
    for name in names:
        try:
            value = os.getxattr(original, name)
        except OSError:
            continue  # removed meanwhile, or not readable: nothing we could copy
        attempt("setxattr", name, value)


def restore_backup(backup: str, target: str, target_fd: int | None = None) -> None:
    """Copy ``backup`` over ``target`` in place (same inode), fsync, then remove the backup.

    Used when an in-place write fails (``target_fd``: the target, open and locked by the
    writer) and by start-up recovery; safe to repeat after a crash.
    """
    source = os.open(backup, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if target_fd is not None:
            _copy_fd(source, target_fd)
        else:
            destination = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, NEW_FILE_MODE)
            try:
                lock_exclusively(destination)
                _copy_fd(source, destination)
            finally:
                os.close(destination)
    finally:
        os.close(source)
    os.unlink(backup)
    fsync_directory(os.path.dirname(backup))


class FileWriter:
    """Writes users' files crash-safely while keeping their identity (see the module docstring).

    ``journal`` records where unfinished writes can be found after a crash (None: nowhere, as
    for files that are not users'); ``method`` is one of :data:`SAVE_METHODS`: ``auto`` (replace
    when the identity can be kept, else in place), ``replace`` (always rename; owner, mode and
    attributes copied where possible, hard links broken) or ``in_place`` (always in place).
    """

    def __init__(self, journal: WriteJournal | None = None, method: str = "auto") -> None:
        if method not in SAVE_METHODS:
            raise ValueError(f"save method {method!r} is not one of {', '.join(SAVE_METHODS)}")
        self.journal = journal
        self.method = method
        self.writer_id = journal.writer_id if journal is not None else new_writer_id()

    # -- names -----------------------------------------------------------------------------

    def derived_path(self, target: str, kind: str, unique: bool = True, folder: str | None = None) -> str:
        """A hidden name for a ``kind`` of file derived from ``target``, in its folder or ``folder``."""
        token = f"{secrets.token_hex(4)}-" if unique else ""
        prefix = f"{STAGING_PREFIX}{self.writer_id}-{kind}-{token}"
        return os.path.join(folder or os.path.dirname(target), derived_name(prefix, os.path.basename(target)))

    def scratch_path(self, target: str, kind: str) -> str:
        """A unique hidden name beside ``target`` for work other than a save (a cross-filesystem
        move's copy), in the journal like a save's temporary file: what a killed server leaves
        there is swept at start-up."""
        path = self.derived_path(target, kind)
        self._note_folder(os.path.dirname(path))
        return path

    def _note_folder(self, folder: str) -> None:
        if self.journal is not None:
            self.journal.note_folder(folder)

    # -- whole writes ----------------------------------------------------------------------

    def write(self, os_path: str, data: bytes | Iterable[bytes]) -> tuple[str, os.stat_result]:
        """Write ``data`` to ``os_path``; return the hex SHA-256 of the bytes and the file's ``fstat``.

        A symbolic link at ``os_path`` is written through, not replaced. OSErrors of the disk
        (EACCES, ENOSPC, EROFS...) propagate; the old content is then intact.
        """
        target = os.path.realpath(os_path)
        chunks = _as_chunks(data)
        existing = _regular_file_stat(target)
        self._note_folder(os.path.dirname(target))  # before any file is made, so a crash leaves it findable
        if existing is not None and self._goes_in_place(existing):
            return self._write_in_place(target, chunks)
        try:
            fd, temp = self._open_temp(target)
        except OSError as exc:
            if existing is None or self.method == "replace" or exc.errno not in _CANNOT_CREATE_HERE:
                raise
            return self._write_in_place(target, chunks)  # a read-only folder, a writable file
        try:
            self._take_identity(fd, target, existing)
        except OSError:
            os.close(fd)
            unlink_quietly(temp)
            return self._write_in_place(target, chunks)
        try:
            pending, size = _write_all(fd, chunks)
            os.fsync(fd)
            digest = pending.hexdigest()
            if existing is not None and stat.S_IMODE(existing.st_mode) & 0o6000:
                os.fchmod(fd, stat.S_IMODE(existing.st_mode))  # a write may clear set-id bits
            written = os.fstat(fd)
        except BaseException:
            os.close(fd)
            unlink_quietly(temp)
            raise
        os.close(fd)
        self._rename_into_place(temp, target, existing)
        return digest, written

    def _goes_in_place(self, existing: os.stat_result) -> bool:
        """Whether to write over ``existing`` in place rather than replace it, when both can be done."""
        if self.method != "auto":
            return self.method == "in_place"
        # Without a working journal a crash mid-way could not be undone: crash safety comes first.
        return existing.st_nlink > 1 and self.journal is not None and self.journal.usable

    def _open_temp(self, target: str) -> tuple[int, str]:
        temp = self.derived_path(target, "save")
        return os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600), temp

    def _take_identity(self, fd: int, target: str, existing: os.stat_result | None) -> None:
        if existing is None:
            os.fchmod(fd, NEW_FILE_MODE)
        else:
            copy_identity(fd, target, existing, strict=self.method != "replace")

    def _rename_into_place(self, temp: str, target: str, existing: os.stat_result | None) -> None:
        """Rename ``temp`` over ``target`` (whose old file's ``stat`` is ``existing``) and fsync the folder.

        A large old file is first given a second, hidden name, so the rename frees none of its
        blocks; that name is unlinked after this returns (:func:`unlink_later`).
        """
        retired = self._retire(target, existing)
        try:
            os.replace(temp, target)
        except BaseException:
            unlink_quietly(temp)
            if retired is not None:
                unlink_quietly(retired)
            raise
        fsync_directory(os.path.dirname(target))
        if retired is not None:
            unlink_later(retired)

    def _retire(self, target: str, existing: os.stat_result | None) -> str | None:
        """A hidden hard link to the old file at ``target`` when it is at least RETIRE_MIN_BYTES and
        singly linked, else None (and None where hard links cannot be made: it is then freed by the
        rename, as usual). A crash before its unlink leaves it to start-up recovery, like a
        temporary file (its folder is in the journal)."""
        if existing is None or existing.st_size < RETIRE_MIN_BYTES or existing.st_nlink != 1:
            return None
        retired = self.derived_path(target, "old")
        try:
            os.link(target, retired)
        except OSError:
            return None
        return retired

    def _write_in_place(self, target: str, chunks: Iterable[Buffer]) -> tuple[str, os.stat_result]:
        """Overwrite ``target`` behind a fsynced, journaled backup of its old content."""
        fd = os.open(target, os.O_RDWR | os.O_CLOEXEC)
        try:
            lock_exclusively(fd)
            backup = self._make_backup(fd, target)
            try:
                pending, size = _write_all(fd, chunks)
                os.ftruncate(fd, size)
                os.fsync(fd)
                digest = pending.hexdigest()
                written = os.fstat(fd)
            except BaseException:
                self._undo_in_place(backup, target, fd)
                raise
        finally:
            os.close(fd)
        self._drop_backup(backup)
        return digest, written

    @staticmethod
    def _drop_backup(backup: str) -> None:
        """The new content is durable: the backup (and with it the journal record) is spent."""
        os.unlink(backup)
        fsync_directory(os.path.dirname(backup))

    def _make_backup(self, fd: int, target: str) -> str:
        """Copy the content of ``fd`` to a new fsynced backup, journal it, and return its path."""
        backup = self.derived_path(target, "backup")
        try:
            backup_fd = os.open(backup, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            spare = self.journal.backup_folder() if self.journal is not None else None
            if spare is None or exc.errno not in _CANNOT_CREATE_HERE:
                raise
            backup = self.derived_path(target, "backup", folder=spare)
            backup_fd = os.open(backup, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            _copy_fd(fd, backup_fd)
        except BaseException:
            os.close(backup_fd)
            unlink_quietly(backup)
            raise
        os.close(backup_fd)
        fsync_directory(os.path.dirname(backup))
        if self.journal is not None:
            self.journal.record_restore(target, backup, os.fstat(fd))
        return backup

    @staticmethod
    def _undo_in_place(backup: str, target: str, fd: int) -> None:
        """Put the old content back after a failed overwrite; start-up recovery retries if this fails."""
        try:
            restore_backup(backup, target, fd)
        except OSError:
            log.exception("Could not restore %s from its backup %s; start-up recovery will", target, backup)

    # -- chunked uploads -------------------------------------------------------------------

    def staging_path(self, os_path: str) -> str:
        """The hidden file in the target's folder where this writer assembles a chunked upload."""
        return self.derived_path(os.path.realpath(os_path), "upload", unique=False)

    def append_chunk(self, os_path: str, data: bytes, first: bool) -> int:
        """Add one chunk of an upload to its staging file; return the staged size so far."""
        staging = self.staging_path(os_path)
        if first:
            self._note_folder(os.path.dirname(staging))
        elif not os.path.exists(staging):
            raise InvalidInput("No chunked upload is in progress for this file; send chunk 1 first.")
        with open(staging, "wb" if first else "ab") as handle:
            handle.write(data)
            return handle.tell()

    def commit_staged(self, os_path: str, staging: str | None = None, digest: str | None = None) -> str:
        """Put a finished upload (by default this writer's chunked one for ``os_path``) in place of its
        target, as :meth:`write` would; return its SHA-256 (read from the file unless ``digest`` is given)."""
        staging = staging or self.staging_path(os_path)
        target = os.path.realpath(os_path)
        existing = _regular_file_stat(target)
        fd = os.open(staging, os.O_RDONLY | os.O_CLOEXEC)
        try:
            if digest is None:
                hasher = hashlib.sha256()
                for block in iter(lambda: os.read(fd, BLOCK_SIZE), b""):
                    hasher.update(block)
                digest = hasher.hexdigest()
            os.fsync(fd)
            in_place = existing is not None and self._goes_in_place(existing)
            if not in_place:
                try:
                    self._take_identity(fd, target, existing)
                except OSError:
                    in_place = True
        finally:
            os.close(fd)
        if in_place:
            self._write_in_place(target, read_blocks(staging))
            os.unlink(staging)
        else:
            self._rename_into_place(staging, target, existing)
        return digest


def _regular_file_stat(path: str) -> os.stat_result | None:
    """The ``stat`` of a regular file at ``path``; None when there is none (nothing to keep)."""
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return info if stat.S_ISREG(info.st_mode) else None


_PLAIN_WRITER = FileWriter()


def atomic_write(os_path: str, data: bytes | Iterable[bytes]) -> str:
    """Write ``data`` to ``os_path`` crash-safely, keeping its identity; return the hex SHA-256.

    For files outside the contents store (settings): no journal, so a backup left by a crash
    in the in-place path is not restored automatically.
    """
    return _PLAIN_WRITER.write(os_path, data)[0]


def atomic_write_stat(os_path: str, data: bytes | Iterable[bytes]) -> tuple[str, os.stat_result]:
    """:func:`atomic_write`, also returning the ``fstat`` of the file written (inode, mtime, size)."""
    return _PLAIN_WRITER.write(os_path, data)
