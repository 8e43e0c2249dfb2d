"""The search index: :class:`SearchIndex` (the interface) and :class:`SQLiteSearchIndex` (the default).

Documents are keyed by the file id of the metadata store (``nbserver.services.files``), and the
index keeps only what a file *says*; where it is and whether it is live come from the metadata
store at query time. So a rename or a folder move needs no re-extraction (only a renamed file's
own name column changes), a trashed file drops out of results at once (its row is ``trashed``)
and comes back on restore with nothing re-indexed, and a purged id leaves an orphan that
:meth:`SearchIndex.prune` drops.

The SQLite index is its own database file next to the metadata database (``search.sqlite``),
which it ATTACHes read-only for queries: the index's large, frequent writes never take the
metadata database's write lock (trash and restore wait on that one), the index is a cache that
can be deleted and rebuilt without touching ids or the trash, and it can grow to gigabytes
without weighing on the small database that holds them. FTS5 (standard-library ``sqlite3``,
``unicode61 remove_diacritics 2``, prefixes of 2 and 3 characters, a regular table so ``delete``
works on SQLite 3.40) ranks with ``bm25`` and the column weights of :data:`extract.WEIGHTS`.
Where FTS5 is missing the index keeps names only and matches them with ``LIKE``
(``engine == "fallback"``).

Methods block: the write ones run in the index worker process (:mod:`.worker`), the read ones on
the server's small pool of reader threads, each with its own connection (WAL lets reads run
during writes, across processes).

Durability: the index is a cache that can always be rebuilt from the files, so a bulk build
(:meth:`SQLiteSearchIndex.begin_bulk`) writes with ``synchronous = OFF`` (no fsync per commit).
SQLite's rule for that mode (https://www.sqlite.org/pragma.html#pragma_synchronous): the data is
safe if the application crashes, but the database may be corrupted if the operating system
crashes or the machine loses power. So before a bulk build the index records, durably, the
machine's boot id in its ``state`` table; :meth:`~SQLiteSearchIndex.end_bulk` fsyncs the files and
removes it. An index that opens with the mark of another boot (the machine went down during a
build), or that SQLite finds malformed, is deleted and built again from nothing (``was_reset``);
one with this boot's mark (only the process died) is kept, and the build goes on.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from dataclasses import dataclass
from typing import Callable, Iterable
from urllib.parse import quote

from nbserver.services.search.extract import COLUMNS, WEIGHTS, Document, Segment
from nbserver.services.search.query import Query
from nbserver.timestamps import utc_now_iso

FTS5 = "fts5"
FALLBACK = "fallback"
#: Rows ranked beyond the page asked for, so that a few filtered out (trashed, elsewhere) cost no second query.
RANK_WINDOW_SPARE = 100
#: Paths bound in one ``IN (...)`` list (SQLite allows 32,766 variables from 3.32 on; older ones 999).
PATHS_PER_STATEMENT = 500

SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
  num         INTEGER PRIMARY KEY,
  file_id     TEXT NOT NULL UNIQUE,
  path        TEXT NOT NULL,
  name        TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  segments    TEXT NOT NULL,
  indexed     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS docs_path ON docs(path);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
FTS_SCHEMA = (f"CREATE VIRTUAL TABLE IF NOT EXISTS search USING fts5({', '.join(COLUMNS)}, "
              "tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3')")


#: The file of the running kernel's boot id (Linux); elsewhere every bulk mark counts as another boot's.
BOOT_ID_FILE = "/proc/sys/kernel/random/boot_id"
#: The suffixes of an SQLite database's files in WAL mode.
DATABASE_FILE_SUFFIXES = ("", "-wal", "-shm")


def boot_id() -> str:
    """This boot of the machine (Linux's random boot id), or a value no earlier boot wrote."""
    try:
        with open(BOOT_ID_FILE) as handle:
            return handle.read().strip()
    except OSError:
        return "unknown-" + os.urandom(8).hex()


def fts5_available() -> bool:
    """Whether this platform's SQLite has FTS5 (tests patch this to force the fallback)."""
    connection = sqlite3.connect(":memory:")
    try:
        connection.execute("CREATE VIRTUAL TABLE probe USING fts5(text)")
    except sqlite3.Error:
        return False
    finally:
        connection.close()
    return True


@dataclass(frozen=True)
class Hit:
    """One ranked result: the file's id, path and type from the metadata store, and its score."""

    file_id: str
    path: str
    kind: str
    score: float


@dataclass(frozen=True)
class Ranking:
    """A page of hits, and whether they are ranked (else: too many matches to rank, newest first)."""

    hits: list[Hit]
    ranked: bool


@dataclass(frozen=True)
class Filters:
    """Where to look: the owner's live files, under ``folder`` ("" for all), of ``kind`` (None: any)."""

    owner: str
    folder: str = ""
    kind: str | None = None


class SearchIndex:
    """The interface of a search index (SQLite FTS5 here; PostgreSQL ``tsvector`` later)."""

    #: ``fts5`` (full text) or ``fallback`` (names only).
    engine: str = FTS5

    def open(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def fingerprint_of(self, file_id: str) -> tuple[str, str] | None:
        """(fingerprint, name) of the indexed document of ``file_id``, or None."""
        raise NotImplementedError

    def known_paths(self) -> dict[str, str]:
        """path -> fingerprint of every document (paths as last indexed: hints for the scan). A read."""
        raise NotImplementedError

    def fingerprints_at(self, paths: list[str]) -> dict[str, str]:
        """path -> fingerprint of the documents last indexed at ``paths`` (those it has). A read."""
        known = self.known_paths()
        return {path: known[path] for path in paths if path in known}

    def documents_after(self, path: str, limit: int) -> list[tuple[str, str]]:
        """(path, fingerprint) of the first ``limit`` documents whose path sorts after ``path``. A read."""
        known = self.known_paths()
        return sorted((item for item in known.items() if item[0] > path))[:limit]

    def put(self, file_id: str, path: str, fingerprint: str, document: Document) -> None:
        """Index (or re-index) ``file_id``'s document in one transaction."""
        raise NotImplementedError

    def rename(self, file_id: str, path: str, name: str) -> None:
        """The file moved (same content): only its path hint and its name column change."""
        raise NotImplementedError

    def remove(self, file_ids: Iterable[str]) -> None:
        raise NotImplementedError

    def prune(self) -> int:
        """Drop documents whose id the metadata store no longer has; how many."""
        raise NotImplementedError

    def forget_fingerprints(self) -> None:
        """Make every document look changed, so the next scan re-extracts all (a full reindex)."""
        raise NotImplementedError

    def query(self, query: Query, filters: Filters, limit: int, offset: int) -> Ranking:
        """Hits among live files, best first (or, past the rank limit, newest first)."""
        raise NotImplementedError

    def segments(self, file_ids: Iterable[str]) -> dict[str, list[Segment]]:
        """The stored text segments of documents (for match ranges)."""
        raise NotImplementedError

    def counts(self) -> tuple[int, str | None, int]:
        """(documents, time of the last change as ISO 8601 or None, bytes on disk)."""
        raise NotImplementedError


class SQLiteSearchIndex(SearchIndex):
    """The index in its own SQLite file, with the metadata database attached read-only for queries."""

    def __init__(self, db_path: str, meta_path: str, engine: str, busy_timeout: float = 5.0,
                 rank_limit: int = 5_000) -> None:
        self.db_path = db_path
        self.rank_limit = rank_limit
        self.meta_path = meta_path
        self.engine = engine
        self.busy_timeout = busy_timeout
        self._writer: sqlite3.Connection | None = None
        self._readers = threading.local()
        self._all_readers: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        #: Whether writes go without fsync (a bulk build; see the module's docstring on durability).
        self.bulk = False
        #: Whether :meth:`open` deleted an index left unsafe by a crash of the machine, or malformed.
        self.was_reset = False

    # -- connections ---------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.db_path, timeout=self.busy_timeout, isolation_level=None,
                                     check_same_thread=False)
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = NORMAL")
        return connection

    def open(self) -> None:
        """Open the writing connection, making the schema; an unsafe or malformed index is made anew."""
        try:
            self._open_writer()
        except sqlite3.DatabaseError as exc:  # "file is not a database", "database disk image is malformed"
            if isinstance(exc, sqlite3.OperationalError):
                raise  # locked, or cannot be created: not a damaged index
            self._delete_files()
            self._open_writer()
        mark = self.writer.execute("SELECT value FROM state WHERE key = 'bulk'").fetchone()
        if mark is not None and mark[0] != boot_id():
            self.writer.close()
            self._writer = None
            self._delete_files()
            self._open_writer()
        elif mark is not None:
            self.bulk = True  # writes of the process that died may still be unsynced: end_bulk syncs them
            self.writer.execute("PRAGMA synchronous = OFF")

    def _delete_files(self) -> None:
        for suffix in DATABASE_FILE_SUFFIXES:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.db_path + suffix)
        self.was_reset = True

    def _open_writer(self) -> None:
        writer = self._connect()
        try:
            writer.executescript(SCHEMA)
            if self.engine == FTS5:
                writer.execute(FTS_SCHEMA)
            previous = writer.execute("SELECT value FROM state WHERE key = 'engine'").fetchone()
            if previous is not None and previous[0] != self.engine:
                # Built by the other engine: its documents lack what this one needs.
                writer.execute("DELETE FROM docs")
                if self.engine == FTS5:
                    writer.execute("DELETE FROM search")
            writer.execute("INSERT OR REPLACE INTO state (key, value) VALUES ('engine', ?)", (self.engine,))
        except BaseException:
            writer.close()
            raise
        self._writer = writer

    @property
    def writer(self) -> sqlite3.Connection:
        if self._writer is None:
            raise sqlite3.OperationalError("the search index is closed")
        return self._writer

    @property
    def reader(self) -> sqlite3.Connection:
        """This thread's read connection, with the metadata database attached read-only as ``meta``."""
        connection: sqlite3.Connection | None = getattr(self._readers, "connection", None)
        if connection is None:
            connection = sqlite3.connect(f"file:{quote(self.db_path)}", uri=True, timeout=self.busy_timeout,
                                         isolation_level=None, check_same_thread=False)
            connection.execute("ATTACH DATABASE ? AS meta", (f"file:{quote(self.meta_path)}?mode=ro",))
            self._readers.connection = connection
            with self._lock:
                self._all_readers.append(connection)
        return connection

    def close(self) -> None:
        with self._lock:
            for connection in self._all_readers:
                connection.close()
            self._all_readers = []
        self._readers = threading.local()
        if self._writer is not None:
            self.end_bulk()
            self._writer.close()
            self._writer = None

    def begin_bulk(self) -> None:
        """Write without fsync from now on (a build), after recording this boot's mark durably."""
        if self.bulk:
            return
        db = self.writer
        db.execute("PRAGMA synchronous = FULL")
        db.execute("INSERT OR REPLACE INTO state (key, value) VALUES ('bulk', ?)", (boot_id(),))
        db.execute("PRAGMA synchronous = OFF")
        self.bulk = True

    def end_bulk(self) -> None:
        """Make what the bulk build wrote durable (fsync of the database and its log), then drop the mark."""
        if not self.bulk:
            return
        for suffix in ("", "-wal"):
            with contextlib.suppress(FileNotFoundError):
                descriptor = os.open(self.db_path + suffix, os.O_RDONLY)
                try:
                    os.fsync(descriptor)
                finally:
                    os.close(descriptor)
        db = self.writer
        db.execute("PRAGMA synchronous = FULL")
        db.execute("DELETE FROM state WHERE key = 'bulk'")
        db.execute("PRAGMA synchronous = NORMAL")
        self.bulk = False

    # -- writes (the indexer's thread) ---------------------------------------------------

    def _touch(self, db: sqlite3.Connection) -> None:
        db.execute("INSERT OR REPLACE INTO state (key, value) VALUES ('updated', ?)", (utc_now_iso(),))

    def fingerprint_of(self, file_id: str) -> tuple[str, str] | None:
        row = self.writer.execute("SELECT fingerprint, name FROM docs WHERE file_id = ?", (file_id,)).fetchone()
        return (row[0], row[1]) if row else None

    def known_paths(self) -> dict[str, str]:
        return dict(self.reader.execute("SELECT path, fingerprint FROM docs").fetchall())

    def fingerprints_at(self, paths: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for start in range(0, len(paths), PATHS_PER_STATEMENT):
            chunk = paths[start:start + PATHS_PER_STATEMENT]
            marks = ",".join("?" * len(chunk))
            found.update(self.reader.execute(f"SELECT path, fingerprint FROM docs WHERE path IN ({marks})", chunk))
        return found

    def documents_after(self, path: str, limit: int) -> list[tuple[str, str]]:
        rows = self.reader.execute("SELECT path, fingerprint FROM docs WHERE path > ? ORDER BY path LIMIT ?",
                                   (path, limit))
        return [(row[0], row[1]) for row in rows]

    def put(self, file_id: str, path: str, fingerprint: str, document: Document) -> None:
        segments = json.dumps([segment.as_json() for segment in document.segments], ensure_ascii=False)
        db = self.writer
        db.execute("BEGIN IMMEDIATE")
        try:
            row = db.execute("SELECT num FROM docs WHERE file_id = ?", (file_id,)).fetchone()
            if row is not None and self.engine == FTS5:
                db.execute("DELETE FROM search WHERE rowid = ?", (row[0],))
            db.execute(
                "INSERT INTO docs (file_id, path, name, fingerprint, segments, indexed) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (file_id) DO UPDATE SET path = excluded.path, name = excluded.name, "
                "fingerprint = excluded.fingerprint, segments = excluded.segments, indexed = excluded.indexed",
                (file_id, path, document.name, fingerprint, segments, utc_now_iso()))
            if self.engine == FTS5:
                num = db.execute("SELECT num FROM docs WHERE file_id = ?", (file_id,)).fetchone()[0]
                marks = ", ".join("?" * len(COLUMNS))
                db.execute(f"INSERT INTO search (rowid, {', '.join(COLUMNS)}) VALUES (?, {marks})",
                           (num, *document.column_texts()))
            self._touch(db)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def rename(self, file_id: str, path: str, name: str) -> None:
        db = self.writer
        db.execute("BEGIN IMMEDIATE")
        try:
            row = db.execute("SELECT num, name FROM docs WHERE file_id = ?", (file_id,)).fetchone()
            if row is not None:
                db.execute("UPDATE docs SET path = ?, name = ? WHERE num = ?", (path, name, row[0]))
                if row[1] != name and self.engine == FTS5:
                    db.execute("UPDATE search SET name = ? WHERE rowid = ?", (name, row[0]))
                self._touch(db)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def remove(self, file_ids: Iterable[str]) -> None:
        db = self.writer
        db.execute("BEGIN IMMEDIATE")
        try:
            for file_id in file_ids:
                row = db.execute("SELECT num FROM docs WHERE file_id = ?", (file_id,)).fetchone()
                if row is None:
                    continue
                if self.engine == FTS5:
                    db.execute("DELETE FROM search WHERE rowid = ?", (row[0],))
                db.execute("DELETE FROM docs WHERE num = ?", (row[0],))
            self._touch(db)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def prune(self) -> int:
        # In SQLite, on a read connection (which has the metadata attached): no 100,000-id sets in Python.
        orphans = [row[0] for row in self.reader.execute(
            "SELECT file_id FROM docs WHERE file_id NOT IN (SELECT id FROM meta.files)")]
        if orphans:
            self.remove(orphans)
        return len(orphans)

    def forget_fingerprints(self) -> None:
        self.writer.execute("UPDATE docs SET fingerprint = ''")

    # -- reads (reader threads) ----------------------------------------------------------

    def query(self, query: Query, filters: Filters, limit: int, offset: int) -> Ranking:
        where, args = filter_clause(filters, sqlite_mark)
        args.update({"limit": limit, "offset": offset})
        if self.engine == FALLBACK:
            return Ranking(self._names_like(query, where, args), True)
        args["match"] = query.fts()
        matches = self.reader.execute("SELECT count(*) FROM (SELECT rowid FROM search WHERE search MATCH :match "
                                      "LIMIT :cap)", {"match": args["match"], "cap": self.rank_limit + 1}).fetchone()[0]
        score = f"-bm25(search, {', '.join(str(weight) for weight in WEIGHTS)})"
        joined = "JOIN docs d ON d.num = search.rowid JOIN meta.files f ON f.id = d.file_id"
        if matches > self.rank_limit:
            # Too broad to rank within the time a query may take: newest indexed first, scored per row shown.
            sql = (f"SELECT d.file_id, f.path, f.kind, {score} FROM search {joined} WHERE search MATCH :match "
                   f"AND {where} ORDER BY search.rowid DESC LIMIT :limit OFFSET :offset")
            return Ranking(self._hits(sql, args), False)
        # Rank in FTS5 alone, then look up only the best window's rows; all of them when filters
        # (trashed files, another folder) leave too few of the window.
        args["window"] = offset + limit + RANK_WINDOW_SPARE
        sql = (f"WITH best AS (SELECT rowid, {score} AS score FROM search WHERE search MATCH :match "
               "ORDER BY score DESC LIMIT :window) "
               f"SELECT d.file_id, f.path, f.kind, best.score FROM best JOIN docs d ON d.num = best.rowid "
               f"JOIN meta.files f ON f.id = d.file_id WHERE {where} ORDER BY best.score DESC, d.num "
               "LIMIT :limit OFFSET :offset")
        hits = self._hits(sql, args)
        if len(hits) < limit and matches > args["window"]:
            sql = (f"SELECT d.file_id, f.path, f.kind, {score} AS score FROM search {joined} WHERE search MATCH :match "
                   f"AND {where} ORDER BY score DESC, d.num LIMIT :limit OFFSET :offset")
            hits = self._hits(sql, args)
        return Ranking(hits, True)

    def _names_like(self, query: Query, where: str, args: dict[str, object]) -> list[Hit]:
        likes = names_like_clause(query, args, sqlite_mark, "d.name")
        sql = ("SELECT d.file_id, f.path, f.kind, 1.0 / length(d.name) AS score "
               "FROM docs d JOIN meta.files f ON f.id = d.file_id "
               f"WHERE {likes} AND {where} ORDER BY score DESC, f.path LIMIT :limit OFFSET :offset")
        return self._hits(sql, args)

    def _hits(self, sql: str, args: dict[str, object]) -> list[Hit]:
        rows = self.reader.execute(sql, args).fetchall()
        return [Hit(file_id, path, kind, round(float(score), 6)) for file_id, path, kind, score in rows]

    def segments(self, file_ids: Iterable[str]) -> dict[str, list[Segment]]:
        wanted = list(file_ids)
        if not wanted:
            return {}
        marks = ",".join("?" * len(wanted))
        rows = self.reader.execute(f"SELECT file_id, segments FROM docs WHERE file_id IN ({marks})", wanted)
        return {file_id: [Segment.from_json(item) for item in json.loads(text)] for file_id, text in rows.fetchall()}

    def counts(self) -> tuple[int, str | None, int]:
        documents = self.reader.execute("SELECT count(*) FROM docs").fetchone()[0]
        row = self.reader.execute("SELECT value FROM state WHERE key = 'updated'").fetchone()
        size = sum(os.path.getsize(self.db_path + suffix) for suffix in ("", "-wal")
                   if os.path.exists(self.db_path + suffix))
        return int(documents), row[0] if row else None, size


def sqlite_mark(name: str) -> str:
    """A named parameter in sqlite3's style (PostgreSQL's index passes psycopg's ``%(name)s``)."""
    return f":{name}"


def filter_clause(filters: Filters, mark: Callable[[str], str]) -> tuple[str, dict[str, object]]:
    """SQL over the metadata store's files ``f`` keeping the live ones ``filters`` allow, and its arguments."""
    clauses = [f"f.owner = {mark('owner')}", "f.state = 'live'"]
    args: dict[str, object] = {"owner": filters.owner}
    if filters.folder:  # strictly below the folder, by byte-ordered range (see files.store)
        # Imported here: the index worker process imports this module and never filters, and the
        # metadata store's module (with psycopg) would double the worker's start-up.
        from nbserver.services.files.store import range_args

        clauses.append(f"f.path >= {mark('lower')} AND f.path < {mark('upper')}")
        args.update({key: value for key, value in range_args(filters.folder).items() if key != "prefix"})
    if filters.kind is not None:
        clauses.append(f"f.kind = {mark('kind')}")
        args["kind"] = filters.kind
    return " AND ".join(clauses), args


def names_like_clause(query: Query, args: dict[str, object], mark: Callable[[str], str], name: str) -> str:
    """The names-only engine's test of a query: every term's text in ``name`` (SQL), none of the excluded.
    Adds the patterns to ``args``; ``%``, ``_`` and ``\\`` in terms match themselves."""
    likes = []
    for number, term in enumerate((*query.positive, *query.negative)):
        args[f"like{number}"] = "%" + escape_like(term.text) + "%"
        likes.append(("NOT " if term.negated else "") + f"{name} LIKE {mark(f'like{number}')} ESCAPE '\\'")
    return " AND ".join(likes)


def escape_like(text: str) -> str:
    """``text`` for a LIKE pattern with ``ESCAPE '\\'``: ``%``, ``_`` and ``\\`` match themselves."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
