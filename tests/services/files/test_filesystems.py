"""Trash on a second filesystem mounted inside the root (checklist 30): one rename into that
filesystem's own ``.nbserver-trash``, or 409 ``no_trash_here`` where none can be made."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from tests.services.files.test_handlers import file_id
from tests.support.api_client import APIClient
from tests.support.mounts import immutable, tmpfs


@pytest.fixture
def mounted(root_dir: Path) -> Iterator[Path]:
    with tmpfs(root_dir / "mnt") as mount:
        (mount / "sub").mkdir()
        (mount / "sub" / "x.txt").write_text("on tmpfs")
        yield mount


@pytest.mark.gen_test
async def test_trash_on_a_mount_uses_its_own_trash(api: APIClient, mounted: Path) -> None:
    fid = await file_id(api, "mnt/sub/x.txt")
    trashed = await api.post(f"api/files/{fid}/trash")
    assert trashed.status == 200 and trashed.json()["trashed"] is True
    assert [p.read_text() for p in (mounted / ".nbserver-trash").glob("*/x.txt")] == ["on tmpfs"]
    assert ".nbserver-trash" not in {c["name"] for c in (await api.get("api/contents/mnt")).json()["content"]}
    assert (await api.get("api/contents/mnt/.nbserver-trash")).status == 404
    assert (await api.get("api/trash")).json()["total"] == 1
    assert (await api.post(f"api/files/{fid}/restore")).status == 200
    assert (mounted / "sub" / "x.txt").read_text() == "on tmpfs"
    assert list((mounted / ".nbserver-trash").iterdir()) == []


@pytest.mark.gen_test
async def test_no_trash_here_is_409_and_deletes_only_when_confirmed(api: APIClient, mounted: Path) -> None:
    """30: the mount's top cannot take a trash folder (immutable): nothing is deleted unasked."""
    fid = await file_id(api, "mnt/sub/x.txt")
    with immutable(mounted):
        refused = await api.post(f"api/files/{fid}/trash")
        assert refused.status == 409 and refused.json()["code"] == "no_trash_here"
        assert (mounted / "sub" / "x.txt").read_text() == "on tmpfs"
        contents_delete = await api.delete("api/contents/mnt/sub/x.txt")
        assert contents_delete.status == 409 and contents_delete.json()["code"] == "no_trash_here"
        assert (mounted / "sub" / "x.txt").is_file()
        live = await api.delete(f"api/files/{fid}/permanent_delete")
        assert live.status == 409 and live.json()["code"] == "not_trashed"
        assert (await api.delete(f"api/files/{fid}/permanent_delete", params={"confirm": "no_trash"})).status == 204
        assert not (mounted / "sub" / "x.txt").exists()
        assert (await api.get(f"api/files/{fid}")).status == 404
        assert not (mounted / ".nbserver-trash").exists()


@pytest.mark.gen_test
async def test_confirm_no_trash_does_not_bypass_a_usable_trash(api: APIClient, mounted: Path) -> None:
    fid = await file_id(api, "mnt/sub/x.txt")
    refused = await api.delete(f"api/files/{fid}/permanent_delete", params={"confirm": "no_trash"})
    assert refused.status == 409 and refused.json()["code"] == "not_trashed"
    assert (mounted / "sub" / "x.txt").is_file()


@pytest.mark.gen_test
async def test_trashing_a_mount_point_is_409_mount_point(api: APIClient, mounted: Path) -> None:
    """The mount's top folder cannot move: 409 with a code a client can act on, nothing moved."""
    fid = await file_id(api, "mnt")
    refused = await api.post(f"api/files/{fid}/trash")
    assert refused.status == 409 and refused.json()["code"] == "mount_point", refused.body
    assert (mounted / "sub" / "x.txt").read_text() == "on tmpfs"
    deleted = await api.delete("api/contents/mnt")
    assert deleted.status == 409 and deleted.json()["code"] == "mount_point", deleted.body
    assert (mounted / "sub" / "x.txt").read_text() == "on tmpfs"
