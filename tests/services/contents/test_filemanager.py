"""FileContentsManager: the contract suite, plus what only a filesystem store has."""

import os

import pytest

from nbserver.errors import NotFound
from nbserver.services.contents.filemanager import FileContentsManager
from tests.services.contents.contract import ContentsManagerContract, text_model


@pytest.fixture
def manager(root_dir) -> FileContentsManager:
    return FileContentsManager(root_dir=str(root_dir))


class TestFileContentsManager(ContentsManagerContract):
    pass


@pytest.mark.gen_test
async def test_checkpoints_live_in_ipynb_checkpoints_beside_the_file(manager, root_dir):
    (root_dir / "sub").mkdir()
    await manager.save(text_model("x"), "sub/a.txt")
    await manager.create_checkpoint("sub/a.txt")
    assert (root_dir / "sub" / ".ipynb_checkpoints" / "a-checkpoint.txt").read_text() == "x"
    assert [c["name"] for c in (await manager.get("sub"))["content"]] == ["a.txt"]


@pytest.mark.gen_test
async def test_saved_hash_is_the_hash_of_the_bytes_on_disk(manager, root_dir):
    import hashlib

    saved = await manager.save(text_model("data"), "a.txt")
    assert saved["hash"] == hashlib.sha256((root_dir / "a.txt").read_bytes()).hexdigest()


@pytest.mark.gen_test
async def test_save_keeps_the_file_mode(manager, root_dir):
    target = root_dir / "script.sh"
    target.write_text("old")
    target.chmod(0o751)
    await manager.save(text_model("new"), "script.sh")
    assert target.stat().st_mode & 0o777 == 0o751


@pytest.mark.gen_test
async def test_save_through_a_symlink_inside_root_updates_the_target(manager, root_dir):
    (root_dir / "real.txt").write_text("old")
    (root_dir / "link.txt").symlink_to(root_dir / "real.txt")
    await manager.save(text_model("new"), "link.txt")
    assert (root_dir / "link.txt").is_symlink()
    assert (root_dir / "real.txt").read_text() == "new"


@pytest.mark.gen_test
async def test_symlink_out_of_root_is_neither_listed_nor_served(manager, root_dir, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    (root_dir / "escape").symlink_to(outside)
    assert (await manager.get(""))["content"] == []
    with pytest.raises(NotFound):
        await manager.get("escape/secret.txt")


@pytest.mark.gen_test
async def test_symlink_out_of_root_is_followed_when_allowed(manager, root_dir, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "data.txt").write_text("shared")
    (root_dir / "data").symlink_to(outside)
    manager.allow_symlinks_outside_root = True
    assert (await manager.get("data/data.txt"))["content"] == "shared"


@pytest.mark.gen_test
async def test_sibling_with_common_prefix_is_not_inside_root(tmp_path):
    root = tmp_path / "nb"
    sibling = tmp_path / "nb2"
    root.mkdir()
    sibling.mkdir()
    (sibling / "secret.txt").write_text("secret")
    (root / "link").symlink_to(sibling)
    manager = FileContentsManager(root_dir=str(root))
    with pytest.raises(NotFound):
        await manager.get("link/secret.txt")


@pytest.mark.gen_test
async def test_root_dir_slash_still_works(root_dir):
    manager = FileContentsManager(root_dir="/")
    (root_dir / "a.txt").write_text("x")
    model = await manager.get(str(root_dir / "a.txt").lstrip("/"))
    assert model["content"] == "x"


@pytest.mark.gen_test
async def test_unfinished_upload_is_hidden_from_listings(manager, root_dir):
    await manager.save({"type": "file", "format": "text", "chunk": 1, "content": "part"}, "big.txt")
    assert (await manager.get(""))["content"] == []
    manager.allow_hidden = True
    assert (await manager.get(""))["content"] == []


@pytest.mark.gen_test
async def test_fifo_is_not_listed(manager, root_dir):
    os.mkfifo(root_dir / "pipe")
    assert (await manager.get(""))["content"] == []


@pytest.mark.gen_test(timeout=10)
async def test_listing_runs_off_the_event_loop(manager, monkeypatch):
    import asyncio
    import threading

    release = threading.Event()
    original = manager._directory_model

    def held_listing(*args, **kwargs):
        release.wait(5)
        return original(*args, **kwargs)

    monkeypatch.setattr(manager, "_directory_model", held_listing)
    listing = asyncio.ensure_future(manager.get(""))
    await asyncio.sleep(0.1)  # the loop keeps running while the listing is held
    assert not listing.done()
    release.set()
    assert (await listing)["type"] == "directory"
