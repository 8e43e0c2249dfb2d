"""PostgresContentsManager: the contract suite, plus what only the database store has."""

from __future__ import annotations

from tests.services.contents.contract import ContentsManagerContract


class TestPostgresContentsManager(ContentsManagerContract):
    pass
