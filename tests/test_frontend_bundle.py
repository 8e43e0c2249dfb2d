"""The committed browser bundles (nbserver/static/dist/) are what their sources build, byte for byte,
and a wheel built without Node.js carries them.

The rebuild runs the README's command, ``bash scripts/build-frontend``, on a copy of ``frontend/``
(``npm ci`` from package-lock.json, then esbuild), so a change to the sources or the lock file
without a rebuild, or a build that is not reproducible, fails here.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DIST = REPO / "nbserver" / "static" / "dist"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` by its relative POSIX path."""
    return {path.relative_to(root).as_posix(): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def test_committed_bundles_match_a_fresh_build_from_the_lock_file(tmp_path: Path) -> None:
    if shutil.which("npm") is None or shutil.which("node") is None:
        pytest.skip("Node.js and npm are needed to rebuild the bundles")
    copy = tmp_path / "repo"
    (copy / "scripts").mkdir(parents=True)
    shutil.copy2(REPO / "scripts" / "build-frontend", copy / "scripts" / "build-frontend")
    shutil.copytree(REPO / "frontend", copy / "frontend", ignore=shutil.ignore_patterns("node_modules"))
    out = tmp_path / "dist"
    subprocess.run(["bash", str(copy / "scripts" / "build-frontend"), "--out", str(out)],
                   check=True, timeout=600, capture_output=True)
    built, committed = tree_bytes(out), tree_bytes(DIST)
    assert sorted(built) == sorted(committed)
    differing = [name for name in built if built[name] != committed[name]]
    assert differing == [], "rebuild with `bash scripts/build-frontend` and commit nbserver/static/dist/"


def test_wheel_carries_the_bundles(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "-w", str(tmp_path), str(REPO)], check=True, timeout=600, capture_output=True)
    (wheel,) = tmp_path.glob("nbserver-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    expected = {f"nbserver/static/dist/{name}" for name in tree_bytes(DIST)}
    assert expected <= names
