"""/new and /copy (and /notebooks/<path>?copy): page GETs that create a file and open it, followed
by a real client with the browser's login cookie."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat
import pytest
from tornado.httpclient import HTTPResponse

from tests.conftest import TEST_TOKEN


async def open_page(http_client: Any, url: str, follow: bool = True, **headers: str) -> HTTPResponse:
    return await http_client.fetch(url, follow_redirects=follow, raise_error=False, request_timeout=30,
                                   headers={"Authorization": f"token {TEST_TOKEN}", **headers})


def write_notebook(path: Path, source: str) -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source)]
    nbformat.write(notebook, str(path))


@pytest.mark.gen_test(timeout=30)
async def test_root_leads_to_the_dashboard(http_client, base_url):
    response = await open_page(http_client, base_url + "/")
    assert response.code == 200 and response.effective_url.endswith("/tree")
    assert b'class="tree-page' in response.body or b"tree" in response.body


@pytest.mark.gen_test(timeout=60)
async def test_new_creates_an_untitled_notebook_with_the_kernelspec_and_opens_it(http_client, base_url, root_dir):
    (root_dir / "work").mkdir()
    response = await open_page(http_client, base_url + "/new?path=work&kernel=python3")
    assert response.code == 200 and response.effective_url.endswith("/notebooks/work/Untitled.ipynb")
    assert b'data-path="work/Untitled.ipynb"' in response.body
    notebook = json.loads((root_dir / "work" / "Untitled.ipynb").read_text())
    assert notebook["metadata"]["kernelspec"]["name"] == "python3"
    assert notebook["metadata"]["kernelspec"]["language"] == "python"
    again = await open_page(http_client, base_url + "/new?path=work&kernel=python3")
    assert again.effective_url.endswith("/notebooks/work/Untitled1.ipynb")


@pytest.mark.gen_test(timeout=30)
async def test_new_without_a_kernel_makes_a_plain_notebook_in_the_root(http_client, base_url, root_dir):
    response = await open_page(http_client, base_url + "/new")
    assert response.code == 200 and response.effective_url.endswith("/notebooks/Untitled.ipynb")
    assert "kernelspec" not in json.loads((root_dir / "Untitled.ipynb").read_text())["metadata"]


@pytest.mark.gen_test(timeout=30)
async def test_new_with_an_unknown_kernel_or_folder_is_404_and_creates_nothing(http_client, base_url, root_dir):
    assert (await open_page(http_client, base_url + "/new?kernel=no-such-kernel")).code == 404
    assert (await open_page(http_client, base_url + "/new?path=missing")).code == 404
    assert list(root_dir.iterdir()) == []


@pytest.mark.gen_test(timeout=30)
async def test_new_from_another_site_is_refused(http_client, base_url, root_dir):
    response = await open_page(http_client, base_url + "/new", **{"Sec-Fetch-Site": "cross-site",
                                                                   "Sec-Fetch-Mode": "navigate"})
    assert response.code == 403 and list(root_dir.iterdir()) == []


@pytest.mark.gen_test(timeout=30)
async def test_notebook_copy_query_opens_a_byte_identical_duplicate(http_client, base_url, root_dir):
    write_notebook(root_dir / "a.ipynb", "print('original')")
    response = await open_page(http_client, base_url + "/notebooks/a.ipynb?copy")
    assert response.code == 200 and response.effective_url.endswith("/notebooks/a-Copy1.ipynb")
    assert (root_dir / "a-Copy1.ipynb").read_bytes() == (root_dir / "a.ipynb").read_bytes()


@pytest.mark.gen_test(timeout=30)
async def test_copy_route_duplicates_notebooks_and_other_files(http_client, base_url, root_dir):
    (root_dir / "sub").mkdir()
    write_notebook(root_dir / "sub" / "b.ipynb", "1 + 1")
    (root_dir / "sub" / "notes.txt").write_text("notes")
    notebook = await open_page(http_client, base_url + "/copy/sub/b.ipynb")
    assert notebook.code == 200 and notebook.effective_url.endswith("/notebooks/sub/b-Copy1.ipynb")
    text = await open_page(http_client, base_url + "/copy/sub/notes.txt")
    assert text.code == 200 and text.effective_url.endswith("/edit/sub/notes-Copy1.txt")
    assert (root_dir / "sub" / "notes-Copy1.txt").read_text() == "notes"


@pytest.mark.gen_test(timeout=30)
async def test_copy_of_a_missing_file_is_404(http_client, base_url):
    assert (await open_page(http_client, base_url + "/copy/nothing.ipynb")).code == 404


@pytest.mark.gen_test(timeout=30)
async def test_actions_need_a_login(http_client, base_url, root_dir):
    write_notebook(root_dir / "a.ipynb", "x")
    response = await http_client.fetch(base_url + "/copy/a.ipynb", follow_redirects=False, raise_error=False)
    assert response.code == 302 and "/login" in response.headers["Location"]
    assert sorted(p.name for p in root_dir.iterdir()) == ["a.ipynb"]


@pytest.mark.parametrize("server_config", [{"base_url": "/prefix/"}])
@pytest.mark.gen_test(timeout=30)
async def test_new_and_copy_stay_under_the_base_url(server_config, http_client, base_url, root_dir):
    created = await open_page(http_client, base_url + "/prefix/new", follow=False)
    assert created.code == 302 and created.headers["Location"] == "/prefix/notebooks/Untitled.ipynb"
    copied = await open_page(http_client, base_url + "/prefix/notebooks/Untitled.ipynb?copy")
    assert copied.effective_url.endswith("/prefix/notebooks/Untitled-Copy1.ipynb")
