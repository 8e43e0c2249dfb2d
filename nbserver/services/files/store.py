"""The metadata store: file ids, trash records and operation intents (design sections 4.1-4.3).

:class:`MetadataStore` is the interface the file services use; :class:`SQLiteMetadataStore`
is the default, on the standard library's ``sqlite3``. Its methods block: the file services
call them on their one writer thread (``FileServices``), never on the event loop, so one
connection does every write and no transaction is held across an ``await``.

Paths are API paths (``a/b.ipynb``, root ``""``). A folder move rewrites its descendants with
a byte-ordered range (``path >= 'a/' AND path < 'a0'``: ``'0'`` is the byte after ``'/'``),
which uses the index and needs no ``LIKE`` escaping of ``_`` and ``%``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from nbserver.services.files.links_store import LinksStore, SQLiteLinksStore
from nbserver.services.files.migrations import migrate
from nbserver.services.files.mounts import filesystem_type
from nbserver.services.files.reconciler import CrawlPass
from nbserver.timestamps import iso_timestamp

def store_errors() -> tuple[type[Exception], ...]:
    """The errors of a metadata store's database (the caller degrades on them: 503, logged):
    sqlite3's, and psycopg's once PostgreSQL support is loaded. Read from ``sys.modules`` rather
    than imported: no psycopg error exists before psycopg is, and importing it costs a server
    without PostgreSQL 9 MB resident and about 90 ms of its start-up (docs/performance.md, section 6)."""
    psycopg = sys.modules.get("psycopg")
    return (sqlite3.Error,) if psycopg is None else (sqlite3.Error, psycopg.Error)


#: Filesystem types where SQLite's WAL mode does not work (it needs shared memory on one host).
NETWORK_FILESYSTEMS = ("nfs", "nfs4", "cifs", "smb3", "smbfs", "lustre", "gpfs", "ceph", "9p")


@dataclass(frozen=True)
class FileRecord:
    """One file or folder's row: its id and where it is (or, trashed, where it goes back to)."""

    id: str
    path: str
    kind: str
    state: str
    trash_id: str | None
    created: str
    updated: str
    version: int
    world_readable: bool


@dataclass(frozen=True)
class TrashRecord:
    """One explicitly trashed item: ``stored_at`` is its trash folder, relative to the root."""

    id: str
    file_id: str
    original_path: str
    stored_at: str
    trashed_at: str
    trashed_by: str
    size: int | None
    state: str


@dataclass(frozen=True)
class CrawlReport:
    """What one reconciliation changed, and the crawl pass it came from (None: not told)."""

    moved: int
    missing: int
    revived: int
    forgotten: int
    crawl: CrawlPass | None = None


@dataclass(frozen=True)
class Intent:
    """An operation begun on disk and not yet recorded as finished (crash recovery, section 4.3)."""

    id: str
    op: str
    args: dict[str, Any]


def plan_crawl(rows: list[Any], seen: dict[str, tuple[str, int, int]], move_tree: Callable[[str, str], None],
               revive: Callable[[str], None]) -> tuple[int, int, list[str]]:
    """The reconciler's matching (design 4.4) over ``rows`` ``(id, path, kind, state, dev, ino)`` of
    live and missing files and a crawl ``seen`` (path -> (kind, dev, ino)), shared by the stores.

    Calls ``move_tree(old, new)`` for a vanished row whose inode appears at a new path (its tree
    follows; rows at the new path make way) and ``revive(id)`` for a missing row whose path is
    back. Returns (moved, revived, ids of live rows not seen: to be marked missing).
    """
    moved = revived = 0
    live = {path: (file_id, kind) for file_id, path, kind, state, _, _ in rows if state == "live"}
    candidates = {(int(dev), int(ino)): (file_id, path, kind, state) for file_id, path, kind, state, dev, ino in rows
                  if dev is not None and ino is not None and path and (state == "missing" or path not in seen)}
    missing_at = {path: file_id for file_id, path, _, state, _, _ in rows if state == "missing"}
    for path in sorted((p for p in seen if p not in live), key=lambda p: p.count("/")):
        if path in live:
            continue  # arrived with a folder moved a moment ago
        kind, dev, ino = seen[path]
        match = candidates.pop((dev, ino), None)
        if match is not None and (match[2] == "directory") == (kind == "directory"):
            old = match[1]
            move_tree(old, path)
            for known in [p for p in live if p == old or p.startswith(old + "/")]:
                live[path + known[len(old):]] = live.pop(known)
            live.setdefault(path, (match[0], match[2]))
            moved += 1
        elif path in missing_at:
            revive(missing_at.pop(path))
            live[path] = ("", kind)
            revived += 1
    return moved, revived, [live[path][0] for path in live if path and path not in seen and live[path][0]]


def now() -> str:
    return iso_timestamp(time.time())


def descendants_clause(column: str = "path") -> str:
    """SQL matching ``:prefix`` and everything below it (needs ``:prefix``, ``:lower``, ``:upper``)."""
    return f"({column} = :prefix OR ({column} >= :lower AND {column} < :upper))"


def range_args(prefix: str) -> dict[str, str]:
    return {"prefix": prefix, "lower": prefix + "/", "upper": prefix + "0"}


class MetadataStore(LinksStore):
    """The interface of a metadata store (share links, stars and edges: :class:`LinksStore`). Every method blocks; ``sqlite3.Error`` (or the
    backend's own error) escapes for the caller to degrade on."""

    def open(self) -> None:
        """Connect and bring the schema up to date."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    # ids
    def get(self, file_id: str) -> FileRecord | None:
        raise NotImplementedError

    def live_at(self, path: str) -> FileRecord | None:
        raise NotImplementedError

    def assign(self, path: str, kind: str, fingerprint: tuple[int, int] | None = None) -> FileRecord:
        """The live row at ``path``, made with a new UUID4 if there is none; ``fingerprint``
        (device, inode) is recorded when the row has none yet."""
        raise NotImplementedError

    def assign_many(self, items: Iterable[tuple[str, str]]) -> dict[str, str]:
        raise NotImplementedError

    def apply_crawl(self, seen: dict[str, tuple[str, int, int]], missing_before: str) -> CrawlReport:
        """Reconcile the rows with a crawl of the root (path -> (kind, dev, ino)), design section 4.4.

        Known paths keep their ids (whatever their inode); a new path with the inode of a vanished
        row of the same kind is that row moved (a folder's tree follows); a missing row whose path
        reappears revives; rows not seen are marked missing, and those missing since before
        ``missing_before`` are forgotten. New paths get no id here: ids come on first sight.
        """
        raise NotImplementedError

    def ids_at(self, paths: Iterable[str]) -> dict[str, str]:
        """path -> id of the live rows among ``paths`` (no ids are assigned)."""
        raise NotImplementedError

    def move(self, old_path: str, new_path: str) -> None:
        """The live rows at and below ``old_path`` now live at and below ``new_path``."""
        raise NotImplementedError

    def forget(self, path: str) -> None:
        """Drop the live rows at and below ``path`` (it was deleted for good)."""
        raise NotImplementedError

    def content_changed(self, path: str) -> None:
        """The live file at ``path`` has new content: its ``version`` goes up by one and ``updated``
        is now (design section 3.1: the version counts every meta or content change; the ETag
        ``"<id>-<version>"`` that ``If-Match`` compares follows it). Nothing when it has no row."""
        raise NotImplementedError

    # trash and intents
    def begin(self, op: str, args: dict[str, Any], trash: TrashRecord | None = None) -> str:
        """Record an intent (and a pending trash row) in one transaction; the intent's id."""
        raise NotImplementedError

    def intents(self) -> list[Intent]:
        raise NotImplementedError

    def drop_intent(self, intent_id: str, trash_id: str | None = None) -> None:
        """Forget an intent rolled back (and the pending trash row it made)."""
        raise NotImplementedError

    def finish_trash(self, intent_id: str, trash_id: str, path: str) -> None:
        raise NotImplementedError

    def finish_restore(self, intent_id: str, old_path: str, new_path: str, trash_id: str,
                       whole_entry: bool) -> None:
        raise NotImplementedError

    def finish_purge(self, intent_id: str, path: str, trash_id: str, whole_entry: bool) -> None:
        raise NotImplementedError

    def set_trash_size(self, trash_id: str, size: int) -> None:
        """Record a trash entry's size in bytes again (a child of the trashed folder left it)."""
        raise NotImplementedError

    def trash_entry(self, trash_id: str) -> TrashRecord | None:
        raise NotImplementedError

    def trash_page(self, limit: int, after: tuple[str, str] | None) -> list[TrashRecord]:
        """Done trash rows, newest first (then by id), after the ``(trashed_at, id)`` cursor."""
        raise NotImplementedError

    def latest_trash_of(self, original_path: str) -> TrashRecord | None:
        """The newest done trash entry of an item trashed from ``original_path``."""
        raise NotImplementedError

    def trash_older_than(self, cutoff: str) -> list[TrashRecord]:
        """Done trash rows trashed before the ISO time ``cutoff``, oldest first."""
        raise NotImplementedError

    def trash_totals(self) -> tuple[int, int]:
        """(number of explicitly trashed items, their total size in bytes)."""
        raise NotImplementedError

    def adopt_trash(self, trash: TrashRecord, kind: str) -> None:
        """Re-create a trash entry found on disk by its sidecar (the database lost it)."""
        raise NotImplementedError

    def claim_job(self, job: str) -> bool:
        """Whether this process runs the background ``job`` (trash sweep, reconciler) of the root:
        always with SQLite (one server per database file); with a database shared by replicas,
        only the one replica that holds the job's lock (design 4.6, "singleton jobs")."""
        return True


class SQLiteMetadataStore(SQLiteLinksStore, MetadataStore):
    """The metadata store in one SQLite file: WAL where the filesystem allows it."""

    def __init__(self, db_path: str, owner: str, busy_timeout: float = 5.0, wal: bool = True) -> None:
        self.db_path = db_path
        self.owner = owner
        self.busy_timeout = busy_timeout
        self.wal = wal
        self._connection: sqlite3.Connection | None = None

    @property
    def db(self) -> sqlite3.Connection:
        if self._connection is None:
            self.open()
        assert self._connection is not None
        return self._connection

    def open(self) -> None:
        connection = sqlite3.connect(self.db_path, timeout=self.busy_timeout, isolation_level=None,
                                     check_same_thread=False)
        try:
            connection.execute("PRAGMA journal_mode = " + ("WAL" if self.wal else "DELETE"))
            connection.execute("PRAGMA synchronous = NORMAL" if self.wal else "PRAGMA synchronous = FULL")
            migrate(connection)
        except BaseException:
            connection.close()
            raise
        self._connection = connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _transaction(self) -> _Transaction:
        return _Transaction(self.db)

    @staticmethod
    def _file(row: sqlite3.Row | tuple[Any, ...] | None) -> FileRecord | None:
        if row is None:
            return None
        file_id, path, kind, state, trash_id, created, updated, version, world_readable = row
        return FileRecord(file_id, path, kind, state, trash_id, created, updated, version, bool(world_readable))

    _FILE_COLUMNS = "id, path, kind, state, trash_id, created, updated, version, world_readable"
    _TRASH_COLUMNS = "id, file_id, original_path, stored_at, trashed_at, trashed_by, size, state"

    def get(self, file_id: str) -> FileRecord | None:
        row = self.db.execute(f"SELECT {self._FILE_COLUMNS} FROM files WHERE id = ? AND owner = ?",
                              (file_id, self.owner)).fetchone()
        return self._file(row)

    def live_at(self, path: str) -> FileRecord | None:
        row = self.db.execute(
            f"SELECT {self._FILE_COLUMNS} FROM files WHERE owner = ? AND path = ? AND state = 'live'",
            (self.owner, path)).fetchone()
        return self._file(row)

    def assign(self, path: str, kind: str, fingerprint: tuple[int, int] | None = None) -> FileRecord:
        self.assign_many([(path, kind)])
        record = self.live_at(path)
        assert record is not None
        if fingerprint is not None:
            with self._transaction() as db:
                db.execute("UPDATE files SET dev = ?, ino = ? WHERE id = ? AND dev IS NULL", (*fingerprint, record.id))
        return record

    def assign_many(self, items: Iterable[tuple[str, str]]) -> dict[str, str]:
        """path -> id for ``(path, kind)`` items, new UUID4s for those without a live row (one transaction)."""
        wanted = dict(items)
        found = self.ids_at(wanted)
        missing = [path for path in wanted if path not in found]
        if missing:
            stamp = now()
            with self._transaction() as db:
                for path in missing:
                    row = db.execute("SELECT id FROM files WHERE owner = ? AND path = ? AND state = 'live'",
                                     (self.owner, path)).fetchone()
                    if row is None:
                        row = (str(uuid.uuid4()),)
                        db.execute("INSERT INTO files (id, owner, path, kind, created, updated) "
                                   "VALUES (?, ?, ?, ?, ?, ?)", (row[0], self.owner, path, wanted[path], stamp, stamp))
                    found[path] = row[0]
        return found

    def ids_at(self, paths: Iterable[str]) -> dict[str, str]:
        wanted = list(paths)
        found: dict[str, str] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(
                f"SELECT path, id FROM files WHERE owner = ? AND state = 'live' AND path IN ({marks})",
                (self.owner, *chunk))
            found.update(dict(rows.fetchall()))
        return found

    def _move_live(self, db: sqlite3.Connection, old_path: str, new_path: str, state: str = "live") -> None:
        db.execute(
            "UPDATE files SET path = :new || substr(path, length(:prefix) + 1), updated = :now, "
            f"version = version + (path = :prefix) WHERE owner = :owner AND state = :state AND {descendants_clause()}",
            {"new": new_path, "now": now(), "owner": self.owner, "state": state, **range_args(old_path)})

    def move(self, old_path: str, new_path: str) -> None:
        with self._transaction() as db:
            # Rows left at the target by files deleted outside the server make way (section 3.7, rule 4).
            db.execute(f"DELETE FROM files WHERE owner = :owner AND state = 'live' AND {descendants_clause()}",
                       {"owner": self.owner, **range_args(new_path)})
            self._move_live(db, old_path, new_path)

    def forget(self, path: str) -> None:
        with self._transaction() as db:
            db.execute(f"DELETE FROM files WHERE owner = :owner AND state = 'live' AND {descendants_clause()}",
                       {"owner": self.owner, **range_args(path)})

    def content_changed(self, path: str) -> None:
        with self._transaction() as db:
            db.execute("UPDATE files SET version = version + 1, updated = ? WHERE owner = ? AND path = ? "
                       "AND state = 'live'", (now(), self.owner, path))

    def apply_crawl(self, seen: dict[str, tuple[str, int, int]], missing_before: str) -> CrawlReport:
        stamp = now()
        with self._transaction() as db:
            rows = db.execute("SELECT id, path, kind, state, dev, ino FROM files WHERE owner = ? "
                              "AND state IN ('live', 'missing')", (self.owner,)).fetchall()

            def move_tree(old: str, new: str) -> None:
                args = {"owner": self.owner, **range_args(new)}
                db.execute(f"DELETE FROM files WHERE owner = :owner AND state = 'live' AND {descendants_clause()}",
                           args)
                db.execute(
                    "UPDATE files SET path = :new || substr(path, length(:prefix) + 1), state = 'live', "
                    "missing_since = NULL, updated = :now, version = version + (path = :prefix) "
                    f"WHERE owner = :owner AND state IN ('live', 'missing') AND {descendants_clause()}",
                    {"new": new, "now": stamp, "owner": self.owner, **range_args(old)})

            def revive(file_id: str) -> None:
                db.execute("UPDATE files SET state = 'live', missing_since = NULL WHERE id = ?", (file_id,))
            inodes = {path: (dev, ino) for _, path, _, state, dev, ino in rows if state == "live"}
            moved, revived, gone = plan_crawl(rows, seen, move_tree, revive)
            db.executemany("UPDATE files SET state = 'missing', missing_since = ? WHERE id = ? AND state = 'live'",
                           [(stamp, file_id) for file_id in gone])
            db.executemany("UPDATE files SET dev = ?, ino = ? WHERE owner = ? AND path = ? AND state = 'live'",
                           [(dev, ino, self.owner, path) for path, (_, dev, ino) in seen.items()
                            if inodes.get(path) != (dev, ino)])  # not 100,000 updates a cycle
            forgotten = db.execute("DELETE FROM files WHERE owner = ? AND state = 'missing' AND missing_since < ?",
                                   (self.owner, missing_before)).rowcount
        return CrawlReport(moved, len(gone), revived, forgotten)

    def begin(self, op: str, args: dict[str, Any], trash: TrashRecord | None = None) -> str:
        intent_id = uuid.uuid4().hex
        with self._transaction() as db:
            db.execute("INSERT INTO intents (id, op, args, created) VALUES (?, ?, ?, ?)",
                       (intent_id, op, json.dumps(args), now()))
            if trash is not None:
                db.execute(f"INSERT INTO trash ({self._TRASH_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                           (trash.id, trash.file_id, trash.original_path, trash.stored_at, trash.trashed_at,
                            trash.trashed_by, trash.size, "pending"))
        return intent_id

    def intents(self) -> list[Intent]:
        rows = self.db.execute("SELECT id, op, args FROM intents ORDER BY created").fetchall()
        return [Intent(intent_id, op, json.loads(args)) for intent_id, op, args in rows]

    def drop_intent(self, intent_id: str, trash_id: str | None = None) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM intents WHERE id = ?", (intent_id,))
            if trash_id is not None:
                db.execute("DELETE FROM trash WHERE id = ? AND state = 'pending'", (trash_id,))

    def finish_trash(self, intent_id: str, trash_id: str, path: str) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE files SET state = 'trashed', trash_id = :trash_id, updated = :now, version = version + 1 "
                f"WHERE owner = :owner AND state = 'live' AND {descendants_clause()}",
                {"trash_id": trash_id, "now": now(), "owner": self.owner, **range_args(path)})
            db.execute("UPDATE trash SET state = 'done' WHERE id = ?", (trash_id,))
            db.execute("DELETE FROM intents WHERE id = ?", (intent_id,))

    def finish_restore(self, intent_id: str, old_path: str, new_path: str, trash_id: str,
                       whole_entry: bool) -> None:
        with self._transaction() as db:
            # Rows of files at the target deleted outside the server make way for the restored ones.
            db.execute(f"DELETE FROM files WHERE owner = :owner AND state = 'live' AND {descendants_clause()}",
                       {"owner": self.owner, **range_args(new_path)})
            args = {"trash_id": trash_id, "now": now(), "owner": self.owner, **range_args(old_path)}
            db.execute(
                "UPDATE files SET state = 'live', trash_id = NULL, updated = :now, version = version + 1, "
                "path = :new || substr(path, length(:prefix) + 1) "
                f"WHERE owner = :owner AND state = 'trashed' AND trash_id = :trash_id AND {descendants_clause()}",
                {**args, "new": new_path})
            if whole_entry:
                db.execute("DELETE FROM trash WHERE id = ?", (trash_id,))
            db.execute("DELETE FROM intents WHERE id = ?", (intent_id,))

    def finish_purge(self, intent_id: str, path: str, trash_id: str, whole_entry: bool) -> None:
        with self._transaction() as db:
            db.execute(
                "DELETE FROM files WHERE owner = :owner AND state = 'trashed' AND trash_id = :trash_id "
                f"AND {descendants_clause()}",
                {"trash_id": trash_id, "owner": self.owner, **range_args(path)})
            if whole_entry:
                db.execute("DELETE FROM trash WHERE id = ?", (trash_id,))
            db.execute("DELETE FROM intents WHERE id = ?", (intent_id,))

    def set_trash_size(self, trash_id: str, size: int) -> None:
        with self._transaction() as db:
            db.execute("UPDATE trash SET size = ? WHERE id = ?", (size, trash_id))

    def trash_entry(self, trash_id: str) -> TrashRecord | None:
        row = self.db.execute(f"SELECT {self._TRASH_COLUMNS} FROM trash WHERE id = ?", (trash_id,)).fetchone()
        return TrashRecord(*row) if row else None

    def trash_page(self, limit: int, after: tuple[str, str] | None) -> list[TrashRecord]:
        if after is None:
            rows = self.db.execute(
                f"SELECT {self._TRASH_COLUMNS} FROM trash WHERE state = 'done' "
                "ORDER BY trashed_at DESC, id LIMIT ?", (limit,))
        else:
            rows = self.db.execute(
                f"SELECT {self._TRASH_COLUMNS} FROM trash WHERE state = 'done' "
                "AND (trashed_at < ? OR (trashed_at = ? AND id > ?)) ORDER BY trashed_at DESC, id LIMIT ?",
                (after[0], after[0], after[1], limit))
        return [TrashRecord(*row) for row in rows.fetchall()]

    def latest_trash_of(self, original_path: str) -> TrashRecord | None:
        row = self.db.execute(f"SELECT {self._TRASH_COLUMNS} FROM trash WHERE state = 'done' AND original_path = ? "
                              "ORDER BY trashed_at DESC LIMIT 1", (original_path,)).fetchone()
        return TrashRecord(*row) if row else None

    def trash_older_than(self, cutoff: str) -> list[TrashRecord]:
        rows = self.db.execute(f"SELECT {self._TRASH_COLUMNS} FROM trash WHERE state = 'done' AND trashed_at < ? "
                               "ORDER BY trashed_at", (cutoff,))
        return [TrashRecord(*row) for row in rows.fetchall()]

    def trash_totals(self) -> tuple[int, int]:
        count, size = self.db.execute(
            "SELECT count(*), coalesce(sum(size), 0) FROM trash WHERE state = 'done'").fetchone()
        return int(count), int(size)

    def adopt_trash(self, trash: TrashRecord, kind: str) -> None:
        with self._transaction() as db:
            db.execute(f"INSERT OR IGNORE INTO trash ({self._TRASH_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (trash.id, trash.file_id, trash.original_path, trash.stored_at, trash.trashed_at,
                        trash.trashed_by, trash.size, "done"))
            if db.execute("SELECT 1 FROM files WHERE id = ?", (trash.file_id,)).fetchone() is None:
                db.execute("INSERT INTO files (id, owner, path, kind, state, trash_id, created, updated) "
                           "VALUES (?, ?, ?, ?, 'trashed', ?, ?, ?)",
                           (trash.file_id, self.owner, trash.original_path, kind, trash.id,
                            trash.trashed_at, trash.trashed_at))


class _Transaction:
    """``with``: BEGIN IMMEDIATE (the write lock up front, so no upgrade deadlock), COMMIT or ROLLBACK."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        if kind is None:
            self.db.execute("COMMIT")
        else:
            self.db.execute("ROLLBACK")


def is_network_filesystem(path: str) -> bool:
    fstype = filesystem_type(os.path.realpath(path))
    return fstype in NETWORK_FILESYSTEMS or fstype.startswith("fuse.") or fstype.startswith("nfs")
