"""The benchmark's HTTP client (benchmarks/loadgen.py) against a real tornado server on loopback:
bodies of known length, small and large, received whole; chunked bodies; bodies read to the end of
a closed connection; no body for HEAD, 204 and 304; several requests on one kept-alive connection;
a connection the server closes in the middle of a body is an error, never a short body."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
from pathlib import Path
from typing import AsyncIterator

import pytest
import tornado.httpserver
import tornado.web

BENCH_DIR = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH_DIR))

from loadgen import SCRATCH_BYTES, BenchmarkError, HTTPConnection, closed_loop_load  # noqa: E402

LARGE = bytes(range(256)) * (5 * 2**20 // 256 + 3)  # past SCRATCH_BYTES many times, not a multiple of it


class Bytes(tornado.web.RequestHandler):
    def get(self, size: str) -> None:
        self.set_header("Content-Type", "application/octet-stream")
        self.finish(LARGE[:int(size)])

    def head(self, size: str) -> None:
        self.set_header("Content-Length", size)
        self.finish()

    def put(self, size: str) -> None:  # an echo of the body sent
        self.finish(self.request.body)


class Chunked(tornado.web.RequestHandler):
    async def get(self) -> None:
        for start in range(0, len(LARGE), 700_001):
            self.write(LARGE[start:start + 700_001])
            await self.flush()
        self.finish()


class Status(tornado.web.RequestHandler):
    def get(self, code: str) -> None:
        self.set_status(int(code))
        self.finish()


async def raw_server(reply: bytes) -> tuple[asyncio.AbstractServer, int]:
    """A server that answers any request on a connection with ``reply`` as it is, then closes it."""
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(reply)
        await writer.drain()
        writer.close()
    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


@contextlib.asynccontextmanager
async def tornado_server() -> AsyncIterator[int]:
    """A tornado server of the handlers above on a free loopback port (its port); stopped on the way out."""
    app = tornado.web.Application([(r"/bytes/(\d+)", Bytes), (r"/chunked", Chunked), (r"/status/(\d+)", Status)])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.setblocking(False)
    server = tornado.httpserver.HTTPServer(app, max_body_size=2**30)
    server.add_sockets([sock])
    try:
        yield sock.getsockname()[1]
    finally:
        server.stop()
        await server.close_all_connections()


@pytest.mark.gen_test(timeout=60)
async def test_bodies_of_every_size_arrive_whole_on_one_connection() -> None:
    async with tornado_server() as port:
        await requests_on_one_connection(HTTPConnection(port, "token"))


async def requests_on_one_connection(connection: HTTPConnection) -> None:
    try:
        for size in (0, 1, 100, SCRATCH_BYTES - 1, SCRATCH_BYTES, SCRATCH_BYTES + 1, len(LARGE)):
            response = await connection.request("GET", f"/bytes/{size}")
            assert (response.status, bytes(response.body)) == (200, LARGE[:size]), size
        response = await connection.request("PUT", f"/bytes/{len(LARGE)}", LARGE)
        assert response.body == LARGE
        chunked = await connection.request("GET", "/chunked")
        assert chunked.headers["transfer-encoding"] == "chunked" and chunked.body == LARGE
        head = await connection.request("HEAD", "/bytes/12345")
        assert (head.status, head.headers["content-length"], head.body) == (200, "12345", b"")
        for code in (204, 304):
            assert (await connection.request("GET", f"/status/{code}")).body == b""
        assert (await connection.request("GET", "/bytes/3")).body == LARGE[:3]  # still in step
    finally:
        connection.close()


@pytest.mark.gen_test(timeout=60)
async def test_a_body_without_a_length_is_read_to_the_close_and_a_cut_body_is_an_error() -> None:
    for reply, expected in ((b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + LARGE, LARGE),
                            (b"HTTP/1.1 200 OK\r\nContent-Length: 10000000\r\n\r\n" + LARGE, None)):
        server, raw_port = await raw_server(reply)
        connection = HTTPConnection(raw_port, "token")
        try:
            if expected is None:
                with pytest.raises(asyncio.IncompleteReadError):
                    await connection.request("GET", "/")
            else:
                assert (await connection.request("GET", "/")).body == expected
        finally:
            connection.close()
            server.close()
            await server.wait_closed()


@pytest.mark.gen_test(timeout=60)
async def test_a_closed_loop_load_counts_every_answer_and_stops_at_a_wrong_one() -> None:
    async with tornado_server() as port:
        result = await closed_loop_load(port, "token", 3, 0.5, 0.1, lambda index: ("GET", "/bytes/300000", None))
        assert result.requests > 0 and result.answered >= result.requests
        assert len(result.latencies) == result.requests
        with pytest.raises(BenchmarkError, match="answered 404"):
            await closed_loop_load(port, "token", 1, 0.2, 0.0, lambda index: ("GET", "/missing", None))
