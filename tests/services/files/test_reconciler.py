"""Changes made outside the server (checklist 11, 12; section 3.7 rules 5-7): the reconciler."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.services.files.test_handlers import file_id, mkdir, save
from tests.support.api_client import APIClient


@pytest.mark.gen_test
async def test_move_outside_the_server_is_followed_by_inode(api: APIClient, root_dir: Path) -> None:
    """11: an os.rename outside the server; the id's path follows (on demand: the id's path vanished)."""
    await mkdir(api, "proj2")
    await save(api, "proj2/b.ipynb")
    fid = await file_id(api, "proj2/b.ipynb")
    (root_dir / "proj2" / "sub").mkdir()
    os.rename(root_dir / "proj2" / "b.ipynb", root_dir / "proj2" / "sub" / "c.ipynb")
    assert (await api.get(f"api/files/{fid}/path")).json() == {"id": fid, "path": "proj2/sub/c.ipynb"}
    assert await file_id(api, "proj2/sub/c.ipynb") == fid


@pytest.mark.gen_test
async def test_folder_moved_outside_carries_its_children(api: APIClient, server_app: Any, root_dir: Path) -> None:
    await mkdir(api, "F")
    await save(api, "F/x.txt", "x")
    folder, child = await file_id(api, "F"), await file_id(api, "F/x.txt")
    os.rename(root_dir / "F", root_dir / "G")
    report = await server_app.file_services.reconcile()
    assert report.moved == 1
    assert (await api.get(f"api/files/{folder}/path")).json()["path"] == "G"
    assert (await api.get(f"api/files/{child}/path")).json()["path"] == "G/x.txt"


@pytest.mark.gen_test
async def test_atomic_rewrite_at_the_same_path_keeps_the_id(api: APIClient, server_app: Any, root_dir: Path) -> None:
    """12: write-temp-and-rename (a new inode) at the same path."""
    await save(api, "a.txt", "one")
    fid = await file_id(api, "a.txt")
    (root_dir / "tmp-a").write_text("two")
    os.replace(root_dir / "tmp-a", root_dir / "a.txt")
    await server_app.file_services.reconcile()
    assert await file_id(api, "a.txt") == fid
    assert (await api.get(f"api/files/{fid}")).json()["size"] == 3


@pytest.mark.gen_test
async def test_vanished_file_goes_missing_then_revives(api: APIClient, server_app: Any, root_dir: Path) -> None:
    """Rule 7: a path gone outside the server is 404 but its id comes back with the path."""
    await save(api, "a.txt", "one")
    fid = await file_id(api, "a.txt")
    content = (root_dir / "a.txt").read_bytes()
    (root_dir / "a.txt").unlink()
    assert (await api.get(f"api/files/{fid}")).status == 404
    assert (await server_app.file_services.reconcile()).missing == 0  # already marked by the 404's crawl
    (root_dir / "a.txt").write_bytes(content)
    report = await server_app.file_services.reconcile()
    assert report.revived + report.moved == 1  # the new file may reuse the old inode number
    assert (await api.get(f"api/files/{fid}")).json()["path"] == "a.txt"
