"""The sessions table on PostgreSQL (``kernel_sessions``, schema: :mod:`.pg_schema`), on the
database's asyncio connection pool: the same rows and order as the SQLite store, scoped to the
server's owner, each row naming the replica that made it (only that one prunes it when it does
not know the row's kernel; the others only leave it out of what they list). Kernels stay per process (or on a gateway shared by the replicas), so replicas
sharing one owner's rows should share kernels through a gateway or route each session to one replica.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nbserver.services.sessions.manager import SessionRow, SessionStore

if TYPE_CHECKING:
    from nbserver.db.config import Database

COLUMNS = ("session_id", "path", "name", "type", "kernel_id")


class PostgresSessionStore(SessionStore):
    """``owner``'s sessions in ``kernel_sessions``; each call takes a pooled connection for one statement."""

    def __init__(self, database: Database, owner: str, replica: str = "") -> None:
        self.database = database
        self.owner = owner
        #: Which server made a row (``SessionManager.replica_id``): only it prunes the row.
        self.replica = replica

    async def _select(self, where: str = "", args: tuple[Any, ...] = ()) -> list[SessionRow]:
        pool = await self.database.pool()
        async with pool.connection() as conn:
            cursor = await conn.execute(f"SELECT {', '.join(COLUMNS)} FROM kernel_sessions WHERE owner = %s {where} "
                                        "ORDER BY num", (self.owner, *args))
            return [SessionRow(*row) for row in await cursor.fetchall()]

    async def _write(self, statement: str, args: tuple[Any, ...]) -> None:
        pool = await self.database.pool()
        async with pool.connection() as conn:
            await conn.execute(statement, args)

    async def all(self) -> list[SessionRow]:
        return await self._select()

    async def find(self, column: str, value: str) -> list[SessionRow]:
        assert column in ("session_id", "path", "kernel_id")
        return await self._select(f"AND {column} = %s", (value,))

    async def insert(self, row: SessionRow) -> None:
        await self._write(
            f"INSERT INTO kernel_sessions (owner, replica, {', '.join(COLUMNS)}) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (self.owner, self.replica, row.session_id, row.path, row.name, row.type, row.kernel_id))

    async def update(self, session_id: str, changes: dict[str, str]) -> None:
        assert set(changes) <= {"path", "name", "type", "kernel_id"}
        if changes:
            columns = ", ".join(f"{column} = %s" for column in changes)
            await self._write(f"UPDATE kernel_sessions SET {columns} WHERE owner = %s AND session_id = %s",
                              (*changes.values(), self.owner, session_id))

    async def move_paths(self, old_path: str, new_path: str) -> None:
        # The byte-ordered range of a folder's descendants (paths are COLLATE "C"; see files.store).
        await self._write(
            "UPDATE kernel_sessions SET path = %s || substr(path, length(%s) + 1) WHERE owner = %s "
            "AND (path = %s OR (path >= %s AND path < %s))",
            (new_path, old_path, self.owner, old_path, old_path + "/", old_path + "0"))

    async def delete(self, column: str, value: str) -> None:
        assert column in ("session_id", "kernel_id")
        await self._write(f"DELETE FROM kernel_sessions WHERE owner = %s AND {column} = %s", (self.owner, value))

    async def forget_kernel(self, kernel_id: str) -> None:
        await self._write("DELETE FROM kernel_sessions WHERE owner = %s AND kernel_id = %s AND replica = %s",
                          (self.owner, kernel_id, self.replica))

    def close(self) -> None:
        """Nothing to release: the pool belongs to the Database, closed with the server."""
