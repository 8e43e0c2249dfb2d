"""POST /api/files/upload against an in-process server (checklist items 1-5 of file-services.md section 6)."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from nbserver.services.contents.fileio import NEW_FILE_MODE, STAGING_PREFIX
from tests.support.api_client import APIClient, APIResponse

pytestmark = pytest.mark.gen_test(timeout=60)
NOTEBOOK = {"cells": [{"cell_type": "markdown", "metadata": {}, "source": ["# up"]}], "metadata": {},
            "nbformat": 4, "nbformat_minor": 4}
NOTEBOOK_BYTES = json.dumps(NOTEBOOK).encode()


async def upload(api: APIClient, body: bytes, name: str | None = "a.ipynb", params: dict[str, Any] | None = None,
                 **headers: str) -> APIResponse:
    all_headers = {"Content-Type": "application/octet-stream", **{k.replace("_", "-"): v for k, v in headers.items()}}
    if name is not None:
        all_headers["X-File-Name"] = quote(name)
    return await api.post("api/files/upload", raw_body=body, headers=all_headers, params=params)


def leftovers(folder: Path) -> list[str]:
    return [name for name in os.listdir(folder) if name.startswith(STAGING_PREFIX)]


async def test_upload_creates_the_file_with_an_id_and_location(api: APIClient, root_dir: Path) -> None:
    """1"""
    (root_dir / "proj").mkdir()
    response = await upload(api, NOTEBOOK_BYTES, Nbserver_Parent_Path="/proj/")
    assert response.status == 201, response.body
    model = response.json()
    assert uuid.UUID(model["id"]).version == 4
    assert model["path"] == "proj/a.ipynb" and model["type"] == "notebook" and model["world_readable"] is False
    assert response.headers["Location"] == f"/api/files/{model['id']}"
    saved = await api.get("api/contents/proj/a.ipynb", params={"format": "json"})
    assert saved.status == 200 and saved.json()["content"]["cells"][0]["source"] == "# up"
    assert (root_dir / "proj" / "a.ipynb").read_bytes() == NOTEBOOK_BYTES
    assert leftovers(root_dir / "proj") == []


@pytest.mark.parametrize("name", [None, "../x.ipynb", "a/b.ipynb", ".nbserver", ""])
async def test_upload_without_or_with_a_bad_name_is_400_and_writes_nothing(api: APIClient, root_dir: Path,
                                                                           name: str | None) -> None:
    """2"""
    response = await upload(api, b"data", name=name)
    assert response.status == 400, response.body
    assert response.json()["code"] == "invalid_field"
    assert os.listdir(root_dir) == []


@pytest.mark.parametrize("raw, rule", [
    (".", "'.' or '..'"), ("%2E%2E", "'.' or '..'"), ("x%00y", "NUL"), ("a%2Fb", "without '/'"),
    ("%FF", "UTF-8"), ("ISO-8859-1'en'%A31.txt", "UTF-8"),
])
async def test_a_bad_name_header_is_named_with_the_rule_it_breaks(api: APIClient, root_dir: Path, raw: str,
                                                                   rule: str) -> None:
    response = await api.post("api/files/upload", raw_body=b"data", headers={"X-File-Name": raw})
    assert response.status == 400, response.body
    message = response.json()["message"]
    assert message.startswith("X-File-Name") and rule in message, message
    assert os.listdir(root_dir) == []


async def test_upload_of_an_existing_name_is_409_unless_renamed(api: APIClient, root_dir: Path) -> None:
    """3"""
    (root_dir / "proj").mkdir()
    assert (await upload(api, NOTEBOOK_BYTES, Nbserver_Parent_Path="proj")).status == 201
    clash = await upload(api, b"other", Nbserver_Parent_Path="proj")
    assert clash.status == 409 and clash.json()["code"] == "name_conflict"
    assert clash.json()["conflict_path"] == "proj/a.ipynb"
    assert (root_dir / "proj" / "a.ipynb").read_bytes() == NOTEBOOK_BYTES
    renamed = await upload(api, NOTEBOOK_BYTES, params={"on_conflict": "rename"}, Nbserver_Parent_Path="proj")
    assert renamed.status == 201 and renamed.json()["path"] == "proj/a (1).ipynb"
    again = await upload(api, NOTEBOOK_BYTES, params={"on_conflict": "rename"}, Nbserver_Parent_Path="proj")
    assert again.json()["path"] == "proj/a (2).ipynb"
    assert leftovers(root_dir / "proj") == []


@pytest.mark.parametrize("name, numbered", [
    ("b" * 249 + ".ipynb", "b" * 245 + " (1).ipynb"),      # 255 bytes: the stem gives up 4 for " (1)"
    ("é" * 125 + ".txt", "é" * 123 + " (1).txt"),           # 254 bytes: whole characters only
    ("x." + "e" * 252, "x." + "e" * 249 + " (1)"),          # an extension too long to keep apart
])
async def test_rename_shortens_a_long_name_to_fit(api: APIClient, root_dir: Path, name: str, numbered: str) -> None:
    """on_conflict=rename finds a free name for a name already at the filesystem's 255-byte limit."""
    assert (await upload(api, NOTEBOOK_BYTES if name.endswith(".ipynb") else b"one", name=name)).status == 201
    second = await upload(api, NOTEBOOK_BYTES if name.endswith(".ipynb") else b"two", name=name,
                          params={"on_conflict": "rename"})
    assert second.status == 201, second.body
    assert second.json()["name"] == numbered and len(numbered.encode()) <= 255
    assert (root_dir / numbered).exists() and leftovers(root_dir) == []


async def test_overwrite_replaces_the_bytes_and_keeps_the_id_and_mode(api: APIClient, root_dir: Path) -> None:
    """3 (overwrite)"""
    first = (await upload(api, b"one", name="t.txt")).json()
    os.chmod(root_dir / "t.txt", 0o640)
    response = await upload(api, b"two", name="t.txt", params={"on_conflict": "overwrite"})
    assert response.status == 201 and response.json()["id"] == first["id"]
    assert (root_dir / "t.txt").read_bytes() == b"two" and (root_dir / "t.txt").stat().st_mode & 0o777 == 0o640


async def test_a_new_upload_gets_a_new_files_mode(api: APIClient, root_dir: Path) -> None:
    """The staging file (0600 while the body arrives) gets its final mode before the commit's fsync."""
    assert (await upload(api, b"one", name="n.txt")).status == 201
    assert (root_dir / "n.txt").stat().st_mode & 0o777 == NEW_FILE_MODE


async def test_bad_on_conflict_is_400(api: APIClient) -> None:
    assert (await upload(api, b"x", params={"on_conflict": "merge"})).status == 400


async def test_world_readable_header_must_be_a_boolean_and_parent_must_exist(api: APIClient, root_dir: Path) -> None:
    """4"""
    maybe = await upload(api, b"x", name="x.txt", Nbserver_World_Readable="maybe")
    assert maybe.status == 400 and maybe.json()["code"] == "invalid_field"
    missing = await upload(api, b"x", name="x.txt", Nbserver_Parent_Path="/nope/")
    assert missing.status == 404
    assert os.listdir(root_dir) == []


async def test_plotly_aliases_and_parent_id_are_accepted(api: APIClient, root_dir: Path) -> None:
    """Section 3.5: Plotly-* aliases, a parent id, RFC 8187 names, world readable at upload."""
    (root_dir / "charts").mkdir()
    folder = (await api.get("api/files/lookup", params={"path": "charts"})).json()["id"]
    response = await api.post("api/files/upload", raw_body=b"hello", headers={
        "X-File-Name": "UTF-8''gr%C3%BC%C3%9Fe.txt", "Plotly-Parent": folder, "Plotly-World-Readable": "true"})
    assert response.status == 201, response.body
    model = response.json()
    assert model["path"] == "charts/grüße.txt" and model["world_readable"] is True and model["share_url"]
    (root_dir / "other").mkdir()
    clash = await upload(api, b"x", name="y.txt", Nbserver_Parent=folder, Nbserver_Parent_Path="other")
    assert clash.status == 400
    tagged = await api.post("api/files/upload", raw_body=b"euro", headers={"X-File-Name": "utf-8'en-GB'%E2%82%AC2.txt"})
    assert tagged.status == 201 and tagged.json()["path"] == "€2.txt", tagged.body  # RFC 8187: a language tag


async def test_an_overwrite_keeps_the_link_without_the_header_and_false_takes_it_away(
        api: APIClient, root_dir: Path) -> None:
    first = await upload(api, b"one", name="wr.txt", Nbserver_World_Readable="true")
    assert first.status == 201 and first.json()["world_readable"] is True, first.body
    link = first.json()["share_url"].lstrip("/")
    kept = await upload(api, b"two", name="wr.txt", params={"on_conflict": "overwrite"})
    assert kept.status == 201 and kept.json()["world_readable"] is True and kept.json()["share_url"] == first.json()["share_url"]
    assert (await api.get(link + "/raw")).body == b"two"
    private = await upload(api, b"three", name="wr.txt", params={"on_conflict": "overwrite"},
                           Plotly_World_Readable="false")
    assert private.status == 201 and private.json()["world_readable"] is False and private.json()["share_url"] is None
    assert (await api.get(link + "/raw")).status == 404
    assert (root_dir / "wr.txt").read_bytes() == b"three"


async def test_an_unreadable_notebook_is_refused_and_an_invalid_one_kept_with_a_message(
        api: APIClient, root_dir: Path) -> None:
    """Section 3.5: an .ipynb is checked as a contents save checks it."""
    broken = await upload(api, b'{"cells": [', name="broken.ipynb")
    assert broken.status == 400 and "Unreadable notebook" in broken.json()["message"]
    assert broken.json()["code"] == "unreadable_notebook"
    assert os.listdir(root_dir) == []
    invalid = await upload(api, json.dumps({"nbformat": 4, "nbformat_minor": 4, "cells": "no"}).encode(),
                           name="invalid.ipynb")
    assert invalid.status == 201 and invalid.json()["message"]
    assert (root_dir / "invalid.ipynb").exists()


@pytest.fixture
def server_config() -> dict[str, Any]:
    return {"max_body_size": 4096}


async def test_a_body_over_max_body_size_is_413_and_leaves_nothing(api: APIClient, root_dir: Path) -> None:
    """5: a declared Content-Length over the limit is refused before anything is made."""
    response = await upload(api, b"x" * 10_000, name="big.bin")
    assert response.status == 413 and response.json()["reason"] == "Payload Too Large"
    assert os.listdir(root_dir) == []


async def test_a_chunked_body_over_max_body_size_is_413_and_leaves_nothing(
        http_client: Any, base_url: str, token: str, root_dir: Path) -> None:
    """5: a chunked body (no Content-Length) is cut off once it passes the limit; its staging file goes."""
    async def produce(write: Any) -> None:
        for _ in range(10):
            await write(b"y" * 1000)

    response = await http_client.fetch(
        base_url + "/api/files/upload", method="POST", body_producer=produce, raise_error=False,
        headers={"Authorization": f"token {token}", "X-File-Name": "big.bin"}, request_timeout=30)
    assert response.code == 413 and json.loads(response.body)["reason"] == "Payload Too Large"
    assert os.listdir(root_dir) == []


async def test_upload_needs_credentials(api: APIClient) -> None:
    """50"""
    response = await api.post("api/files/upload", raw_body=b"x", headers={"X-File-Name": "x"}, authenticated=False)
    assert response.status == 401
