"""The ContentsManager contract: an importable test suite that any store must pass.

Subclass :class:`ContentsManagerContract` in a test module and give it a ``manager``
fixture that returns a fresh, empty ContentsManager; every test here then runs
against that store.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json

import nbformat
import pytest

from nbserver.errors import Conflict, InvalidInput, NotFound, PreconditionFailed
from nbserver.services.contents.manager import ContentsManager


def text_model(text: str) -> dict:
    return {"type": "file", "format": "text", "content": text}


def notebook_with(source: str) -> dict:
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell(source))
    return {"type": "notebook", "format": "json", "content": nb}


class ContentsManagerContract:
    """Behaviour every ContentsManager shares; a subclass supplies the ``manager`` fixture."""

    @pytest.mark.gen_test
    async def test_root_is_an_empty_directory(self, manager: ContentsManager) -> None:
        root = await manager.get("")
        assert root["type"] == "directory" and root["path"] == "" and root["name"] == ""
        assert root["format"] == "json" and root["content"] == []

    @pytest.mark.gen_test
    async def test_saved_text_file_reads_back_with_all_fields(self, manager: ContentsManager) -> None:
        saved = (await manager.save(text_model("héllo\n"), "a.txt")).model
        assert saved["hash"] == hashlib.sha256("héllo\n".encode()).hexdigest()
        assert saved["hash_algorithm"] == "sha256" and saved["content"] is None
        model = await manager.get("a.txt")
        for key in ("name", "path", "type", "writable", "created", "last_modified", "mimetype", "format",
                    "content", "size"):
            assert key in model
        assert (model["name"], model["path"], model["type"]) == ("a.txt", "a.txt", "file")
        assert model["content"] == "héllo\n" and model["format"] == "text"
        assert model["mimetype"] == "text/plain" and model["size"] == len("héllo\n".encode())
        assert model["last_modified"].endswith("Z")

    @pytest.mark.gen_test
    async def test_binary_file_comes_back_as_base64(self, manager: ContentsManager) -> None:
        data = bytes(range(256))
        await manager.save({"type": "file", "format": "base64",
                            "content": base64.b64encode(data).decode()}, "blob.bin")
        model = await manager.get("blob.bin")
        assert model["format"] == "base64" and base64.b64decode(model["content"]) == data
        with pytest.raises(InvalidInput):
            await manager.get("blob.bin", format="text")

    @pytest.mark.gen_test
    async def test_content_false_leaves_content_out(self, manager: ContentsManager) -> None:
        await manager.save(text_model("x"), "a.txt")
        model = await manager.get("a.txt", content=False)
        assert model["content"] is None and model["format"] is None

    @pytest.mark.gen_test
    async def test_require_hash_matches_the_saved_hash(self, manager: ContentsManager) -> None:
        saved = (await manager.save(notebook_with("1+1"), "n.ipynb")).model
        model = await manager.get("n.ipynb", content=False, require_hash=True)
        assert model["hash"] == saved["hash"] and model["hash_algorithm"] == "sha256"

    @pytest.mark.gen_test
    async def test_notebook_round_trips_as_v4_with_joined_source(self, manager: ContentsManager) -> None:
        saved = (await manager.save(notebook_with("a = 1\nprint(a)"), "n.ipynb")).model
        assert saved["type"] == "notebook" and "message" not in saved
        model = await manager.get("n.ipynb")
        assert model["format"] == "json" and model["mimetype"] is None
        assert model["content"]["nbformat"] == 4
        assert model["content"]["cells"][0]["source"] == "a = 1\nprint(a)"

    @pytest.mark.gen_test
    async def test_invalid_notebook_is_saved_with_a_message(self, manager: ContentsManager) -> None:
        content = nbformat.v4.new_notebook()
        content.cells.append({"cell_type": "code", "source": "x", "metadata": {}, "id": "abc",
                              "outputs": [], "execution_count": None, "bogus": True})
        saved = (await manager.save({"type": "notebook", "content": content, "format": "json"}, "bad.ipynb")).model
        assert "validation" in saved["message"].lower()
        assert (await manager.get("bad.ipynb"))["content"]["cells"][0]["source"] == "x"

    @pytest.mark.gen_test
    async def test_unusable_notebook_content_is_refused(self, manager: ContentsManager) -> None:
        with pytest.raises(InvalidInput):
            await manager.save({"type": "notebook", "content": {"cells": 5}, "format": "json"}, "x.ipynb")
        assert not await manager.file_exists("x.ipynb")

    @pytest.mark.gen_test
    async def test_directory_lists_children_without_their_content(self, manager: ContentsManager) -> None:
        await manager.save({"type": "directory"}, "sub")
        await manager.save(text_model("x"), "sub/a.txt")
        await manager.save(notebook_with("1"), "sub/n.ipynb")
        await manager.save({"type": "directory"}, "sub/inner")
        listing = await manager.get("sub")
        children = {child["name"]: child for child in listing["content"]}
        assert set(children) == {"a.txt", "n.ipynb", "inner"}
        assert children["n.ipynb"]["type"] == "notebook" and children["inner"]["type"] == "directory"
        assert children["a.txt"]["path"] == "sub/a.txt"
        assert all(child["content"] is None for child in children.values())

    @pytest.mark.gen_test
    async def test_new_untitled_picks_jupyter_names(self, manager: ContentsManager) -> None:
        names = [
            (await manager.new_untitled("", type="notebook"))["name"],
            (await manager.new_untitled("", type="notebook"))["name"],
            (await manager.new_untitled("", type="file", ext=".txt"))["name"],
            (await manager.new_untitled("", type="file", ext=".txt"))["name"],
            (await manager.new_untitled("", type="directory"))["name"],
            (await manager.new_untitled("", type="directory"))["name"],
        ]
        assert names == ["Untitled.ipynb", "Untitled1.ipynb", "untitled.txt", "untitled1.txt",
                         "Untitled Folder", "Untitled Folder 1"]
        assert (await manager.get("Untitled.ipynb"))["content"]["cells"] == []

    @pytest.mark.gen_test
    async def test_new_untitled_in_missing_directory_is_not_found(self, manager: ContentsManager) -> None:
        with pytest.raises(NotFound):
            await manager.new_untitled("nowhere", type="notebook")

    @pytest.mark.gen_test
    async def test_copy_is_named_copy1_then_copy2(self, manager: ContentsManager) -> None:
        await manager.save(notebook_with("1"), "n.ipynb")
        first = await manager.copy("n.ipynb")
        second = await manager.copy("n.ipynb")
        third = await manager.copy(first["path"])
        assert [first["name"], second["name"], third["name"]] == [
            "n-Copy1.ipynb", "n-Copy2.ipynb", "n-Copy3.ipynb"]
        copied = await manager.get("n-Copy1.ipynb")
        assert copied["content"]["cells"][0]["source"] == "1"

    @pytest.mark.gen_test
    async def test_copy_into_other_directory_keeps_the_name(self, manager: ContentsManager) -> None:
        await manager.save(text_model("x"), "a.txt")
        await manager.save({"type": "directory"}, "sub")
        assert (await manager.copy("a.txt", "sub"))["path"] == "sub/a.txt"

    @pytest.mark.gen_test
    async def test_rename_moves_and_refuses_an_existing_target(self, manager: ContentsManager) -> None:
        await manager.save(text_model("one"), "a.txt")
        await manager.save(text_model("two"), "b.txt")
        await manager.save({"type": "directory"}, "sub")
        with pytest.raises(Conflict):
            await manager.rename("a.txt", "b.txt")
        moved = await manager.rename("a.txt", "sub/c.txt")
        assert moved["path"] == "sub/c.txt"
        assert (await manager.get("sub/c.txt"))["content"] == "one"
        assert not await manager.exists("a.txt")
        assert (await manager.get("b.txt"))["content"] == "two"

    @pytest.mark.gen_test
    async def test_rename_of_missing_file_is_not_found(self, manager: ContentsManager) -> None:
        with pytest.raises(NotFound):
            await manager.rename("missing.txt", "other.txt")

    @pytest.mark.gen_test
    async def test_delete_removes_a_directory_with_everything_in_it(self, manager: ContentsManager) -> None:
        await manager.save({"type": "directory"}, "sub")
        await manager.save({"type": "directory"}, "sub/deeper")
        await manager.save(text_model("x"), "sub/deeper/a.txt")
        await manager.delete("sub")
        assert not await manager.exists("sub") and not await manager.exists("sub/deeper/a.txt")
        with pytest.raises(NotFound):
            await manager.delete("sub")
        with pytest.raises(InvalidInput):
            await manager.delete("")

    @pytest.mark.gen_test
    async def test_checkpoint_restore_brings_back_the_exact_bytes(self, manager: ContentsManager) -> None:
        await manager.save(text_model("first\r\n"), "a.txt")
        assert await manager.list_checkpoints("a.txt") == []
        checkpoint = await manager.create_checkpoint("a.txt")
        assert checkpoint["id"] and checkpoint["last_modified"]
        assert await manager.list_checkpoints("a.txt") == [checkpoint]
        await manager.save(text_model("second"), "a.txt")
        await manager.restore_checkpoint(checkpoint["id"], "a.txt")
        assert (await manager.get("a.txt"))["content"] == "first\r\n"
        await manager.delete_checkpoint(checkpoint["id"], "a.txt")
        assert await manager.list_checkpoints("a.txt") == []
        with pytest.raises(NotFound):
            await manager.restore_checkpoint(checkpoint["id"], "a.txt")

    @pytest.mark.gen_test
    async def test_checkpoints_follow_a_rename(self, manager: ContentsManager) -> None:
        await manager.save(text_model("x"), "a.txt")
        checkpoint = await manager.create_checkpoint("a.txt")
        await manager.rename("a.txt", "b.txt")
        assert [c["id"] for c in await manager.list_checkpoints("b.txt")] == [checkpoint["id"]]

    @pytest.mark.gen_test
    async def test_checkpoint_diff_compares_the_checkpoint_with_the_notebook_now(
            self, manager: ContentsManager) -> None:
        old = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("a = 1")])
        new = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("a = 2")])
        await manager.save({"type": "notebook", "content": old}, "n.ipynb")
        checkpoint = await manager.create_checkpoint("n.ipynb")
        await manager.save({"type": "notebook", "content": new}, "n.ipynb")
        diff = await manager.checkpoint_diff(checkpoint["id"], "n.ipynb")
        assert diff["summary"]["modified"] == 1 and "+a = 2" in diff["cells"][0]["source_diff"]

    @pytest.mark.gen_test
    async def test_checkpoint_of_missing_file_is_not_found(self, manager: ContentsManager) -> None:
        with pytest.raises(NotFound):
            await manager.create_checkpoint("missing.txt")

    @pytest.mark.gen_test
    async def test_hidden_files_are_neither_listed_nor_served(self, manager: ContentsManager) -> None:
        manager.allow_hidden = True
        await manager.save(text_model("secret"), ".hidden")
        manager.allow_hidden = False
        assert [c["name"] for c in (await manager.get(""))["content"]] == []
        with pytest.raises(NotFound):
            await manager.get(".hidden")
        with pytest.raises(InvalidInput):
            await manager.save(text_model("x"), ".other")

    @pytest.mark.gen_test
    async def test_allow_hidden_lists_and_serves_hidden_files(self, manager: ContentsManager) -> None:
        manager.allow_hidden = True
        await manager.save(text_model("secret"), ".hidden")
        assert [c["name"] for c in (await manager.get(""))["content"]] == [".hidden"]
        assert (await manager.get(".hidden"))["content"] == "secret"

    @pytest.mark.gen_test
    async def test_open_file_reads_any_range_in_chunks(self, manager: ContentsManager) -> None:
        data = bytes(range(256)) * 40
        await manager.save({"type": "file", "format": "base64", "content": base64.b64encode(data).decode()},
                           "blob.bin")
        async with await manager.open_file("blob.bin") as stream:
            assert stream.size == len(data) and stream.etag.startswith('"')
            assert [len(c) async for c in stream.read(0, len(data), chunk_size=4096)] == [4096, 4096, 2048]
            assert b"".join([c async for c in stream.read(100, 200)]) == data[100:200]
            assert b"".join([c async for c in stream.read(len(data) - 5, len(data))]) == data[-5:]
            assert [c async for c in stream.read(7, 7)] == []

    @pytest.mark.gen_test
    async def test_open_file_of_a_folder_missing_or_hidden_file_is_not_found(
            self, manager: ContentsManager) -> None:
        await manager.save({"type": "directory"}, "sub")
        manager.allow_hidden = True
        await manager.save(text_model("secret"), ".env")
        manager.allow_hidden = False
        for path in ("sub", "missing.txt", ".env", "sub/missing.txt"):
            with pytest.raises(NotFound):
                await manager.open_file(path)

    @pytest.mark.gen_test
    async def test_open_file_etag_changes_with_the_content(self, manager: ContentsManager) -> None:
        await manager.save(text_model("one"), "a.txt")
        async with await manager.open_file("a.txt") as first:
            pass
        async with await manager.open_file("a.txt") as unchanged:
            assert unchanged.etag == first.etag
        await manager.save(text_model("two"), "a.txt")
        async with await manager.open_file("a.txt") as second:
            assert second.etag != first.etag
            assert b"".join([c async for c in second.read(0, second.size)]) == b"two"

    @pytest.mark.gen_test
    async def test_chunked_upload_is_assembled_at_the_last_chunk(self, manager: ContentsManager) -> None:
        parts = [b"a" * 1000, b"b" * 1000, b"c" * 10]
        for number, part in zip((1, 2, -1), parts):
            saved = (await manager.save({"type": "file", "format": "base64", "chunk": number,
                                         "content": base64.b64encode(part).decode()}, "big.bin")).model
        assert saved["hash"] == hashlib.sha256(b"".join(parts)).hexdigest()
        model = await manager.get("big.bin", format="base64")
        assert base64.b64decode(model["content"]) == b"".join(parts)

    @pytest.mark.gen_test
    async def test_later_chunk_without_a_first_is_invalid(self, manager: ContentsManager) -> None:
        with pytest.raises(InvalidInput):
            await manager.save({"type": "file", "format": "text", "chunk": 2, "content": "x"}, "a.txt")

    @pytest.mark.gen_test
    async def test_save_reports_whether_it_created_the_path(self, manager: ContentsManager) -> None:
        first = await manager.save(text_model("one"), "a.txt")
        second = await manager.save(text_model("two"), "a.txt")
        assert (first.created, second.created) == (True, False)
        assert second.model["path"] == "a.txt" and second.model["hash"] == hashlib.sha256(b"two").hexdigest()
        folder = await manager.save({"type": "directory"}, "sub")
        again = await manager.save({"type": "directory"}, "sub")
        assert (folder.created, again.created) == (True, False) and folder.model["type"] == "directory"

    @pytest.mark.gen_test
    async def test_must_create_refuses_what_exists_and_leaves_it(self, manager: ContentsManager) -> None:
        await manager.save(text_model("kept"), "a.txt")
        await manager.save({"type": "directory"}, "sub")
        with pytest.raises(Conflict):
            await manager.save(text_model("new"), "a.txt", must_create=True)
        with pytest.raises(Conflict):
            await manager.save({"type": "directory"}, "sub", must_create=True)
        with pytest.raises(Conflict):
            await manager.new(None, "a.txt")
        assert (await manager.get("a.txt"))["content"] == "kept"
        assert (await manager.save(text_model("x"), "b.txt", must_create=True)).created

    @pytest.mark.gen_test
    async def test_concurrent_saves_of_a_new_path_create_it_once(self, manager: ContentsManager) -> None:
        for trial in range(10):
            results = await asyncio.gather(*(manager.save(notebook_with(str(n)), f"n{trial}.ipynb")
                                             for n in range(4)))
            assert sorted(result.created for result in results) == [False, False, False, True]

    @pytest.mark.gen_test
    async def test_a_notebook_saved_as_a_file_is_reported_as_a_notebook(self, manager: ContentsManager) -> None:
        raw = json.dumps(nbformat.v4.new_notebook()).encode()
        upload = {"type": "file", "format": "base64", "content": base64.b64encode(raw).decode()}
        saved = await manager.save(upload, "up.ipynb")
        assert saved.model["type"] == "notebook" == (await manager.get("up.ipynb", content=False))["type"]
        chunked = await manager.save({**upload, "chunk": 1}, "chunked.ipynb")
        assert chunked.model["type"] == "notebook"
        last = await manager.save({**upload, "content": "", "chunk": -1}, "chunked.ipynb")
        assert last.model["type"] == "notebook" and last.created

    @pytest.mark.gen_test
    async def test_get_missing_path_is_not_found(self, manager: ContentsManager) -> None:
        with pytest.raises(NotFound):
            await manager.get("missing.ipynb")

    @pytest.mark.gen_test
    async def test_save_into_missing_directory_is_not_found(self, manager: ContentsManager) -> None:
        with pytest.raises(NotFound):
            await manager.save(text_model("x"), "nowhere/a.txt")

    @pytest.mark.gen_test
    async def test_file_over_directory_is_a_conflict(self, manager: ContentsManager) -> None:
        await manager.save({"type": "directory"}, "sub")
        with pytest.raises(Conflict):
            await manager.save(text_model("x"), "sub")

    @pytest.mark.gen_test
    async def test_paged_listing_walks_children_in_name_order(self, manager: ContentsManager) -> None:
        for name in ("c.txt", "a.txt", "e.txt", "b.txt", "d.txt"):
            await manager.save(text_model(name), name)
        first = await manager.list_directory_page("", page_size=2)
        assert [c["name"] for c in first["content"]] == ["a.txt", "b.txt"]
        assert first["total"] == 5 and first["next_cursor"]
        second = await manager.list_directory_page("", page_size=2, cursor=first["next_cursor"])
        assert [c["name"] for c in second["content"]] == ["c.txt", "d.txt"]
        last = await manager.list_directory_page("", page_size=2, cursor=second["next_cursor"])
        assert [c["name"] for c in last["content"]] == ["e.txt"] and last["next_cursor"] is None
        assert all(c["content"] is None for c in first["content"])

    @pytest.mark.gen_test
    async def test_paged_listing_of_a_file_is_invalid(self, manager: ContentsManager) -> None:
        await manager.save(text_model("x"), "a.txt")
        with pytest.raises(InvalidInput):
            await manager.list_directory_page("a.txt", page_size=10)

    @pytest.mark.gen_test
    async def test_save_with_a_stale_expected_hash_is_refused_and_keeps_the_file(self, manager: ContentsManager) -> None:
        first = (await manager.save(text_model("one"), "a.txt")).model["hash"]
        second = (await manager.save(text_model("two"), "a.txt", expected_hash=first)).model["hash"]
        with pytest.raises(PreconditionFailed):
            await manager.save(text_model("three"), "a.txt", expected_hash=first)
        assert (await manager.get("a.txt"))["content"] == "two"
        assert (await manager.save(text_model("three"), "a.txt", expected_hash=second)).model["hash"] != second

    @pytest.mark.gen_test
    async def test_save_expecting_a_file_where_none_is_is_refused(self, manager: ContentsManager) -> None:
        for expected in ("*", hashlib.sha256(b"").hexdigest()):
            with pytest.raises(PreconditionFailed):
                await manager.save(text_model("x"), "new.txt", expected_hash=expected)
        assert not await manager.file_exists("new.txt")
        await manager.save(text_model("x"), "new.txt")
        assert (await manager.save(text_model("y"), "new.txt", expected_hash="*")).created is False
