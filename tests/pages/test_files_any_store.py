"""/files and /nbconvert through a store that is not the filesystem: only the manager interface is used."""

from __future__ import annotations

from typing import Any

import nbformat
import pytest

from tests.services.contents.memory_manager import InMemoryContentsManager


@pytest.fixture
def server_config() -> dict[str, Any]:
    return {"contents_manager_class": InMemoryContentsManager}


@pytest.mark.gen_test
async def test_files_serves_a_file_of_any_store_with_caching_headers(api):
    saved = await api.put("api/contents/page.html", {"type": "file", "format": "text", "content": "<p>hi</p>"})
    assert saved.status == 201
    response = await api.get("files/page.html")
    assert response.status == 200
    assert response.body == b"<p>hi</p>"
    assert response.headers["Content-Type"] == "text/html; charset=UTF-8"
    assert response.headers["Content-Security-Policy"].split(";")[0] == "sandbox"
    again = await api.get("files/page.html", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status == 304


@pytest.mark.gen_test
async def test_files_of_any_store_404s_for_missing_and_hidden(api):
    assert (await api.get("files/missing.txt")).status == 404
    assert (await api.get("files/.secret")).status == 404


@pytest.mark.gen_test(timeout=60)
async def test_nbconvert_reads_through_any_store(api):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# From memory")]
    await api.put("api/contents/m.ipynb", {"type": "notebook", "content": nb})
    response = await api.get("nbconvert/markdown/m.ipynb")
    assert response.status == 200
    assert b"# From memory" in response.body
