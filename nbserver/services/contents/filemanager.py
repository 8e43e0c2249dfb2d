"""FileContentsManager: the default contents store, files and folders under ``root_dir``.

All disk work runs in the thread pool (see :mod:`nbserver.blocking`), so a large
file or a folder of many thousands of entries never stalls other clients.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import errno
import hashlib
import heapq
import os
import posixpath
import shutil
import stat
import threading
from typing import Any, Awaitable, Callable, Iterable, Iterator, NamedTuple, TypeVar

from jupyter_core.paths import jupyter_runtime_dir
from traitlets import Bool, Enum, Float, Int, Unicode, default, observe

from nbserver.blocking import run_blocking, usable_cores
from nbserver.errors import Conflict, InvalidInput, NbserverError, NotFound, os_errors_as
from nbserver.services.contents import fileio, moves, nowait, writejournal
from nbserver.services.contents.checkpoints import FileCheckpoints
from nbserver.services.contents.manager import (
    HASH_ALGORITHM,
    check_expected_hash,
    ContentsManager,
    Model,
    Saved,
    decode_file_content,
    encode_file_content,
    file_mimetype,
    hidden_write_refused,
    iso_timestamp,
    numbered_names,
)
from nbserver.services.contents.notary import take_cell_trust
from nbserver.services.contents.notebookread import (
    Known, ReadsKnown, ReplyAcross, file_identity, fill_notebook_model, notebook_reply_across)
from nbserver.services.contents.notebooks import SerializedNotebook, encode_notebook
from nbserver.services.contents.notebookprocesses import NotebookProcesses, ProcessesUnavailable
from nbserver.services.contents.notebooksize import encoded_size_within
from nbserver.services.contents.replycache import (
    ContentTag, EncodedReply, ReplyKey, Stamp, content_fingerprint, encode_reply, file_stamp, reply_etag, settled,
    with_trust,
)
from nbserver.services.contents.savebody import PreparedNotebook, prepare_save_body_across
from nbserver.services.contents.sidedigest import digest_aside
from nbserver.services.contents.streams import SMALL_FILE_BYTES, FileStream, OSFileStream

T = TypeVar("T")

#: How many folders' name lists the paged listing keeps.
LISTING_CACHE_SIZE = 16
#: How many notebook file versions' validation verdicts are kept.
VERDICT_CACHE_SIZE = 256
#: The most notebook processes started by default (see ``notebook_processes``).
MAX_DEFAULT_NOTEBOOK_PROCESSES = 4

#: What ``link`` fails with where a filesystem has no hard links (then O_EXCL decides a creation).
NO_HARD_LINKS = frozenset({errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK, errno.ENOSYS})

#: Identifies one state of a folder's listing: (OS path, inode, st_mtime_ns, allow_hidden).
ListingKey = tuple[str, int, int, bool]
#: Identifies one version of a file: (real path, device, inode, st_mtime_ns, size).
FileVersion = tuple[str, int, int, int, int]


def file_version(real_path: str, info: os.stat_result) -> FileVersion:
    return (real_path, info.st_dev, info.st_ino, info.st_mtime_ns, info.st_size)


class Lookup(NamedTuple):
    """An API path resolved once for one operation (see :meth:`FileContentsManager._lookup`)."""

    #: The normalized API path.
    path: str
    #: The contained OS path (symbolic links inside the root are kept, as a client named them).
    os_path: str
    #: ``os.stat`` of what is there when it was looked up; None when nothing was.
    info: os.stat_result | None


class ReplyStart(NamedTuple):
    """A large notebook read's first half, done in the server (see ``_reply_across``)."""

    #: The model without its content (``_base_model``, of type notebook).
    model: Model
    os_path: str
    #: The file's version as the server stat'ed it (the worker reads only that version).
    version: FileVersion
    #: The file's stamp and stat before the read.
    before: tuple[Stamp, os.stat_result]
    #: What earlier reads learned of this version (``ReadsKnown.known``).
    known: tuple[Known, Known]
    #: The notary's key, when the digest is not known.
    secret: bytes | None


class NameListing(NamedTuple):
    """A folder's visible names; sorted only once a page after the first needs them in order."""

    names: list[str]
    is_sorted: bool
    #: Until then, the smallest names in order, as many as a first page has asked for.
    head: list[str]


def file_or_folder(os_path: str) -> bool:
    """Whether a regular file or a folder is at ``os_path`` (one stat, following links)."""
    try:
        mode = os.stat(os_path).st_mode
    except (OSError, ValueError):  # as os.path.isfile and isdir: missing, unreadable, NUL in the name
        return False
    return stat.S_ISREG(mode) or stat.S_ISDIR(mode)


class FileContentsManager(ContentsManager):
    """Files and folders on the local filesystem, contained in ``root_dir``."""

    root_dir = Unicode(help="The folder served; nothing outside it is reachable.").tag(config=True)
    allow_symlinks_outside_root = Bool(
        False,
        help="Follow symbolic links that point outside root_dir (for linked-in data folders).",
    ).tag(config=True)
    notebook_jobs = Int(
        min=1,
        help="How many large notebooks are parsed or serialized at once (reads and saves, in-process or in "
        "the notebook_processes); more requests wait their turn. Each holds several times its file size in "
        "memory. Default: the number of cores plus one (the one more keeps the notebook processes busy while "
        "a reply is on its way back), 1 on one core.",
    ).tag(config=True)
    small_notebook_bytes = Int(
        256 * 1024, min=0,
        help="Bytes: notebooks up to this size (a file's size on read; an estimate of the encoded model on "
        "save) are parsed or encoded without waiting for one of the notebook_jobs slots, which bound the "
        "memory of large ones (an empty notebook being created need not queue behind large saves). 0: all wait.",
    ).tag(config=True)
    notebook_processes = Int(
        min=0,
        help="Worker processes for the CPU-bound half of large notebooks' saves (bodies of 256 KiB or "
        "more: parsing, validation, the file text, the trust digest) and reads (files over small_notebook_bytes "
        "read since they changed: the file's read, parsing, the trust digest, validation, the reply's encoding), "
        "so that the server's own thread is left to the requests and several at once use several cores: a large "
        "read goes to one whenever one is up, a large save when it comes while another is under way in the "
        "server's own threads. Started by the first such save or read (until one is ready, "
        "all are done in-process), stopped after notebook_processes_idle_seconds unused; each holds about "
        "30-60 MB of memory while it runs (logged), and up to 16 MiB more in the two shared memory files that "
        "large bodies and replies cross in. 0: none. Default: the number of cores, at most 4, or 0 on one core.",
    ).tag(config=True)
    notebook_processes_idle_seconds = Float(
        600.0, min=1.0,
        help="Seconds: the notebook_processes are stopped (their memory given back) after this long "
        "unused, and started again by the next large save.",
    ).tag(config=True)
    save_method = Enum(
        fileio.SAVE_METHODS, "auto",
        help="How a save writes over an existing file. 'auto': a new file renamed over it, with the "
        "old one's owner, group, mode and extended attributes (ACLs) copied, when it has one link and "
        "that copy succeeds; else in place behind a fsynced backup, which keeps the inode (hard links) "
        "too. 'replace': always rename (hard links keep the old content). 'in_place': always in place. "
        "Every method leaves the old or the new content after a crash.",
    ).tag(config=True)
    leftover_min_age = Float(
        300.0, min=0.0,
        help="Seconds: at start-up, temporary and upload files that killed servers left are removed "
        "once older than this. Backups of files being written in place are restored at once.",
    ).tag(config=True)
    max_copy_folder_size_mb = Int(
        500, min=0,
        help="Megabytes (MiB): the largest folder a copy (POST with copy_from) takes, counting its "
        "files' sizes; a larger one is refused with 400, as Jupyter Server's setting of this name does.",
    ).tag(config=True)
    delete_to_trash = Bool(
        True,
        help="DELETE /api/contents/<path> moves the file or folder to the server's trash (GET /api/trash), "
        "from which it can be restored; False deletes it for good. As jupyter_server's setting, but "
        "into a trash the server can restore from.",
    ).tag(config=True)
    write_journal_dir = Unicode(
        help="Folder of the journals that let a start-up find and finish a killed server's writes "
        "(default: nbserver-writes in the Jupyter runtime folder).",
    ).tag(config=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._listing_cache: dict[ListingKey, NameListing] = {}
        self._listing_lock = threading.Lock()
        self._writer_lock = threading.Lock()
        #: Trust digests and validation verdicts per file version (what a read of it again skips).
        self._known = ReadsKnown[FileVersion](VERDICT_CACHE_SIZE)
        self._notebook_slots: asyncio.Semaphore | None = None
        self._notebook_slots_loop: asyncio.AbstractEventLoop | None = None
        #: Large notebooks' reads and saves under way in this process (see get_reply, save_body).
        self._large_jobs = 0
        #: Saves under way, by API path (see :meth:`save`).
        self._saving: dict[str, asyncio.Lock] = {}
        #: Moves a path to the trash (set by the file services); None: deletes are permanent.
        self.trasher: Callable[[str], Awaitable[None]] | None = None

    @default("notebook_jobs")
    def _default_notebook_jobs(self) -> int:
        cores = usable_cores()
        return cores + 1 if cores > 1 else 1  # one core: no notebook processes to keep busy

    @default("notebook_processes")
    def _default_notebook_processes(self) -> int:
        cores = usable_cores()
        return min(cores, MAX_DEFAULT_NOTEBOOK_PROCESSES) if cores > 1 else 0

    @property
    def notebook_process_pool(self) -> NotebookProcesses:
        """The pool of :attr:`notebook_processes` (made on first use; its workers start on first job)."""
        pool = self.__dict__.get("_notebook_process_pool")
        if pool is None:
            pool = self.__dict__["_notebook_process_pool"] = NotebookProcesses(
                self.notebook_processes, self.notebook_processes_idle_seconds, self.log,
                getattr(self.parent, "malloc_keep_bytes", 0))  # the workers keep freed buffers as the server does
        return pool

    async def close(self) -> None:
        """See :meth:`ContentsManager.close`; also stops the notebook processes."""
        pool = self.__dict__.get("_notebook_process_pool")
        if pool is not None:
            await pool.close()
        await super().close()

    @default("root_dir")
    def _default_root_dir(self) -> str:
        return os.getcwd()

    @default("write_journal_dir")
    def _default_write_journal_dir(self) -> str:
        return os.path.join(getattr(self.parent, "runtime_dir", None) or jupyter_runtime_dir(), "nbserver-writes")

    @default("checkpoints_class")
    def _default_checkpoints_class(self) -> type:
        return FileCheckpoints

    @observe("root_dir")
    def _root_dir_changed(self, change: Any) -> None:
        self.__dict__.pop("_real_root", None)

    @observe("save_method", "write_journal_dir")
    def _writer_settings_changed(self, change: Any) -> None:
        self.__dict__.pop("_file_writer", None)

    @property
    def file_writer(self) -> fileio.FileWriter:
        """Writes every user's file of this store (crash-safe, identity-keeping, journaled)."""
        with self._writer_lock:
            writer = self.__dict__.get("_file_writer")
            if writer is None:
                journal = writejournal.WriteJournal(self.write_journal_dir)
                writer = self.__dict__["_file_writer"] = fileio.FileWriter(journal, self.save_method)
        return writer

    def recover_interrupted_writes(self) -> None:
        report = writejournal.recover_interrupted_writes(self.write_journal_dir, self.leftover_min_age)
        if report.restored or report.removed or report.kept:
            self.log.info("Unfinished writes of stopped servers: %d files restored from backups, "
                          "%d leftovers removed, %d kept for now", report.restored, report.removed, report.kept)

    @property
    def real_root(self) -> str:
        cached = self.__dict__.get("_real_root")
        if cached is None:
            cached = self.__dict__["_real_root"] = os.path.realpath(os.path.expanduser(self.root_dir))
        return cached

    # -- paths -------------------------------------------------------------------------

    def _checked_os_path(self, path: str, writing: bool) -> tuple[str, str]:
        """(normalized API path, contained OS path), after the rules for names a client may use.

        Hidden names and names over fileio.NAME_MAX: not found when reading, 400 when writing.
        """
        path = self._checked_api_path(path, writing)
        return path, fileio.resolve_inside_root(self.real_root, path, self.allow_symlinks_outside_root)

    def _checked_api_path(self, path: str, writing: bool) -> str:
        """The normalized API path, after the rules for names of :meth:`_checked_os_path`."""
        parts = fileio.split_api_path(path)
        path = "/".join(parts)
        if any(fileio.is_reserved_name(part) for part in parts):
            if writing:
                raise InvalidInput("Names starting with .nbserver are reserved for the server's own state.")
            raise NotFound(f"No such file or directory: {path}")
        if not self.allow_hidden and any(part.startswith(".") for part in parts):
            if writing:
                raise hidden_write_refused("write", path)
            raise NotFound(f"No such file or directory: {path}")
        if any(len(os.fsencode(part)) > fileio.NAME_MAX for part in parts):
            if writing:
                raise InvalidInput(f"A name is too long: at most {fileio.NAME_MAX} bytes (in UTF-8) per name.")
            raise NotFound(f"No such file or directory: {path}")
        return path

    def _lookup(self, path: str, writing: bool = False) -> Lookup:
        """Resolve ``path`` once for one operation: check it, contain it, stat what is there.

        Every operation starts here, and the layers below take the result (model: starlette's
        ``StaticFiles.lookup_path``). Raises NotFound, InvalidInput, and the stat's other
        ``OSError`` (ELOOP, ENAMETOOLONG, EACCES...), which the async method maps by errno.
        """
        path, os_path = self._checked_os_path(path, writing)
        try:
            info: os.stat_result | None = os.stat(os_path)
        except (FileNotFoundError, NotADirectoryError):
            info = None
        return Lookup(path, os_path, info)

    def _existing(self, path: str) -> tuple[str, str, os.stat_result]:
        """:meth:`_lookup` of a path a client reads: (API path, OS path, stat); NotFound if absent."""
        found = self._lookup(path)
        if found.info is None:
            raise NotFound(f"No such file or directory: {found.path}")
        return found.path, found.os_path, found.info

    def os_path(self, path: str) -> str:
        """The contained OS path for an API path (hidden or not)."""
        return fileio.resolve_inside_root(self.real_root, path, self.allow_symlinks_outside_root)

    def visible_os_path(self, path: str) -> str:
        """The OS path for an API path a client may see: hidden paths are not found."""
        return self._checked_os_path(path, writing=False)[1]

    def writable_os_path(self, path: str) -> str:
        """The OS path for an API path a client may create or change."""
        return self._checked_os_path(path, writing=True)[1]

    # -- models ------------------------------------------------------------------------

    def _base_model(self, path: str, os_path: str, info: os.stat_result) -> Model:
        return {
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "type": "file",
            "writable": os.access(os_path, os.W_OK),
            "created": iso_timestamp(info.st_ctime),
            "last_modified": iso_timestamp(info.st_mtime),
            "mimetype": None,
            "format": None,
            "content": None,
            "size": info.st_size,
            "hash": None,
            "hash_algorithm": None,
        }

    @staticmethod
    def _visible_names(names: list[str], allow_hidden: bool) -> list[str]:
        """The names a listing shows: never staging files, hidden ones only when allowed."""
        if allow_hidden:
            return [name for name in names
                    if not name.startswith(fileio.STAGING_PREFIX) and not fileio.is_reserved_name(name)]
        # Staging names start with "." too. name[0] is twice as fast as startswith on 100,000 names.
        return [name for name in names if name[0] != "."]

    def _entry_model(self, path: str, os_path: str, info: os.stat_result) -> Model | None:
        """The content-less model of what is at ``path``, typed as GET and listings type it.

        None for what is not contents (sockets, pipes, devices).
        """
        model = self._base_model(path, os_path, info)
        if stat.S_ISDIR(info.st_mode):
            model.update(type="directory", size=None)
        elif not stat.S_ISREG(info.st_mode):
            return None
        elif path.endswith(".ipynb"):
            model["type"] = "notebook"
        else:
            model["mimetype"] = file_mimetype(model["name"], None)
        return model

    def _child_model(self, parent_path: str, name: str, os_path: str, is_link: bool) -> Model | None:
        """The content-less model of one directory entry, or None when it is not shown."""
        if is_link and not self.allow_symlinks_outside_root:
            if not fileio.is_inside(self.real_root, os.path.realpath(os_path)):
                return None
        try:
            info = os.stat(os_path)
        except OSError:
            return None  # a broken link, or a file removed while we listed
        return self._entry_model(f"{parent_path}/{name}" if parent_path else name, os_path, info)

    def _directory_model(self, path: str, os_path: str, info: os.stat_result, content: bool) -> Model:
        model = self._base_model(path, os_path, info)
        model.update(type="directory", size=None)
        if not content:
            return model
        children = []
        hidden = fileio.STAGING_PREFIX if self.allow_hidden else "."  # staging names start with "." too
        with os.scandir(os_path) as entries:
            for entry in entries:
                if not entry.name.startswith(hidden) and not fileio.is_reserved_name(entry.name):
                    child = self._child_model(path, entry.name, entry.path, entry.is_symlink())
                    if child is not None:
                        children.append(child)
        model.update(content=children, format="json")
        return model

    def _listing(self, os_path: str, info: os.stat_result) -> tuple[ListingKey, NameListing]:
        """The folder's visible names, cached until the folder changes (its mtime)."""
        allow_hidden = self.allow_hidden
        key = (os_path, info.st_ino, info.st_mtime_ns, allow_hidden)
        listing = self._listing_cache.get(key)
        if listing is None:
            names = self._visible_names(os.listdir(os_path), allow_hidden)
            listing = self._remember_listing(key, NameListing(names, is_sorted=False, head=[]))
        return key, listing

    def _remember_listing(self, key: ListingKey, listing: NameListing) -> NameListing:
        with self._listing_lock:
            self._listing_cache.pop(key, None)
            if len(self._listing_cache) >= LISTING_CACHE_SIZE:
                self._listing_cache.pop(next(iter(self._listing_cache)))
            self._listing_cache[key] = listing
        return listing

    def _directory_page(self, path: str, page_size: int, cursor: str | None) -> Model:
        path, os_path, info = self._existing(path)
        if not stat.S_ISDIR(info.st_mode):
            raise InvalidInput(f"{path} is not a directory; only directories are paged.")
        key, listing = self._listing(os_path, info)
        names = listing.names
        if cursor is None and not listing.is_sorted:
            # The first page needs only the smallest names: a folder's first listing skips the full sort.
            if len(listing.head) < min(page_size, len(names)):
                listing = self._remember_listing(key, listing._replace(head=heapq.nsmallest(page_size, names)))
            start, page = 0, listing.head[:page_size]
        else:
            if not listing.is_sorted:
                listing = self._remember_listing(key, NameListing(sorted(names), is_sorted=True, head=[]))
            start = bisect.bisect_right(listing.names, cursor) if cursor else 0
            page = listing.names[start:start + page_size]
        children = []
        for name in page:
            child_os_path = os.path.join(os_path, name)
            child = self._child_model(path, name, child_os_path, os.path.islink(child_os_path))
            if child is not None:
                children.append(child)
        model = self._directory_model(path, os_path, info, content=False)
        more = start + page_size < len(names)
        model.update(content=children, format="json", total=len(names),
                     next_cursor=page[-1] if more and page else None)
        return model

    async def list_directory_page(self, path: str, page_size: int, cursor: str | None = None) -> Model:
        path = fileio.normalize_api_path(path)
        with os_errors_as("list", path):
            return await run_blocking(self._directory_page, path, page_size, cursor)

    def _file_model(
        self, path: str, os_path: str, info: os.stat_result, content: bool, format: str | None,
        require_hash: bool,
    ) -> Model:
        model = self._base_model(path, os_path, info)
        if format not in (None, "text", "base64"):
            raise InvalidInput(f"Format {format!r} is not one of text, base64 for a file.")
        if content or require_hash:
            raw = self._read_bytes(os_path)
            if content:
                model["content"], model["format"] = encode_file_content(raw, format, path)
            if require_hash:
                model.update(hash=hashlib.sha256(raw).hexdigest(), hash_algorithm=HASH_ALGORITHM)
        model["mimetype"] = file_mimetype(model["name"], model["format"])
        return model

    def _notebook_model(
        self, path: str, os_path: str, info: os.stat_result, content: bool, format: str | None,
        require_hash: bool, tag: ContentTag | None = None,
    ) -> Model:
        model = self._base_model(path, os_path, info)
        model["type"] = "notebook"
        if format not in (None, "json"):
            raise InvalidInput(f"Format {format!r} is not valid for a notebook; use json.")
        if content or require_hash:
            raw, version = self._read_notebook_file(os_path)
            # hashed on a helper thread while this one parses (see sidedigest.py)
            file_digest = digest_aside(HASH_ALGORITHM, (raw,)) if content and require_hash else None
            if content:
                read = self._known.read(raw, version, self.notary)
                fill_notebook_model(model, read)
                if tag is not None:
                    tag.file_digest = file_digest or content_fingerprint(raw)
                    tag.trusted = read.trusted
            if require_hash:
                digest = file_digest.hexdigest() if file_digest is not None else hashlib.sha256(raw).hexdigest()
                model.update(hash=digest, hash_algorithm=HASH_ALGORITHM)
        return model

    @staticmethod
    def _read_notebook_file(os_path: str) -> tuple[bytes, FileVersion | None]:
        """A file's bytes and the version they are (None when the file changed while it was read)."""
        with open(os_path, "rb") as handle:
            before = os.fstat(handle.fileno())
            raw = handle.read()
            after = os.fstat(handle.fileno())
        unchanged = (before.st_mtime_ns, before.st_size) == (after.st_mtime_ns, len(raw))
        return raw, file_version(os.path.realpath(os_path), after) if unchanged else None

    @staticmethod
    def _read_bytes(os_path: str) -> bytes:
        with open(os_path, "rb") as handle:
            return handle.read()

    def _get(self, path: str, content: bool, type: str | None, format: str | None,
             require_hash: bool, tag: ContentTag | None = None) -> Model:
        path, os_path, info = self._existing(path)
        if stat.S_ISDIR(info.st_mode):
            if type not in (None, "directory"):
                raise InvalidInput(f"{path} is a directory, not a {type}")  # Jupyter Server's words
            if format not in (None, "json"):
                raise InvalidInput(f"Format {format!r} is not valid for a directory; use json.")
            return self._directory_model(path, os_path, info, content)
        if not stat.S_ISREG(info.st_mode):
            raise NotFound(f"No such file or directory: {path}")
        if type == "directory":
            raise InvalidInput(f"{path} is not a directory")  # Jupyter Server's words
        if type == "notebook" or (type is None and path.endswith(".ipynb")):
            return self._notebook_model(path, os_path, info, content, format, require_hash, tag)
        return self._file_model(path, os_path, info, content, format, require_hash)

    async def get(self, path: str, content: bool = True, type: str | None = None,
                  format: str | None = None, require_hash: bool = False) -> Model:
        path = fileio.normalize_api_path(path)
        with os_errors_as("read", path):
            if content and (type == "notebook" or (type is None and path.endswith(".ipynb"))):
                return await self._notebook_job(self._get, path, content, type, format, require_hash)
            return await run_blocking(self._get, path, content, type, format, require_hash)

    async def get_reply(self, path: str, content: bool = True, type: str | None = None,
                        format: str | None = None, require_hash: bool = False) -> EncodedReply:
        """A notebook's reply comes from ``self.replies`` while the file is unchanged (see replycache.py).
        A large notebook's read is made in one of the :attr:`notebook_processes` whenever one is up
        (:meth:`_reply_across`), so that this process's one core of Python is left to the requests
        and several reads use several cores; in-process while they start, when they are off, or
        when the file changed after this server's stat of it. Only where the work is done changes,
        never the reply."""
        path = fileio.normalize_api_path(path)
        notebook = type == "notebook" or (type is None and path.endswith(".ipynb"))
        if not (content and notebook and self.replies.max_bytes):
            return await super().get_reply(path, content, type, format, require_hash)
        key: ReplyKey = (path, content, type, format, require_hash)
        with os_errors_as("read", path):
            cached, small = await run_blocking(self._cached_reply, key)
            if cached is not None:
                return cached
            if small:
                return await self._notebook_job(self._new_reply, key, small=True)
            if self.notebook_process_pool.taking():
                # In a slot as in-process: the replies on their way back are bounded as in-process.
                async with self._notebook_slot():
                    reply = await self._reply_across(key)
                if reply is not None:
                    return reply
            with self._large_job():
                return await self._notebook_job(self._new_reply, key)

    @contextlib.contextmanager
    def _large_job(self) -> Iterator[None]:
        """Count a large notebook's read or save under way in this process (see :meth:`save_body`)."""
        self._large_jobs += 1
        try:
            yield
        finally:
            self._large_jobs -= 1

    def _file_stamp(self, os_path: str) -> tuple[Stamp, os.stat_result] | None:
        """The stamp of the regular file at ``os_path`` and its stat; None if it is not a regular
        file (the uncached path then says what it is)."""
        info = os.stat(os_path)
        if not stat.S_ISREG(info.st_mode):
            return None
        return file_stamp(info, os.access(os_path, os.W_OK)), info

    def _reply_stamp(self, os_path: str) -> tuple[Stamp, bool] | None:
        """(stamp, settled): the file's stamp and whether its notebook is signed now, which is
        what a reply depends on (another process may sign it, the notary may cull it: the
        database is asked, not remembered). None when it is not a regular file or its signature
        is not known for this version of the file (it was not read since it changed)."""
        found = self._file_stamp(os_path)
        if found is None:
            return None
        stamp, info = found
        known, digest = self._known.digests.lookup(file_version(os.path.realpath(os_path), info))
        if not known:
            return None
        return with_trust(stamp, self.notary, digest), settled(info)

    def _cached_reply(self, key: ReplyKey) -> tuple[EncodedReply | None, bool]:
        """(the kept reply or None, whether the file is small: see ``small_notebook_bytes``)."""
        _, os_path = self._checked_os_path(key[0], writing=False)
        try:
            found = self._reply_stamp(os_path)
            reply = self.replies.lookup(key, found[0]) if found is not None else None
            return reply, reply is None and os.stat(os_path).st_size <= self.small_notebook_bytes
        except OSError:
            return None, False  # the uncached path reports it

    def _new_reply(self, key: ReplyKey) -> EncodedReply:
        """Read and encode the notebook, then :meth:`_keep_reply`."""
        path, content, type, format, require_hash = key
        _, os_path = self._checked_os_path(path, writing=False)
        try:
            before = self._file_stamp(os_path)
        except OSError:
            before = None
        tag = ContentTag() if before is None or not settled(before[1]) else None
        model = self._get(path, content, type, format, require_hash, tag)
        return self._keep_reply(key, os_path, before, encode_reply(model), tag, model)

    def _keep_reply(self, key: ReplyKey, os_path: str, before: tuple[Stamp, os.stat_result] | None,
                    reply: EncodedReply, tag: ContentTag | None, model: Model) -> EncodedReply:
        """Keep ``reply`` when the file had the same settled stamp ``before`` the read and now (the
        read also learned its signature, so the kept stamp has its trust). A reply not kept is
        tagged from the file's bytes (``tag``, see :class:`ContentTag`; ``model`` without its
        content is enough), not by tornado hashing the body on the event loop."""
        if before is not None:
            try:
                after = self._reply_stamp(os_path)
            except OSError:
                after = None
            if after is not None and after[1] and after[0][:-1] == before[0]:
                reply = reply._replace(etag=reply_etag(key, after[0]))
                self.replies.store(key, after[0], reply)
                return reply
        return reply._replace(etag=tag.etag(key, model)) if tag is not None else reply

    def _start_reply(self, key: ReplyKey) -> ReplyStart | None:
        """What a notebook process needs to make the reply to ``key`` (see :meth:`_reply_across`):
        the model without its content, where the file is and which version of it the reply is of,
        what is known of that version. None when it is not a regular file read as a notebook
        (the in-process path answers that, errors included)."""
        path, _, type, format, _ = key
        if type not in (None, "notebook") or format not in (None, "json"):
            return None
        path, os_path, info = self._existing(path)
        if not stat.S_ISREG(info.st_mode):
            return None
        model = self._base_model(path, os_path, info)
        model["type"] = "notebook"
        version = file_version(os.path.realpath(os_path), info)
        known = self._known.known(version)
        secret = None if known[0][0] else self.notary.secret()
        return ReplyStart(model, os_path, version, (file_stamp(info, model["writable"]), info), known, secret)

    async def _reply_across(self, key: ReplyKey) -> EncodedReply | None:
        """The reply to a large notebook's read made in a notebook process
        (:func:`notebookread.notebook_reply_across`: the file's read, parse, trust, validation,
        encoding) from the file this server resolved and stat'ed, the reply kept here; the
        worker's question whether the notebook is signed is answered by this server's notary.
        None when the pool cannot take it now (off, starting, its worker died), it is not a plain
        notebook read, or the file changed after it was stat'ed: then it is read in-process."""
        start = await run_blocking(self._start_reply, key)
        if start is None:
            return None
        info = start.before[1]
        tagged = not settled(info)
        try:
            across: ReplyAcross | None = await self.notebook_process_pool.run(
                notebook_reply_across, start.model, start.os_path, file_identity(info), start.secret, *start.known,
                key[4], tagged, answer=self.notary.is_signed)
        except ProcessesUnavailable:
            return None
        if across is None:
            return None
        self._known.learn(start.version, across.digest, across.verdict)
        tag: ContentTag | None = None
        if tagged:
            tag = ContentTag()
            tag.file_digest, tag.trusted = across.file_digest, across.trusted
        reply = EncodedReply(bytes(across.body), across.model["path"], across.model["last_modified"])
        return await run_blocking(self._keep_reply, key, start.os_path, start.before, reply, tag, across.model)

    def _open_file(self, path: str) -> OSFileStream:
        path = fileio.normalize_api_path(path)
        os_path = self.visible_os_path(path)
        with os_errors_as("open", path):
            return OSFileStream.open(os_path)

    async def open_file(self, path: str) -> FileStream:
        """The regular file at ``path`` open by descriptor; its reads run in the thread pool.
        A small file the kernel can open and read at once is read here (:mod:`.nowait`)."""
        read = self._read_small_file_now(path)
        if read is not None:
            return OSFileStream(None, *read)
        return await run_blocking(self._open_file, path)

    def _read_small_file_now(self, path: str) -> tuple[os.stat_result, bytes] | None:
        """(stat, bytes) of a small file read without waiting on a disk, else None (every refusal,
        error or symbolic link the realpath check must judge is left to :meth:`_open_file`)."""
        if self.allow_symlinks_outside_root or not nowait.available():
            return None
        try:
            api_path = self._checked_api_path(path, writing=False)
        except NbserverError:
            return None
        return nowait.read_small_file(self.real_root, api_path, SMALL_FILE_BYTES)

    async def _notebook_job(self, func: Callable[..., T], *args: Any, small: bool = False) -> T:
        """Run notebook parsing or serializing in the thread pool, at most ``notebook_jobs`` at once;
        a ``small`` one (see ``small_notebook_bytes``) at once, without a slot."""
        if small:
            return await run_blocking(func, *args)
        async with self._notebook_slot():
            return await run_blocking(func, *args)

    def _notebook_slot(self) -> asyncio.Semaphore:
        """The ``notebook_jobs`` slots (of the running event loop): what bounds the memory of large
        notebooks in the works at once."""
        loop = asyncio.get_running_loop()
        if self._notebook_slots is None or self._notebook_slots_loop is not loop:
            self._notebook_slots = asyncio.Semaphore(self.notebook_jobs)
            self._notebook_slots_loop = loop
        return self._notebook_slots

    # -- saving ------------------------------------------------------------------------

    def _save_target(self, model: Model, path: str, must_create: bool) -> Lookup:
        """Where ``model`` goes, resolved once; the errors a save can meet before it writes."""
        kind = model.get("type")
        target = self._lookup(path, writing=True)
        if not target.path and kind != "directory":
            raise InvalidInput("The root is a directory; give a file path.")
        if kind == "notebook" and model.get("chunk") is not None:
            raise InvalidInput("Notebooks cannot be uploaded in chunks; upload as a file.")
        if target.info is None:
            if target.path and not os.path.isdir(os.path.dirname(target.os_path)):
                raise NotFound(f"No such directory: {target.path.rpartition('/')[0]}")
        elif must_create:
            raise Conflict(f"A file or directory already exists at {target.path}")
        elif kind != "directory" and stat.S_ISDIR(target.info.st_mode):
            raise Conflict(f"A directory exists at {target.path}")
        elif kind == "directory" and not stat.S_ISDIR(target.info.st_mode):
            raise Conflict(f"A file exists at {target.path}")
        return target

    def _prepare_notebook(self, model: Model, path: str,
                          must_create: bool) -> tuple[Lookup, SerializedNotebook, bool]:
        """(target, encoded notebook, whether to sign it) of a notebook save.

        As Jupyter Server saves: the cells' ``trusted`` flags are taken off (never written), and
        the notebook is signed when every code cell is trusted (nbformat's rule, see notary).
        As there, the signature is of the client's document (which reads back the same unless
        it came with multi-line strings as lists of lines: then it reads back untrusted).
        """
        target = self._save_target(model, path, must_create)  # a bad target is reported first
        content = model.get("content")
        signed = isinstance(content, dict) and take_cell_trust(content)
        return target, encode_notebook(content), signed

    async def save_body(self, raw: bytes | bytearray, path: str, *, expected_hash: str | None = None) -> Saved | None:
        """See :meth:`ContentsManager.save_body`. A large save alone is done in this process (no
        crossing of the pipes; its digest computed beside its write). One that comes while another
        is under way here (their threads would share one core) is prepared whole in one of the
        :attr:`notebook_processes`, started by the first such save (:func:`prepare_save_body`: the
        model's ``content`` is then a :class:`PreparedNotebook`); while they start, or if its
        worker dies, in this process. A body without the text ``"notebook"`` cannot be a
        notebook's save unless it spells the word with escapes: it stays here too (a file's
        content would only cross the pipes twice). Only where the work is done changes, never
        its result."""
        if self._large_jobs and raw.find(b'"notebook"') >= 0:
            try:
                secret = await run_blocking(self.notary.secret)  # read (or made) once, then kept
                model = await self.notebook_process_pool.run(prepare_save_body_across, raw, secret)
            except ProcessesUnavailable:
                pass
            else:
                return await self.save(model, path, expected_hash=expected_hash) if model is not None else None
        with self._large_job():
            return await super().save_body(raw, path, expected_hash=expected_hash)

    def _write_prepared(self, model: Model, path: str, must_create: bool) -> Saved:
        """The rest of a save :func:`prepare_save_body` prepared: the target's checks, then the
        write (which stores the signature once written), as :meth:`_prepare_and_write`."""
        target = self._save_target(model, path, must_create)
        prepared: PreparedNotebook = model["content"]
        if prepared.serialized is None:
            raise InvalidInput(prepared.refusal or "Unusable notebook content.")
        return self._write(target, model, prepared.serialized, must_create, prepared.signature)

    def _prepare_and_write(self, model: Model, path: str, must_create: bool) -> Saved:
        """A small notebook's save (see ``small_notebook_bytes``) in one trip: :meth:`_prepare_notebook`,
        its signature when it is to be signed, then :meth:`_write` (which stores it once written)."""
        target, notebook, signed = self._prepare_notebook(model, path, must_create)
        content = model.get("content")
        signature = self.notary.digest(content, replying=False) if signed and isinstance(content, dict) else None
        return self._write(target, model, notebook, must_create, signature)

    def _save(self, model: Model, path: str, must_create: bool) -> Saved:
        return self._write(self._save_target(model, path, must_create), model, None, must_create)

    def _write(self, target: Lookup, model: Model, notebook: SerializedNotebook | None,
               must_create: bool, signature: str | None = None) -> Saved:
        """Write ``model`` at the resolved ``target``; a notebook's content may come encoded,
        with the signature to store once it is written."""
        path, os_path = target.path, target.os_path
        kind = model.get("type")
        if kind == "directory":
            return Saved(*self._make_directory(target, must_create))
        if kind == "notebook":
            notebook = notebook or encode_notebook(model.get("content"))
            data: bytes | Iterable[bytes] = notebook.chunks
        else:
            raw = decode_file_content(model.get("content"), model.get("format") or "text")
            chunk = model.get("chunk")
            if chunk is not None:
                self.file_writer.append_chunk(os_path, raw, first=(chunk == 1))
                if chunk != -1:
                    return Saved(self._saved_model(path, self.file_writer.staging_path(os_path)), target.info is None)
                digest, created = self._commit_upload(target, must_create)
                return Saved(self._reply(path, os_path, digest, None), created)
            data = raw
        digest, written, created = self._write_file(target, data, must_create)
        message = notebook.message if notebook is not None else None
        if notebook is not None and notebook.verdict_holds_on_disk:
            self._known.verdicts.store(file_version(os.path.realpath(os_path), written), message)
        if signature is not None:
            self.notary.sign(signature)
        return Saved(self._reply(path, os_path, digest, message), created)

    def _write_file(self, target: Lookup, data: bytes | Iterable[bytes],
                    must_create: bool) -> tuple[str, os.stat_result, bool]:
        """(SHA-256, stat, created) of writing ``data`` over the file at ``target`` or as a new one."""
        if target.info is None and not os.path.islink(target.os_path):  # a dangling link is written through
            return self._create_file(target, data, must_create)
        if must_create:
            raise Conflict(f"A file or directory already exists at {target.path}")
        digest, written = self.file_writer.write(target.os_path, data)
        return digest, written, False

    def _create_file(self, target: Lookup, data: bytes | Iterable[bytes],
                     must_create: bool) -> tuple[str, os.stat_result, bool]:
        """Create the file at the free ``target`` whole: (SHA-256, stat, created).

        The bytes are written and fsynced under a hidden name, then hard-linked to the target
        name: the file appears complete or not at all, and of concurrent creators the OS makes
        exactly one the creator (``link`` fails with EEXIST for the others, whose save then
        replaces the file as a save over an existing file does; with ``must_create``, Conflict).
        """
        temp = self.file_writer.derived_path(target.os_path, "new")
        digest, written = self.file_writer.write(temp, data)
        try:
            created = self._link_new_file(temp, target, must_create)
        finally:
            fileio.unlink_quietly(temp)
        fileio.fsync_directory(os.path.dirname(target.os_path))
        return digest, written, created

    def _link_new_file(self, temp: str, target: Lookup, must_create: bool) -> bool:
        """Give the complete file ``temp`` the name of ``target``; True when that created it."""
        try:
            os.link(temp, target.os_path, follow_symlinks=False)
            return True
        except FileExistsError:
            if must_create:
                raise Conflict(f"A file or directory already exists at {target.path}") from None
            os.rename(temp, target.os_path)  # another client made it a moment ago: this save replaces theirs
            return False
        except OSError as exc:
            if exc.errno not in NO_HARD_LINKS:
                raise
        # No hard links on this filesystem: an empty file made with O_EXCL decides, then is replaced.
        claim = self._claim_new_file(target, must_create)
        try:
            os.rename(temp, target.os_path)
        except BaseException:
            if claim is not None:
                with contextlib.suppress(OSError):
                    now = os.lstat(target.os_path)
                    if (now.st_ino, now.st_size) == (claim.st_ino, 0):
                        os.unlink(target.os_path)  # still the empty file this save made
            raise
        return claim is not None

    def _commit_upload(self, target: Lookup, must_create: bool, staging: str | None = None,
                       digest: str | None = None) -> tuple[str, bool]:
        """(SHA-256, created) of putting a finished upload (by default the chunked one) at ``target``.

        Over an existing file, as the writer commits any upload; at a free path, linked into
        place whole like any new file (:meth:`_create_file`). ``digest``: the staged bytes'
        SHA-256 when the writer of the staging file computed it (else the file is read for it).
        """
        if target.info is not None or os.path.islink(target.os_path):
            if must_create:
                raise Conflict(f"A file or directory already exists at {target.path}")
            if target.info is not None and stat.S_ISDIR(target.info.st_mode):
                raise Conflict(f"A directory exists at {target.path}")
            return self.file_writer.commit_staged(target.os_path, staging, digest), False
        staging = staging or self.file_writer.staging_path(target.os_path)
        digest = digest or fileio.file_sha256(staging)
        fd = os.open(staging, os.O_RDONLY | os.O_CLOEXEC)
        try:
            if stat.S_IMODE(os.fstat(fd).st_mode) != fileio.NEW_FILE_MODE:  # a chmod is a metadata change to commit
                os.fchmod(fd, fileio.NEW_FILE_MODE)
            os.fsync(fd)
        finally:
            os.close(fd)
        created = self._link_new_file(staging, target, must_create)
        fileio.unlink_quietly(staging)
        fileio.fsync_directory(os.path.dirname(target.os_path))
        return digest, created

    def place_staged_file(self, staging: str, path: str, replace: bool,
                          digest: str | None = None) -> tuple[Model, bool]:
        """Put the complete file ``staging`` at ``path``: (the saved model, whether it created it). Blocking.

        ``staging`` must be in the target's folder (``file_writer.scratch_path``, so a killed
        server's leftover is swept at start-up). Over an existing file (only with ``replace``,
        else Conflict) it keeps that file's identity as a save does; a new file appears whole.
        ``digest``: the staged bytes' hex SHA-256 if the caller has it (saves reading them again).
        """
        target = self._lookup(path, writing=True)
        if not target.path:
            raise InvalidInput("The root is a directory; give a file path.")
        digest, created = self._commit_upload(target, must_create=not replace, staging=staging, digest=digest)
        return self._reply(target.path, target.os_path, digest, None), created

    @staticmethod
    def _claim_new_file(target: Lookup, must_create: bool) -> os.stat_result | None:
        """Create an empty file at the free ``target`` with O_EXCL (the OS picks one of concurrent
        creators); its stat, or None when another client made it first (Conflict if ``must_create``).
        """
        try:
            fd = os.open(target.os_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            if must_create:
                raise Conflict(f"A file or directory already exists at {target.path}") from None
            return None
        try:
            return os.fstat(fd)
        finally:
            os.close(fd)

    def _reply(self, path: str, os_path: str, digest: str, message: str | None) -> Model:
        """The reply to a save: the model of what is on disk, with the hash and validation message."""
        saved = self._saved_model(path, os_path)
        saved.update(hash=digest, hash_algorithm=HASH_ALGORITHM)
        if message:
            saved["message"] = message
        return saved

    def _make_directory(self, target: Lookup, must_create: bool) -> tuple[Model, bool]:
        """(model, created) of the folder at ``target``, made unless it is there already."""
        created = False
        if target.info is None:
            try:
                os.mkdir(target.os_path)
                created = True
            except FileExistsError:
                if must_create or not os.path.isdir(target.os_path):
                    raise Conflict(f"A file or directory already exists at {target.path}") from None
        return self._saved_model(target.path, target.os_path), created

    def _saved_model(self, path: str, os_path: str) -> Model:
        """The content-less model of what a write left at ``path``: what GET and listings say."""
        model = self._entry_model(path, os_path, os.stat(os_path))
        if model is None:
            raise Conflict(f"{path} is neither a file nor a directory.")
        return model

    async def save(self, model: Model, path: str, must_create: bool = False, *,
                   expected_hash: str | None = None) -> Saved:
        """See :meth:`ContentsManager.save`. Saves of one path through this server take turns, so
        ``expected_hash`` is checked and the file written with no other save between."""
        path = fileio.normalize_api_path(path)
        lock = self._saving.setdefault(path, asyncio.Lock())
        try:
            async with lock:
                return await self._save_in_turn(model, path, must_create, expected_hash)
        finally:
            if not lock.locked() and self._saving.get(path) is lock:
                del self._saving[path]

    def _current_hash(self, path: str) -> tuple[bool, str | None]:
        """(something is at ``path``, the SHA-256 of its bytes or None for what is not a regular file)."""
        _, os_path = self._checked_os_path(path, writing=True)
        try:
            info = os.stat(os_path)
        except FileNotFoundError:
            return False, None
        if not stat.S_ISREG(info.st_mode):
            return True, None
        digest = hashlib.sha256()
        with open(os_path, "rb") as handle:
            for piece in iter(lambda: handle.read(1 << 20), b""):
                digest.update(piece)
        return True, digest.hexdigest()

    async def _save_in_turn(self, model: Model, path: str, must_create: bool, expected_hash: str | None) -> Saved:
        with os_errors_as("save", path), self._forgetting_replies(path):
            if expected_hash is not None:
                exists, current = await run_blocking(self._current_hash, path)
                check_expected_hash(path, expected_hash, current, exists)
            if isinstance(model.get("content"), PreparedNotebook):  # encoded in a notebook process
                saved = await run_blocking(self._write_prepared, model, path, must_create)
            elif model.get("type") == "notebook":
                # Only the encoding takes one of the notebook_jobs slots: not the write and its fsync.
                if encoded_size_within(model.get("content"), self.small_notebook_bytes):
                    # No slot to wait for: encoded, written and signed in one trip to the thread pool.
                    saved = await run_blocking(self._prepare_and_write, model, path, must_create)
                else:
                    target, notebook, signed = await self._notebook_job(
                        self._prepare_notebook, model, path, must_create)
                    saved = await self._write_and_sign(target, model, notebook, must_create, signed)
            else:
                saved = await run_blocking(self._save, model, path, must_create)
        await self.notify_saved(saved.model["path"])
        return saved

    async def _write_and_sign(self, target: Lookup, model: Model, notebook: SerializedNotebook,
                              must_create: bool, signed: bool) -> Saved:
        """Write a large encoded notebook and, when ``signed``, store its signature once it is written.
        Its signature (the HMAC walk, most of it holding the GIL) is computed in another pool thread
        while this write waits for the disk (a small one's: see :meth:`_prepare_and_write`)."""
        content = model.get("content")
        if not signed or not isinstance(content, dict):
            return await run_blocking(self._write, target, model, notebook, must_create)
        signing = asyncio.ensure_future(run_blocking(self.notary.digest, content, False))
        try:
            saved = await run_blocking(self._write, target, model, notebook, must_create)
        finally:
            signature = await signing
        await run_blocking(self.notary.sign, signature)
        return saved

    @contextlib.contextmanager
    def _forgetting_replies(self, *paths: str) -> Iterator[None]:
        """Forget the kept GET replies of ``paths`` (and below) once a write is over, whether or
        not it succeeded; other notebooks' replies stay (their stamps guard them)."""
        try:
            yield
        finally:
            self.replies.forget(*paths)

    # -- the other primitives ----------------------------------------------------------

    def _delete_file(self, path: str) -> None:
        os_path = self.visible_os_path(path)
        if os.path.isdir(os_path) and not os.path.islink(os_path):
            if os.path.ismount(os_path):  # rmtree would empty it, then fail to remove it (EBUSY)
                raise OSError(errno.EBUSY, "a mount point cannot be deleted", os_path)
            shutil.rmtree(os_path)
        else:
            os.unlink(os_path)

    async def delete(self, path: str) -> None:
        if self.delete_to_trash and self.trasher is not None:
            path = fileio.normalize_api_path(path)
            self.refuse_hidden("delete", path)  # the same refusal as a permanent delete
            with self._forgetting_replies(path):
                await self.trasher(path)
            return
        await super().delete(path)

    async def delete_file(self, path: str) -> None:
        path = fileio.normalize_api_path(path)
        with os_errors_as("delete", path), self._forgetting_replies(path):
            await run_blocking(self._delete_file, path)

    def _free_target(self, path: str) -> Lookup:
        """The lookup of a path a rename or copy will create: Conflict when taken, NotFound without a parent."""
        target = self._lookup(path, writing=True)
        if not target.path:
            raise InvalidInput("Nothing can be renamed or copied to the root directory.")
        if target.info is not None or os.path.lexists(target.os_path):
            raise Conflict(f"A file or directory already exists at {target.path}")
        if not os.path.isdir(os.path.dirname(target.os_path)):
            raise NotFound(f"No such directory: {target.path.rpartition('/')[0]}")
        return target

    @staticmethod
    def _refuse_into_itself(source: str, target: str, verb: str) -> None:
        if os.path.isdir(source) and not os.path.islink(source):
            if fileio.is_inside(os.path.realpath(source), os.path.realpath(target)):
                raise InvalidInput(f"A folder cannot be {verb} into itself.")

    def _rename_file(self, old_path: str, new_path: str) -> None:
        old_path, source = self._checked_os_path(old_path, writing=False)
        if not os.path.lexists(source):
            raise NotFound(f"No such file or directory: {old_path}")
        target = self._free_target(new_path)
        self._refuse_into_itself(source, target.os_path, "moved")
        moves.move(source, target.os_path, self.file_writer)

    async def rename_file(self, old_path: str, new_path: str) -> None:
        old_path, new_path = fileio.normalize_api_path(old_path), fileio.normalize_api_path(new_path)
        with os_errors_as("rename", old_path), self._forgetting_replies(old_path, new_path):
            await run_blocking(self._rename_file, old_path, new_path)

    def _copy_to(self, from_path: str, to_path: str) -> Model:
        from_path, source, info = self._existing(from_path)
        target = self._free_target(to_path)
        if stat.S_ISDIR(info.st_mode):
            self._refuse_into_itself(source, target.os_path, "copied")
            limit = self.max_copy_folder_size_mb * 1024 * 1024
            if moves.folder_size(source, stop_above=limit) > limit:
                raise InvalidInput(f"Cannot copy folders larger than {self.max_copy_folder_size_mb} MB: "
                                   f"{from_path!r} is larger.")
            os.mkdir(target.os_path)  # claims the name; the whole copy is renamed over it
            try:
                moves.copy_whole(source, target.os_path, writer=self.file_writer)
            except BaseException:
                try:
                    os.rmdir(target.os_path)
                except OSError:
                    pass
                raise
            return self._saved_model(target.path, target.os_path)
        digest = self._create_file(target, fileio.read_blocks(source), must_create=True)[0]
        return self._reply(target.path, target.os_path, digest, None)

    async def copy_to(self, from_path: str, to_path: str) -> Model:
        from_path = fileio.normalize_api_path(from_path)
        with os_errors_as("copy", from_path), self._forgetting_replies(fileio.normalize_api_path(to_path)):
            model = await run_blocking(self._copy_to, from_path, to_path)
        await self.notify_saved(model["path"])
        return model

    def _exists_as(self, path: str, test: Callable[[str], bool]) -> bool:
        try:
            return test(self.visible_os_path(path))
        except (NotFound, InvalidInput):
            return False

    async def file_exists(self, path: str) -> bool:
        return await run_blocking(self._exists_as, path, os.path.isfile)

    async def dir_exists(self, path: str) -> bool:
        return await run_blocking(self._exists_as, path, os.path.isdir)

    def _file_or_folder_at(self, path: str) -> bool:
        """Whether a file, else a folder, a client may see is at ``path`` (the path resolved once)."""
        return self._exists_as(path, file_or_folder)

    async def exists(self, path: str) -> bool:
        """As ContentsManager.exists (a file, else a folder), in one trip to the thread pool rather than two."""
        return await run_blocking(self._file_or_folder_at, path)

    def _first_free_name(self, filename: str, path: str, insert: str, keep_extension: bool) -> str:
        return next(candidate for candidate in numbered_names(filename, insert, keep_extension)
                    if not self._file_or_folder_at(posixpath.join(path, candidate)))

    async def increment_filename(self, filename: str, path: str = "", insert: str = "",
                                 keep_extension: bool = True) -> str:
        """As ContentsManager.increment_filename, with every name tried in one trip to the thread pool
        (a create's name search was two trips per name tried)."""
        return await run_blocking(self._first_free_name, filename, path, insert, keep_extension)

    async def resolve_path(self, path: str) -> str | None:
        """As ContentsManager.resolve_path, and also an absolute (or ``~``) path on this machine,
        when it lies inside the root."""
        if "\x00" not in path and (path.startswith("~") or os.path.isabs(path)):
            real = await run_blocking(os.path.realpath, os.path.expanduser(path))
            if not fileio.is_inside(self.real_root, real):
                return None
            path = os.path.relpath(real, self.real_root).replace(os.sep, "/")
        return await super().resolve_path(path)
