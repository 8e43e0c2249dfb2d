"""The metadata store (SQLite and PostgreSQL: tests/support/metadata_backends.py) and SQLite's migrations, on real databases."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from nbserver.db.config import URL_ENVIRONMENT_VARIABLE
from nbserver.services.files import migrations
from nbserver.services.files.mounts import filesystem_type
from nbserver.services.files.store import MetadataStore, SQLiteMetadataStore, is_network_filesystem


@pytest.fixture
def store(metadata_store: MetadataStore) -> MetadataStore:
    """The store of each backend (tests/support/metadata_backends.py)."""
    return metadata_store


@pytest.mark.sqlite_only
def test_new_database_gets_every_migration_and_wal(store: SQLiteMetadataStore) -> None:
    assert migrations.schema_version(store.db) == migrations.MIGRATIONS[-1][0]
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    numbers = [number for number, _ in migrations.MIGRATIONS]
    assert numbers == list(range(1, len(numbers) + 1))


@pytest.mark.sqlite_only
def test_reopening_applies_nothing_twice(tmp_path: Path, store: SQLiteMetadataStore) -> None:
    record = store.assign("a.ipynb", "notebook")
    store.close()
    again = SQLiteMetadataStore(str(tmp_path / "meta.sqlite"), "alice")
    again.open()
    assert again.get(record.id) == record
    again.close()


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.sqlite"
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA user_version = 999")
    with pytest.raises(RuntimeError, match="schema 999"):
        SQLiteMetadataStore(str(path), "alice").open()


def test_a_failing_migration_leaves_the_old_schema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "meta.sqlite"
    SQLiteMetadataStore(str(path), "alice").open()
    broken = migrations.MIGRATIONS + ((len(migrations.MIGRATIONS) + 1, "CREATE TABLE x (a); SELECT nonsense();"),)
    monkeypatch.setattr(migrations, "MIGRATIONS", broken)
    connection = sqlite3.connect(path, isolation_level=None)
    with pytest.raises(sqlite3.Error):
        migrations.migrate(connection)
    assert migrations.schema_version(connection) == len(broken) - 1
    assert connection.execute("SELECT name FROM sqlite_master WHERE name = 'x'").fetchone() is None
    connection.close()


def test_assign_is_stable_and_uuid4(store: MetadataStore) -> None:
    first = store.assign("a/b.txt", "file")
    assert uuid.UUID(first.id).version == 4
    assert store.assign("a/b.txt", "file").id == first.id
    ids = store.assign_many([("a/b.txt", "file"), ("a/c.txt", "file")])
    assert ids["a/b.txt"] == first.id and ids["a/c.txt"] != first.id


def test_move_rewrites_only_the_tree_by_byte_range(store: MetadataStore) -> None:
    paths = ["a_b", "a_b/x", "a_b/y/z%", "a_bc", "aXb/x", "a_b0"]
    ids = {path: store.assign(path, "file").id for path in paths}
    store.move("a_b", "new")
    assert {path: store.get(fid).path for path, fid in ids.items()} == {
        "a_b": "new", "a_b/x": "new/x", "a_b/y/z%": "new/y/z%", "a_bc": "a_bc", "aXb/x": "aXb/x", "a_b0": "a_b0"}
    assert store.get(ids["a_b"]).version == 2 and store.get(ids["a_b/x"]).version == 1


def test_forget_drops_the_tree(store: MetadataStore) -> None:
    kept = store.assign("ab", "file").id
    gone = [store.assign(path, "file").id for path in ("a", "a/b")]
    store.forget("a")
    assert [store.get(fid) for fid in gone] == [None, None] and store.get(kept) is not None


def test_mountinfo_names_the_root_filesystem() -> None:
    assert filesystem_type("/") != ""
    assert is_network_filesystem("/proc") is False


@pytest.mark.sqlite_only
def test_a_crawl_updates_only_the_inodes_that_changed(store: SQLiteMetadataStore) -> None:
    seen = {"": ("directory", 1, 1), **{f"f{n}.txt": ("file", 1, 10 + n) for n in range(50)}}
    for path, (kind, _, _) in seen.items():
        store.assign(path, kind)
    store.apply_crawl(seen, "2000-01-01T00:00:00Z")
    before = store.db.total_changes
    store.apply_crawl(seen, "2000-01-01T00:00:00Z")
    assert store.db.total_changes == before  # nothing changed on disk: no row written
    store.apply_crawl({**seen, "f3.txt": ("file", 1, 99)}, "2000-01-01T00:00:00Z")
    assert store.db.total_changes == before + 1
    assert store.db.execute("SELECT ino FROM files WHERE path = 'f3.txt'").fetchone()[0] == 99


# A server whose stores are SQLite's never needs psycopg, and importing it costs 9 MB resident.
SERVER_MODULES = """
import sys
from nbserver.app import NotebookServerApp
NotebookServerApp().initialize(["--root-dir=" + sys.argv[1]])
print("psycopg" in sys.modules)
"""


def test_a_server_without_postgresql_does_not_load_psycopg(root_dir: Path) -> None:
    env = {name: value for name, value in os.environ.items() if name != URL_ENVIRONMENT_VARIABLE}
    out = subprocess.run([sys.executable, "-c", SERVER_MODULES, str(root_dir)], capture_output=True, text=True,
                         env=env, timeout=120, check=True).stdout
    assert out.splitlines()[-1] == "False"


def test_store_errors_include_psycopgs_once_it_is_loaded() -> None:
    pytest.importorskip("psycopg")
    code = ("import sqlite3; from nbserver.services.files.store import store_errors; before = store_errors(); "
            "import psycopg; print(before == (sqlite3.Error,), store_errors() == (sqlite3.Error, psycopg.Error))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.split() == ["True", "True"]
