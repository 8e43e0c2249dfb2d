"""Share links, stars and edges in the metadata store (SQLite's migration 2; PostgreSQL), on real databases."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from nbserver.services.files import migrations
from nbserver.services.files.links_store import ShareRecord
from nbserver.services.files.store import MetadataStore


@pytest.fixture
def store(metadata_store: MetadataStore) -> MetadataStore:
    """The store of each backend (tests/support/metadata_backends.py)."""
    return metadata_store


def share(file_id: str, digest: bytes = b"h" * 32) -> ShareRecord:
    return ShareRecord(file_id, digest, b"s" * 32, "2026-11-29T00:00:00.000000Z", "alice")


def test_migration_2_clears_flags_set_before_links_existed(tmp_path: Path) -> None:
    path = str(tmp_path / "old.sqlite")
    connection = sqlite3.connect(path, isolation_level=None)
    connection.executescript(f"BEGIN; {migrations.MIGRATIONS[0][1]} PRAGMA user_version = 1; COMMIT;")
    connection.execute("INSERT INTO files (id, owner, path, kind, world_readable, created, updated) "
                       "VALUES ('f', 'alice', 'a.txt', 'file', 1, 'x', 'x')")
    assert migrations.migrate(connection) == migrations.MIGRATIONS[-1][0]
    assert connection.execute("SELECT world_readable FROM files").fetchone() == (0,)
    connection.close()


def test_set_share_keeps_one_link_and_the_flag_in_step(store: MetadataStore) -> None:
    record = store.assign("a.txt", "file")
    store.set_share(record.id, share(record.id))
    after = store.get(record.id)
    assert after is not None and after.world_readable and after.version == record.version + 1
    assert store.share_by_hash(b"h" * 32) == share(record.id)
    store.set_share(record.id, share(record.id, b"n" * 32))  # rotate: the old hash is gone
    assert store.share_by_hash(b"h" * 32) is None and store.share_of(record.id) == share(record.id, b"n" * 32)
    store.set_share(record.id, None)
    off = store.get(record.id)
    assert off is not None and not off.world_readable and store.share_of(record.id) is None
    store.set_share(record.id, None)
    assert store.get(record.id) == off  # idempotent: no version bump


def test_forgetting_a_file_drops_its_share_stars_and_edges(store: MetadataStore) -> None:
    a, b = store.assign("a.txt", "file"), store.assign("b.txt", "file")
    store.set_share(a.id, share(a.id))
    store.set_star("alice", a.id, True)
    store.add_edge(a.id, b.id, "copy")
    store.add_edge("https://example.org/x.ipynb", a.id, "import")
    store.forget("a.txt")
    assert store.share_of(a.id) is None and not store.is_starred("alice", a.id)
    assert store.edges(b.id, "copy", True, 10, 0) == [] and store.edges(a.id, "import", True, 10, 0) == []


def test_edges_take_ids_or_urls_and_known_relations_only(store: MetadataStore) -> None:
    a, b = store.assign("a.txt", "file"), store.assign("b.txt", "file")
    store.add_edge(a.id, b.id, "copy")
    store.add_edge("http://example.org/n.ipynb", b.id, "import")
    assert [edge.source for edge in store.edges(b.id, "copy", True, 10, 0)] == [a.id]
    assert [edge.source for edge in store.edges(b.id, "import", True, 10, 0)] == ["url:http://example.org/n.ipynb"]
    assert [edge.target for edge in store.edges(a.id, "copy", False, 10, 0)] == [b.id]
    with pytest.raises(ValueError):
        store.add_edge(a.id, b.id, "fork")


def test_stars_are_per_user_and_idempotent(store: MetadataStore) -> None:
    a = store.assign("a.txt", "file")
    store.set_star("alice", a.id, True)
    store.set_star("alice", a.id, True)
    assert store.starred_page("alice", 10, None)[1] == 1 and store.starred_page("bob", 10, None) == ([], 0)
    store.set_star("alice", a.id, False)
    store.set_star("alice", a.id, False)
    assert store.starred_page("alice", 10, None) == ([], 0)
