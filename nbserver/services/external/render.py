"""Rendering an external notebook to HTML in worker processes (design section 3.11, step 7).

A worker is ``python -m nbserver.services.external.render``, a child in its own session that
imports nbconvert once (seconds of CPU), says it is ready, then renders one notebook per
request: a length-prefixed notebook JSON on stdin, a status byte and a length-prefixed answer
(the HTML, or the error) on stdout. nbconvert's ``sanitize_html`` is on, since external content
is served without scripts. At most ``workers`` run; an idle one is reused. A render that passes
``timeout`` seconds gets its worker killed by pid (a new one starts on the next need). With a
``memory_bytes`` limit, each worker caps its own address space at start (``RLIMIT_AS``), so a
render that would need more fails with MemoryError inside the worker, which answers so and exits
(a new one starts on the next need). So a notebook built to make nbconvert slow or hungry never
costs the server's event loop or memory.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import resource
import struct
import sys
from typing import BinaryIO, Callable, Sequence

from nbserver.errors import NbserverError, ServiceUnavailable

log = logging.getLogger("nbserver")

#: Seconds a new worker may take to import nbconvert before it is given up.
STARTUP_TIMEOUT = 120.0
READY = b"R"
OK, FAILED, OUT_OF_MEMORY = b"0", b"1", b"2"
LENGTH = struct.Struct("!Q")
WORKER_COMMAND = (sys.executable, "-m", "nbserver.services.external.render")


class RenderFailed(NbserverError):
    status_code = 500
    reason = "Conversion Failed"


class Worker:
    """One render process and its pipes."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, command: Sequence[str]) -> Worker:
        process = await asyncio.create_subprocess_exec(
            *command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            start_new_session=True, env={**os.environ, "PYTHONIOENCODING": "utf-8"},
        )
        worker = cls(process)
        try:
            assert process.stdout is not None
            ready = await asyncio.wait_for(process.stdout.readexactly(1), STARTUP_TIMEOUT)
            if ready != READY:
                raise EOFError("the render worker did not start")
        except BaseException:
            await worker.kill()
            raise
        return worker

    async def render(self, notebook_json: bytes) -> tuple[bytes, bytes]:
        """(OK, HTML), (FAILED, the worker's error text) or (OUT_OF_MEMORY, text: the worker then exits)."""
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None and stdout is not None
        stdin.write(LENGTH.pack(len(notebook_json)) + notebook_json)
        await stdin.drain()
        status = await stdout.readexactly(1)
        (size,) = LENGTH.unpack(await stdout.readexactly(LENGTH.size))
        return status, await stdout.readexactly(size)

    async def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()  # this child by its pid, nothing else
        await self.process.wait()


class RenderWorkers:
    """Runs renders in up to ``workers`` child processes, each render killed past ``timeout`` seconds,
    each process limited to ``memory_bytes`` of address space (0: no limit)."""

    def __init__(self, workers: int, timeout: float, memory_bytes: int = 0,
                 command: Sequence[str] = WORKER_COMMAND) -> None:
        self.timeout = timeout
        self.memory_bytes = memory_bytes
        self.command = (*command, f"--memory-bytes={memory_bytes}")
        self._slots = asyncio.Semaphore(max(1, workers))
        self._idle: list[Worker] = []

    async def render(self, notebook_json: bytes) -> bytes:
        """The notebook as an HTML page. ServiceUnavailable (503, ``render_timeout``) past ``timeout``
        seconds of rendering; 503 ``render_memory_exceeded`` when it needs more than ``memory_bytes``;
        503 ``render_busy`` when no worker frees up in that time; RenderFailed (500) when nbconvert fails."""
        try:
            await asyncio.wait_for(self._slots.acquire(), self.timeout)
        except asyncio.TimeoutError:
            raise ServiceUnavailable("The server is busy rendering other notebooks; try again.",
                                     code="render_busy") from None
        try:
            worker = self._idle.pop() if self._idle else await self._start()
            try:
                status, answer = await asyncio.wait_for(worker.render(notebook_json), self.timeout)
            except asyncio.TimeoutError:
                await worker.kill()
                raise ServiceUnavailable(f"Rendering the notebook took longer than {self.timeout:g} s.",
                                         code="render_timeout") from None
            except (OSError, EOFError, asyncio.IncompleteReadError) as exc:
                await worker.kill()
                raise RenderFailed("The render worker failed.", log_detail=repr(exc)) from None
            except BaseException:  # cancelled: the worker is mid-render, so it cannot be reused
                await worker.kill()
                raise
            if status == OUT_OF_MEMORY:
                await worker.kill()  # it exits by itself; its heap is not to be trusted meanwhile
                raise ServiceUnavailable(
                    f"Rendering the notebook needs more than the {self.memory_bytes} bytes of memory a "
                    "render may use.", log_detail=answer.decode("utf-8", "replace"),
                    code="render_memory_exceeded")
            self._idle.append(worker)
            if status != OK:
                raise RenderFailed("nbconvert could not render this notebook.",
                                   log_detail=answer.decode("utf-8", "replace"))
            return answer
        finally:
            self._slots.release()

    async def _start(self) -> Worker:
        try:
            return await Worker.start(self.command)
        except (OSError, EOFError, asyncio.IncompleteReadError, asyncio.TimeoutError) as exc:
            raise ServiceUnavailable("The notebook renderer could not start.", log_detail=repr(exc),
                                     code="render_unavailable") from None

    async def close(self) -> None:
        """Stop the idle workers (a busy one is killed when its render ends or times out)."""
        idle, self._idle = self._idle, []
        for worker in idle:
            await worker.kill()


#: What markdown cells and HTML outputs of an external notebook keep: text structure, tables, links
#: and images. Scripts, styles, frames, forms, ``<meta>`` (refresh), ``<base>`` and event handlers go.
ALLOWED_TAGS = frozenset({
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "del", "details", "div", "dl", "dt", "em",
    "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "mark",
    "ol", "p", "pre", "q", "s", "samp", "small", "span", "strong", "sub", "summary", "sup", "table", "tbody",
    "td", "tfoot", "th", "thead", "tr", "u", "ul", "var",
})
ALLOWED_ATTRIBUTES = {
    "*": ["class", "id", "title", "align"], "a": ["href"], "img": ["src", "alt", "width", "height"],
    "td": ["colspan", "rowspan"], "th": ["colspan", "rowspan", "scope"], "ol": ["start"],
}
ALLOWED_PROTOCOLS = frozenset({"http", "https", "mailto", "data"})


def clean_html(element: object) -> str:
    """nbconvert's ``clean_html`` filter with an allow-list fit for notebooks.

    nbconvert's own keeps only bleach's default inline tags, so headings, paragraphs and tables
    of every markdown cell would show as escaped markup; disallowed tags are escaped here too.
    """
    import bleach

    text = element.decode() if isinstance(element, bytes) else str(element)
    cleaned: str = bleach.clean(text, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES,
                                protocols=ALLOWED_PROTOCOLS)
    return cleaned


def render_html(notebook_json: bytes) -> bytes:
    """nbconvert's HTML page for a notebook's JSON, sanitized (no scripts, forms or meta refresh)."""
    import nbformat
    from nbconvert.exporters import HTMLExporter

    node = nbformat.reads(notebook_json.decode("utf-8"), as_version=4)
    exporter = HTMLExporter(sanitize_html=True, filters={"clean_html": clean_html})
    body, _resources = exporter.from_notebook_node(node)
    return str(body).encode("utf-8")


def _read_exactly(stream: BinaryIO, size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise EOFError
    return data


def limit_memory(memory_bytes: int) -> None:
    """Cap this process's address space at ``memory_bytes`` (0: leave it), soft and hard limit alike,
    so past it allocations fail with MemoryError and the limit cannot be raised again."""
    if memory_bytes > 0:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))


def serve(stdin: BinaryIO, stdout: BinaryIO, render: Callable[[bytes], bytes] = render_html) -> None:
    """The worker's loop: one notebook in, one answer out, until stdin closes or a render runs
    out of memory (answered OUT_OF_MEMORY, then the worker ends: the parent starts a new one)."""
    import nbconvert.exporters  # noqa: F401  (the slow import, done before saying ready)

    stdout.write(READY)
    stdout.flush()
    while True:
        try:
            (size,) = LENGTH.unpack(_read_exactly(stdin, LENGTH.size))
            notebook_json = _read_exactly(stdin, size)
        except EOFError:
            return
        try:
            status, answer = OK, render(notebook_json)
        except MemoryError:
            status, answer = OUT_OF_MEMORY, b"MemoryError"
        except Exception as exc:  # nbconvert raises anything; the parent logs it
            status, answer = FAILED, f"{type(exc).__name__}: {exc}".encode("utf-8", "replace")
        stdout.write(status + LENGTH.pack(len(answer)) + answer)
        stdout.flush()
        if status == OUT_OF_MEMORY:
            return


def main(argv: Sequence[str], render: Callable[[bytes], bytes] = render_html) -> None:
    """``python -m nbserver.services.external.render [--memory-bytes N]``: limit, then serve stdin/stdout."""
    parser = argparse.ArgumentParser(prog="nbserver.services.external.render")
    parser.add_argument("--memory-bytes", type=int, default=0)
    limit_memory(parser.parse_args(argv).memory_bytes)
    serve(sys.stdin.buffer, sys.stdout.buffer, render)


if __name__ == "__main__":
    main(sys.argv[1:])
