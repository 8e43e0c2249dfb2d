"""Small files read on the event loop: only inside the root, only what the kernel has at hand."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nbserver.errors import InvalidInput, NotFound
from nbserver.services.contents import nowait
from nbserver.services.contents.filemanager import FileContentsManager

pytestmark = pytest.mark.skipif(not nowait.available(), reason="needs Linux openat2 and RWF_NOWAIT")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "root"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "a.txt").write_bytes(b"hello")
    return folder


def test_a_small_file_is_read_with_its_stat(root: Path):
    info, data = nowait.read_small_file(str(root), "sub/a.txt", 100)  # type: ignore[misc]
    assert data == b"hello" and info.st_size == 5 and info.st_ino == (root / "sub" / "a.txt").stat().st_ino


def test_an_empty_file_is_read(root: Path):
    (root / "empty").write_bytes(b"")
    assert nowait.read_small_file(str(root), "empty", 100)[1] == b""  # type: ignore[index]


def test_a_file_over_the_limit_is_left_to_the_thread_pool(root: Path):
    assert nowait.read_small_file(str(root), "sub/a.txt", 4) is None


@pytest.mark.timeout(10)
def test_folders_fifos_and_missing_files_are_left_to_the_thread_pool(root: Path):
    os.mkfifo(root / "pipe")
    for name in ("sub", "pipe", "missing", ""):
        assert nowait.read_small_file(str(root), name, 100) is None


def test_symbolic_links_out_of_the_root_are_never_followed(root: Path, tmp_path: Path):
    (tmp_path / "outside.txt").write_bytes(b"secret")
    (root / "abs-out").symlink_to(tmp_path / "outside.txt")
    (root / "rel-out").symlink_to("../outside.txt")
    (root / "sub" / "up").symlink_to("../../outside.txt")
    for name in ("abs-out", "rel-out", "sub/up"):
        assert nowait.read_small_file(str(root), name, 100) is None


def test_a_relative_link_inside_the_root_is_followed(root: Path):
    (root / "in").symlink_to("sub/a.txt")
    assert nowait.read_small_file(str(root), "in", 100)[1] == b"hello"  # type: ignore[index]


@pytest.mark.gen_test
async def test_the_manager_serves_a_replaced_file_fresh_and_links_as_before(root: Path, tmp_path: Path):
    manager = FileContentsManager(root_dir=str(root))
    first = await manager.open_file("sub/a.txt")
    (root / "new").write_bytes(b"replaced")
    os.replace(root / "new", root / "sub" / "a.txt")
    second = await manager.open_file("sub/a.txt")
    assert (second.size, second.etag != first.etag) == (8, True)
    assert b"".join([chunk async for chunk in second.read(0, second.size)]) == b"replaced"
    # An absolute link that stays in the root: refused here, served by the realpath path as before.
    (root / "abs-in").symlink_to(root / "sub" / "a.txt")
    assert nowait.read_small_file(str(root), "abs-in", 100) is None
    assert (await manager.open_file("abs-in")).size == 8


@pytest.mark.gen_test
async def test_hidden_and_outside_files_stay_not_found_through_the_manager(root: Path, tmp_path: Path):
    (root / ".hidden").write_bytes(b"secret")
    (tmp_path / "outside.txt").write_bytes(b"secret")
    (root / "out").symlink_to(tmp_path / "outside.txt")
    manager = FileContentsManager(root_dir=str(root))
    for name in (".hidden", "out", "sub/../.hidden"):
        with pytest.raises((NotFound, InvalidInput)):
            await manager.open_file(name)
