"""Uploads stream to disk with back-pressure (nbserver/services/files/upload.py's UploadStream; design 3.5).

Memory is counted in bytes held, not in time: a disk slower than the client stops the reading.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from nbserver.services.files import content_handlers
from nbserver.services.files.upload import StagedUpload, UploadStream

pytestmark = pytest.mark.gen_test(timeout=60)
CHUNK = 1024 * 1024
BATCH = 2 * CHUNK
BODY_MB = 40


@pytest.fixture
def server_config() -> dict[str, Any]:
    return {"max_body_size": 2 * BODY_MB * CHUNK}


class GatedUpload:
    """Stands for a StagedUpload on a disk that writes only when the test lets it."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.written: list[bytes] = []

    def write(self, chunks: list[bytes]) -> None:
        assert self.gate.wait(30)
        self.written.extend(chunks)

    def hash(self, chunks: list[bytes]) -> None:
        pass

    def abort(self) -> None:
        pass


async def test_a_slow_disk_stops_the_reader_after_two_batches() -> None:
    """Back-pressure counted in bytes: while the disk is stuck, feeding stops with two batches held."""
    disk = GatedUpload()
    stream = UploadStream(disk, batch_bytes=4 * CHUNK)  # type: ignore[arg-type]
    chunks = [bytes([n]) * CHUNK for n in range(40)]
    fed = 0

    async def feed_like_tornado() -> None:
        nonlocal fed
        for chunk in chunks:
            waiting = stream.feed(chunk)
            fed += 1
            if waiting is not None:
                await waiting  # tornado reads nothing more until this is done
        await stream.finish()

    feeding = asyncio.ensure_future(feed_like_tornado())
    for _ in range(50):
        await asyncio.sleep(0.01)
    assert not feeding.done()
    assert fed == 8 and stream.buffered == 8 * CHUNK  # one batch being written, one waiting
    disk.gate.set()
    await asyncio.wait_for(feeding, 30)
    assert disk.written == chunks
    assert stream.peak_buffered == 8 * CHUNK and stream.buffered == 0


async def test_an_upload_to_a_slow_disk_holds_at_most_two_batches(
        http_client: Any, base_url: str, token: str, root_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through tornado: a body sent far faster than the disk takes it is held back, not buffered."""
    streams: list[UploadStream] = []
    real_write = StagedUpload.write

    def slow_write(self: StagedUpload, chunks: list[bytes]) -> None:
        time.sleep(0.05)
        real_write(self, chunks)

    class RecordedStream(UploadStream):
        def __init__(self, upload: StagedUpload) -> None:
            super().__init__(upload, batch_bytes=BATCH)
            streams.append(self)

    monkeypatch.setattr(StagedUpload, "write", slow_write)
    monkeypatch.setattr(content_handlers, "UploadStream", RecordedStream)
    block = b"\x17" * CHUNK

    async def produce(write: Any) -> None:
        for _ in range(BODY_MB):
            await write(block)

    response = await http_client.fetch(
        base_url + "/api/files/upload", method="POST", body_producer=produce, raise_error=False,
        headers={"Authorization": f"token {token}", "X-File-Name": "slow.bin"}, request_timeout=60)
    assert response.code == 201, response.body
    assert (root_dir / "slow.bin").stat().st_size == BODY_MB * CHUNK
    [stream] = streams
    # Two batches, each at most one read past the batch size.
    assert stream.peak_buffered <= 2 * (BATCH + content_handlers.UPLOAD_READ_BYTES)
    assert stream.peak_buffered < BODY_MB * CHUNK / 2
