"""SessionManager: which document (path) is bound to which kernel, kept in a :class:`SessionStore`.

A session ties a notebook or console path to a running kernel. Rows live in SQLite
(in memory by default, a file when ``session_db_path`` is set; all database work
runs on one worker thread so the event loop never waits on the disk), or in PostgreSQL when
``Database.url`` is set (:mod:`.pg_store`, on the database's asyncio pool). Sessions whose
kernel died or was shut down are removed, and a renamed or moved file carries its
sessions along.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from traitlets import Instance, Unicode, default
from traitlets.config import LoggingConfigurable

from nbserver.errors import InvalidInput, NotFound
from nbserver.services.contents.fileio import normalize_api_path
from nbserver.services.kernels.base import KernelEvent, KernelManagerBase

if TYPE_CHECKING:
    from nbserver.db.config import Database

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    kernel_id TEXT NOT NULL
)
"""


@dataclass(frozen=True)
class SessionRow:
    session_id: str
    path: str
    name: str
    type: str
    kernel_id: str


class SessionStore:
    """The sessions table: rows in insertion order; ``column`` names one of SessionRow's fields."""

    async def all(self) -> list[SessionRow]:
        raise NotImplementedError

    async def find(self, column: str, value: str) -> list[SessionRow]:
        """Rows whose ``session_id``, ``path`` or ``kernel_id`` is ``value``."""
        raise NotImplementedError

    async def insert(self, row: SessionRow) -> None:
        raise NotImplementedError

    async def update(self, session_id: str, changes: dict[str, str]) -> None:
        """Set ``path``, ``name``, ``type`` or ``kernel_id`` of one session."""
        raise NotImplementedError

    async def move_paths(self, old_path: str, new_path: str) -> None:
        """Rewrite the path of sessions on ``old_path`` or below it (a moved folder)."""
        raise NotImplementedError

    async def delete(self, column: str, value: str) -> None:
        """Delete the rows whose ``session_id`` or ``kernel_id`` is ``value``."""
        raise NotImplementedError

    async def forget_kernel(self, kernel_id: str) -> None:
        """Delete the rows of a kernel this server does not have (it died, or the server restarted).
        A store shared by several servers deletes only the rows this server made: another
        replica's kernel is unknown here without being gone."""
        await self.delete("kernel_id", kernel_id)

    def close(self) -> None:
        """Release the store's resources (blocking; the manager calls it on a worker thread)."""
        raise NotImplementedError


class SQLiteSessionStore(SessionStore):
    """The sessions table in SQLite; every method runs on the store's single worker thread."""

    def __init__(self, db_path: str) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nbserver-sessions")
        self._db_path = db_path
        self._connection: sqlite3.Connection | None = None

    def _db(self) -> sqlite3.Connection:
        if self._connection is None:
            self._connection = sqlite3.connect(self._db_path, check_same_thread=False)
            self._connection.execute(SCHEMA)
            self._connection.commit()
        return self._connection

    async def _run(self, func: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, func, *args)

    def _select(self, where: str = "", args: tuple[Any, ...] = ()) -> list[SessionRow]:
        cursor = self._db().execute(f"SELECT session_id, path, name, type, kernel_id FROM sessions {where}", args)
        return [SessionRow(*row) for row in cursor.fetchall()]

    def _write(self, statement: str, args: tuple[Any, ...]) -> int:
        with self._db() as db:
            return db.execute(statement, args).rowcount

    async def all(self) -> list[SessionRow]:
        return await self._run(self._select, "ORDER BY rowid")

    async def find(self, column: str, value: str) -> list[SessionRow]:
        assert column in ("session_id", "path", "kernel_id")
        return await self._run(self._select, f"WHERE {column} = ? ORDER BY rowid", (value,))

    async def insert(self, row: SessionRow) -> None:
        await self._run(self._write, "INSERT INTO sessions VALUES (?, ?, ?, ?, ?)",
                        (row.session_id, row.path, row.name, row.type, row.kernel_id))

    async def update(self, session_id: str, changes: dict[str, str]) -> None:
        assert set(changes) <= {"path", "name", "type", "kernel_id"}
        if changes:
            columns = ", ".join(f"{column} = ?" for column in changes)
            await self._run(self._write, f"UPDATE sessions SET {columns} WHERE session_id = ?",
                            (*changes.values(), session_id))

    async def move_paths(self, old_path: str, new_path: str) -> None:
        await self._run(
            self._write,
            "UPDATE sessions SET path = ? || substr(path, ?) WHERE path = ? OR substr(path, 1, ?) = ?",
            (new_path, len(old_path) + 1, old_path, len(old_path) + 1, old_path + "/"),
        )

    async def delete(self, column: str, value: str) -> None:
        assert column in ("session_id", "kernel_id")
        await self._run(self._write, f"DELETE FROM sessions WHERE {column} = ?", (value,))

    def close(self) -> None:
        if self._connection is not None:
            self._executor.submit(self._connection.close).result()
            self._connection = None
        self._executor.shutdown(wait=True)


class SessionManager(LoggingConfigurable):
    """Creates, lists, changes and ends sessions over the kernel manager."""

    session_db_path = Unicode(
        ":memory:", help="SQLite file that keeps the sessions; ':memory:' keeps them in memory only."
    ).tag(config=True)
    replica_id = Unicode(
        help="Names this server among the replicas sharing a PostgreSQL sessions table (default: "
        "host name and port): a server prunes only the rows it made when their kernel is gone. "
        "Keep it stable across restarts, so a restarted replica removes its old rows."
    ).tag(config=True)
    kernel_manager = Instance(KernelManagerBase)

    def __init__(self, database: Database | None = None, owner: str = "", **kwargs: Any) -> None:
        """``database``: PostgreSQL keeps the rows (of ``owner``) when it is configured, else SQLite."""
        super().__init__(**kwargs)
        self.store: SessionStore
        if database is not None and database.configured:
            from nbserver.services.sessions.pg_store import PostgresSessionStore

            self.store = PostgresSessionStore(database, owner, self.replica_id)
        else:
            self.store = SQLiteSessionStore(self.session_db_path)
        self.kernel_manager.add_listener(self._on_kernel_event)
        self._tasks: set[asyncio.Task[None]] = set()
        self._creating: dict[str, asyncio.Lock] = {}

    @default("replica_id")
    def _default_replica_id(self) -> str:
        return f"{socket.gethostname()}:{getattr(self.parent, 'port', os.getpid())}"

    # -- models ------------------------------------------------------------------------

    def model(self, row: SessionRow) -> dict[str, Any]:
        model: dict[str, Any] = {
            "id": row.session_id,
            "path": row.path,
            "name": row.name,
            "type": row.type,
            "kernel": self.kernel_manager.kernel_model(row.kernel_id),
        }
        if row.type == "notebook":  # the field older Notebook front ends read
            model["notebook"] = {"path": row.path, "name": row.name}
        return model

    async def _live_rows(self, rows: list[SessionRow]) -> list[SessionRow]:
        """The rows whose kernel this server has; rows of kernels it lost are deleted (on a store
        shared by replicas, only its own: see :meth:`SessionStore.forget_kernel`)."""
        live = []
        for row in rows:
            if self.kernel_manager.has_kernel(row.kernel_id):
                live.append(row)
            else:
                await self.store.forget_kernel(row.kernel_id)
        return live

    async def _row(self, session_id: str) -> SessionRow:
        rows = await self._live_rows(await self.store.find("session_id", session_id))
        if not rows:
            raise NotFound(f"No such session: {session_id}")
        return rows[0]

    # -- the API -----------------------------------------------------------------------

    async def list_sessions(self) -> list[dict[str, Any]]:
        return [self.model(row) for row in await self._live_rows(await self.store.all())]

    async def get_session(self, session_id: str) -> dict[str, Any]:
        return self.model(await self._row(session_id))

    async def session_for_path(self, path: str) -> dict[str, Any] | None:
        rows = await self._live_rows(await self.store.find("path", path))
        return self.model(rows[0]) if rows else None

    @staticmethod
    def session_path(path: str) -> str:
        """A session's path in the contents API's canonical form, inside the root.

        The contents rule (``split_api_path``): no ``..`` component, no NUL; a leading ``/``
        means the root. InvalidInput otherwise, or when nothing is left.
        """
        normalized = normalize_api_path(path)
        if not normalized:
            raise InvalidInput("A session's path must name a file or folder below the root.")
        return normalized

    async def get_or_create_session(
        self, path: str, name: str, type: str, kernel_name: str | None = None, kernel_id: str | None = None
    ) -> dict[str, Any]:
        """The session on ``path`` if there is one, else a new one; one at a time per path."""
        path = self.session_path(path)
        lock = self._creating.setdefault(path, asyncio.Lock())
        try:
            async with lock:
                existing = await self.session_for_path(path)
                if existing is not None:
                    return existing
                return await self.create_session(path, name, type, kernel_name, kernel_id)
        finally:
            if not lock.locked() and self._creating.get(path) is lock:
                del self._creating[path]

    async def create_session(
        self, path: str, name: str, type: str, kernel_name: str | None = None, kernel_id: str | None = None
    ) -> dict[str, Any]:
        """A new session on a new kernel (by name) or an existing one (by id).

        An id no kernel has yet starts a new kernel with that id, as Jupyter Server does.
        """
        path = self.session_path(path)
        kernel_id = await self._session_kernel(path, kernel_name, kernel_id)
        row = SessionRow(str(uuid.uuid4()), path, name, type, kernel_id)
        await self.store.insert(row)
        return self.model(row)

    async def update_session(
        self, session_id: str, path: str | None = None, name: str | None = None, type: str | None = None,
        kernel_name: str | None = None, kernel_id: str | None = None,
    ) -> dict[str, Any]:
        """Change a session's path, name or type, or its kernel (a new one by name, or by id)."""
        if path is not None:
            path = self.session_path(path)
        row = await self._row(session_id)
        changes = {key: value for key, value in (("path", path), ("name", name), ("type", type))
                   if value is not None}
        old_kernel = row.kernel_id
        if kernel_id is not None and not self.kernel_manager.has_kernel(kernel_id):
            raise InvalidInput(f"No such kernel: {kernel_id}")  # Jupyter Server's 400 for a PATCH
        if kernel_id is not None or kernel_name is not None:
            changes["kernel_id"] = await self._session_kernel(
                path if path is not None else row.path, kernel_name, kernel_id)
        await self.store.update(session_id, changes)
        new_kernel = changes.get("kernel_id", old_kernel)
        if path is not None:
            self.kernel_manager.set_session_path(new_kernel, path)
        if kernel_name is not None and new_kernel != old_kernel:
            await self._shutdown_if_unused(old_kernel)
        return await self.get_session(session_id)

    async def _session_kernel(self, path: str, kernel_name: str | None, kernel_id: str | None) -> str:
        """The kernel a session on ``path`` gets: the running one with ``kernel_id``, else a new one
        (with that id when one is given) of ``kernel_name``, knowing its notebook's path."""
        if kernel_id is not None and self.kernel_manager.has_kernel(kernel_id):
            return kernel_id
        return await self.kernel_manager.start_kernel(
            kernel_name=kernel_name, path=path, kernel_id=kernel_id, session_path=path)

    async def delete_session(self, session_id: str) -> None:
        """End a session and shut its kernel down (unless another session still uses it)."""
        row = await self._row(session_id)
        await self.store.delete("session_id", session_id)
        await self._shutdown_if_unused(row.kernel_id)

    async def _shutdown_if_unused(self, kernel_id: str) -> None:
        if not await self.store.find("kernel_id", kernel_id) and self.kernel_manager.has_kernel(kernel_id):
            try:
                await self.kernel_manager.shutdown_kernel(kernel_id)
            except NotFound:
                pass

    # -- following kernels and files ---------------------------------------------------

    async def path_renamed(self, old_path: str, new_path: str) -> None:
        """The contents manager moved a file or folder: its sessions follow, and their kernels'
        next restart gets the new JPY_SESSION_NAME."""
        await self.store.move_paths(old_path, new_path)
        for row in await self.store.all():
            if row.path == new_path or row.path.startswith(new_path.rstrip("/") + "/"):
                self.kernel_manager.set_session_path(row.kernel_id, row.path)

    def _on_kernel_event(self, kernel_id: str, event: KernelEvent) -> None:
        if event in (KernelEvent.SHUTDOWN, KernelEvent.DIED):
            task = asyncio.get_running_loop().create_task(self.store.delete("kernel_id", kernel_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Wait for pending clean-ups and close the database: the owner calls this on shutdown."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self.kernel_manager.remove_listener(self._on_kernel_event)
        await asyncio.get_running_loop().run_in_executor(None, self.store.close)
