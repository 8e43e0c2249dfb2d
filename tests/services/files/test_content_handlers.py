"""GET /api/files/{id}/content and /html against an in-process server (checklist items 32, 33)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from tests.support.api_client import APIClient

pytestmark = pytest.mark.gen_test(timeout=120)

NOTEBOOK = {"cells": [{"cell_type": "markdown", "metadata": {}, "source": ["# Rendered heading"]}],
            "metadata": {}, "nbformat": 4, "nbformat_minor": 4}


async def lookup(api: APIClient, path: str) -> str:
    response = await api.get("api/files/lookup", params={"path": path})
    assert response.status == 200, response.body
    return str(response.json()["id"])


async def test_content_is_the_exact_bytes_with_etag_and_ranges(api: APIClient, root_dir: Path) -> None:
    """33"""
    data = bytes(range(256)) * 4
    (root_dir / "t.txt").write_bytes(data)
    fid = await lookup(api, "t.txt")
    whole = await api.get(f"api/files/{fid}/content")
    assert whole.status == 200 and whole.body == data and whole.headers["ETag"]
    assert "sandbox" in whole.headers["Content-Security-Policy"]
    part = await api.get(f"api/files/{fid}/content", headers={"Range": "bytes=0-9"})
    assert part.status == 206 and part.body == data[:10]
    assert part.headers["Content-Range"] == f"bytes 0-9/{len(data)}"
    cached = await api.get(f"api/files/{fid}/content", headers={"If-None-Match": whole.headers["ETag"]})
    assert cached.status == 304
    head = await api.request("HEAD", f"api/files/{fid}/content")
    assert head.status == 200 and head.body == b"" and int(head.headers["Content-Length"]) == len(data)
    download = await api.get(f"api/files/{fid}/content", params={"download": "1"})
    assert download.headers["Content-Disposition"].startswith("attachment")


async def test_content_follows_renames(api: APIClient, root_dir: Path) -> None:
    (root_dir / "a.txt").write_text("moving")
    fid = await lookup(api, "a.txt")
    assert (await api.patch("api/contents/a.txt", {"path": "b.txt"})).status == 200
    assert (await api.get(f"api/files/{fid}/content")).body == b"moving"


async def test_content_of_a_folder_is_400_and_of_a_trashed_file_404(api: APIClient, root_dir: Path) -> None:
    (root_dir / "d").mkdir()
    (root_dir / "x.txt").write_text("x")
    folder, fid = await lookup(api, "d"), await lookup(api, "x.txt")
    assert (await api.get(f"api/files/{folder}/content")).status == 400
    assert (await api.post(f"api/files/{fid}/trash")).status == 200
    assert (await api.get(f"api/files/{fid}/content")).status == 404
    assert (await api.get("api/files/00000000-0000-4000-8000-000000000000/content")).status == 404
    (root_dir / "n.ipynb").write_text(json.dumps(NOTEBOOK))
    notebook = await lookup(api, "n.ipynb")
    assert (await api.post(f"api/files/{notebook}/trash")).status == 200
    trashed = await api.get(f"api/files/{notebook}/html")
    assert trashed.status == 404 and "restore it first" in trashed.json()["message"]


async def test_html_of_a_notebook_is_sandboxed_without_same_origin(api: APIClient, root_dir: Path) -> None:
    """32"""
    (root_dir / "n.ipynb").write_text(json.dumps(NOTEBOOK))
    fid = await lookup(api, "n.ipynb")
    response = await api.get(f"api/files/{fid}/html")
    assert response.status == 200, response.body
    assert response.headers["Content-Type"] == "text/html; charset=UTF-8"
    policy = response.headers["Content-Security-Policy"]
    assert policy.startswith("sandbox allow-scripts;") and "allow-same-origin" not in policy
    assert "connect-src 'none'" in policy and "form-action 'none'" in policy
    assert b"Rendered heading" in response.body


async def test_html_and_its_share_link_answer_304_to_their_etag(api: APIClient, root_dir: Path) -> None:
    """RFC 9110 13.1.2: a browser revalidating a rendered page it holds gets no body again."""
    (root_dir / "n.ipynb").write_text(json.dumps(NOTEBOOK))
    fid = await lookup(api, "n.ipynb")
    link = (await api.patch(f"api/files/{fid}", {"world_readable": True})).json()["share_url"].lstrip("/")
    for route in (f"api/files/{fid}/html", link):
        page = await api.get(route)
        assert page.status == 200 and page.body and page.headers["ETag"]
        head = await api.request("HEAD", route)
        assert head.status == 200 and head.body == b"" and head.headers["ETag"] == page.headers["ETag"]
        assert int(head.headers["Content-Length"]) == len(page.body)
        head_again = await api.request("HEAD", route, headers={"If-None-Match": page.headers["ETag"]})
        assert head_again.status == 304
        again = await api.get(route, headers={"If-None-Match": page.headers["ETag"]})
        assert again.status == 304 and again.body == b"" and again.headers["ETag"] == page.headers["ETag"]
        assert "sandbox" in again.headers["Content-Security-Policy"]
        other = await api.get(route, headers={"If-None-Match": '"something-else"'})
        assert other.status == 200 and other.body == page.body
    edited = {**NOTEBOOK, "cells": [{"cell_type": "markdown", "metadata": {}, "source": ["# Edited"]}]}
    (root_dir / "n.ipynb").write_text(json.dumps(edited))
    changed = await api.get(f"api/files/{fid}/html", headers={"If-None-Match": page.headers["ETag"]})
    assert changed.status == 200 and b"Edited" in changed.body


async def test_html_is_cached_per_file_version(api: APIClient, root_dir: Path) -> None:
    """Section 3.10: cached by version; a save makes a new version."""
    (root_dir / "n.ipynb").write_text(json.dumps(NOTEBOOK))
    fid = await lookup(api, "n.ipynb")
    first = await api.get(f"api/files/{fid}/html")
    assert (await api.get(f"api/files/{fid}/html")).body == first.body
    changed = {**NOTEBOOK, "cells": [{"cell_type": "markdown", "metadata": {}, "source": ["# Second version"]}]}
    assert (await api.put("api/contents/n.ipynb", {"type": "notebook", "content": changed})).status == 200
    second = await api.get(f"api/files/{fid}/html")
    assert b"Second version" in second.body and b"Rendered heading" not in second.body


async def test_html_of_other_files_is_400_not_a_notebook(api: APIClient, root_dir: Path) -> None:
    """33"""
    (root_dir / "t.txt").write_text("plain")
    response = await api.get(f"api/files/{await lookup(api, 't.txt')}/html")
    assert response.status == 400 and response.json()["code"] == "not_a_notebook"


async def test_html_of_an_unreadable_notebook_is_422(api: APIClient, root_dir: Path) -> None:
    """Section 3.2: unreadable notebook -> 422."""
    (root_dir / "bad.ipynb").write_text('{"cells": [')
    response = await api.get(f"api/files/{await lookup(api, 'bad.ipynb')}/html")
    assert response.status == 422 and "Unreadable notebook" in response.json()["message"]


@pytest.mark.parametrize("notebook", [
    {"cells": [{"cell_type": "code"}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5},
    {"cells": 5, "metadata": {}, "nbformat": 4, "nbformat_minor": 5},
    {"cells": "x", "metadata": [], "nbformat": 4, "nbformat_minor": 5},
    {"cells": [{"cell_type": "markdown", "metadata": {}, "source": 5}], "metadata": {}, "nbformat": 4,
     "nbformat_minor": 5},
    {"cells": [{"cell_type": "code", "metadata": {}, "source": "", "execution_count": None,
                "outputs": [{"output_type": "bogus"}]}], "metadata": {"kernelspec": 5}, "nbformat": 4,
     "nbformat_minor": 5},
    # valid against the schema, yet nbconvert cannot render it
    {"cells": [], "metadata": {"widgets": 5}, "nbformat": 4, "nbformat_minor": 5},
], ids=["code-cell-without-fields", "cells-a-number", "metadata-a-list", "source-a-number", "bogus-output",
        "widget-state-a-number"])
async def test_html_of_an_invalid_notebook_nbconvert_cannot_render_is_422_on_its_link_too(
        api: APIClient, root_dir: Path, notebook: dict[str, object]) -> None:
    """A notebook the server keeps (an invalid one is kept with a message) but nbconvert cannot
    export is the file's fault: 422 with the validation message, never a 500, and its public
    link answers 422 as well."""
    (root_dir / "invalid.ipynb").write_text(json.dumps(notebook))
    fid = await lookup(api, "invalid.ipynb")
    response = await api.get(f"api/files/{fid}/html")
    assert response.status == 422, response.body
    error = response.json()
    assert error["code"] == "unrenderable_notebook" and error["message"].startswith("This notebook cannot be rendered")
    shared = await api.patch(f"api/files/{fid}", {"world_readable": True})
    assert shared.status == 200, shared.body
    page = await api.get(shared.json()["share_url"].lstrip("/"), headers={"Authorization": ""})
    assert page.status == 422 and b"Traceback" not in page.body


async def test_a_failed_render_is_remembered_for_the_file_version(api: APIClient, root_dir: Path, caplog: Any) -> None:
    """A public link asked again does not run nbconvert again on a version it failed on."""
    (root_dir / "w.ipynb").write_text(json.dumps({"cells": [], "metadata": {"widgets": 5}, "nbformat": 4,
                                                  "nbformat_minor": 5}))
    fid = await lookup(api, "w.ipynb")
    caplog.set_level(logging.WARNING, logger="nbserver")
    for _ in range(3):
        response = await api.get(f"api/files/{fid}/html")
        assert response.status == 422 and response.json()["code"] == "unrenderable_notebook"
    assert sum("nbconvert export of" in record.getMessage() for record in caplog.records) == 1
    (root_dir / "w.ipynb").write_text(json.dumps(NOTEBOOK))  # a new version renders
    assert (await api.get(f"api/files/{fid}/html")).status == 200


async def test_content_and_html_need_credentials(api: APIClient, root_dir: Path) -> None:
    """50"""
    (root_dir / "n.ipynb").write_text(json.dumps(NOTEBOOK))
    fid = await lookup(api, "n.ipynb")
    for route in ("content", "html"):
        assert (await api.get(f"api/files/{fid}/{route}", authenticated=False)).status == 401
