"""Start-up adoption of trash sidecars (``.trashinfo.json``) after the database was lost.

Design section 4.1/4.3: each trashed item keeps a small record beside it so the trash survives
losing the database. A sidecar is a file on disk that anything with access to the folder can
change; one that does not describe a valid item (a path with ``..``, a reserved name, an unknown
type, a date that is not a date) is skipped, and never stops the others from being adopted nor
breaks ``GET /api/trash`` (which answered 400 or 500 for the whole listing).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.services.files.test_crash import CONTENT, call, prepare
from tests.support.server_process import ServerProcess

pytestmark = pytest.mark.slow

BAD_FIELDS = [
    {"original_path": "../outside.txt"},
    {"original_path": "/d/abs.txt"},
    {"original_path": ".nbserver/x.txt"},
    {"original_path": ""},
    {"original_path": 7},
    {"type": "bogus"},
    {"trashed_at": "garbage"},
    {"trashed_at": None},
    {"trashed_at": "2026-11-29T22:39:11"},
    {"size": "big"},
]


def test_invalid_sidecars_are_skipped_and_the_rest_adopted(root_dir: Path) -> None:
    fid = prepare(root_dir, trashed=True)
    trash = root_dir / ".nbserver" / "trash"
    [entry] = trash.iterdir()
    good = json.loads((entry / ".trashinfo.json").read_text())
    for number, bad in enumerate(BAD_FIELDS):
        trash_id = f"{number:032x}"
        forged = trash / trash_id
        forged.mkdir()
        name = bad["original_path"].rsplit("/", 1)[-1] if isinstance(bad.get("original_path"), str) else "a.txt"
        (forged / (name or "a.txt")).write_text("forged")
        (forged / ".trashinfo.json").write_text(json.dumps({
            **good, "trash_id": trash_id, "file_id": f"0f0f0f0f-0f0f-4f0f-8f0f-{number:012x}", **bad}))
    for name in ("meta.sqlite", "meta.sqlite-wal", "meta.sqlite-shm"):
        (root_dir / ".nbserver" / name).unlink(missing_ok=True)
    with ServerProcess(root_dir) as server:
        status, listing = call(server, "GET", "api/trash")
        assert status == 200, listing
        assert [item["id"] for item in listing["items"]] == [fid]
        assert call(server, "POST", f"api/files/{fid}/restore")[0] == 200
    assert (root_dir / "d" / "a.txt").read_bytes() == CONTENT
    assert not (root_dir.parent / "outside.txt").exists()
