"""Every OS error a contents request meets gets a client status, each made to happen for real.

ELOOP (a symlink loop), ENAMETOOLONG (long names and paths), ENOSPC (a full tmpfs inside
the root), EROFS (a read-only remount), EBUSY (a mount point renamed), EPERM (an
immutable file) on the in-process server as root; EACCES on a server run as ``nobody``.
"""

from __future__ import annotations

import base64
import json
import os
import pwd
import shutil
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import nbformat
import pytest

from tests.support.mounts import fill, immutable, read_only, require_root, tmpfs
from tests.support.server_process import ServerProcess, python_for_user

LONG_NAME = "é" * 128 + ".txt"  # 132 characters, 260 bytes of UTF-8
DEEP_PATH = "d/" * 2035 + "x.txt"  # 4,075 characters: with the root, past PATH_MAX


def text(content: str) -> dict[str, str]:
    return {"type": "file", "format": "text", "content": content}


def staging_leftovers(folder: Path) -> list[str]:
    return [name for name in os.listdir(folder) if name.startswith(".~nbserver")]


def assert_error(response: Any, status: int, *words: str) -> None:
    assert response.status == status, response.body
    body = response.json()
    assert set(body) == {"message", "reason"}
    for word in words:
        assert word in body["message"].lower()
    assert "/tmp" not in body["message"] and "/root" not in body["message"]


# -- ELOOP ----------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_symlink_loop_is_404_for_contents_and_files(api, root_dir):
    os.symlink("loop", root_dir / "loop")
    assert_error(await api.get("api/contents/loop"), 404, "symbolic links")
    files = await api.get("files/loop")
    assert files.status == 404
    assert b"/tmp" not in files.body
    listing = await api.get("api/contents")
    assert listing.status == 200 and listing.json()["content"] == []


@pytest.mark.gen_test
async def test_writes_through_a_symlink_loop_are_refused_not_500(api, root_dir):
    os.symlink("loop", root_dir / "loop")
    assert (await api.put("api/contents/loop", text("x"))).status == 404
    assert (await api.put("api/contents/loop/inner.txt", text("x"))).status == 404
    assert (await api.get("api/contents/loop/checkpoints")).status == 404
    assert os.path.islink(root_dir / "loop")


# -- ENAMETOOLONG -----------------------------------------------------------------------

@pytest.mark.gen_test
async def test_a_name_of_255_bytes_works(api, root_dir):
    name = "a" * 251 + ".txt"
    assert len(name.encode()) == 255
    assert (await api.put(f"api/contents/{name}", text("x"))).status == 201
    assert (await api.get(f"api/contents/{name}")).json()["content"] == "x"


@pytest.mark.gen_test
async def test_a_name_over_255_bytes_reads_404(api, root_dir):
    assert len(LONG_NAME) < 255 < len(LONG_NAME.encode())
    assert_error(await api.get(f"api/contents/{LONG_NAME}"), 404)
    assert_error(await api.get(f"api/contents/{LONG_NAME}/checkpoints"), 404)
    assert (await api.get(f"files/{LONG_NAME}")).status == 404
    assert_error(await api.delete(f"api/contents/{LONG_NAME}"), 404)


@pytest.mark.gen_test
async def test_a_name_over_255_bytes_is_400_for_every_write(api, root_dir):
    (root_dir / "a.txt").write_text("source")
    (root_dir / "sub").mkdir()
    attempts = [
        await api.put(f"api/contents/{LONG_NAME}", text("x")),
        await api.put(f"api/contents/{LONG_NAME}", {"type": "directory"}),
        await api.put(f"api/contents/sub/{LONG_NAME}", {"type": "notebook",
                                                        "content": nbformat.v4.new_notebook()}),
        await api.put(f"api/contents/{LONG_NAME}"),
        await api.patch("api/contents/a.txt", {"path": f"sub/{LONG_NAME}"}),
    ]
    for response in attempts:
        assert_error(response, 400, "too long")
    assert sorted(os.listdir(root_dir)) == ["a.txt", "sub"] and os.listdir(root_dir / "sub") == []


@pytest.mark.gen_test
async def test_a_path_past_the_os_limit_is_400_or_404_never_500(api, root_dir):
    assert_error(await api.get(f"api/contents/{DEEP_PATH}"), 404)
    assert (await api.get(f"files/{DEEP_PATH}")).status == 404
    assert (await api.put(f"api/contents/{DEEP_PATH}", text("x"))).status in (400, 404)
    assert (await api.patch(f"api/contents/{DEEP_PATH}", {"path": "y.txt"})).status in (400, 404)
    assert (await api.post(f"api/contents/{DEEP_PATH}", {"type": "directory"})).status in (400, 404)
    assert os.listdir(root_dir) == []


@pytest.mark.gen_test
async def test_a_deep_path_that_exists_to_the_limit_is_refused_cleanly(api, root_dir):
    # Real folders down to just under PATH_MAX; one more name takes the path past it.
    os_path, depth = str(root_dir), 0
    while len(os_path) + 40 < 4000:
        os_path = os.path.join(os_path, "d" * 30)
        depth += 1
    os.makedirs(os_path)
    api_path = "/".join(["d" * 30] * depth)
    assert (await api.get(f"api/contents/{api_path}")).status == 200
    deeper = f"{api_path}/{'e' * (4096 - len(os_path) + 10)}"  # one name past PATH_MAX, under NAME_MAX
    assert (await api.put(f"api/contents/{deeper}", {"type": "directory"})).status in (400, 404)
    assert (await api.put(f"api/contents/{deeper}", text("x"))).status in (400, 404)
    assert (await api.get(f"api/contents/{deeper}")).status == 404


# -- ENOSPC ---------------------------------------------------------------------------

@pytest.fixture
def full_volume(root_dir: Path) -> Iterator[Path]:
    """``vol/``: a 256 KiB tmpfs inside the root holding ``old.txt`` and ``old.ipynb``, then filled."""
    with tmpfs(root_dir / "vol", size="256k") as volume:
        (volume / "old.txt").write_text("the old content")
        nbformat.write(nbformat.v4.new_notebook(), str(volume / "old.ipynb"))
        fill(volume)
        yield volume


@pytest.mark.gen_test
async def test_a_full_disk_is_507_and_the_old_file_is_intact(api, full_volume):
    before = (full_volume / "old.ipynb").read_bytes()
    big = "x" * 100_000
    assert_error(await api.put("api/contents/vol/old.txt", text(big)), 507, "disk is full")
    notebook = nbformat.v4.new_notebook()
    notebook.cells.append(nbformat.v4.new_markdown_cell(big))
    assert_error(await api.put("api/contents/vol/old.ipynb", {"type": "notebook", "content": notebook}),
                 507, "disk is full")
    assert (full_volume / "old.txt").read_text() == "the old content"
    assert (full_volume / "old.ipynb").read_bytes() == before
    assert staging_leftovers(full_volume) == []


@pytest.mark.gen_test
async def test_a_new_file_on_a_full_disk_is_507_and_leaves_nothing(api, full_volume):
    assert_error(await api.put("api/contents/vol/new.txt", text("y" * 100_000)), 507, "disk is full")
    assert not (full_volume / "new.txt").exists() and staging_leftovers(full_volume) == []


@pytest.mark.gen_test
async def test_a_chunked_upload_onto_a_full_disk_is_507(api, full_volume):
    chunk = {"type": "file", "format": "base64", "content": base64.b64encode(b"z" * 100_000).decode()}
    assert_error(await api.put("api/contents/vol/up.bin", {**chunk, "chunk": 1}), 507, "disk is full")
    assert not (full_volume / "up.bin").exists()


@pytest.mark.gen_test
async def test_a_checkpoint_on_a_full_disk_is_507(api, root_dir):
    with tmpfs(root_dir / "vol", size="256k") as volume:
        (volume / "a.txt").write_bytes(b"a" * 100_000)
        fill(volume)
        assert_error(await api.post("api/contents/vol/a.txt/checkpoints"), 507, "disk is full")
        assert (volume / "a.txt").read_bytes() == b"a" * 100_000


@pytest.mark.gen_test
async def test_a_copy_onto_a_full_disk_is_507_and_leaves_nothing(api, full_volume, root_dir):
    (root_dir / "big.txt").write_bytes(b"b" * 100_000)
    (root_dir / "folder").mkdir()
    (root_dir / "folder" / "big.txt").write_bytes(b"b" * 100_000)
    assert_error(await api.post("api/contents/vol", {"copy_from": "big.txt"}), 507, "disk is full")
    assert_error(await api.post("api/contents/vol", {"copy_from": "folder"}), 507, "disk is full")
    assert sorted(os.listdir(full_volume)) == [".filler", "old.ipynb", "old.txt"]


# -- EROFS ----------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_a_read_only_filesystem_is_403_for_writes_and_200_for_reads(api, root_dir):
    with tmpfs(root_dir / "ro") as volume:
        (volume / "a.txt").write_text("kept")
        (volume / "sub").mkdir()
        with read_only(volume):
            assert_error(await api.put("api/contents/ro/a.txt", text("new")), 403, "read-only")
            assert_error(await api.put("api/contents/ro/b.txt", text("new")), 403, "read-only")
            assert_error(await api.put("api/contents/ro/new", {"type": "directory"}), 403, "read-only")
            assert_error(await api.patch("api/contents/ro/a.txt", {"path": "ro/c.txt"}), 403, "read-only")
            assert_error(await api.delete("api/contents/ro/a.txt"), 403, "read-only")
            assert_error(await api.post("api/contents/ro/a.txt/checkpoints"), 403, "read-only")
            assert_error(await api.post("api/contents/ro", {"type": "notebook"}), 403, "read-only")
            assert (await api.get("api/contents/ro/a.txt")).json()["content"] == "kept"
            assert (await api.get("files/ro/a.txt")).body == b"kept"
        assert sorted(os.listdir(volume)) == ["a.txt", "sub"]


@pytest.mark.gen_test
async def test_moving_out_of_a_read_only_filesystem_is_403_and_keeps_the_source(api, root_dir):
    with tmpfs(root_dir / "ro") as volume:
        (volume / "a.txt").write_text("kept")
        with read_only(volume):
            assert_error(await api.patch("api/contents/ro/a.txt", {"path": "a.txt"}), 403, "read-only")
        assert (volume / "a.txt").read_text() == "kept" and not (root_dir / "a.txt").exists()


# -- EBUSY ----------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_renaming_a_mount_point_is_409_and_moves_nothing(api, root_dir):
    with tmpfs(root_dir / "vol") as volume:
        (volume / "a.txt").write_text("x")
        assert_error(await api.patch("api/contents/vol", {"path": "vol2"}), 409, "in use")
        assert os.path.ismount(volume) and (volume / "a.txt").read_text() == "x"
        assert not (root_dir / "vol2").exists()


@pytest.mark.gen_test
async def test_deleting_a_mount_point_is_409_and_deletes_nothing(api, root_dir):
    with tmpfs(root_dir / "vol") as volume:
        (volume / "a.txt").write_text("x")
        response = await api.delete("api/contents/vol")  # to the trash: its errors carry a code
        assert (response.status, response.json().get("code")) == (409, "mount_point"), response.body
        assert "in use" in response.json()["message"] and "/tmp" not in response.json()["message"]
        assert os.path.ismount(volume) and (volume / "a.txt").read_text() == "x"


@pytest.mark.gen_test
async def test_moving_a_folder_holding_a_mount_point_to_another_filesystem_is_409(api, root_dir):
    (root_dir / "outer").mkdir()
    with tmpfs(root_dir / "outer" / "inner") as inner, tmpfs(root_dir / "vol") as volume:
        (inner / "a.txt").write_text("x")
        assert_error(await api.patch("api/contents/outer", {"path": "vol/outer"}), 409, "in use")
        assert os.path.ismount(inner) and (inner / "a.txt").read_text() == "x"
        assert os.listdir(volume) == []


# -- EPERM ----------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_an_immutable_file_is_403_to_save_rename_and_delete(api, root_dir):
    target = root_dir / "locked.txt"
    target.write_text("kept")
    with immutable(target):
        assert_error(await api.put("api/contents/locked.txt", text("new")), 403, "not permitted")
        assert_error(await api.patch("api/contents/locked.txt", {"path": "moved.txt"}), 403, "not permitted")
        assert_error(await api.delete("api/contents/locked.txt"), 403, "not permitted")
        assert target.read_text() == "kept"
    # The delete tried the trash first (delete_to_trash): its state folder stays, with nothing in it.
    assert sorted(os.listdir(root_dir)) == [".nbserver", "locked.txt"]
    assert os.listdir(root_dir / ".nbserver" / "trash") == []


# -- EACCES, as an unprivileged user ------------------------------------------------------

def fetch(server: ServerProcess, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else (b"" if method in ("PUT", "POST") else None)
    request = urllib.request.Request(server.base_url + path, data=data, method=method,
                                     headers={"Authorization": f"token {server.token}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw.startswith(b"{") else raw
    except urllib.error.HTTPError as error:
        raw = error.read()
        return error.code, json.loads(raw) if raw.startswith(b"{") else raw


@pytest.fixture
def nobody_server() -> Iterator[tuple[ServerProcess, Path]]:
    """A server run as ``nobody`` on a root that ``nobody`` owns, in a folder it may enter."""
    require_root()
    if python_for_user("nobody") is None:
        pytest.skip("no Python that nobody may run has nbserver's packages")
    account = pwd.getpwnam("nobody")
    base = Path(tempfile.mkdtemp(prefix="nbserver-nobody-"))
    try:
        base.chmod(0o755)
        folders = {name: base / name for name in ("root", "home", "config", "data", "runtime")}
        for folder in folders.values():
            folder.mkdir()
            os.chown(folder, account.pw_uid, account.pw_gid)
        env = {"HOME": str(folders["home"]), "JUPYTER_CONFIG_DIR": str(folders["config"]),
               "JUPYTER_DATA_DIR": str(folders["data"]), "JUPYTER_RUNTIME_DIR": str(folders["runtime"])}
        with ServerProcess(folders["root"], user="nobody", env=env, cwd=base) as server:
            yield server, folders["root"]
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_permission_denied_is_403_for_a_server_run_as_nobody(nobody_server):
    server, root = nobody_server
    status, _ = fetch(server, "PUT", "api/contents/secret.txt", text("mine"))
    assert status == 201 and (root / "secret.txt").stat().st_uid == pwd.getpwnam("nobody").pw_uid
    (root / "secret.txt").chmod(0o000)
    (root / "closed").mkdir(mode=0o555)
    os.chown(root / "closed", pwd.getpwnam("nobody").pw_uid, -1)
    (root / "closed").chmod(0o555)
    (root / "shut").mkdir()
    os.chown(root / "shut", pwd.getpwnam("nobody").pw_uid, -1)
    (root / "shut").chmod(0o000)
    for method, path, body in [
        ("GET", "api/contents/secret.txt", None),
        ("PUT", "api/contents/closed/new.txt", text("x")),
        ("PUT", "api/contents/closed/new", {"type": "directory"}),
        ("POST", "api/contents/closed", {"type": "notebook"}),
        ("PATCH", "api/contents/secret.txt", {"path": "closed/secret.txt"}),
        ("GET", "api/contents/shut", None),
        ("POST", "api/contents/secret.txt/checkpoints", None),
    ]:
        status, answer = fetch(server, method, path, body)
        assert status == 403, (method, path, status, answer)
        assert "permission denied" in answer["message"].lower() and str(root) not in answer["message"]
    assert os.listdir(root / "closed") == [] and (root / "secret.txt").exists()
    assert "Traceback" not in server.log
