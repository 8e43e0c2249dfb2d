"""A Content-Length upload body spliced from the socket into the staging file (splicing.py, ``UploadStream.splice_body``).

Against an in-process server over real loopback sockets: the bytes tornado already read with the
headers come first and the rest is spliced, exactly ``Content-Length`` bytes (a pipelined or later
request on the kept-alive connection is answered), ``100-continue`` still works, the SHA-256 read
back from the page cache is the stored bytes', a client gone mid-body or a full disk (a real
small tmpfs: ``ENOSPC`` from splice) leaves nothing behind and no descriptor open, ``on_conflict``
and notebook checks work as on the buffered path, and chunked bodies, TLS streams and systems
without ``os.splice`` take the buffered path.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
from tornado.iostream import SSLIOStream, StreamClosedError

from nbserver.services.files import upload
from nbserver.services.files.splicing import SplicePipe, buffered_bytes, can_splice
from nbserver.services.files.upload import StagedUpload, UploadStream
from tests.services.files.test_upload_body import (
    RawConnection,
    eventually,
    leftovers,
    recorded_streams,
    small_tmpfs,
    status_request,
    upload_after_100_continue,
    upload_head,
    upload_to_full_disk_then_status,
)

pytestmark = [pytest.mark.gen_test(timeout=60), pytest.mark.sqlite_only]
__all__ = ["small_tmpfs"]  # the fixture, shared with test_upload_body
BODY = os.urandom(3 * 1024 * 1024 + 4321)  # larger than tornado's first read: most of it is spliced
BATCH = 256 * 1024
MAX_BODY = 8 * 1024 * 1024


@pytest.fixture
def server_config() -> dict[str, Any]:
    return {"max_body_size": MAX_BODY}


class RecordingStream(UploadStream):
    """An upload stream that notes how its body came: bytes held by tornado, and bytes spliced."""

    def __init__(self, staged: StagedUpload) -> None:
        super().__init__(staged, read_buffer_bytes=64 * 1024)  # the hash reads back in several pieces
        self.held: int | None = None
        self.pipes: list[SplicePipe] = []
        self.source: Any = None
        self.ended: BaseException | None = None

    async def splice_body(self, source: Any, length: int) -> None:
        self.held, self.source = buffered_bytes(source), source
        try:
            await super().splice_body(source, length)
        except BaseException as exc:
            self.ended = exc
            raise

    @property
    def spliced(self) -> int:
        return sum(pipe.taken for pipe in self.pipes)


@pytest.fixture
def streams(monkeypatch: pytest.MonkeyPatch) -> list[RecordingStream]:
    """The upload streams the server makes, each with the pipes it spliced through (small batches)."""
    made = recorded_streams(monkeypatch, RecordingStream)

    def pipe() -> SplicePipe:
        made[-1].pipes.append(SplicePipe())
        return made[-1].pipes[-1]

    monkeypatch.setattr(upload, "SplicePipe", pipe)
    monkeypatch.setattr(upload, "SPLICE_BATCH_BYTES", BATCH)
    return made


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_a_body_partly_buffered_by_tornado_is_spliced_exactly_and_the_connection_kept(
        http_server: Any, base_url: str, token: str, root_dir: Path, streams: list[RecordingStream]) -> None:
    """Headers, body and a pipelined request in one send: tornado holds the body's start, the rest is
    spliced and not a byte more; then a second upload on the same connection is spliced too."""
    connection = await RawConnection.open(base_url)
    try:
        connection.send(upload_head(token, "big.bin", len(BODY)) + BODY + status_request(token))
        status, answer = await connection.response()
        assert status == 201 and json.loads(answer)["size"] == len(BODY), answer
        status, answer = await connection.response()
        assert status == 200 and "started" in json.loads(answer), answer
        connection.send(upload_head(token, "again.bin", len(BODY)))
        await connection.writer.drain()
        connection.send(BODY)
        status, answer = await connection.response()
        assert status == 201, answer
    finally:
        connection.close()
    assert (root_dir / "big.bin").read_bytes() == BODY and (root_dir / "again.bin").read_bytes() == BODY
    first = streams[0]
    assert first.held is not None and 0 < first.held < len(BODY)
    assert first.spliced == len(BODY) - first.held
    assert first.upload._digest.hexdigest() == hashlib.sha256(BODY).hexdigest()
    assert streams[1].spliced > 0 and streams[1].upload._digest.hexdigest() == hashlib.sha256(BODY).hexdigest()
    assert leftovers(root_dir) == []


async def test_expect_100_continue_then_a_spliced_body(
        http_server: Any, base_url: str, token: str, root_dir: Path, streams: list[RecordingStream]) -> None:
    await upload_after_100_continue(base_url, token, "later.bin", BODY)
    assert (root_dir / "later.bin").read_bytes() == BODY
    assert streams[0].held == 0 and streams[0].spliced == len(BODY)


async def test_a_client_gone_mid_splice_leaves_nothing_and_no_descriptor(
        http_server: Any, base_url: str, token: str, root_dir: Path, streams: list[RecordingStream]) -> None:
    warm = await RawConnection.open(base_url)  # the server's lazily opened files (its database) are open after it
    warm.send(upload_head(token, "warm.bin", len(BODY)) + BODY)
    assert (await warm.response())[0] == 201
    warm.close()
    await asyncio.sleep(0.1)
    before = open_fds()
    connection = await RawConnection.open(base_url)
    connection.send(upload_head(token, "cut.bin", len(BODY)) + BODY[:len(BODY) // 2])
    await connection.writer.drain()
    assert await eventually(lambda: len(streams) == 2 and streams[1].spliced > 0 and streams[1].upload.size >= len(BODY) // 3)
    assert leftovers(root_dir)
    connection.close()
    assert await eventually(lambda: not leftovers(root_dir) and open_fds() <= before)
    assert not (root_dir / "cut.bin").exists()
    assert open_fds() <= before  # the pipe, the socket's duplicate and the hash's reader are closed


async def test_a_stream_closed_by_the_server_mid_splice_ends_the_splice(
        http_server: Any, base_url: str, token: str, root_dir: Path, streams: list[RecordingStream]) -> None:
    """As tornado's body timeout or a shutdown would: the splice stops within CLOSED_CHECK_SECONDS, nothing left."""
    connection = await RawConnection.open(base_url)
    try:
        connection.send(upload_head(token, "stalled.bin", len(BODY)) + BODY[:len(BODY) // 2])
        await connection.writer.drain()
        assert await eventually(lambda: streams and streams[0].spliced >= len(BODY) // 3)
        streams[0].source.close()
        assert await eventually(lambda: isinstance(streams[0].ended, StreamClosedError) and not leftovers(root_dir))
    finally:
        connection.close()
    assert not (root_dir / "stalled.bin").exists()


async def test_a_full_disk_under_splice_is_507_and_the_connection_stays_in_step(
        http_server: Any, base_url: str, token: str, small_tmpfs: Path, streams: list[RecordingStream]) -> None:
    """ENOSPC from splice into a real 256 KiB tmpfs: the rest of the body goes to /dev/null, then 507."""
    await upload_to_full_disk_then_status(base_url, token, small_tmpfs, BODY)
    assert streams[0].spliced == len(BODY) - (streams[0].held or 0)


async def test_on_conflict_after_a_spliced_upload(
        http_server: Any, base_url: str, token: str, root_dir: Path, streams: list[RecordingStream]) -> None:
    (root_dir / "taken.bin").write_bytes(b"old")
    connection = await RawConnection.open(base_url)
    try:
        connection.send(upload_head(token, "taken.bin", len(BODY)) + BODY)
        status, answer = await connection.response()
        assert status == 409 and json.loads(answer)["code"] == "name_conflict", answer
        connection.send(b"POST /api/files/upload?on_conflict=rename " + upload_head(token, "taken.bin", len(BODY))
                        .split(b" ", 2)[2] + BODY)
        status, answer = await connection.response()
        assert status == 201 and json.loads(answer)["path"] == "taken (1).bin", answer
    finally:
        connection.close()
    assert (root_dir / "taken.bin").read_bytes() == b"old" and (root_dir / "taken (1).bin").read_bytes() == BODY
    assert all(stream.spliced for stream in streams) and leftovers(root_dir) == []


async def test_a_spliced_notebook_is_checked_like_a_save(
        http_server: Any, base_url: str, token: str, root_dir: Path, streams: list[RecordingStream]) -> None:
    cell = {"cell_type": "markdown", "metadata": {}, "source": "x" * (512 * 1024)}
    notebook = json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}).encode()
    broken = notebook[:-1]
    connection = await RawConnection.open(base_url)
    try:
        connection.send(upload_head(token, "good.ipynb", len(notebook)) + notebook)
        status, answer = await connection.response()
        assert status == 201 and json.loads(answer)["type"] == "notebook", answer
        connection.send(upload_head(token, "bad.ipynb", len(broken)) + broken)
        status, answer = await connection.response()
        assert status == 400, answer
    finally:
        connection.close()
    assert (root_dir / "good.ipynb").read_bytes() == notebook and not (root_dir / "bad.ipynb").exists()
    assert all(stream.spliced for stream in streams) and leftovers(root_dir) == []


async def test_a_declared_length_over_max_body_size_is_413_before_any_splice(
        http_server: Any, base_url: str, token: str, root_dir: Path, streams: list[RecordingStream]) -> None:
    connection = await RawConnection.open(base_url)
    try:
        connection.send(upload_head(token, "huge.bin", MAX_BODY + 1))
        status, answer = await connection.response()
        assert status == 413, answer
    finally:
        connection.close()
    assert streams == [] and os.listdir(root_dir) == []


async def test_a_chunked_body_is_not_spliced(
        http_server: Any, base_url: str, token: str, root_dir: Path, streams: list[RecordingStream]) -> None:
    head = upload_head(token, "chunked.bin", 0).replace(b"Content-Length: 0", b"Transfer-Encoding: chunked")
    body = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (BODY[:100_000], BODY[100_000:])) + b"0\r\n\r\n"
    connection = await RawConnection.open(base_url)
    try:
        connection.send(head + body)
        status, answer = await connection.response()
        assert status == 201, answer
    finally:
        connection.close()
    assert (root_dir / "chunked.bin").read_bytes() == BODY
    assert streams[0].held is None and streams[0].pipes == []


async def test_without_os_splice_the_body_is_read_into_buffers(
        http_server: Any, base_url: str, token: str, root_dir: Path, streams: list[RecordingStream],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "splice")
    connection = await RawConnection.open(base_url)
    try:
        connection.send(upload_head(token, "plain.bin", len(BODY)) + BODY)
        status, answer = await connection.response()
        assert status == 201, answer
    finally:
        connection.close()
    assert (root_dir / "plain.bin").read_bytes() == BODY
    assert streams[0].held is None and streams[0].upload._digest.hexdigest() == hashlib.sha256(BODY).hexdigest()


def test_tls_streams_are_not_spliced() -> None:
    """The kernel sees only ciphertext on a TLS socket: SSLIOStream keeps the buffered path."""
    assert not can_splice(SSLIOStream.__new__(SSLIOStream))


@pytest.mark.parametrize("mapped", [True, False])
def test_the_hash_read_back_covers_exactly_the_range_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           mapped: bool) -> None:
    """Ranges that start off a page boundary, in windows of the buffer's size; read() where mmap fails."""
    data = os.urandom(300_000)
    (tmp_path / "f").write_bytes(data)
    if not mapped:
        def refuse(*args: Any, **kwargs: Any) -> None:
            raise OSError(19, "No such device")
        monkeypatch.setattr(upload.mmap, "mmap", refuse)
    staged = StagedUpload.__new__(StagedUpload)
    staged._digest = hashlib.sha256()
    reader = os.open(tmp_path / "f", os.O_RDONLY)
    try:
        buffer = memoryview(bytearray(64 * 1024))
        staged.hash_stored(reader, 0, 12_345, buffer)
        staged.hash_stored(reader, 12_345, len(data), buffer)
    finally:
        os.close(reader)
    assert staged._digest.hexdigest() == hashlib.sha256(data).hexdigest()
