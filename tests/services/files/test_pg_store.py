"""PostgresMetadataStore as several replicas use it: two FileServices over one database and one root.

Each "replica" is a FileServices with its own FileContentsManager and its own store connection, as
two nbserver processes behind a load balancer have (design section 4.6). The tests of every other
module in this folder run on PostgreSQL too (tests/support/metadata_backends.py).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import psycopg
import pytest

from nbserver.db.config import Database
from nbserver.errors import Conflict, ServiceUnavailable
from nbserver.services.contents.filemanager import FileContentsManager
from nbserver.services.files.manager import FileServices
from nbserver.services.files.pg_store import PostgresMetadataStore
from nbserver.services.files.store import TrashRecord
from tests.support.metadata_backends import upgrade_database

OWNER = "alice"


def eventually(check: Callable[[], bool], seconds: float = 10.0) -> bool:
    """Whether ``check()`` comes true within ``seconds`` (a closed connection's backend ends a moment later)."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def replica(root_dir: Path, url: str, owner: str = OWNER) -> FileServices:
    contents = FileContentsManager(root_dir=str(root_dir))
    services = FileServices(contents, owner, Database(url=url))
    services.start()
    return services


@pytest.fixture
def replicas(root_dir: Path, postgres_url: str) -> Iterator[tuple[FileServices, FileServices]]:
    upgrade_database(postgres_url)
    first, second = replica(root_dir, postgres_url), replica(root_dir, postgres_url)
    yield first, second
    first.close()
    second.close()


@pytest.mark.gen_test
async def test_an_id_assigned_by_one_replica_is_resolved_by_the_other(
        replicas: tuple[FileServices, FileServices], root_dir: Path) -> None:
    one, other = replicas
    (root_dir / "nb.ipynb").write_text("{}")
    record = await one.record_for_path("nb.ipynb")
    assert (await other.resolve(record.id)).path == "nb.ipynb"
    assert (await other.record_for_path("nb.ipynb")).id == record.id


@pytest.mark.gen_test
async def test_a_trash_through_one_replica_is_restored_through_the_other(
        replicas: tuple[FileServices, FileServices], root_dir: Path) -> None:
    one, other = replicas
    (root_dir / "proj").mkdir()
    (root_dir / "proj" / "a.txt").write_text("kept bytes")
    folder = await one.record_for_path("proj")
    child = await one.record_for_path("proj/a.txt")
    trashed = await one.trash(folder, OWNER)
    assert trashed.state == "trashed" and not (root_dir / "proj").exists()
    seen = await other.resolve(child.id)
    assert seen.state == "trashed"
    restored = await other.restore(await other.resolve(folder.id))
    assert restored.state == "live" and restored.path == "proj"
    assert (root_dir / "proj" / "a.txt").read_text() == "kept bytes"
    assert (await one.resolve(child.id)).state == "live"


@pytest.mark.gen_test
async def test_racing_restores_onto_one_path_give_one_success_and_one_409(
        replicas: tuple[FileServices, FileServices], root_dir: Path) -> None:
    one, other = replicas
    ids = []
    for text in ("first", "second"):
        (root_dir / "n.txt").write_text(text)
        record = await one.record_for_path("n.txt")
        await one.trash(record, OWNER)
        ids.append(record.id)
    first, second = [await other.resolve(file_id) for file_id in ids]
    outcomes = await asyncio.gather(one.restore(first), other.restore(second), return_exceptions=True)
    conflicts = [outcome for outcome in outcomes if isinstance(outcome, Conflict)]
    assert len(conflicts) == 1 and conflicts[0].code == "restore_conflict", outcomes
    winner = next(outcome for outcome in outcomes if not isinstance(outcome, BaseException))
    assert winner.path == "n.txt" and (root_dir / "n.txt").read_text() == ("first", "second")[ids.index(winner.id)]


def test_a_second_claim_of_a_restore_target_fails_in_the_database(postgres_url: str) -> None:
    """The database's half of the race above: whatever the disk says, two intents cannot claim one path."""
    upgrade_database(postgres_url)
    one, other = (PostgresMetadataStore(Database(url=postgres_url), OWNER) for _ in range(2))
    try:
        one.begin("restore", {"trash_id": "t1", "path": "a.txt", "target": "b.txt"})
        with pytest.raises(Conflict) as refused:
            other.begin("restore", {"trash_id": "t2", "path": "c.txt", "target": "b.txt"})
        assert refused.value.code == "restore_conflict"
        other.begin("restore", {"trash_id": "t3", "path": "c.txt", "target": "d.txt"})
    finally:
        one.close()
        other.close()


def test_recovery_leaves_a_live_replicas_intents_and_adopts_a_dead_ones(postgres_url: str) -> None:
    upgrade_database(postgres_url)
    busy, recovering = (PostgresMetadataStore(Database(url=postgres_url), OWNER) for _ in range(2))
    try:
        trash = TrashRecord("t1", "0b0a5f3e-8a4c-4f7e-9a36-0c5b8e1f2d3c", "a.txt", ".nbserver/trash/t1",
                            "2026-11-29T00:00:00.000000Z", OWNER, 1, "pending")
        intent = busy.begin("trash", {"trash_id": "t1", "path": "a.txt"}, trash)
        assert recovering.intents() == []
        busy.close()  # the replica died: its session lock is released (once its backend has ended)
        assert eventually(lambda: [found.id for found in recovering.intents()] == [intent])
    finally:
        recovering.close()


def test_one_replica_at_a_time_runs_a_background_job(postgres_url: str) -> None:
    upgrade_database(postgres_url)
    first, second = (PostgresMetadataStore(Database(url=postgres_url), OWNER) for _ in range(2))
    try:
        assert first.claim_job("reconciler") and first.claim_job("reconciler")
        assert not second.claim_job("reconciler") and second.claim_job("trash sweep")
        first.close()  # that replica is gone: the job moves (once its backend has ended)
        assert eventually(lambda: second.claim_job("reconciler"))
    finally:
        second.close()


def test_stores_of_other_owners_see_nothing(postgres_url: str) -> None:
    upgrade_database(postgres_url)
    alice, bob = (PostgresMetadataStore(Database(url=postgres_url), owner) for owner in ("alice", "bob"))
    try:
        record = alice.assign("a.txt", "file")
        assert bob.get(record.id) is None and bob.live_at("a.txt") is None
        assert bob.assign("a.txt", "file").id != record.id  # the same path is another file of bob's
    finally:
        alice.close()
        bob.close()


@pytest.mark.gen_test
async def test_a_dropped_connection_answers_503_once_then_reconnects(
        replicas: tuple[FileServices, FileServices], root_dir: Path, postgres_url: str) -> None:
    one, _ = replicas
    (root_dir / "a.txt").write_text("x")
    record = await one.record_for_path("a.txt")
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
                      "AND pid != pg_backend_pid()")
    with pytest.raises(ServiceUnavailable):
        await one.resolve(record.id)
    assert (await one.resolve(record.id)).path == "a.txt"


def test_nbserver_db_upgrade_creates_the_file_services_search_and_sessions_tables(
        postgres_url: str, tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "nbserver", "db", "upgrade", f"--url={postgres_url}"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    for component in ("files 1", "search 1", "sessions 1"):
        assert f"applied {component}:" in done.stdout
    with psycopg.connect(postgres_url) as conn:
        tables: Any = conn.execute("SELECT to_regclass('fs_files'), to_regclass('fs_intents'), "
                                   "to_regclass('search_docs'), to_regclass('kernel_sessions')").fetchone()
        assert None not in tables
        collation = conn.execute("SELECT collation_name FROM information_schema.columns "
                                 "WHERE table_name = 'fs_files' AND column_name = 'path'").fetchone()
        assert collation == ("C",)
