"""Byte streams of open files: the filesystem's by descriptor, in-memory bytes, the default fallback."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest

from nbserver.errors import NotFound
from nbserver.services.contents import streams
from nbserver.services.contents.manager import ContentsManager
from nbserver.services.contents.streams import BytesFileStream, OSFileStream, version_etag
from tests.services.contents.memory_manager import InMemoryContentsManager


async def read_all(stream: streams.FileStream, start: int = 0, end: int | None = None, **kwargs: Any) -> bytes:
    return b"".join([chunk async for chunk in stream.read(start, stream.size if end is None else end, **kwargs)])


def test_version_etag_is_strong_and_names_every_part():
    assert version_etag(10, 255) == '"a-ff"'
    assert version_etag(10, 255, 1, 2) == '"1-2-a-ff"'
    assert version_etag(10, 255) != version_etag(11, 255) != version_etag(11, 256)


@pytest.mark.timeout(10)
def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(IsADirectoryError):
        OSFileStream.open(str(fifo))


def test_a_folder_is_refused(tmp_path: Path):
    with pytest.raises(IsADirectoryError):
        OSFileStream.open(str(tmp_path))


@pytest.mark.gen_test
async def test_reads_come_from_the_opened_file_after_a_rename_replaces_it(tmp_path: Path):
    target = tmp_path / "a.bin"
    target.write_bytes(b"old version")
    stream = OSFileStream.open(str(target))
    try:
        replacement = tmp_path / "new.bin"
        replacement.write_bytes(b"new version, longer")
        os.replace(replacement, target)
        assert await read_all(stream) == b"old version"
    finally:
        await stream.close()


@pytest.mark.gen_test
async def test_a_file_that_shrank_ends_early_instead_of_padding(tmp_path: Path):
    target = tmp_path / "a.bin"
    target.write_bytes(b"x" * 70_000)
    stream = OSFileStream.open(str(target))
    try:
        os.truncate(target, 300)
        assert await read_all(stream, 0, 70_000, chunk_size=256) == b"x" * 300
    finally:
        await stream.close()


@pytest.mark.gen_test
async def test_a_small_file_is_read_whole_when_opened(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    target = tmp_path / "a.bin"
    target.write_bytes(b"0123456789" * 10)
    stream = OSFileStream.open(str(target))
    try:
        monkeypatch.setattr(streams.os, "pread", lambda *args: pytest.fail("read again after opening"))
        os.truncate(target, 30)  # the version opened is what is served, whole
        assert await read_all(stream, 0, None, chunk_size=16) == b"0123456789" * 10
        assert await read_all(stream, 95, 100) == b"56789"
    finally:
        await stream.close()


@pytest.mark.gen_test
async def test_disk_reads_run_off_the_event_loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    target = tmp_path / "a.bin"
    target.write_bytes(os.urandom(66_000))  # past SMALL_FILE_BYTES: read in chunks
    threads: list[threading.Thread] = []
    real_pread = os.pread

    def recording_pread(fd: int, length: int, offset: int) -> bytes:
        threads.append(threading.current_thread())
        return real_pread(fd, length, offset)

    monkeypatch.setattr(streams.os, "pread", recording_pread)
    stream = OSFileStream.open(str(target))
    try:
        assert await read_all(stream, 0, None, chunk_size=1000) == target.read_bytes()
    finally:
        await stream.close()
    assert len(threads) == 66
    assert threading.main_thread() not in threads


@pytest.mark.gen_test
async def test_close_releases_the_descriptor_once(tmp_path: Path):
    target = tmp_path / "a.bin"
    target.write_bytes(b"abc" * streams.SMALL_FILE_BYTES)
    stream = OSFileStream.open(str(target))
    fd = stream._fd
    await stream.close()
    await stream.close()
    with pytest.raises(OSError):
        os.fstat(fd)  # type: ignore[arg-type]
    assert await read_all(stream) == b""


@pytest.mark.gen_test
async def test_a_small_file_is_read_whole_and_its_descriptor_closed_at_open(tmp_path: Path):
    target = tmp_path / "a.bin"
    target.write_bytes(b"abc")
    stream = OSFileStream.open(str(target))
    assert stream._fd is None
    assert await read_all(stream) == b"abc"
    await stream.close()
    assert await read_all(stream) == b""


@pytest.mark.gen_test
async def test_bytes_stream_slices_without_reading_past_its_end():
    stream = BytesFileStream(b"0123456789", mtime=1_700_000_000.5)
    assert stream.size == 10
    assert stream.etag == version_etag(10, 1_700_000_000_500_000_000)
    assert [chunk async for chunk in stream.read(2, 9, chunk_size=3)] == [b"234", b"567", b"8"]
    assert await read_all(stream, 5, 50) == b"56789"


class PrimitivesOnlyStore(InMemoryContentsManager):
    """A store that implements only the primitives: /files falls back to ``get``."""

    open_file = ContentsManager.open_file


@pytest.mark.gen_test
async def test_a_store_with_only_the_primitives_still_opens_files():
    store = PrimitivesOnlyStore()
    await store.save({"type": "file", "format": "base64", "content": "AAEC/w=="}, "blob.bin")
    await store.save({"type": "directory"}, "sub")
    async with await store.open_file("blob.bin") as stream:
        assert await read_all(stream) == b"\x00\x01\x02\xff"
    with pytest.raises(NotFound):
        await store.open_file("sub")
