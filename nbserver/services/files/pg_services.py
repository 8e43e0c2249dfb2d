"""PostgresFileServices: the file services over the PostgreSQL contents store (issue 17).

The handlers use it as they use :class:`~nbserver.services.files.manager.FileServices` (the same
methods, the same answers); where the file store moves files on disk and follows outside changes
with a reconciler, everything here is rows of the one database that every replica serves:

- Ids: every ``contents_files`` row carries its file id from its creation, and triggers keep
  its ``fs_files`` row in step in the row's own transaction (migration ``files`` 2): a rename or
  move on any replica keeps the id, with no reconciler and no listener.
- Trash: one transaction marks the item's ``fs_files`` rows trashed and moves its rows (its
  checkpoints follow by cascade) below the reserved folder ``.nbserver-trash/<trash id>/``,
  which no client sees; restore moves them back in one transaction (409 ``restore_conflict`` when
  the target is taken, as on disk); a permanent delete removes the rows and the blobs nothing else
  holds. Each is whole or not at all, so there are no intents to recover.
- The trash sweep runs on one replica (``claim_job``); share links are signed with a key kept in
  ``fs_share_keys``, so every replica answers the same links.

Rows are scoped to ``owner = current_user`` as the contents store's are; the metadata store is
opened with the database role as its owner.
"""

from __future__ import annotations

import posixpath
import secrets
import time
import uuid
from typing import TYPE_CHECKING, Any

from psycopg import errors as pg_errors

from nbserver.errors import Conflict, InvalidInput, NotFound, ServiceUnavailable
from nbserver.services.contents.fileio import normalize_api_path
from nbserver.services.contents.manager import guess_mimetype
from nbserver.services.contents.postgres.manager import (
    SUBTREE,
    PostgresContentsManager,
    delete_rows,
    move_rows,
    parent_of,
    subtree,
)
from nbserver.services.files.manager import FileServices, restored_name
from nbserver.services.files.pg_store import _FILE_COLUMNS, _TRASH_COLUMNS, PostgresMetadataStore, _file, _trash
from nbserver.services.files.rendering import CacheKey, NotebookRenderer
from nbserver.services.files.sharing import KEY_BYTES, ShareLinks
from nbserver.services.files.upload import StagedUpload
from nbserver.services.files.store import CrawlReport, FileRecord, MetadataStore, TrashRecord, now, store_errors
from nbserver.timestamps import iso_timestamp

if TYPE_CHECKING:
    from psycopg import AsyncConnection

    from nbserver.db.config import Database

    Conn = AsyncConnection[Any]

#: The reserved top folder holding trashed items (a hidden, reserved name: no client sees it).
TRASH_FOLDER = ".nbserver-trash"
#: fs_files / fs_trash columns with the uuids as text (the contents pool loads uuids as UUID).
FILE_COLUMNS = _FILE_COLUMNS.replace("id, ", "id::text, ", 1)
TRASH_COLUMNS = _TRASH_COLUMNS.replace("file_id", "file_id::text", 1)
#: Tries to lock an item whose path moves under the lock (a rename on another replica meanwhile).
LOCK_TRIES = 5


def stored_path(path: str, trash: TrashRecord) -> str:
    """Where the item trashed from ``path`` (the trashed item itself or a child of it) is kept now."""
    inside = path[len(trash.original_path):].lstrip("/")
    item = f"{trash.stored_at}/{posixpath.basename(trash.original_path)}"
    return f"{item}/{inside}" if inside else item


class RoleMetadataStore(PostgresMetadataStore):
    """The metadata store whose owner is the database role, as the contents rows' owner is."""

    def __init__(self, database: Database) -> None:
        super().__init__(database, "")

    def open(self) -> None:
        super().open()
        row = self.conn.execute("SELECT current_user::text").fetchone()
        assert row is not None
        self.owner = str(row[0])


class DatabaseShareLinks(ShareLinks):
    """Share links whose key is in the database (one per owner), the same on every replica."""

    def _load_key(self) -> bytes:
        """Blocking, on the file services' writer thread (the store's connection)."""
        if self._key is None:
            store = self.services.store
            assert store is not None and isinstance(store, PostgresMetadataStore)
            conn = store.conn
            conn.execute("INSERT INTO fs_share_keys (owner, key) VALUES (current_user, %s) ON CONFLICT DO NOTHING",
                         (secrets.token_bytes(KEY_BYTES),))
            row = conn.execute("SELECT key FROM fs_share_keys WHERE owner = current_user::text").fetchone()
            assert row is not None
            self._key = bytes(row[0])
        return self._key


class DatabaseNotebookRenderer(NotebookRenderer):
    """Rendered notebooks cached by the contents row's version (moved by every change, on any replica)."""

    async def _key(self, record: FileRecord) -> CacheKey:
        services = self.services
        assert isinstance(services, PostgresFileServices)
        async with services.pg.operation("read", record.path) as conn:
            row = await (await conn.execute(
                "SELECT size, version FROM contents_files WHERE owner = current_user::text AND path = %s "
                "AND NOT is_dir", (record.path,))).fetchone()
        if row is None:
            raise NotFound("No such file id.", code="not_found")
        return record.id, 0, 0, int(row[0]), int(row[1])


class PostgresFileServices(FileServices):
    """Ids, trash, shares, stars and edges over a :class:`PostgresContentsManager` (module docstring)."""

    def __init__(self, contents_manager: PostgresContentsManager, owner: str, database: Database | None = None,
                 **kwargs: Any) -> None:
        # The base class types its store as the file store: every method reaching the disk is overridden here.
        super().__init__(contents_manager, owner, database or contents_manager.database,  # type: ignore[arg-type]
                         **kwargs)
        self.pg = contents_manager
        self.shares = DatabaseShareLinks(self)
        self.renderer = DatabaseNotebookRenderer(self)

    # -- life cycle ----------------------------------------------------------------------

    def start(self) -> None:
        """Open the store (ids need no listener: the database's triggers keep them); contents
        deletes go to the trash."""
        self.pg.trasher = self.trash_path_quietly
        try:
            self._executor.submit(self._open_store).result()
        except ServiceUnavailable:
            pass  # logged; tried again on first use

    def _new_store(self) -> MetadataStore:
        assert self.database is not None
        return RoleMetadataStore(self.database)

    def _recover(self) -> None:
        """Nothing to recover: every operation is one transaction."""

    def start_background(self) -> None:
        """The trash sweep only (no reconciler: nothing changes outside the database)."""
        if not self._background:
            import asyncio

            self._background = [asyncio.get_running_loop().create_task(
                self._every("trash_sweep_interval", self._sweep_job))]

    async def reconcile(self, full: bool = False) -> CrawlReport:
        """Ids follow every change in its own transaction: nothing to reconcile."""
        return CrawlReport(0, 0, 0, 0)

    @property
    def metadata_owner(self) -> str:
        """The database role (the owner of the contents rows); ServiceUnavailable before the store opens."""
        store = self.store
        if store is None:
            raise ServiceUnavailable("File ids and the trash are unavailable (see the server log).")
        return store.owner  # type: ignore[attr-defined, no-any-return]

    def new_upload(self, folder: str, name: str, on_conflict: str) -> StagedUpload:
        from nbserver.services.files.pg_upload import DatabaseUpload

        return DatabaseUpload(self.pg, folder, name, on_conflict, int(self.upload_check_notebook_mb * 1024 * 1024))

    # -- ids -----------------------------------------------------------------------------

    def visible_path(self, path: str) -> None:
        self.pg.readable_path(path)

    def _record_for_path(self, store: MetadataStore, path: str) -> FileRecord:
        """On the writer thread: the record of the row at ``path`` (made by the triggers)."""
        assert isinstance(store, PostgresMetadataStore)
        path = normalize_api_path(path)
        try:
            self.pg.readable_path(path)
        except InvalidInput:
            raise NotFound(f"No such file or directory: {path}") from None
        conn = store.conn
        if not path:  # the root row, as the contents manager makes it on first use
            conn.execute("INSERT INTO contents_files (path, parent, name, is_dir) VALUES ('', NULL, '', true) "
                         "ON CONFLICT DO NOTHING")
        row = conn.execute("SELECT is_dir FROM contents_files WHERE owner = current_user::text AND path = %s",
                           (path,)).fetchone()
        if row is None:
            raise NotFound(f"No such file or directory: {path}")
        return store.assign(path, "directory" if row[0] else "notebook" if path.endswith(".ipynb") else "file")

    async def _present(self, path: str) -> bool:
        async with self.pg.operation("look up", path) as conn:
            return await self._row(conn, path) is not None

    async def _taken(self, path: str) -> bool:
        """Whether a row is at ``path``, hidden names included (a rename must not replace one)."""
        return await self._present(normalize_api_path(path))

    @staticmethod
    async def _row(conn: Conn, path: str, lock: str = "") -> tuple[Any, ...] | None:
        """(is_dir, size, last_modified) of the row at ``path``."""
        return await (await conn.execute(
            f"SELECT is_dir, size, last_modified FROM contents_files WHERE owner = current_user::text AND path = %s "
            f"{lock}", (path,))).fetchone()

    async def _trashed_model(self, record: FileRecord, trash: TrashRecord) -> dict[str, Any]:
        async with self.pg.operation("look up", record.path) as conn:
            row = await self._row(conn, stored_path(record.path, trash))
        if row is None:
            return {}
        return {"size": row[1], "last_modified": iso_timestamp(row[2].timestamp()),
                "mimetype": None if record.kind != "file" else guess_mimetype(record.path)}

    # -- locking an item in a transaction ------------------------------------------------

    @staticmethod
    async def _record(conn: Conn, file_id: str, lock: str = "") -> FileRecord | None:
        return _file(await (await conn.execute(
            f"SELECT {FILE_COLUMNS} FROM fs_files WHERE owner = current_user::text AND id = %s {lock}",
            (file_id,))).fetchone())

    @staticmethod
    async def _trash_entry(conn: Conn, trash_id: str | None, lock: str = "") -> TrashRecord | None:
        if trash_id is None:
            return None
        return _trash(await (await conn.execute(
            f"SELECT {TRASH_COLUMNS} FROM fs_trash WHERE owner = current_user::text AND id = %s {lock}",
            (trash_id,))).fetchone())

    async def _lock_item(self, conn: Conn, file_id: str) -> tuple[FileRecord, TrashRecord | None]:
        """The item's record and trash entry, its row and record locked until the transaction ends.

        Rows before records, as a rename locks them (its trigger updates the record): no deadlock.
        NotFound for unknown and purged ids.
        """
        for _ in range(LOCK_TRIES):
            seen = await self._record(conn, file_id)
            if seen is None or seen.state == "missing":
                raise NotFound("No such file id.", code="not_found")
            trash = await self._trash_entry(conn, seen.trash_id) if seen.state == "trashed" else None
            where = stored_path(seen.path, trash) if trash is not None else seen.path
            await self._row(conn, where, "FOR UPDATE")
            record = await self._record(conn, file_id, "FOR UPDATE")
            if record == seen:
                return record, await self._trash_entry(conn, record.trash_id, "FOR UPDATE")
        raise Conflict("This item is changing now; try again.", code="busy")

    # -- trash ---------------------------------------------------------------------------

    async def trash(self, record: FileRecord, by: str) -> FileRecord:
        """Move the item (a folder with its tree, with checkpoints) to the trash in one transaction;
        idempotent. InvalidInput for the root; Conflict ``too_large_for_trash`` past ``trash_max_bytes``."""
        async with self._moving, self.pg.operation("move to the trash", record.path) as conn:
            record, _ = await self._lock_item(conn, record.id)
            if record.state == "live":
                trash_id = await self._trash_locked(conn, record, by)
        if record.state == "live":
            self.pg.changed_here(record.path, tree=True)  # this replica's cached replies of the tree go now
            try:
                await self._trim_trash(keep=trash_id)
            except (NotFound, Conflict, ServiceUnavailable) + store_errors() as exc:  # the sweep tries again
                self.log.error("Could not purge old trash items past trash_max_bytes: %s", exc)
        return await self._resolve_present(record.id, settle=False)

    async def _trash_locked(self, conn: Conn, record: FileRecord, by: str) -> str:
        path = record.path
        if not path:
            raise InvalidInput("The root folder cannot be trashed.")
        if await self._row(conn, path) is None:
            raise NotFound(f"No such file or directory: {path}")
        row = await (await conn.execute(
            f"SELECT coalesce(sum(size), 0) FROM contents_files WHERE owner = current_user::text AND {SUBTREE}",
            subtree(path))).fetchone()
        size = int(row[0]) if row else 0
        if self.trash_max_bytes and size > self.trash_max_bytes:
            raise Conflict(f"This item ({size} bytes) is larger than the whole trash may hold; it can only be "
                           "deleted permanently (permanent_delete?confirm=no_trash).",
                           code="too_large_for_trash", limit=self.trash_max_bytes)
        trash_id = uuid.uuid4().hex
        entry = f"{TRASH_FOLDER}/{trash_id}"
        await conn.execute(
            "INSERT INTO contents_files (path, parent, name, is_dir) VALUES (%s, '', %s, true), (%s, %s, %s, true) "
            "ON CONFLICT DO NOTHING", (TRASH_FOLDER, TRASH_FOLDER, entry, TRASH_FOLDER, trash_id))
        stamp = now()
        await conn.execute(
            "UPDATE fs_files SET state = 'trashed', trash_id = %s, updated = %s, version = version + 1 "
            f"WHERE owner = current_user::text AND state = 'live' AND {SUBTREE}", (trash_id, stamp, *subtree(path)))
        await move_rows(conn, path, f"{entry}/{posixpath.basename(path)}")
        await self.pg.folders_changed(conn, parent_of(path))
        await conn.execute(
            "INSERT INTO fs_trash (id, owner, file_id, original_path, stored_at, trashed_at, trashed_by, size, state) "
            "VALUES (%s, current_user, %s, %s, %s, %s, %s, %s, 'done')",
            (trash_id, record.id, path, entry, stamp, by, size))
        return trash_id

    async def _trim_trash(self, keep: str | None) -> int:
        """Purge the oldest trash items (never ``keep``) until the trash holds at most ``trash_max_bytes``."""
        limit = self.trash_max_bytes
        if not limit:
            return 0
        _, total = await self._call(lambda store: store.trash_totals())
        count = 0
        for trash in await self._call(lambda store: store.trash_older_than(now())):
            if total <= limit:
                break
            if trash.id != keep:
                await self._purge_trash(trash)
                total -= trash.size or 0
                count += 1
        if count:
            self.log.info("Purged the %d oldest trash items to keep the trash under %d bytes", count, limit)
        return count

    # -- restore -------------------------------------------------------------------------

    async def restore(self, record: FileRecord, to_path: str | None = None, on_conflict: str = "fail") -> FileRecord:
        """Bring a trashed item back (same id, same bytes) in one transaction, to ``to_path`` or where
        it was; a live item unchanged. Conflict ``restore_conflict`` (with ``conflict_path``) when the
        target is taken, unless ``on_conflict`` is ``rename``, or when a file is where a folder is needed."""
        async with self.pg.operation("restore", record.path) as conn:
            record, trash = await self._lock_item(conn, record.id)
            if record.state != "live":
                if trash is None:
                    raise NotFound("No such file id.", code="not_found")
                await self._restore_locked(conn, record, trash, to_path, on_conflict)
        restored = await self._resolve_present(record.id, settle=False)
        self.pg.changed_here(restored.path, tree=True)
        return restored

    async def _free_target(self, conn: Conn, wanted: str, on_conflict: str) -> str:
        """The path a restore goes to: ``wanted`` or, with ``rename``, ``wanted (restored n)``."""
        target = self.pg.writable_path(wanted)
        number = 1
        while await self._row(conn, target) is not None:
            if on_conflict != "rename":
                raise Conflict(f"Something is at {target} now; restore with on_conflict 'rename' or another path.",
                               code="restore_conflict", conflict_path=target)
            target = self.pg.writable_path(restored_name(wanted, number))
            number += 1
        return target

    async def _make_parents(self, conn: Conn, path: str) -> None:
        """Make the missing folders above ``path`` (as plain folders); Conflict ``restore_conflict``
        when a file is where one of them must be."""
        parents = []
        parent = parent_of(path)
        while parent:
            parents.append(parent)
            parent = parent_of(parent)
        for folder in reversed(parents):
            row = await self._row(conn, folder, "FOR KEY SHARE")
            if row is None:
                await conn.execute("INSERT INTO contents_files (path, parent, name, is_dir) VALUES (%s, %s, %s, true)",
                                   (folder, parent_of(folder), posixpath.basename(folder)))
                await self.pg.folders_changed(conn, parent_of(folder))
            elif not row[0]:
                raise Conflict(f"Something that is not a folder is at {folder}, where {path} needs one.",
                               code="restore_conflict", conflict_path=folder)

    async def _restore_locked(self, conn: Conn, record: FileRecord, trash: TrashRecord, to_path: str | None,
                              on_conflict: str) -> None:
        wanted = normalize_api_path(to_path if to_path is not None else record.path)
        if not wanted:
            raise InvalidInput("Nothing can be restored to the root folder.")
        target = await self._free_target(conn, wanted, on_conflict)
        await self._make_parents(conn, target)
        source = stored_path(record.path, trash)
        try:
            async with conn.transaction():  # a savepoint: another replica may take the target first
                await move_rows(conn, source, target)
        except pg_errors.UniqueViolation:
            raise Conflict(f"Something is at {target} now.", code="restore_conflict", conflict_path=target) from None
        await conn.execute(
            "UPDATE fs_files SET state = 'live', trash_id = NULL, updated = %s, version = version + 1, "
            "path = %s || substr(path, char_length(%s) + 1) WHERE owner = current_user::text AND state = 'trashed' "
            f"AND trash_id = %s AND {SUBTREE}", (now(), target, record.path, trash.id, *subtree(record.path)))
        await self.pg.folders_changed(conn, parent_of(target))
        await self._settle_entry(conn, trash, whole=record.id == trash.file_id)

    async def _settle_entry(self, conn: Conn, trash: TrashRecord, whole: bool) -> None:
        """After an item left a trash entry: the whole item (the entry goes), or a child of a trashed
        folder (the entry's size is measured again)."""
        if whole:
            await delete_rows(conn, trash.stored_at)
            await conn.execute("DELETE FROM fs_trash WHERE owner = current_user::text AND id = %s", (trash.id,))
            return
        await conn.execute(
            "UPDATE fs_trash SET size = (SELECT coalesce(sum(size), 0) FROM contents_files "
            f"WHERE owner = current_user::text AND {SUBTREE}) WHERE owner = current_user::text AND id = %s",
            (*subtree(stored_path(trash.original_path, trash)), trash.id))

    # -- permanent delete ----------------------------------------------------------------

    async def purge(self, record: FileRecord, confirm_no_trash: bool = False) -> None:
        """Delete a trashed item for good. Conflict ``not_trashed`` for a live one, except with
        ``confirm_no_trash`` for one larger than ``trash_max_bytes`` (no other item is refused by
        the database's trash)."""
        async with self.pg.operation("delete", record.path) as conn:
            record, trash = await self._lock_item(conn, record.id)
            if record.state == "live" and confirm_no_trash and await self._too_large(conn, record.path):
                await delete_rows(conn, record.path)
                await self.pg.folders_changed(conn, parent_of(record.path))
                return
            if record.state != "trashed" or trash is None:
                raise Conflict("Only trashed items can be deleted permanently; move it to the trash first.",
                               code="not_trashed")
            whole = record.id == trash.file_id
            await delete_rows(conn, trash.stored_at if whole else stored_path(record.path, trash))
            await self._settle_entry(conn, trash, whole)

    async def _too_large(self, conn: Conn, path: str) -> bool:
        if not self.trash_max_bytes:
            return False
        row = await (await conn.execute(
            f"SELECT coalesce(sum(size), 0) FROM contents_files WHERE owner = current_user::text AND {SUBTREE}",
            subtree(path))).fetchone()
        return row is not None and int(row[0]) > self.trash_max_bytes

    async def _purge_trash(self, trash: TrashRecord) -> None:
        """Purge one trash entry whole (the sweep, empty trash, trash_max_bytes); gone already: nothing."""
        async with self.pg.operation("delete", trash.original_path) as conn:
            if await self._trash_entry(conn, trash.id, "FOR UPDATE") is not None:
                await self._settle_entry(conn, trash, whole=True)

    async def sweep_trash(self) -> int:
        """Purge trash items older than ``trash_retention_days`` (0: none), then the oldest past
        ``trash_max_bytes``; how many were purged."""
        days = self.trash_retention_days
        cutoff = iso_timestamp(time.time() - days * 86400)
        old = await self._call(lambda store: store.trash_older_than(cutoff)) if days else []
        for trash in old:
            await self._purge_trash(trash)
        if old:
            self.log.info("Purged %d trash items older than %g days", len(old), days)
        return len(old) + await self._trim_trash(keep=None)

    async def empty_trash(self) -> None:
        while True:
            page = await self._call(lambda store: store.trash_page(100, None))
            if not page:
                return
            for trash in page:
                await self._purge_trash(trash)
