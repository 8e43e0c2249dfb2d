"""The metadata store on PostgreSQL (design section 4.6): :class:`PostgresMetadataStore`.

The same interface and semantics as :class:`~nbserver.services.files.store.SQLiteMetadataStore`
(schema: :mod:`nbserver.services.files.pg_schema`), for several nbserver replicas over one root:

- Methods block and run on the file services' writer thread, so one blocking psycopg 3
  connection (autocommit; each write in its own short transaction) serves a store. A connection
  that dropped is replaced on the next call; the call that saw it drop fails (503 to the client).
- One live row per path is a partial unique index; folder moves rewrite descendants by the
  byte-ordered range of ``store.descendants_clause`` (paths are ``COLLATE "C"``).
- Trash, restore and purge lock the rows they change (``SELECT ... FOR UPDATE``) and the tree
  they touch (``pg_advisory_xact_lock`` of the owner and the top folder). Their intents claim a
  path (the item trashed, the restore's target): a second replica's claim of the same path fails
  in the database (Conflict, 409), so two restores racing onto one path give one 200 and one 409.
- Each store holds a session advisory lock on a random replica key while it is connected, and
  writes that key into its intents: :meth:`intents` returns only this replica's intents and those
  of replicas whose lock is free (they died), so start-up recovery on one replica never undoes an
  operation another replica is in the middle of.
- Background jobs (trash sweep, reconciler) run on the one replica holding the job's session
  advisory lock (:meth:`PostgresMetadataStore.claim_job`).
"""

from __future__ import annotations

import contextlib
import json
import random
import uuid
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from nbserver.errors import Conflict
from nbserver.services.files.links_store import EDGE_RELATIONS, Edge, LinksStore, ShareRecord
from nbserver.services.files.store import (
    CrawlReport,
    FileRecord,
    Intent,
    MetadataStore,
    TrashRecord,
    now,
    plan_crawl,
    range_args,
)

if TYPE_CHECKING:
    import psycopg

    from nbserver.db.config import Database

#: Advisory lock spaces (the first key of the two-key form; any constants, ASCII "nbfr"...).
REPLICA_LOCK_SPACE = 0x6E626672
TREE_LOCK_SPACE = 0x6E626674
CRAWL_LOCK_SPACE = 0x6E626663
JOB_LOCK_SPACE = 0x6E62666A

#: The component of :data:`nbserver.db.migrations.COMPONENTS` whose schema this store needs.
COMPONENT = "files"


def iso(column: str) -> str:
    """SQL formatting a timestamptz as nbserver's ISO 8601 text (``2026-11-29T17:00:00.000000Z``)."""
    return f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""


def descendants(column: str = "path") -> str:
    """``store.descendants_clause`` in psycopg's parameter style."""
    return f"({column} = %(prefix)s OR ({column} >= %(lower)s AND {column} < %(upper)s))"


def is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except (ValueError, AttributeError, TypeError):
        return False
    return True


def top_folder(path: str) -> str:
    return path.split("/", 1)[0]


_FILE_COLUMNS = (f"id, path, kind, state::text, trash_id, {iso('created')}, {iso('updated')}, version, "
                 "world_readable")
_TRASH_COLUMNS = f"id, file_id, original_path, stored_at, {iso('trashed_at')}, trashed_by, size, state"
_SHARE_COLUMNS = f"file_id, token_hash, salt, {iso('created')}, created_by"


def _file(row: tuple[Any, ...] | None) -> FileRecord | None:
    if row is None:
        return None
    file_id, path, kind, state, trash_id, created, updated, version, world_readable = row
    return FileRecord(file_id, path, kind, state, trash_id, created, updated, version, bool(world_readable))


def _trash(row: tuple[Any, ...] | None) -> TrashRecord | None:
    return None if row is None else TrashRecord(*row)


class PostgresConnection:
    """One blocking psycopg connection (autocommit, uuids loaded as text), replaced when it drops.

    ``on_connect`` runs on each new connection (a store re-takes its session locks there).
    """

    def __init__(self, database: Database) -> None:
        self.database = database
        self._connection: psycopg.Connection[Any] | None = None

    def on_connect(self, conn: psycopg.Connection[Any]) -> None:
        """Hook for subclasses: run once on every new connection."""

    @property
    def conn(self) -> psycopg.Connection[Any]:
        """The live connection, made (again) if there is none or the last one dropped."""
        conn = self._connection
        if conn is None or conn.closed or conn.broken:
            if conn is not None:
                conn.close()
            self._connection = None
            from psycopg.types.string import TextLoader

            conn = self.database.connect(autocommit=True)
            try:
                conn.adapters.register_loader("uuid", TextLoader)
                self.on_connect(conn)
            except BaseException:
                conn.close()
                raise
            self._connection = conn
        return conn

    @contextlib.contextmanager
    def transaction(self) -> Iterator[psycopg.Cursor[Any]]:
        """A cursor in one transaction: committed on leaving, rolled back on an exception."""
        conn = self.conn
        with conn.transaction(), conn.cursor() as cursor:
            yield cursor

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class PostgresLinksStore(PostgresConnection, LinksStore):
    """Share links, stars and edges in ``fs_shares``, ``fs_stars`` and ``fs_edges``."""

    owner: str

    def set_share(self, file_id: str, share: ShareRecord | None) -> None:
        flag = share is not None
        with self.transaction() as cur:
            cur.execute("SELECT 1 FROM fs_files WHERE id = %s AND owner = %s FOR UPDATE", (file_id, self.owner))
            cur.execute("DELETE FROM fs_shares WHERE file_id = %s AND owner = %s", (file_id, self.owner))
            if share is not None:
                cur.execute("INSERT INTO fs_shares (file_id, owner, token_hash, salt, created, created_by) "
                            "VALUES (%s, %s, %s, %s, %s, %s)",
                            (file_id, self.owner, share.token_hash, share.salt, share.created, share.created_by))
            cur.execute("UPDATE fs_files SET world_readable = %s, version = version + 1, updated = %s "
                        "WHERE id = %s AND owner = %s AND world_readable != %s",
                        (flag, now(), file_id, self.owner, flag))

    def share_of(self, file_id: str) -> ShareRecord | None:
        if not is_uuid(file_id):
            return None
        row = self.conn.execute(f"SELECT {_SHARE_COLUMNS} FROM fs_shares WHERE file_id = %s AND owner = %s",
                                (file_id, self.owner)).fetchone()
        return ShareRecord(row[0], bytes(row[1]), bytes(row[2]), row[3], row[4]) if row else None

    def share_by_hash(self, token_hash: bytes) -> ShareRecord | None:
        row = self.conn.execute(f"SELECT {_SHARE_COLUMNS} FROM fs_shares WHERE token_hash = %s AND owner = %s",
                                (token_hash, self.owner)).fetchone()
        return ShareRecord(row[0], bytes(row[1]), bytes(row[2]), row[3], row[4]) if row else None

    def set_star(self, user: str, file_id: str, starred: bool) -> None:
        with self.transaction() as cur:
            if starred:
                cur.execute('INSERT INTO fs_stars (owner, "user", file_id, created) VALUES (%s, %s, %s, %s) '
                            "ON CONFLICT DO NOTHING", (self.owner, user, file_id, now()))
            else:
                cur.execute('DELETE FROM fs_stars WHERE owner = %s AND "user" = %s AND file_id = %s',
                            (self.owner, user, file_id))

    def is_starred(self, user: str, file_id: str) -> bool:
        row = self.conn.execute('SELECT 1 FROM fs_stars WHERE owner = %s AND "user" = %s AND file_id = %s',
                                (self.owner, user, file_id)).fetchone()
        return row is not None

    def starred_page(self, user: str, limit: int, after: tuple[str, str] | None) -> tuple[list[tuple[str, str]], int]:
        select = f'SELECT {iso("created")}, file_id FROM fs_stars WHERE owner = %s AND "user" = %s'
        if after is None:
            rows = self.conn.execute(f"{select} ORDER BY created DESC, file_id LIMIT %s", (self.owner, user, limit))
        else:
            rows = self.conn.execute(
                f"{select} AND (created < %s OR (created = %s AND file_id > %s)) ORDER BY created DESC, file_id "
                "LIMIT %s", (self.owner, user, after[0], after[0], after[1], limit))
        page = [(created, file_id) for created, file_id in rows.fetchall()]
        total = self.conn.execute('SELECT count(*) FROM fs_stars WHERE owner = %s AND "user" = %s',
                                  (self.owner, user)).fetchone()
        return page, int(total[0]) if total else 0

    def add_edge(self, source_id_or_url: str, target_id: str, relation: str) -> None:
        if relation not in EDGE_RELATIONS:
            raise ValueError(f"unknown relation {relation!r}; one of {', '.join(EDGE_RELATIONS)}")
        is_url = source_id_or_url.startswith(("http://", "https://"))
        with self.transaction() as cur:
            cur.execute("INSERT INTO fs_edges (owner, source_id, source_url, target_id, relation, created) "
                        "VALUES (%s, %s, %s, %s, %s, %s)",
                        (self.owner, None if is_url else source_id_or_url, source_id_or_url if is_url else None,
                         target_id, relation, now()))

    def edges(self, file_id: str, relation: str, incoming: bool, limit: int, after: int) -> list[Edge]:
        column = "target_id" if incoming else "source_id"
        rows = self.conn.execute(
            f"SELECT num, coalesce(source_id::text, 'url:' || source_url), target_id, relation, {iso('created')} "
            f"FROM fs_edges WHERE owner = %s AND {column} = %s AND relation = %s AND num > %s ORDER BY num LIMIT %s",
            (self.owner, file_id, relation, after, limit))
        return [Edge(*row) for row in rows.fetchall()]


class PostgresMetadataStore(PostgresLinksStore, MetadataStore):
    """The metadata store in PostgreSQL tables shared by every replica serving ``owner``'s root."""

    def __init__(self, database: Database, owner: str) -> None:
        super().__init__(database)
        self.owner = owner
        #: This store's replica key (a session advisory lock held while connected).
        self.replica = random.randint(1, 2**31 - 1)
        #: Background jobs whose lock this connection holds.
        self._jobs: set[str] = set()

    def on_connect(self, conn: psycopg.Connection[Any]) -> None:
        conn.execute("SELECT pg_advisory_lock(%s, %s)", (REPLICA_LOCK_SPACE, self.replica))
        self._jobs = set()  # session locks end with the session

    def claim_job(self, job: str) -> bool:
        """Take (once, for this connection's life) the session lock of ``owner``'s ``job``; False
        while another replica holds it. A replica that dies releases it and another takes over."""
        conn = self.conn
        if job not in self._jobs:
            got = conn.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))",
                               (JOB_LOCK_SPACE, f"{self.owner}/{job}")).fetchone()
            if not (got and got[0]):
                return False
            self._jobs.add(job)
        return True

    def open(self) -> None:
        """Connect; raises ConfigurationError when the ``files`` schema is not current (run
        ``nbserver db upgrade``), psycopg.OperationalError when the server cannot be reached."""
        from nbserver.db.migrations import COMPONENTS, registered, require_current

        require_current(self.conn, registered({COMPONENT: COMPONENTS[COMPONENT]}))

    # -- ids -----------------------------------------------------------------------------

    def get(self, file_id: str) -> FileRecord | None:
        if not is_uuid(file_id):
            return None
        row = self.conn.execute(f"SELECT {_FILE_COLUMNS} FROM fs_files WHERE id = %s AND owner = %s",
                                (file_id, self.owner)).fetchone()
        return _file(row)

    def live_at(self, path: str) -> FileRecord | None:
        row = self.conn.execute(
            f"SELECT {_FILE_COLUMNS} FROM fs_files WHERE owner = %s AND path = %s AND state = 'live'",
            (self.owner, path)).fetchone()
        return _file(row)

    def assign(self, path: str, kind: str, fingerprint: tuple[int, int] | None = None) -> FileRecord:
        self.assign_many([(path, kind)])
        record = self.live_at(path)
        assert record is not None
        if fingerprint is not None:
            with self.transaction() as cur:
                cur.execute("UPDATE fs_files SET dev = %s, ino = %s WHERE id = %s AND dev IS NULL",
                            (*fingerprint, record.id))
        return record

    def assign_many(self, items: Iterable[tuple[str, str]]) -> dict[str, str]:
        """path -> id for ``(path, kind)`` items; a replica that assigns the same path at the same
        moment wins or loses in the unique index, and both answer the one id that was kept."""
        wanted = dict(items)
        found = self.ids_at(wanted)
        missing = [path for path in wanted if path not in found]
        if missing:
            stamp = now()
            with self.transaction() as cur:
                cur.executemany(
                    "INSERT INTO fs_files (id, owner, path, kind, created, updated) VALUES (%s, %s, %s, %s, %s, %s) "
                    "ON CONFLICT (owner, path) WHERE state = 'live' DO NOTHING",
                    [(str(uuid.uuid4()), self.owner, path, wanted[path], stamp, stamp) for path in missing])
            found.update(self.ids_at(missing))
        return found

    def ids_at(self, paths: Iterable[str]) -> dict[str, str]:
        wanted = list(paths)
        found: dict[str, str] = {}
        for start in range(0, len(wanted), 5000):
            rows = self.conn.execute("SELECT path, id FROM fs_files WHERE owner = %s AND state = 'live' "
                                     "AND path = ANY(%s)", (self.owner, wanted[start:start + 5000]))
            found.update({path: file_id for path, file_id in rows.fetchall()})
        return found

    def _lock_tree(self, cur: psycopg.Cursor[Any], *paths: str) -> None:
        """Serialize operations on the trees of ``paths`` across replicas (until the transaction ends)."""
        for top in sorted({top_folder(path) for path in paths}):
            cur.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (TREE_LOCK_SPACE, f"{self.owner}/{top}"))

    def _lock_rows(self, cur: psycopg.Cursor[Any], path: str, condition: str = "state = 'live'",
                   **args: Any) -> None:
        cur.execute(f"SELECT id FROM fs_files WHERE owner = %(owner)s AND {condition} AND {descendants()} "
                    "ORDER BY path FOR UPDATE", {"owner": self.owner, **range_args(path), **args})

    def _clear_live(self, cur: psycopg.Cursor[Any], path: str) -> None:
        """Rows left at ``path`` by files deleted outside the server make way (section 3.7, rule 4)."""
        cur.execute(f"DELETE FROM fs_files WHERE owner = %(owner)s AND state = 'live' AND {descendants()}",
                    {"owner": self.owner, **range_args(path)})

    def move(self, old_path: str, new_path: str) -> None:
        with self.transaction() as cur:
            self._lock_tree(cur, old_path, new_path)
            self._lock_rows(cur, old_path)
            self._clear_live(cur, new_path)
            cur.execute(
                "UPDATE fs_files SET path = %(new)s || substr(path, length(%(prefix)s) + 1), updated = %(now)s, "
                "version = version + (path = %(prefix)s)::int "
                f"WHERE owner = %(owner)s AND state = 'live' AND {descendants()}",
                {"new": new_path, "now": now(), "owner": self.owner, **range_args(old_path)})

    def forget(self, path: str) -> None:
        with self.transaction() as cur:
            self._lock_tree(cur, path)
            self._clear_live(cur, path)

    def content_changed(self, path: str) -> None:
        with self.transaction() as cur:
            cur.execute("UPDATE fs_files SET version = version + 1, updated = %s WHERE owner = %s AND path = %s "
                        "AND state = 'live'", (now(), self.owner, path))

    def apply_crawl(self, seen: dict[str, tuple[str, int, int]], missing_before: str) -> CrawlReport:
        """As SQLite's, in one transaction that replicas crawling the same owner take in turn."""
        stamp = now()
        with self.transaction() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (CRAWL_LOCK_SPACE, self.owner))
            rows = cur.execute("SELECT id, path, kind, state::text, dev, ino FROM fs_files WHERE owner = %s "
                               "AND state IN ('live', 'missing') FOR UPDATE", (self.owner,)).fetchall()

            def move_tree(old: str, new: str) -> None:
                self._clear_live(cur, new)
                cur.execute(
                    "UPDATE fs_files SET path = %(new)s || substr(path, length(%(prefix)s) + 1), state = 'live', "
                    "missing_since = NULL, updated = %(now)s, version = version + (path = %(prefix)s)::int "
                    f"WHERE owner = %(owner)s AND state IN ('live', 'missing') AND {descendants()}",
                    {"new": new, "now": stamp, "owner": self.owner, **range_args(old)})

            def revive(file_id: str) -> None:
                cur.execute("UPDATE fs_files SET state = 'live', missing_since = NULL WHERE id = %s", (file_id,))
            inodes = {path: (int(dev), int(ino)) for _, path, _, state, dev, ino in rows
                      if state == "live" and dev is not None and ino is not None}
            moved, revived, gone = plan_crawl(rows, seen, move_tree, revive)
            cur.executemany("UPDATE fs_files SET state = 'missing', missing_since = %s WHERE id = %s "
                            "AND state = 'live'", [(stamp, file_id) for file_id in gone])
            cur.executemany("UPDATE fs_files SET dev = %s, ino = %s WHERE owner = %s AND path = %s "
                            "AND state = 'live'", [(dev, ino, self.owner, path) for path, (_, dev, ino) in seen.items()
                                                   if inodes.get(path) != (dev, ino)])  # only what changed
            cur.execute("DELETE FROM fs_files WHERE owner = %s AND state = 'missing' AND missing_since < %s",
                        (self.owner, missing_before))
            forgotten = cur.rowcount
        return CrawlReport(moved, len(gone), revived, forgotten)

    # -- trash and intents ---------------------------------------------------------------

    def begin(self, op: str, args: dict[str, Any], trash: TrashRecord | None = None) -> str:
        """Record an intent (and a pending trash row). Conflict when another operation claims the
        same path now (the item being trashed, a restore's target)."""
        import psycopg

        intent_id = uuid.uuid4().hex
        claim = args.get("target") if op == "restore" else args.get("path") if op == "trash" else None
        try:
            with self.transaction() as cur:
                self._lock_tree(cur, *(path for path in (args.get("path"), claim) if isinstance(path, str)))
                if op == "trash" and isinstance(claim, str):
                    self._lock_rows(cur, claim)
                elif args.get("trash_id"):
                    cur.execute("SELECT id FROM fs_files WHERE owner = %s AND trash_id = %s FOR UPDATE",
                                (self.owner, args["trash_id"]))
                cur.execute("INSERT INTO fs_intents (id, owner, op, args, created, replica, claim) "
                            "VALUES (%s, %s, %s, %s, %s, %s, %s)",
                            (intent_id, self.owner, op, json.dumps(args), now(), self.replica, claim))
                if trash is not None:
                    cur.execute("INSERT INTO fs_trash (id, owner, file_id, original_path, stored_at, trashed_at, "
                                "trashed_by, size, state) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'pending')",
                                (trash.id, self.owner, trash.file_id, trash.original_path, trash.stored_at,
                                 trash.trashed_at, trash.trashed_by, trash.size))
        except psycopg.errors.UniqueViolation:
            if op == "restore":
                raise Conflict(f"Something is at {claim} now.", code="restore_conflict",
                               conflict_path=claim) from None
            raise Conflict("Another request is changing this item now; try again.", code="busy") from None
        return intent_id

    def intents(self) -> list[Intent]:
        """This replica's intents, and those of replicas that are gone (their lock is free: this
        replica takes it, so that no other one resolves the same intents)."""
        conn = self.conn
        others = conn.execute("SELECT DISTINCT replica FROM fs_intents WHERE owner = %s AND replica != %s",
                              (self.owner, self.replica)).fetchall()
        adopted = [self.replica]
        for (replica,) in others:
            got = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (REPLICA_LOCK_SPACE, replica)).fetchone()
            if got and got[0]:
                adopted.append(replica)
        rows = conn.execute("SELECT id, op, args FROM fs_intents WHERE owner = %s AND replica = ANY(%s) "
                            "ORDER BY created", (self.owner, adopted)).fetchall()
        return [Intent(intent_id, op, args if isinstance(args, dict) else json.loads(args))
                for intent_id, op, args in rows]

    def drop_intent(self, intent_id: str, trash_id: str | None = None) -> None:
        with self.transaction() as cur:
            cur.execute("DELETE FROM fs_intents WHERE id = %s", (intent_id,))
            if trash_id is not None:
                cur.execute("DELETE FROM fs_trash WHERE id = %s AND state = 'pending'", (trash_id,))

    def finish_trash(self, intent_id: str, trash_id: str, path: str) -> None:
        with self.transaction() as cur:
            self._lock_tree(cur, path)
            self._lock_rows(cur, path)
            cur.execute(
                "UPDATE fs_files SET state = 'trashed', trash_id = %(trash_id)s, updated = %(now)s, "
                f"version = version + 1 WHERE owner = %(owner)s AND state = 'live' AND {descendants()}",
                {"trash_id": trash_id, "now": now(), "owner": self.owner, **range_args(path)})
            cur.execute("UPDATE fs_trash SET state = 'done' WHERE id = %s", (trash_id,))
            cur.execute("DELETE FROM fs_intents WHERE id = %s", (intent_id,))

    def finish_restore(self, intent_id: str, old_path: str, new_path: str, trash_id: str,
                       whole_entry: bool) -> None:
        with self.transaction() as cur:
            self._lock_tree(cur, old_path, new_path)
            self._lock_rows(cur, old_path, "state = 'trashed' AND trash_id = %(trash_id)s", trash_id=trash_id)
            self._clear_live(cur, new_path)
            cur.execute(
                "UPDATE fs_files SET state = 'live', trash_id = NULL, updated = %(now)s, version = version + 1, "
                "path = %(new)s || substr(path, length(%(prefix)s) + 1) WHERE owner = %(owner)s "
                f"AND state = 'trashed' AND trash_id = %(trash_id)s AND {descendants()}",
                {"trash_id": trash_id, "now": now(), "owner": self.owner, "new": new_path, **range_args(old_path)})
            if whole_entry:
                cur.execute("DELETE FROM fs_trash WHERE id = %s", (trash_id,))
            cur.execute("DELETE FROM fs_intents WHERE id = %s", (intent_id,))

    def finish_purge(self, intent_id: str, path: str, trash_id: str, whole_entry: bool) -> None:
        with self.transaction() as cur:
            cur.execute(f"DELETE FROM fs_files WHERE owner = %(owner)s AND state = 'trashed' "
                        f"AND trash_id = %(trash_id)s AND {descendants()}",
                        {"trash_id": trash_id, "owner": self.owner, **range_args(path)})
            if whole_entry:
                cur.execute("DELETE FROM fs_trash WHERE id = %s", (trash_id,))
            cur.execute("DELETE FROM fs_intents WHERE id = %s", (intent_id,))

    def set_trash_size(self, trash_id: str, size: int) -> None:
        with self.transaction() as cur:
            cur.execute("UPDATE fs_trash SET size = %s WHERE id = %s AND owner = %s", (size, trash_id, self.owner))

    def trash_entry(self, trash_id: str) -> TrashRecord | None:
        row = self.conn.execute(f"SELECT {_TRASH_COLUMNS} FROM fs_trash WHERE id = %s AND owner = %s",
                                (trash_id, self.owner)).fetchone()
        return _trash(row)

    def trash_page(self, limit: int, after: tuple[str, str] | None) -> list[TrashRecord]:
        select = f"SELECT {_TRASH_COLUMNS} FROM fs_trash WHERE owner = %s AND state = 'done'"
        if after is None:
            rows = self.conn.execute(f"{select} ORDER BY trashed_at DESC, id LIMIT %s", (self.owner, limit))
        else:
            rows = self.conn.execute(
                f"{select} AND (trashed_at < %s OR (trashed_at = %s AND id > %s)) ORDER BY trashed_at DESC, id "
                "LIMIT %s", (self.owner, after[0], after[0], after[1], limit))
        return [TrashRecord(*row) for row in rows.fetchall()]

    def latest_trash_of(self, original_path: str) -> TrashRecord | None:
        row = self.conn.execute(
            f"SELECT {_TRASH_COLUMNS} FROM fs_trash WHERE owner = %s AND state = 'done' AND original_path = %s "
            "ORDER BY trashed_at DESC LIMIT 1", (self.owner, original_path)).fetchone()
        return _trash(row)

    def trash_older_than(self, cutoff: str) -> list[TrashRecord]:
        rows = self.conn.execute(f"SELECT {_TRASH_COLUMNS} FROM fs_trash WHERE owner = %s AND state = 'done' "
                                 "AND trashed_at < %s ORDER BY trashed_at", (self.owner, cutoff))
        return [TrashRecord(*row) for row in rows.fetchall()]

    def trash_totals(self) -> tuple[int, int]:
        row = self.conn.execute("SELECT count(*), coalesce(sum(size), 0) FROM fs_trash WHERE owner = %s "
                                "AND state = 'done'", (self.owner,)).fetchone()
        assert row is not None
        return int(row[0]), int(row[1])

    def adopt_trash(self, trash: TrashRecord, kind: str) -> None:
        with self.transaction() as cur:
            cur.execute("INSERT INTO fs_trash (id, owner, file_id, original_path, stored_at, trashed_at, trashed_by, "
                        "size, state) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'done') ON CONFLICT DO NOTHING",
                        (trash.id, self.owner, trash.file_id, trash.original_path, trash.stored_at,
                         trash.trashed_at, trash.trashed_by, trash.size))
            cur.execute("INSERT INTO fs_files (id, owner, path, kind, state, trash_id, created, updated) "
                        "VALUES (%s, %s, %s, %s, 'trashed', %s, %s, %s) ON CONFLICT (id) DO NOTHING",
                        (trash.file_id, self.owner, trash.original_path, kind, trash.id,
                         trash.trashed_at, trash.trashed_at))
