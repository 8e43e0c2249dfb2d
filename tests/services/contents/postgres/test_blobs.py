"""Blobs: /files streams a 50 MB file from the database one chunk per query, with Range and ETag."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
from traitlets.config import Config

from nbserver.db.config import Database
from nbserver.services.contents.postgres import blobs
from nbserver.services.contents.postgres.manager import PostgresContentsManager
from tests.conftest import TEST_TOKEN

SIZE = 50 * 1024 * 1024 + 123


@pytest.fixture
def server_config(contents_database: Database) -> dict[str, Any]:
    return {"contents_manager_class": PostgresContentsManager,
            "config": Config({"Database": {"url": contents_database.url}})}


@pytest.fixture
def fetched(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of bytes each query of a stream fetched from the database."""
    sizes: list[int] = []
    real = blobs.fetch_part

    async def counting(*args: Any) -> bytes:
        data = await real(*args)
        sizes.append(len(data))
        return data

    monkeypatch.setattr(blobs, "fetch_part", counting)
    return sizes


@pytest.mark.gen_test(timeout=180)
async def test_50_mb_file_streams_one_chunk_per_query(app: Any, http_client: Any, base_url: str,
                                                       contents_database: Database, fetched: list[int]) -> None:
    data = bytes(range(256)) * (SIZE // 256) + b"x" * (SIZE % 256)
    writer = PostgresContentsManager(database=contents_database)
    await writer.save({"type": "file", "format": "base64", "content": base64.b64encode(data).decode()}, "big.bin")
    digest = hashlib.sha256()
    received = 0

    def take(chunk: bytes) -> None:
        nonlocal received
        received += len(chunk)
        digest.update(chunk)

    headers = {"Authorization": f"token {TEST_TOKEN}"}
    response = await http_client.fetch(f"{base_url}/files/big.bin", headers=headers, streaming_callback=take,
                                       request_timeout=120)
    assert response.code == 200 and received == SIZE and digest.hexdigest() == hashlib.sha256(data).hexdigest()
    assert max(fetched) <= blobs.CHUNK_SIZE and sum(fetched) == SIZE and len(fetched) == SIZE // blobs.CHUNK_SIZE + 1
    assert response.headers["ETag"] == f'"{hashlib.sha256(data).hexdigest()}"'

    fetched.clear()
    start = 3 * blobs.CHUNK_SIZE - 5
    ranged = await http_client.fetch(f"{base_url}/files/big.bin", headers={**headers, "Range": f"bytes={start}-{start + 9}"})
    assert ranged.code == 206 and ranged.body == data[start:start + 10]
    assert ranged.headers["Content-Range"] == f"bytes {start}-{start + 9}/{SIZE}"
    assert fetched == [5, 5]  # the end of one stored chunk, the start of the next
    cached = await http_client.fetch(f"{base_url}/files/big.bin", raise_error=False,
                                     headers={**headers, "If-None-Match": response.headers["ETag"]})
    assert cached.code == 304
    missing = await http_client.fetch(f"{base_url}/files/nothing.bin", headers=headers, raise_error=False)
    assert missing.code == 404
