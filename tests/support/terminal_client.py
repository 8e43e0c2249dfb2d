"""A websocket client of ``/terminals/websocket/<name>`` for the tests, speaking terminado's JSON arrays."""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any

from tornado.httpclient import HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

#: Shell for the tests: bash without the machine's rc files, so prompts and output are predictable
#: and no rc script (pyenv's rehash, with its lock file) is killed half-way when a test ends.
TEST_SHELL = ["bash", "--norc", "--noprofile"]
#: The same, as command-line arguments of a server process.
TEST_SHELL_ARGS = tuple(f"--TerminalManager.shell_command={arg}" for arg in TEST_SHELL)
CONTROL_SEQUENCE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def terminal_ws_url(base_url: str, name: str) -> str:
    return base_url.replace("http://", "ws://", 1).rstrip("/") + f"/terminals/websocket/{name}"


class TerminalWebsocketClient:
    """One connection: collects ``stdout`` text and remembers every other message it received."""

    def __init__(self, connection: WebSocketClientConnection) -> None:
        self.connection = connection
        self.output = ""
        self.messages: list[list[Any]] = []
        self.closed = False

    @classmethod
    async def connect(cls, base_url: str, name: str, headers: dict[str, str]) -> TerminalWebsocketClient:
        request = HTTPRequest(terminal_ws_url(base_url, name), headers=headers, request_timeout=20)
        return cls(await websocket_connect(request))

    def send(self, message: Any) -> None:
        self.connection.write_message(json.dumps(message))

    def stdin(self, text: str) -> None:
        self.send(["stdin", text])

    async def receive(self, timeout: float) -> list[Any] | None:
        """The next message, or None once the server closed the connection."""
        raw = await asyncio.wait_for(self.connection.read_message(), timeout)
        if raw is None:
            self.closed = True
            return None
        message = json.loads(raw)
        self.messages.append(message)
        if message[0] == "stdout":
            self.output += message[1]
        return message  # type: ignore[no-any-return]

    async def read_until(self, pattern: str, timeout: float = 20) -> re.Match[str]:
        """Wait until the output matches ``pattern`` (a regular expression); return the match."""
        deadline = time.monotonic() + timeout
        while True:
            match = re.search(pattern, self.output, re.DOTALL)
            if match:
                return match
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.closed:
                raise AssertionError(f"{pattern!r} not in the terminal output:\n{self.output[-2000:]}")
            try:
                await self.receive(remaining)
            except asyncio.TimeoutError:
                pass

    async def run(self, command: str, marker: str, timeout: float = 20) -> str:
        """Type ``command`` then ``echo <marker>-$((6*7))``; return what the command printed.

        The arithmetic makes the marker's output (``<marker>-42``) differ from its echoed input;
        the result has the terminal's control sequences and carriage returns taken out.
        """
        typed = f"echo {marker}-$((6*7))"
        self.stdin(f"{command}; {typed}\r")
        match = await self.read_until(re.escape(typed) + rf"\r\n(.*?){re.escape(marker)}-42\r\n", timeout)
        return CONTROL_SEQUENCE.sub("", match.group(1)).replace("\r", "")

    async def wait_closed(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while not self.closed:
            await self.receive(max(0.1, deadline - time.monotonic()))

    def close(self) -> None:
        self.connection.close()
