"""Saves with bodies past OFF_LOOP_BODY_BYTES: parsed in the thread pool, refused just as small ones are."""

from __future__ import annotations

import json
import threading

import nbformat
import pytest

from nbserver.base import handlers
from nbserver.base.handlers import OFF_LOOP_BODY_BYTES


def large_notebook():
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell("x = 'é'  # " + "0123456789" * (OFF_LOOP_BODY_BYTES // 8)))
    return json.loads(json.dumps(nb))


@pytest.fixture
def parsing_threads(monkeypatch):
    """The names of the threads that parsed request bodies."""
    names = []
    parse = handlers.parse_client_json

    def spy(raw):
        names.append(threading.current_thread().name)
        return parse(raw)
    monkeypatch.setattr(handlers, "parse_client_json", spy)
    return names


@pytest.mark.gen_test
async def test_a_large_save_is_parsed_off_the_event_loop(api, root_dir, parsing_threads):
    nb = large_notebook()
    response = await api.put("api/contents/big.ipynb", {"type": "notebook", "content": nb})
    assert response.status == 201
    assert nbformat.read(str(root_dir / "big.ipynb"), as_version=4).cells[0].source == nb["cells"][0]["source"]
    assert len(parsing_threads) == 1 and parsing_threads[0] != threading.main_thread().name
    small = await api.put("api/contents/small.txt", {"type": "file", "format": "text", "content": "x"})
    assert small.status == 201 and parsing_threads[1] == threading.main_thread().name


@pytest.mark.gen_test
@pytest.mark.parametrize("raw, status, words", [
    (b'{"type": "notebook", "content": "' + b"x" * OFF_LOOP_BODY_BYTES, 400, "not valid JSON"),
    (b'[' + b'"x", ' * OFF_LOOP_BODY_BYTES + b'"x"]', 400, "must be a JSON object"),
    (b'{"type": "file", "format": "text", "content": "' + b"\xff" * OFF_LOOP_BODY_BYTES + b'"}', 400, "UTF-8"),
])
async def test_a_large_bad_body_is_refused_and_leaves_the_file(api, root_dir, raw, status, words):
    (root_dir / "a.txt").write_text("keep me")
    response = await api.put("api/contents/a.txt", raw_body=raw)
    assert response.status == status and words in response.json()["message"]
    assert (root_dir / "a.txt").read_text() == "keep me"


@pytest.mark.gen_test
async def test_a_large_body_of_another_media_type_is_415(api, root_dir):
    body = json.dumps({"type": "notebook", "content": large_notebook()}).encode()
    response = await api.put("api/contents/big.ipynb", raw_body=body, headers={"Content-Type": "application/xml"})
    assert response.status == 415 and response.json()["reason"] == "Unsupported Media Type"
    assert not (root_dir / "big.ipynb").exists()


@pytest.mark.gen_test
async def test_a_large_body_of_whitespace_is_no_body(api, root_dir):
    response = await api.put("api/contents/empty.txt", raw_body=b" \n" * OFF_LOOP_BODY_BYTES)
    assert response.status == 201 and (root_dir / "empty.txt").read_bytes() == b""
