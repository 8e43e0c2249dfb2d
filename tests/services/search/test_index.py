"""The search index (SQLite FTS5 and PostgreSQL tsvector) against a real metadata store: keyed by id, live rows
only, ranking, the fallback."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from nbserver.services.files.store import MetadataStore
from nbserver.services.search.extract import Document, Segment
from nbserver.services.search.index import (
    FALLBACK,
    FTS5,
    Filters,
    SearchIndex,
    SQLiteSearchIndex,
    escape_like,
    fts5_available,
)
from nbserver.services.search.query import parse_query

OWNER = "alice"  # the owner of the metadata_store fixture
OpenIndex = Callable[..., SearchIndex]


@pytest.fixture
def store(metadata_store: MetadataStore) -> MetadataStore:
    return metadata_store


@pytest.fixture
def open_index(tmp_path: Path, database_url: str) -> OpenIndex:
    """Opens the index of the test's backend (``fts5`` means PostgreSQL's full text there)."""
    def open_(engine: str = FTS5, rank_limit: int = 10_000) -> SearchIndex:
        index: SearchIndex
        if database_url:
            from nbserver.db.config import Database
            from nbserver.services.search.pg_index import TSVECTOR, PostgresSearchIndex

            index = PostgresSearchIndex(Database(url=database_url), OWNER, TSVECTOR if engine == FTS5 else engine,
                                        rank_limit)
        else:
            index = SQLiteSearchIndex(str(tmp_path / "search.sqlite"), str(tmp_path / "meta.sqlite"), engine,
                                      rank_limit=rank_limit)
        index.open()
        return index
    return open_


def put(index: SearchIndex, store: MetadataStore, path: str, text: str) -> str:
    file_id = store.assign(path, "notebook").id
    name = path.rsplit("/", 1)[-1]
    index.put(file_id, path, "fp", Document(name, "", [Segment("markdown", text, 0, "markdown")]))
    return file_id


def paths(index: SearchIndex, q: str, folder: str = "", limit: int = 20) -> list[str]:
    return [hit.path for hit in index.query(parse_query(q), Filters(OWNER, folder), limit, 0).hits]


def test_probe_finds_fts5_here() -> None:
    assert fts5_available()


def test_found_by_content_ranked_and_scoped(open_index: OpenIndex, store: MetadataStore) -> None:
    index = open_index()
    put(index, store, "a/x.ipynb", "quasar quasar quasar")
    put(index, store, "b/y.ipynb", "quasar and many other words besides it")
    assert paths(index, "quasar") == ["a/x.ipynb", "b/y.ipynb"]  # bm25: more occurrences in less text
    assert paths(index, "quasar", folder="b") == ["b/y.ipynb"]
    assert paths(index, "quasar", folder="a/x.ipynb") == []  # below the folder, not the file itself
    assert paths(index, "quasar -besides") == ["a/x.ipynb"]
    index.close()


def test_paths_and_state_come_from_the_metadata_store(open_index: OpenIndex, store: MetadataStore) -> None:
    index = open_index()
    file_id = put(index, store, "x.ipynb", "pulsar")
    store.move("x.ipynb", "moved.ipynb")
    assert paths(index, "pulsar") == ["moved.ipynb"]  # no re-index needed
    index.rename(file_id, "moved.ipynb", "moved.ipynb")
    assert paths(index, "name:moved") == ["moved.ipynb"]
    store.forget("moved.ipynb")
    assert paths(index, "pulsar") == []
    assert index.prune() == 1 and index.counts()[0] == 0
    index.close()


def test_too_many_matches_are_listed_newest_first(open_index: OpenIndex, store: MetadataStore) -> None:
    index = open_index(rank_limit=2)
    for number in range(3):
        put(index, store, f"n{number}.ipynb", "common " * (number + 1))
    ranking = index.query(parse_query("common"), Filters(OWNER), 10, 0)
    assert not ranking.ranked and [hit.path for hit in ranking.hits] == ["n2.ipynb", "n1.ipynb", "n0.ipynb"]
    assert index.query(parse_query("common n1"), Filters(OWNER), 10, 0).ranked
    index.close()


def test_fallback_matches_names_with_like_literally(open_index: OpenIndex, store: MetadataStore) -> None:
    index = open_index(FALLBACK)
    put(index, store, "100%_done.txt", "ignored")
    put(index, store, "100x done.txt", "ignored")
    assert paths(index, "0%_d") == ["100%_done.txt"]
    assert paths(index, "ignored") == []
    index.close()


def test_switching_engine_drops_the_other_engines_documents(open_index: OpenIndex, store: MetadataStore) -> None:
    index = open_index(FALLBACK)
    put(index, store, "a.txt", "")
    index.close()
    index = open_index(FTS5)
    assert index.counts()[0] == 0
    index.close()


@pytest.mark.sqlite_only
def test_fts5_integrity_after_updates(open_index: OpenIndex, store: MetadataStore) -> None:
    index = open_index()
    file_id = put(index, store, "a.ipynb", "first words")
    index.put(file_id, "a.ipynb", "fp2", Document("a.ipynb", "", [Segment("code", "second", 1, "code")]))
    index.rename(file_id, "b.ipynb", "b.ipynb")
    index.remove([file_id])
    put(index, store, "c.ipynb", "third")
    assert isinstance(index, SQLiteSearchIndex)
    index.writer.execute("INSERT INTO search(search, rank) VALUES ('integrity-check', 1)")
    assert paths(index, "first") == [] and paths(index, "third") == ["c.ipynb"]
    index.close()


def test_escape_like() -> None:
    assert escape_like("50%_a\\b") == "50\\%\\_a\\\\b"


def test_fingerprints_at_and_documents_after_read_by_path(open_index: OpenIndex, store: MetadataStore) -> None:
    index = open_index()
    for path in ("b.ipynb", "a/x.ipynb", "c.ipynb"):
        put(index, store, path, "words")
    assert index.fingerprints_at(["a/x.ipynb", "gone.ipynb", "c.ipynb"]) == {"a/x.ipynb": "fp", "c.ipynb": "fp"}
    assert index.documents_after("", 2) == [("a/x.ipynb", "fp"), ("b.ipynb", "fp")]
    assert index.documents_after("b.ipynb", 2) == [("c.ipynb", "fp")]
    index.close()
