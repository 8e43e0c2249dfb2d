"""Two real nbserver processes whose contents and file services are one PostgreSQL database
(issue 17): an id looked up on one after a rename on the other, a search on one finding a notebook
saved through the other, a trash on one restored on the other, and two restores racing onto one path."""

from __future__ import annotations

import concurrent.futures
import json
import time
from typing import Any

from tests.services.contents.postgres.test_server import request, schema_url, servers  # noqa: F401  (fixtures)
from tests.services.files.test_handlers import NOTEBOOK
from tests.support.server_process import ServerProcess


def json_of(server: ServerProcess, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    status, _, raw = request(server, method, path, body)
    return status, json.loads(raw) if raw else None


def test_two_replicas_share_ids_trash_search_and_restore_races(servers: list[ServerProcess]) -> None:
    one, two = servers
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
    deadline = time.monotonic() + 60  # generous: CI machines run other tests beside this one
    while True:
        status, results = json_of(two, "GET", "api/search?q=zeppelin")
        if status == 200 and [hit["id"] for hit in results["results"]] == [fid]:
            break
        assert time.monotonic() < deadline, (results, one.log[-4000:])
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
    ids = []
    for text in ("first", "second"):
        assert json_of(one, "PUT", "api/contents/r.txt", {"type": "file", "format": "text", "content": text})[0] in (
            200, 201)
        fid = json_of(one, "GET", "api/files/lookup?path=r.txt")[1]["id"]
        assert json_of(one, "POST", f"api/files/{fid}/trash")[0] == 200
        ids.append(fid)
    # Two restores racing onto one path, one through each replica: one 200, one 409.
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        answers = pool.map(lambda pair: json_of(pair[0], "POST", f"api/files/{pair[1]}/restore"), zip((one, two), ids))
        results = [answer[0] for answer in answers]
    assert sorted(results) == [200, 409]
    status, listing = json_of(two, "GET", "api/contents")
    assert sorted(c["path"] for c in listing["content"]) == ["e", "r.txt"]
    winner = ids[results.index(200)]
    assert request(one, "GET", "files/r.txt")[2] == request(two, "GET", f"api/files/{winner}/content")[2]
    assert request(two, "GET", "files/r.txt")[2] == (b"first" if winner == ids[0] else b"second")
