"""/api/search, /api/search/status and /api/search/reindex against an in-process server with real files.

The numbers in the docstrings are the acceptance checklist items of file-services.md section 6.
Saves go through the contents API; the indexer runs in the background as in a served server.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from nbserver.auth.authorizer import Authorizer
from tests.services.search.test_query import INJECTIONS
from tests.support.api_client import APIClient, APIResponse

#: The checklist's freshness bound: a saved notebook is findable within this many seconds.
FRESH_WITHIN = 2.0


def notebook(*cells: tuple[str, str], outputs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    made = []
    for cell_type, source in cells:
        cell: dict[str, Any] = {"cell_type": cell_type, "metadata": {}, "source": source}
        if cell_type == "code":
            cell.update({"outputs": outputs or [], "execution_count": None})
        made.append(cell)
    return {"cells": made, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


async def save_notebook(api: APIClient, path: str, content: dict[str, Any]) -> None:
    response = await api.put(f"api/contents/{path}", {"type": "notebook", "content": content})
    assert response.status in (200, 201), response.body


async def save_text(api: APIClient, path: str, text: str) -> None:
    response = await api.put(f"api/contents/{path}", {"type": "file", "format": "text", "content": text})
    assert response.status in (200, 201), response.body


async def file_id(api: APIClient, path: str) -> str:
    response = await api.get("api/files/lookup", params={"path": path})
    assert response.status == 200, response.body
    return str(response.json()["id"])


async def search(api: APIClient, **params: Any) -> APIResponse:
    return await api.get("api/search", params=params)


async def found_paths(api: APIClient, q: str, **params: Any) -> list[str]:
    response = await search(api, q=q, **params)
    assert response.status == 200, response.body
    return [result["path"] for result in response.json()["results"]]


async def wait_until(check: Any, timeout: float = 10.0) -> float:
    """Poll ``await check()`` until it is true; the seconds it took (fails after ``timeout``)."""
    start = time.monotonic()
    while not await check():
        assert time.monotonic() - start < timeout, "timed out"
        await asyncio.sleep(0.05)
    return time.monotonic() - start


async def indexed_notebook(api: APIClient, path: str, markdown: str) -> str:
    """Save a notebook of one markdown cell through the API, wait until search finds it; its id."""
    await save_notebook(api, path, notebook(("markdown", markdown)))
    await wait_until(lambda: _has(api, markdown.split()[0], path))
    return await file_id(api, path)


async def start_indexing(server_app: Any, api: APIClient) -> None:
    """Start the background indexer as a served server does; wait for the first scan to finish."""
    server_app.search_service.start_background()

    await wait_until(lambda: _ready(api))


@pytest.mark.gen_test(timeout=60)
async def test_saved_notebook_is_found_within_two_seconds_with_ranges(server_app: Any, api: APIClient) -> None:
    """48: a saved notebook whose markdown says "quasar" is the first hit within 2 s, ranges locate it."""
    await start_indexing(server_app, api)
    content = notebook(("markdown", "# Observations\nThe quasar spectra show lines."), ("code", "x = 1"))
    await save_notebook(api, "obs.ipynb", content)
    saved_at = time.monotonic()

    async def found() -> bool:
        return await found_paths(api, "quasar") == ["obs.ipynb"]
    await wait_until(found, timeout=10)
    assert time.monotonic() - saved_at < FRESH_WITHIN
    result = (await search(api, q="quasar")).json()["results"][0]
    assert result["id"] == await file_id(api, "obs.ipynb")
    assert result["name"] == "obs.ipynb" and result["type"] == "notebook" and isinstance(result["score"], float)
    match = result["matches"][0]
    assert match["cell_index"] == 0 and match["cell_type"] == "markdown" and match["field"] == "markdown"
    assert [match["text"][a:b] for a, b in match["ranges"]] == ["quasar"]


@pytest.mark.gen_test(timeout=60)
async def test_bad_queries_are_400(server_app: Any, api: APIClient) -> None:
    """48: q empty, limit 101, a bad type or cursor -> 400 JSON."""
    for params in ({"q": ""}, {}, {"q": "-x"}, {"q": "x", "limit": "101"}, {"q": "x", "limit": "0"},
                   {"q": "x", "limit": "many"}, {"q": "x", "limit": "\u0663"}, {"q": "x", "limit": "+5"},
                   {"q": "x", "type": "directory"}, {"q": "x", "cursor": "%%%"},
                   {"q": "x", "cursor": "eyJvIjogMTAwMDF9"}):
        response = await search(api, **params)
        assert response.status == 400, params
        assert set(response.json()) >= {"message", "reason"}
    forged = [base64.urlsafe_b64encode(json.dumps(value).encode()).decode() for value in ({"o": -5}, {"o": "x"})]
    for cursor in forged:
        assert (await search(api, q="x", cursor=cursor)).json()["message"] == "Invalid cursor."
    assert "refine the query" in (await search(api, q="x", cursor="eyJvIjogMTAwMDF9")).json()["message"]


@pytest.mark.gen_test(timeout=120)
async def test_fts_syntax_in_queries_is_plain_text(server_app: Any, api: APIClient) -> None:
    """48: NEAR("x, a lone quote, *, OR, col: are searched as text: 200 or 400, never 5xx."""
    await start_indexing(server_app, api)
    await save_text(api, "notes.txt", 'near x or "col: y" *')
    await wait_until(lambda: _has(api, "near"))
    for text in INJECTIONS:
        response = await search(api, q=text)
        assert response.status in (200, 400), (text, response.body)
    assert await found_paths(api, 'NEAR("x') == ["notes.txt"]
    assert await found_paths(api, "col:y") == ["notes.txt"]
    assert await found_paths(api, "x OR nothinglikethis") == []


async def _has(api: APIClient, q: str, path: str | None = None) -> bool:
    paths = await found_paths(api, q)
    return bool(paths) if path is None else path in paths


@pytest.mark.gen_test(timeout=60)
async def test_titles_code_outputs_and_text_files_are_searched(server_app: Any, api: APIClient) -> None:
    await start_indexing(server_app, api)
    stream = {"output_type": "stream", "name": "stdout", "text": "printed zebrafish\n"}
    content = notebook(("markdown", "# Galaxy survey"), ("code", "import numpy as np\nplot_rotation()"),
                       outputs=[stream])
    await save_notebook(api, "survey.ipynb", content)
    await api.put("api/contents/doc", {"type": "directory"})
    await save_text(api, "doc/readme.md", "# Usage\nRun the telescope script.")
    await wait_until(lambda: _has(api, "telescope"))
    assert await found_paths(api, "galaxy") == ["survey.ipynb"]
    assert await found_paths(api, "plot_rotation") == ["survey.ipynb"]
    assert await found_paths(api, "zebrafish") == ["survey.ipynb"]
    outputs = (await search(api, q="zebrafish")).json()["results"][0]["matches"][0]
    assert outputs["field"] == "outputs" and outputs["cell_index"] == 1
    assert await found_paths(api, "survey") == ["survey.ipynb"]  # by name and title
    assert await found_paths(api, "telescope", type="file") == ["doc/readme.md"]
    assert await found_paths(api, "telescope", type="notebook") == []
    assert await found_paths(api, "telescope", path="doc") == ["doc/readme.md"]
    assert await found_paths(api, "galaxy", path="doc") == []
    assert await found_paths(api, "name:readme") == ["doc/readme.md"]
    assert await found_paths(api, "name:telescope") == []


@pytest.mark.gen_test(timeout=60)
async def test_rename_keeps_the_id_and_finds_the_new_name(server_app: Any, api: APIClient) -> None:
    await start_indexing(server_app, api)
    fid = await indexed_notebook(api, "a.ipynb", "pulsar timing")
    assert (await api.patch("api/contents/a.ipynb", {"path": "pulses.ipynb"})).status == 200
    result = (await search(api, q="pulsar")).json()["results"][0]  # at once: the path comes from the id
    assert (result["id"], result["path"]) == (fid, "pulses.ipynb")
    await wait_until(lambda: _has(api, "name:pulses"))
    assert await found_paths(api, "name:a") == []


@pytest.mark.gen_test(timeout=90)
async def test_outside_edit_is_found_after_reindex(server_app: Any, api: APIClient, root_dir: Path) -> None:
    """49 (and 11's reindex): a file edited outside the server (a word replaced) is found by the new
    word and not the old one after POST /api/search/reindex."""
    await start_indexing(server_app, api)
    await save_text(api, "log.txt", "the comet was bright")
    await wait_until(lambda: _has(api, "comet"))
    target = root_dir / "log.txt"
    target.write_text("the asteroid was bright")
    os.utime(target, ns=(time.time_ns(), time.time_ns() + 10**9))  # a different mtime, however coarse the clock
    response = await api.post("api/search/reindex")
    assert response.status == 202, response.body
    assert set(response.json()) >= {"status", "engine", "documents", "pending", "last_update"}
    await wait_until(lambda: _has(api, "asteroid"))
    assert await found_paths(api, "comet") == []


@pytest.mark.gen_test(timeout=90)
async def test_outside_move_follows_the_id(server_app: Any, api: APIClient, root_dir: Path) -> None:
    """11: os.rename outside the server, then reindex: the same id at the new path, same content found."""
    await start_indexing(server_app, api)
    await api.put("api/contents/proj", {"type": "directory"})
    fid = await indexed_notebook(api, "proj/b.ipynb", "nebula")
    (root_dir / "proj" / "sub").mkdir()
    os.rename(root_dir / "proj" / "b.ipynb", root_dir / "proj" / "sub" / "c.ipynb")
    assert (await api.post("api/search/reindex")).status == 202
    assert (await api.get(f"api/files/{fid}/path")).json()["path"] == "proj/sub/c.ipynb"
    await wait_until(lambda: _has(api, "name:c"))
    result = (await search(api, q="nebula")).json()["results"]
    assert [(r["id"], r["path"]) for r in result] == [(fid, "proj/sub/c.ipynb")]


@pytest.mark.gen_test(timeout=90)
async def test_outside_edit_is_found_by_the_periodic_scan(server_app: Any, api: APIClient, root_dir: Path) -> None:
    """Without a reindex: the scan of mtimes (every scan_interval seconds) finds a new file and an edit."""
    server_app.search_service.scan_interval = 0.3
    await start_indexing(server_app, api)
    (root_dir / "outside.txt").write_text("meteorite")
    await wait_until(lambda: _has(api, "meteorite"))
    (root_dir / "outside.txt").write_text("meteor shower")
    os.utime(root_dir / "outside.txt", ns=(time.time_ns(), time.time_ns() + 10**9))
    await wait_until(lambda: _has(api, "shower"))
    assert await found_paths(api, "meteorite") == []


@pytest.mark.gen_test(timeout=60)
async def test_copies_are_indexed_and_hidden_files_are_not(server_app: Any, api: APIClient,
                                                           root_dir: Path) -> None:
    await start_indexing(server_app, api)
    await save_notebook(api, "src.ipynb", notebook(("code", "supernova = 1")))
    copied = await api.post("api/contents", {"copy_from": "src.ipynb"})
    assert copied.status == 201
    (root_dir / ".hidden.txt").write_text("supernova")
    await wait_until(lambda: _count(api, "supernova", 2))
    assert (await api.post("api/search/reindex")).status == 202  # a scan that sees the hidden file
    await wait_until(lambda: _ready(api))
    assert sorted(await found_paths(api, "supernova")) == ["src-Copy1.ipynb", "src.ipynb"]


async def _ready(api: APIClient) -> bool:
    return bool((await api.get("api/search/status")).json()["status"] == "ready")


@pytest.mark.gen_test(timeout=60)
async def test_trashed_file_is_absent_and_back_after_restore(server_app: Any, api: APIClient) -> None:
    """49: trash -> absent from results; restore -> back, same id."""
    await start_indexing(server_app, api)
    fid = await indexed_notebook(api, "t.ipynb", "magnetar")
    assert (await api.post(f"api/files/{fid}/trash")).status == 200
    assert await found_paths(api, "magnetar") == []
    assert (await api.post(f"api/files/{fid}/restore")).status == 200
    assert await found_paths(api, "magnetar") == ["t.ipynb"]
    assert (await api.delete("api/contents/t.ipynb")).status == 204  # delete_to_trash
    assert await found_paths(api, "magnetar") == []


@pytest.mark.gen_test(timeout=60)
async def test_paging_with_limit_two(server_app: Any, api: APIClient) -> None:
    """49: 3 hits with limit=2 -> next_cursor; following it gives the third, then next_cursor null."""
    await start_indexing(server_app, api)
    for name in ("one", "two", "three"):
        await save_text(api, f"{name}.txt", f"blazar {name}")
    await wait_until(lambda: _count(api, "blazar", 3))
    first = (await search(api, q="blazar", limit=2)).json()
    assert len(first["results"]) == 2 and first["next_cursor"]
    second = (await search(api, q="blazar", limit=2, cursor=first["next_cursor"])).json()
    assert len(second["results"]) == 1 and second["next_cursor"] is None
    paths = {r["path"] for r in first["results"] + second["results"]}
    assert paths == {"one.txt", "two.txt", "three.txt"}


async def _count(api: APIClient, q: str, count: int) -> bool:
    return len(await found_paths(api, q)) == count


@pytest.mark.gen_test(timeout=60)
async def test_status_reports_the_index(server_app: Any, api: APIClient, metadata_backend: str) -> None:
    await start_indexing(server_app, api)
    await save_text(api, "s.txt", "status words")
    await wait_until(lambda: _has(api, "status"))
    status = (await api.get("api/search/status")).json()
    assert status["engine"] == {"sqlite": "fts5", "postgres": "tsvector"}[metadata_backend]
    assert status["status"] == "ready"
    assert status["documents"] == 1 and status["pending"] == 0
    assert status["last_update"].endswith("Z") and status["last_scan"].endswith("Z") and status["db_bytes"] > 0


@pytest.mark.gen_test(timeout=60)
@pytest.mark.sqlite_only
async def test_fallback_searches_names_when_fts5_is_missing(server_app: Any, api: APIClient,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Where this SQLite has no FTS5 (the capability probe says so), search degrades to names (LIKE)."""
    monkeypatch.setattr("nbserver.services.search.manager.fts5_available", lambda: False)
    await start_indexing(server_app, api)
    await save_text(api, "Scatter_3d plot.txt", "contents are not searched here")
    await save_text(api, "other.txt", "scatter")
    await wait_until(lambda: _has(api, "catter_3"))
    assert (await api.get("api/search/status")).json()["engine"] == "fallback"
    results = (await search(api, q="catter_3")).json()["results"]
    assert [r["path"] for r in results] == ["Scatter_3d plot.txt"]  # _ is literal in LIKE, not a wildcard
    assert results[0]["matches"] == [{"field": "name", "text": "Scatter_3d plot.txt", "ranges": [[1, 9]]}]
    assert await found_paths(api, "contents") == []
    assert await found_paths(api, 'NEAR("x') == []


@pytest.fixture
def search_disabled(jupyter_env: dict[str, str]) -> None:
    (Path(jupyter_env["config"]) / "nbserver_config.json").write_text('{"SearchService": {"enabled": false}}')


@pytest.mark.gen_test(timeout=60)
async def test_disabled_search_is_503(search_disabled: None, api: APIClient) -> None:
    for response in (await search(api, q="x"), await api.get("api/search/status"),
                     await api.post("api/search/reindex")):
        assert response.status == 503 and response.json()["code"] == "search_disabled"


class NoSecretFolder(Authorizer):
    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        path = getattr(handler, "contents_path", None) or ""
        return not path.startswith("secret/")


@pytest.mark.gen_test(timeout=60)
async def test_results_are_authorized_per_path(server_app: Any, app: Any, api: APIClient) -> None:
    """Authorization as the paths: a result the user may not read is left out."""
    await start_indexing(server_app, api)
    await api.put("api/contents/secret", {"type": "directory"})
    await save_text(api, "secret/plan.txt", "hypernova")
    await save_text(api, "open.txt", "hypernova")
    await wait_until(lambda: _count(api, "hypernova", 2))
    app.settings["authorizer"] = NoSecretFolder()
    assert await found_paths(api, "hypernova") == ["open.txt"]


@pytest.mark.gen_test(timeout=60)
async def test_an_upload_is_indexed_like_a_save(server_app: Any, api: APIClient) -> None:
    """A raw upload (POST /api/files/upload) is queued for indexing at once, not left to the scan."""
    server_app.search_service.scan_interval = 3600
    await start_indexing(server_app, api)
    uploaded = await api.post("api/files/upload", raw_body=b"notes on a pulsar timing array\n",
                              headers={"Content-Type": "application/octet-stream", "X-File-Name": "notes.txt"})
    assert uploaded.status == 201, uploaded.body
    await wait_until(lambda: _has(api, "pulsar"))
    assert await found_paths(api, "pulsar") == ["notes.txt"]
