"""Two real nbserver processes whose contents and file services are one PostgreSQL database
(issue 17): an id looked up on one after a rename on the other, a search on one finding a notebook
saved through the other, a trash on one restored on the other, and two restores racing onto one path."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.services.contents.postgres.test_server import MANAGER, db_upgrade, request
from tests.services.files.test_handlers import NOTEBOOK
from tests.support.server_process import ServerProcess


@pytest.fixture
def replicas(postgres_url: str, tmp_path: Path) -> Iterator[list[ServerProcess]]:
    """Two nbserver processes whose contents and file services are one PostgreSQL database."""
    made = db_upgrade(postgres_url)
    assert made.returncode == 0, made.stderr
    started: list[ServerProcess] = []
    try:
        for number in range(2):
            root = tmp_path / f"replica{number}"
            root.mkdir()
            started.append(ServerProcess(root, f"--NotebookServerApp.contents_manager_class={MANAGER}",
                                         f"--Database.url={postgres_url}", "--SearchService.index_delay=0.05"
                                         ).wait_until_serving(60))
        yield started
    finally:
        for server in started:
            server.stop()


def json_of(server: ServerProcess, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    status, _, raw = request(server, method, path, body)
    return status, json.loads(raw) if raw else None


def test_two_replicas_share_ids_trash_and_search(replicas: list[ServerProcess]) -> None:
    one, two = replicas
    nb = dict(NOTEBOOK, cells=[{"cell_type": "markdown", "metadata": {}, "source": ["# zeppelin"]}])
    assert json_of(one, "PUT", "api/contents/d", {"type": "directory"})[0] == 201
    assert json_of(one, "PUT", "api/contents/d/n.ipynb", {"type": "notebook", "content": nb})[0] == 201
    status, found = json_of(two, "GET", "api/files/lookup?path=d/n.ipynb")
    assert status == 200
    fid = found["id"]
    # A rename on one: the id is looked up on the other at once, at the new path.
    assert json_of(one, "PATCH", "api/contents/d", {"path": "e"})[0] == 200
    assert json_of(two, "GET", f"api/files/{fid}/path")[1] == {"id": fid, "path": "e/n.ipynb"}
    # A search on two finds the notebook saved through one.
    deadline = time.monotonic() + 20
    while True:
        status, results = json_of(two, "GET", "api/search?q=zeppelin")
        if status == 200 and [hit["id"] for hit in results["results"]] == [fid]:
            break
        assert time.monotonic() < deadline, results
        time.sleep(0.1)
    # A trash on one is restored on the other: the same id, the same bytes.
    before = request(one, "GET", f"api/files/{fid}/content")[2]
    assert json_of(one, "POST", f"api/files/{fid}/trash")[1]["trashed"] is True
    assert json_of(two, "GET", "api/contents/e")[1]["content"] == []
    status, restored = json_of(two, "POST", f"api/files/{fid}/restore")
    assert status == 200 and restored["id"] == fid and restored["path"] == "e/n.ipynb"
    assert request(one, "GET", f"api/files/{fid}/content")[2] == before
    status, status_body = json_of(one, "GET", "api/search/status")
    assert status == 200 and status_body["engine"] == "tsvector" and status_body["documents"] == 1


def test_two_replicas_racing_restores_onto_one_path_give_one_200_and_one_409(replicas: list[ServerProcess]) -> None:
    one, two = replicas
    ids = []
    for text in ("first", "second"):
        assert json_of(one, "PUT", "api/contents/r.txt", {"type": "file", "format": "text", "content": text})[0] in (
            200, 201)
        fid = json_of(one, "GET", "api/files/lookup?path=r.txt")[1]["id"]
        assert json_of(one, "POST", f"api/files/{fid}/trash")[0] == 200
        ids.append(fid)
    results: list[int] = []

    async def race() -> None:
        loop = asyncio.get_running_loop()
        answers = await asyncio.gather(*(loop.run_in_executor(None, json_of, server, "POST",
                                                              f"api/files/{fid}/restore")
                                         for server, fid in zip((one, two), ids)))
        results.extend(status for status, _ in answers)
    asyncio.run(race())
    assert sorted(results) == [200, 409]
    status, listing = json_of(two, "GET", "api/contents")
    assert [c["path"] for c in listing["content"]] == ["r.txt"]
    winner = ids[results.index(200)]
    assert request(one, "GET", "files/r.txt")[2] == request(two, "GET", f"api/files/{winner}/content")[2]
    assert request(two, "GET", "files/r.txt")[2] == (b"first" if winner == ids[0] else b"second")
