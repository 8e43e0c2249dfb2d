"""Versioned migrations (nbserver/db/migrations.py) on a real throwaway PostgreSQL cluster."""

from __future__ import annotations

import threading
from typing import Any

import psycopg
import pytest

from nbserver.db.config import ConfigurationError
from nbserver.db.migrations import Migration, applied_versions, check_numbering, pending, require_current, upgrade

NOTES = [
    Migration(1, "notes table", ("CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL)",)),
    Migration(2, "note titles", ("ALTER TABLE notes ADD COLUMN title text NOT NULL DEFAULT '100%'",)),
]
TAGS = [Migration(1, "tags", ("CREATE TABLE tags (note integer REFERENCES notes(id), tag text)",))]


def test_upgrade_applies_each_migration_once_in_component_order(postgres_url: str) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        assert applied_versions(conn) == {}
        steps = upgrade(conn, {"notes": NOTES, "tags": TAGS})
        assert [str(step) for step in steps] == ["notes 1: notes table", "notes 2: note titles", "tags 1: tags"]
        assert applied_versions(conn) == {"notes": 2, "tags": 1}
        assert upgrade(conn, {"notes": NOTES, "tags": TAGS}) == []
        conn.execute("INSERT INTO notes (body) VALUES ('x')")
        assert conn.execute("SELECT title FROM notes").fetchone() == ("100%",)  # '%' is not a placeholder
        rows = conn.execute("SELECT component, version, description FROM nbserver_schema ORDER BY 1, 2").fetchall()
        assert rows == [("notes", 1, "notes table"), ("notes", 2, "note titles"), ("tags", 1, "tags")]


def test_a_new_release_adds_only_its_migrations(postgres_url: str) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        upgrade(conn, {"notes": NOTES[:1]})
        assert [str(step) for step in pending(conn, {"notes": NOTES})] == ["notes 2: note titles"]
        with pytest.raises(ConfigurationError, match="nbserver db upgrade"):
            require_current(conn, {"notes": NOTES})
        assert [step.migration.version for step in upgrade(conn, {"notes": NOTES})] == [2]
        require_current(conn, {"notes": NOTES})


def test_a_failing_migration_rolls_back_alone(postgres_url: str) -> None:
    broken = NOTES + [Migration(3, "broken", ("ALTER TABLE notes ADD COLUMN extra int",
                                              "ALTER TABLE nothing_here ADD COLUMN x int"))]
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.UndefinedTable):
            upgrade(conn, {"notes": broken})
        assert applied_versions(conn) == {"notes": 2}
        columns = {row[0] for row in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'notes'").fetchall()}
        assert columns == {"id", "body", "title"}  # the first statement of 3 was rolled back too


def test_a_database_ahead_of_the_code_is_refused(postgres_url: str) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        upgrade(conn, {"notes": NOTES})
        with pytest.raises(ConfigurationError, match="newer than this nbserver"):
            pending(conn, {"notes": NOTES[:1]})


def test_numbering_must_have_no_gaps() -> None:
    with pytest.raises(ValueError, match="without gaps"):
        check_numbering("notes", [NOTES[0], Migration(3, "three", ())])
    assert check_numbering("notes", list(reversed(NOTES))) == NOTES


def test_concurrent_upgrades_apply_each_migration_exactly_once(postgres_url: str) -> None:
    slow = [Migration(1, "slow", ("CREATE TABLE slow (x int)", "SELECT pg_sleep(0.3)")),
            Migration(2, "counted", ("INSERT INTO slow VALUES (1)",))]
    results: list[list[Any]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with psycopg.connect(postgres_url, autocommit=True) as conn:
                results.append(upgrade(conn, {"slow": slow}))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len(results) == 4 and sum(len(steps) for steps in results) == 2
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT count(*) FROM slow").fetchone() == (1,)
