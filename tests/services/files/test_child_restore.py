"""Restoring a child of a trashed folder brings its checkpoint back with it.

Design section 3.6/4.1: "Checkpoints move into the trash entry with their file and come back on
restore"; "Restoring a child of a trashed folder moves just that child out". The child's
checkpoint travelled inside the folder (``F/.ipynb_checkpoints/``) and stayed there: the restored
notebook had no checkpoint, and a later restore of the folder brought back an orphan checkpoint.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.services.files.test_handlers import file_id, mkdir, save
from tests.support.api_client import APIClient


@pytest.mark.gen_test
async def test_child_restore_brings_its_checkpoint(api: APIClient, root_dir: Path) -> None:
    await mkdir(api, "F")
    await mkdir(api, "F/sub")
    await save(api, "F/sub/x.ipynb")
    assert (await api.post("api/contents/F/sub/x.ipynb/checkpoints")).status == 201
    checkpoint = (root_dir / "F" / "sub" / ".ipynb_checkpoints" / "x-checkpoint.ipynb").read_bytes()
    folder, child = await file_id(api, "F"), await file_id(api, "F/sub/x.ipynb")
    assert (await api.post(f"api/files/{folder}/trash")).status == 200
    assert (await api.post(f"api/files/{child}/restore")).status == 200
    assert [c["id"] for c in (await api.get("api/contents/F/sub/x.ipynb/checkpoints")).json()] == ["checkpoint"]
    assert (root_dir / "F" / "sub" / ".ipynb_checkpoints" / "x-checkpoint.ipynb").read_bytes() == checkpoint
    assert list((root_dir / ".nbserver" / "trash").glob("*/F/sub/.ipynb_checkpoints/*")) == []


@pytest.mark.gen_test
async def test_child_restore_keeps_a_checkpoint_already_there(api: APIClient, root_dir: Path) -> None:
    """Restored elsewhere next to a file with the same checkpoint name: nothing is overwritten."""
    await mkdir(api, "F")
    await save(api, "F/x.ipynb")
    assert (await api.post("api/contents/F/x.ipynb/checkpoints")).status == 201
    folder, child = await file_id(api, "F"), await file_id(api, "F/x.ipynb")
    assert (await api.post(f"api/files/{folder}/trash")).status == 200
    await mkdir(api, "G")
    (root_dir / "G" / ".ipynb_checkpoints").mkdir()
    (root_dir / "G" / ".ipynb_checkpoints" / "x-checkpoint.ipynb").write_text("someone else's")
    assert (await api.post(f"api/files/{child}/restore", {"path": "G/x.ipynb"})).status == 200
    assert (root_dir / "G" / ".ipynb_checkpoints" / "x-checkpoint.ipynb").read_text() == "someone else's"


@pytest.mark.gen_test
async def test_child_purge_takes_its_checkpoint(api: APIClient, root_dir: Path) -> None:
    """permanent_delete of a child of a trashed folder leaves no orphan checkpoint for the folder's restore."""
    await mkdir(api, "F")
    await save(api, "F/x.ipynb")
    await save(api, "F/y.ipynb")
    for name in ("x", "y"):
        assert (await api.post(f"api/contents/F/{name}.ipynb/checkpoints")).status == 201
    folder, child = await file_id(api, "F"), await file_id(api, "F/x.ipynb")
    assert (await api.post(f"api/files/{folder}/trash")).status == 200
    assert (await api.delete(f"api/files/{child}/permanent_delete")).status == 204
    assert (await api.post(f"api/files/{folder}/restore")).status == 200
    assert sorted(p.name for p in (root_dir / "F" / ".ipynb_checkpoints").iterdir()) == ["y-checkpoint.ipynb"]
