"""The benchmark's clients: a lean keep-alive HTTP/1.1 client and a kernel websocket client.

Both servers are driven by the same code in the same process, so the client's own cost is
the same for both. The HTTP client is a few lines over asyncio streams rather than tornado's
AsyncHTTPClient, whose simple client opens a new connection for every request; a browser keeps
its connections alive, and so do we.
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
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class HTTPConnection:
    """One keep-alive HTTP/1.1 connection to 127.0.0.1:port, one request at a time."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.token = token
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port, limit=2**24)
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(self, method: str, path: str, body: bytes | None = None) -> Response:
        if self.writer is None:
            await self.connect()
        assert self.reader is not None and self.writer is not None
        head = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{self.port}",
                f"Authorization: token {self.token}", "Connection: keep-alive"]
        if body is not None:
            head += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        if body:
            self.writer.write(body)
        await self.writer.drain()
        return await self._read_response(method)

    async def _read_response(self, method: str) -> Response:
        assert self.reader is not None
        raw_head = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw_head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        if method == "HEAD" or status in (204, 304):
            body = b""
        elif "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = await self._read_chunked()
        else:
            body = await self.reader.read()
            self.close()
        if headers.get("connection", "").lower() == "close":
            self.close()
        return Response(status, headers, body)

    async def _read_chunked(self) -> bytes:
        assert self.reader is not None
        parts: list[bytes] = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)


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
