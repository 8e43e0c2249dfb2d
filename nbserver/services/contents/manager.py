"""The ContentsManager interface that every contents store implements, and model helpers.

A store implements the primitives (``get``, ``save``, ``delete_file``,
``rename_file``, ``file_exists``, ``dir_exists``); this class builds the rest on
them (``new_untitled``, ``copy``, ``rename``, ``delete``, checkpoints), so the
REST handlers know only this interface.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import functools
import itertools
import json
import mimetypes
import posixpath
import re
from datetime import datetime
from typing import Any, Awaitable, Callable, Iterator, NamedTuple

from traitlets import Bool, Instance, Int, Type, Unicode, default, observe
from traitlets.config import LoggingConfigurable

from nbserver.errors import Conflict, InvalidInput, NotFound, PreconditionFailed, ServiceUnavailable
from nbserver.services.contents.checkpoints import CheckpointModel, Checkpoints
from nbserver.services.contents.fileio import normalize_api_path, split_api_path
from nbserver.blocking import run_blocking
from nbserver.services.contents.notary import NotebookNotary, take_cell_trust
from nbserver.services.contents.modeltypes import CONTENT_TYPES as CONTENT_TYPES
from nbserver.services.contents.modeltypes import FILE_FORMATS as FILE_FORMATS
from nbserver.services.contents.modeltypes import HASH_ALGORITHM as HASH_ALGORITHM
from nbserver.services.contents.modeltypes import Model as Model
from nbserver.services.contents.notebookdiff import diff_notebooks
from nbserver.services.contents.notebooks import empty_notebook
from nbserver.services.contents.replycache import EncodedReply, ReplyCache, encode_reply
from nbserver.services.contents.savebody import read_save_body
from nbserver.services.contents.streams import BytesFileStream, FileStream
from nbserver.timestamps import iso_timestamp as iso_timestamp  # models are stamped with it

#: Called as ``await listener(old_path, new_path)`` after a rename or move.
RenameListener = Callable[[str, str], Awaitable[None]]
#: Called as ``await listener(path)`` after a file or folder was deleted for good.
DeleteListener = Callable[[str], Awaitable[None]]
#: Called as ``await listener(path)`` after a file, notebook or folder was written (saved, created, copied).
SaveListener = Callable[[str], Awaitable[None]]

_COPY_SUFFIX = re.compile(r"-Copy\d*$")
#: How many fresh names new_untitled tries when other clients keep taking the one it picked.
UNTITLED_ATTEMPTS = 10


class Saved(NamedTuple):
    """What a save did: the content-less model of what is now at the path, and whether it made it."""

    #: As GET would give it (a ``.ipynb`` is a notebook even when uploaded as a file), with the hash.
    model: Model
    #: True when nothing was at the path before (HTTP 201); of concurrent creators, only one.
    created: bool


@functools.lru_cache(maxsize=4096)
def guess_mimetype(name: str) -> str | None:
    """``mimetypes.guess_type(name)[0]``, remembered per name: a folder listing asks it for every
    file (about 5 us each, a tenth of a listing's own time), and a name's answer never changes,
    since nbserver adds no types once it runs."""
    return mimetypes.guess_type(name)[0]


def default_type_for(path: str) -> str:
    return "notebook" if path.endswith(".ipynb") else "file"


def decode_file_content(content: Any, format: str) -> bytes:
    """The bytes a file model's content stands for, in the given format.

    Base64 is decoded as Jupyter Server decodes it (``base64.decodebytes``, the same as
    ``b64decode`` without ``validate``): characters outside the alphabet (line breaks, spaces)
    are skipped, padding is required, and decoding stops at the first padded end. A
    ``data:...;base64,`` prefix is not special (JupyterLab strips it before sending).
    """
    if not isinstance(content, str):
        raise InvalidInput("A file's content must be a string.")
    if format == "text":
        return content.encode("utf-8", errors="surrogateescape")
    try:
        return base64.b64decode(content.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise InvalidInput("The content is not valid base64.") from None


def encode_file_content(raw: bytes, format: str | None, path: str) -> tuple[str, str]:
    """(content, format) for a file's bytes; text when asked or when it is UTF-8."""
    if format in (None, "text"):
        try:
            return raw.decode("utf-8"), "text"
        except UnicodeDecodeError:
            if format == "text":
                raise InvalidInput(f"{path} is not UTF-8 encoded; ask for format=base64.") from None
    return base64.b64encode(raw).decode("ascii"), "base64"


def file_mimetype(name: str, format: str | None) -> str | None:
    guessed = guess_mimetype(name)
    if guessed or format is None:
        return guessed
    return "text/plain" if format == "text" else "application/octet-stream"


def is_hidden_path(path: str) -> bool:
    """True when any component of the API path starts with a dot."""
    return any(part.startswith(".") for part in split_api_path(path))


def hidden_write_refused(verb: str, path: str) -> InvalidInput:
    """The 400 for a write addressing a hidden path while ``allow_hidden`` is off.

    Jupyter Server refuses these writes with 400 ("Cannot <verb> file or directory ...") where
    reads of the same paths are 404; the message says why.
    """
    return InvalidInput(f"Cannot {verb} file or directory {normalize_api_path(path)!r}: it is hidden "
                        "(names starting with a dot are not served).")


def check_expected_hash(path: str, expected_hash: str | None, current_hash: str | None, exists: bool) -> None:
    """Raise PreconditionFailed when a save's ``expected_hash`` (a SHA-256 as GET ?hash=1 and
    every save reply give it, or ``"*"``) does not match what is at ``path`` now: ``exists``,
    with ``current_hash`` (None for a folder). The rule of ``If-Match`` (RFC 9110, 13.1.1),
    with the contents hash as the entity tag; nothing to check without ``expected_hash``."""
    if expected_hash is None or (expected_hash == "*" and exists):
        return
    if not exists or current_hash != expected_hash:
        raise PreconditionFailed(f"{path} changed since the version this save was based on "
                                 "(If-Match); fetch it again.", code="precondition_failed")


def numbered_names(filename: str, insert: str = "", keep_extension: bool = True) -> Iterator[str]:
    """``filename``, then ``name{insert}1.ext``, ``name{insert}2.ext``... without end: the names
    :meth:`ContentsManager.increment_filename` tries in turn (Jupyter Server's order)."""
    stem, ext = posixpath.splitext(filename) if keep_extension else (filename, "")
    yield f"{stem}{ext}"
    for number in itertools.count(1):
        yield f"{stem}{insert}{number}{ext}"


class ContentsManager(LoggingConfigurable):
    """The abstract contents store: subclasses implement the primitives marked so."""

    allow_hidden = Bool(
        False, help="Whether hidden files and folders (names starting with a dot) are listed and served."
    ).tag(config=True)
    untitled_notebook = Unicode("Untitled", help="Base name of new notebooks.").tag(config=True)
    untitled_file = Unicode("untitled", help="Base name of new files.").tag(config=True)
    untitled_directory = Unicode("Untitled Folder", help="Base name of new folders.").tag(config=True)

    checkpoints_class = Type(klass=Checkpoints, help="The checkpoint store class.").tag(config=True)
    reply_cache_bytes = Int(
        64 * 1024 * 1024, min=0,
        help="Bytes: encoded replies to notebook GETs kept to answer the next GET of the unchanged file "
        "(least recently used out first; 0 keeps none). See replycache.py for when a file counts as unchanged.",
    ).tag(config=True)
    checkpoints = Instance(Checkpoints)
    notary = Instance(NotebookNotary, help="Signs notebooks this user saves or trusts (see notary.py).")

    @default("notary")
    def _default_notary(self) -> NotebookNotary:
        """nbformat's SQLite signature store; the server's PostgreSQL database when one is set
        (``Database.url``), so that every replica trusts what one of them signed."""
        database = getattr(self, "database", None) or getattr(self.parent, "database", None)
        if getattr(database, "configured", False):
            from nbserver.services.contents.postgres.notary import PostgresNotebookNotary

            return PostgresNotebookNotary(database=database, parent=self, log=self.log)
        return NotebookNotary(parent=self, log=self.log)

    @default("checkpoints")
    def _default_checkpoints(self) -> Checkpoints:
        return self.checkpoints_class(parent=self, log=self.log)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._rename_listeners: list[RenameListener] = []
        self._delete_listeners: list[DeleteListener] = []
        self._save_listeners: list[SaveListener] = []
        self.replies = ReplyCache(self.reply_cache_bytes)

    @observe("reply_cache_bytes")
    def _reply_cache_bytes_changed(self, change: Any) -> None:
        self.replies = ReplyCache(change["new"])

    def add_rename_listener(self, listener: RenameListener) -> None:
        """Have ``listener(old_path, new_path)`` awaited after every rename (sessions follow files)."""
        self._rename_listeners.append(listener)

    def add_delete_listener(self, listener: DeleteListener) -> None:
        """Have ``listener(path)`` awaited after every permanent delete (ids of the path are forgotten)."""
        self._delete_listeners.append(listener)

    def add_save_listener(self, listener: SaveListener) -> None:
        """Have ``listener(path)`` awaited after every write a store reports with :meth:`notify_saved`."""
        self._save_listeners.append(listener)

    async def notify_saved(self, path: str) -> None:
        """Tell the save listeners (the search index) that ``path`` was written; never raises.

        Stores call it after each successful save or copy; so does any other writer of files
        under the root (uploads), so that what they wrote becomes searchable.
        """
        for listener in self._save_listeners:
            try:
                await listener(path)
            except Exception:
                self.log.exception("A save listener failed for %s", path)

    def recover_interrupted_writes(self) -> None:
        """At start-up, before serving: finish or undo the writes a killed server left half done.

        Blocking. A store whose writes cannot be interrupted half way has nothing to do.
        """

    # -- primitives a store implements -------------------------------------------------

    async def get(
        self,
        path: str,
        content: bool = True,
        type: str | None = None,
        format: str | None = None,
        require_hash: bool = False,
    ) -> Model:
        """The model of the file, notebook or directory at ``path``."""
        raise NotImplementedError

    async def get_reply(self, path: str, content: bool = True, type: str | None = None,
                        format: str | None = None, require_hash: bool = False) -> EncodedReply:
        """The encoded reply to a GET of ``path`` (what :meth:`get` returns, as JSON bytes).

        Stores that can tell an unchanged file serve it again from ``self.replies``.
        """
        return encode_reply(await self.get(path, content, type, format, require_hash))

    async def save(self, model: Model, path: str, must_create: bool = False, *,
                   expected_hash: str | None = None) -> Saved:
        """Store ``model`` at ``path``, resolving the path once; report what it saved and created.

        With ``must_create``, Conflict when anything is at ``path``, decided atomically (of
        concurrent creators exactly one succeeds). With ``expected_hash`` (``If-Match`` of PUT),
        PreconditionFailed unless the file there now has that hash (``"*"``: unless something is
        there), checked with the write (see :func:`check_expected_hash`). Raises NotFound (no
        parent folder), Conflict (a file over a folder or the reverse), InvalidInput (a bad model
        or name).
        """
        raise NotImplementedError

    async def save_body(self, raw: bytes | bytearray, path: str, *, expected_hash: str | None = None) -> Saved | None:
        """Save what a PUT's large raw body asks (see :meth:`save`); None when the body is empty
        (the handler then creates an empty file). The body is parsed in the thread pool
        (:func:`nbserver.services.contents.savebody.read_save_body`; InvalidInput, 400, for a body
        that is not a save's); a store may do more of the save off the event loop."""
        model = await run_blocking(read_save_body, raw)
        return await self.save(model, path, expected_hash=expected_hash) if model is not None else None

    async def close(self) -> None:
        """Release what the store holds (its signature database, worker processes) when the
        server stops; nothing is served through it afterwards."""
        self.notary.close()

    async def delete_file(self, path: str) -> None:
        """Remove a file, or a directory with everything in it."""
        raise NotImplementedError

    async def rename_file(self, old_path: str, new_path: str) -> None:
        """Move ``old_path`` to ``new_path``; Conflict when the target exists."""
        raise NotImplementedError

    async def file_exists(self, path: str) -> bool:
        raise NotImplementedError

    async def dir_exists(self, path: str) -> bool:
        raise NotImplementedError

    async def is_hidden(self, path: str) -> bool:
        return is_hidden_path(path)

    def refuse_hidden(self, verb: str, *paths: str) -> None:
        """Raise InvalidInput (400) when ``allow_hidden`` is off and one of ``paths`` is hidden.

        Every write addressing a hidden path (create, save, copy from or to, rename from or to,
        delete) is refused so, as Jupyter Server refuses it; reads of them stay NotFound.
        """
        if not self.allow_hidden:
            for path in paths:
                if is_hidden_path(path):
                    raise hidden_write_refused(verb, path)

    async def open_file(self, path: str) -> FileStream:
        """The file at ``path`` open for streaming (``/files``): size, mtime, ETag, ranged reads.

        NotFound for a folder, a hidden path or no file at all. A store should override this
        to read its files in pieces; this default fetches the file whole through ``get``, so
        that a store with only the primitives still serves ``/files``.
        """
        try:
            model = await self.get(path, type="file", format="base64")
        except InvalidInput:  # a folder
            raise NotFound(f"No such file: {normalize_api_path(path)}") from None
        mtime = datetime.fromisoformat(model["last_modified"].replace("Z", "+00:00")).timestamp()
        return BytesFileStream(base64.b64decode(model["content"]), mtime)

    # -- built on the primitives -------------------------------------------------------

    async def exists(self, path: str) -> bool:
        return await self.file_exists(path) or await self.dir_exists(path)

    async def resolve_path(self, path: str) -> str | None:
        """The API path that ``path`` names, when a file or folder a client may see is there.

        ``path`` is relative to the root; ``.`` and ``..`` are resolved, and a path that leaves
        the root resolves to None, as does one naming nothing. The "server" scope of
        ``GET /api/resolvePath`` (Jupyter Server's route); stores on disk also take absolute paths.
        """
        if "\x00" in path or posixpath.isabs(path):
            return None
        normalized = posixpath.normpath(path)
        if normalized == ".." or normalized.startswith("../"):
            return None
        api_path = "" if normalized == "." else normalized
        return api_path if await self.exists(api_path) else None

    async def delete(self, path: str) -> None:
        path = normalize_api_path(path)
        self.refuse_hidden("delete", path)
        if not path:
            raise InvalidInput("The root directory cannot be deleted.")
        if not await self.exists(path):
            raise NotFound(f"No such file or directory: {path}")
        await self.checkpoints.delete_all_checkpoints(path)
        await self.delete_file(path)
        for listener in self._delete_listeners:
            try:
                await listener(path)
            except Exception:
                self.log.exception("A delete listener failed for %s", path)

    async def rename(self, old_path: str, new_path: str) -> Model:
        old_path, new_path = normalize_api_path(old_path), normalize_api_path(new_path)
        self.refuse_hidden("rename", old_path, new_path)
        if not old_path or not new_path:
            raise InvalidInput("The root directory cannot be renamed, nor anything renamed to it.")
        if old_path != new_path:
            await self.rename_file(old_path, new_path)
            try:
                await self.checkpoints.rename_all_checkpoints(old_path, new_path)
            except Exception:
                # The file has moved, which is what the client asked; an old checkpoint left
                # behind must not make the rename look failed.
                self.log.exception("Checkpoints of %s did not follow it to %s", old_path, new_path)
            for listener in self._rename_listeners:
                try:
                    await listener(old_path, new_path)
                except Exception:
                    self.log.exception("A rename listener failed for %s -> %s", old_path, new_path)
        return await self.get(new_path, content=False)

    async def new(self, model: Model | None, path: str) -> Model:
        """Create a new, empty file, notebook or directory at ``path``; Conflict when it exists."""
        model = dict(model or {})
        kind = model.setdefault("type", default_type_for(path))
        if kind == "notebook":
            model.setdefault("content", empty_notebook())
            model.setdefault("format", "json")
        elif kind == "file":
            model.setdefault("content", "")
            model.setdefault("format", "text")
        return (await self.save(model, path, must_create=True)).model

    async def new_untitled(self, path: str = "", type: str | None = None, ext: str = "",
                           content: Any = None) -> Model:
        """Create ``Untitled.ipynb``, ``untitled.txt``, ``Untitled Folder``... in directory ``path``,
        empty or holding ``content`` (a notebook dict, or text)."""
        path = normalize_api_path(path)
        self.refuse_hidden("create", path)
        if not await self.dir_exists(path):
            raise NotFound(f"No such directory: {path}")
        if type is None:
            type = "notebook" if ext == ".ipynb" else "file"
        if type == "directory":
            filename, insert, keep_extension = self.untitled_directory, " ", False
        elif type == "notebook":
            filename, insert, keep_extension = self.untitled_notebook + ".ipynb", "", True
        elif type == "file":
            filename, insert, keep_extension = self.untitled_file + ext, "", True
        else:
            raise InvalidInput(f"Unknown type {type!r}: expected one of {', '.join(CONTENT_TYPES)}.")
        for _ in range(UNTITLED_ATTEMPTS):
            name = await self.increment_filename(filename, path, insert=insert, keep_extension=keep_extension)
            try:
                model: Model = {"type": type} if content is None else {"type": type, "content": content}
                return await self.new(model, posixpath.join(path, name))
            except Conflict:
                continue  # another client took the name between the look and the create
        raise Conflict("Other clients keep creating the same new names here; try again.")

    async def increment_filename(
        self, filename: str, path: str = "", insert: str = "", keep_extension: bool = True
    ) -> str:
        """The first of ``filename``, ``name{insert}1.ext``, ``name{insert}2.ext``... not taken in ``path``.

        Folder names have no extension: pass ``keep_extension=False`` for them.
        """
        for candidate in numbered_names(filename, insert, keep_extension):
            if not await self.exists(posixpath.join(path, candidate)):
                return candidate
        raise AssertionError("unreachable")

    async def copy(self, from_path: str, to_path: str | None = None) -> Model:
        """Copy ``from_path`` into directory ``to_path`` as ``name-Copy1.ext``, or to a new file path.

        When ``to_path`` is an existing directory (or omitted: the source's own
        folder) the copy gets a fresh name there; otherwise ``to_path`` is the new
        file's path and must not exist.
        """
        from_path = normalize_api_path(from_path)
        self.refuse_hidden("copy", from_path, *(() if to_path is None else (to_path,)))
        if not await self.exists(from_path):
            raise NotFound(f"No such file or directory: {from_path}")
        to_path = posixpath.dirname(from_path) if to_path is None else normalize_api_path(to_path)
        if await self.dir_exists(to_path):
            is_file = await self.file_exists(from_path)
            name = posixpath.basename(from_path)
            stem, ext = posixpath.splitext(name) if is_file else (name, "")
            name = await self.increment_filename(
                _COPY_SUFFIX.sub("", stem) + ext, to_path, insert="-Copy", keep_extension=is_file
            )
            to_path = posixpath.join(to_path, name)
        elif await self.file_exists(to_path):
            raise Conflict(f"A file already exists at {to_path}")
        return await self.copy_to(from_path, to_path)

    async def copy_to(self, from_path: str, to_path: str) -> Model:
        """Copy to an exact, free path. Stores may override this with a faster copy."""
        if await self.dir_exists(from_path):
            raise InvalidInput("This store cannot copy directories.")
        model = await self.get(from_path, content=True)
        model.pop("name", None)
        model.pop("path", None)
        return (await self.save(model, to_path, must_create=True)).model

    async def trust_notebook(self, path: str) -> None:
        """Sign the notebook at ``path`` as it is now, so its outputs are trusted (Jupyter
        Server's ``POST /api/contents/<path>/trust``). NotFound; InvalidInput for what is not
        a notebook; ServiceUnavailable when the signature cannot be stored (see the log)."""
        path = normalize_api_path(path)
        model = await self.get(path, content=True)
        if model["type"] != "notebook":
            raise InvalidInput(f"{path or 'The root'} is not a notebook.")
        nb = model["content"]
        take_cell_trust(nb)  # the marks GET added are not part of the signed document
        self.log.warning("Trusting notebook %s", path)
        signed = await run_blocking(lambda: self.notary.sign(self.notary.digest(nb, replying=False)))
        self.replies.clear()  # replies say whether cells are trusted
        if not signed:
            raise ServiceUnavailable("The notebook cannot be signed now: the signature store is unavailable.")

    async def list_directory_page(self, path: str, page_size: int, cursor: str | None = None) -> Model:
        """One page of a directory's children in name order, after ``cursor`` (the last name seen).

        The model carries ``total`` (how many children in all) and ``next_cursor`` (None on
        the last page). Stores with large folders override this with a cheaper version.
        """
        model = await self.get(path, content=True, type="directory")
        children = sorted(model["content"], key=lambda child: child["name"])
        names = [child["name"] for child in children]
        start = bisect.bisect_right(names, cursor) if cursor else 0
        page = children[start:start + page_size]
        more = start + page_size < len(children)
        model.update(content=page, total=len(children), next_cursor=page[-1]["name"] if more and page else None)
        return model

    # -- checkpoints -------------------------------------------------------------------

    async def create_checkpoint(self, path: str) -> CheckpointModel:
        return await self.checkpoints.create_checkpoint(normalize_api_path(path))

    async def list_checkpoints(self, path: str) -> list[CheckpointModel]:
        return await self.checkpoints.list_checkpoints(normalize_api_path(path))

    async def restore_checkpoint(self, checkpoint_id: str, path: str) -> None:
        try:
            await self.checkpoints.restore_checkpoint(checkpoint_id, normalize_api_path(path))
        finally:
            self.replies.clear()

    async def delete_checkpoint(self, checkpoint_id: str, path: str) -> None:
        await self.checkpoints.delete_checkpoint(checkpoint_id, normalize_api_path(path))

    async def checkpoint_diff(self, checkpoint_id: str, path: str) -> dict[str, Any]:
        """The cell-by-cell diff of a notebook's checkpoint against the notebook as it is now
        (shape: :mod:`nbserver.services.contents.notebookdiff`). NotFound; InvalidInput for
        files that are not notebooks or a checkpoint that is not one."""
        path = normalize_api_path(path)
        if not path.endswith(".ipynb"):
            raise InvalidInput("Only notebooks (.ipynb) can be compared with their checkpoints.")
        saved = await self.checkpoints.read_checkpoint(checkpoint_id, path)
        current = await self.get(path, type="notebook")
        try:
            checkpoint = json.loads(saved)
        except ValueError:
            raise InvalidInput("This checkpoint is not a readable notebook.") from None
        return {"checkpoint_id": checkpoint_id, "path": path, **diff_notebooks(checkpoint, current["content"])}
