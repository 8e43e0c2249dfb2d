"""frame_writer.py over real websocket connections: messages written in parts arrive whole."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any, ClassVar

import pytest
from tornado import web
from tornado.websocket import WebSocketHandler, websocket_connect

from nbserver.services.kernels.frame_writer import (
    SEPARATE_WRITE_MIN_BYTES,
    frame_header,
    write_message_parts,
    writes_directly,
)

pytestmark = pytest.mark.timeout(30)

BIG = SEPARATE_WRITE_MIN_BYTES


def make_parts(sizes: list[int], seed: int, text: bool) -> list[bytes | memoryview]:
    """Deterministic parts: ASCII for text frames, any bytes for binary ones; big ones as views."""
    rng = random.Random(seed)
    parts: list[bytes | memoryview] = []
    for size in sizes:
        if text:
            pattern = bytes(rng.choices(b"abcdefghij0123456789\n", k=1000))
            data = (pattern * (size // len(pattern) + 1))[:size]
        else:
            data = rng.randbytes(size)
        parts.append(memoryview(data) if size >= BIG else data)
    return parts


class PartsHandler(WebSocketHandler):
    """Answers ``{"sizes": [...], "seed": n, "text": bool}`` with those parts as one message each."""

    #: For each message written: whether it bypassed tornado's write_message.
    written_directly: ClassVar[list[bool]] = []

    def get_compression_options(self) -> dict[str, Any] | None:
        return self.settings.get("compression")  # type: ignore[no-any-return]

    async def on_message(self, message: str | bytes) -> None:
        for request in json.loads(message):
            parts = make_parts(request["sizes"], request["seed"], request["text"])
            PartsHandler.written_directly.append(writes_directly(self.ws_connection))
            write_message_parts(self, parts, binary=not request["text"])


@pytest.fixture
def compression() -> dict[str, Any] | None:
    return None


@pytest.fixture
def app(compression: dict[str, Any] | None) -> web.Application:
    return web.Application([(r"/parts", PartsHandler)], compression=compression)


async def exchange(base_url: str, requests: list[dict[str, Any]], compression: dict[str, Any] | None) -> list[Any]:
    """Send the requests, read one message for each; check which path wrote them."""
    PartsHandler.written_directly = []
    url = base_url.replace("http://", "ws://") + "/parts"
    connection = await websocket_connect(url, compression_options=compression, max_message_size=2**26)
    try:
        negotiated = "permessage-deflate" in connection.headers.get("Sec-WebSocket-Extensions", "")
        assert negotiated == (compression is not None)
        await connection.write_message(json.dumps(requests))
        received = [await asyncio.wait_for(connection.read_message(), 10) for _ in requests]
        # Compressed messages must take tornado's path, which deflates the whole payload.
        assert PartsHandler.written_directly == [compression is None] * len(requests)
        return received
    finally:
        connection.close()


SIZES = {
    "tiny": [3, 0, 7],
    "16-bit length": [100, 1000, 5],
    "one big part": [20, BIG + 1, 1],
    "big parts between small ones": [9, 3 * BIG, 0, 11, 2_000_000, 40_000, BIG],
    "big parts back to back": [BIG, 2 * BIG, 300_000],
}


@pytest.mark.parametrize("compression", [None, {}], ids=["plain", "deflate"], indirect=True)
@pytest.mark.parametrize("text", [False, True], ids=["binary", "text"])
@pytest.mark.parametrize("sizes", list(SIZES.values()), ids=list(SIZES))
@pytest.mark.gen_test(timeout=30)
async def test_parts_arrive_as_one_intact_message(http_server, base_url, compression, text, sizes):
    [received] = await exchange(base_url, [{"sizes": sizes, "seed": 7, "text": text}], compression)
    expected = b"".join(make_parts(sizes, 7, text))
    if text:
        assert isinstance(received, str) and received.encode() == expected
    else:
        assert isinstance(received, bytes) and received == expected


@pytest.mark.parametrize("compression", [None, {}], ids=["plain", "deflate"], indirect=True)
@pytest.mark.gen_test(timeout=30)
async def test_messages_written_back_to_back_keep_their_order(http_server, base_url, compression):
    requests = [{"sizes": sizes, "seed": seed, "text": seed % 2 == 0}
                for seed, sizes in enumerate([[5, 3 * BIG], [12], [BIG, BIG, 1], [1, 2, 3]])]
    received = await exchange(base_url, requests, compression)
    for request, message in zip(requests, received):
        expected = b"".join(make_parts(request["sizes"], request["seed"], request["text"]))
        assert (message.encode() if request["text"] else message) == expected


@pytest.mark.parametrize("length, header", [
    (0, b"\x82\x00"),
    (125, b"\x82\x7d"),
    (126, b"\x82\x7e\x00\x7e"),
    (65535, b"\x82\x7e\xff\xff"),
    (65536, b"\x82\x7f" + (65536).to_bytes(8, "big")),
])
def test_frame_header_uses_the_shortest_length_form(length, header):
    assert frame_header(True, length) == header
    assert frame_header(False, length) == bytes([0x81]) + header[1:]
