"""Content-addressed file bytes in PostgreSQL: one ``contents_blobs`` row per version, its bytes in
``contents_chunks`` of :data:`CHUNK_SIZE` (the last one shorter).

A blob is written chunk by chunk while its SHA-256 is computed; when the owner already has a
blob with that hash (a save of unchanged content, a checkpoint, a copy), the new one is dropped
and the old one shared. Blobs no file or checkpoint refers to any more are removed with
:func:`drop_unreferenced`. Reads fetch one chunk (or part of one) per query, so no file is held
whole to serve it (``/files``); chunks are stored uncompressed (``STORAGE EXTERNAL``) so a part
of one is read without reading the rest.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any, AsyncGenerator, Iterable, NamedTuple

from psycopg import errors as pg_errors

from nbserver.services.contents.streams import CHUNK_SIZE as READ_SIZE
from nbserver.services.contents.streams import FileStream

if TYPE_CHECKING:
    from psycopg import AsyncConnection
    from psycopg_pool import AsyncConnectionPool

#: Bytes per stored chunk (1 MiB): the most a read or a write holds of one file at a time.
CHUNK_SIZE = 1 << 20



class Blob(NamedTuple):
    """A stored version of a file's bytes."""

    id: int
    sha256: str
    size: int


class BlobWriter:
    """Writes one blob on ``conn`` inside the caller's transaction: :meth:`add` bytes in pieces
    of any size, then :meth:`finish` for the stored (possibly shared) blob."""

    def __init__(self, conn: AsyncConnection[Any]) -> None:
        self._conn = conn
        self._id: int | None = None
        self._hash = hashlib.sha256()
        self._size = 0
        self._seq = 0
        self._pending = bytearray()

    async def _blob_id(self) -> int:
        if self._id is None:
            row = await (await self._conn.execute(
                "INSERT INTO contents_blobs (sha256) VALUES (NULL) RETURNING id")).fetchone()
            assert row is not None
            self._id = int(row[0])
        return self._id

    async def _store(self, data: bytes | bytearray | memoryview) -> None:
        await self._conn.execute(
            "INSERT INTO contents_chunks (blob, seq, data) VALUES (%s, %s, %b)",
            (await self._blob_id(), self._seq, bytes(data)))
        self._seq += 1

    async def add(self, data: bytes | memoryview) -> None:
        """Append ``data``; full chunks are written at once, the rest kept until more comes."""
        self._hash.update(data)
        await self._append(data)

    async def _append(self, data: bytes | memoryview) -> None:
        self._size += len(data)
        view = memoryview(data)
        if self._pending:
            take = CHUNK_SIZE - len(self._pending)
            self._pending += view[:take]
            view = view[take:]
            if len(self._pending) < CHUNK_SIZE:
                return
            await self._store(self._pending)
            self._pending = bytearray()
        while len(view) >= CHUNK_SIZE:
            await self._store(view[:CHUNK_SIZE])
            view = view[CHUNK_SIZE:]
        self._pending += view

    async def add_all(self, pieces: Iterable[bytes]) -> Blob:
        """The blob of bytes held in memory already: when the owner has it, nothing is written."""
        pieces = list(pieces)
        for piece in pieces:
            self._hash.update(piece)
        existing = await _blob_by_hash(self._conn, self._hash.hexdigest())
        if existing is not None:
            return existing
        for piece in pieces:
            await self._append(piece)
        return await self.finish()

    async def finish(self) -> Blob:
        """The blob of all bytes added: this one, or the owner's existing one with the same hash."""
        if self._pending:
            await self._store(self._pending)
            self._pending = bytearray()
        digest = self._hash.hexdigest()
        existing = await _blob_by_hash(self._conn, digest)
        if existing is not None:
            if self._id is not None:
                await self._conn.execute("DELETE FROM contents_blobs WHERE owner = current_user::text AND id = %s",
                                         (self._id,))
            return existing
        blob_id = await self._blob_id()
        try:
            async with self._conn.transaction():  # a savepoint: a concurrent twin may win the hash
                await self._conn.execute(
                    "UPDATE contents_blobs SET sha256 = %s, size = %s WHERE owner = current_user::text AND id = %s",
                    (digest, self._size, blob_id))
        except pg_errors.UniqueViolation:
            existing = await _blob_by_hash(self._conn, digest)
            if existing is None:
                raise
            await self._conn.execute("DELETE FROM contents_blobs WHERE owner = current_user::text AND id = %s",
                                     (blob_id,))
            return existing
        return Blob(blob_id, digest, self._size)


async def _blob_by_hash(conn: AsyncConnection[Any], digest: str) -> Blob | None:
    """The owner's blob with this SHA-256, locked against removal until the transaction ends."""
    row = await (await conn.execute(
        "SELECT id, sha256, size FROM contents_blobs WHERE owner = current_user::text AND sha256 = %s "
        "FOR KEY SHARE", (digest,))).fetchone()
    return Blob(int(row[0]), str(row[1]), int(row[2])) if row is not None else None


async def read_whole(conn: AsyncConnection[Any], blob_id: int) -> bytes:
    """All bytes of a blob (for a model's content, which holds them all anyway)."""
    cursor = await conn.execute(
        "SELECT data FROM contents_chunks WHERE owner = current_user::text AND blob = %s ORDER BY seq",
        (blob_id,), binary=True)
    return b"".join([bytes(row[0]) for row in await cursor.fetchall()])


async def drop_unreferenced(conn: AsyncConnection[Any], blob_ids: Iterable[int | None]) -> None:
    """Remove those of ``blob_ids`` that no file or checkpoint refers to any more.

    Runs in a savepoint: a blob that a concurrent transaction has just started to share is
    kept (its reference makes the delete fail, and the delete alone is rolled back).
    """
    ids = sorted({blob_id for blob_id in blob_ids if blob_id is not None})
    if not ids:
        return
    try:
        async with conn.transaction():
            await conn.execute(
                "DELETE FROM contents_blobs b WHERE b.owner = current_user::text AND b.id = ANY(%s) "
                "AND NOT EXISTS (SELECT 1 FROM contents_files f WHERE f.owner = b.owner AND f.blob = b.id) "
                "AND NOT EXISTS (SELECT 1 FROM contents_checkpoints c WHERE c.owner = b.owner AND c.blob = b.id)",
                (ids,))
    except pg_errors.ForeignKeyViolation:
        pass  # shared meanwhile: it stays


async def fetch_part(conn: AsyncConnection[Any], blob_id: int, seq: int, offset: int, length: int) -> bytes:
    """``length`` bytes from ``offset`` of chunk ``seq`` of a blob (fewer when the blob is gone)."""
    row = await (await conn.execute(
        "SELECT substring(data FROM %s FOR %s) FROM contents_chunks "
        "WHERE owner = current_user::text AND blob = %s AND seq = %s",
        (offset + 1, length, blob_id, seq), binary=True)).fetchone()
    return bytes(row[0]) if row is not None else b""


class BlobStream(FileStream):
    """A stored file open for ``/files``: each read is one query for at most one chunk's bytes, on a
    connection taken from the pool for that query only (a slow client holds no connection).

    The blob's bytes never change; if a save replaces the file and its old blob is removed while
    it is read, the read ends short, as a file that shrank would.
    """

    def __init__(self, pool: AsyncConnectionPool, blob: Blob, mtime: float) -> None:
        super().__init__(blob.size, mtime, f'"{blob.sha256}"')
        self._pool = pool
        self._blob_id = blob.id

    async def read(self, start: int, end: int, chunk_size: int = READ_SIZE) -> AsyncGenerator[bytes, None]:
        offset = start
        end = min(end, self.size)
        while offset < end:
            seq, within = divmod(offset, CHUNK_SIZE)
            length = min(chunk_size, end - offset, CHUNK_SIZE - within)
            async with self._pool.connection() as conn:
                data = await fetch_part(conn, self._blob_id, seq, within, length)
            if not data:
                return
            offset += len(data)
            yield data
