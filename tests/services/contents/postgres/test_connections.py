"""Database errors of the PostgreSQL contents store reach clients as the project's errors."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import errors as pg_errors
from psycopg import pq

from nbserver.db.config import Database
from nbserver.errors import Conflict, InsufficientStorage, InvalidInput, NotFound, ServiceUnavailable
from nbserver.services.contents.postgres.connections import error_for, operation


def test_each_database_error_has_its_status_and_no_database_words() -> None:
    cases = [(pg_errors.ForeignKeyViolation, NotFound), (pg_errors.UniqueViolation, Conflict),
             (pg_errors.SerializationFailure, Conflict), (pg_errors.DiskFull, InsufficientStorage),
             (pg_errors.DataError, InvalidInput), (psycopg.OperationalError, ServiceUnavailable)]
    for raised, expected in cases:
        error = error_for(raised("relation contents_files at 10.0.0.5 said no"), "save", "a.txt")
        assert isinstance(error, expected)
        assert "a.txt" in error.message and "10.0.0.5" not in error.message and "contents_files" not in error.message
        assert error.log_detail and "said no" in error.log_detail


@pytest.mark.gen_test(timeout=60)
async def test_one_statement_runs_outside_a_transaction_and_returns_the_connection_as_it_was(
        contents_database: Database) -> None:
    database = contents_database
    database.pool_min_size = database.pool_max_size = 1  # the same connection every time
    async with operation(database, "read", "a.ipynb", one_statement=True) as conn:
        await conn.execute("SELECT 1")
        assert conn.info.transaction_status == pq.TransactionStatus.IDLE  # no BEGIN was sent
    with pytest.raises(NotFound):
        async with operation(database, "read", "a.ipynb", one_statement=True) as conn:
            raise NotFound("a.ipynb")
    async with operation(database, "save", "a.ipynb") as conn:
        assert not conn.autocommit
        await conn.execute("SELECT 1")
        assert conn.info.transaction_status == pq.TransactionStatus.INTRANS
