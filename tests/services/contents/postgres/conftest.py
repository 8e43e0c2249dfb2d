"""Fixtures of the PostgreSQL contents store's tests: a fresh migrated database per test."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from nbserver.db.config import Database
from nbserver.db.migrations import upgrade
from nbserver.services.contents.postgres.manager import PostgresContentsManager


@pytest.fixture
def contents_database(postgres_url: str, io_loop: Any) -> Iterator[Database]:
    """The Database of a fresh database with the schema made (as `nbserver db upgrade` makes it);
    its pool is closed after the test."""
    database = Database(url=postgres_url)
    with database.connect(autocommit=True) as conn:
        upgrade(conn)
    yield database
    io_loop.run_sync(database.close, timeout=30)


def new_manager(database: Database, **traits: Any) -> PostgresContentsManager:
    """A manager of its own over ``database`` (its own pool: another replica when given its own Database)."""
    return PostgresContentsManager(database=database, **traits)


@pytest.fixture
def manager(contents_database: Database) -> PostgresContentsManager:
    return new_manager(contents_database)
