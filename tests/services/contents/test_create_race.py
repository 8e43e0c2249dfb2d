"""Concurrent creators of one new path: the OS decides, so exactly one request gets 201.

Each trial sends the requests at once over separate connections to the real server; the
store's disk work runs in its thread pool, so they truly interleave.
"""

from __future__ import annotations

import asyncio
import json

import nbformat
import pytest
from tornado.httpclient import AsyncHTTPClient

TRIALS = 40
CREATORS = 4


@pytest.fixture
def concurrent_api(api, io_loop):
    """The test API client, on an HTTP client with enough connections for every creator at once."""
    client = AsyncHTTPClient(force_instance=True, max_clients=CREATORS * 2)
    api.http_client = client
    yield api
    client.close()


def notebook_body(source: str) -> dict:
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell(source))
    return {"type": "notebook", "content": nb}


async def statuses(api, method: str, path: str, bodies: list) -> list[int]:
    responses = await asyncio.gather(*(api.request(method, path, body) for body in bodies))
    return sorted(response.status for response in responses)


@pytest.mark.gen_test(timeout=120)
async def test_exactly_one_of_concurrent_notebook_creators_gets_201(concurrent_api, root_dir):
    for trial in range(TRIALS):
        path = f"api/contents/new{trial}.ipynb"
        bodies = [notebook_body(f"creator {index}") for index in range(CREATORS)]
        assert await statuses(concurrent_api, "PUT", path, bodies) == [200] * (CREATORS - 1) + [201], trial
        on_disk = json.loads((root_dir / f"new{trial}.ipynb").read_text())
        assert "".join(on_disk["cells"][0]["source"]) in {f"creator {index}" for index in range(CREATORS)}


@pytest.mark.gen_test(timeout=120)
async def test_exactly_one_of_concurrent_file_and_folder_creators_gets_201(concurrent_api, root_dir):
    for trial in range(TRIALS // 2):
        file_bodies = [{"type": "file", "format": "text", "content": str(index)} for index in range(CREATORS)]
        assert await statuses(concurrent_api, "PUT", f"api/contents/f{trial}.txt", file_bodies) == \
            [200] * (CREATORS - 1) + [201]
        folder_bodies = [{"type": "directory"}] * CREATORS
        assert await statuses(concurrent_api, "PUT", f"api/contents/d{trial}", folder_bodies) == \
            [200] * (CREATORS - 1) + [201]
    assert not [name for name in root_dir.iterdir() if name.name.startswith(".~nbserver")]


@pytest.mark.gen_test(timeout=120)
async def test_concurrent_empty_creates_give_one_201_and_409s(concurrent_api, root_dir):
    for trial in range(TRIALS):
        assert await statuses(concurrent_api, "PUT", f"api/contents/e{trial}.ipynb", [None] * CREATORS) == \
            [201] + [409] * (CREATORS - 1)


@pytest.mark.gen_test(timeout=120)
async def test_concurrent_copies_to_one_path_give_one_copy_and_conflicts(server_app, root_dir):
    # PUT with copy_from is refused (as in Jupyter Server); the store's exact-path copy stays atomic.
    manager = server_app.contents_manager
    (root_dir / "src.txt").write_text("source")
    for trial in range(TRIALS // 2):
        results = await asyncio.gather(
            *(manager.copy_to("src.txt", f"c{trial}.txt") for _ in range(CREATORS)), return_exceptions=True)
        assert sorted(type(result).__name__ for result in results) == ["Conflict"] * (CREATORS - 1) + ["dict"]
        assert (root_dir / f"c{trial}.txt").read_text() == "source"


@pytest.mark.gen_test(timeout=120)
async def test_concurrent_untitled_creates_each_get_their_own_name(concurrent_api, root_dir):
    for kind in ("notebook", "file", "directory"):
        responses = await asyncio.gather(
            *(concurrent_api.post("api/contents", {"type": kind}) for _ in range(CREATORS * 2)))
        assert [response.status for response in responses] == [201] * CREATORS * 2
        assert len({response.json()["path"] for response in responses}) == CREATORS * 2
