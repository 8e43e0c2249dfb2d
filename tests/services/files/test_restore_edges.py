"""Restore and trash at their edges (issue 14's tester): which parent blocks a restore, a
255-byte name restored as a copy, and the size of a trashed folder when a child leaves it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nbserver.services.contents.fileio import NAME_MAX
from tests.services.files.test_handlers import file_id, mkdir, save
from tests.support.api_client import APIClient


@pytest.mark.gen_test
async def test_a_parent_that_became_a_file_is_the_conflict_path(api: APIClient, root_dir: Path) -> None:
    await mkdir(api, "F")
    await mkdir(api, "F/sub")
    await save(api, "F/sub/x.txt", "x")
    fid = await file_id(api, "F/sub/x.txt")
    assert (await api.post(f"api/files/{fid}/trash")).status == 200
    (root_dir / "F" / "sub").rmdir()
    (root_dir / "F" / "sub").write_text("now a file")
    refused = await api.post(f"api/files/{fid}/restore")
    assert refused.status == 409, refused.body
    assert (refused.json()["code"], refused.json()["conflict_path"]) == ("restore_conflict", "F/sub")
    assert (root_dir / "F" / "sub").read_text() == "now a file"
    assert (await api.get(f"api/files/{fid}")).json()["trashed"] is True


@pytest.mark.gen_test
async def test_restoring_a_255_byte_name_as_a_copy_shortens_the_name(api: APIClient, root_dir: Path) -> None:
    name = "é" * ((NAME_MAX - 4) // 2) + "x.txt"  # two-byte characters up to the limit
    assert len(os.fsencode(name)) == NAME_MAX
    await save(api, name, "old")
    fid = await file_id(api, name)
    assert (await api.post(f"api/files/{fid}/trash")).status == 200
    await save(api, name, "new")
    restored = await api.post(f"api/files/{fid}/restore", {"on_conflict": "rename"})
    assert restored.status == 200, restored.body
    path = restored.json()["path"]
    assert path != name and len(os.fsencode(path)) <= NAME_MAX and path.endswith(".txt")
    assert (root_dir / path).read_text() == "old" and (root_dir / name).read_text() == "new"
    again = await api.post(f"api/files/{await file_id(api, name)}/trash")
    assert again.status == 200
    second = await api.post(f"api/files/{again.json()['id']}/restore", {"on_conflict": "rename"})
    assert second.status == 200 and second.json()["path"] == name  # the name is free again


@pytest.mark.gen_test
async def test_restoring_a_255_byte_name_twice_as_copies_gives_two_names(api: APIClient, root_dir: Path) -> None:
    name = "n" * (NAME_MAX - 6) + ".ipynb"
    ids = []
    for _ in range(3):
        await save(api, name)
        ids.append(await file_id(api, name))
        assert (await api.post(f"api/files/{ids[-1]}/trash")).status == 200
    await save(api, name)
    paths = set()
    for fid in ids[:2]:
        restored = await api.post(f"api/files/{fid}/restore", {"on_conflict": "rename"})
        assert restored.status == 200, restored.body
        paths.add(restored.json()["path"])
    assert len(paths) == 2 and all(len(os.fsencode(path)) <= NAME_MAX for path in paths)


async def trash_item(api: APIClient, path: str) -> dict[str, object]:
    items = (await api.get("api/trash")).json()["items"]
    [item] = [item for item in items if item["path"] == path]
    return dict(item)


@pytest.mark.gen_test
async def test_a_trashed_folder_shrinks_when_a_child_is_restored_or_purged(api: APIClient) -> None:
    await mkdir(api, "F")
    await save(api, "F/a.txt", "a" * 1000)
    await save(api, "F/b.txt", "b" * 300)
    await save(api, "F/c.txt", "c" * 20)
    folder, a, b = await file_id(api, "F"), await file_id(api, "F/a.txt"), await file_id(api, "F/b.txt")
    assert (await api.post(f"api/files/{folder}/trash")).status == 200
    assert (await trash_item(api, "F"))["size"] == 1320
    assert (await api.post(f"api/files/{a}/restore")).status == 200
    assert (await trash_item(api, "F"))["size"] == 320
    assert (await api.delete(f"api/files/{b}/permanent_delete")).status == 204
    assert (await trash_item(api, "F"))["size"] == 20
    assert (await api.get("api/trash")).json()["total_size"] == 20
