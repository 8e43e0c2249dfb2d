"""/api/contents over real HTTP against real files in a temporary root."""

from __future__ import annotations

import base64
import hashlib
import json
import os

import nbformat
import pytest

MODEL_FIELDS = {"name", "path", "type", "writable", "created", "last_modified", "mimetype", "format",
                "content", "size", "hash", "hash_algorithm"}


def write_notebook(path, source="1+1"):
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell(source))
    nbformat.write(nb, str(path))


# -- GET ---------------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_get_directory_lists_children_with_every_field(api, root_dir):
    (root_dir / "a.txt").write_text("x")
    (root_dir / "sub").mkdir()
    write_notebook(root_dir / "n.ipynb")
    response = await api.get("api/contents")
    assert response.status == 200
    model = response.json()
    assert MODEL_FIELDS <= set(model) and model["type"] == "directory"
    children = {c["name"]: c for c in model["content"]}
    assert {n: c["type"] for n, c in children.items()} == {
        "a.txt": "file", "sub": "directory", "n.ipynb": "notebook"}
    assert all(MODEL_FIELDS <= set(c) and c["content"] is None for c in children.values())


@pytest.mark.gen_test
async def test_get_notebook_returns_v4_json(api, root_dir):
    write_notebook(root_dir / "n.ipynb", "print(1)")
    model = (await api.get("api/contents/n.ipynb")).json()
    assert model["type"] == "notebook" and model["format"] == "json"
    assert model["content"]["cells"][0]["source"] == "print(1)"


@pytest.mark.gen_test
async def test_get_sets_last_modified_header(api, root_dir):
    from email.utils import parsedate_to_datetime

    (root_dir / "a.txt").write_text("x")
    response = await api.get("api/contents/a.txt")
    header = parsedate_to_datetime(response.headers["Last-Modified"])
    assert abs(header.timestamp() - (root_dir / "a.txt").stat().st_mtime) < 1


@pytest.mark.gen_test
async def test_get_old_notebook_is_upgraded_to_v4(api, root_dir):
    v3 = {"nbformat": 3, "nbformat_minor": 0, "metadata": {"name": ""}, "worksheets": [
        {"cells": [{"cell_type": "code", "input": "1+1", "language": "python", "outputs": [],
                    "metadata": {}, "collapsed": False}], "metadata": {}}]}
    (root_dir / "old.ipynb").write_text(json.dumps(v3))
    model = (await api.get("api/contents/old.ipynb")).json()
    assert model["content"]["nbformat"] == 4
    assert model["content"]["cells"][0]["source"] == "1+1"


@pytest.mark.gen_test
async def test_get_with_hash_adds_hash_and_algorithm(api, root_dir):
    (root_dir / "a.txt").write_bytes(b"abc")
    model = (await api.get("api/contents/a.txt", params={"hash": 1})).json()
    assert model["hash"] == hashlib.sha256(b"abc").hexdigest() and model["hash_algorithm"] == "sha256"


@pytest.mark.gen_test
async def test_get_content_0_omits_content(api, root_dir):
    (root_dir / "a.txt").write_text("abc")
    model = (await api.get("api/contents/a.txt", params={"content": 0})).json()
    assert model["content"] is None and model["size"] == 3


@pytest.mark.gen_test
async def test_non_utf8_file_is_base64_by_default_and_400_as_text(api, root_dir):
    (root_dir / "latin.txt").write_bytes("café".encode("latin-1"))
    model = (await api.get("api/contents/latin.txt")).json()
    assert model["format"] == "base64" and base64.b64decode(model["content"]) == "café".encode("latin-1")
    response = await api.get("api/contents/latin.txt", params={"format": "text"})
    assert response.status == 400 and "UTF-8" in response.json()["message"]


@pytest.mark.gen_test
async def test_get_file_as_base64_when_asked(api, root_dir):
    (root_dir / "a.txt").write_text("abc")
    model = (await api.get("api/contents/a.txt", params={"format": "base64"})).json()
    assert model["format"] == "base64" and model["content"] == base64.b64encode(b"abc").decode()


@pytest.mark.gen_test
@pytest.mark.parametrize("params", [{"type": "bogus"}, {"format": "yaml"}, {"content": "2"}, {"hash": "x"}])
async def test_bad_query_parameters_are_400(api, root_dir, params):
    (root_dir / "a.txt").write_text("abc")
    response = await api.get("api/contents/a.txt", params=params)
    assert response.status == 400 and set(response.json()) == {"message", "reason"}


@pytest.mark.gen_test
async def test_type_mismatch_is_400(api, root_dir):
    (root_dir / "a.txt").write_text("abc")
    (root_dir / "sub").mkdir()
    assert (await api.get("api/contents/a.txt", params={"type": "directory"})).status == 400
    assert (await api.get("api/contents/sub", params={"type": "file"})).status == 400


@pytest.mark.gen_test
async def test_missing_file_is_404_json(api):
    response = await api.get("api/contents/missing.ipynb")
    assert response.status == 404
    assert response.json()["reason"] == "Not Found" and "missing.ipynb" in response.json()["message"]


@pytest.mark.gen_test
async def test_unreadable_notebook_is_400_not_500(api, root_dir):
    (root_dir / "broken.ipynb").write_text("{not json")
    response = await api.get("api/contents/broken.ipynb")
    assert response.status == 400
    assert (await api.get("api/contents/broken.ipynb", params={"type": "file"})).json()["content"] == "{not json"


# -- PUT ---------------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_put_new_text_file_is_201_with_hash_and_location(api, root_dir):
    response = await api.put("api/contents/new file.txt", {"type": "file", "format": "text", "content": "hi"})
    assert response.status == 201
    model = response.json()
    assert model["hash"] == hashlib.sha256(b"hi").hexdigest() and model["path"] == "new file.txt"
    assert response.headers["Location"] == "/api/contents/new%20file.txt"
    assert (root_dir / "new file.txt").read_text() == "hi"


@pytest.mark.gen_test
async def test_put_over_existing_file_is_200(api, root_dir):
    (root_dir / "a.txt").write_text("old")
    response = await api.put("api/contents/a.txt", {"type": "file", "format": "text", "content": "new"})
    assert response.status == 200 and (root_dir / "a.txt").read_text() == "new"


@pytest.mark.gen_test
async def test_put_with_a_stale_if_match_is_412_and_keeps_the_file(api, root_dir):
    (root_dir / "a.txt").write_text("old")
    old = hashlib.sha256(b"old").hexdigest()
    text = {"type": "file", "format": "text", "content": "new"}
    assert (await api.put("api/contents/a.txt", text, headers={"If-Match": f'"{old}"'})).status == 200
    stale = await api.put("api/contents/a.txt", {**text, "content": "newer"}, headers={"If-Match": f'"{old}"'})
    assert stale.status == 412 and stale.json()["code"] == "precondition_failed"
    assert (root_dir / "a.txt").read_text() == "new"
    malformed = await api.put("api/contents/a.txt", text, headers={"If-Match": f'W/"{old}", "{old}"'})
    assert malformed.status == 400 and "If-Match" in malformed.json()["message"]


@pytest.mark.gen_test
async def test_put_base64_file(api, root_dir):
    data = bytes(range(256))
    body = {"type": "file", "format": "base64", "content": base64.b64encode(data).decode()}
    assert (await api.put("api/contents/b.bin", body)).status == 201
    assert (root_dir / "b.bin").read_bytes() == data


@pytest.mark.gen_test
async def test_put_notebook_saves_v4_on_disk(api, root_dir):
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell("# Title\ntext"))
    response = await api.put("api/contents/n.ipynb", {"type": "notebook", "format": "json", "content": nb})
    assert response.status == 201 and response.json()["type"] == "notebook"
    on_disk = nbformat.read(str(root_dir / "n.ipynb"), as_version=4)
    assert on_disk.nbformat == 4 and on_disk.cells[0].source == "# Title\ntext"
    assert response.json()["hash"] == hashlib.sha256((root_dir / "n.ipynb").read_bytes()).hexdigest()


@pytest.mark.gen_test
async def test_put_invalid_notebook_is_saved_with_message(api, root_dir):
    nb = nbformat.v4.new_notebook()
    nb["metadata"]["kernelspec"] = {"name": 5}
    response = await api.put("api/contents/n.ipynb", {"type": "notebook", "format": "json", "content": nb})
    assert response.status == 201 and "validation" in response.json()["message"].lower()
    assert (root_dir / "n.ipynb").exists()


@pytest.mark.gen_test
async def test_put_empty_body_creates_an_empty_file_or_notebook(api, root_dir):
    assert (await api.put("api/contents/empty.ipynb")).status == 201
    assert nbformat.read(str(root_dir / "empty.ipynb"), as_version=4).cells == []
    assert (await api.put("api/contents/empty.txt")).status == 201
    assert (root_dir / "empty.txt").read_text() == ""
    assert (await api.put("api/contents/empty.txt")).status == 409


@pytest.mark.gen_test
async def test_put_directory(api, root_dir):
    assert (await api.put("api/contents/newdir", {"type": "directory"})).status == 201
    assert (root_dir / "newdir").is_dir()


@pytest.mark.gen_test
async def test_put_with_copy_from_is_400_as_in_jupyter_server(api, root_dir):
    write_notebook(root_dir / "n.ipynb")
    response = await api.put("api/contents/copy.ipynb", {"copy_from": "n.ipynb"})
    assert response.status == 400 and response.json()["message"] == "Cannot copy with PUT, only POST"
    assert not (root_dir / "copy.ipynb").exists()


@pytest.mark.gen_test
async def test_chunked_upload_assembles_the_file(api, root_dir):
    parts = [bytes([i]) * 5000 for i in range(3)]
    for number, part in zip((1, 2, -1), parts):
        body = {"type": "file", "format": "base64", "chunk": number, "content": base64.b64encode(part).decode()}
        response = await api.put("api/contents/big.bin", body)
        assert response.status in (200, 201)
        if number != -1:
            assert not (root_dir / "big.bin").exists()
    assert response.json()["hash"] == hashlib.sha256(b"".join(parts)).hexdigest()
    assert (root_dir / "big.bin").read_bytes() == b"".join(parts)
    assert [p.name for p in root_dir.iterdir()] == ["big.bin"]


@pytest.mark.gen_test
async def test_chunked_upload_replaces_existing_file_only_at_the_end(api, root_dir):
    (root_dir / "a.txt").write_text("old")
    await api.put("api/contents/a.txt", {"type": "file", "format": "text", "chunk": 1, "content": "new "})
    assert (root_dir / "a.txt").read_text() == "old"
    await api.put("api/contents/a.txt", {"type": "file", "format": "text", "chunk": -1, "content": "text"})
    assert (root_dir / "a.txt").read_text() == "new text"


@pytest.mark.gen_test
async def test_a_notebook_uploaded_as_a_file_is_answered_as_the_notebook_it_is(api, root_dir):
    raw = json.dumps(nbformat.v4.new_notebook()).encode()
    upload = {"type": "file", "format": "base64", "content": base64.b64encode(raw).decode()}
    response = await api.put("api/contents/uploaded.ipynb", upload)  # how JupyterLab uploads
    assert response.status == 201
    got = (await api.get("api/contents/uploaded.ipynb", params={"content": 0})).json()
    listed = (await api.get("api/contents")).json()["content"][0]
    assert response.json()["type"] == got["type"] == listed["type"] == "notebook"
    assert response.json()["mimetype"] == got["mimetype"] and response.json()["size"] == len(raw)
    assert (await api.put("api/contents/uploaded.ipynb", upload)).json()["type"] == "notebook"


@pytest.mark.gen_test
async def test_the_last_chunk_of_an_uploaded_notebook_answers_type_notebook(api, root_dir):
    raw = json.dumps(nbformat.v4.new_notebook()).encode()
    halves = [raw[:20], raw[20:]]
    for number, part in zip((1, -1), halves):
        body = {"type": "file", "format": "base64", "chunk": number, "content": base64.b64encode(part).decode()}
        response = await api.put("api/contents/chunked.ipynb", body)
    assert response.status == 201 and response.json()["type"] == "notebook"
    assert response.json()["hash"] == hashlib.sha256(raw).hexdigest()


@pytest.mark.gen_test
async def test_a_text_file_saved_as_a_notebook_type_is_answered_as_the_file_it_is(api, root_dir):
    nb = nbformat.v4.new_notebook()
    response = await api.put("api/contents/notes.json", {"type": "notebook", "content": nb})
    assert response.status == 201
    got = (await api.get("api/contents/notes.json", params={"content": 0})).json()
    assert response.json()["type"] == got["type"] == "file"
    assert response.json()["mimetype"] == got["mimetype"] == "application/json"


BAD_PUT_BODIES = [
    ({"format": "text", "content": "x"}, 400),                                   # no type
    ({"type": "thing", "format": "text", "content": "x"}, 400),                  # unknown type
    ({"type": "file", "format": "text"}, 400),                                   # no content
    ({"type": "file", "format": "yaml", "content": "x"}, 400),                   # unknown format
    ({"type": "file", "content": "x"}, 400),                                     # no format
    ({"type": "file", "format": "text", "content": {"a": 1}}, 400),              # wrong content type
    ({"type": "file", "format": "base64", "content": "!!notbase64"}, 400),       # bad base64
    ({"type": "notebook", "format": "json", "content": "text"}, 400),            # notebook as text
    ({"type": "notebook", "format": "json", "content": {"cells": 3}}, 400),      # unusable notebook
    ({"type": "file", "format": "text", "content": "x", "chunk": 0}, 400),       # bad chunk
    ({"type": "file", "format": "text", "content": "x", "chunk": 2}, 400),       # chunk without first
    ([1, 2, 3], 400),                                                            # not an object
]


@pytest.mark.gen_test
@pytest.mark.parametrize("body,status", BAD_PUT_BODIES)
async def test_bad_put_body_is_rejected_and_leaves_the_file(api, root_dir, body, status):
    (root_dir / "a.txt").write_text("keep me")
    response = await api.put("api/contents/a.txt", body)
    assert response.status == status and set(response.json()) == {"message", "reason"}
    assert (root_dir / "a.txt").read_text() == "keep me"


@pytest.mark.gen_test
async def test_malformed_json_is_400(api, root_dir):
    (root_dir / "a.txt").write_text("keep me")
    response = await api.put("api/contents/a.txt", raw_body=b'{"type": "file", ')
    assert response.status == 400 and "JSON" in response.json()["message"]
    assert (root_dir / "a.txt").read_text() == "keep me"


@pytest.mark.gen_test
async def test_non_json_content_type_is_415(api, root_dir):
    response = await api.put("api/contents/a.txt", raw_body=b"<xml/>", headers={"Content-Type": "application/xml"})
    assert response.status == 415 and response.json()["reason"] == "Unsupported Media Type"
    assert not (root_dir / "a.txt").exists()


@pytest.fixture
def server_config():
    """A small body limit for this whole module, so the 413 test needs no large upload."""
    return {"max_body_size": 64 * 1024}


@pytest.mark.gen_test
async def test_too_large_body_is_413_json(api, root_dir):
    body = {"type": "file", "format": "text", "content": "x" * 100_000}
    response = await api.put("api/contents/a.txt", body)
    assert response.status == 413 and response.json()["reason"] == "Payload Too Large"
    assert not (root_dir / "a.txt").exists()


@pytest.mark.gen_test
async def test_put_file_over_directory_is_409(api, root_dir):
    (root_dir / "sub").mkdir()
    response = await api.put("api/contents/sub", {"type": "file", "format": "text", "content": "x"})
    assert response.status == 409


@pytest.mark.gen_test
async def test_put_into_missing_directory_is_404(api):
    response = await api.put("api/contents/no/a.txt", {"type": "file", "format": "text", "content": "x"})
    assert response.status == 404


# -- POST --------------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_post_creates_untitled_items_with_location(api, root_dir):
    (root_dir / "sub").mkdir()
    first = await api.post("api/contents/sub", {"type": "notebook"})
    second = await api.post("api/contents/sub", {"type": "notebook"})
    text = await api.post("api/contents/sub", {"type": "file", "ext": ".txt"})
    folder = await api.post("api/contents/sub", {"type": "directory"})
    assert [r.status for r in (first, second, text, folder)] == [201] * 4
    assert [r.json()["path"] for r in (first, second, text, folder)] == [
        "sub/Untitled.ipynb", "sub/Untitled1.ipynb", "sub/untitled.txt", "sub/Untitled Folder"]
    assert first.headers["Location"] == "/api/contents/sub/Untitled.ipynb"


@pytest.mark.gen_test
async def test_post_without_body_creates_an_untitled_file(api, root_dir):
    response = await api.post("api/contents")
    assert response.status == 201 and response.json()["name"] == "untitled"


@pytest.mark.gen_test
async def test_post_copy_from_names_copy1(api, root_dir):
    write_notebook(root_dir / "n.ipynb")
    response = await api.post("api/contents", {"copy_from": "n.ipynb"})
    assert response.status == 201 and response.json()["name"] == "n-Copy1.ipynb"
    assert (root_dir / "n-Copy1.ipynb").read_bytes() == (root_dir / "n.ipynb").read_bytes()


@pytest.mark.gen_test
async def test_post_copy_of_a_folder_copies_everything(api, root_dir):
    (root_dir / "data").mkdir()
    (root_dir / "data" / "a.txt").write_text("x")
    response = await api.post("api/contents", {"copy_from": "data"})
    assert response.status == 201 and response.json()["name"] == "data-Copy1"
    assert (root_dir / "data-Copy1" / "a.txt").read_text() == "x"


@pytest.mark.gen_test
async def test_post_copy_of_missing_file_is_404(api):
    assert (await api.post("api/contents", {"copy_from": "missing.ipynb"})).status == 404


@pytest.mark.gen_test
async def test_post_to_a_file_is_400_and_to_nothing_404(api, root_dir):
    (root_dir / "a.txt").write_text("x")
    assert (await api.post("api/contents/a.txt", {"type": "file"})).status == 400
    assert (await api.post("api/contents/nowhere", {"type": "file"})).status == 404


@pytest.mark.gen_test
async def test_post_unknown_type_is_400(api):
    assert (await api.post("api/contents", {"type": "spreadsheet"})).status == 400


# -- PATCH -------------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_patch_renames_and_moves(api, root_dir):
    (root_dir / "a.txt").write_text("x")
    (root_dir / "sub").mkdir()
    response = await api.patch("api/contents/a.txt", {"path": "sub/b.txt"})
    assert response.status == 200 and response.json()["path"] == "sub/b.txt"
    assert response.headers["Location"] == "/api/contents/sub/b.txt"
    assert (root_dir / "sub" / "b.txt").read_text() == "x" and not (root_dir / "a.txt").exists()


@pytest.mark.gen_test
async def test_patch_onto_existing_name_is_409(api, root_dir):
    (root_dir / "a.txt").write_text("a")
    (root_dir / "b.txt").write_text("b")
    response = await api.patch("api/contents/a.txt", {"path": "b.txt"})
    assert response.status == 409
    assert (root_dir / "a.txt").read_text() == "a" and (root_dir / "b.txt").read_text() == "b"


@pytest.mark.gen_test
async def test_patch_without_path_is_400_and_missing_source_404(api, root_dir):
    (root_dir / "a.txt").write_text("a")
    assert (await api.patch("api/contents/a.txt", {"name": "b.txt"})).status == 400
    assert (await api.patch("api/contents/missing.txt", {"path": "b.txt"})).status == 404


@pytest.mark.gen_test
async def test_patch_folder_into_itself_is_400(api, root_dir):
    (root_dir / "sub").mkdir()
    assert (await api.patch("api/contents/sub", {"path": "sub/inner"})).status == 400
    assert (root_dir / "sub").is_dir()


# -- DELETE ------------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_delete_file_is_204(api, root_dir):
    (root_dir / "a.txt").write_text("x")
    response = await api.delete("api/contents/a.txt")
    assert response.status == 204 and response.body == b"" and not (root_dir / "a.txt").exists()


@pytest.mark.gen_test
async def test_delete_directory_with_contents(api, root_dir):
    (root_dir / "sub" / "deep").mkdir(parents=True)
    (root_dir / "sub" / "deep" / "a.txt").write_text("x")
    assert (await api.delete("api/contents/sub")).status == 204
    assert not (root_dir / "sub").exists()


@pytest.mark.gen_test
async def test_delete_missing_is_404_and_root_400(api, root_dir):
    assert (await api.delete("api/contents/missing")).status == 404
    assert (await api.delete("api/contents")).status == 400
    assert root_dir.exists()


# -- checkpoints -------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_checkpoint_lifecycle_restores_exact_bytes(api, root_dir):
    original = b"line one\r\nline two\x00\xff"
    (root_dir / "data.bin").write_bytes(original)
    assert (await api.get("api/contents/data.bin/checkpoints")).json() == []
    created = await api.post("api/contents/data.bin/checkpoints")
    assert created.status == 201
    checkpoint = created.json()
    assert set(checkpoint) == {"id", "last_modified"}
    assert created.headers["Location"] == f"/api/contents/data.bin/checkpoints/{checkpoint['id']}"
    assert (await api.get("api/contents/data.bin/checkpoints")).json() == [checkpoint]
    (root_dir / "data.bin").write_bytes(b"changed")
    restored = await api.post(f"api/contents/data.bin/checkpoints/{checkpoint['id']}")
    assert restored.status == 204 and (root_dir / "data.bin").read_bytes() == original
    deleted = await api.delete(f"api/contents/data.bin/checkpoints/{checkpoint['id']}")
    assert deleted.status == 204
    assert (await api.get("api/contents/data.bin/checkpoints")).json() == []


@pytest.mark.gen_test
async def test_checkpoint_errors_are_404(api, root_dir):
    (root_dir / "a.txt").write_text("x")
    assert (await api.post("api/contents/missing.txt/checkpoints")).status == 404
    assert (await api.post("api/contents/a.txt/checkpoints/nope")).status == 404
    assert (await api.delete("api/contents/a.txt/checkpoints/checkpoint")).status == 404


@pytest.mark.gen_test
async def test_checkpoint_of_directory_is_400(api, root_dir):
    (root_dir / "sub").mkdir()
    assert (await api.post("api/contents/sub/checkpoints")).status == 400


@pytest.mark.gen_test
@pytest.mark.parametrize("stem_chars", [115, 124])  # 236 and 254 bytes: Jupyter's checkpoint name is cut
async def test_long_utf8_name_saves_checkpoints_and_restores(api, root_dir, stem_chars):
    name = "é" * stem_chars + ".ipynb"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")])
    response = await api.put(f"api/contents/{name}", {"type": "notebook", "content": nb})
    assert response.status == 201 and response.json()["name"] == name
    assert (await api.put(f"api/contents/{name}", {"type": "notebook", "content": nb})).status == 200
    saved = (root_dir / name).read_bytes()
    created = await api.post(f"api/contents/{name}/checkpoints")
    assert created.status == 201
    assert (await api.get(f"api/contents/{name}/checkpoints")).json() == [created.json()]
    (root_dir / name).write_bytes(b"changed")
    assert (await api.post(f"api/contents/{name}/checkpoints/checkpoint")).status == 204
    assert (root_dir / name).read_bytes() == saved
    [checkpoint_name] = os.listdir(root_dir / ".ipynb_checkpoints")
    assert len(checkpoint_name.encode()) <= 255
    assert sorted(os.listdir(root_dir)) == [".ipynb_checkpoints", name]


@pytest.mark.gen_test
async def test_chunked_upload_of_a_long_utf8_name(api, root_dir):
    name = "é" * 117 + ".bin"  # 238 bytes
    for number, part in ((1, b"first "), (-1, b"last")):
        body = {"type": "file", "format": "base64", "chunk": number, "content": base64.b64encode(part).decode()}
        response = await api.put(f"api/contents/{name}", body)
        assert response.status in (200, 201)
    assert response.status == 201 and (root_dir / name).read_bytes() == b"first last"
    assert os.listdir(root_dir) == [name]


@pytest.mark.gen_test
@pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root")
async def test_save_and_checkpoint_restore_keep_owner_mode_acl_and_hard_links(api, root_dir):
    from tests.services.contents.test_fileio import identity, shared_file

    target = shared_file(root_dir / "shared.txt", b"version 1")
    os.link(target, root_dir / "link.txt")
    before, inode = identity(target), target.stat().st_ino
    assert (await api.post("api/contents/shared.txt/checkpoints")).status == 201
    put = await api.put("api/contents/shared.txt", {"type": "file", "format": "text", "content": "version 2"})
    assert put.status == 200 and (root_dir / "link.txt").read_text() == "version 2"
    assert identity(target) == before and target.stat().st_ino == inode
    assert (await api.post("api/contents/shared.txt/checkpoints/checkpoint")).status == 204
    assert (root_dir / "link.txt").read_text() == "version 1"
    assert identity(target) == before and target.stat().st_ino == inode


# -- paths and containment ---------------------------------------------------------------

@pytest.fixture
def outside_secret(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    return secret


@pytest.mark.gen_test
@pytest.mark.parametrize("path,status", [
    ("api/contents/../secret.txt", 400),
    ("api/contents/%2e%2e/secret.txt", 400),
    ("api/contents/sub/%2E%2E/%2E%2E/secret.txt", 400),
    ("api/contents/..%2fsecret.txt", 400),
    ("api/contents/a%00.txt", 400),
])
async def test_traversal_attempts_are_refused(api, root_dir, outside_secret, path, status):
    (root_dir / "sub").mkdir()
    response = await api.get(path)
    assert response.status == status
    assert "top secret" not in response.body.decode() and str(root_dir) not in response.body.decode()


@pytest.mark.gen_test
async def test_absolute_path_stays_inside_root(api, root_dir, outside_secret):
    response = await api.get("api/contents/" + str(outside_secret).lstrip("/"))
    assert response.status == 404 and "top secret" not in response.body.decode()


@pytest.mark.gen_test
async def test_symlink_out_of_root_is_404_and_unlisted(api, root_dir, outside_secret):
    (root_dir / "link.txt").symlink_to(outside_secret)
    assert (await api.get("api/contents/link.txt")).status == 404
    assert (await api.get("api/contents")).json()["content"] == []
    write = await api.put("api/contents/link.txt", {"type": "file", "format": "text", "content": "pwned"})
    assert write.status == 404 and outside_secret.read_text() == "top secret"


@pytest.mark.gen_test
async def test_hidden_file_is_not_listed_nor_served(api, root_dir):
    (root_dir / ".env").write_text("SECRET=1")
    (root_dir / ".git").mkdir()
    (root_dir / ".git" / "config").write_text("x")
    assert (await api.get("api/contents")).json()["content"] == []
    assert (await api.get("api/contents/.env")).status == 404
    assert (await api.get("api/contents/.git/config")).status == 404
    assert (await api.put("api/contents/.bashrc", {"type": "file", "format": "text", "content": "x"})).status == 400
    assert (await api.delete("api/contents/.env")).status == 400
    assert (root_dir / ".env").exists()


@pytest.mark.gen_test
async def test_unknown_api_route_is_404_json(api):
    response = await api.get("api/nonsense")
    assert response.status == 404 and set(response.json()) == {"message", "reason"}


@pytest.mark.gen_test
async def test_request_without_token_is_401_json(api):
    response = await api.get("api/contents", authenticated=False)
    assert response.status == 401 and response.json()["reason"] == "Unauthorized"


@pytest.mark.gen_test
async def test_trailing_slash_is_accepted(api, root_dir):
    (root_dir / "sub").mkdir()
    assert (await api.get("api/contents/sub/")).json()["path"] == "sub"


# -- paged listing (nbserver's own) ------------------------------------------------------

@pytest.mark.gen_test
async def test_paged_listing_returns_pages_with_total_and_cursor(api, root_dir):
    for i in range(25):
        (root_dir / f"f{i:02d}.txt").write_text("x")
    (root_dir / ".hidden").write_text("x")
    seen, cursor = [], None
    while True:
        params = {"page_size": 10, **({"cursor": cursor} if cursor else {})}
        model = (await api.get("api/contents", params=params)).json()
        assert model["total"] == 25 and model["type"] == "directory"
        seen += [c["name"] for c in model["content"]]
        cursor = model["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"f{i:02d}.txt" for i in range(25)]


@pytest.mark.gen_test
async def test_paged_listing_sees_a_new_file(api, root_dir):
    (root_dir / "b.txt").write_text("x")
    assert (await api.get("api/contents", params={"page_size": 5})).json()["total"] == 1
    (root_dir / "a.txt").write_text("x")
    page = (await api.get("api/contents", params={"page_size": 5})).json()
    assert [c["name"] for c in page["content"]] == ["a.txt", "b.txt"]


@pytest.mark.gen_test
@pytest.mark.parametrize("size", ["0", "-1", "abc", "10001", "\u00b2", "\u0663", "+5", "5_0"])
async def test_bad_page_size_is_400(api, size):
    assert (await api.get("api/contents", params={"page_size": size})).status == 400


@pytest.mark.gen_test
async def test_plain_listing_has_no_paging_fields(api, root_dir):
    model = (await api.get("api/contents")).json()
    assert "total" not in model and "next_cursor" not in model
