"""The search index on PostgreSQL full-text search: :class:`PostgresSearchIndex` (design 3.12, 4.6).

The same interface and answers as :class:`~nbserver.services.search.index.SQLiteSearchIndex`,
in the database the metadata store uses (schema: :mod:`.pg_schema`), so every replica searches
what any replica indexed, and a query joins ``fs_files`` for where a hit is and whether it is live.

Text is tokenized by nbserver, not by a PostgreSQL text-search configuration: the tokens of
:mod:`.query` (runs of letters and digits, case and diacritics folded) are written as a ``tsvector``
literal with positions and weights (name A, title and markdown B, code C, outputs D; a gap
between columns, so a phrase never spans two), and a query is the ``tsquery`` of the same folded
tokens (:meth:`Query.tsquery`), passed as a value. So what matches is exactly what FTS5 matches
and what :func:`~.query.match_ranges` marks, whatever the cluster's locale; ranking is
``ts_rank`` with :data:`RANK_WEIGHTS`. The names-only engine matches ``lower(name) LIKE``,
which ``pg_trgm``'s index serves where the migration could create it.

Methods block: writes run on the indexer's thread (one connection), reads on reader threads
(one connection each).
"""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Iterable

from nbserver.services.files.pg_store import PostgresConnection
from nbserver.services.search.extract import COLUMNS, Document, Segment
from nbserver.services.search.index import (
    FALLBACK,
    Filters,
    Hit,
    Ranking,
    SearchIndex,
    filter_clause,
    names_like_clause,
)
from nbserver.services.search.query import Query, fold, tokens_of, tsquery_lexeme
from nbserver.timestamps import utc_now_iso

if TYPE_CHECKING:
    from nbserver.db.config import Database

#: The full-text engine's name in the index status.
TSVECTOR = "tsvector"
#: tsvector weight of each of :data:`COLUMNS`.
COLUMN_WEIGHTS = {"name": "A", "title": "B", "markdown": "B", "code": "C", "outputs": "D"}
#: ts_rank's weights of D, C, B, A: extract.WEIGHTS (10, 5 and 2, 1, 0.5) scaled into 0..1.
RANK_WEIGHTS = "{0.05, 0.1, 0.35, 1.0}"
#: PostgreSQL's limits: positions up to 16383, 256 positions per lexeme, lexemes under 2 KB.
MAX_POSITION = 16383
MAX_POSITIONS_PER_LEXEME = 256
MAX_LEXEME_BYTES = 2046
COMPONENT = "search"


def psycopg_mark(name: str) -> str:
    return f"%({name})s"


def tsvector_text(texts: Iterable[tuple[str, str]]) -> str:
    """``tsvector`` input text of ``(column, text)`` pairs: folded tokens with positions and weights."""
    positions: dict[str, list[str]] = {}
    position = 1
    for column, text in texts:
        weight = COLUMN_WEIGHTS[column]
        for token in tokens_of(text):
            lexeme = fold(token)
            clamped = min(position, MAX_POSITION)
            position += 1
            if not lexeme or len(lexeme.encode()) > MAX_LEXEME_BYTES:
                continue
            entries = positions.setdefault(lexeme, [])
            if len(entries) < MAX_POSITIONS_PER_LEXEME and not (entries and entries[-1].startswith(f"{clamped}")
                                                                and clamped == MAX_POSITION):
                entries.append(f"{clamped}{weight}")
        position += 1  # a phrase does not run from one column into the next
    return " ".join(f"{tsquery_lexeme(lexeme)}:{','.join(entries)}" for lexeme, entries in positions.items())


def document_tsvector(name: str, title: str, segments: Iterable[Segment]) -> str:
    texts = {column: [] for column in COLUMNS}  # type: dict[str, list[str]]
    texts["name"].append(name)
    texts["title"].append(title)
    for segment in segments:
        texts[segment.column].append(segment.text)
    return tsvector_text((column, "\n".join(texts[column])) for column in COLUMNS)


class PostgresSearchIndex(SearchIndex):
    """``owner``'s documents in ``search_docs``, queried with ``fs_files`` of the metadata store."""

    def __init__(self, database: Database, owner: str, engine: str, rank_limit: int = 5_000) -> None:
        self.database = database
        self.owner = owner
        self.engine = engine
        self.rank_limit = rank_limit
        self._writer = PostgresConnection(database)
        self._readers = threading.local()
        self._all_readers: list[PostgresConnection] = []
        self._lock = threading.Lock()

    # -- connections ---------------------------------------------------------------------

    @property
    def reader(self) -> PostgresConnection:
        """This thread's connection."""
        connection: PostgresConnection | None = getattr(self._readers, "connection", None)
        if connection is None:
            connection = PostgresConnection(self.database)
            self._readers.connection = connection
            with self._lock:
                self._all_readers.append(connection)
        return connection

    def open(self) -> None:
        """Check the schema (ConfigurationError when behind) and the engine the documents were built
        by: built by the other engine, they lack what this one needs and are dropped."""
        from nbserver.db.migrations import COMPONENTS, registered, require_current

        require_current(self._writer.conn, registered({COMPONENT: COMPONENTS[COMPONENT]}))
        with self._writer.transaction() as cur:
            row = cur.execute("SELECT value FROM search_state WHERE owner = %s AND key = 'engine' FOR UPDATE",
                              (self.owner,)).fetchone()
            if row is not None and row[0] != self.engine:
                cur.execute("DELETE FROM search_docs WHERE owner = %s", (self.owner,))
            self._set_state(cur, "engine", self.engine)

    def close(self) -> None:
        with self._lock:
            for connection in self._all_readers:
                connection.close()
            self._all_readers = []
        self._readers = threading.local()
        self._writer.close()

    # -- writes (the indexer's thread) ---------------------------------------------------

    def _set_state(self, cur: Any, key: str, value: str) -> None:
        cur.execute("INSERT INTO search_state (owner, key, value) VALUES (%s, %s, %s) "
                    "ON CONFLICT (owner, key) DO UPDATE SET value = excluded.value", (self.owner, key, value))

    def _touch(self, cur: Any) -> None:
        self._set_state(cur, "updated", utc_now_iso())

    def fingerprint_of(self, file_id: str) -> tuple[str, str] | None:
        row = self._writer.conn.execute("SELECT fingerprint, name FROM search_docs WHERE file_id = %s AND owner = %s",
                                        (file_id, self.owner)).fetchone()
        return (row[0], row[1]) if row else None

    def known_paths(self) -> dict[str, str]:
        rows = self.reader.conn.execute("SELECT path, fingerprint FROM search_docs WHERE owner = %s", (self.owner,))
        return {path: fingerprint for path, fingerprint in rows.fetchall()}

    def fingerprints_at(self, paths: list[str]) -> dict[str, str]:
        rows = self.reader.conn.execute("SELECT path, fingerprint FROM search_docs WHERE owner = %s "
                                        "AND path = ANY(%s)", (self.owner, paths))
        return {path: fingerprint for path, fingerprint in rows.fetchall()}

    def documents_after(self, path: str, limit: int) -> list[tuple[str, str]]:
        rows = self.reader.conn.execute("SELECT path, fingerprint FROM search_docs WHERE owner = %s AND path > %s "
                                        "ORDER BY path LIMIT %s", (self.owner, path, limit))
        return [(row[0], row[1]) for row in rows.fetchall()]

    def put(self, file_id: str, path: str, fingerprint: str, document: Document) -> None:
        segments = json.dumps([segment.as_json() for segment in document.segments], ensure_ascii=False)
        tsv = tsvector_text(zip(COLUMNS, document.column_texts()))
        with self._writer.transaction() as cur:
            cur.execute(
                "INSERT INTO search_docs (file_id, owner, path, name, title, fingerprint, segments, indexed, tsv) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s::tsvector) ON CONFLICT (file_id) DO UPDATE SET "
                "path = excluded.path, name = excluded.name, title = excluded.title, "
                "fingerprint = excluded.fingerprint, segments = excluded.segments, indexed = excluded.indexed, "
                "tsv = excluded.tsv",
                (file_id, self.owner, path, document.name, document.title, fingerprint, segments, utc_now_iso(), tsv))
            self._touch(cur)

    def rename(self, file_id: str, path: str, name: str) -> None:
        with self._writer.transaction() as cur:
            row = cur.execute("SELECT name, title, segments FROM search_docs WHERE file_id = %s AND owner = %s "
                              "FOR UPDATE", (file_id, self.owner)).fetchone()
            if row is None:
                return
            old_name, title, segments = row
            if old_name == name:
                cur.execute("UPDATE search_docs SET path = %s WHERE file_id = %s", (path, file_id))
            else:
                tsv = document_tsvector(name, title, (Segment.from_json(item) for item in json.loads(segments)))
                cur.execute("UPDATE search_docs SET path = %s, name = %s, tsv = %s::tsvector WHERE file_id = %s",
                            (path, name, tsv, file_id))
            self._touch(cur)

    def remove(self, file_ids: Iterable[str]) -> None:
        with self._writer.transaction() as cur:
            cur.execute("DELETE FROM search_docs WHERE owner = %s AND file_id::text = ANY(%s)",
                        (self.owner, list(file_ids)))
            self._touch(cur)

    def prune(self) -> int:
        with self._writer.transaction() as cur:
            cur.execute("DELETE FROM search_docs d WHERE d.owner = %s AND NOT EXISTS "
                        "(SELECT 1 FROM fs_files f WHERE f.id = d.file_id)", (self.owner,))
            pruned = cur.rowcount
            if pruned:
                self._touch(cur)
        return pruned

    def forget_fingerprints(self) -> None:
        with self._writer.transaction() as cur:
            cur.execute("UPDATE search_docs SET fingerprint = '' WHERE owner = %s", (self.owner,))

    # -- reads (reader threads) ----------------------------------------------------------

    def query(self, query: Query, filters: Filters, limit: int, offset: int) -> Ranking:
        where, args = filter_clause(filters, psycopg_mark)
        where = f"d.owner = %(owner)s AND {where}"
        args.update({"limit": limit, "offset": offset})
        if self.engine == FALLBACK:
            return Ranking(self._names_like(query, where, args), True)
        args.update({"query": query.tsquery(), "cap": self.rank_limit + 1})
        conn = self.reader.conn
        count = conn.execute("SELECT count(*) FROM (SELECT 1 FROM search_docs WHERE owner = %(owner)s "
                             "AND tsv @@ %(query)s::tsquery LIMIT %(cap)s) matched", args).fetchone()
        matches = int(count[0]) if count else 0
        score = f"ts_rank('{RANK_WEIGHTS}', d.tsv, %(query)s::tsquery)"
        joined = "FROM search_docs d JOIN fs_files f ON f.id = d.file_id"
        if matches > self.rank_limit:
            # Too broad to rank within the time a query may take: newest indexed first, scored per row shown.
            sql = (f"SELECT d.file_id, f.path, f.kind, {score} {joined} WHERE d.tsv @@ %(query)s::tsquery "
                   f"AND {where} ORDER BY d.num DESC LIMIT %(limit)s OFFSET %(offset)s")
            return Ranking(self._hits(sql, args), False)
        sql = (f"SELECT d.file_id, f.path, f.kind, {score} AS score {joined} WHERE d.tsv @@ %(query)s::tsquery "
               f"AND {where} ORDER BY score DESC, d.num LIMIT %(limit)s OFFSET %(offset)s")
        return Ranking(self._hits(sql, args), True)

    def _names_like(self, query: Query, where: str, args: dict[str, object]) -> list[Hit]:
        # lower(name) with lower-cased terms: SQLite's LIKE ignores ASCII case; pg_trgm's index is on lower(name).
        folded = Query(query.text, *(tuple(replace(term, text=term.text.lower()) for term in terms)
                                     for terms in (query.positive, query.negative)))
        likes = names_like_clause(folded, args, psycopg_mark, "lower(d.name)")
        sql = ("SELECT d.file_id, f.path, f.kind, 1.0 / greatest(length(d.name), 1) AS score "
               "FROM search_docs d JOIN fs_files f ON f.id = d.file_id "
               f"WHERE {likes} AND {where} ORDER BY score DESC, f.path LIMIT %(limit)s OFFSET %(offset)s")
        return self._hits(sql, args)

    def _hits(self, sql: str, args: dict[str, object]) -> list[Hit]:
        rows = self.reader.conn.execute(sql, args).fetchall()
        return [Hit(file_id, path, kind, round(float(score), 6)) for file_id, path, kind, score in rows]

    def segments(self, file_ids: Iterable[str]) -> dict[str, list[Segment]]:
        wanted = list(file_ids)
        if not wanted:
            return {}
        rows = self.reader.conn.execute("SELECT file_id, segments FROM search_docs WHERE owner = %s "
                                        "AND file_id::text = ANY(%s)", (self.owner, wanted))
        return {file_id: [Segment.from_json(item) for item in json.loads(text)] for file_id, text in rows.fetchall()}

    def counts(self) -> tuple[int, str | None, int]:
        """(this owner's documents, last change, bytes of the whole ``search_docs`` table and its indexes)."""
        conn = self.reader.conn
        documents = conn.execute("SELECT count(*) FROM search_docs WHERE owner = %s", (self.owner,)).fetchone()
        row = conn.execute("SELECT value FROM search_state WHERE owner = %s AND key = 'updated'",
                           (self.owner,)).fetchone()
        size = conn.execute("SELECT pg_total_relation_size('search_docs')").fetchone()
        return int(documents[0]) if documents else 0, row[0] if row else None, int(size[0]) if size else 0
