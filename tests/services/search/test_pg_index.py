"""PostgresSearchIndex: nbserver's own tokens as a weighted tsvector, and two replicas sharing one index.

The rest of the index's behaviour (ranking, scoping, the names-only engine, engine switches) is
tests/services/search/test_index.py's, run on both indexes.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, Iterator

import psycopg
import pytest

from nbserver.services.files.manager import FileServices
from nbserver.services.search.manager import SearchService
from nbserver.services.search.pg_index import tsvector_text
from nbserver.services.search.query import parse_query
from tests.services.files.test_pg_store import replicas
from tests.support.metadata_backends import upgrade_database

__all__ = ["replicas"]  # the fixture, shared with the file services' replica tests


def test_tsvector_text_folds_tokens_weighs_columns_and_keeps_phrases_in_a_column() -> None:
    text = tsvector_text([("name", "Café_Plot.ipynb"), ("markdown", "plot it"), ("code", "it's")])
    assert text == "'cafe':1A 'plot':2A,5B 'ipynb':3A 'it':6B,8C 's':9C"


def test_tsvector_and_tsquery_are_read_by_postgres_as_written(postgres_url: str) -> None:
    """Quotes and backslashes in lexemes cannot become operators; what FTS5 matches, PostgreSQL matches."""
    vector = tsvector_text([("name", "quasar.ipynb"), ("markdown", "the Quasar spectra of Ñandú"),
                            ("code", "x = 'NEAR(\"y'")])
    with psycopg.connect(postgres_url) as conn:
        def matches(q: str) -> bool:
            row = conn.execute("SELECT %s::tsvector @@ %s::tsquery", (vector, parse_query(q).tsquery())).fetchone()
            return bool(row and row[0])
        assert matches("quasar spectra") and matches('"quasar spectra"') and matches("nandu") and matches("spec*")
        assert not matches('"spectra quasar"') and not matches("quasar -spectra")
        assert matches('NEAR("y') and matches("name:quasar") and not matches("name:spectra")
        assert not matches('"ipynb the"')  # a phrase never runs from the name into the markdown


@pytest.fixture
def two_replicas(replicas: tuple[FileServices, FileServices]) -> Iterator[tuple[SearchService, SearchService]]:
    """The search services of two FileServices replicas over one database and one root."""
    made = [SearchService(files, index_delay=0.0) for files in replicas]
    yield made[0], made[1]
    for search in made:
        search.close()


@pytest.mark.gen_test
async def test_a_notebook_indexed_through_one_replica_is_found_through_the_other(
        two_replicas: tuple[SearchService, SearchService], root_dir: Path) -> None:
    indexing, searching = two_replicas
    (root_dir / "obs.ipynb").write_text(
        '{"cells": [{"cell_type": "markdown", "metadata": {}, "source": "# Quasar spectra"}], "metadata": {}, '
        '"nbformat": 4, "nbformat_minor": 5}')
    indexing.enqueue("obs.ipynb")
    await indexing.index_pending()
    answer = await searching.search(parse_query("quasar"), "", None, 20, 0)
    assert [result["path"] for result in answer["results"]] == ["obs.ipynb"]
    assert answer["results"][0]["matches"][0]["ranges"] == [[2, 8]]
    assert (await searching.status())["engine"] == "tsvector"


def test_pg_trgm_serves_name_substrings_and_its_absence_is_no_error(postgres_cluster: Any, postgres_url: str) -> None:
    """Where pg_trgm can be created the names-only LIKE uses its index; a role that may not create it
    (no CREATE on the database) still gets the whole schema, and LIKE scans instead."""
    upgrade_database(postgres_url)
    with psycopg.connect(postgres_url) as conn:
        conn.execute("SET enable_seqscan = off")
        plan = str(conn.execute("EXPLAIN SELECT 1 FROM search_docs WHERE lower(name) LIKE '%catter%'").fetchall())
        assert "search_docs_name_trgm" in plan
    weak_url = postgres_cluster.create_database()
    name, role = weak_url.rsplit("/", 1)[1], f"weak_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(weak_url, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'pw'")
        admin.execute(f"GRANT CREATE, USAGE ON SCHEMA public TO {role}")
        admin.execute(f"REVOKE CREATE ON DATABASE {name} FROM PUBLIC")
    try:
        upgrade_database(postgres_cluster.url(name, role, "pw"))
        with psycopg.connect(weak_url) as conn:
            indexes = {row[0] for row in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'search_docs'")}
            assert "search_docs_tsv" in indexes and "search_docs_name_trgm" not in indexes
    finally:
        postgres_cluster.drop_database(name)
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(f"DROP ROLE {role}")
