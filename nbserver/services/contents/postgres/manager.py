"""PostgresContentsManager: files, notebooks and folders as rows of a PostgreSQL database.

Chosen with ``--NotebookServerApp.contents_manager_class=nbserver.services.contents.postgres.manager.PostgresContentsManager``
and ``--Database.url=...`` (schema: ``nbserver db upgrade``, tables in :mod:`.schema`). Several
server processes on one database serve the same files: every operation is one transaction,
and nothing is cached across requests except replies stamped with the row's version, which
are served without asking the database while the change listener hears every other replica's
writes (:mod:`nbserver.db.changes`; the triggers of :mod:`.schema` migration 2 notify).

- A save is one transaction: the new bytes are written as a blob (:mod:`.blobs`) and the file
  row points at it on commit, so a crash leaves the old version or the new one, whole.
- A folder rename is one range UPDATE of the folder and its descendants (byte-ordered paths);
  checkpoints follow by cascade in the same transaction.
- Chunked uploads (``chunk`` of PUT /api/contents) are staged in ``contents_uploads``, so the
  chunks of one upload may reach different replicas; the last one assembles them.
- ``/files`` streams a file chunk by chunk from the database (:class:`.blobs.BlobStream`).

Every row is the current database user's (``owner = current_user::text``): one database can hold
several users' files, each user's server connecting as its own role.
"""

from __future__ import annotations

import collections
import contextlib
import posixpath
from datetime import datetime
from typing import TYPE_CHECKING, Any, AsyncIterator, Awaitable, Callable, Iterable

from traitlets import Bool, Float, Instance, default

from nbserver.blocking import run_blocking
from nbserver.db.changes import Freshness, change_key, keys_touching
from nbserver.db.config import ConfigurationError, Database
from nbserver.errors import Conflict, InvalidInput, NotFound
from nbserver.services.contents.fileio import RESERVED_PREFIX, is_reserved_name, normalize_api_path
from nbserver.services.contents.filemanager import VERDICT_CACHE_SIZE
from nbserver.services.contents.manager import (
    HASH_ALGORITHM,
    ContentsManager,
    Model,
    Saved,
    check_expected_hash,
    decode_file_content,
    default_type_for,
    encode_file_content,
    file_mimetype,
    hidden_write_refused,
    iso_timestamp,
)
from nbserver.services.contents.notary import take_cell_trust
from nbserver.services.contents.notebookread import ReadsKnown, fill_notebook_model
from nbserver.services.contents.notebooks import SerializedNotebook, encode_notebook
from nbserver.services.contents.postgres import blobs
from nbserver.services.contents.postgres.connections import operation
from nbserver.services.contents.replycache import EncodedReply, ReplyKey, Stamp, encode_reply, with_trust
from nbserver.services.contents.streams import FileStream

if TYPE_CHECKING:
    from psycopg import AsyncConnection

    Conn = AsyncConnection[Any]

#: The columns every model is made from, in this order (see :func:`row_model`).
COLUMNS = "path, name, is_dir, size, sha256, writable, created, last_modified, version, blob"
#: How many folders' child counts a manager keeps.
LISTING_TOTALS_KEPT = 256
#: A path and everything below it (parameters: the path three times); '0' follows '/' in byte order.
SUBTREE = "(path = %s OR (path >= %s || '/' AND path < %s || '0'))"


def row_model(row: tuple[Any, ...]) -> Model:
    """The content-less model of a ``contents_files`` row (:data:`COLUMNS`), typed as GET types it."""
    path, name, is_dir, size, writable, created, last_modified = row[0], row[1], row[2], row[3], row[5], row[6], row[7]
    kind = "directory" if is_dir else default_type_for(path)
    return {
        "name": name, "path": path, "type": kind, "writable": writable,
        "created": iso_timestamp(created.timestamp()), "last_modified": iso_timestamp(last_modified.timestamp()),
        "mimetype": file_mimetype(name, None) if kind == "file" else None,
        "format": None, "content": None, "size": None if is_dir else size,
        "hash": None, "hash_algorithm": None,
    }


def parent_of(path: str) -> str:
    return path.rpartition("/")[0]


def subtree(path: str) -> tuple[str, str, str]:
    """The parameters of :data:`SUBTREE` for ``path``."""
    return path, path, path


async def move_rows(conn: Conn, old_path: str, new_path: str) -> None:
    """Move the row at ``old_path`` and every row below it to ``new_path`` in one range UPDATE
    (checkpoints follow by cascade); the caller has checked that ``new_path`` is free."""
    await conn.execute(
        "UPDATE contents_files SET "
        "path = %(new)s || substr(path, char_length(%(old)s) + 1), "
        "parent = CASE WHEN path = %(old)s THEN %(parent)s "
        "ELSE %(new)s || substr(parent, char_length(%(old)s) + 1) END, "
        "name = CASE WHEN path = %(old)s THEN %(name)s ELSE name END, "
        "version = nextval('contents_version_seq') "
        "WHERE owner = current_user::text AND (path = %(old)s OR (path >= %(old)s || '/' AND path < %(old)s || '0'))",
        {"old": old_path, "new": new_path, "parent": parent_of(new_path), "name": posixpath.basename(new_path)})


async def delete_rows(conn: Conn, path: str) -> bool:
    """Delete the row at ``path``, every row below it, their checkpoints and the blobs nothing
    else holds; whether a row was at ``path``."""
    dropped = await (await conn.execute(
        f"DELETE FROM contents_checkpoints WHERE owner = current_user::text AND {SUBTREE} RETURNING blob",
        subtree(path))).fetchall()
    deleted = await (await conn.execute(
        f"DELETE FROM contents_files WHERE owner = current_user::text AND {SUBTREE} RETURNING path, blob",
        subtree(path))).fetchall()
    await blobs.drop_unreferenced(conn, [row[0] for row in dropped] + [row[1] for row in deleted])
    return any(row[0] == path for row in deleted)


class PostgresContentsManager(ContentsManager):
    """Files, notebooks and folders in PostgreSQL (see the module docstring)."""

    database = Instance(Database, help="Where the rows live: the server's Database (Database.url).")
    upload_max_age = Float(
        24 * 3600.0, min=0.0,
        help="Seconds: chunks of an upload whose last chunk never came are removed once older than "
        "this (checked whenever an upload starts).",
    ).tag(config=True)

    delete_to_trash = Bool(
        True,
        help="DELETE /api/contents/<path> moves the file or folder to the file services' trash (GET "
        "/api/trash), from which it can be restored; False deletes it for good.",
    ).tag(config=True)

    @default("database")
    def _default_database(self) -> Database:
        shared = getattr(self.parent, "database", None)
        return shared if isinstance(shared, Database) else Database(parent=self, log=self.log)

    @default("checkpoints_class")
    def _default_checkpoints_class(self) -> type:
        from nbserver.services.contents.postgres.checkpoints import PostgresCheckpoints

        return PostgresCheckpoints

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not self.database.configured:
            raise ConfigurationError(
                "PostgresContentsManager keeps files in PostgreSQL: set Database.url (--Database.url=...) "
                "or $NBSERVER_DATABASE_URL, and create the schema with `nbserver db upgrade`.")
        self._has_root = False
        #: Child counts by (folder path, folder version, allow_hidden), oldest out first.
        self._totals: collections.OrderedDict[tuple[str, int, bool], int] = collections.OrderedDict()
        #: Trust digests and validation verdicts by the bytes' SHA-256 (what a read of them again skips).
        self._known = ReadsKnown[str](VERDICT_CACHE_SIZE)
        #: Moves a path to the trash (set by the file services); None: deletes are permanent.
        self.trasher: Callable[[str], Awaitable[None]] | None = None
        #: Which cached replies are current without a query (the listener heard every change since).
        self.fresh_replies = Freshness(self.database.changes, frozenset({"contents"}), frozenset({"notary"}))

    # -- paths and rows ----------------------------------------------------------------

    def _hidden(self, path: str) -> bool:
        """Hidden names (unless ``allow_hidden``) and, always, the reserved ``.nbserver*`` names
        at the top (the file services keep their trash there)."""
        return (not self.allow_hidden and any(part.startswith(".") for part in path.split("/"))) or \
            is_reserved_name(path.split("/", 1)[0])

    def readable_path(self, path: str) -> str:
        """The normalized API path of something a client reads: NotFound for hidden paths."""
        path = normalize_api_path(path)
        if self._hidden(path):
            raise NotFound(f"No such file or directory: {path}")
        return path

    def writable_path(self, path: str) -> str:
        """The normalized API path of something a client writes: InvalidInput for hidden paths."""
        path = normalize_api_path(path)
        if self._hidden(path):
            raise hidden_write_refused("write", path)
        return path

    @contextlib.asynccontextmanager
    async def operation(self, action: str, path: str, one_statement: bool = False) -> AsyncIterator[Conn]:
        """One transaction on a pooled connection (see :func:`.connections.operation`); the
        owner's root folder row is made (and committed) first, on first use."""
        if self.database.changes is not None:
            self.database.changes.start()
        async with operation(self.database, action, path, one_statement) as conn:
            if not self._has_root:
                await conn.execute("INSERT INTO contents_files (path, parent, name, is_dir) "
                                   "VALUES ('', NULL, '', true) ON CONFLICT DO NOTHING")
                if not conn.autocommit:
                    await conn.commit()
                self._has_root = True
            yield conn

    @staticmethod
    async def row(conn: Conn, path: str, lock: str = "") -> tuple[Any, ...] | None:
        """The row at ``path`` (:data:`COLUMNS`), optionally locked (``"FOR UPDATE"``...)."""
        cursor = await conn.execute(
            f"SELECT {COLUMNS} FROM contents_files WHERE owner = current_user::text AND path = %s {lock}", (path,))
        return await cursor.fetchone()

    async def _require_folder(self, conn: Conn, path: str) -> None:
        """NotFound unless a folder is at ``path``; it is kept from removal until the transaction ends."""
        row = await (await conn.execute(
            "SELECT is_dir FROM contents_files WHERE owner = current_user::text AND path = %s FOR KEY SHARE",
            (path,))).fetchone()
        if row is None or not row[0]:
            raise NotFound(f"No such directory: {path}")

    @staticmethod
    async def folders_changed(conn: Conn, *folders: str) -> None:
        """Move the version of folders whose children changed (made, removed, renamed in or out),
        so every replica's cached child counts of them (:meth:`list_directory_page`) lapse. In
        path order, so that transactions changing the same two folders cannot deadlock."""
        for folder in sorted(set(folders)):
            await conn.execute("UPDATE contents_files SET version = nextval('contents_version_seq') "
                               "WHERE owner = current_user::text AND path = %s", (folder,))

    @property
    def _hidden_children(self) -> str:
        """The SQL condition leaving out the children a listing does not show (see :meth:`_hidden`)."""
        if not self.allow_hidden:
            return " AND left(name, 1) <> '.'"
        return f" AND (parent <> '' OR left(name, {len(RESERVED_PREFIX)}) <> '{RESERVED_PREFIX}')"

    def _children_query(self, page: bool) -> str:
        hidden = self._hidden_children
        after = " AND name > %s" if page else ""
        return (f"SELECT {COLUMNS} FROM contents_files WHERE owner = current_user::text AND parent = %s{hidden}{after} "
                "ORDER BY name" + (" LIMIT %s" if page else ""))

    # -- reading -----------------------------------------------------------------------

    async def get(self, path: str, content: bool = True, type: str | None = None,
                  format: str | None = None, require_hash: bool = False) -> Model:
        return (await self._read(path, content, type, format, require_hash))[0]

    async def _read(self, path: str, content: bool, type: str | None, format: str | None,
                    require_hash: bool) -> tuple[Model, Stamp]:
        """(model, stamp) of what is at ``path``: the stamp is the row's version and, for a
        notebook read with content, whether it was found signed (what its reply depends on)."""
        path = self.readable_path(path)
        notebook = type == "notebook" or (type is None and path.endswith(".ipynb"))
        async with self.operation("read", path) as conn:
            if content:
                # The row and its bytes in one statement: one snapshot, one round trip.
                cursor = await conn.execute(
                    f"SELECT {', '.join('f.' + c for c in COLUMNS.split(', '))}, c.data "
                    "FROM contents_files f LEFT JOIN contents_chunks c ON c.owner = f.owner AND c.blob = f.blob "
                    "WHERE f.owner = current_user::text AND f.path = %s ORDER BY c.seq", (path,), binary=True)
                rows = await cursor.fetchall()
                found = rows[0][:-1] if rows else None
                raw = b"".join(bytes(r[-1]) for r in rows if r[-1] is not None)
            else:
                found, raw = await self.row(conn, path), b""
            if found is None:
                raise NotFound(f"No such file or directory: {path}")
            model = row_model(found)
            if found[2]:
                if type not in (None, "directory"):
                    raise InvalidInput(f"{path} is a directory, not a {type}")  # Jupyter Server's words
                if format not in (None, "json"):
                    raise InvalidInput(f"Format {format!r} is not valid for a directory; use json.")
                if content:
                    children = await (await conn.execute(self._children_query(page=False), (path,))).fetchall()
                    model.update(content=[row_model(child) for child in children], format="json")
                return model, (int(found[8]),)
        if type == "directory":
            raise InvalidInput(f"{path} is not a directory")  # Jupyter Server's words
        if require_hash:
            model.update(hash=found[4], hash_algorithm=HASH_ALGORITHM)
        if notebook:
            model["type"] = "notebook"
            if format not in (None, "json"):
                raise InvalidInput(f"Format {format!r} is not valid for a notebook; use json.")
            if content:
                fields, signed = await run_blocking(self._notebook_content, raw, found[4])
                model.update(fields)
                return model, (int(found[8]), int(signed))
        else:
            model.update(type="file", mimetype=file_mimetype(model["name"], None))
            if format not in (None, "text", "base64"):
                raise InvalidInput(f"Format {format!r} is not one of text, base64 for a file.")
            if content:
                model["content"], model["format"] = encode_file_content(raw, format, path)
            model["mimetype"] = file_mimetype(model["name"], model["format"])
        return model, (int(found[8]),)

    def _notebook_content(self, raw: bytes, sha256: str) -> tuple[Model, bool]:
        """The content fields of a notebook model from its bytes: parsed, trust marked, validated;
        and whether it is signed.

        The signature and the validation verdict are remembered by the bytes' SHA-256, as the
        file store remembers them per file version: reading a large notebook again skips both.
        """
        read = self._known.read(raw, sha256, self.notary)
        fields: Model = {}
        fill_notebook_model(fields, read)
        return fields, read.trusted

    async def get_reply(self, path: str, content: bool = True, type: str | None = None,
                        format: str | None = None, require_hash: bool = False) -> EncodedReply:
        """A notebook's reply comes from ``self.replies`` while its row's version (which every
        change of the row moves, on any replica) and its signature are unchanged. While the
        change listener is live and has heard no change of the file since the reply was checked,
        the reply is sent without asking the database (:class:`nbserver.db.changes.Freshness`)."""
        notebook = type == "notebook" or (type is None and normalize_api_path(path).endswith(".ipynb"))
        if not (content and notebook and self.replies.max_bytes):
            return await super().get_reply(path, content, type, format, require_hash)
        path = self.readable_path(path)
        key: ReplyKey = (path, content, type, format, require_hash)
        if self.fresh_replies.fresh(key):
            held = self.replies.held(key)
            if held is not None:
                return held
        token = self.fresh_replies.begin()
        stamp = await self._reply_stamp(path)
        if stamp is not None:
            cached = self.replies.lookup(key, stamp)
            if cached is not None:
                self._validated(key, token)
                return cached
        model, stamp = await self._read(path, content, type, format, require_hash)
        reply = await run_blocking(encode_reply, model)
        self.replies.store(key, stamp, reply)
        self._validated(key, token)
        return reply

    async def _reply_stamp(self, path: str) -> Stamp | None:
        """The stamp a notebook's reply has now (see :meth:`_read`); None when its signature is
        not known for its current bytes (not read since they changed) or it is not a file."""
        async with self.operation("read", path, one_statement=True) as conn:
            found = await (await conn.execute(
                "SELECT version, sha256 FROM contents_files WHERE owner = current_user::text AND path = %s",
                (path,))).fetchone()
        if found is None or found[1] is None:
            return None
        known, digest = self._known.digests.lookup(found[1])
        if not known:
            return None
        return await run_blocking(with_trust, (int(found[0]),), self.notary, digest)

    def _validated(self, key: ReplyKey, token: int) -> None:
        listener = self.database.changes
        if listener is not None and listener.role is not None:
            self.fresh_replies.validated(key, token, keys_touching(listener.role, key[0]))

    def changed_here(self, path: str, tree: bool = False) -> None:
        """This replica changed ``path`` (``tree``: moved or removed it with all below): its
        cached replies are checked again at once, without waiting for its own notification."""
        listener = self.database.changes
        if listener is not None and listener.role is not None:
            kinds = ("p", "t") if tree else ("p",)
            self.fresh_replies.changed(frozenset(change_key(kind, listener.role, path) for kind in kinds))
        else:
            self.fresh_replies.reset()

    async def file_exists(self, path: str) -> bool:
        return await self._exists_as(path, is_dir=False)

    async def dir_exists(self, path: str) -> bool:
        return await self._exists_as(path, is_dir=True)

    async def _exists_as(self, path: str, is_dir: bool) -> bool:
        try:
            path = self.readable_path(path)
        except (NotFound, InvalidInput):
            return False
        if not path and is_dir:
            return True
        async with self.operation("look up", path, one_statement=True) as conn:
            found = await (await conn.execute(
                "SELECT is_dir FROM contents_files WHERE owner = current_user::text AND path = %s", (path,))).fetchone()
        return found is not None and bool(found[0]) == is_dir

    async def list_directory_page(self, path: str, page_size: int, cursor: str | None = None) -> Model:
        """Keyset paging: the children named after ``cursor``, by the (owner, parent, name) index.

        ``total`` is counted once per version of the folder (which moves whenever a child is
        made, removed or renamed, on any replica) and kept: counting 100,000 children costs
        more than the page."""
        path = self.readable_path(path)
        async with self.operation("list", path) as conn:
            found = await self.row(conn, path)
            if found is None:
                raise NotFound(f"No such file or directory: {path}")
            if not found[2]:
                raise InvalidInput(f"{path} is not a directory; only directories are paged.")
            rows = await (await conn.execute(
                self._children_query(page=True), (path, cursor or "", page_size + 1))).fetchall()
            key = (path, int(found[8]), self.allow_hidden)
            total = self._totals.get(key)
            if total is None:
                hidden = self._hidden_children
                counted = await (await conn.execute(
                    f"SELECT count(*) FROM contents_files WHERE owner = current_user::text AND parent = %s{hidden}",
                    (path,))).fetchone()
                total = int(counted[0]) if counted else 0
                self._totals[key] = total
                while len(self._totals) > LISTING_TOTALS_KEPT:
                    self._totals.popitem(last=False)
        model = row_model(found)
        page = [row_model(row) for row in rows[:page_size]]
        more = len(rows) > page_size
        model.update(content=page, format="json", total=total,
                     next_cursor=page[-1]["name"] if more and page else None)
        return model

    async def open_file(self, path: str) -> FileStream:
        """The file's current blob, streamed from the database chunk by chunk."""
        path = self.readable_path(path)
        async with self.operation("open", path, one_statement=True) as conn:
            found = await (await conn.execute(
                "SELECT blob, sha256, size, last_modified FROM contents_files "
                "WHERE owner = current_user::text AND path = %s AND NOT is_dir", (path,))).fetchone()
        if found is None:
            raise NotFound(f"No such file: {path}")
        modified: datetime = found[3]
        return blobs.BlobStream(await self.database.pool(), blobs.Blob(int(found[0]), found[1], int(found[2])),
                                modified.timestamp())

    # -- writing -----------------------------------------------------------------------

    async def save(self, model: Model, path: str, must_create: bool = False, *,
                   expected_hash: str | None = None) -> Saved:
        """See :meth:`ContentsManager.save`; ``expected_hash`` is checked on the row locked for the write."""
        path = self.writable_path(path)
        kind = model.get("type")
        if not path and kind != "directory":
            raise InvalidInput("The root is a directory; give a file path.")
        if kind == "directory":
            saved = await self._save_directory(path, must_create, expected_hash)
        elif kind == "notebook":
            if model.get("chunk") is not None:
                raise InvalidInput("Notebooks cannot be uploaded in chunks; upload as a file.")
            notebook, signature = await run_blocking(self._encode_notebook, model.get("content"))
            saved = await self._save_file(path, notebook.chunks, must_create, notebook.message, expected_hash)
            if notebook.verdict_holds_on_disk:
                self._known.verdicts.store(saved.model["hash"], notebook.message)
            if signature is not None:
                await run_blocking(self.notary.sign, signature)
                self.fresh_replies.reset()  # other notebooks with these very cells are trusted too
        else:
            raw = decode_file_content(model.get("content"), model.get("format") or "text")
            chunk = model.get("chunk")
            if chunk is not None and chunk != -1:
                return await self._stage_chunk(path, int(chunk), raw)
            if chunk == -1:
                saved = await self._finish_upload(path, raw, must_create, expected_hash)
            else:
                saved = await self._save_file(path, (raw,), must_create, None, expected_hash)
        self.changed_here(path)
        await self.notify_saved(path)
        return saved

    def _encode_notebook(self, content: Any) -> tuple[SerializedNotebook, str | None]:
        """The notebook's bytes and, when every code cell came trusted, the signature to store
        (as the file store saves: the cells' ``trusted`` flags are never written; see notary)."""
        signed = isinstance(content, dict) and take_cell_trust(content)
        notebook = encode_notebook(content)
        return notebook, self.notary.digest(content, replying=False) if signed and isinstance(content, dict) else None

    async def _save_directory(self, path: str, must_create: bool, expected_hash: str | None) -> Saved:
        async with self.operation("create", path) as conn:
            found = await self.row(conn, path, "FOR UPDATE" if expected_hash else "")
            check_expected_hash(path, expected_hash, found[4] if found else None, found is not None)
            if found is None:
                await self._require_folder(conn, parent_of(path))
                found = await (await conn.execute(
                    f"INSERT INTO contents_files (path, parent, name, is_dir) VALUES (%s, %s, %s, true) "
                    f"ON CONFLICT DO NOTHING RETURNING {COLUMNS}",
                    (path, parent_of(path), posixpath.basename(path)))).fetchone()
                if found is not None:
                    await self.folders_changed(conn, parent_of(path))
                    return Saved(row_model(found), created=True)
                found = await self.row(conn, path)  # made by another client a moment ago
                assert found is not None
            if must_create:
                raise Conflict(f"A file or directory already exists at {path}")
            if not found[2]:
                raise Conflict(f"A file exists at {path}")
            return Saved(row_model(found), created=False)

    async def _save_file(self, path: str, pieces: Iterable[bytes], must_create: bool,
                         message: str | None, expected_hash: str | None) -> Saved:
        """Write ``pieces`` as the file at ``path`` in one transaction: all of it, or nothing."""
        async with self.operation("save", path) as conn:
            existing = await self._claim_file(conn, path, must_create, expected_hash)
            blob = await blobs.BlobWriter(conn).add_all(pieces)
            saved = await self._place(conn, path, existing, blob, must_create)
        if message:
            saved.model["message"] = message
        return saved

    async def _claim_file(self, conn: Conn, path: str, must_create: bool,
                          expected_hash: str | None = None) -> tuple[Any, ...] | None:
        """The row a save of a file at ``path`` replaces (locked), or None for a new file; the
        errors a save can meet before it writes. Two replicas saving one file wait for each
        other here, so a stale ``expected_hash`` is seen by the second."""
        found = await self.row(conn, path, "FOR UPDATE")
        check_expected_hash(path, expected_hash, found[4] if found else None, found is not None)
        if found is None:
            await self._require_folder(conn, parent_of(path))
        elif must_create:
            raise Conflict(f"A file or directory already exists at {path}")
        elif found[2]:
            raise Conflict(f"A directory exists at {path}")
        return found

    async def _place(self, conn: Conn, path: str, existing: tuple[Any, ...] | None,
                     blob: blobs.Blob, must_create: bool) -> Saved:
        """Point the file row at ``path`` to ``blob`` (made when it is new); drop the old blob."""
        created = False
        if existing is None:
            row = await (await conn.execute(
                f"INSERT INTO contents_files (path, parent, name, is_dir, blob, size, sha256) "
                f"VALUES (%s, %s, %s, false, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING {COLUMNS}",
                (path, parent_of(path), posixpath.basename(path), blob.id, blob.size, blob.sha256))).fetchone()
            created = row is not None
            if created:
                await self.folders_changed(conn, parent_of(path))
            if row is None:  # another client created it a moment ago: this save replaces theirs
                if must_create:
                    raise Conflict(f"A file or directory already exists at {path}")
                existing = await self.row(conn, path, "FOR UPDATE")
                if existing is None or existing[2]:
                    raise Conflict(f"A directory exists at {path}")
        if existing is not None:
            row = await (await conn.execute(
                "UPDATE contents_files SET blob = %s, size = %s, sha256 = %s, last_modified = clock_timestamp(), "
                f"version = nextval('contents_version_seq') WHERE owner = current_user::text AND path = %s RETURNING {COLUMNS}",
                (blob.id, blob.size, blob.sha256, path))).fetchone()
            if existing[9] != blob.id:
                await blobs.drop_unreferenced(conn, [existing[9]])
        assert row is not None
        model = row_model(row)
        model.update(hash=blob.sha256, hash_algorithm=HASH_ALGORITHM)
        return Saved(model, created)

    async def place_blob(self, conn: Conn, path: str, blob: blobs.Blob, replace: bool) -> Saved:
        """Make ``blob`` (written on ``conn``) the file at ``path`` in the caller's transaction.

        Conflict when something is there and not ``replace`` (or a folder is there); NotFound
        when its folder is missing. The caller notifies the save listeners after committing.
        """
        existing = await self._claim_file(conn, path, must_create=not replace)
        return await self._place(conn, path, existing, blob, must_create=not replace)

    # -- chunked uploads ---------------------------------------------------------------

    async def _stage_chunk(self, path: str, chunk: int, raw: bytes) -> Saved:
        """Keep chunk ``chunk`` (1, 2, ...) of an upload in the database until the last one."""
        async with self.operation("upload", path) as conn:
            existing = await self._claim_file(conn, path, must_create=False)
            if chunk == 1:
                await conn.execute(
                    "DELETE FROM contents_uploads WHERE owner = current_user::text "
                    "AND (path = %s OR updated < clock_timestamp() - make_interval(secs => %s))",
                    (path, self.upload_max_age))
            elif not await self._upload_started(conn, path):
                raise InvalidInput("No chunked upload is in progress for this file.")
            await conn.execute(
                "INSERT INTO contents_uploads (path, seq, data) VALUES (%s, %s, %b) "
                "ON CONFLICT (owner, path, seq) DO UPDATE SET data = excluded.data, updated = clock_timestamp()",
                (path, chunk, raw))
            size = await (await conn.execute(
                "SELECT sum(length(data)) FROM contents_uploads WHERE owner = current_user::text AND path = %s",
                (path,))).fetchone()
        now = iso_timestamp(datetime.now().timestamp())
        name = posixpath.basename(path)
        kind = default_type_for(path)
        model: Model = {
            "name": name, "path": path, "type": kind, "writable": True, "created": now, "last_modified": now,
            "mimetype": file_mimetype(name, None) if kind == "file" else None, "format": None, "content": None,
            "size": int(size[0]) if size and size[0] is not None else 0, "hash": None, "hash_algorithm": None,
        }
        return Saved(model, created=existing is None)

    @staticmethod
    async def _upload_started(conn: Conn, path: str) -> bool:
        found = await (await conn.execute(
            "SELECT 1 FROM contents_uploads WHERE owner = current_user::text AND path = %s LIMIT 1 FOR UPDATE",
            (path,))).fetchone()
        return found is not None

    async def _finish_upload(self, path: str, last: bytes, must_create: bool, expected_hash: str | None) -> Saved:
        """Assemble the staged chunks and ``last`` into the file, in one transaction, one chunk in
        memory at a time; the staged chunks are removed with it."""
        async with self.operation("upload", path) as conn:
            existing = await self._claim_file(conn, path, must_create, expected_hash)
            if not await self._upload_started(conn, path):
                raise InvalidInput("No chunked upload is in progress for this file.")
            numbers = [row[0] for row in await (await conn.execute(
                "SELECT seq FROM contents_uploads WHERE owner = current_user::text AND path = %s ORDER BY seq",
                (path,))).fetchall()]
            writer = blobs.BlobWriter(conn)
            for number in numbers:
                part = await (await conn.execute(
                    "SELECT data FROM contents_uploads WHERE owner = current_user::text AND path = %s AND seq = %s",
                    (path, number), binary=True)).fetchone()
                assert part is not None
                await writer.add(bytes(part[0]))
            await writer.add(last)
            blob = await writer.finish()
            await conn.execute("DELETE FROM contents_uploads WHERE owner = current_user::text AND path = %s", (path,))
            return await self._place(conn, path, existing, blob, must_create)

    # -- delete, rename, copy ----------------------------------------------------------

    async def delete(self, path: str) -> None:
        """To the trash with ``delete_to_trash`` and the file services; else for good."""
        if self.delete_to_trash and self.trasher is not None:
            path = normalize_api_path(path)
            self.refuse_hidden("delete", path)  # the same refusal as a permanent delete
            await self.trasher(path)
            return
        await super().delete(path)

    async def delete_file(self, path: str) -> None:
        """Delete the file, or the folder with everything below it, and their checkpoints."""
        path = self.readable_path(path)
        if not path:
            raise InvalidInput("The root directory cannot be deleted.")
        async with self.operation("delete", path) as conn:
            if not await delete_rows(conn, path):
                raise NotFound(f"No such file or directory: {path}")
            await self.folders_changed(conn, parent_of(path))
        self.changed_here(path, tree=True)

    async def rename_file(self, old_path: str, new_path: str) -> None:
        """Move a file, or a folder with everything below it, in one UPDATE of the path range."""
        old_path, new_path = self.readable_path(old_path), self.writable_path(new_path)
        if not old_path or not new_path:
            raise InvalidInput("The root directory cannot be renamed, nor anything renamed to it.")
        if new_path.startswith(old_path + "/"):
            raise InvalidInput("A folder cannot be moved into itself.")
        async with self.operation("rename", old_path) as conn:
            if await self.row(conn, old_path, "FOR UPDATE") is None:
                raise NotFound(f"No such file or directory: {old_path}")
            await self._require_free(conn, new_path)
            await self.folders_changed(conn, parent_of(old_path), parent_of(new_path))
            await move_rows(conn, old_path, new_path)
        self.changed_here(old_path, tree=True)

    async def _require_free(self, conn: Conn, path: str) -> None:
        """Conflict when something is at ``path``; NotFound when its folder is missing."""
        if await self.row(conn, path) is not None:
            raise Conflict(f"A file or directory already exists at {path}")
        await self._require_folder(conn, parent_of(path))

    async def copy_to(self, from_path: str, to_path: str) -> Model:
        """Copy a file or a folder tree as new rows sharing the same blobs: no bytes are copied."""
        from_path, to_path = self.readable_path(from_path), self.writable_path(to_path)
        if not to_path:
            raise InvalidInput("Nothing can be copied to the root directory.")
        if to_path.startswith(from_path + "/") or not from_path:
            raise InvalidInput("A folder cannot be copied into itself.")
        async with self.operation("copy", from_path) as conn:
            if await self.row(conn, from_path, "FOR SHARE") is None:
                raise NotFound(f"No such file or directory: {from_path}")
            await self._require_free(conn, to_path)
            await self.folders_changed(conn, parent_of(to_path))
            await conn.execute(
                "INSERT INTO contents_files (path, parent, name, is_dir, blob, size, sha256, writable) "
                "SELECT %(new)s || substr(path, char_length(%(old)s) + 1), "
                "CASE WHEN path = %(old)s THEN %(parent)s ELSE %(new)s || substr(parent, char_length(%(old)s) + 1) END, "
                "CASE WHEN path = %(old)s THEN %(name)s ELSE name END, is_dir, blob, size, sha256, writable "
                "FROM contents_files "
                "WHERE owner = current_user::text AND (path = %(old)s OR (path >= %(old)s || '/' AND path < %(old)s || '0'))"
                + ("" if self.allow_hidden else " AND (path = %(old)s OR position('/.' in substr(path, char_length(%(old)s) + 1)) = 0)"),
                {"old": from_path, "new": to_path, "parent": parent_of(to_path), "name": posixpath.basename(to_path)})
            found = await self.row(conn, to_path)
        assert found is not None
        model = row_model(found)
        if not found[2]:
            model.update(hash=found[4], hash_algorithm=HASH_ALGORITHM)
        await self.notify_saved(to_path)
        return model
