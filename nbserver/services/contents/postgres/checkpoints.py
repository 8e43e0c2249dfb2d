"""Checkpoints of the PostgreSQL contents store: rows of ``contents_checkpoints`` sharing blobs.

The same ids and order as the file checkpoints (:class:`~nbserver.services.contents.checkpoints.CheckpointHistory`):
the latest is ``checkpoint``, older ones are named for when they were superseded, at most
``checkpoint_history_size`` per file. A checkpoint refers to the file's blob (no bytes are
copied), and a restore points the file back at the checkpoint's blob, in one transaction.
Checkpoints follow renames and deletes of their file by the foreign key's cascade, in the
transaction of the rename or delete itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nbserver.errors import InvalidInput, NotFound
from nbserver.services.contents.checkpoints import (
    DEFAULT_CHECKPOINT_ID,
    CheckpointHistory,
    CheckpointModel,
    new_history_id,
)
from nbserver.services.contents.manager import iso_timestamp
from nbserver.services.contents.postgres import blobs

if TYPE_CHECKING:
    from nbserver.services.contents.postgres.manager import Conn, PostgresContentsManager


class PostgresCheckpoints(CheckpointHistory):
    """Several checkpoints per file, in the contents database (see the module docstring)."""

    @property
    def manager(self) -> PostgresContentsManager:
        return self.parent  # type: ignore[return-value]

    async def _file(self, conn: Conn, path: str, lock: str = "") -> tuple[Any, ...]:
        """The row of the file at ``path`` (:data:`~.manager.COLUMNS`): NotFound, or InvalidInput
        for a folder."""
        found = await self.manager.row(conn, path, lock)
        if found is None:
            raise NotFound(f"No such file: {path}")
        if found[2]:
            raise InvalidInput("Directories have no checkpoints.")
        return found

    @staticmethod
    async def _ids(conn: Conn, path: str) -> list[str]:
        rows = await (await conn.execute(
            "SELECT id FROM contents_checkpoints WHERE owner = current_user::text AND path = %s", (path,))).fetchall()
        return [str(row[0]) for row in rows]

    @staticmethod
    async def _checkpoint_blob(conn: Conn, checkpoint_id: str, path: str) -> int:
        found = await (await conn.execute(
            "SELECT blob FROM contents_checkpoints WHERE owner = current_user::text AND path = %s AND id = %s",
            (path, checkpoint_id))).fetchone()
        if found is None:
            raise NotFound(f"No checkpoint {checkpoint_id!r} for {path}")
        return int(found[0])

    async def create_checkpoint(self, path: str) -> CheckpointModel:
        path = self.manager.readable_path(path)
        async with self.manager.operation("create a checkpoint of", path) as conn:
            row = await self._file(conn, path, "FOR UPDATE")
            ids = await self._ids(conn, path)
            if DEFAULT_CHECKPOINT_ID in ids:
                if self.checkpoint_history_size > 1:
                    await conn.execute(
                        "UPDATE contents_checkpoints SET id = %s WHERE owner = current_user::text AND path = %s AND id = %s",
                        (new_history_id(ids.__contains__), path, DEFAULT_CHECKPOINT_ID))
                else:
                    await self._delete(conn, DEFAULT_CHECKPOINT_ID, path)
            created = await (await conn.execute(
                "INSERT INTO contents_checkpoints (path, id, blob, last_modified) VALUES (%s, %s, %s, %s) "
                "RETURNING last_modified", (path, DEFAULT_CHECKPOINT_ID, row[9], row[7]))).fetchone()
            pruned = await (await conn.execute(
                "DELETE FROM contents_checkpoints WHERE owner = current_user::text AND path = %s AND id <> %s AND id NOT IN "
                "(SELECT id FROM contents_checkpoints WHERE owner = current_user::text AND path = %s AND id <> %s "
                "ORDER BY id DESC LIMIT %s) RETURNING blob",
                (path, DEFAULT_CHECKPOINT_ID, path, DEFAULT_CHECKPOINT_ID, self.checkpoint_history_size - 1))).fetchall()
            await blobs.drop_unreferenced(conn, [blob for (blob,) in pruned])
        assert created is not None
        return {"id": DEFAULT_CHECKPOINT_ID, "last_modified": iso_timestamp(created[0].timestamp())}

    async def list_checkpoints(self, path: str) -> list[CheckpointModel]:
        """Oldest first, the latest (``checkpoint``) last, as the file checkpoints list them."""
        path = self.manager.readable_path(path)
        async with self.manager.operation("list the checkpoints of", path) as conn:
            await self._file(conn, path)
            rows = await (await conn.execute(
                "SELECT id, last_modified FROM contents_checkpoints WHERE owner = current_user::text AND path = %s "
                "ORDER BY id = %s, id", (path, DEFAULT_CHECKPOINT_ID))).fetchall()
        return [{"id": row[0], "last_modified": iso_timestamp(row[1].timestamp())} for row in rows]

    async def restore_checkpoint(self, checkpoint_id: str, path: str) -> None:
        path = self.manager.readable_path(path)
        async with self.manager.operation("restore a checkpoint of", path) as conn:
            row = await self._file(conn, path, "FOR UPDATE")
            blob = await self._checkpoint_blob(conn, checkpoint_id, path)
            await conn.execute(
                "UPDATE contents_files f SET blob = b.id, size = b.size, sha256 = b.sha256, "
                "last_modified = clock_timestamp(), version = nextval('contents_version_seq') "
                "FROM contents_blobs b WHERE b.owner = current_user::text AND b.id = %s "
                "AND f.owner = current_user::text AND f.path = %s", (blob, path))
            if row[9] != blob:
                await blobs.drop_unreferenced(conn, [row[9]])
        self.manager.changed_here(path)
        await self.manager.notify_saved(path)

    async def read_checkpoint(self, checkpoint_id: str, path: str) -> bytes:
        path = self.manager.readable_path(path)
        async with self.manager.operation("read a checkpoint of", path) as conn:
            await self._file(conn, path)
            return await blobs.read_whole(conn, await self._checkpoint_blob(conn, checkpoint_id, path))

    async def _delete(self, conn: Conn, checkpoint_id: str, path: str) -> None:
        found = await (await conn.execute(
            "DELETE FROM contents_checkpoints WHERE owner = current_user::text AND path = %s AND id = %s RETURNING blob",
            (path, checkpoint_id))).fetchone()
        if found is None:
            raise NotFound(f"No checkpoint {checkpoint_id!r} for {path}")
        await blobs.drop_unreferenced(conn, [found[0]])

    async def delete_checkpoint(self, checkpoint_id: str, path: str) -> None:
        path = self.manager.readable_path(path)
        async with self.manager.operation("delete a checkpoint of", path) as conn:
            await self._file(conn, path, "FOR UPDATE")
            await self._delete(conn, checkpoint_id, path)
            if checkpoint_id == DEFAULT_CHECKPOINT_ID:
                # "checkpoint" keeps naming the latest: the newest older one takes its place.
                await conn.execute(
                    "UPDATE contents_checkpoints SET id = %s WHERE owner = current_user::text AND path = %s AND id = "
                    "(SELECT max(id) FROM contents_checkpoints WHERE owner = current_user::text AND path = %s)",
                    (DEFAULT_CHECKPOINT_ID, path, path))

    async def rename_all_checkpoints(self, old_path: str, new_path: str) -> None:
        """Nothing to do: the rename's own transaction moved them (ON UPDATE CASCADE)."""

    async def delete_all_checkpoints(self, path: str) -> None:
        """Nothing to do: the delete's own transaction removes them with the file."""
