"""PUT and PATCH /api/files/{id}: writable metadata, 400/404/409/412 (checklist 13-16)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.services.files.test_handlers import file_id, mkdir, save
from tests.support.api_client import APIClient


@pytest.mark.gen_test
async def test_patch_name_renames_and_bumps_version(api: APIClient, root_dir: Path) -> None:
    """13"""
    await mkdir(api, "proj")
    await save(api, "proj/a.ipynb")
    fid = await file_id(api, "proj/a.ipynb")
    before = (await api.get(f"api/files/{fid}")).json()
    response = await api.patch(f"api/files/{fid}", {"name": "d.ipynb"})
    assert response.status == 200
    assert response.json()["path"] == "proj/d.ipynb" and response.json()["version"] == before["version"] + 1
    assert response.headers["ETag"] == f'"{fid}-{before["version"] + 1}"'
    assert (await api.get("api/contents/proj/d.ipynb")).status == 200
    same = await api.patch(f"api/files/{fid}", {"name": "d.ipynb"})
    assert same.status == 200 and same.json()["version"] == before["version"] + 1


@pytest.mark.gen_test
async def test_patch_refusals_change_nothing(api: APIClient, root_dir: Path) -> None:
    """14"""
    await save(api, "a.txt", "a")
    await save(api, "b.txt", "b")
    fid = await file_id(api, "a.txt")
    assert (await api.patch(f"api/files/{fid}", {"name": "x/y.ipynb"})).status == 400
    assert (await api.patch(f"api/files/{fid}", {"name": ".nbserver"})).status == 400
    assert (await api.patch(f"api/files/{fid}", {"name": ".."})).status == 400
    taken = await api.patch(f"api/files/{fid}", {"name": "b.txt"})
    assert taken.status == 409 and taken.json()["code"] == "name_conflict" and taken.json()["conflict_path"] == "b.txt"
    read_only = await api.patch(f"api/files/{fid}", {"id": "x"})
    assert read_only.status == 400 and read_only.json()["code"] == "read_only_field"
    unknown = await api.patch(f"api/files/{fid}", {"nmae": "z"})
    assert unknown.status == 400 and unknown.json()["code"] == "invalid_field"
    assert (await api.patch(f"api/files/{fid}", {})).status == 400
    assert (await api.patch(f"api/files/{fid}", {"world_readable": "yes"})).status == 400
    assert (root_dir / "a.txt").read_text() == "a" and (root_dir / "b.txt").read_text() == "b"
    assert (await api.get(f"api/files/{fid}")).json()["version"] == 1


@pytest.mark.gen_test
async def test_patch_parent_and_put(api: APIClient, root_dir: Path) -> None:
    """15"""
    await mkdir(api, "A")
    await mkdir(api, "B")
    await mkdir(api, "other")
    await save(api, "a.txt", "a")
    fid, folder_a = await file_id(api, "a.txt"), await file_id(api, "A")
    both = await api.patch(f"api/files/{fid}", {"parent": folder_a, "parent_path": "/B/"})
    assert both.status == 400
    moved = await api.patch(f"api/files/{fid}", {"parent_path": "/other/"})
    assert moved.status == 200 and moved.json()["path"] == "other/a.txt"
    assert (root_dir / "other" / "a.txt").read_text() == "a"
    assert (await api.patch(f"api/files/{fid}", {"parent": folder_a})).json()["path"] == "A/a.txt"
    assert (await api.patch(f"api/files/{fid}", {"parent": "root"})).json()["path"] == "a.txt"
    assert (await api.patch(f"api/files/{fid}", {"parent_path": "nope"})).status == 404
    assert (await api.patch(f"api/files/{folder_a}", {"parent": folder_a})).status == 400
    missing = await api.put(f"api/files/{fid}", {"name": "e.ipynb"})
    assert missing.status == 400 and "parent_path" in missing.json()["message"]
    put = await api.put(f"api/files/{fid}", {"name": "e.txt", "parent_path": "B", "world_readable": False})
    assert put.status == 200 and put.json()["path"] == "B/e.txt"


@pytest.mark.gen_test
async def test_stale_if_match_is_412(api: APIClient, root_dir: Path) -> None:
    """16"""
    await save(api, "a.txt", "a")
    fid = await file_id(api, "a.txt")
    assert (await api.patch(f"api/files/{fid}", {"name": "b.txt"}, headers={"If-Match": f'"{fid}-1"'})).status == 200
    stale = await api.patch(f"api/files/{fid}", {"name": "c.txt"}, headers={"If-Match": f'"{fid}-1"'})
    assert stale.status == 412 and stale.json()["code"] == "precondition_failed"
    assert (root_dir / "b.txt").is_file() and not (root_dir / "c.txt").exists()


@pytest.mark.gen_test
async def test_trashed_items_take_only_world_readable_false(api: APIClient) -> None:
    await save(api, "a.txt", "a")
    fid = await file_id(api, "a.txt")
    assert (await api.patch(f"api/files/{fid}", {"world_readable": True})).json()["world_readable"] is True
    assert (await api.post(f"api/files/{fid}/trash")).status == 200
    refused = await api.patch(f"api/files/{fid}", {"name": "b.txt"})
    assert refused.status == 409 and refused.json()["code"] == "trashed"
    assert (await api.patch(f"api/files/{fid}", {"world_readable": False})).json()["world_readable"] is False
