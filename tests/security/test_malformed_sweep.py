"""A sweep of malformed input over every route of a real server process.

Every route of the route table, with every method it implements plus unknown ones, gets bodies
that are not JSON, of the wrong types, nested too deeply, with huge or non-finite numbers, not
UTF-8, too large; routes with a path get paths with NUL, ``..`` (plain and percent-encoded),
bytes that are not UTF-8 and 10,000 characters; the kernel websocket gets bad frames in both
protocols. Nothing may answer 5xx, the server must stay up, and nothing outside the root may
change (a sibling folder is compared before and after).
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import re
import socket
import struct
import time
from pathlib import Path

import pytest
from tornado import web
from tornado.websocket import WebSocketClosedError

from nbserver.app import NotebookServerApp
from tests.support.kernel_client import V1, KernelWebsocketClient
from tests.support.routes import KERNEL_ID, sample_path
from tests.support.server_process import ServerProcess
from tests.support.terminal_client import TEST_SHELL_ARGS

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

TOKEN = "sweep-token"
MAX_BODY = 1_000_000
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
EXTRA_METHODS = ("OPTIONS", "PROPFIND", "FOO")


def deep(depth: int, opener: bytes = b"[", closer: bytes = b"]") -> bytes:
    return opener * depth + closer * depth


BAD_BODIES: dict[str, bytes] = {
    "not json": b"not json at all {",
    "not utf-8": b'{"type": "\xff\xfe"}',
    "bare BOM": b"\xef\xbb\xbf{}",
    "array": b"[]",
    "string": b'"text"',
    "number": b"12",
    "null": b"null",
    "wrong types": json.dumps({"type": 5, "path": [], "format": {}, "content": {"cells": 7},
                               "copy_from": 3, "kernel": "x", "name": {}, "ext": []}).encode(),
    "notebook of wrong shape": json.dumps({"type": "notebook", "content": {"cells": [7, None, {"source": 5}],
                                                                           "nbformat": "4"}}).encode(),
    "deep arrays": deep(979),
    "deep objects": deep(100_000, b'{"a":', b"}").replace(b":}", b":1}", 1),
    "NaN": b'{"type": "notebook", "content": {"cells": [], "metadata": {"x": NaN}, "nbformat": 4, '
           b'"nbformat_minor": 5}}',
    "overflow": b'{"type": "file", "format": "text", "content": "x", "size": 1e400}',
    "huge int": b'{"name": ' + b"9" * 5000 + b"}",
    "big int": b'{"type": "directory", "name": ' + b"9" * 4000 + b"}",
    "lone surrogate": b'{"type": "file", "format": "text", "content": "\\ud800"}',
    "NUL in strings": b'{"type": "file", "format": "text", "content": "a\\u0000b", "path": "x\\u0000y"}',
    "oversized": b'{"pad": "' + b"x" * (MAX_BODY + 1000) + b'"}',
}
BAD_PATH_SEGMENTS = [
    "..%2F..%2Foutside%2Fsecret.txt", "%2e%2e/%2e%2e/outside/secret.txt", "../../outside/secret.txt",
    "a%00b.ipynb", "%ff%fe.ipynb", "%C0%AE%C0%AE/%C0%AE%C0%AE/outside", "%2Fetc%2Fpasswd",
]
#: Names and paths past the OS limits (ENAMETOOLONG): issue 12 items 1 and 2, fixed in the store.
LONG_PATH_SEGMENTS = ["x" * 10_000, "/" + "d/" * 2035 + "f"]
WRITE_BODIES = [
    {"type": "file", "format": "text", "content": "pwned"},
    {"copy_from": "../outside/secret.txt"},
    {"copy_from": "/../outside/secret.txt"},
    {"path": "../outside/moved.txt"},
    {"path": "../../etc/passwd", "type": "notebook", "name": "x", "kernel": {"name": "python3"}},
]


def snapshot(folder: Path) -> dict[str, tuple[int, int, int, bytes]]:
    """Every entry below ``folder``: mode, size, mtime and (for files) contents."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            info = path.lstat()
            data = path.read_bytes() if path.is_file() else b""
            found[str(path.relative_to(folder))] = (info.st_mode, info.st_size, info.st_mtime_ns, data)
    return found


def implemented_methods(handler: type[web.RequestHandler]) -> list[str]:
    return [m for m in METHODS if getattr(handler, m.lower()) is not getattr(web.RequestHandler, m.lower())]


class Sweeper:
    """Sends requests to the server process and keeps every answer of 500 or more."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.failures: list[str] = []
        self.sent = 0

    def send(self, method: str, url: str, body: bytes | None = None) -> int | None:
        self.sent += 1
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            connection.putrequest(method, url, skip_accept_encoding=True)
            connection.putheader("Authorization", f"token {TOKEN}")
            if body is not None:
                connection.putheader("Content-Type", "application/json")
                connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body)
            response = connection.getresponse()
            response.read()
            status = response.status
        except (ConnectionError, http.client.HTTPException):
            return None  # tornado closed a connection it would not read (e.g. headers too large)
        finally:
            connection.close()
        if status >= 500:
            self.failures.append(f"{status} {method} {url[:120]} body={(body or b'')[:60]!r}")
        return status


def routes(root_dir: Path) -> list[tuple[str, type[web.RequestHandler]]]:
    app = NotebookServerApp(root_dir=str(root_dir), open_browser=False)
    app.initialize(argv=[])
    try:
        return list(app.route_table())
    finally:
        NotebookServerApp.clear_instance()


def v1_frame(parts: list[bytes]) -> bytes:
    offsets = [8 * (len(parts) + 2)]
    for part in parts:
        offsets.append(offsets[-1] + len(part))
    return struct.pack(f"<{len(offsets) + 1}Q", len(offsets), *offsets) + b"".join(parts)


HEADER = b'{"msg_id": "m", "msg_type": "execute_request", "session": "s", "username": "u", "version": "5.3"}'
BAD_FRAMES: list[str | bytes] = [
    "not json", "", "[]", "null", '{"channel": "shell"}', '{"channel": "iopub", "header": {}}',
    '{"channel": "shell", "header": ' + HEADER.decode() + ', "content": {"code": NaN}}',
    '{"channel": "shell", "header": ' + HEADER.decode() + ', "content": {"code": 1e400}}',
    deep(979).decode(), deep(100_000, b'{"a":', b"}").replace(b":}", b":1}", 1).decode(),
    b"", b"\x00", b"\xff" * 64, struct.pack("!I", 0xFFFFFFFF) + b"\x00" * 16,
    struct.pack("!II", 1, 8) + b"\xff\xfe", struct.pack("!II", 1, 8) + deep(979),
    struct.pack("<Q", 2**63) + b"\x00" * 64, struct.pack("<7Q", 6, 56, 40, 30, 20, 10, 0),
    v1_frame([b"\xff\xfe", HEADER, b"{}", b"{}", b"{}"]), v1_frame([b"shell", deep(979), b"{}", b"{}", b"{}"]),
    v1_frame([b"shell", HEADER, b"{}", b"{}", b'{"code": NaN}']), v1_frame([b"shell", HEADER, b"[]", b"7", b"{}"]),
    v1_frame([b"iopub", HEADER, b"{}", b"{}", b"{}"]),
]


async def websocket_sweep(base_url: str, kernel_id: str) -> list[str]:
    """Send every bad frame in both protocols; the same sockets must then still run code."""
    problems = []
    for protocol in (None, V1):
        client = await KernelWebsocketClient.connect(base_url, TOKEN, kernel_id,
                                                     subprotocols=[protocol] if protocol else None)
        for frame in BAD_FRAMES:
            await client.send_raw(frame)
        result = await client.run("print(6 * 7)", timeout=60)
        if result.stdout != "42\n" or client.closed:
            problems.append(f"{protocol or 'json'}: socket unusable after bad frames")
        client.close()
    # A frame over tornado's 10 MiB websocket limit closes that socket, with a close frame...
    big = await KernelWebsocketClient.connect(base_url, TOKEN, kernel_id)
    try:
        await big.send_raw("x" * (11 * 1024 * 1024))
    except WebSocketClosedError:
        pass  # closed while the frame was still being written
    if await asyncio.wait_for(big.connection.read_message(), 30) is not None:
        problems.append("an oversized frame did not close its socket")
    big.close()
    # ...and the kernel goes on serving new ones.
    again = await KernelWebsocketClient.connect(base_url, TOKEN, kernel_id, subprotocols=[V1])
    if (await again.run("print(1)", timeout=60)).stdout != "1\n":
        problems.append("the kernel did not answer after an oversized frame")
    again.close()
    return problems


def path_sweep(sweeper: Sweeper, table: list[tuple[str, type[web.RequestHandler]]], segments: list[str]) -> None:
    """Every route with a path, every method it implements, the path replaced by each of ``segments``."""
    for pattern, handler in table:
        sample = sample_path(pattern)
        if "(?P<path>" not in pattern or "a.ipynb" not in sample:
            continue
        for segment in segments:
            url = sample.replace("a.ipynb", segment)
            for method in implemented_methods(handler):
                if method in ("POST", "PUT", "PATCH"):
                    for write in WRITE_BODIES:
                        sweeper.send(method, url, json.dumps(write).encode())
                else:
                    sweeper.send(method, url)


def make_root(tmp_path: Path) -> tuple[Path, Path]:
    """A root with a notebook, a text file and a folder, and a sibling folder that must not change."""
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_text("do not touch")
    (outside / "notebook.ipynb").write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4,
                                                        "nbformat_minor": 5}))
    (root / "a.ipynb").write_text((outside / "notebook.ipynb").read_text())
    (root / "t.txt").write_text("text")
    (root / "sub").mkdir()
    return root, outside


def test_malformed_input_on_every_route_gives_no_5xx_and_changes_nothing_outside(tmp_path):
    started = time.monotonic()
    root, outside = make_root(tmp_path)
    before = snapshot(outside)
    table = routes(root)

    # The sweep starts terminals too: theirs is a plain bash (see TEST_SHELL).
    with ServerProcess(root, f"--NotebookServerApp.max_body_size={MAX_BODY}", *TEST_SHELL_ARGS,
                       token=TOKEN) as server:
        sweeper = Sweeper(server.port)
        kernel_id = json.loads(_request(server.port, "POST", "/api/kernels", b"{}"))["id"]
        session_id = json.loads(_request(server.port, "POST", "/api/sessions", json.dumps(
            {"path": "a.ipynb", "type": "notebook", "name": "a", "kernel": {"id": kernel_id}}).encode()))["id"]

        for pattern, handler in table:
            if pattern.endswith("/channels"):
                continue  # the websocket, swept below
            sample = sample_path(pattern)
            for method in implemented_methods(handler) + list(EXTRA_METHODS):
                # Destructive requests name a kernel or session that does not exist.
                keep = method in ("DELETE",) or pattern.endswith("/restart")
                url = sample if keep else sample.replace(KERNEL_ID, kernel_id if "kernels" in pattern
                                                         else session_id)
                sweeper.send(method, url)
                if method in ("POST", "PUT", "PATCH", "DELETE", "FOO"):
                    for body in BAD_BODIES.values():
                        sweeper.send(method, url, body)
        path_sweep(sweeper, table, BAD_PATH_SEGMENTS)
        # Paths outside the root inside otherwise good bodies.
        for write in WRITE_BODIES:
            for method, url in (("PATCH", "/api/contents/t.txt"), ("POST", "/api/contents/sub"),
                                ("PUT", "/api/contents/sub/new.txt"), ("POST", "/api/sessions"),
                                ("PATCH", f"/api/sessions/{session_id}")):
                sweeper.send(method, url, json.dumps(write).encode())
        # Raw bytes that are not UTF-8 in the request line.
        for raw_path in (b"/api/contents/\xff\xfe.txt", b"/files/\xc0\xae\xc0\xae/secret.txt", b"/api/\xff"):
            _raw_request(server.port, b"GET " + raw_path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         b"Authorization: token " + TOKEN.encode() + b"\r\nConnection: close\r\n\r\n",
                         sweeper)

        problems = asyncio.run(websocket_sweep(server.base_url, kernel_id))

        assert server.process.poll() is None, "the server exited"
        assert json.loads(_request(server.port, "GET", "/api/status"))["kernels"] >= 1
        log = server.log
    assert sweeper.failures == [], "\n".join(sweeper.failures[:40])
    assert problems == []
    assert "Uncaught exception" not in log and "Traceback" not in log, log[-3000:]
    assert snapshot(outside) == before
    assert sweeper.sent > 1000 and time.monotonic() - started < 150


def test_paths_past_the_os_limits_give_no_5xx(tmp_path):
    root, outside = make_root(tmp_path)
    before = snapshot(outside)
    table = routes(root)
    with ServerProcess(root, token=TOKEN) as server:
        sweeper = Sweeper(server.port)
        path_sweep(sweeper, table, LONG_PATH_SEGMENTS)
        assert server.process.poll() is None
        log = server.log
    assert sweeper.failures == [], "\n".join(sweeper.failures[:40])
    assert "Uncaught exception" not in log
    assert snapshot(outside) == before


def _request(port: int, method: str, url: str, body: bytes | None = None) -> bytes:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(method, url, body=body, headers={"Authorization": f"token {TOKEN}"})
        response = connection.getresponse()
        data = response.read()
        assert response.status < 300, (method, url, response.status, data)
        return data
    finally:
        connection.close()


def _raw_request(port: int, request: bytes, sweeper: Sweeper) -> None:
    sweeper.sent += 1
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status = re.match(rb"HTTP/1\.1 (\d{3})", answer)
    if status and int(status.group(1)) >= 500:
        sweeper.failures.append(f"{status.group(1).decode()} raw {request[:80]!r}")

