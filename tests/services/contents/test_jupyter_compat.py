"""/api/contents behaviours Jupyter Server's clients rely on (issue 13), over real HTTP.

Reference: jupyter_server 2.x ``services/contents/handlers.py`` and ``filemanager.py``.
"""

from __future__ import annotations

import base64

import pytest


def text(content: str = "x") -> dict:
    return {"type": "file", "format": "text", "content": content}


def assert_hidden_refusal(response, verb: str) -> None:
    assert response.status == 400, (response.status, response.body)
    message = response.json()["message"]
    assert message.startswith(f"Cannot {verb} file or directory") and "hidden" in message


# -- hidden files and folders: reads 404, writes 400 ----------------------------------------

@pytest.fixture
def hidden_tree(root_dir):
    (root_dir / ".secret.txt").write_text("secret")
    (root_dir / ".hidden").mkdir()
    (root_dir / ".hidden" / "in.txt").write_text("inside")
    (root_dir / "plain.txt").write_text("plain")
    return root_dir


@pytest.mark.gen_test
async def test_reads_of_hidden_paths_stay_404(api, hidden_tree):
    for path in (".secret.txt", ".hidden", ".hidden/in.txt", ".missing"):
        assert (await api.get(f"api/contents/{path}")).status == 404, path


@pytest.mark.gen_test
async def test_put_of_a_new_hidden_file_or_one_under_a_hidden_folder_is_400(api, hidden_tree):
    assert_hidden_refusal(await api.put("api/contents/.new.txt", text()), "write")
    assert_hidden_refusal(await api.put("api/contents/.hidden/new.txt", text()), "write")
    assert_hidden_refusal(await api.put("api/contents/.newdir", {"type": "directory"}), "write")
    assert_hidden_refusal(await api.put("api/contents/.empty.ipynb"), "write")
    assert not (hidden_tree / ".new.txt").exists() and not (hidden_tree / ".hidden" / "new.txt").exists()
    assert not (hidden_tree / ".newdir").exists() and not (hidden_tree / ".empty.ipynb").exists()


@pytest.mark.gen_test
async def test_delete_of_a_hidden_file_or_folder_is_400_and_keeps_it(api, hidden_tree):
    assert_hidden_refusal(await api.delete("api/contents/.secret.txt"), "delete")
    assert_hidden_refusal(await api.delete("api/contents/.hidden"), "delete")
    assert_hidden_refusal(await api.delete("api/contents/.hidden/in.txt"), "delete")
    assert (hidden_tree / ".secret.txt").exists() and (hidden_tree / ".hidden" / "in.txt").exists()


@pytest.mark.gen_test
async def test_rename_to_or_from_a_hidden_path_is_400(api, hidden_tree):
    assert_hidden_refusal(await api.patch("api/contents/plain.txt", {"path": ".plain.txt"}), "rename")
    assert_hidden_refusal(await api.patch("api/contents/plain.txt", {"path": ".hidden/plain.txt"}), "rename")
    assert_hidden_refusal(await api.patch("api/contents/.secret.txt", {"path": "visible.txt"}), "rename")
    assert (hidden_tree / "plain.txt").exists() and not (hidden_tree / "visible.txt").exists()


@pytest.mark.gen_test
async def test_copy_to_or_from_a_hidden_path_is_400(api, hidden_tree):
    assert_hidden_refusal(await api.post("api/contents", {"copy_from": ".secret.txt"}), "copy")
    assert_hidden_refusal(await api.post("api/contents", {"copy_from": ".hidden"}), "copy")
    assert_hidden_refusal(await api.post("api/contents/.hidden", {"copy_from": "plain.txt"}), "copy")
    assert_hidden_refusal(await api.post("api/contents/.hidden", {"type": "file"}), "create")
    assert sorted(p.name for p in hidden_tree.iterdir()) == [".hidden", ".secret.txt", "plain.txt"]
    assert [p.name for p in (hidden_tree / ".hidden").iterdir()] == ["in.txt"]


@pytest.mark.gen_test
async def test_allow_hidden_lets_the_same_writes_through(api, server_app, hidden_tree):
    server_app.contents_manager.allow_hidden = True
    assert (await api.put("api/contents/.hidden/new.txt", text())).status == 201
    assert (await api.patch("api/contents/plain.txt", {"path": ".plain.txt"})).status == 200
    assert (await api.post("api/contents", {"copy_from": ".secret.txt"})).status == 201
    assert (await api.delete("api/contents/.hidden")).status == 204


# -- GET with a type that does not match ----------------------------------------------------

@pytest.mark.gen_test
async def test_get_of_a_folder_as_a_file_or_notebook_is_400_with_jupyters_words(api, root_dir):
    (root_dir / "sub").mkdir()
    (root_dir / "sub" / "inner").mkdir()
    for kind in ("file", "notebook"):
        response = await api.get("api/contents/sub/inner", params={"type": kind})
        assert response.status == 400 and response.json()["message"] == f"sub/inner is a directory, not a {kind}"


@pytest.mark.gen_test
async def test_get_of_a_file_as_a_directory_is_400_with_jupyters_words(api, root_dir):
    (root_dir / "sub").mkdir()
    (root_dir / "sub" / "a.txt").write_text("x")
    response = await api.get("api/contents/sub/a.txt", params={"type": "directory"})
    assert response.status == 400 and response.json()["message"] == "sub/a.txt is not a directory"


# -- copying folders --------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_post_copy_of_a_folder_copies_it_recursively_as_copy1_then_copy2(api, root_dir):
    (root_dir / "data" / "deep").mkdir(parents=True)
    (root_dir / "data" / "deep" / "b.bin").write_bytes(bytes(range(256)))
    (root_dir / "data" / "a.txt").write_text("a")
    for expected in ("data-Copy1", "data-Copy2"):
        response = await api.post("api/contents", {"copy_from": "data"})
        assert response.status == 201
        assert (response.json()["name"], response.json()["path"], response.json()["type"]) == \
            (expected, expected, "directory")
        assert (root_dir / expected / "deep" / "b.bin").read_bytes() == bytes(range(256))
        assert (root_dir / expected / "a.txt").read_text() == "a"


@pytest.mark.gen_test
async def test_post_copy_of_a_folder_into_another_keeps_its_name_while_free(api, root_dir):
    # Jupyter Server's increment_filename starts with the plain name in the destination.
    (root_dir / "data").mkdir()
    (root_dir / "data" / "a.txt").write_text("a")
    (root_dir / "dest").mkdir()
    first = await api.post("api/contents/dest", {"copy_from": "data"})
    second = await api.post("api/contents/dest", {"copy_from": "data"})
    assert [first.json()["path"], second.json()["path"]] == ["dest/data", "dest/data-Copy1"]
    assert (root_dir / "dest" / "data-Copy1" / "a.txt").read_text() == "a"


@pytest.mark.gen_test
async def test_copy_of_a_folder_over_max_copy_folder_size_mb_is_400_and_leaves_nothing(api, server_app, root_dir):
    server_app.contents_manager.max_copy_folder_size_mb = 1
    (root_dir / "big" / "sub").mkdir(parents=True)
    (root_dir / "big" / "a.bin").write_bytes(b"a" * 600_000)
    (root_dir / "big" / "sub" / "b.bin").write_bytes(b"b" * 600_000)
    response = await api.post("api/contents", {"copy_from": "big"})
    assert response.status == 400
    assert response.json()["message"] == "Cannot copy folders larger than 1 MB: 'big' is larger."
    assert sorted(p.name for p in root_dir.iterdir()) == ["big"]
    (root_dir / "big" / "sub" / "b.bin").unlink()
    assert (await api.post("api/contents", {"copy_from": "big"})).status == 201


def test_max_copy_folder_size_mb_defaults_to_jupyters_500(server_app):
    assert server_app.contents_manager.max_copy_folder_size_mb == 500


# -- base64 uploads ---------------------------------------------------------------------------

def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


PAYLOADS = {
    "empty.bin": b"",
    "binary.bin": bytes(range(256)) * 3,
    "upload.ipynb": b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}\n',
    "not-json.ipynb": b"\x00\xff not a notebook",
}


async def get_bytes(api, path: str) -> bytes:
    model = (await api.get(f"api/contents/{path}", params={"type": "file", "format": "base64"})).json()
    return base64.b64decode(model["content"])


@pytest.mark.gen_test
@pytest.mark.parametrize("name", sorted(PAYLOADS))
async def test_a_base64_upload_round_trips_byte_for_byte(api, root_dir, name):
    data = PAYLOADS[name]
    response = await api.put(f"api/contents/{name}", {"type": "file", "format": "base64", "content": b64(data)})
    assert response.status == 201, response.body
    assert (root_dir / name).read_bytes() == data
    assert await get_bytes(api, name) == data


@pytest.mark.gen_test
@pytest.mark.parametrize("variant", ["mime-lines", "spaces", "trailing-newline"])
async def test_base64_with_line_breaks_or_spaces_decodes_as_jupyter_decodes_it(api, root_dir, variant):
    data = bytes(range(256)) * 2
    content = {
        "mime-lines": base64.encodebytes(data).decode("ascii"),  # what Jupyter's own GET sends back
        "spaces": " ".join(b64(data)[i:i + 4] for i in range(0, len(b64(data)), 4)),
        "trailing-newline": b64(data) + "\n",
    }[variant]
    assert (await api.put("api/contents/a.bin", {"type": "file", "format": "base64", "content": content})).status == 201
    assert (root_dir / "a.bin").read_bytes() == data == base64.decodebytes(content.encode("ascii"))


@pytest.mark.gen_test
@pytest.mark.parametrize("content", ["aGVsbG8", "a", "héllo=="])
async def test_base64_without_its_padding_or_with_non_ascii_is_400_as_in_jupyter(api, root_dir, content):
    response = await api.put("api/contents/a.bin", {"type": "file", "format": "base64", "content": content})
    assert response.status == 400 and not (root_dir / "a.bin").exists()


@pytest.mark.gen_test
@pytest.mark.parametrize("name", ["big.bin", "big.ipynb"])
async def test_a_chunked_base64_upload_of_padded_chunks_round_trips(api, root_dir, name):
    # JupyterLab reads each 1 MiB slice as its own data URL: every chunk is padded base64 on its own.
    data = bytes(range(251)) * 1000 + b"tail"
    slices = [data[i:i + 100_000] for i in range(0, len(data), 100_000)]
    for index, piece in enumerate(slices, start=1):
        chunk = -1 if index == len(slices) else index
        body = {"type": "file", "format": "base64", "content": b64(piece), "chunk": chunk}
        response = await api.put(f"api/contents/{name}", body)
        assert response.status in (200, 201), response.body
    assert (root_dir / name).read_bytes() == data
    assert await get_bytes(api, name) == data

