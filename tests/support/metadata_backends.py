"""Run a test directory's tests on both metadata stores: SQLite (the default) and PostgreSQL.

A directory's ``conftest.py`` imports :func:`pytest_generate_tests` and the fixtures below: every
test that uses the in-process server (``server_app``, so ``app``/``api``) or ``metadata_store``
then runs twice, ``[sqlite]`` and ``[postgres]`` (the latter on a fresh database of the
throwaway cluster, schema made by the migrations as ``nbserver db upgrade`` makes it). A test that
looks at SQLite's files themselves is marked ``@pytest.mark.sqlite_only`` and runs once; one that
needs PostgreSQL (the PostgreSQL contents store) is marked ``@pytest.mark.postgres_only``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
from traitlets.config import Config

from nbserver.app import NotebookServerApp
from nbserver.services.files.store import MetadataStore, SQLiteMetadataStore

BACKENDS = ("sqlite", "postgres")


#: Fixtures that reach the in-process server or a store. pytest-tornado's ``http_server`` asks for
#: ``app`` at run time, so a test using only ``api`` does not name ``server_app`` statically.
USES_A_STORE = {"server_app", "app", "api", "http_server", "http_client", "database_url", "metadata_store"}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if USES_A_STORE & set(metafunc.fixturenames):
        marked = metafunc.definition.get_closest_marker
        backends = BACKENDS[:1] if marked("sqlite_only") else BACKENDS[1:] if marked("postgres_only") else BACKENDS
        metafunc.parametrize("metadata_backend", backends, indirect=True)


@pytest.fixture(autouse=True)
def metadata_backend(request: pytest.FixtureRequest) -> str:
    """``sqlite`` or ``postgres`` (parametrized by :func:`pytest_generate_tests` for tests that use
    the server or a store; ``sqlite`` for the rest). Autouse, so that every test can be parametrized."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture
def database_url(metadata_backend: str, request: pytest.FixtureRequest) -> str:
    """"" for SQLite, else the URL of a fresh database with every migration applied."""
    if metadata_backend == "sqlite":
        return ""
    url = str(request.getfixturevalue("postgres_url"))
    upgrade_database(url)
    return url


def upgrade_database(url: str) -> None:
    """Apply every registered migration to the database at ``url`` (``nbserver db upgrade``)."""
    from nbserver.db.config import Database
    from nbserver.db.migrations import upgrade

    with Database(url=url).connect(autocommit=True) as conn:
        upgrade(conn)


def with_database(server_config: dict[str, Any], url: str) -> dict[str, Any]:
    """``server_config`` with ``Database.url`` set (unchanged for ""); a ``config`` in it is kept."""
    if not url:
        return server_config
    config = Config()
    config.merge(server_config.get("config", Config()))
    config.merge(Config({"Database": {"url": url}}))
    return {**server_config, "config": config}


@pytest.fixture
def server_app(root_dir: Path, server_config: dict[str, Any], database_url: str) -> Iterator[NotebookServerApp]:
    """tests/conftest.py's in-process server, on the metadata store of ``metadata_backend``."""
    from tests.conftest import TEST_TOKEN

    app = NotebookServerApp(root_dir=str(root_dir), open_browser=False, **with_database(server_config, database_url))
    app.initialize(argv=[f"--IdentityProvider.token={TEST_TOKEN}"])
    yield app
    # A test without ``app`` never stopped the services: their PostgreSQL connections close here,
    # not at a later test's garbage collection.
    if app.search_service is not None:
        app.search_service.close()
    if app.file_services is not None:
        app.file_services.close()
    NotebookServerApp.clear_instance()


@pytest.fixture
def metadata_store(tmp_path: Path, database_url: str) -> Iterator[MetadataStore]:
    """An open metadata store of owner ``alice`` on ``metadata_backend``."""
    store: MetadataStore
    if database_url:
        from nbserver.db.config import Database
        from nbserver.services.files.pg_store import PostgresMetadataStore

        store = PostgresMetadataStore(Database(url=database_url), "alice")
    else:
        store = SQLiteMetadataStore(str(tmp_path / "meta.sqlite"), "alice")
    store.open()
    yield store
    store.close()
