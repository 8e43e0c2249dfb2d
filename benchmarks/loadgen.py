"""The benchmark's clients: a lean keep-alive HTTP/1.1 client and a kernel websocket client.

Both servers are driven by the same code in the same process, so the client's own cost is
the same for both. The HTTP client is a small asyncio protocol rather than tornado's
AsyncHTTPClient, whose simple client opens a new connection for every request; a browser keeps
its connections alive, and so do we. It receives a body of known length straight into its final
buffer: on two cores the client shares the machine with the server, and a client that copies
each megabyte three times takes CPU from the server it measures (docs/performance.md, section 25).
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from tornado.httpclient import HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect


class BenchmarkError(Exception):
    """A server answered wrongly or not at all; the workload's figure is reported as an error."""


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes | bytearray

    def json(self) -> Any:
        return json.loads(self.body)


#: Bytes read at a time while a response's head, a chunked body or a body read to the end arrives.
SCRATCH_BYTES = 256 * 1024


class _ResponseReader(asyncio.BufferedProtocol):
    """The receiving side of one keep-alive connection: the kernel copies a body whose length is
    known straight into the one buffer it ends in (``recv_into`` through :meth:`get_buffer`), so
    the client's own cost per megabyte is one copy, not the three of asyncio's StreamReader
    (its buffer, the slice out of it, the shift of the rest)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._scratch = bytearray(SCRATCH_BYTES)
        #: Bytes received and not consumed yet: heads, chunked bodies, bodies read to the end.
        self.pending = bytearray()
        #: The body being received straight into itself, and how much of it has arrived.
        self._body: bytearray | None = None
        self._got = 0
        self.ended = False
        self._waiter: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def get_buffer(self, sizehint: int) -> memoryview | bytearray:
        if self._body is not None:
            return memoryview(self._body)[self._got:]
        return self._scratch

    def buffer_updated(self, nbytes: int) -> None:
        if self._body is not None:
            self._got += nbytes
        else:
            self.pending += memoryview(self._scratch)[:nbytes]
        self._wake()

    def eof_received(self) -> bool:
        self.ended = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.ended = True
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def _arrival(self) -> None:
        if self.ended:
            raise asyncio.IncompleteReadError(bytes(self.pending), None)
        self._waiter = asyncio.get_running_loop().create_future()
        await self._waiter

    async def read_until(self, separator: bytes) -> bytes:
        while (end := self.pending.find(separator)) < 0:
            await self._arrival()
        line = bytes(self.pending[:end + len(separator)])
        del self.pending[:end + len(separator)]
        return line

    async def read_exactly(self, size: int) -> bytearray:
        """The next ``size`` bytes, the ones already here copied first, the rest received into place."""
        body = bytearray(size)
        taken = min(size, len(self.pending))
        body[:taken] = memoryview(self.pending)[:taken]
        del self.pending[:taken]
        self._body, self._got = body, taken
        try:
            while self._got < size:
                await self._arrival()
        finally:
            self._body = None
        return body

    async def read_to_end(self) -> bytes:
        while not self.ended:
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        body = bytes(self.pending)
        self.pending.clear()
        return body


class HTTPConnection:
    """One keep-alive HTTP/1.1 connection to 127.0.0.1:port, one request at a time."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.token = token
        self.reader: _ResponseReader | None = None

    async def connect(self) -> None:
        loop = asyncio.get_running_loop()
        transport, self.reader = await loop.create_connection(_ResponseReader, "127.0.0.1", self.port)
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def close(self) -> None:
        if self.reader is not None and self.reader.transport is not None:
            self.reader.transport.close()
        self.reader = None

    async def request(self, method: str, path: str, body: bytes | None = None) -> Response:
        if self.reader is None:
            await self.connect()
        reader = self.reader
        assert reader is not None and reader.transport is not None
        head = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{self.port}",
                f"Authorization: token {self.token}", "Connection: keep-alive"]
        if body is not None:
            head += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        reader.transport.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        if body:
            reader.transport.write(body)
        return await self._read_response(method)

    async def _read_response(self, method: str) -> Response:
        reader = self.reader
        assert reader is not None
        raw_head = await reader.read_until(b"\r\n\r\n")
        lines = raw_head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        body: bytes | bytearray
        if method == "HEAD" or status in (204, 304):
            body = b""
        elif "content-length" in headers:
            body = await reader.read_exactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = await self._read_chunked()
        else:
            body = await reader.read_to_end()
            self.close()
        if headers.get("connection", "").lower() == "close":
            self.close()
        return Response(status, headers, body)

    async def _read_chunked(self) -> bytes:
        reader = self.reader
        assert reader is not None
        parts: list[bytes | bytearray] = []
        while True:
            size = int((await reader.read_until(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.read_until(b"\r\n")
                return b"".join(parts)
            parts.append(await reader.read_exactly(size))
            await reader.read_exactly(2)


async def one_request(port: int, token: str, method: str, path: str, body: bytes | None = None,
                      timeout: float = 30) -> Response:
    """A single request on a fresh connection, bounded by ``timeout`` (asyncio.TimeoutError)."""
    connection = HTTPConnection(port, token)
    try:
        return await asyncio.wait_for(connection.request(method, path, body), timeout)
    finally:
        connection.close()


@dataclass
class LoadResult:
    requests: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    #: Every request answered, the warm-up's and the last in-flight ones too.
    answered: int = 0

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


async def closed_loop_load(port: int, token: str, concurrency: int, duration: float, warmup: float,
                           make_request: Any, expect_status: tuple[int, ...] = (200, 201)) -> LoadResult:
    """``concurrency`` connections each sending requests back to back for ``duration`` seconds.

    ``make_request(worker_index)`` gives (method, path, body). Requests finished during the
    first ``warmup`` seconds are not counted; in-flight requests at the end are waited for and
    the clock stops at the last one, so throughput is completed requests over elapsed time.
    """
    loop = asyncio.get_running_loop()
    start = loop.time()
    counting_from = start + warmup
    stop_at = counting_from + duration
    latencies: list[float] = []
    last_finish = [counting_from]
    answered = [0]

    async def worker(index: int) -> None:
        connection = HTTPConnection(port, token)
        try:
            while loop.time() < stop_at:
                method, path, body = make_request(index)
                sent = loop.time()
                response = await connection.request(method, path, body)
                done = loop.time()
                if response.status not in expect_status:
                    raise BenchmarkError(f"{method} {path} answered {response.status}: {response.body[:200]!r}")
                answered[0] += 1
                if sent >= counting_from:
                    latencies.append(done - sent)
                    last_finish[0] = max(last_finish[0], done)
        finally:
            connection.close()

    await asyncio.wait_for(asyncio.gather(*(worker(i) for i in range(concurrency))),
                           timeout=warmup + duration + 60)
    return LoadResult(len(latencies), last_finish[0] - counting_from, latencies, answered[0])


# -- kernels over the channels websocket (legacy JSON framing, which both servers speak) -----


def shell_request(msg_type: str, content: dict[str, Any], session: str) -> dict[str, Any]:
    msg_id = uuid.uuid4().hex
    return {
        "channel": "shell",
        "header": {"msg_id": msg_id, "msg_type": msg_type, "username": "bench",
                   "session": session, "version": "5.3", "date": ""},
        "parent_header": {}, "metadata": {}, "buffers": [], "content": content,
    }


def execute_request(code: str, session: str) -> dict[str, Any]:
    return shell_request("execute_request", {"code": code, "silent": False, "store_history": True,
                                             "user_expressions": {}, "allow_stdin": False,
                                             "stop_on_error": True}, session)


class KernelSocket:
    """The channels websocket of one kernel, sending execute requests and reading replies."""

    def __init__(self, connection: WebSocketClientConnection, session: str) -> None:
        self.connection = connection
        self.session = session

    @classmethod
    async def open(cls, port: int, token: str, kernel_id: str, timeout: float = 60) -> KernelSocket:
        session = uuid.uuid4().hex
        request = HTTPRequest(
            f"ws://127.0.0.1:{port}/api/kernels/{kernel_id}/channels?session_id={session}",
            headers={"Authorization": f"token {token}"}, connect_timeout=timeout, request_timeout=timeout)
        connection = await asyncio.wait_for(websocket_connect(request, max_message_size=2**30), timeout)
        # Our side must not add Nagle delays to small frames either.
        connection.protocol.stream.set_nodelay(True)  # type: ignore[union-attr]
        return cls(connection, session)

    def close(self) -> None:
        self.connection.close()

    async def _next(self, deadline: float) -> dict[str, Any]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise asyncio.TimeoutError
        raw = await asyncio.wait_for(self.connection.read_message(), remaining)
        if raw is None:
            raise BenchmarkError("the kernel websocket closed")
        if isinstance(raw, bytes):
            return {"channel": "binary", "header": {}, "parent_header": {}}
        return json.loads(raw)

    async def kernel_info(self, timeout: float = 60) -> dict[str, Any]:
        """Send a kernel_info_request; its kernel_info_reply (the first reply a frontend waits for)."""
        message = shell_request("kernel_info_request", {}, self.session)
        msg_id = message["header"]["msg_id"]
        deadline = time.monotonic() + timeout
        await self.connection.write_message(json.dumps(message))
        while True:
            reply = await self._next(deadline)
            if reply.get("channel") == "shell" and reply["parent_header"].get("msg_id") == msg_id:
                return reply

    async def execute(self, code: str, timeout: float = 60) -> float:
        """Send ``code``; seconds until its execute_reply."""
        message = execute_request(code, self.session)
        msg_id = message["header"]["msg_id"]
        deadline = time.monotonic() + timeout
        sent = time.perf_counter()
        await self.connection.write_message(json.dumps(message))
        while True:
            reply = await self._next(deadline)
            if reply.get("channel") == "shell" and reply["parent_header"].get("msg_id") == msg_id:
                elapsed = time.perf_counter() - sent
                if reply["content"].get("status") != "ok":
                    raise BenchmarkError(f"execute of {code!r} failed: {reply['content']}")
                return elapsed

    async def stream(self, code: str, timeout: float) -> tuple[int, float, str]:
        """Send ``code``; (bytes of stream output received, seconds until the kernel is idle,
        the first 200 characters received)."""
        message = execute_request(code, self.session)
        msg_id = message["header"]["msg_id"]
        deadline = time.monotonic() + timeout
        received = 0
        start = ""
        sent = time.perf_counter()
        await self.connection.write_message(json.dumps(message))
        while True:
            reply = await self._next(deadline)
            if reply["parent_header"].get("msg_id") != msg_id or reply.get("channel") != "iopub":
                continue
            msg_type = reply["header"].get("msg_type")
            if msg_type == "stream":
                received += len(reply["content"]["text"].encode("utf-8"))
                start = start or reply["content"]["text"][:200]
            elif msg_type == "status" and reply["content"]["execution_state"] == "idle":
                return received, time.perf_counter() - sent, start
