"""FileContentsManager: the contract suite, plus what only a filesystem store has."""

import json
import os

import pytest

from nbserver.errors import Conflict, NbserverError, NotFound
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

    saved = (await manager.save(text_model("data"), "a.txt")).model
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


def _notebook_json(cells: object = ()) -> str:
    """A v4.5 notebook's text; ``cells=5`` makes an invalid one."""
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {},
                       "cells": cells if isinstance(cells, int) else list(cells)})


@pytest.fixture
def validations(monkeypatch):
    """Counts the notebooks the file manager validates."""
    from nbserver.services.contents import notebookread

    calls = []
    original = notebookread.validate_notebook

    def counting(nb):
        calls.append(nb)
        return original(nb)

    monkeypatch.setattr(notebookread, "validate_notebook", counting)
    return calls


@pytest.mark.gen_test
async def test_unchanged_notebook_is_validated_once(manager, root_dir, validations):
    (root_dir / "a.ipynb").write_text(_notebook_json())
    first = await manager.get("a.ipynb")
    second = await manager.get("a.ipynb")
    assert "message" not in first and "message" not in second
    assert len(validations) == 1


@pytest.mark.gen_test
async def test_validation_is_redone_when_the_file_changes_on_disk(manager, root_dir, validations):
    path = root_dir / "a.ipynb"
    path.write_text(_notebook_json())
    assert "message" not in await manager.get("a.ipynb")
    path.write_text(_notebook_json(cells=5))
    assert "validation failed" in (await manager.get("a.ipynb"))["message"]
    path.write_text(_notebook_json())
    assert "message" not in await manager.get("a.ipynb")
    assert len(validations) == 3


@pytest.mark.gen_test
async def test_same_size_rewrite_in_place_is_revalidated(manager, root_dir):
    path = root_dir / "a.ipynb"
    valid, invalid = _notebook_json(cells=[]), _notebook_json(cells=5)
    valid, invalid = valid.ljust(len(invalid)), invalid.ljust(len(valid))
    path.write_text(valid)
    assert len(valid) == len(invalid) and "message" not in await manager.get("a.ipynb")
    inode = path.stat().st_ino
    with open(path, "r+") as handle:  # same file, same size, new content
        handle.write(invalid)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    assert path.stat().st_ino == inode
    assert "validation failed" in (await manager.get("a.ipynb"))["message"]


@pytest.mark.gen_test
async def test_a_saved_notebooks_verdict_is_kept_for_its_next_read(manager, validations):
    nb = json.loads(_notebook_json())
    await manager.save({"type": "notebook", "format": "json", "content": nb}, "a.ipynb")
    assert "message" not in await manager.get("a.ipynb")
    assert len(validations) == 0  # the save validated through encode_notebook and stored the verdict


@pytest.mark.gen_test
async def test_a_saved_notebook_with_transient_fields_is_validated_again_when_read(manager, validations):
    nb = json.loads(_notebook_json())
    nb["metadata"]["orig_nbformat"] = "not a number"  # invalid, and dropped on disk
    saved = (await manager.save({"type": "notebook", "format": "json", "content": nb}, "a.ipynb")).model
    assert "validation failed" in saved["message"]
    assert "message" not in await manager.get("a.ipynb")
    assert len(validations) == 1


@pytest.mark.parametrize("cores, jobs, processes", [(1, 1, 0), (2, 3, 2), (8, 9, 4)])
def test_notebook_jobs_and_processes_default_from_the_cores(root_dir, monkeypatch, cores, jobs, processes):
    from nbserver.services.contents import filemanager

    monkeypatch.setattr(filemanager, "usable_cores", lambda: cores)
    manager = FileContentsManager(root_dir=str(root_dir))
    assert (manager.notebook_jobs, manager.notebook_processes) == (jobs, processes)


@pytest.mark.gen_test(timeout=10)
async def test_notebook_work_is_limited_to_notebook_jobs_at_once(root_dir, monkeypatch):
    import asyncio
    import threading

    from nbserver.services.contents import notebookread

    manager = FileContentsManager(root_dir=str(root_dir), notebook_jobs=2)
    for index in range(5):
        (root_dir / f"{index}.ipynb").write_text(_notebook_json())
    running, most, lock = 0, 0, threading.Lock()
    original = notebookread.read_notebook

    def slow_load(raw):
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        threading.Event().wait(0.05)
        with lock:
            running -= 1
        return original(raw)

    monkeypatch.setattr(notebookread, "read_notebook", slow_load)
    await asyncio.gather(*(manager.get(f"{index}.ipynb") for index in range(5)))
    assert most == 2


@pytest.mark.gen_test
async def test_first_page_of_a_new_folder_is_right_without_a_full_sort(manager, root_dir):
    names = [f"f{index:03d}.txt" for index in (5, 3, 9, 1, 7, 0, 8, 2, 6, 4)]
    for name in names + [".hidden"]:
        (root_dir / name).write_text("x")
    first = await manager.list_directory_page("", page_size=3)
    assert [child["name"] for child in first["content"]] == sorted(names)[:3]
    assert first["total"] == 10 and first["next_cursor"] == "f002.txt"
    longer = await manager.list_directory_page("", page_size=5)
    assert [child["name"] for child in longer["content"]] == sorted(names)[:5]
    again = await manager.list_directory_page("", page_size=3)
    assert again["content"] == first["content"] and again["next_cursor"] == "f002.txt"
    rest = await manager.list_directory_page("", page_size=20, cursor=first["next_cursor"])
    assert [child["name"] for child in rest["content"]] == sorted(names)[3:]
    assert rest["next_cursor"] is None


@pytest.fixture
def links(monkeypatch):
    """Each ``os.link`` made: (whether the target existed before, the bytes of the linked file)."""
    seen = []
    real_link = os.link

    def watching_link(source, target, **kwargs):
        with open(source, "rb") as handle:
            seen.append((os.path.exists(target), handle.read()))
        return real_link(source, target, **kwargs)

    monkeypatch.setattr(os, "link", watching_link)
    return seen


@pytest.mark.gen_test
async def test_a_new_file_appears_whole_by_link_and_leaves_no_temporary(manager, root_dir, links):
    saved = await manager.save(text_model("complete"), "new.txt")
    assert saved.created and links == [(False, b"complete")]
    assert os.listdir(root_dir) == ["new.txt"] and (root_dir / "new.txt").stat().st_nlink == 1


@pytest.mark.gen_test
async def test_a_failed_link_leaves_neither_the_file_nor_a_temporary(manager, root_dir, monkeypatch):
    import errno

    def failing_link(source, target, **kwargs):
        raise OSError(errno.EIO, "simulated I/O error")

    monkeypatch.setattr(os, "link", failing_link)
    with pytest.raises(NbserverError):
        await manager.save(text_model("x"), "new.txt")
    assert os.listdir(root_dir) == []


@pytest.mark.gen_test
async def test_without_hard_links_o_excl_still_picks_one_creator(manager, root_dir, monkeypatch):
    import asyncio
    import errno

    def no_links(source, target, **kwargs):
        raise OSError(errno.EPERM, "no hard links on this filesystem")

    monkeypatch.setattr(os, "link", no_links)
    for trial in range(10):
        results = await asyncio.gather(*(manager.save(text_model(str(n)), f"f{trial}.txt") for n in range(4)))
        assert sorted(result.created for result in results) == [False, False, False, True]
    assert not [name for name in os.listdir(root_dir) if name.startswith(".~")]
    with pytest.raises(Conflict):
        await manager.new(None, "f0.txt")


@pytest.mark.gen_test
async def test_a_new_chunked_upload_is_linked_into_place_whole_at_its_last_chunk(manager, root_dir, links):
    first = await manager.save({"type": "file", "format": "text", "chunk": 1, "content": "part one, "}, "up.txt")
    last = await manager.save({"type": "file", "format": "text", "chunk": -1, "content": "part two"}, "up.txt")
    assert first.created and last.created and links == [(False, b"part one, part two")]
    assert os.listdir(root_dir) == ["up.txt"] and (root_dir / "up.txt").stat().st_nlink == 1
    await manager.save({"type": "file", "format": "text", "chunk": 1, "content": "new"}, "up.txt")
    replaced = await manager.save({"type": "file", "format": "text", "chunk": -1, "content": ""}, "up.txt")
    assert not replaced.created and (root_dir / "up.txt").read_text() == "new" and len(links) == 1


@pytest.mark.gen_test(timeout=20)
async def test_small_notebooks_do_not_wait_for_a_notebook_jobs_slot(root_dir):
    """With the only slot taken, creating an empty notebook and reading a small one go ahead;
    a save larger than small_notebook_bytes waits for the slot."""
    import asyncio
    import threading

    manager = FileContentsManager(root_dir=str(root_dir), notebook_jobs=1, small_notebook_bytes=20_000)
    (root_dir / "small.ipynb").write_text(_notebook_json())
    large = json.loads(_notebook_json([{"cell_type": "markdown", "id": "big", "metadata": {}, "source": "x" * 50_000}]))
    release = threading.Event()
    holder = asyncio.ensure_future(manager._notebook_job(release.wait))
    await asyncio.sleep(0.05)
    try:
        created = await asyncio.wait_for(manager.new_untitled(type="notebook"), 5)
        assert created["name"] == "Untitled.ipynb" and (root_dir / "Untitled.ipynb").is_file()
        reply = await asyncio.wait_for(manager.get_reply("small.ipynb"), 5)
        assert json.loads(reply.body)["type"] == "notebook"
        saving = asyncio.ensure_future(manager.save({"type": "notebook", "format": "json", "content": large},
                                                    "large.ipynb"))
        await asyncio.sleep(0.3)
        assert not saving.done() and not (root_dir / "large.ipynb").exists()
    finally:
        release.set()
    await holder
    await asyncio.wait_for(saving, 5)
    assert (root_dir / "large.ipynb").is_file()


@pytest.fixture
def thread_trips(monkeypatch):
    """The functions FileContentsManager sends to the thread pool, in order."""
    from nbserver.services.contents import filemanager

    trips: list[str] = []
    original = filemanager.run_blocking

    async def counted(func, *args, **kwargs):
        trips.append(getattr(func, "__name__", repr(func)))
        return await original(func, *args, **kwargs)

    monkeypatch.setattr(filemanager, "run_blocking", counted)
    return trips


@pytest.mark.gen_test
async def test_a_name_search_is_one_trip_to_the_thread_pool(manager, root_dir, thread_trips):
    for taken in ("Untitled.ipynb", "Untitled1.ipynb"):
        (root_dir / taken).write_text("{}")
    (root_dir / "Untitled2.ipynb").mkdir()  # a folder takes the name too
    (root_dir / "Untitled3.ipynb").symlink_to(root_dir / "gone")  # a dangling link does not, as before
    assert await manager.increment_filename("Untitled.ipynb") == "Untitled3.ipynb"
    assert await manager.increment_filename("Untitled Folder", insert=" ", keep_extension=False) == "Untitled Folder"
    assert thread_trips == ["_first_free_name", "_first_free_name"]


@pytest.mark.gen_test
async def test_exists_is_one_trip_and_sees_files_and_folders_a_client_may_see(manager, root_dir, thread_trips):
    (root_dir / "a.txt").write_text("x")
    (root_dir / "d").mkdir()
    (root_dir / ".hidden").write_text("x")
    os.mkfifo(root_dir / "pipe")
    found = [await manager.exists(path) for path in ("a.txt", "d", "", "missing", ".hidden", "pipe", "a.txt/x")]
    assert found == [True, True, True, False, False, False, False]
    assert thread_trips == ["_file_or_folder_at"] * 7


@pytest.mark.gen_test
async def test_a_small_notebook_is_encoded_and_written_in_one_trip(root_dir, thread_trips):
    manager = FileContentsManager(root_dir=str(root_dir), small_notebook_bytes=20_000)
    notebook = json.loads(_notebook_json())
    saved = await manager.save({"type": "notebook", "format": "json", "content": notebook}, "small.ipynb")
    assert saved.created and json.loads((root_dir / "small.ipynb").read_text())["nbformat"] == 4
    assert thread_trips == ["_prepare_and_write"]
    assert manager.notary.is_signed(manager.notary.digest(notebook))  # no untrusted code cell: signed, as before
    large = json.loads(_notebook_json([{"cell_type": "markdown", "id": "big", "metadata": {}, "source": "x" * 50_000}]))
    thread_trips.clear()
    await manager.save({"type": "notebook", "format": "json", "content": large}, "large.ipynb")
    # A large one: encoded in a slot, then written while its signature is computed, then signed.
    assert thread_trips[0] == "_prepare_notebook" and sorted(thread_trips[1:]) == ["_write", "digest", "sign"]
    assert manager.notary.is_signed(manager.notary.digest(large))
