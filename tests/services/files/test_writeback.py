"""Early writeback of an upload's staging file (nbserver/services/files/writeback.py).

The range calls are checked against the real ``sync_file_range`` on a real file (a recording
wrapper around it); a hint that fails or is missing leaves writeback to the kernel and the
upload intact; a client gone after writeback has started still leaves nothing behind. The
uploads go through a real in-process server with a 64 KiB writeback range, so a small body
crosses several ranges.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from nbserver.base import bodyreader
from nbserver.services.contents.filemanager import FileContentsManager
from nbserver.services.files import writeback
from nbserver.services.files.upload import StagedUpload
from nbserver.services.files.writeback import (
    SYNC_FILE_RANGE_WAIT_AFTER,
    SYNC_FILE_RANGE_WAIT_BEFORE,
    SYNC_FILE_RANGE_WRITE,
    Writeback,
)
from tests.services.files.test_upload_body import (
    BODY,
    BUFFER,
    RawConnection,
    SmallBuffersStream,
    eventually,
    leftovers,
    streams,  # noqa: F401  (a fixture)
    upload_head,
)

pytestmark = [pytest.mark.gen_test(timeout=60), pytest.mark.sqlite_only]
RANGE = 64 * 1024  # = BUFFER: every buffer written completes a range
Call = tuple[int, int, int]


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[Call]:
    """The (offset, nbytes, flags) of every sync_file_range call, each passed on to the real one."""
    real = writeback.sync_file_range
    if real is None:
        pytest.skip("this libc has no sync_file_range")
    made: list[Call] = []

    def recording(fd: int, offset: int, nbytes: int, flags: int) -> None:
        made.append((offset, nbytes, flags))
        real(fd, offset, nbytes, flags)

    monkeypatch.setattr(writeback, "sync_file_range", recording)
    return made


@pytest.fixture
def small_ranges(server_app: Any, http_server: Any) -> None:
    """The test server starts writeback every 64 KiB of an upload."""
    server_app.file_services.upload_writeback_mb = RANGE / (1024 * 1024)


def failing(fd: int, offset: int, nbytes: int, flags: int) -> None:
    raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))


WAIT = SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER


def test_each_range_is_started_when_complete_and_the_one_two_before_waited_for(
        tmp_path: Path, calls: list[Call]) -> None:
    fd = os.open(tmp_path / "f.bin", os.O_WRONLY | os.O_CREAT)
    try:
        hint = Writeback(fd, RANGE)
        size = 0
        for piece in (RANGE // 2, RANGE // 2, RANGE, RANGE + 10, RANGE, 100):
            size += os.write(fd, os.urandom(piece))
            hint.written(size)
    finally:
        os.close(fd)
    assert calls == [(0, RANGE, SYNC_FILE_RANGE_WRITE),
                     (RANGE, RANGE, SYNC_FILE_RANGE_WRITE),
                     (2 * RANGE, RANGE + 10, SYNC_FILE_RANGE_WRITE), (0, RANGE, WAIT),
                     (3 * RANGE + 10, RANGE, SYNC_FILE_RANGE_WRITE), (RANGE, RANGE + 10, WAIT)]
    assert (hint.started, hint.waited) == (4 * RANGE + 10, 2 * RANGE + 10)  # the last 100 bytes: left to fsync


def test_a_failing_hint_is_not_called_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writeback, "sync_file_range", failing)
    hint = Writeback(0, RANGE)
    hint.written(RANGE)
    assert not hint.enabled
    monkeypatch.setattr(writeback, "sync_file_range", None)  # would fail with a TypeError if called
    hint.written(3 * RANGE)


def test_a_write_error_a_range_call_reports_is_raised_at_finish(monkeypatch: pytest.MonkeyPatch) -> None:
    """Linux reports a writeback error once per open file: the final fsync of the same descriptor would miss it."""
    def eio(fd: int, offset: int, nbytes: int, flags: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(writeback, "sync_file_range", eio)
    hint = Writeback(0, RANGE)
    hint.written(RANGE)
    assert not hint.enabled
    with pytest.raises(OSError) as raised:
        hint.finish()
    assert raised.value.errno == errno.EIO


def test_the_disk_cache_is_flushed_in_the_background_on_a_descriptor_of_its_own(
        tmp_path: Path, calls: list[Call], monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "f.bin"
    flushed: list[int] = []
    real = os.fdatasync

    def recording(fd: int) -> None:
        flushed.append(fd)
        real(fd)

    monkeypatch.setattr(os, "fdatasync", recording)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        hint = Writeback(fd, RANGE, str(path), flush_bytes=2 * RANGE)
        size = 0
        for _ in range(8):
            size += os.write(fd, os.urandom(RANGE))
            hint.written(size)
            hint.finish()  # one flush at a time: wait, so that each due one starts
    finally:
        os.close(fd)
    assert hint.flushes == len(flushed) == 3  # when 2, 4 and 6 ranges had been waited for
    assert fd not in flushed and hint.flushed == 6 * RANGE


def test_no_background_flush_without_a_path_or_with_a_zero_interval(tmp_path: Path, calls: list[Call]) -> None:
    fd = os.open(tmp_path / "f.bin", os.O_WRONLY | os.O_CREAT)
    try:
        for hint in (Writeback(fd, RANGE, None, RANGE), Writeback(fd, RANGE, str(tmp_path / "f.bin"), 0)):
            for size in range(RANGE, 6 * RANGE, RANGE):
                hint.written(size)
            hint.finish()
            assert hint.flushes == 0
    finally:
        os.close(fd)


def test_no_hint_without_the_call_or_with_a_zero_range(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not Writeback(0, 0).enabled
    monkeypatch.setattr(writeback, "sync_file_range", None)
    assert not Writeback(0, RANGE).enabled


def test_an_abort_does_not_wait_for_a_write_waiting_on_the_disk(
        root_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The event loop aborts when a client goes away; the write that holds the file removes it as it ends."""
    disk = threading.Event()

    def slow_disk(fd: int, offset: int, nbytes: int, flags: int) -> None:
        if flags & SYNC_FILE_RANGE_WAIT_AFTER:
            assert disk.wait(5)

    monkeypatch.setattr(writeback, "sync_file_range", slow_disk)
    upload = StagedUpload(FileContentsManager(root_dir=str(root_dir)), "", "f.bin", "fail", 0, writeback_bytes=RANGE)
    upload.open()
    upload.write([os.urandom(2 * RANGE)])
    writer = threading.Thread(target=upload.write, args=([os.urandom(RANGE)],))
    writer.start()
    try:
        for _ in range(300):
            if upload._lock.locked():
                break
            time.sleep(0.01)
        started = time.monotonic()
        upload.abort()
        assert time.monotonic() - started < 1 and leftovers(root_dir)  # returned at once; the file is in use
    finally:
        disk.set()
        writer.join(30)
    assert os.listdir(root_dir) == []


async def test_an_upload_across_ranges_is_stored_and_hashed_exactly(
        base_url: str, token: str, root_dir: Path, small_ranges: None, calls: list[Call],
        streams: list[SmallBuffersStream]) -> None:  # noqa: F811
    await upload(base_url, token, "big.bin")
    assert (root_dir / "big.bin").read_bytes() == BODY
    assert streams[0].upload._digest.hexdigest() == hashlib.sha256(BODY).hexdigest()
    assert [offset for offset, _, flags in calls if flags == SYNC_FILE_RANGE_WRITE] == [n * RANGE for n in range(5)]
    assert leftovers(root_dir) == []


async def test_an_upload_whose_writeback_hint_fails_is_still_stored(
        base_url: str, token: str, root_dir: Path, small_ranges: None, monkeypatch: pytest.MonkeyPatch,
        streams: list[SmallBuffersStream]) -> None:  # noqa: F811
    monkeypatch.setattr(writeback, "sync_file_range", failing)
    await upload(base_url, token, "big.bin")
    assert (root_dir / "big.bin").read_bytes() == BODY
    assert leftovers(root_dir) == []


async def test_an_upload_whose_background_flush_fails_is_refused_and_leaves_nothing(
        base_url: str, token: str, root_dir: Path, server_app: Any, small_ranges: None,
        monkeypatch: pytest.MonkeyPatch, streams: list[SmallBuffersStream]) -> None:  # noqa: F811
    server_app.file_services.upload_flush_mb = RANGE / (1024 * 1024)

    def eio(fd: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(os, "fdatasync", eio)
    connection = await RawConnection.open(base_url)
    try:
        connection.send(upload_head(token, "big.bin", len(BODY)) + BODY)
        status, answer = await connection.response()
    finally:
        connection.close()
    message = json.loads(answer)["message"]
    assert status == 500 and "input/output error" in message and str(root_dir) not in message
    assert streams[0].upload._writeback is not None and streams[0].upload._writeback.flushes >= 1
    assert os.listdir(root_dir) == []


async def test_a_client_gone_after_writeback_started_leaves_nothing(
        base_url: str, token: str, root_dir: Path, small_ranges: None, calls: list[Call],
        streams: list[SmallBuffersStream]) -> None:  # noqa: F811
    connection = await RawConnection.open(base_url)
    connection.send(upload_head(token, "cut.bin", len(BODY)) + BODY[:3 * BUFFER + 100])
    await connection.writer.drain()
    assert await eventually(lambda: len(calls) >= 4)  # three ranges started, the first waited for
    assert leftovers(root_dir)
    connection.close()
    await eventually(lambda: not leftovers(root_dir))
    assert os.listdir(root_dir) == []


async def test_without_tornados_body_reader_the_upload_goes_through_data_received(
        http_server: Any, base_url: str, token: str, root_dir: Path, monkeypatch: pytest.MonkeyPatch,
        streams: list[SmallBuffersStream]) -> None:  # noqa: F811
    """A tornado without the private reader (the pin in setup.py keeps it, this is the fallback)."""
    monkeypatch.setattr(bodyreader, "TORNADO_FIXED_BODY_READER", "_not_in_this_tornado")
    await upload(base_url, token, "big.bin")
    assert (root_dir / "big.bin").read_bytes() == BODY
    assert streams[0].bodies_read == []  # tornado's reader and data_received carried it
    assert streams[0].upload._digest.hexdigest() == hashlib.sha256(BODY).hexdigest()


async def upload(base_url: str, token: str, name: str) -> None:
    """POST BODY as ``name`` on a raw connection; asserts the 201."""
    connection = await RawConnection.open(base_url)
    try:
        connection.send(upload_head(token, name, len(BODY)) + BODY)
        status, answer = await connection.response()
        assert status == 201, answer
    finally:
        connection.close()
