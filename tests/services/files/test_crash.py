"""Crash consistency (checklist 31): a real server killed with SIGKILL at each step of trash,
restore and purge leaves the item live or in the trash, never neither, after a restart.

``FileServices.debug_pause_at`` (a test-only setting) stops the operation at a named step; the
test then kills the process group with SIGKILL and starts a fresh server on the same root.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.support.mounts import tmpfs
from tests.support.server_process import ServerProcess

pytestmark = pytest.mark.slow
CONTENT = b"precious bytes\n"


def call(server: ServerProcess, method: str, path: str, body: Any = None, timeout: float = 20) -> tuple[int, Any]:
    request = urllib.request.Request(
        server.base_url + path, method=method, data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"token {server.token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        return exc.code, json.loads(raw) if raw else None


def kill_at(root: Path, step: str, method: str, path: str) -> None:
    """Start a server that stops at ``step``, send the request, SIGKILL the server's group there."""
    with ServerProcess(root, f"--FileServices.debug_pause_at={step}") as server:
        def send() -> None:
            with contextlib.suppress(OSError):  # the connection dies with the server
                call(server, method, path, None, 30)

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        deadline = time.monotonic() + 20
        while f"stopped at {step}" not in server.log:
            assert time.monotonic() < deadline, server.log
            time.sleep(0.05)
        os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait(timeout=10)
        assert server.process.returncode == -signal.SIGKILL
        sender.join(timeout=10)


def state_after_restart(root: Path, fid: str) -> str:
    """'live', 'trashed' or 'gone', checked for consistency across the API and the disk."""
    with ServerProcess(root) as server:
        status, model = call(server, "GET", f"api/files/{fid}")
        live_on_disk = (root / "d" / "a.txt").is_file()
        trash = call(server, "GET", "api/trash")[1]
        listed = [item["id"] for item in trash["items"]]
        if status == 404:
            assert not live_on_disk and fid not in listed
            return "gone"
        assert status == 200
        if model["trashed"]:
            assert not live_on_disk and listed == [fid]
            entry = root / ".nbserver" / "trash"
            assert [p.read_bytes() for p in entry.glob("*/a.txt")] == [CONTENT]
            assert call(server, "GET", "api/contents/d/a.txt")[0] == 404
            return "trashed"
        assert live_on_disk and (root / "d" / "a.txt").read_bytes() == CONTENT and listed == []
        assert call(server, "GET", f"api/files/{fid}/path")[1] == {"id": fid, "path": "d/a.txt"}
        return "live"


def prepare(root: Path, trashed: bool) -> str:
    (root / "d").mkdir()
    (root / "d" / "a.txt").write_bytes(CONTENT)
    with ServerProcess(root) as server:
        fid = str(call(server, "GET", "api/files/lookup?path=d/a.txt")[1]["id"])
        if trashed:
            assert call(server, "POST", f"api/files/{fid}/trash")[0] == 200
    return fid


@pytest.mark.parametrize(("step", "expected"), [
    ("trash:intent", {"live"}), ("trash:sidecar", {"live"}), ("trash:renamed", {"trashed"}),
])
def test_trash_killed_at_each_step(root_dir: Path, step: str, expected: set[str]) -> None:
    fid = prepare(root_dir, trashed=False)
    kill_at(root_dir, step, "POST", f"api/files/{fid}/trash")
    assert state_after_restart(root_dir, fid) in expected


@pytest.mark.parametrize(("step", "expected"), [
    ("restore:intent", {"trashed"}), ("restore:moved", {"live"}),
])
def test_restore_killed_at_each_step(root_dir: Path, step: str, expected: set[str]) -> None:
    fid = prepare(root_dir, trashed=True)
    kill_at(root_dir, step, "POST", f"api/files/{fid}/restore")
    assert state_after_restart(root_dir, fid) in expected


@pytest.mark.parametrize("step", ["purge:intent", "purge:removed"])
def test_purge_killed_at_each_step_finishes_at_restart(root_dir: Path, step: str) -> None:
    fid = prepare(root_dir, trashed=True)
    kill_at(root_dir, step, "DELETE", f"api/files/{fid}/permanent_delete")
    assert state_after_restart(root_dir, fid) == "gone"
    assert list((root_dir / ".nbserver" / "trash").iterdir()) == []


def test_trash_survives_losing_the_database(root_dir: Path) -> None:
    """The sidecar rebuilds the trash record: listed again, restorable with the same id and bytes."""
    fid = prepare(root_dir, trashed=True)
    for name in ("meta.sqlite", "meta.sqlite-wal", "meta.sqlite-shm"):
        (root_dir / ".nbserver" / name).unlink(missing_ok=True)
    with ServerProcess(root_dir) as server:
        listing = call(server, "GET", "api/trash")[1]
        assert [item["id"] for item in listing["items"]] == [fid]
        assert listing["items"][0]["original_path"] == "d/a.txt"
        assert call(server, "POST", f"api/files/{fid}/restore")[0] == 200
    assert (root_dir / "d" / "a.txt").read_bytes() == CONTENT


def test_a_mount_trash_survives_losing_the_database(root_dir: Path) -> None:
    """A filesystem mounted inside the root keeps its own .nbserver-trash: start-up recovery adopts
    its entries from their sidecars too, and only those naming a path on that mount."""
    with tmpfs(root_dir / "mnt") as mount:
        (mount / "sub").mkdir()
        (mount / "sub" / "x.txt").write_bytes(CONTENT)
        with ServerProcess(root_dir) as server:
            fid = str(call(server, "GET", "api/files/lookup?path=mnt/sub/x.txt")[1]["id"])
            assert call(server, "POST", f"api/files/{fid}/trash")[0] == 200
        [entry] = (mount / ".nbserver-trash").iterdir()
        forged = mount / ".nbserver-trash" / ("f" * 32)
        forged.mkdir()
        (forged / "y.txt").write_text("not from this mount")
        sidecar = json.loads((entry / ".trashinfo.json").read_text())
        (forged / ".trashinfo.json").write_text(json.dumps({
            **sidecar, "trash_id": forged.name, "file_id": "0f0f0f0f-0f0f-4f0f-8f0f-0f0f0f0f0f0f",
            "original_path": "elsewhere/y.txt"}))
        for name in ("meta.sqlite", "meta.sqlite-wal", "meta.sqlite-shm"):
            (root_dir / ".nbserver" / name).unlink(missing_ok=True)
        with ServerProcess(root_dir) as server:
            listing = call(server, "GET", "api/trash")[1]
            assert [(item["id"], item["original_path"]) for item in listing["items"]] == [(fid, "mnt/sub/x.txt")]
            assert call(server, "POST", f"api/files/{fid}/restore")[0] == 200
            assert call(server, "GET", "api/files/lookup?path=mnt/sub/x.txt")[1]["id"] == fid
        assert (mount / "sub" / "x.txt").read_bytes() == CONTENT
        assert not (root_dir / "elsewhere").exists()
