"""One operation of the PostgreSQL contents store = one transaction, and what its errors mean.

:func:`operation` takes a connection from the Database's pool for the duration of one store
operation: everything done on it commits together when the block ends, or nothing does
(psycopg_pool's connection context). Database errors become the project's exceptions, so a
client gets 404/409/400/503 with a public message, never a 500 with the database's words.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Any, AsyncIterator

import psycopg
from psycopg import errors as pg_errors
from psycopg_pool import PoolTimeout

from nbserver.db.config import Database
from nbserver.errors import Conflict, InsufficientStorage, InvalidInput, NbserverError, NotFound, ServiceUnavailable

if TYPE_CHECKING:
    from psycopg import AsyncConnection

log = logging.getLogger("nbserver")


def error_for(exc: BaseException, action: str, path: str) -> NbserverError:
    """The project's exception for a database error met while doing ``action`` on API path ``path``."""
    detail = f"{type(exc).__name__}: {exc}".strip()
    if isinstance(exc, pg_errors.ForeignKeyViolation):
        return NotFound(f"Cannot {action} {path}: its folder was removed meanwhile.", log_detail=detail)
    if isinstance(exc, pg_errors.UniqueViolation):
        return Conflict(f"Cannot {action} {path}: a file or directory already exists there.", log_detail=detail)
    if isinstance(exc, (pg_errors.SerializationFailure, pg_errors.DeadlockDetected, pg_errors.LockNotAvailable)):
        return Conflict(f"Cannot {action} {path}: it changed at the same time; try again.", log_detail=detail)
    if isinstance(exc, pg_errors.DiskFull):
        return InsufficientStorage(f"Cannot {action} {path}: the contents database is out of space.",
                                   log_detail=detail)
    if isinstance(exc, (pg_errors.DataError, pg_errors.ProgramLimitExceeded)):
        return InvalidInput(f"Cannot {action} {path}: the database refuses this name or content.",
                            log_detail=detail)
    return ServiceUnavailable(f"Cannot {action} {path}: the contents database is unavailable now; try again.",
                              log_detail=detail)


@contextlib.asynccontextmanager
async def operation(database: Database, action: str, path: str,
                    one_statement: bool = False) -> AsyncIterator[AsyncConnection[Any]]:
    """A pooled connection whose work commits when the block ends (rolls back on any error).

    ``action`` and ``path`` word the error a client gets (``"save"``, ``"a/b.ipynb"``).
    ``one_statement``: the block runs a single statement, which is its own transaction and
    snapshot, so it runs in autocommit mode: one round trip instead of three (BEGIN, the
    statement, COMMIT); a reply cache check costs half the CPU (docs/performance.md).
    Raises the project's exceptions for database errors; NbserverError raised in the block
    passes unchanged.
    """
    try:
        pool = await database.pool()
        async with pool.connection() as conn:
            if not one_statement:
                yield conn
                return
            await conn.set_autocommit(True)  # local: no round trip while no transaction is open
            try:
                yield conn
            finally:
                await conn.set_autocommit(False)  # as the pool hands connections out
    except (psycopg.Error, PoolTimeout) as exc:
        error = error_for(exc, action, path or "the root")
        log.warning("Contents database: %s %r: %s", action, path, error.log_detail)
        raise error from None
