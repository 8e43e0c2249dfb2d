"""A broken or locked metadata database never fails a save, a rename or a listing: ids degrade, logged."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.services.files.test_handlers import save
from tests.support.api_client import APIClient

# These break SQLite's own database file (PostgreSQL's outage is tests/services/files/test_replicas.py's).
pytestmark = pytest.mark.sqlite_only


@pytest.fixture
def broken_database(root_dir: Path) -> Path:
    state = root_dir / ".nbserver"
    state.mkdir()
    (state / "meta.sqlite").write_bytes(b"this is not a database" * 100)
    return state / "meta.sqlite"


@pytest.mark.gen_test
async def test_broken_database_keeps_contents_working(broken_database: Path, api: APIClient,
                                                      root_dir: Path) -> None:
    await save(api, "a.txt", "one")
    assert (await api.patch("api/contents/a.txt", {"path": "b.txt"})).status == 200
    await save(api, "b.txt", "two")
    assert (root_dir / "b.txt").read_text() == "two"
    listed = await api.get("api/contents", params={"file_id": "1"})
    assert listed.status == 200 and listed.json()["file_id"] is None
    assert [child["file_id"] for child in listed.json()["content"]] == [None]
    lookup = await api.get("api/files/lookup", params={"path": "b.txt"})
    assert lookup.status == 503 and "message" in lookup.json()
    # delete_to_trash cannot trash now: 503, and the file is not deleted for good instead.
    assert (await api.delete("api/contents/b.txt")).status == 503
    assert (root_dir / "b.txt").is_file()
    assert broken_database.read_bytes().startswith(b"this is not")


@pytest.fixture
def quick_lock_timeout(jupyter_env: dict[str, str]) -> None:
    (Path(jupyter_env["config"]) / "nbserver_config.json").write_text('{"FileServices": {"busy_timeout": 0.2}}')


@pytest.mark.gen_test
async def test_locked_database_degrades_ids_but_not_saves(quick_lock_timeout: None, api: APIClient,
                                                          server_app: Any, root_dir: Path) -> None:
    assert server_app.file_services.busy_timeout == 0.2
    await save(api, "a.txt", "one")
    old_id = (await api.get("api/files/lookup", params={"path": "a.txt"})).json()["id"]
    locker = sqlite3.connect(root_dir / ".nbserver" / "meta.sqlite", isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        assert (await api.patch("api/contents/a.txt", {"path": "b.txt"})).status == 200
        await save(api, "b.txt", "two")
        assert (await api.get("api/contents/b.txt")).status == 200
        listed = await api.get("api/contents", params={"file_id": "1"})
        assert listed.status == 200
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert (root_dir / "b.txt").read_text() == "two"
    # The rename could not be recorded: b.txt gets an id on next sight (a new one), and works.
    lookup = await api.get("api/files/lookup", params={"path": "b.txt"})
    assert lookup.status == 200 and lookup.json()["path"] == "b.txt"
    assert old_id  # the old id's row is stale until the reconciler (not built yet) repairs it
