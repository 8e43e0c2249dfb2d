"""FileContentsManager: the default contents store, files and folders under ``root_dir``.

All disk work runs in the thread pool (see :mod:`nbserver.blocking`), so a large
file or a folder of many thousands of entries never stalls other clients.
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import errno
import hashlib
import heapq
import os
import shutil
import stat
import threading
from typing import Any, Callable, NamedTuple, TypeVar

from jupyter_core.paths import jupyter_runtime_dir
from traitlets import Bool, Enum, Float, Int, Unicode, default, observe

from nbserver.blocking import run_blocking
from nbserver.errors import Conflict, Forbidden, InvalidInput, NotFound
from nbserver.services.contents import fileio, writejournal
from nbserver.services.contents.checkpoints import FileCheckpoints
from nbserver.services.contents.manager import (
    HASH_ALGORITHM,
    ContentsManager,
    Model,
    decode_file_content,
    encode_file_content,
    file_mimetype,
    is_hidden_path,
    iso_timestamp,
)
from nbserver.services.contents.notebooks import SerializedNotebook, encode_notebook, read_notebook
from nbserver.services.contents.streams import FileStream, OSFileStream
from nbserver.services.contents.validation import validate_notebook

T = TypeVar("T")

#: How many folders' name lists the paged listing keeps.
LISTING_CACHE_SIZE = 16
#: How many notebook file versions' validation verdicts are kept.
VERDICT_CACHE_SIZE = 256

#: Identifies one state of a folder's listing: (OS path, inode, st_mtime_ns, allow_hidden).
ListingKey = tuple[str, int, int, bool]
#: Identifies one version of a file: (real path, device, inode, st_mtime_ns, size).
FileVersion = tuple[str, int, int, int, int]


def file_version(real_path: str, info: os.stat_result) -> FileVersion:
    return (real_path, info.st_dev, info.st_ino, info.st_mtime_ns, info.st_size)


class VerdictCache:
    """Validation messages of notebook file versions (None: valid), least recently used out first.

    Validating a large notebook costs more than parsing it; a file read again unchanged
    (same inode, mtime and size) keeps its verdict.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._verdicts: collections.OrderedDict[FileVersion, str | None] = collections.OrderedDict()
        self._lock = threading.Lock()

    def lookup(self, version: FileVersion) -> tuple[bool, str | None]:
        """(found, message) for a file version."""
        with self._lock:
            if version not in self._verdicts:
                return False, None
            self._verdicts.move_to_end(version)
            return True, self._verdicts[version]

    def store(self, version: FileVersion, message: str | None) -> None:
        with self._lock:
            self._verdicts[version] = message
            self._verdicts.move_to_end(version)
            while len(self._verdicts) > self._size:
                self._verdicts.popitem(last=False)


class NameListing(NamedTuple):
    """A folder's visible names; sorted only once a page after the first needs them in order."""

    names: list[str]
    is_sorted: bool
    #: Until then, the smallest names in order, as many as a first page has asked for.
    head: list[str]


class FileContentsManager(ContentsManager):
    """Files and folders on the local filesystem, contained in ``root_dir``."""

    root_dir = Unicode(help="The folder served; nothing outside it is reachable.").tag(config=True)
    allow_symlinks_outside_root = Bool(
        False,
        help="Follow symbolic links that point outside root_dir (for linked-in data folders).",
    ).tag(config=True)
    notebook_jobs = Int(
        min=1,
        help="How many notebooks are parsed or serialized at once; more requests wait their turn. "
        "Each holds several times its file size in memory, and more at once than cores gains nothing.",
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
    write_journal_dir = Unicode(
        help="Folder of the journals that let a start-up find and finish a killed server's writes "
        "(default: nbserver-writes in the Jupyter runtime folder).",
    ).tag(config=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._listing_cache: dict[ListingKey, NameListing] = {}
        self._listing_lock = threading.Lock()
        self._writer_lock = threading.Lock()
        self._verdicts = VerdictCache(VERDICT_CACHE_SIZE)
        self._notebook_slots: asyncio.Semaphore | None = None
        self._notebook_slots_loop: asyncio.AbstractEventLoop | None = None

    @default("notebook_jobs")
    def _default_notebook_jobs(self) -> int:
        return os.cpu_count() or 2

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

    def os_path(self, path: str) -> str:
        """The contained OS path for an API path (hidden or not)."""
        return fileio.resolve_inside_root(self.real_root, path, self.allow_symlinks_outside_root)

    def visible_os_path(self, path: str) -> str:
        """The OS path for an API path a client may see: hidden paths are not found."""
        if not self.allow_hidden and is_hidden_path(path):
            raise NotFound(f"No such file or directory: {fileio.normalize_api_path(path)}")
        return self.os_path(path)

    def writable_os_path(self, path: str) -> str:
        """The OS path for an API path a client may create or change."""
        if not self.allow_hidden and is_hidden_path(path):
            raise InvalidInput("Hidden files and folders cannot be created or changed here.")
        return self.os_path(path)

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
            return [name for name in names if not name.startswith(fileio.STAGING_PREFIX)]
        # Staging names start with "." too. name[0] is twice as fast as startswith on 100,000 names.
        return [name for name in names if name[0] != "."]

    def _child_model(self, parent_path: str, name: str, os_path: str, is_link: bool) -> Model | None:
        """The content-less model of one directory entry, or None when it is not shown."""
        if is_link and not self.allow_symlinks_outside_root:
            if not fileio.is_inside(self.real_root, os.path.realpath(os_path)):
                return None
        try:
            info = os.stat(os_path)
        except OSError:
            return None  # a broken link, or a file removed while we listed
        child_path = f"{parent_path}/{name}" if parent_path else name
        if stat.S_ISDIR(info.st_mode):
            child = self._base_model(child_path, os_path, info)
            child.update(type="directory", size=None)
        elif stat.S_ISREG(info.st_mode):
            child = self._base_model(child_path, os_path, info)
            if name.endswith(".ipynb"):
                child["type"] = "notebook"
            else:
                child["mimetype"] = file_mimetype(name, None)
        else:
            return None  # sockets, fifos, devices are not contents
        return child

    def _directory_model(self, path: str, os_path: str, info: os.stat_result, content: bool) -> Model:
        model = self._base_model(path, os_path, info)
        model.update(type="directory", size=None)
        if not content:
            return model
        children = []
        hidden = fileio.STAGING_PREFIX if self.allow_hidden else "."  # staging names start with "." too
        with os.scandir(os_path) as entries:
            for entry in entries:
                if not entry.name.startswith(hidden):
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
        path = fileio.normalize_api_path(path)
        os_path = self.visible_os_path(path)
        info = self._stat(path, os_path)
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
        require_hash: bool,
    ) -> Model:
        model = self._base_model(path, os_path, info)
        model["type"] = "notebook"
        if format not in (None, "json"):
            raise InvalidInput(f"Format {format!r} is not valid for a notebook; use json.")
        if content or require_hash:
            raw, version = self._read_notebook_file(os_path)
            if content:
                nb, note = read_notebook(raw)
                model.update(content=nb, format="json")
                message = " ".join(filter(None, (note, self._notebook_verdict(nb, version))))
                if message:
                    model["message"] = message
            if require_hash:
                model.update(hash=hashlib.sha256(raw).hexdigest(), hash_algorithm=HASH_ALGORITHM)
        return model

    @staticmethod
    def _read_notebook_file(os_path: str) -> tuple[bytes, FileVersion | None]:
        """A file's bytes and the version they are (None when the file changed while it was read)."""
        try:
            with open(os_path, "rb") as handle:
                before = os.fstat(handle.fileno())
                raw = handle.read()
                after = os.fstat(handle.fileno())
        except PermissionError:
            raise Forbidden("Permission denied reading this file.") from None
        unchanged = (before.st_mtime_ns, before.st_size) == (after.st_mtime_ns, len(raw))
        return raw, file_version(os.path.realpath(os_path), after) if unchanged else None

    def _notebook_verdict(self, nb: Any, version: FileVersion | None) -> str | None:
        """The validation message of a notebook read from file ``version``, remembered per version."""
        if version is not None:
            found, message = self._verdicts.lookup(version)
            if found:
                return message
        verdict = validate_notebook(nb)
        if version is not None and verdict.repeatable:
            self._verdicts.store(version, verdict.message)
        return verdict.message

    @staticmethod
    def _read_bytes(os_path: str) -> bytes:
        try:
            with open(os_path, "rb") as handle:
                return handle.read()
        except PermissionError:
            raise Forbidden("Permission denied reading this file.") from None

    @staticmethod
    def _stat(path: str, os_path: str) -> os.stat_result:
        try:
            return os.stat(os_path)
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(f"No such file or directory: {path}") from None
        except PermissionError:
            raise Forbidden(f"Permission denied: {path}") from None

    def _get(self, path: str, content: bool, type: str | None, format: str | None,
             require_hash: bool) -> Model:
        path = fileio.normalize_api_path(path)
        os_path = self.visible_os_path(path)
        info = self._stat(path, os_path)
        if stat.S_ISDIR(info.st_mode):
            if type not in (None, "directory"):
                raise InvalidInput(f"{path or 'The root'} is a directory, not a {type}.")
            if format not in (None, "json"):
                raise InvalidInput(f"Format {format!r} is not valid for a directory; use json.")
            try:
                return self._directory_model(path, os_path, info, content)
            except PermissionError:
                raise Forbidden(f"Permission denied listing {path}") from None
        if not stat.S_ISREG(info.st_mode):
            raise NotFound(f"No such file or directory: {path}")
        if type == "directory":
            raise InvalidInput(f"{path} is not a directory.")
        if type == "notebook" or (type is None and path.endswith(".ipynb")):
            return self._notebook_model(path, os_path, info, content, format, require_hash)
        return self._file_model(path, os_path, info, content, format, require_hash)

    async def get(self, path: str, content: bool = True, type: str | None = None,
                  format: str | None = None, require_hash: bool = False) -> Model:
        if content and (type == "notebook" or (type is None and path.endswith(".ipynb"))):
            return await self._notebook_job(self._get, path, content, type, format, require_hash)
        return await run_blocking(self._get, path, content, type, format, require_hash)

    def _open_file(self, path: str) -> OSFileStream:
        path = fileio.normalize_api_path(path)
        os_path = self.visible_os_path(path)
        try:
            return OSFileStream.open(os_path)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise NotFound(f"No such file: {path}") from None
        except PermissionError:
            raise Forbidden(f"Permission denied: {path}") from None

    async def open_file(self, path: str) -> FileStream:
        """The regular file at ``path`` open by descriptor; its reads run in the thread pool."""
        return await run_blocking(self._open_file, path)

    async def _notebook_job(self, func: Callable[..., T], *args: Any) -> T:
        """Run notebook parsing or serializing in the thread pool, at most ``notebook_jobs`` at once."""
        loop = asyncio.get_running_loop()
        if self._notebook_slots is None or self._notebook_slots_loop is not loop:
            self._notebook_slots = asyncio.Semaphore(self.notebook_jobs)
            self._notebook_slots_loop = loop
        async with self._notebook_slots:
            return await run_blocking(func, *args)

    # -- saving ------------------------------------------------------------------------

    def _save_target(self, model: Model, path: str) -> str:
        """The OS path to save ``model`` at (a normalized API path); the errors a save can meet first."""
        kind = model.get("type")
        if not path and kind != "directory":
            raise InvalidInput("The root is a directory; give a file path.")
        os_path = self.writable_os_path(path)
        if path and not os.path.isdir(os.path.dirname(os_path)):
            raise NotFound(f"No such directory: {path.rpartition('/')[0]}")
        if kind != "directory" and os.path.isdir(os_path):
            raise Conflict(f"A directory exists at {path}")
        if kind == "notebook" and model.get("chunk") is not None:
            raise InvalidInput("Notebooks cannot be uploaded in chunks; upload as a file.")
        return os_path

    def _encode_notebook_for(self, model: Model, path: str) -> SerializedNotebook:
        self._save_target(model, fileio.normalize_api_path(path))  # a bad target is reported first
        return encode_notebook(model.get("content"))

    def _save(self, model: Model, path: str, notebook: SerializedNotebook | None = None) -> Model:
        """Save ``model``; a notebook's content may come already encoded (``notebook``)."""
        path = fileio.normalize_api_path(path)
        kind = model.get("type")
        os_path = self._save_target(model, path)
        if kind == "directory":
            self._save_directory(path, os_path)
            return self._get(path, False, None, None, False)
        message = None
        chunk = model.get("chunk")
        if kind == "notebook":
            notebook = notebook or encode_notebook(model.get("content"))
            message = notebook.message
            digest, written = self.file_writer.write(os_path, notebook.chunks)
            if notebook.verdict_holds_on_disk:
                self._verdicts.store(file_version(os.path.realpath(os_path), written), message)
        else:
            raw = decode_file_content(model.get("content"), model.get("format") or "text")
            if chunk is None:
                digest = self.file_writer.write(os_path, raw)[0]
            else:
                self.file_writer.append_chunk(os_path, raw, first=(chunk == 1))
                if chunk != -1:
                    return self._staged_model(path, os_path)
                digest = self.file_writer.commit_staged(os_path)
        saved = self._get(path, False, kind, None, False)
        saved.update(hash=digest, hash_algorithm=HASH_ALGORITHM)
        if message:
            saved["message"] = message
        return saved

    def _save_directory(self, path: str, os_path: str) -> None:
        if os.path.isdir(os_path):
            return
        if os.path.lexists(os_path):
            raise Conflict(f"A file exists at {path}")
        try:
            os.mkdir(os_path)
        except FileExistsError:
            pass
        except PermissionError:
            raise Forbidden(f"Permission denied creating {path}") from None

    def _staged_model(self, path: str, os_path: str) -> Model:
        """The model of a file whose chunked upload is still in progress."""
        staging = self.file_writer.staging_path(os_path)
        model = self._base_model(path, staging, os.stat(staging))
        model["mimetype"] = file_mimetype(model["name"], None)
        return model

    async def save(self, model: Model, path: str) -> Model:
        try:
            if model.get("type") == "notebook":
                # Only the encoding takes one of the notebook_jobs slots: not the write and its fsync.
                notebook = await self._notebook_job(self._encode_notebook_for, model, path)
                return await run_blocking(self._save, model, path, notebook)
            return await run_blocking(self._save, model, path)
        except PermissionError:
            raise Forbidden("Permission denied writing this file.") from None

    # -- the other primitives ----------------------------------------------------------

    def _delete_file(self, path: str) -> None:
        os_path = self.visible_os_path(path)
        try:
            if os.path.isdir(os_path) and not os.path.islink(os_path):
                shutil.rmtree(os_path)
            else:
                os.unlink(os_path)
        except FileNotFoundError:
            raise NotFound(f"No such file or directory: {path}") from None
        except PermissionError:
            raise Forbidden(f"Permission denied deleting {path}") from None

    async def delete_file(self, path: str) -> None:
        await run_blocking(self._delete_file, fileio.normalize_api_path(path))

    def _rename_file(self, old_path: str, new_path: str) -> None:
        old_os_path = self.visible_os_path(old_path)
        new_os_path = self.writable_os_path(new_path)
        if not os.path.lexists(old_os_path):
            raise NotFound(f"No such file or directory: {old_path}")
        if os.path.lexists(new_os_path):
            raise Conflict(f"A file or directory already exists at {new_path}")
        if not os.path.isdir(os.path.dirname(new_os_path)):
            raise NotFound(f"No such directory: {new_path.rpartition('/')[0]}")
        try:
            os.rename(old_os_path, new_os_path)
        except OSError as exc:
            if exc.errno == errno.EINVAL:
                raise InvalidInput("A folder cannot be moved into itself.") from None
            if exc.errno in (errno.EACCES, errno.EPERM):
                raise Forbidden(f"Permission denied renaming {old_path}") from None
            raise

    async def rename_file(self, old_path: str, new_path: str) -> None:
        await run_blocking(
            self._rename_file, fileio.normalize_api_path(old_path), fileio.normalize_api_path(new_path)
        )

    def _copy_to(self, from_path: str, to_path: str) -> Model:
        source = self.visible_os_path(from_path)
        target = self.writable_os_path(to_path)
        if os.path.lexists(target):
            raise Conflict(f"A file or directory already exists at {to_path}")
        if not os.path.isdir(os.path.dirname(target)):
            raise NotFound(f"No such directory: {to_path.rpartition('/')[0]}")
        if os.path.isdir(source):
            if fileio.is_inside(os.path.realpath(source), os.path.realpath(target)):
                raise InvalidInput("A folder cannot be copied into itself.")
            shutil.copytree(source, target, symlinks=True)
            return self._get(to_path, False, None, None, False)
        with open(source, "rb") as handle:
            digest = self.file_writer.write(target, iter(lambda: handle.read(1 << 20), b""))[0]
        saved = self._get(to_path, False, None, None, False)
        saved.update(hash=digest, hash_algorithm=HASH_ALGORITHM)
        return saved

    async def copy_to(self, from_path: str, to_path: str) -> Model:
        return await run_blocking(self._copy_to, from_path, to_path)

    def _exists_as(self, path: str, test: Any) -> bool:
        try:
            return bool(test(self.visible_os_path(path)))
        except (NotFound, InvalidInput):
            return False

    async def file_exists(self, path: str) -> bool:
        return await run_blocking(self._exists_as, path, os.path.isfile)

    async def dir_exists(self, path: str) -> bool:
        return await run_blocking(self._exists_as, path, os.path.isdir)

    async def resolve_path(self, path: str) -> str | None:
        """As ContentsManager.resolve_path, and also an absolute (or ``~``) path on this machine,
        when it lies inside the root."""
        if "\x00" not in path and (path.startswith("~") or os.path.isabs(path)):
            real = await run_blocking(os.path.realpath, os.path.expanduser(path))
            if not fileio.is_inside(self.real_root, real):
                return None
            path = os.path.relpath(real, self.real_root).replace(os.sep, "/")
        return await super().resolve_path(path)
