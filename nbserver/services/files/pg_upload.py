"""Raw uploads (``POST /api/files/upload``) into the PostgreSQL contents store.

:class:`DatabaseUpload` is the :class:`~nbserver.services.files.upload.StagedUpload` of the
database: the body, as :class:`~nbserver.services.files.upload.UploadStream` hands it over in
batches, is written as the chunks of a new blob in one transaction on one pooled connection, so
an upload of any size holds at most two batches (and one blob chunk) in memory. ``commit``
checks a notebook as a save does, then makes the blob the file at the target path with the same
``on_conflict`` rules as on disk (``fail``: 409 when taken, ``rename``: ``name (1).ext``...,
``overwrite``: the same row and id, new bytes); ``abort`` rolls the transaction back, so a 413
or a dropped connection leaves nothing behind.

``UploadStream`` calls ``open``, ``write`` and ``commit`` on worker threads; they run their
database work on the event loop (``asyncio.run_coroutine_threadsafe``) and wait for it there.
"""

from __future__ import annotations

import asyncio
import posixpath
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Coroutine, TypeVar

import psycopg

from nbserver.blocking import run_blocking
from nbserver.errors import Conflict, InvalidInput, NbserverError
from nbserver.services.contents.postgres import blobs
from nbserver.services.contents.postgres.connections import error_for
from nbserver.services.files.upload import MAX_RENAMES, Buffer, StagedUpload, check_notebook, renamed

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager

    from psycopg import AsyncConnection

    from nbserver.services.contents.postgres.manager import PostgresContentsManager

T = TypeVar("T")


class DatabaseUpload(StagedUpload):
    """One upload streamed into a blob in one transaction (see the module docstring)."""

    #: No staging file to splice into: the body is read into buffers and written as blob chunks.
    spliceable = False

    def __init__(self, manager: PostgresContentsManager, folder: str, name: str, on_conflict: str,
                 check_notebook_bytes: int) -> None:
        super().__init__(manager, folder, name, on_conflict, check_notebook_bytes)  # type: ignore[arg-type]
        self.pg = manager
        self._loop = asyncio.get_running_loop()
        self._pooled: AbstractAsyncContextManager[AsyncConnection[Any]] | None = None
        self._conn: AsyncConnection[Any] | None = None
        self._writer: blobs.BlobWriter | None = None
        self._turn = asyncio.Lock()

    def _wait(self, work: Coroutine[Any, Any, T]) -> T:
        """Run ``work`` on the event loop and wait for it (on a worker thread)."""
        return asyncio.run_coroutine_threadsafe(work, self._loop).result()

    def _error(self, exc: psycopg.Error) -> NbserverError:
        return error_for(exc, "upload", self.path)

    def open(self) -> None:
        self._wait(self._open())

    async def _open(self) -> None:
        self.pg.writable_path(self.path)
        pooled = self.pg.operation("upload", self.path)  # a pooled connection; the root row made on first use
        conn = await pooled.__aenter__()
        self._pooled, self._conn, self._writer = pooled, conn, blobs.BlobWriter(conn)

    def write(self, chunks: Sequence[Buffer]) -> None:
        self._wait(self._write(chunks))

    def hash(self, chunks: Sequence[Buffer]) -> None:
        """Nothing: the blob writer hashes what it stores (``chunks`` may be views of buffers reused
        after ``write``; the blob writer copies them)."""

    async def _write(self, chunks: Sequence[Buffer]) -> None:
        async with self._turn:
            if self._writer is None:
                return  # aborted meanwhile
            try:
                for chunk in chunks:
                    await self._writer.add(memoryview(chunk))
                    self.size += len(chunk)
            except psycopg.Error as exc:
                raise self._error(exc) from None

    def abort(self) -> None:
        """Roll back and give the connection back (idempotent; any thread, also the loop's)."""
        if self._pooled is not None:
            asyncio.run_coroutine_threadsafe(self._release(), self._loop)

    async def _release(self) -> None:
        async with self._turn:
            pooled, conn = self._pooled, self._conn
            self._pooled = self._conn = self._writer = None
            if pooled is None or conn is None:
                return
            try:
                await conn.rollback()
            finally:
                await pooled.__aexit__(None, None, None)

    def commit(self) -> tuple[dict[str, Any], bool]:
        return self._wait(self._commit())

    async def _commit(self) -> tuple[dict[str, Any], bool]:
        try:
            async with self._turn:
                conn, writer = self._conn, self._writer
                assert conn is not None and writer is not None, "commit after abort"
                try:
                    model, created = await self._store(conn, writer)
                    await conn.commit()
                except psycopg.Error as exc:
                    raise self._error(exc) from None
            return model, created
        finally:
            await self._release()

    async def _store(self, conn: AsyncConnection[Any], writer: blobs.BlobWriter) -> tuple[dict[str, Any], bool]:
        blob = await writer.finish()
        message = None
        if self.name.endswith(".ipynb"):
            if blob.size > self.check_notebook_bytes:
                message = f"Not checked as a notebook: it is larger than {self.check_notebook_bytes / 2**20:g} MB."
            else:
                message = await run_blocking(check_notebook, await blobs.read_whole(conn, blob.id))
        path = await self._free_path(conn)
        try:
            async with conn.transaction():  # a savepoint: another client may take the name meanwhile
                saved = await self.pg.place_blob(conn, path, blob, replace=self.on_conflict == "overwrite")
        except (Conflict, psycopg.errors.UniqueViolation):
            raise Conflict(f"Something is already at {path}.", code="name_conflict", conflict_path=path) from None
        if message:
            saved.model["message"] = message
        return saved.model, saved.created

    async def _free_path(self, conn: AsyncConnection[Any]) -> str:
        """The target path: with ``rename``, the first free ``name (n).ext``."""
        if self.on_conflict != "rename":
            return self.path
        for number in range(MAX_RENAMES + 1):
            path = posixpath.join(self.folder, renamed(self.name, number) if number else self.name)
            try:
                self.pg.writable_path(path)
            except InvalidInput:
                break  # the numbered name no longer fits
            if await self.pg.row(conn, path) is None:
                return path
        raise Conflict(f"No free name for {self.name} here.", code="name_conflict", conflict_path=self.path)
