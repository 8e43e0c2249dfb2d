"""Saves with bodies past OFF_LOOP_BODY_BYTES: parsed in the thread pool, refused just as small ones are.

The notebook processes are off here (the thread pool's path); test_notebook_processes.py has theirs."""

from __future__ import annotations

import json
import threading

import nbformat
import pytest

from nbserver.base import jsonbody
from nbserver.base.handlers import OFF_LOOP_BODY_BYTES


@pytest.fixture
def server_config():
    from traitlets.config import Config

    config = Config()
    config.FileContentsManager.notebook_processes = 0
    return {"config": config}


def large_notebook():
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell("x = 'é'  # " + "0123456789" * (OFF_LOOP_BODY_BYTES // 8)))
    return json.loads(json.dumps(nb))


@pytest.fixture
def parsing_threads(monkeypatch):
    """The names of the threads that parsed request bodies."""
    names = []
    parse = jsonbody.parse_client_json

    def spy(raw):
        names.append(threading.current_thread().name)
        return parse(raw)
    monkeypatch.setattr(jsonbody, "parse_client_json", spy)
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


# -- read whole from the socket (nbserver/base/bodyreader.py) ----------------------------------

async def read_response(reader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = int(next(line.split(b":", 1)[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
    return status, await reader.readexactly(length)


def put_request(base_url, token, path, body, chunked=False):
    host = base_url.split("//", 1)[1].split("/", 1)[0]
    head = [f"PUT /api/contents/{path} HTTP/1.1", f"Host: {host}", f"Authorization: token {token}",
            "Content-Type: application/json"]
    if chunked:
        pieces = [body[index:index + 100_000] for index in range(0, len(body), 100_000)]
        body = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"
        head.append("Transfer-Encoding: chunked")
    else:
        head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


@pytest.fixture
def body_chunks(monkeypatch):
    """The sizes of the pieces each request's body reached data_received in."""
    from nbserver.services.contents.handlers import ContentsHandler

    sizes = []
    received = ContentsHandler.data_received

    def spy(self, chunk):
        sizes.append(len(chunk))
        return received(self, chunk)
    monkeypatch.setattr(ContentsHandler, "data_received", spy)
    return sizes


@pytest.mark.gen_test(timeout=30)
async def test_a_large_save_is_read_whole_and_the_connection_stays_usable(http_server, base_url, token, root_dir,
                                                                          body_chunks):
    import asyncio

    port = int(base_url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        bodies = [json.dumps({"type": "notebook", "content": large_notebook()}).encode() for _ in range(2)]
        for index, body in enumerate(bodies):  # two saves, one after the other, on one connection
            writer.write(put_request(base_url, token, f"big{index}.ipynb", body))
            status, reply = await read_response(reader)
            assert status == 201 and json.loads(reply)["name"] == f"big{index}.ipynb"
        writer.write(put_request(base_url, token, "small.txt", b'{"type": "file", "format": "text", "content": "x"}'))
        status, _ = await read_response(reader)
        assert status == 201 and (root_dir / "small.txt").read_text() == "x"
    finally:
        writer.close()
    assert body_chunks == [len(bodies[0]), len(bodies[1]), 50]  # each body in one piece
    for index in range(2):
        assert nbformat.read(str(root_dir / f"big{index}.ipynb"), as_version=4).cells[0].source \
            == large_notebook()["cells"][0]["source"]


@pytest.mark.gen_test(timeout=30)
async def test_a_large_chunked_save_is_read_tornados_way(http_server, base_url, token, root_dir, body_chunks):
    import asyncio

    port = int(base_url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        body = json.dumps({"type": "notebook", "content": large_notebook()}).encode()
        writer.write(put_request(base_url, token, "big.ipynb", body, chunked=True))
        status, _ = await read_response(reader)
    finally:
        writer.close()
    assert status == 201 and len(body_chunks) > 1 and sum(body_chunks) == len(body)
    assert nbformat.read(str(root_dir / "big.ipynb"), as_version=4).cells[0].source \
        == large_notebook()["cells"][0]["source"]


@pytest.mark.gen_test(timeout=30)
@pytest.mark.parametrize("length", [b"\xb2", b"1\xb2", b"-5", b"5 5"])
async def test_a_content_length_that_is_no_number_is_400_not_500(http_server, base_url, token, root_dir, length):
    # "²".isdigit() is True but int("²") raises: the length is read as ASCII digits only, and
    # tornado refuses the rest when it reads the body.
    import asyncio

    port = int(base_url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"PUT /api/contents/a.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: token "
                     + token.encode() + b"\r\nContent-Length: " + length + b"\r\n\r\n{}")
        head = await asyncio.wait_for(reader.read(4096), 10)
    finally:
        writer.close()
    assert head.startswith(b"HTTP/1.1 400") and not (root_dir / "a.txt").exists()
