"""``GET /api/external`` and ``POST /api/files/import`` against a local source allowed by
``external_allow_networks=["127.0.0.1/32"]`` (checklist items 42-47)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from nbserver.app import NotebookServerApp
from nbserver.auth.ratelimit import LoginRateLimiter
from nbserver.services.external.render import RenderWorkers
from tests.support.api_client import APIClient
from tests.support.clock import FakeClock
from tests.support.notebook_source import GREEDY_WORKER, SourceServer
from tests.services.external.conftest import TEST_TIMEOUT

pytestmark = pytest.mark.timeout(180)


@pytest.mark.gen_test(timeout=150)  # the first render starts a worker: importing nbconvert takes seconds
async def test_valid_notebook_renders_sandboxed_without_scripts(api: APIClient, source: SourceServer) -> None:
    response = await api.get("api/external", params={"source": source.url("nb.ipynb")})
    assert response.status == 200, response.body
    assert response.headers["Content-Type"].startswith("text/html")
    csp = response.headers["Content-Security-Policy"]
    assert csp.startswith("sandbox;") and "allow-scripts" not in csp and "allow-same-origin" not in csp
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert b"Hello from afar" in response.body
    assert source.log == ["/nb.ipynb"]


@pytest.mark.gen_test(timeout=30)
@pytest.mark.parametrize("location", ["http://169.254.169.254/latest/meta-data/", "file:///etc/passwd"])
async def test_redirect_to_metadata_or_file_is_403(api: APIClient, source: SourceServer, location: str) -> None:
    response = await api.get("api/external", params={"source": source.url(f"to?location={location}")})
    assert response.status == 403, response.body
    assert response.json()["code"] == "source_blocked"
    assert source.log == ["/to"]


@pytest.mark.gen_test(timeout=30)
async def test_six_redirects_are_502(api: APIClient, source: SourceServer) -> None:
    response = await api.get("api/external", params={"source": source.url("hop6")})
    assert response.status == 502, response.body
    assert response.json()["code"] == "too_many_redirects"


@pytest.mark.gen_test(timeout=60)
@pytest.mark.parametrize("path", ["big", "big-length", "bomb"])
async def test_too_large_is_502(api: APIClient, source: SourceServer, path: str) -> None:
    response = await api.get("api/external", params={"source": source.url(path)})
    assert response.status == 502, response.body
    assert response.json()["code"] == "source_too_large"


@pytest.mark.gen_test(timeout=30)
async def test_stalled_source_is_504_within_the_timeout(api: APIClient, source: SourceServer) -> None:
    started = time.monotonic()
    response = await api.get("api/external", params={"source": source.url("stall")})
    assert response.status == 504, response.body
    assert response.json()["code"] == "source_timeout"
    assert time.monotonic() - started < TEST_TIMEOUT + 1


@pytest.mark.gen_test(timeout=30)
@pytest.mark.parametrize("path, words", [("broken", "not valid JSON"), ("not-notebook", "must contain"),
                                         ("html", "text/html")])
async def test_not_a_notebook_is_422(api: APIClient, source: SourceServer, path: str, words: str) -> None:
    response = await api.get("api/external", params={"source": source.url(path)})
    assert response.status == 422, response.body
    body = response.json()
    assert body["code"] == "not_a_notebook" and words in body["message"]


@pytest.mark.gen_test(timeout=30)
async def test_upstream_404_is_502_with_its_status(api: APIClient, source: SourceServer) -> None:
    response = await api.get("api/external", params={"source": source.url("missing.ipynb")})
    assert response.status == 502
    body = response.json()
    assert (body["code"], body["status"]) == ("source_status", 404)


@pytest.mark.gen_test(timeout=60)
async def test_31st_fetch_in_a_minute_is_429_with_retry_after(api: APIClient, source: SourceServer) -> None:
    for _ in range(30):
        response = await api.get("api/external", params={"source": source.url("missing.ipynb")})
        assert response.status == 502
    response = await api.get("api/external", params={"source": source.url("missing.ipynb")})
    assert response.status == 429, response.body
    assert response.json()["code"] == "rate_limited"
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert len(source.log) == 30


@pytest.mark.gen_test(timeout=30)
async def test_import_saves_a_copy_as_a_file(api: APIClient, source: SourceServer, root_dir: Any) -> None:
    await api.put("api/contents/proj", {"type": "directory"})
    response = await api.post("api/files/import", {"source": source.url("nb.ipynb"), "parent_path": "/proj/"})
    assert response.status == 201, response.body
    model = response.json()
    assert (model["path"], model["type"], model["name"]) == ("proj/nb.ipynb", "notebook", "nb.ipynb")
    assert response.headers["Location"].endswith(f"/api/files/{model['id']}")
    saved = await api.get("api/contents/proj/nb.ipynb")
    assert saved.json()["content"]["cells"][0]["source"].startswith("# Hello from afar")
    again = await api.get(f"api/files/{model['id']}")
    assert again.json()["path"] == "proj/nb.ipynb"
    graph = (await api.get(f"api/files/{model['id']}/sources")).json()["graph"]  # 47
    assert [(edge["source"], edge["relation"]) for edge in graph["edges"]] == [
        (f"url:{source.url('nb.ipynb')}", "import")]


@pytest.mark.gen_test(timeout=30)
async def test_import_into_a_folder_by_id_with_a_name(api: APIClient, source: SourceServer) -> None:
    await api.put("api/contents/proj", {"type": "directory"})
    folder = (await api.get("api/files/lookup", params={"path": "proj"})).json()
    response = await api.post("api/files/import", {"source": source.url("nb.ipynb"), "parent": folder["id"],
                                                   "name": "copy.ipynb"})
    assert response.status == 201, response.body
    assert response.json()["path"] == "proj/copy.ipynb"


@pytest.mark.gen_test(timeout=30)
async def test_import_onto_an_existing_name_is_409_unless_rename(api: APIClient, source: SourceServer) -> None:
    await api.put("api/contents/nb.ipynb", {"type": "notebook", "content": {
        "cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}})
    response = await api.post("api/files/import", {"source": source.url("nb.ipynb"), "parent_path": ""})
    assert response.status == 409
    assert response.json()["code"] == "name_conflict"
    assert source.log == []  # refused before fetching
    original = await api.get("api/contents/nb.ipynb")
    assert original.json()["content"]["cells"] == []
    renamed = await api.post("api/files/import", {"source": source.url("nb.ipynb"), "on_conflict": "rename"})
    assert renamed.status == 201, renamed.body
    assert renamed.json()["path"] == "nb-1.ipynb"


@pytest.mark.gen_test(timeout=30)
@pytest.mark.parametrize("body, status", [
    ({"source": "http://x/a.ipynb", "parent_path": "/nope/"}, 404),
    ({"source": "http://x/a.ipynb", "folder": "x"}, 400),
    ({"parent_path": "/"}, 400),
    ({"source": "http://x/a.ipynb", "name": "a/b.ipynb"}, 400),
    ({"source": "http://x/a.ipynb", "on_conflict": "overwrite"}, 400),
])
async def test_import_bad_requests(api: APIClient, body: dict[str, Any], status: int) -> None:
    response = await api.post("api/files/import", body)
    assert response.status == status, response.body


@pytest.mark.gen_test(timeout=30)
async def test_import_of_not_a_notebook_is_422_and_saves_nothing(api: APIClient, source: SourceServer) -> None:
    response = await api.post("api/files/import", {"source": source.url("not-notebook"), "name": "x.ipynb"})
    assert response.status == 422
    assert (await api.get("api/contents/x.ipynb")).status == 404


@pytest.mark.gen_test(timeout=30)
@pytest.mark.parametrize("method, path", [("GET", "api/external?source=http://x/"), ("POST", "api/files/import")])
async def test_routes_need_credentials(api: APIClient, method: str, path: str) -> None:
    response = await api.request(method, path, body={"source": "http://x/"} if method == "POST" else None,
                                 authenticated=False)
    assert response.status == 401


@pytest.fixture
def clock(server_app: NotebookServerApp) -> FakeClock:
    """The clock of the server's cache of external notebooks."""
    fake = FakeClock()
    server_app.external_notebooks.cache.clock = fake
    return fake


@pytest.mark.gen_test(timeout=150)
async def test_a_second_look_within_the_ttl_fetches_nothing(api: APIClient, source: SourceServer,
                                                            clock: FakeClock) -> None:
    first = await api.get("api/external", params={"source": source.url("validated.ipynb")})
    clock.now += 299
    second = await api.get("api/external", params={"source": source.url("validated.ipynb")})
    assert first.status == second.status == 200, second.body
    assert first.body == second.body and b"Hello from afar" in second.body
    assert source.log == ["/validated.ipynb"]


@pytest.mark.gen_test(timeout=150)
async def test_after_the_ttl_a_conditional_request_and_its_304_reuse_the_notebook(
        api: APIClient, source: SourceServer, clock: FakeClock) -> None:
    first = await api.get("api/external", params={"source": source.url("validated.ipynb")})
    clock.now += 301
    second = await api.get("api/external", params={"source": source.url("validated.ipynb")})
    assert first.status == second.status == 200, second.body
    assert first.body == second.body
    assert source.log == ["/validated.ipynb"] * 2
    assert source.conditions == [{}, {"If-None-Match": '"v1"', "If-Modified-Since": "Mon, 02 Nov 2026 10:00:00 GMT"}]
    clock.now += 299  # the 304 made it fresh again
    third = await api.get("api/external", params={"source": source.url("validated.ipynb")})
    assert third.status == 200 and len(source.log) == 2


@pytest.mark.gen_test(timeout=60)
async def test_a_no_store_answer_is_fetched_every_time(api: APIClient, source: SourceServer) -> None:
    for name in ("a.ipynb", "b.ipynb"):
        response = await api.post("api/files/import", {"source": source.url("no-store.ipynb"), "name": name})
        assert response.status == 201, response.body
    assert source.log == ["/no-store.ipynb"] * 2 and source.conditions == [{}, {}]


@pytest.mark.gen_test(timeout=60)
async def test_a_cached_notebook_still_counts_against_the_rate_limit(
        api: APIClient, source: SourceServer, server_app: NotebookServerApp) -> None:
    server_app.external_notebooks.limiter = LoginRateLimiter(2, 60)
    for name in ("a.ipynb", "b.ipynb"):
        response = await api.post("api/files/import", {"source": source.url("validated.ipynb"), "name": name})
        assert response.status == 201, response.body
    response = await api.post("api/files/import", {"source": source.url("validated.ipynb"), "name": "c.ipynb"})
    assert response.status == 429 and response.json()["code"] == "rate_limited"
    assert source.log == ["/validated.ipynb"]


@pytest.mark.gen_test(timeout=60)
async def test_a_cached_notebook_is_refused_when_the_guard_refuses_its_source(
        api: APIClient, source: SourceServer, server_app: NotebookServerApp) -> None:
    response = await api.post("api/files/import", {"source": source.url("validated.ipynb"), "name": "a.ipynb"})
    assert response.status == 201, response.body
    server_app.external_notebooks.external_allow_networks = []  # 127.0.0.1 is refused from now on
    response = await api.post("api/files/import", {"source": source.url("validated.ipynb"), "name": "b.ipynb"})
    assert response.status == 403 and response.json()["code"] == "source_blocked"
    assert source.log == ["/validated.ipynb"]


@pytest.mark.gen_test(timeout=60)
@pytest.mark.parametrize("setting, code", [("external_max_cells", "too_many_cells"),
                                           ("external_max_outputs", "too_many_outputs")])
async def test_a_notebook_past_the_cell_or_output_limit_is_422(
        api: APIClient, source: SourceServer, server_app: NotebookServerApp, setting: str, code: str) -> None:
    setattr(server_app.external_notebooks, setting, 10)  # the source's notebook has 40 cells, 20 outputs
    response = await api.get("api/external", params={"source": source.url("many-cells.ipynb")})
    assert response.status == 422, response.body
    body = response.json()
    assert (body["code"], body["limit"]) == (code, 10) and body["count"] in (20, 40)
    response = await api.post("api/files/import", {"source": source.url("many-cells.ipynb")})
    assert response.status == 422 and response.json()["code"] == code


@pytest.mark.gen_test(timeout=240)
async def test_a_render_past_the_memory_cap_is_503_and_the_server_lives_on(
        api: APIClient, source: SourceServer, server_app: NotebookServerApp) -> None:
    service = server_app.external_notebooks
    await service.renderer.close()
    service.renderer = RenderWorkers(1, timeout=200, memory_bytes=1024 ** 3, command=GREEDY_WORKER)
    response = await api.get("api/external", params={"source": source.url("nb.ipynb")})
    assert response.status == 503, response.body
    body = response.json()
    assert body["code"] == "render_memory_exceeded" and str(1024 ** 3) in body["message"]
    assert (await api.get("api/status")).status == 200
