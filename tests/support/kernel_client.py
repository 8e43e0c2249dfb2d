"""A websocket client of ``/api/kernels/<id>/channels`` for the tests.

It frames messages itself, from the Jupyter kernel websocket protocol documents, rather
than with the server's code, so the tests check the server against the protocol.
"""

from __future__ import annotations

import asyncio
import json
import struct
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable

from tornado.httpclient import HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

V1 = "v1.kernel.websocket.jupyter.org"
Message = dict[str, Any]


def ws_url(base_url: str, kernel_id: str, session_id: str | None = None) -> str:
    url = base_url.replace("http://", "ws://", 1).rstrip("/") + f"/api/kernels/{kernel_id}/channels"
    return url + (f"?session_id={session_id}" if session_id else "")


def encode_legacy(message: Message) -> str | bytes:
    buffers = [bytes(b) for b in message.get("buffers") or []]
    if not buffers:
        return json.dumps(message)
    body = json.dumps({k: v for k, v in message.items() if k != "buffers"}).encode()
    parts = [body, *buffers]
    offsets, position = [], 4 * (len(parts) + 1)
    for part in parts:
        offsets.append(position)
        position += len(part)
    return struct.pack(f">{len(parts) + 1}I", len(parts), *offsets) + b"".join(parts)


def decode_legacy(data: str | bytes) -> Message:
    if isinstance(data, str):
        return json.loads(data)
    count = struct.unpack_from(">I", data, 0)[0]
    offsets = list(struct.unpack_from(f">{count}I", data, 4)) + [len(data)]
    message = json.loads(data[offsets[0]:offsets[1]])
    message["buffers"] = [data[offsets[i]:offsets[i + 1]] for i in range(1, count)]
    return message


def encode_v1(message: Message) -> bytes:
    parts = [message["channel"].encode()] + [
        json.dumps(message.get(key) or {}).encode() for key in ("header", "parent_header", "metadata", "content")
    ] + [bytes(b) for b in message.get("buffers") or []]
    offsets = [8 * (len(parts) + 2)]
    for part in parts:
        offsets.append(offsets[-1] + len(part))
    return struct.pack(f"<{len(offsets) + 1}Q", len(offsets), *offsets) + b"".join(parts)


def decode_v1(data: bytes) -> Message:
    assert isinstance(data, bytes), "the v1 protocol sends binary frames only"
    count = struct.unpack_from("<Q", data, 0)[0]
    offsets = struct.unpack_from(f"<{count}Q", data, 8)
    assert offsets[-1] == len(data)
    parts = [data[offsets[i]:offsets[i + 1]] for i in range(count - 1)]
    message: Message = {"channel": parts[0].decode()}
    for key, part in zip(("header", "parent_header", "metadata", "content"), parts[1:5]):
        message[key] = json.loads(part)
    message["buffers"] = parts[5:]
    return message


@dataclass
class Execution:
    """What one execute_request produced: its reply and its iopub messages, in order."""

    reply: Message
    iopub: list[Message] = field(default_factory=list)

    @property
    def stdout(self) -> str:
        return "".join(
            m["content"]["text"] for m in self.iopub
            if m["header"]["msg_type"] == "stream" and m["content"]["name"] == "stdout"
        )

    def of_type(self, msg_type: str) -> list[Message]:
        return [m for m in self.iopub if m["header"]["msg_type"] == msg_type]


class KernelWebsocketClient:
    """One connection: send requests, read messages (keeping the ones nobody asked for yet)."""

    def __init__(self, connection: WebSocketClientConnection, session_id: str) -> None:
        self.connection = connection
        self.session_id = session_id
        self.protocol = connection.selected_subprotocol
        self.pending: list[Message] = []
        self.closed = False

    @classmethod
    async def connect(
        cls,
        base_url: str,
        token: str,
        kernel_id: str,
        session_id: str | None = None,
        subprotocols: list[str] | None = None,
        headers: dict[str, str] | None = None,
        compression_options: dict[str, Any] | None = None,
    ) -> KernelWebsocketClient:
        session_id = session_id or uuid.uuid4().hex
        request = HTTPRequest(
            ws_url(base_url, kernel_id, session_id),
            headers={"Authorization": f"token {token}", **(headers or {})},
            request_timeout=20,
        )
        connection = await websocket_connect(
            request, subprotocols=subprotocols, compression_options=compression_options
        )
        return cls(connection, session_id)

    def message(self, msg_type: str, content: dict[str, Any], channel: str = "shell",
                buffers: list[bytes] | None = None) -> Message:
        header = {
            "msg_id": uuid.uuid4().hex, "msg_type": msg_type, "username": "test",
            "session": self.session_id, "date": datetime.now(timezone.utc).isoformat(), "version": "5.3",
        }
        return {"channel": channel, "header": header, "parent_header": {}, "metadata": {},
                "content": content, "buffers": buffers or []}

    async def send(self, message: Message) -> str:
        frame = encode_v1(message) if self.protocol == V1 else encode_legacy(message)
        await self.connection.write_message(frame, binary=isinstance(frame, bytes))
        return str(message["header"]["msg_id"])

    async def send_raw(self, frame: str | bytes) -> None:
        await self.connection.write_message(frame, binary=isinstance(frame, bytes))

    async def _read(self, timeout: float) -> Message | None:
        data = await asyncio.wait_for(self.connection.read_message(), timeout)
        if data is None:
            self.closed = True
            return None
        return decode_v1(data) if self.protocol == V1 else decode_legacy(data)  # type: ignore[arg-type]

    async def receive(self, predicate: Callable[[Message], bool] = lambda m: True, timeout: float = 20) -> Message:
        """The first message (kept or new) that matches ``predicate``."""
        for index, message in enumerate(self.pending):
            if predicate(message):
                return self.pending.pop(index)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            message = await self._read(max(0.01, deadline - loop.time()))
            if message is None:
                raise ConnectionError("the server closed the websocket")
            if predicate(message):
                return message
            self.pending.append(message)

    async def execute(self, code: str, allow_stdin: bool = False) -> str:
        content = {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                   "allow_stdin": allow_stdin, "stop_on_error": True}
        return await self.send(self.message("execute_request", content))

    async def result(self, msg_id: str, timeout: float = 30) -> Execution:
        """Wait for the reply of ``msg_id`` and the idle status that ends its output."""
        def ours(m: Message) -> bool:
            return bool(m.get("parent_header")) and m["parent_header"].get("msg_id") == msg_id

        reply: Message | None = None
        iopub: list[Message] = []
        idle = False
        while reply is None or not idle:
            message = await self.receive(ours, timeout)
            if message["channel"] == "iopub":
                iopub.append(message)
                if message["header"]["msg_type"] == "status" and message["content"]["execution_state"] == "idle":
                    idle = True
            elif message["header"]["msg_type"].endswith("_reply"):
                reply = message
        return Execution(reply, iopub)

    async def answer_input(self, value: str, timeout: float = 30) -> None:
        """Wait for the kernel's ``input_request`` and answer it with ``value``."""
        request = await self.receive(lambda m: m["channel"] == "stdin", timeout)
        assert request["header"]["msg_type"] == "input_request", request
        reply = self.message("input_reply", {"value": value}, channel="stdin")
        reply["parent_header"] = request["header"]
        await self.send(reply)

    async def interrupted(self, interrupt: Callable[[], Awaitable[Any]], timeout: float = 30) -> Execution:
        """Run a minute-long sleep, call ``interrupt`` once it runs, and return the execution it ended."""
        msg_id = await self.execute("import time; time.sleep(60)")
        await self.receive(lambda m: m["header"]["msg_type"] == "execute_input")
        await asyncio.sleep(0.5)
        await interrupt()
        return await self.result(msg_id, timeout)

    async def run(self, code: str, timeout: float = 30) -> Execution:
        return await self.result(await self.execute(code), timeout)

    async def close_and_drain(self, timeout: float = 10) -> list[Message]:
        """Close, then read what the server sent before it saw the close; return it."""
        self.connection.close()
        drained = list(self.pending)
        self.pending = []
        while True:
            message = await self._read(timeout)
            if message is None:
                return drained
            drained.append(message)

    def close(self) -> None:
        self.connection.close()
