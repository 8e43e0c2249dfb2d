"""The metadata store's tables of share links, stars and provenance edges (design sections 3.8, 3.9).

:class:`LinksStore` is their part of the :class:`~nbserver.services.files.store.MetadataStore`
interface, :class:`SQLiteLinksStore` the SQLite implementation that
:class:`~nbserver.services.files.store.SQLiteMetadataStore` mixes in (schema: migration 2).
Like the rest of the store, every method blocks and runs on the file services' writer thread.

When a file's row is deleted (purged, forgotten), a trigger deletes its share, its stars and
the edges that name it, so nothing here outlives the file.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from dataclasses import dataclass

from nbserver.timestamps import iso_timestamp

#: The relations an edge may carry: a copy made here, a notebook imported from a URL.
EDGE_RELATIONS = ("copy", "import")


@dataclass(frozen=True)
class ShareRecord:
    """A live share link: the salt its token is derived from, and only the token's SHA-256."""

    file_id: str
    token_hash: bytes
    salt: bytes
    created: str
    created_by: str


@dataclass(frozen=True)
class Edge:
    """``source`` (a file id, or ``url:<URL>``) -> ``target`` (a file id), by ``relation``."""

    num: int
    source: str
    target: str
    relation: str
    created: str


class LinksStore:
    """Share links, stars and edges: the part of the metadata store interface they make."""

    def set_share(self, file_id: str, share: ShareRecord | None) -> None:
        """Make ``share`` the file's only link and set ``world_readable`` (None: no link, not
        world readable), in one transaction; the file's version goes up when the flag changes."""
        raise NotImplementedError

    def share_of(self, file_id: str) -> ShareRecord | None:
        raise NotImplementedError

    def share_by_hash(self, token_hash: bytes) -> ShareRecord | None:
        """The share whose token hashes to ``token_hash`` (an index lookup: no timing to learn from)."""
        raise NotImplementedError

    def set_star(self, user: str, file_id: str, starred: bool) -> None:
        """Star or unstar (both idempotent: the first star's time is kept)."""
        raise NotImplementedError

    def is_starred(self, user: str, file_id: str) -> bool:
        raise NotImplementedError

    def starred_page(self, user: str, limit: int, after: tuple[str, str] | None) -> tuple[list[tuple[str, str]], int]:
        """(``(created, file_id)`` of ``user``'s stars newest first after the cursor, total count)."""
        raise NotImplementedError

    def add_edge(self, source_id_or_url: str, target_id: str, relation: str) -> None:
        """Record that ``target_id`` came from ``source_id_or_url`` by ``relation``.

        ``source_id_or_url`` is a file id (a copy) or an ``http(s)`` URL (an import; h15b's
        ``POST /api/files/import`` calls this with ``relation="import"``). ``relation`` is one of
        :data:`EDGE_RELATIONS`; ValueError otherwise.
        """
        raise NotImplementedError

    def edges(self, file_id: str, relation: str, incoming: bool, limit: int, after: int) -> list[Edge]:
        """Edges into (``incoming``) or out of ``file_id`` by ``relation``, oldest first after ``num``."""
        raise NotImplementedError


class SQLiteLinksStore(LinksStore):
    """The SQLite tables ``shares``, ``stars`` and ``edges``; needs the host store's ``db`` and ``_transaction``."""

    @property
    def db(self) -> sqlite3.Connection:
        raise NotImplementedError

    def _transaction(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    _SHARE_COLUMNS = "file_id, token_hash, salt, created, created_by"

    def set_share(self, file_id: str, share: ShareRecord | None) -> None:
        flag = int(share is not None)
        with self._transaction() as db:
            db.execute("DELETE FROM shares WHERE file_id = ?", (file_id,))
            if share is not None:
                db.execute(f"INSERT INTO shares ({self._SHARE_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
                           (file_id, share.token_hash, share.salt, share.created, share.created_by))
            db.execute("UPDATE files SET world_readable = ?, version = version + 1, updated = ? "
                       "WHERE id = ? AND world_readable != ?", (flag, _now(), file_id, flag))

    def share_of(self, file_id: str) -> ShareRecord | None:
        row = self.db.execute(f"SELECT {self._SHARE_COLUMNS} FROM shares WHERE file_id = ?", (file_id,)).fetchone()
        return ShareRecord(*row) if row else None

    def share_by_hash(self, token_hash: bytes) -> ShareRecord | None:
        row = self.db.execute(f"SELECT {self._SHARE_COLUMNS} FROM shares WHERE token_hash = ?",
                              (token_hash,)).fetchone()
        return ShareRecord(*row) if row else None

    def set_star(self, user: str, file_id: str, starred: bool) -> None:
        with self._transaction() as db:
            if starred:
                db.execute("INSERT OR IGNORE INTO stars (user, file_id, created) VALUES (?, ?, ?)",
                           (user, file_id, _now()))
            else:
                db.execute("DELETE FROM stars WHERE user = ? AND file_id = ?", (user, file_id))

    def is_starred(self, user: str, file_id: str) -> bool:
        row = self.db.execute("SELECT 1 FROM stars WHERE user = ? AND file_id = ?", (user, file_id)).fetchone()
        return row is not None

    def starred_page(self, user: str, limit: int, after: tuple[str, str] | None) -> tuple[list[tuple[str, str]], int]:
        if after is None:
            rows = self.db.execute("SELECT created, file_id FROM stars WHERE user = ? "
                                   "ORDER BY created DESC, file_id LIMIT ?", (user, limit))
        else:
            rows = self.db.execute(
                "SELECT created, file_id FROM stars WHERE user = ? AND (created < ? OR (created = ? AND file_id > ?)) "
                "ORDER BY created DESC, file_id LIMIT ?", (user, after[0], after[0], after[1], limit))
        page = [(created, file_id) for created, file_id in rows.fetchall()]
        total = self.db.execute("SELECT count(*) FROM stars WHERE user = ?", (user,)).fetchone()[0]
        return page, int(total)

    def add_edge(self, source_id_or_url: str, target_id: str, relation: str) -> None:
        if relation not in EDGE_RELATIONS:
            raise ValueError(f"unknown relation {relation!r}; one of {', '.join(EDGE_RELATIONS)}")
        is_url = source_id_or_url.startswith(("http://", "https://"))
        with self._transaction() as db:
            db.execute("INSERT INTO edges (source_id, source_url, target_id, relation, created) VALUES (?, ?, ?, ?, ?)",
                       (None if is_url else source_id_or_url, source_id_or_url if is_url else None, target_id,
                        relation, _now()))

    def edges(self, file_id: str, relation: str, incoming: bool, limit: int, after: int) -> list[Edge]:
        column = "target_id" if incoming else "source_id"
        rows = self.db.execute(
            "SELECT num, coalesce(source_id, 'url:' || source_url), target_id, relation, created FROM edges "
            f"WHERE {column} = ? AND relation = ? AND num > ? ORDER BY num LIMIT ?",
            (file_id, relation, after, limit))
        return [Edge(*row) for row in rows.fetchall()]


def _now() -> str:
    return iso_timestamp(time.time())
