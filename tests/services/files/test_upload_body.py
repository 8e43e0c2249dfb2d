"""A Content-Length upload body read straight into the upload's buffers.

Covers ``read_known_length_body`` (nbserver/services/files/content_handlers.py) and
``UploadStream.read_body`` (upload.py): the bytes and their SHA-256 are right whatever the buffer
boundaries, HTTP/1.1 framing stays tornado's (keep-alive with a pipelined next request,
``100-continue``), an empty body makes an empty file, a dropped client leaves nothing behind,
and a full disk (a real small tmpfs) is a 507 after the whole body.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pytest

from nbserver.services.contents.fileio import STAGING_PREFIX
from nbserver.services.files import content_handlers
from nbserver.services.files.upload import StagedUpload, UploadStream

# How a body is read does not depend on the metadata store: SQLite's run is enough.
pytestmark = [pytest.mark.gen_test(timeout=60), pytest.mark.sqlite_only]
BUFFER = 64 * 1024
BODY = os.urandom(5 * BUFFER + 1234)  # five full buffers, then a shorter one


class SmallBuffersStream(UploadStream):
    """An upload stream with small buffers, so that a small body spans several; it notes what read_body read."""

    def __init__(self, upload: StagedUpload) -> None:
        super().__init__(upload, read_buffer_bytes=BUFFER)
        self.bodies_read: list[int] = []

    async def read_body(self, source: Any, length: int) -> None:
        self.bodies_read.append(length)
        await super().read_body(source, length)


StreamT = TypeVar("StreamT", bound=UploadStream)


def recorded_streams(monkeypatch: pytest.MonkeyPatch, kind: Callable[[StagedUpload], StreamT]) -> list[StreamT]:
    """Have the server make its upload streams with ``kind``; the list of those it makes."""
    made: list[StreamT] = []

    def make(upload: StagedUpload) -> StreamT:
        made.append(kind(upload))
        return made[-1]

    monkeypatch.setattr(content_handlers, "UploadStream", make)
    return made


@pytest.fixture
def streams(monkeypatch: pytest.MonkeyPatch) -> list[SmallBuffersStream]:
    """The upload streams the server makes, reading into buffers (not splicing)."""
    monkeypatch.setattr(content_handlers, "can_splice", lambda stream: False)  # test_splicing.py covers splice
    return recorded_streams(monkeypatch, SmallBuffersStream)


class RawConnection:
    """One HTTP/1.1 connection to the test server, written and read by hand."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, base_url: str) -> RawConnection:
        url = urlsplit(base_url)
        return cls(*await asyncio.open_connection(url.hostname, url.port))

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def response(self) -> tuple[int, bytes]:
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 30)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        length = next((int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:")), 0)
        return status, await asyncio.wait_for(self.reader.readexactly(length), 30)

    def close(self) -> None:
        self.writer.close()


def upload_head(token: str, name: str, length: int, *extra: str) -> bytes:
    lines = ["POST /api/files/upload HTTP/1.1", "Host: 127.0.0.1", f"Authorization: token {token}",
             f"X-File-Name: {name}", "Content-Type: application/octet-stream", f"Content-Length: {length}", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def upload_after_100_continue(base_url: str, token: str, name: str, body: bytes) -> None:
    """Send the headers with ``Expect: 100-continue``, the body only after the interim 100; expect 201."""
    connection = await RawConnection.open(base_url)
    try:
        connection.send(upload_head(token, name, len(body), "Expect: 100-continue"))
        interim = await asyncio.wait_for(connection.reader.readuntil(b"\r\n\r\n"), 30)
        assert interim.startswith(b"HTTP/1.1 100")
        connection.send(body)
        status, answer = await connection.response()
        assert status == 201, answer
    finally:
        connection.close()


def status_request(token: str) -> bytes:
    """A ``GET /api/status`` request, to send behind another on the same connection."""
    return f"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: token {token}\r\n\r\n".encode()


async def upload_to_full_disk_then_status(base_url: str, token: str, small_tmpfs: Path, body: bytes) -> None:
    """Upload ``body`` into the too small ``small_tmpfs`` with a pipelined status request behind it:
    507 (no server path in the message), then the status's 200, and nothing left in the folder."""
    connection = await RawConnection.open(base_url)
    try:
        connection.send(upload_head(token, "f.bin", len(body), f"Nbserver-Parent-Path: {small_tmpfs.name}") + body
                        + status_request(token))
        status, answer = await connection.response()
        assert status == 507 and str(small_tmpfs) not in json.loads(answer)["message"], answer
        status, answer = await connection.response()
        assert status == 200, answer
    finally:
        connection.close()
    assert os.listdir(small_tmpfs) == []


def leftovers(folder: Path) -> list[str]:
    return [name for name in os.listdir(folder) if name.startswith(STAGING_PREFIX)]


async def eventually(condition: Callable[[], object]) -> bool:
    """Whether ``condition()`` becomes true within 3 seconds (polled every 10 ms)."""
    for _ in range(300):
        if condition():
            return True
        await asyncio.sleep(0.01)
    return bool(condition())


async def test_a_body_across_several_buffers_is_stored_and_hashed_exactly(
        http_server: Any, base_url: str, token: str, root_dir: Path, streams: list[SmallBuffersStream]) -> None:
    """A keep-alive connection: the upload and a pipelined PUT sent in one go; both are answered, and
    the PUT's Content-Length body goes through tornado's own reader again."""
    connection = await RawConnection.open(base_url)
    try:
        put_body = json.dumps({"type": "file", "format": "text", "content": "after"}).encode()
        put = (f"PUT /api/contents/after.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: token {token}\r\n"
               f"Content-Type: application/json\r\nContent-Length: {len(put_body)}\r\n\r\n").encode() + put_body
        connection.send(upload_head(token, "big.bin", len(BODY)) + BODY + put)
        status, answer = await connection.response()
        assert status == 201, answer
        status, answer = await connection.response()
        assert status == 201 and json.loads(answer)["path"] == "after.txt", answer
    finally:
        connection.close()
    assert (root_dir / "big.bin").read_bytes() == BODY
    assert (root_dir / "after.txt").read_text() == "after"
    [stream] = streams
    assert stream.bodies_read == [len(BODY)]  # read by read_body, not through data_received
    assert stream.upload._digest.hexdigest() == hashlib.sha256(BODY).hexdigest()
    assert stream.peak_buffered <= 2 * BUFFER and stream.buffered == 0
    assert leftovers(root_dir) == []


async def test_an_empty_body_makes_an_empty_file(
        http_server: Any, base_url: str, token: str, root_dir: Path, streams: list[SmallBuffersStream]) -> None:
    connection = await RawConnection.open(base_url)
    try:
        connection.send(upload_head(token, "empty.bin", 0))
        status, answer = await connection.response()
        assert status == 201 and json.loads(answer)["size"] == 0, answer
    finally:
        connection.close()
    assert (root_dir / "empty.bin").read_bytes() == b""
    assert streams[0].bodies_read == [0]


async def test_expect_100_continue_is_answered_before_the_body(
        http_server: Any, base_url: str, token: str, root_dir: Path, streams: list[SmallBuffersStream]) -> None:
    await upload_after_100_continue(base_url, token, "later.bin", BODY)
    assert (root_dir / "later.bin").read_bytes() == BODY


async def test_a_client_gone_mid_body_leaves_nothing(
        http_server: Any, base_url: str, token: str, root_dir: Path, streams: list[SmallBuffersStream]) -> None:
    connection = await RawConnection.open(base_url)
    connection.send(upload_head(token, "cut.bin", len(BODY)) + BODY[:3 * BUFFER + 100])
    await connection.writer.drain()
    await eventually(lambda: streams and streams[0].upload.size >= 2 * BUFFER)
    assert leftovers(root_dir)  # the staging file exists while the body comes in
    connection.close()
    await eventually(lambda: not leftovers(root_dir))
    assert os.listdir(root_dir) == []


@pytest.fixture
def small_tmpfs(root_dir: Path) -> Iterator[Path]:
    """A real 256 KiB tmpfs mounted as a folder of the root: smaller than BODY; root only."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    folder = root_dir / "small"
    folder.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(folder)], check=True, timeout=30)
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True, timeout=30)


async def test_a_full_disk_is_507_after_the_whole_body_and_leaves_nothing(
        http_server: Any, base_url: str, token: str, small_tmpfs: Path, streams: list[SmallBuffersStream]) -> None:
    """The rest of the body is read and dropped, so the answer comes on a connection still in step."""
    await upload_to_full_disk_then_status(base_url, token, small_tmpfs, BODY)
