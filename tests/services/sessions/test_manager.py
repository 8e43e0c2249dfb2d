"""The SQLite session store: in memory by default, a file when session_db_path is set."""

import sqlite3

import pytest
from traitlets.config import Config

from nbserver.errors import InvalidInput
from nbserver.services.sessions.manager import SessionManager, SessionRow, SessionStore


@pytest.mark.gen_test
async def test_store_in_a_file_keeps_rows_for_the_next_server(tmp_path):
    db_path = str(tmp_path / "sessions.db")
    store = SessionStore(db_path)
    await store.insert(SessionRow("s1", "a/nb.ipynb", "nb", "notebook", "k1"))
    store.close()
    reopened = SessionStore(db_path)
    assert await reopened.all() == [SessionRow("s1", "a/nb.ipynb", "nb", "notebook", "k1")]
    reopened.close()
    assert sqlite3.connect(db_path).execute("SELECT count(*) FROM sessions").fetchone() == (1,)


@pytest.mark.gen_test
async def test_move_paths_rewrites_a_file_and_everything_under_a_folder():
    store = SessionStore(":memory:")
    for session_id, path in (("1", "dir/a.ipynb"), ("2", "dir/sub/b.ipynb"), ("3", "dir2/c.ipynb"),
                             ("4", "dir")):
        await store.insert(SessionRow(session_id, path, "", "notebook", "k" + session_id))
    await store.move_paths("dir", "moved")
    assert {row.session_id: row.path for row in await store.all()} == {
        "1": "moved/a.ipynb", "2": "moved/sub/b.ipynb", "3": "dir2/c.ipynb", "4": "moved"}
    store.close()


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
