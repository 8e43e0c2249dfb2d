"""The mount table (nbserver/services/files/mounts.py): escaped paths, filesystem types, mounts inside a root."""

from __future__ import annotations

from pathlib import Path

from nbserver.services.files import mounts
from tests.support.mounts import tmpfs


def test_escaped_mount_points_are_decoded(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "a dir\\with") as mount:
        assert str(mount) in mounts.mount_points_inside(str(tmp_path))
        assert mounts.filesystem_type(str(mount / "file")) == "tmpfs"


def test_only_mounts_strictly_inside_the_root_are_listed(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    with tmpfs(tmp_path / "root" / "inner") as inner, tmpfs(tmp_path / "rootless"):
        assert mounts.mount_points_inside(str(tmp_path / "root")) == [str(inner)]
        assert mounts.mount_points_inside(str(inner)) == []
