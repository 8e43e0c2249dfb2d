"""The database settings: one :class:`Database` per server process, shared by every store on it.

A store asks it for connections: :meth:`Database.connect` for a blocking connection (stores whose
methods run on a worker thread, the ``nbserver db`` commands) and :meth:`Database.pool` for the
process's asyncio connection pool (stores called on the event loop). Both come from psycopg 3
(https://www.psycopg.org/psycopg3/docs/), with the pool from ``psycopg_pool``.
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING, Any, Callable

from traitlets import Bool, Float, Integer, Unicode, default
from traitlets.config import LoggingConfigurable

from nbserver.db.changes import ChangeListener


if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import AsyncConnectionPool

#: The environment variable read when ``Database.url`` is not set.
URL_ENVIRONMENT_VARIABLE = "NBSERVER_DATABASE_URL"


class ConfigurationError(RuntimeError):
    """The database cannot be used as configured (no URL, psycopg missing, schema behind):
    raised at start-up or by ``nbserver db``, never while serving a request."""


def redact(url: str) -> str:
    """``url`` with any password replaced by ``***``, for logs and error messages."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    try:
        params = conninfo_to_dict(url)
    except Exception:  # noqa: BLE001 - a URL libpq cannot parse is shown as nothing at all
        return "<unparsable database URL>"
    if "password" in params:
        params["password"] = "***"
    return make_conninfo("", **params)


class Database(LoggingConfigurable):
    """Where nbserver's PostgreSQL store lives and how connections to it are made.

    ``url`` is a libpq connection string or URI
    (https://www.postgresql.org/docs/15/libpq-connect.html#LIBPQ-CONNSTRING), e.g.
    ``postgresql://nbserver@db.example/nbserver``; a password is better kept in ``~/.pgpass`` or
    ``PGPASSWORD`` than in the URL. Raises :class:`ConfigurationError` when used
    without a URL or without psycopg installed.
    """

    url = Unicode(
        help=f"PostgreSQL connection URL (libpq syntax). Default: ${URL_ENVIRONMENT_VARIABLE}. "
        "Empty: nbserver keeps everything in files and SQLite, as without a database."
    ).tag(config=True)
    pool_min_size = Integer(1, help="Connections the asyncio pool keeps open.").tag(config=True)
    pool_max_size = Integer(
        10, help="Most connections the asyncio pool opens; further requests wait for one."
    ).tag(config=True)
    connect_timeout = Float(
        10.0, help="Seconds to wait for a connection (to the server, or from a full pool)."
    ).tag(config=True)
    upgrade_on_start = Bool(
        False,
        help="Apply pending schema migrations when the server starts (as `nbserver db upgrade` "
        "does). Off: a server whose schema is behind refuses to start and says which command to run.",
    ).tag(config=True)
    require_row_security = Bool(
        False,
        help="Refuse to start when this server's database role could read other users' rows (a "
        "superuser, BYPASSRLS, the tables' owner: see `nbserver db create-role`). Off: the server "
        "starts and logs a warning. Turn it on wherever users' servers share a database.",
    ).tag(config=True)
    listen_for_changes = Bool(
        True,
        help="Keep one connection LISTENing for the changes other replicas commit (nbserver/db/changes.py), "
        "so cached replies are served without a validating query while it is up. Off: every cached "
        "read asks the database whether its entry is still current.",
    ).tag(config=True)
    application_name = Unicode(
        "nbserver", help="Shown in pg_stat_activity for this server's connections."
    ).tag(config=True)

    @default("url")
    def _default_url(self) -> str:
        return os.environ.get(URL_ENVIRONMENT_VARIABLE, "")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._pool: AsyncConnectionPool | None = None
        self._opening: asyncio.Future[AsyncConnectionPool] | None = None
        self._role: str | None = None
        self._on_close: list[Callable[[], None]] = []
        #: The process's change listener, when configured and wanted (started by the stores that use it).
        self.changes: ChangeListener | None = (
            ChangeListener(self) if self.configured and self.listen_for_changes else None)

    @property
    def configured(self) -> bool:
        """True when a URL is set: the PostgreSQL stores are to be used."""
        return bool(self.url)

    @property
    def role(self) -> str:
        """The database role this server connects as (``current_user``), asked once: the ``owner``
        of every row the stores write, as row-level security requires (:mod:`nbserver.db.security`).
        Blocking on first use; raises like :meth:`connect`."""
        if self._role is None:
            with self.connect() as conn:
                row = conn.execute("SELECT current_user").fetchone()
            assert row is not None
            self._role = str(row[0])
        return self._role

    def conninfo(self) -> str:
        """The libpq connection string of this server's connections (ConfigurationError without a URL)."""
        return self._conninfo()

    def _conninfo(self) -> str:
        if not self.url:
            raise ConfigurationError(
                f"No database URL: set Database.url (--Database.url=...) or ${URL_ENVIRONMENT_VARIABLE}."
            )
        try:
            from psycopg.conninfo import make_conninfo
        except ImportError as exc:
            raise ConfigurationError(
                "PostgreSQL support needs psycopg 3: pip install 'nbserver[postgres]'."
            ) from exc
        return make_conninfo(
            self.url,
            connect_timeout=max(1, round(self.connect_timeout)),
            application_name=self.application_name,
        )

    def connect(self, autocommit: bool = False) -> psycopg.Connection[Any]:
        """A new blocking connection (the caller closes it). Raises ConfigurationError without a
        URL; ``psycopg.OperationalError`` when the server cannot be reached."""
        import psycopg

        return psycopg.connect(self._conninfo(), autocommit=autocommit)

    async def pool(self) -> AsyncConnectionPool:
        """The process's asyncio connection pool, opened on first use (on the running loop).

        Callers that ask at once while it opens all get the same pool; when opening fails,
        each of them gets the error and the next call tries again.
        """
        if self._opening is None:
            self._opening = asyncio.ensure_future(self._open_pool())
        opening = self._opening
        try:
            return await asyncio.shield(opening)
        except BaseException:
            if opening.done() and self._opening is opening and self._pool is None:
                self._opening = None
            raise

    async def _open_pool(self) -> AsyncConnectionPool:
        from psycopg_pool import AsyncConnectionPool

        pool = AsyncConnectionPool(
            self._conninfo(),
            min_size=self.pool_min_size,
            max_size=self.pool_max_size,
            timeout=self.connect_timeout,
            open=False,
        )
        try:
            await pool.open(wait=True, timeout=self.connect_timeout)
        except BaseException:
            await pool.close()
            raise
        self._pool = pool
        return pool

    def on_close(self, callback: Callable[[], None]) -> None:
        """Have ``callback()`` called by :meth:`close` (a store's own blocking connection closes)."""
        self._on_close.append(callback)

    async def close(self) -> None:
        """Close the pool (connections in use are closed when returned), the change listener and
        what :meth:`on_close` registered."""
        for callback in self._on_close:
            callback()
        opening, self._opening = self._opening, None
        if opening is not None and not opening.done():
            opening.cancel()
        if self.changes is not None:
            await self.changes.stop()
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()
