"""Moves across filesystems: ``vol/`` is a real tmpfs mounted inside the root.

A file or folder moved there (or back) arrives whole with its checkpoints, owner, mode and
times, and the source goes only after; a move that cannot complete (the target fills up)
leaves the source untouched and no partial copy.
"""

from __future__ import annotations

import os
import pwd
from pathlib import Path
from typing import Iterator

import pytest

from nbserver.services.contents import moves
from tests.support.mounts import fill, tmpfs

NOBODY = pwd.getpwnam("nobody")


def leftovers(folder: Path) -> list[str]:
    return [name for name in os.listdir(folder) if name.startswith(".~nbserver")]


@pytest.fixture
def volume(root_dir: Path) -> Iterator[Path]:
    with tmpfs(root_dir / "vol", size="2m") as mounted:
        yield mounted


def make_tree(folder: Path) -> None:
    """A folder with a nested folder, a notebook, a symlink and a checkpoint inside."""
    (folder / "deeper").mkdir(parents=True)
    (folder / "a.txt").write_text("a")
    (folder / "deeper" / "n.ipynb").write_text('{"cells": []}')
    (folder / "link").symlink_to("a.txt")
    (folder / ".ipynb_checkpoints").mkdir()
    (folder / ".ipynb_checkpoints" / "a-checkpoint.txt").write_text("a0")


def tree_of(folder: Path) -> dict[str, str | bytes]:
    """Every entry under ``folder``: file bytes, link target, or "/" for a folder."""
    entries = {}
    for parent, folders, files in os.walk(folder):
        for name in folders + files:
            path = Path(parent) / name
            key = str(path.relative_to(folder))
            if path.is_symlink():
                entries[key] = "-> " + os.readlink(path)
            elif path.is_dir():
                entries[key] = "/"
            else:
                entries[key] = path.read_bytes()
    return entries


@pytest.mark.gen_test
async def test_a_file_moves_to_another_filesystem_with_its_checkpoint(api, root_dir, volume):
    (root_dir / "report.txt").write_text("report")
    assert (await api.post("api/contents/report.txt/checkpoints")).status == 201
    os.chown(root_dir / "report.txt", NOBODY.pw_uid, NOBODY.pw_gid)
    os.chmod(root_dir / "report.txt", 0o640)
    os.utime(root_dir / "report.txt", (1_000_000_000, 1_000_000_000))
    response = await api.patch("api/contents/report.txt", {"path": "vol/report.txt"})
    assert response.status == 200 and response.json()["path"] == "vol/report.txt"
    moved = volume / "report.txt"
    assert moved.read_text() == "report" and not (root_dir / "report.txt").exists()
    info = moved.stat()
    assert (info.st_uid, info.st_mode & 0o777, int(info.st_mtime)) == (NOBODY.pw_uid, 0o640, 1_000_000_000)
    checkpoints = (await api.get("api/contents/vol/report.txt/checkpoints")).json()
    assert [c["id"] for c in checkpoints] == ["checkpoint"]
    assert (volume / ".ipynb_checkpoints" / "report-checkpoint.txt").read_text() == "report"
    assert not (root_dir / ".ipynb_checkpoints" / "report-checkpoint.txt").exists()
    assert leftovers(volume) == [] and leftovers(root_dir) == []


@pytest.mark.gen_test
async def test_a_folder_moves_whole_to_another_filesystem_and_back(api, root_dir, volume):
    make_tree(root_dir / "project")
    expected = tree_of(root_dir / "project")
    response = await api.patch("api/contents/project", {"path": "vol/project"})
    assert response.status == 200 and response.json()["type"] == "directory"
    assert tree_of(volume / "project") == expected and not (root_dir / "project").exists()
    back = await api.patch("api/contents/vol/project", {"path": "project"})
    assert back.status == 200
    assert tree_of(root_dir / "project") == expected and not (volume / "project").exists()
    assert leftovers(volume) == [] and leftovers(root_dir) == []


@pytest.mark.gen_test
async def test_a_folder_too_big_for_the_target_is_507_and_nothing_moves(api, root_dir):
    make_tree(root_dir / "project")
    for index in range(8):
        (root_dir / "project" / f"big{index}.bin").write_bytes(os.urandom(40_000))
    before = tree_of(root_dir / "project")
    with tmpfs(root_dir / "small", size="128k") as small:
        response = await api.patch("api/contents/project", {"path": "small/project"})
        assert response.status == 507 and "disk is full" in response.json()["message"]
        assert os.listdir(small) == []  # no partial copy, not even hidden
        assert tree_of(root_dir / "project") == before


@pytest.mark.gen_test
async def test_a_file_too_big_for_the_target_is_507_and_stays(api, root_dir):
    (root_dir / "big.bin").write_bytes(b"x" * 200_000)
    with tmpfs(root_dir / "small", size="64k") as small:
        response = await api.patch("api/contents/big.bin", {"path": "small/big.bin"})
        assert response.status == 507
        assert os.listdir(small) == [] and (root_dir / "big.bin").read_bytes() == b"x" * 200_000


@pytest.mark.gen_test
async def test_a_move_onto_a_full_target_keeps_the_checkpoint_with_the_source(api, root_dir):
    (root_dir / "a.txt").write_text("a" * 10_000)
    assert (await api.post("api/contents/a.txt/checkpoints")).status == 201
    with tmpfs(root_dir / "small", size="64k") as small:
        fill(small)
        assert (await api.patch("api/contents/a.txt", {"path": "small/a.txt"})).status == 507
        assert [c["id"] for c in (await api.get("api/contents/a.txt/checkpoints")).json()] == ["checkpoint"]


# -- the module on its own ----------------------------------------------------------------

def test_move_on_one_filesystem_is_a_rename_keeping_the_inode(tmp_path):
    (tmp_path / "a.txt").write_text("x")
    inode = (tmp_path / "a.txt").stat().st_ino
    moves.move(str(tmp_path / "a.txt"), str(tmp_path / "b.txt"))
    assert (tmp_path / "b.txt").stat().st_ino == inode and not (tmp_path / "a.txt").exists()


def test_copy_whole_of_a_folder_with_a_pipe_is_refused_and_leaves_nothing(tmp_path):
    from nbserver.errors import InvalidInput

    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.txt").write_text("x")
    os.mkfifo(tmp_path / "src" / "pipe")
    (tmp_path / "dst").mkdir()
    with pytest.raises(InvalidInput):
        moves.copy_whole(str(tmp_path / "src"), str(tmp_path / "dst" / "copy"))
    assert os.listdir(tmp_path / "dst") == []


def test_a_symlink_moves_across_filesystems_as_a_link(tmp_path, root_dir):
    (root_dir / "link").symlink_to("somewhere/else")
    with tmpfs(root_dir / "vol") as volume:
        moves.move(str(root_dir / "link"), str(volume / "link"))
        assert os.readlink(volume / "link") == "somewhere/else" and not os.path.lexists(root_dir / "link")
