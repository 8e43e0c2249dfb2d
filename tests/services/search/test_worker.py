"""The index worker process (SQLite index): its priority, its life with the server, a killed one started
again, and the bulk build's durability marks (a build left by a crash of the machine is rebuilt)."""

from __future__ import annotations

import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from nbserver.services.search.extract import Limits
from nbserver.services.search.index import FTS5, SQLiteSearchIndex, boot_id
from nbserver.services.search.scan import fingerprint
from nbserver.services.search.worker import IOPRIO_CLASS_IDLE, WorkerLoop, io_priority_class
from nbserver.services.search.writer import ExtractSettings
from tests.services.search.test_handlers import found_paths, notebook, save_notebook, start_indexing, wait_until
from tests.support.api_client import APIClient

EXTRACT = ExtractSettings(Limits(), 10 * 1024 * 1024).as_json()


def index_request(folder: Path) -> dict[str, Any]:
    return {"db_path": str(folder / "search.sqlite"), "meta_path": str(folder / "meta.sqlite"), "engine": FTS5}


def scan_request(root: Path) -> dict[str, Any]:
    return {"root": str(root), "allow_hidden": False}


def state(db_path: Path) -> dict[str, str]:
    with sqlite3.connect(db_path) as db:
        return dict(db.execute("SELECT key, value FROM state").fetchall())


def documents(db_path: Path) -> int:
    with sqlite3.connect(db_path) as db:
        return int(db.execute("SELECT count(*) FROM docs").fetchone()[0])


def gone(pid: int) -> bool:
    """Whether ``pid`` no longer runs (reaped, or a zombie its new parent has yet to reap)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def crash_during_build(tmp_path: Path, mark: str) -> Path:
    """An index with one document, left as a process dying mid-build leaves it, with ``mark`` as its boot."""
    index = SQLiteSearchIndex(**index_request(tmp_path))
    index.open()
    index.begin_bulk()
    assert index.writer.execute("PRAGMA synchronous").fetchone()[0] == 0  # OFF during the build
    from nbserver.services.search.extract import Document
    index.put("id-1", "a.ipynb", "fp", Document("a.ipynb"))
    index.writer.execute("UPDATE state SET value = ? WHERE key = 'bulk'", (mark,))
    index.bulk = False  # what a process that died never did: end_bulk
    index.close()
    return tmp_path / "search.sqlite"


def test_a_bulk_build_ends_durable_and_unmarked(tmp_path: Path) -> None:
    index = SQLiteSearchIndex(**index_request(tmp_path))
    index.open()
    index.begin_bulk()
    assert state(tmp_path / "search.sqlite")["bulk"] == boot_id()
    index.end_bulk()
    assert index.writer.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL again
    index.close()
    assert "bulk" not in state(tmp_path / "search.sqlite")


def test_an_index_left_mid_build_by_a_crash_of_the_machine_is_made_anew(tmp_path: Path) -> None:
    db_path = crash_during_build(tmp_path, "a-boot-before-this-one")
    index = SQLiteSearchIndex(**index_request(tmp_path))
    index.open()
    assert index.was_reset and not index.bulk
    index.close()
    assert documents(db_path) == 0 and "bulk" not in state(db_path)


def test_an_index_left_mid_build_by_a_process_that_died_is_kept_and_made_durable(tmp_path: Path) -> None:
    db_path = crash_during_build(tmp_path, boot_id())
    index = SQLiteSearchIndex(**index_request(tmp_path))
    index.open()
    assert not index.was_reset and index.bulk  # its writes may be unsynced still
    index.close()
    assert documents(db_path) == 1 and "bulk" not in state(db_path)


def test_a_malformed_index_is_made_anew(tmp_path: Path) -> None:
    (tmp_path / "search.sqlite").write_bytes(b"not a database" * 100)
    index = SQLiteSearchIndex(**index_request(tmp_path))
    index.open()
    assert index.was_reset
    index.close()
    assert documents(tmp_path / "search.sqlite") == 0


def test_the_worker_loop_indexes_in_bulk_and_answers_errors_without_ending(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "meta.sqlite") as meta:  # the index's readers attach it
        meta.execute("CREATE TABLE files (id TEXT)")
    (tmp_path / "root").mkdir()
    nb = tmp_path / "root" / "n.ipynb"
    nb.write_text(json.dumps(notebook(("markdown", "a quasar"))))
    item = ["id-1", "n.ipynb", "notebook", "fp1", str(nb)]
    lines = [{"op": "index", "work": [], "bulk": False},  # before open: an error
             {"op": "open", "index": index_request(tmp_path), "extract": EXTRACT, "scan": scan_request(tmp_path / "root")},
             {"op": "index", "work": [item], "bulk": True},
             {"op": "bogus"},
             {"op": "index", "work": [item], "bulk": False},  # same fingerprint: not read again
             {"op": "scan", "pass": "crawl", "budget": 0, "restart": True}]  # "fp1" is not n.ipynb's
    replies = io.BytesIO()
    requests = io.BytesIO(b"".join(json.dumps(line).encode() + b"\n" for line in lines))
    WorkerLoop(requests, replies).run()
    answers = [json.loads(line) for line in replies.getvalue().splitlines()]
    assert [answer["ok"] for answer in answers] == [False, True, True, False, True, True]
    assert answers[5]["done"] and answers[5]["changed"] == [["n.ipynb", fingerprint(nb.lstat())]] and answers[5]["counts"]["folders_listed"] == 1
    assert answers[1]["reset"] is False and answers[2]["extracted"] == 1 and answers[4]["extracted"] == 0
    assert documents(tmp_path / "search.sqlite") == 1 and "bulk" not in state(tmp_path / "search.sqlite")


def test_the_worker_ends_when_the_server_dies(tmp_path: Path) -> None:
    """No orphan: a server killed with SIGKILL takes its worker with it (PR_SET_PDEATHSIG, stdin's end)."""
    script = ("import sys, time\nfrom nbserver.services.search.worker import IndexWorker\n"
              f"worker = IndexWorker({{'index': {index_request(tmp_path)!r}, 'extract': {EXTRACT!r}, "
              f"'scan': {scan_request(tmp_path)!r}}})\n"
              "worker.start()\nprint(worker.pid, flush=True)\ntime.sleep(60)\n")
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    try:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        assert not gone(pid)
    finally:
        parent.kill()
        parent.wait(10)
        if parent.stdout is not None:
            parent.stdout.close()
    deadline = time.monotonic() + 10
    while not gone(pid):
        assert time.monotonic() < deadline, "the worker outlived its server"
        time.sleep(0.05)


def sqlite_only(metadata_backend: str) -> None:
    if metadata_backend != "sqlite":
        pytest.skip("the PostgreSQL index is written from the server's thread: no worker")


@pytest.mark.gen_test(timeout=60)
async def test_the_worker_runs_at_idle_priority_and_is_reaped_with_the_server(
        server_app: Any, api: APIClient, metadata_backend: str) -> None:
    await start_indexing(server_app, api)
    service = server_app.search_service
    if metadata_backend != "sqlite":
        assert service.worker_pid is None  # the PostgreSQL index stays on the indexer thread
        return
    pid = service.worker_pid
    assert pid is not None and os.sched_getscheduler(pid) == os.SCHED_IDLE
    assert io_priority_class(pid) in (IOPRIO_CLASS_IDLE, None)
    await service.stop_background()
    service.close()
    assert gone(pid) and not os.path.exists(f"/proc/{pid}")  # reaped by the server, not left a zombie


@pytest.mark.gen_test(timeout=60)
async def test_a_killed_worker_is_started_again(server_app: Any, api: APIClient, metadata_backend: str) -> None:
    sqlite_only(metadata_backend)
    await start_indexing(server_app, api)
    service = server_app.search_service
    killed = service.worker_pid
    os.kill(killed, signal.SIGKILL)
    await save_notebook(api, "after.ipynb", notebook(("markdown", "pulsar timing")))

    async def found() -> bool:
        return await found_paths(api, "pulsar") == ["after.ipynb"]
    await wait_until(found, timeout=20)
    assert service.worker_pid not in (None, killed) and not os.path.exists(f"/proc/{killed}")


@pytest.mark.gen_test(timeout=90)
async def test_an_index_left_unsafe_is_rebuilt_and_searched_again(server_app: Any, api: APIClient,
                                                                  metadata_backend: str) -> None:
    """The worker, started again, finds another boot's build mark: the index is made anew, the server's
    readers open the new one, and the next scan queues every file again."""
    sqlite_only(metadata_backend)
    await start_indexing(server_app, api)
    service = server_app.search_service
    await save_notebook(api, "old.ipynb", notebook(("markdown", "nebula survey")))
    await wait_until(lambda: _found(api, "nebula", ["old.ipynb"]))
    await service._on_writer(service._worker.stop)
    with sqlite3.connect(service.index_location()) as db:
        db.execute("INSERT OR REPLACE INTO state (key, value) VALUES ('bulk', 'a-boot-before-this-one')")
    await save_notebook(api, "new.ipynb", notebook(("markdown", "nebula photometry")))
    await wait_until(lambda: _found(api, "photometry", ["new.ipynb"]), timeout=20)
    assert service._worker.resets == 1
    await service.scan()
    await service.index_pending()
    assert sorted(await found_paths(api, "nebula")) == ["new.ipynb", "old.ipynb"]


async def _found(api: APIClient, q: str, expected: list[str]) -> bool:
    return await found_paths(api, q) == expected
