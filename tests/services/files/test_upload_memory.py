"""A raw upload of a few hundred megabytes keeps the server's memory flat (design 3.5; not a timing test).

The server is a subprocess; its peak resident memory (``VmHWM`` in /proc, reset through
``clear_refs`` after a warm-up upload) is read after the body, streamed from a generator
in chunked encoding (tornado's chunks through ``data_received``) or with a ``Content-Length``
(read straight into the upload's two buffers), has been stored.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.procstat import status_kb
from tests.support.server_process import ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

UPLOAD_MB = 300
BLOCK = b"\x5a" * (1024 * 1024)


def post_upload(server: ServerProcess, name: str, blocks: Iterator[bytes], length: int | None = None
                ) -> tuple[int, dict[str, object]]:
    """Chunked transfer-encoding, or a ``Content-Length`` body when ``length`` is given."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=300)
    headers = {"Authorization": f"token {server.token}", "X-File-Name": name}
    if length is not None:
        headers["Content-Length"] = str(length)
    try:
        connection.request("POST", server.base_url.split(str(server.port), 1)[1] + "api/files/upload", body=blocks,
                           headers=headers, encode_chunked=length is None)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


@pytest.mark.parametrize("framing", ["chunked", "content-length"])
def test_a_300_mb_upload_keeps_server_memory_flat(tmp_path: Path, framing: str) -> None:
    root = tmp_path / "root"
    root.mkdir()
    with ServerProcess(root) as server:
        pid = server.process.pid
        status, _ = post_upload(server, "warmup.bin", iter([BLOCK] * 4))
        assert status == 201
        try:
            Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets VmHWM (peak RSS) to the current RSS
        except OSError:
            pytest.skip("cannot reset the peak RSS here (/proc/<pid>/clear_refs)")
        before = status_kb(pid, "VmRSS")
        status, model = post_upload(server, "big.bin", (BLOCK for _ in range(UPLOAD_MB)),
                                    UPLOAD_MB * len(BLOCK) if framing == "content-length" else None)
        peak = status_kb(pid, "VmHWM")
        assert status == 201, model
        assert model["size"] == UPLOAD_MB * len(BLOCK)
        growth_mb = (peak - before) / 1024
        print(f"server RSS before {before / 1024:.1f} MB, peak during a {UPLOAD_MB} MB upload +{growth_mb:.1f} MB")
        assert growth_mb < 50, f"the server's memory grew by {growth_mb:.1f} MB during the upload"
    digest = hashlib.sha256()
    with open(root / "big.bin", "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    expected = hashlib.sha256()
    for _ in range(UPLOAD_MB):
        expected.update(BLOCK)
    assert digest.hexdigest() == expected.hexdigest()
    assert not [name for name in os.listdir(root) if name.startswith(".~nbserver")]
