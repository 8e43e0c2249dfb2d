"""/files and /nbconvert through any store, the filesystem and one that is not: only the manager
interface is used. Ranges and conditional requests as browsers send them (RFC 9110 sections 13-14)."""

from __future__ import annotations

import base64
import os
from typing import Any

import nbformat
import pytest

from nbserver.services.contents.filemanager import FileContentsManager
from tests.services.contents.memory_manager import InMemoryContentsManager

SIZE = 200_000


pytestmark = pytest.mark.parametrize("server_config", [
    {"contents_manager_class": FileContentsManager},
    {"contents_manager_class": InMemoryContentsManager},
], ids=["disk", "memory"])


async def upload_video(api: Any) -> bytes:
    """A 200,000-byte file, video.mp4, uploaded through the API."""
    data = os.urandom(SIZE)
    saved = await api.put("api/contents/video.mp4",
                          {"type": "file", "format": "base64", "content": base64.b64encode(data).decode()})
    assert saved.status == 201
    return data


@pytest.mark.gen_test
async def test_files_range_is_206_with_exactly_those_bytes(server_config, api):
    video = await upload_video(api)
    response = await api.get("files/video.mp4", headers={"Range": "bytes=100-199"})
    assert response.status == 206
    assert response.headers["Content-Range"] == f"bytes 100-199/{SIZE}"
    assert response.headers["Content-Length"] == "100"
    assert response.body == video[100:200]
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["Content-Type"] == "video/mp4"
    assert response.headers["Content-Security-Policy"].split(";")[0] == "sandbox"


@pytest.mark.gen_test
async def test_files_suffix_and_open_ended_ranges(server_config, api):
    video = await upload_video(api)
    suffix = await api.get("files/video.mp4", headers={"Range": "bytes=-500"})
    assert suffix.status == 206
    assert suffix.headers["Content-Range"] == f"bytes {SIZE - 500}-{SIZE - 1}/{SIZE}"
    assert suffix.body == video[-500:]
    open_ended = await api.get("files/video.mp4", headers={"Range": "bytes=1000-"})
    assert open_ended.status == 206
    assert open_ended.headers["Content-Range"] == f"bytes 1000-{SIZE - 1}/{SIZE}"
    assert open_ended.body == video[1000:]


@pytest.mark.gen_test
async def test_files_range_end_past_the_size_is_cut_at_the_end(server_config, api):
    video = await upload_video(api)
    response = await api.get("files/video.mp4", headers={"Range": f"bytes={SIZE - 10}-{SIZE * 2}"})
    assert response.status == 206
    assert response.body == video[-10:]


@pytest.mark.gen_test
async def test_files_range_past_the_end_is_416_with_the_size(server_config, api):
    video = await upload_video(api)
    for header in (f"bytes={SIZE}-", f"bytes={SIZE + 5}-{SIZE + 10}", "bytes=-0"):
        response = await api.get("files/video.mp4", headers={"Range": header})
        assert response.status == 416, header
        assert response.headers["Content-Range"] == f"bytes */{SIZE}"
        assert response.body == b""


@pytest.mark.gen_test
async def test_files_range_of_the_whole_file_and_unparsable_ranges_get_200(server_config, api):
    video = await upload_video(api)
    # Chrome will not play audio answered with a 206 to "bytes=0-"; a bad Range is ignored (RFC 9110 14.2).
    for header in ("bytes=0-", "bytes=0-1,5-6", "lines=1-2", "bytes=x-y"):
        response = await api.get("files/video.mp4", headers={"Range": header})
        assert response.status == 200, header
        assert response.body == video
        assert "Content-Range" not in response.headers


@pytest.mark.gen_test
async def test_files_head_of_a_range_sends_its_headers_only(server_config, api):
    video = await upload_video(api)
    response = await api.request("HEAD", "files/video.mp4", headers={"Range": "bytes=10-19"})
    assert response.status == 206
    assert response.headers["Content-Range"] == f"bytes 10-19/{SIZE}"
    assert response.headers["Content-Length"] == "10"
    assert response.body == b""


@pytest.mark.gen_test
async def test_files_etag_and_last_modified_answer_304(server_config, api):
    video = await upload_video(api)
    first = await api.get("files/video.mp4")
    assert first.headers["ETag"].startswith('"')  # strong: If-Range may use it
    for headers in ({"If-None-Match": first.headers["ETag"]},
                    {"If-None-Match": f'"other", {first.headers["ETag"]}'},
                    {"If-Modified-Since": first.headers["Last-Modified"]},
                    {"If-None-Match": first.headers["ETag"], "Range": "bytes=0-9"}):
        again = await api.get("files/video.mp4", headers=headers)
        assert again.status == 304, headers
        assert again.body == b""
    stale = await api.get("files/video.mp4", headers={"If-None-Match": '"other"'})
    assert stale.status == 200 and stale.body == video


@pytest.mark.gen_test
async def test_files_if_range_applies_the_range_only_to_the_same_version(server_config, api):
    video = await upload_video(api)
    etag = (await api.get("files/video.mp4")).headers["ETag"]
    current = await api.get("files/video.mp4", headers={"Range": "bytes=0-9", "If-Range": etag})
    assert current.status == 206 and current.body == video[:10]
    changed = video[:5] + b"changed" + video[12:]
    await api.put("api/contents/video.mp4",
                  {"type": "file", "format": "base64", "content": base64.b64encode(changed).decode()})
    stale = await api.get("files/video.mp4", headers={"Range": "bytes=0-9", "If-Range": etag})
    assert stale.status == 200 and stale.body == changed
    weak = await api.get("files/video.mp4", headers={"Range": "bytes=0-9", "If-Range": "W/" + etag})
    assert weak.status == 200


@pytest.mark.gen_test
async def test_files_download_keeps_ranges(server_config, api):
    video = await upload_video(api)
    response = await api.get("files/video.mp4?download=1", headers={"Range": "bytes=0-0"})
    assert response.status == 206 and response.body == video[:1]
    assert response.headers["Content-Disposition"].startswith("attachment;")


@pytest.mark.gen_test
async def test_files_streams_through_open_file_not_a_whole_model(server_config, api, server_app, monkeypatch):
    video = await upload_video(api)

    async def whole_model(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("/files loaded the whole file through get()")

    monkeypatch.setattr(server_app.contents_manager, "get", whole_model)
    response = await api.get("files/video.mp4", headers={"Range": "bytes=5-9"})
    assert response.status == 206 and response.body == video[5:10]
    assert (await api.get("files/video.mp4")).body == video


@pytest.mark.gen_test
async def test_files_serves_a_file_of_any_store_with_caching_headers(server_config, api):
    saved = await api.put("api/contents/page.html", {"type": "file", "format": "text", "content": "<p>hi</p>"})
    assert saved.status == 201
    response = await api.get("files/page.html")
    assert response.status == 200
    assert response.body == b"<p>hi</p>"
    assert response.headers["Content-Type"] == "text/html; charset=UTF-8"
    assert response.headers["Content-Security-Policy"].split(";")[0] == "sandbox"
    again = await api.get("files/page.html", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status == 304


@pytest.mark.gen_test
async def test_files_of_any_store_404s_for_missing_and_hidden(server_config, api):
    assert (await api.get("files/missing.txt")).status == 404
    assert (await api.get("files/.secret")).status == 404


@pytest.mark.gen_test(timeout=60)
async def test_nbconvert_reads_through_any_store(server_config, api):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# From memory")]
    await api.put("api/contents/m.ipynb", {"type": "notebook", "content": nb})
    response = await api.get("nbconvert/markdown/m.ipynb")
    assert response.status == 200
    assert b"# From memory" in response.body
