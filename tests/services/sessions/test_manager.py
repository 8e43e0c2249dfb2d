"""The session stores: SQLite's in memory by default, a file when session_db_path is set; PostgreSQL's
when a database is configured (tests marked by database_url run on both)."""

import sqlite3

import pytest
from traitlets.config import Config

from nbserver.errors import InvalidInput
from nbserver.db.config import Database
from nbserver.services.kernels.base import KernelManagerBase
from nbserver.services.sessions.manager import SessionManager, SessionRow, SessionStore, SQLiteSessionStore
from nbserver.services.sessions.pg_store import PostgresSessionStore


@pytest.mark.gen_test
async def test_store_in_a_file_keeps_rows_for_the_next_server(tmp_path):
    db_path = str(tmp_path / "sessions.db")
    store = SQLiteSessionStore(db_path)
    await store.insert(SessionRow("s1", "a/nb.ipynb", "nb", "notebook", "k1"))
    store.close()
    reopened = SQLiteSessionStore(db_path)
    assert await reopened.all() == [SessionRow("s1", "a/nb.ipynb", "nb", "notebook", "k1")]
    reopened.close()
    assert sqlite3.connect(db_path).execute("SELECT count(*) FROM sessions").fetchone() == (1,)


def open_store(database_url: str, owner: str = "alice") -> tuple[SessionStore, Database]:
    """The store of the test's backend, and the database whose pool the test closes."""
    database = Database(url=database_url)
    if database_url:
        return PostgresSessionStore(database, owner), database
    return SQLiteSessionStore(":memory:"), database


@pytest.mark.gen_test
async def test_move_paths_rewrites_a_file_and_everything_under_a_folder(database_url):
    store, database = open_store(database_url)
    try:
        for session_id, path in (("1", "dir/a.ipynb"), ("2", "dir/sub/b.ipynb"), ("3", "dir2/c.ipynb"),
                                 ("4", "dir"), ("5", "dir_x/d.ipynb"), ("6", "dir0")):
            await store.insert(SessionRow(session_id, path, "", "notebook", "k" + session_id))
        await store.move_paths("dir", "moved")
        assert {row.session_id: row.path for row in await store.all()} == {
            "1": "moved/a.ipynb", "2": "moved/sub/b.ipynb", "3": "dir2/c.ipynb", "4": "moved", "5": "dir_x/d.ipynb",
            "6": "dir0"}
    finally:
        store.close()
        await database.close()


@pytest.mark.gen_test
async def test_rows_keep_their_order_and_are_found_updated_and_deleted(database_url):
    store, database = open_store(database_url)
    try:
        rows = [SessionRow(str(number), f"n{number}.ipynb", "", "notebook", "k") for number in (3, 1, 2)]
        for row in rows:
            await store.insert(row)
        assert await store.all() == rows
        await store.update("1", {"path": "m.ipynb", "kernel_id": "k2"})
        assert await store.find("path", "m.ipynb") == [SessionRow("1", "m.ipynb", "", "notebook", "k2")]
        await store.delete("kernel_id", "k")
        assert [row.session_id for row in await store.all()] == ["1"]
    finally:
        store.close()
        await database.close()


@pytest.mark.gen_test
async def test_postgres_rows_belong_to_their_owner(postgres_url):
    from tests.support.metadata_backends import upgrade_database

    upgrade_database(postgres_url)
    mine, database = open_store(postgres_url, "alice")
    theirs = PostgresSessionStore(database, "bob")
    try:
        await mine.insert(SessionRow("s1", "a.ipynb", "", "notebook", "k1"))
        assert await theirs.all() == [] and await theirs.find("session_id", "s1") == []
        await theirs.delete("session_id", "s1")
        assert len(await mine.all()) == 1
    finally:
        await database.close()


@pytest.mark.parametrize("path", ["../x.ipynb", "a/../../x", "x\x00y", "/", "."])
def test_session_path_refuses_what_the_contents_api_refuses(path):
    with pytest.raises(InvalidInput):
        SessionManager.session_path(path)


def test_session_path_is_the_contents_canonical_form():
    assert SessionManager.session_path("/a//b/./c.ipynb") == "a/b/c.ipynb"


@pytest.fixture
def server_config(tmp_path):
    return {"config": Config({"SessionManager": {"session_db_path": str(tmp_path / "from-config.db")}})}


def test_session_db_path_is_a_configurable_trait(server_app, tmp_path):
    assert server_app.session_manager.session_db_path == str(tmp_path / "from-config.db")


class KnownKernels(KernelManagerBase):
    """A kernel manager that has the kernels a test names (no processes): one replica's local kernels."""

    def __init__(self, *kernel_ids: str) -> None:
        super().__init__()
        self.kernel_ids = set(kernel_ids)

    def has_kernel(self, kernel_id: str) -> bool:
        return kernel_id in self.kernel_ids

    def kernel_model(self, kernel_id: str) -> dict[str, str]:
        return {"id": kernel_id}


@pytest.mark.gen_test
async def test_a_replica_prunes_only_its_own_rows_of_a_shared_table(postgres_url):
    from tests.support.metadata_backends import upgrade_database

    upgrade_database(postgres_url)
    database = Database(url=postgres_url, listen_for_changes=False)
    kernels_a, kernels_b = KnownKernels("ka"), KnownKernels("kb")
    replica_a = SessionManager(database, "alice", replica_id="a", kernel_manager=kernels_a)
    replica_b = SessionManager(database, "alice", replica_id="b", kernel_manager=kernels_b)
    try:
        await replica_a.store.insert(SessionRow("sa", "a.ipynb", "", "notebook", "ka"))
        await replica_b.store.insert(SessionRow("sb", "b.ipynb", "", "notebook", "kb"))
        # Each replica lists the sessions of its own kernels and leaves the other's rows alone.
        assert [s["id"] for s in await replica_b.list_sessions()] == ["sb"]
        assert await replica_b.session_for_path("a.ipynb") is None
        assert [s["id"] for s in await replica_a.list_sessions()] == ["sa"]
        assert len(await replica_a.store.all()) == 2
        # A kernel its replica lost is pruned by that replica.
        kernels_a.kernel_ids.clear()
        assert await replica_a.list_sessions() == []
        assert [row.session_id for row in await replica_b.store.all()] == ["sb"]
    finally:
        await replica_a.close()
        await replica_b.close()
        await database.close()
