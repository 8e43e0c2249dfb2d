"""Notebook trust kept in PostgreSQL, so that trusting a notebook on one replica trusts it on all.

Used instead of nbformat's SQLite signature database whenever ``Database.url`` is set, whatever
the contents store (tables in :mod:`.notary_schema`). The signing key is in the database too
(``notary_keys``, one per owner, made on first use): replicas on different machines compute the
same signature of the same notebook. The digest is nbformat's (:mod:`..notary`). ``jupyter trust``
on a replica's machine writes nbformat's SQLite database, which this notary does not read.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import psycopg
from traitlets import Instance

from nbserver.db.config import Database
from nbserver.services.contents.notary import ALGORITHM, NotebookNotary

if TYPE_CHECKING:
    Connection = psycopg.Connection[Any]

#: Bytes of a new signing key (nbformat's are 1024 random bytes, base64-encoded).
KEY_BYTES = 1024


class PostgresNotebookNotary(NotebookNotary):
    """Signatures and the signing key of the connecting role, on one blocking connection of its own
    (the notary is called from worker threads), reopened after an error. Thread-safe."""

    database = Instance(Database)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._conn: Connection | None = None
        self.database.on_close(self.close)

    def _connection(self) -> Connection:
        """The open connection (call with ``self._lock`` held)."""
        if self._conn is None or self._conn.closed:
            self._conn = self.database.connect(autocommit=True)
        return self._conn

    def _failed(self, action: str, exc: Exception) -> None:
        """Log ``exc`` and drop the connection, so the next call connects again."""
        self.log.warning("Notebook signatures cannot be %s in the database: %s", action, type(exc).__name__)
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _the_secret(self) -> bytes:
        if self._secret is None:
            try:
                conn = self._connection()
                conn.execute("INSERT INTO notary_keys (secret) VALUES (%s) ON CONFLICT DO NOTHING",
                             (os.urandom(KEY_BYTES),))
                row = conn.execute("SELECT secret FROM notary_keys WHERE owner = current_user::text").fetchone()
            except psycopg.Error as exc:
                self._failed("read", exc)
                raise OSError("the signing key cannot be read from the database") from None
            if row is None:
                raise OSError("the signing key is not in the database")
            self._secret = bytes(row[0])
        return self._secret

    def is_signed(self, digest: str | None) -> bool:
        """Whether ``digest`` is signed for this role; False (logged) when the database cannot answer."""
        if digest is None:
            return False
        with self._lock:
            try:
                row = self._connection().execute(
                    "SELECT 1 FROM notary_signatures WHERE owner = current_user::text AND algorithm = %s "
                    "AND signature = %s", (ALGORITHM, digest)).fetchone()
            except psycopg.Error as exc:
                self._failed("read", exc)
                return False
        return row is not None

    def sign(self, digest: str | None) -> bool:
        """Store ``digest`` (one transaction: the signature, and the cull past ``cache_size``)."""
        if digest is None:
            return False
        with self._lock:
            try:
                conn = self._connection()
                with conn.transaction():
                    # An UPDATE first: re-signing a known notebook (every save of a trusted one)
                    # inserts nothing, so it notifies no replica.
                    updated = conn.execute(
                        "UPDATE notary_signatures SET last_seen = clock_timestamp() WHERE owner = current_user::text "
                        "AND algorithm = %s AND signature = %s", (ALGORITHM, digest)).rowcount
                    if not updated:
                        conn.execute("INSERT INTO notary_signatures (algorithm, signature) VALUES (%s, %s) "
                                     "ON CONFLICT DO NOTHING", (ALGORITHM, digest))
                        self._cull(conn)
            except psycopg.Error as exc:
                self._failed("stored", exc)
                return False
        return True

    def _cull(self, conn: Connection) -> None:
        """Past ``cache_size`` signatures, keep the most recently seen three quarters (nbformat's rule)."""
        row = conn.execute("SELECT count(*) FROM notary_signatures WHERE owner = current_user::text").fetchone()
        if row is not None and row[0] > self.cache_size:
            conn.execute(
                "DELETE FROM notary_signatures WHERE owner = current_user::text AND signature IN ("
                "SELECT signature FROM notary_signatures WHERE owner = current_user::text "
                "ORDER BY last_seen DESC OFFSET %s)", (max(int(0.75 * self.cache_size), 1),))

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
