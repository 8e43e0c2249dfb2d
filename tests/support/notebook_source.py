"""Test helpers for external notebooks: a local source server on 127.0.0.1 and a network guard.

:class:`SourceServer` is a tornado app with one route per behaviour a remote host may show
(a notebook, redirects, 200 MB answers, a gzip bomb, a stall, HTML, broken JSON, 404, a
notebook with validators that answers conditional requests, one sent ``no-store``) and a log
of every request it received (``log``: the paths; ``conditions``: the conditional headers).
:class:`NetworkGuard` makes any ``connect`` to a non-loopback address, and any name lookup
other than ``localhost``, fail the test before a packet leaves: the SSRF tests must stay safe
even when the guard under test is broken.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import json
import socket
import sys
import zlib
from typing import Any, Callable

from tornado import httpserver, netutil, web

NOTEBOOK: dict[str, Any] = {
    "cells": [{"cell_type": "markdown", "id": "a1", "metadata": {}, "source": "# Hello from afar\n\nquasar"},
              {"cell_type": "code", "id": "b2", "execution_count": None, "metadata": {}, "outputs": [],
               "source": "print(1)"}],
    "metadata": {}, "nbformat": 4, "nbformat_minor": 5,
}
MiB = 1024 * 1024
#: A render worker whose render asks for 4 GiB of address space (``bytes(n)`` is calloc'd: no page is
#: touched, so without the cap it would just succeed, and nothing on the machine would notice).
GREEDY_WORKER = (sys.executable, "-c", "import sys; from nbserver.services.external import render; "
                 "render.main(sys.argv[1:], lambda notebook: str(len(bytes(4 * 1024 ** 3))).encode())")
BIG_BYTES = 200 * MiB
CHUNK = 64 * 1024


def many_cells() -> dict[str, Any]:
    """A valid notebook of 40 cells, 20 of them code with one output each."""
    cells: list[dict[str, Any]] = []
    for number in range(20):
        cells.append({"cell_type": "markdown", "id": f"m{number}", "metadata": {}, "source": f"# part {number}"})
        cells.append({"cell_type": "code", "id": f"c{number}", "execution_count": number + 1, "metadata": {},
                      "source": f"print({number})",
                      "outputs": [{"output_type": "stream", "name": "stdout", "text": f"{number}\n"}]})
    return dict(NOTEBOOK, cells=cells)


@functools.lru_cache(maxsize=1)
def gzip_bomb() -> bytes:
    """200 MB of zeros, gzipped (about 200 KB)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(MiB)
    parts = [compressor.compress(zeros) for _ in range(BIG_BYTES // MiB)]
    return b"".join(parts) + compressor.flush()


class SourceHandler(web.RequestHandler):
    """Answers by path; every request is logged in the server's ``log``."""

    def initialize(self, source: SourceServer) -> None:
        self.source = source

    def prepare(self) -> None:
        self.source.log.append(self.request.path)
        self.source.conditions.append({name: value for name in ("If-None-Match", "If-Modified-Since")
                                       if (value := self.request.headers.get(name)) is not None})

    def compute_etag(self) -> str | None:
        return '"v1"' if self.request.path == "/validated.ipynb" else None

    async def get(self, name: str) -> None:
        if name in ("nb.ipynb", "validated.ipynb", "no-store.ipynb", "many-cells.ipynb"):
            self.set_header("Content-Type", "application/x-ipynb+json")
            if name == "validated.ipynb":  # ETag "v1" (compute_etag): tornado answers 304 to If-None-Match
                self.set_header("Last-Modified", "Mon, 02 Nov 2026 10:00:00 GMT")
            elif name == "no-store.ipynb":
                self.set_header("Cache-Control", "no-store")
            self.finish(json.dumps(many_cells() if name == "many-cells.ipynb" else NOTEBOOK))
        elif name.startswith("hop"):
            left = int(name[3:])
            self.redirect(f"/hop{left - 1}" if left > 1 else "/nb.ipynb")
        elif name == "to":
            self.redirect(self.get_query_argument("location"))
        elif name in ("big", "big-length"):
            await self.stream_big(with_length=name == "big-length")
        elif name == "bomb":
            self.set_header("Content-Encoding", "gzip")
            self.set_header("Content-Type", "application/json")
            self.finish(gzip_bomb())
        elif name == "stall":
            self.set_header("Content-Type", "application/json")
            self.set_header("Content-Length", "1000")
            await self.flush()
            await asyncio.wait_for(self.source.released.wait(), 60)
        elif name == "html":
            self.set_header("Content-Type", "text/html; charset=utf-8")
            self.finish("<html><body>Please log in</body></html>")
        elif name == "broken":
            self.set_header("Content-Type", "application/json")
            self.finish('{"cells": [')
        elif name == "not-notebook":
            self.set_header("Content-Type", "application/json")
            self.finish('{"a": 1}')
        else:
            raise web.HTTPError(404)

    async def stream_big(self, with_length: bool) -> None:
        self.set_header("Content-Type", "application/json")
        if with_length:
            self.set_header("Content-Length", str(BIG_BYTES))
        chunk = b" " * CHUNK
        try:
            for _ in range(BIG_BYTES // CHUNK):
                self.write(chunk)
                await self.flush()
                self.source.sent += len(chunk)
        except Exception:  # the client hung up, as it should
            return
        self.finish()


class SourceServer:
    """A notebook source on 127.0.0.1 at a free port; ``url(path)`` names its routes."""

    def __init__(self, ssl_options: dict[str, str] | None = None) -> None:
        self.log: list[str] = []
        self.conditions: list[dict[str, str]] = []
        self.sent = 0
        self.released = asyncio.Event()
        self.scheme = "https" if ssl_options else "http"
        [sock] = netutil.bind_sockets(0, "127.0.0.1", family=socket.AF_INET)
        self.port = sock.getsockname()[1]
        self.server = httpserver.HTTPServer(web.Application([(r"/(.*)", SourceHandler, {"source": self})]),
                                            ssl_options=ssl_options)
        self.server.add_sockets([sock])

    def url(self, path: str = "nb.ipynb") -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/{path.lstrip('/')}"

    async def close(self) -> None:
        self.released.set()
        self.server.stop()
        await self.server.close_all_connections()


def is_loopback(address: Any) -> bool:
    if isinstance(address, tuple):
        address = address[0]
    if not isinstance(address, str):  # AF_UNIX paths are bytes or str; their str is not an address
        return True
    try:
        return ipaddress.ip_address(address.split("%", 1)[0]).is_loopback
    except ValueError:
        return address.startswith("/") or address.startswith("\0")


class NetworkGuard:
    """Records and refuses connects to non-loopback addresses and lookups of real names."""

    def __init__(self) -> None:
        self.violations: list[str] = []

    def install(self, monkeypatch: Any) -> None:
        real_connect = socket.socket.connect
        real_connect_ex = socket.socket.connect_ex
        real_getaddrinfo = socket.getaddrinfo

        def checked(real: Callable[..., Any]) -> Callable[..., Any]:
            def connect(sock: socket.socket, address: Any) -> Any:
                if sock.family in (socket.AF_INET, socket.AF_INET6) and not is_loopback(address):
                    self.violations.append(f"connect to {address!r}")
                    raise ConnectionRefusedError(f"test network guard: no connect to {address!r}")
                return real(sock, address)
            return connect

        def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
            name = host.decode() if isinstance(host, bytes) else str(host)
            literal = True
            try:
                ipaddress.ip_address(name.split("%", 1)[0])
            except ValueError:
                literal = False
            if not literal and name not in ("localhost", "None"):
                self.violations.append(f"lookup of {name!r}")
                raise socket.gaierror(socket.EAI_NONAME, f"test network guard: no lookup of {name!r}")
            return real_getaddrinfo(host, *args, **kwargs)

        monkeypatch.setattr(socket.socket, "connect", checked(real_connect))
        monkeypatch.setattr(socket.socket, "connect_ex", checked(real_connect_ex))
        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def stub_lookup(answers: dict[str, list[str]]) -> Callable[[str, int], Any]:
    """An ``ExternalNotebooks.lookup`` that knows only ``answers`` (name -> addresses)."""

    async def lookup(host: str, port: int) -> list[Any]:
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, f"stub resolver: unknown name {host!r}")
        return [ipaddress.ip_address(text) for text in answers[host]]

    return lookup


class ThreadedSourceServer:
    """A :class:`SourceServer` on its own event loop in a thread, for tests that block (browser tests)."""

    def __init__(self) -> None:
        import threading

        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the source server did not start")

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def start() -> None:
            self.server = SourceServer()
            self._ready.set()

        self.loop.run_until_complete(start())
        self.loop.run_forever()
        self.loop.close()

    def url(self, path: str = "nb.ipynb") -> str:
        return self.server.url(path)

    @property
    def log(self) -> list[str]:
        return self.server.log

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
