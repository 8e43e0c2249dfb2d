"""Database errors of the PostgreSQL contents store reach clients as the project's errors."""

from __future__ import annotations

import psycopg
from psycopg import errors as pg_errors

from nbserver.errors import Conflict, InsufficientStorage, InvalidInput, NotFound, ServiceUnavailable
from nbserver.services.contents.postgres.connections import error_for


def test_each_database_error_has_its_status_and_no_database_words() -> None:
    cases = [(pg_errors.ForeignKeyViolation, NotFound), (pg_errors.UniqueViolation, Conflict),
             (pg_errors.SerializationFailure, Conflict), (pg_errors.DiskFull, InsufficientStorage),
             (pg_errors.DataError, InvalidInput), (psycopg.OperationalError, ServiceUnavailable)]
    for raised, expected in cases:
        error = error_for(raised("relation contents_files at 10.0.0.5 said no"), "save", "a.txt")
        assert isinstance(error, expected)
        assert "a.txt" in error.message and "10.0.0.5" not in error.message and "contents_files" not in error.message
        assert error.log_detail and "said no" in error.log_detail
