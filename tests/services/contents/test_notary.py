"""Notebook trust: nbformat-compatible signatures, marks on GET, signing on save and by POST .../trust."""

from __future__ import annotations

import importlib.util
import json
import os
import stat

import nbformat
import pytest
from nbformat.sign import NotebookNotary as NbformatNotary

from nbserver.services.contents import notary
from nbserver.services.contents.notary import NotebookNotary, digest_notebook, take_cell_trust


def notebook_with_html(source: str = "display(HTML('<b>x</b>'))", trusted: bool | None = None) -> dict:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(source, outputs=[
        nbformat.v4.new_output("display_data", data={"text/html": "<script>alert(1)</script><b>x</b>",
                                                      "text/plain": "x\ny"}),
        nbformat.v4.new_output("stream", text="line 1\nline 2\n")])
    if trusted is not None:
        cell.metadata["trusted"] = trusted
    nb.cells += [nbformat.v4.new_markdown_cell("# title"), cell, nbformat.v4.new_code_cell("1 + 1")]
    nb.metadata["signature"] = "sha256:ignored"
    return json.loads(json.dumps(nb))


def nbformat_notary(jupyter_env) -> NbformatNotary:
    return NbformatNotary(data_dir=os.environ["JUPYTER_DATA_DIR"])


# -- the notary against nbformat's -------------------------------------------------------------

def test_the_digest_is_nbformats_compute_signature(jupyter_env):
    theirs = nbformat_notary(jupyter_env)
    nb = notebook_with_html()
    nb["metadata"]["numbers"] = [1, 2.5, True, None, -3, "é\U0001f600"]
    assert digest_notebook(theirs.secret, nb) == theirs.compute_signature(nbformat.from_dict(nb))


def test_what_this_server_signs_nbformat_trusts_and_back(jupyter_env):
    ours, theirs = NotebookNotary(), nbformat_notary(jupyter_env)
    signed_here, signed_there = notebook_with_html("a"), notebook_with_html("b")
    ours.sign(ours.digest(signed_here))
    theirs.sign(nbformat.from_dict(signed_there))
    assert theirs.check_signature(nbformat.from_dict(signed_here))
    assert ours.is_signed(ours.digest(signed_there))
    assert not ours.is_signed(ours.digest(notebook_with_html("c")))


def test_the_secret_is_made_with_mode_0600_in_the_jupyter_data_dir(jupyter_env):
    notary = NotebookNotary()
    assert not notary.is_signed(notary.digest(notebook_with_html()))
    secret = os.path.join(os.environ["JUPYTER_DATA_DIR"], "notebook_secret")
    assert stat.S_IMODE(os.stat(secret).st_mode) == 0o600
    assert os.path.exists(os.path.join(os.environ["JUPYTER_DATA_DIR"], "nbsignatures.db"))


def test_take_cell_trust_follows_nbformats_check_cells(jupyter_env):
    theirs = nbformat_notary(jupyter_env)
    for trusted in (None, False, True):
        ours_nb = notebook_with_html(trusted=trusted)
        their_nb = nbformat.from_dict(json.loads(json.dumps(ours_nb)))
        assert take_cell_trust(ours_nb) == theirs.check_cells(their_nb) == (trusted is True)
        assert ours_nb == their_nb  # the flags are taken off alike
    plain = json.loads(json.dumps(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")])))
    assert take_cell_trust(plain)


# -- over the API ------------------------------------------------------------------------------

def code_cell_marks(model: dict) -> list:
    return [cell["metadata"].get("trusted") for cell in model["content"]["cells"] if cell["cell_type"] == "code"]


@pytest.mark.gen_test
async def test_a_notebook_that_arrived_on_disk_reads_as_untrusted(api, root_dir):
    (root_dir / "n.ipynb").write_text(json.dumps(notebook_with_html()))
    assert code_cell_marks((await api.get("api/contents/n.ipynb")).json()) == [False, False]


@pytest.mark.gen_test
@pytest.mark.parametrize("small_notebook_bytes", [256 * 1024, 0])  # 0: signed in a thread beside the write
async def test_a_notebook_saved_with_trusted_cells_is_signed_and_reads_as_trusted(api, root_dir, jupyter_env,
                                                                                   server_app, small_notebook_bytes):
    server_app.contents_manager.small_notebook_bytes = small_notebook_bytes
    response = await api.put("api/contents/n.ipynb", {"type": "notebook", "content": notebook_with_html(trusted=True)})
    assert response.status == 201
    on_disk = json.loads((root_dir / "n.ipynb").read_text())
    assert all("trusted" not in cell["metadata"] for cell in on_disk["cells"])  # never written
    assert code_cell_marks((await api.get("api/contents/n.ipynb")).json()) == [True, True]
    assert nbformat_notary(jupyter_env).check_signature(nbformat.read(str(root_dir / "n.ipynb"), as_version=4))


@pytest.mark.gen_test
async def test_a_notebook_saved_with_untrusted_rich_output_is_not_signed(api, root_dir):
    await api.put("api/contents/n.ipynb", {"type": "notebook", "content": notebook_with_html(trusted=False)})
    assert code_cell_marks((await api.get("api/contents/n.ipynb")).json()) == [False, False]


@pytest.mark.gen_test
async def test_a_changed_file_loses_its_trust(api, root_dir):
    await api.put("api/contents/n.ipynb", {"type": "notebook", "content": notebook_with_html(trusted=True)})
    nb = json.loads((root_dir / "n.ipynb").read_text())
    nb["cells"][1]["outputs"][0]["data"]["text/html"] = ["<script>evil()</script>"]
    (root_dir / "n.ipynb").write_text(json.dumps(nb))
    assert code_cell_marks((await api.get("api/contents/n.ipynb")).json()) == [False, False]


@pytest.mark.gen_test
async def test_post_trust_signs_the_notebook_201(api, root_dir):
    (root_dir / "n.ipynb").write_text(json.dumps(notebook_with_html()))
    response = await api.post("api/contents/n.ipynb/trust")
    assert response.status == 201 and response.body == b""
    assert code_cell_marks((await api.get("api/contents/n.ipynb")).json()) == [True, True]


@pytest.mark.gen_test
async def test_post_trust_of_a_missing_path_is_404_and_of_a_non_notebook_400(api, root_dir):
    (root_dir / "a.txt").write_text("x")
    (root_dir / "sub").mkdir()
    assert (await api.post("api/contents/missing.ipynb/trust")).status == 404
    assert (await api.post("api/contents/a.txt/trust")).status == 400
    assert (await api.post("api/contents/sub/trust")).status == 400


def test_signatures_outlive_closing_the_database(jupyter_env):
    notary = NotebookNotary()
    digest = notary.digest(notebook_with_html())
    notary.sign(digest)
    notary.close()  # what the server does when it stops
    assert NotebookNotary().is_signed(digest) and notary.is_signed(digest)


@pytest.mark.gen_test
async def test_an_unusable_signature_store_leaves_saves_and_reads_working_untrusted_and_trust_503(api, root_dir, jupyter_env):
    data_dir = os.environ["JUPYTER_DATA_DIR"]
    os.makedirs(os.path.join(data_dir, "nbsignatures.db"))  # a folder where the database should be
    response = await api.put("api/contents/n.ipynb", {"type": "notebook", "content": notebook_with_html(trusted=True)})
    assert response.status == 201
    assert code_cell_marks((await api.get("api/contents/n.ipynb")).json()) == [False, False]
    response = await api.post("api/contents/n.ipynb/trust")
    assert response.status == 503 and "signature store" in response.json()["message"]
    assert data_dir not in response.json()["message"]


@pytest.mark.parametrize("value", [
    [1e-05, 2.5, -0.0, 1e300, 3, True, None, "é\U0001f600", ""],
    [[1.5, [2, ["a", {"b": [None, False]}]]], {"z": 1, "a": [0.1, 0.2]}],
    ["line 1\n", "line 2\n"] * 50,
    [],
    [{"a": [1.0] * 5}, "text", 7],
    [2**70, {"ké": "中文 😀"}, "café"],  # orjson refuses the integer: UTF-8 piece by piece alone
])
def test_the_digest_of_any_list_is_nbformats(jupyter_env, value):
    theirs = nbformat_notary(jupyter_env)
    nb = notebook_with_html()
    nb["metadata"]["values"] = value
    nb["cells"][1]["outputs"][0]["data"]["application/json"] = {"values": value}
    expected = theirs.compute_signature(nbformat.from_dict(nb))
    assert digest_notebook(theirs.secret, nb, replying=False) == expected  # a save: one joined text
    assert digest_notebook(theirs.secret, nb) == expected  # a read: piece by piece, the reply's UTF-8 made


def test_the_digest_skips_only_the_notebooks_own_signature(jupyter_env):
    theirs = nbformat_notary(jupyter_env)
    nb = notebook_with_html()
    nb["cells"][0]["metadata"]["signature"] = "kept: only metadata.signature of the notebook is left out"
    assert digest_notebook(theirs.secret, nb) == theirs.compute_signature(nbformat.from_dict(nb))
    assert nb["metadata"]["signature"] == "sha256:ignored"  # the model is left as it was


def test_a_notebook_nested_too_deep_to_digest_is_untrusted_not_an_error(jupyter_env):
    nested: list = []
    for _ in range(2000):
        nested = [nested]
    nb = notebook_with_html()
    nb["metadata"]["deep"] = nested
    assert NotebookNotary().digest(nb) is None


def test_the_digest_of_many_floats_is_nbformats(jupyter_env):
    import random

    rng = random.Random(7)
    floats = [rng.uniform(-1, 1) * 10.0 ** rng.randint(-320, 300) for _ in range(5000)] + [1e-05, 3, -0.0, 1e16]
    theirs = nbformat_notary(jupyter_env)
    nb = notebook_with_html()
    nb["metadata"]["plot"] = {"x": floats, "y": [2**70, 1.5], "z": [float(i) for i in range(100)]}
    if importlib.util.find_spec("ujson"):
        assert notary._ujson_numbers() is not None  # the fast path is taken
    assert digest_notebook(theirs.secret, nb) == theirs.compute_signature(nbformat.from_dict(nb))


def test_the_digest_of_numbers_does_not_need_ujson(jupyter_env, monkeypatch):
    from nbserver.services.contents import notary

    monkeypatch.setattr(notary, "_ujson_numbers", lambda: None)
    theirs = nbformat_notary(jupyter_env)
    nb = notebook_with_html()
    nb["metadata"]["plot"] = [1e-05, 2.5, 7]
    assert digest_notebook(theirs.secret, nb) == theirs.compute_signature(nbformat.from_dict(nb))


@pytest.mark.parametrize("replying", [True, False])
def test_a_lone_surrogate_has_no_signature(jupyter_env, replying):
    """nbformat cannot sign it either (its UTF-8 encoding raises): untrusted, not an error."""
    nb = notebook_with_html()
    nb["cells"][0]["source"] = "é \ud800"
    assert NotebookNotary().digest(nb, replying) is None
