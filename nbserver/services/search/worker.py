"""The index worker: a child process that extracts and writes the SQLite search index (issue 15).

Why a process: extracting and tokenizing text is Python work that holds the GIL, and the index's
writes compete for the disk; on the server's indexer thread a build from nothing slowed saves by
about two thirds. The worker runs at the lowest CPU priority (``SCHED_IDLE``, else nice 19) and in
the idle I/O class (``ioprio_set``; the I/O scheduler decides whether that class means anything:
with ``none`` it does not), and writes a bulk build without fsync (see :mod:`.index` on
durability). The server keeps the queue, stats files saved through it, gives files ids, and answers
queries from the index with its own read connections; it only sends the worker what to (re)index
(:class:`IndexWorker` is its side). A save never waits on the worker.

Protocol: one JSON object per line on the worker's stdin, one reply per line on its stdout
(``{"ok": true, ...}`` or ``{"ok": false, "error": ...}``); the first request is ``open``.

* ``{"op": "open", "index": {...}, "extract": {...}}`` -> ``{"ok", "reset"}`` (``reset``: the index
  was unsafe or malformed and was made anew, so everything must be queued again)
* ``{"op": "index", "work": [[file_id, path, kind, fingerprint, os_path], ...], "bulk": bool}``
  -> ``{"ok", "extracted"}``; ``bulk`` says more batches follow (a build: writes without fsync
  until a batch without it ends the build)
* ``{"op": "scan", "pass": "crawl" | "recheck", "budget": int, "restart": bool}`` -> ``{"ok", "done",
  "changed", "counts"}``: one pass of the scan for changes made outside the server
  (:class:`~.scan.ChangeScan`, which lives here: its listing of 100,000 files is the largest
  part of a build the server would otherwise do); ``changed`` is ``[[path, fingerprint], ...]``,
  regular files as the scan's ``lstat`` found them, which the server queues and sends back
  with ids without statting them again
* ``{"op": "prune"}`` -> ``{"ok", "removed"}``; ``{"op": "forget"}`` -> ``{"ok"}``

The worker ends when its stdin closes (the server stopped or died), on SIGTERM, and when its
parent thread dies (``PR_SET_PDEATHSIG``), so it never outlives the server.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import platform
import signal
import subprocess
import sys
import threading
from dataclasses import asdict
from typing import IO, Any

from nbserver.libc import die_with_parent, libc
from nbserver.services.contents.fileio import is_visible_name
from nbserver.services.search.index import SQLiteSearchIndex
from nbserver.services.search.scan import ChangeScan, ScanCounts
from nbserver.services.search.writer import DocumentWriter, ExtractSettings, Found, Work

log = logging.getLogger(__name__)

#: ioprio_set and ioprio_get syscall numbers per machine (Linux's unistd tables).
IOPRIO_SYSCALLS = {"x86_64": (251, 252), "aarch64": (30, 31)}
IOPRIO_WHO_PROCESS = 1
IOPRIO_CLASS_IDLE = 3
IOPRIO_CLASS_SHIFT = 13
#: Seconds the server waits for the worker to end after closing its stdin, then after SIGTERM.
STOP_WAIT = 5.0


class WorkerFailed(RuntimeError):
    """The worker answered with an error, or died twice on one request."""


def lower_priority() -> list[str]:
    """Put this process at the lowest CPU and I/O priority this platform allows; what it got."""
    got = []
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        got.append("SCHED_IDLE")
    except (AttributeError, OSError):
        os.nice(19 - os.nice(0))
        got.append("nice 19")
    numbers = IOPRIO_SYSCALLS.get(platform.machine())
    library = libc()
    if numbers is not None and library is not None and library.syscall(
            numbers[0], IOPRIO_WHO_PROCESS, 0, IOPRIO_CLASS_IDLE << IOPRIO_CLASS_SHIFT) == 0:
        got.append("I/O class idle")
    return got


def io_priority_class(pid: int) -> int | None:
    """The I/O priority class of ``pid`` (3 is idle), or None where this platform cannot tell."""
    numbers, library = IOPRIO_SYSCALLS.get(platform.machine()), libc()
    if numbers is None or library is None:
        return None
    value = library.syscall(numbers[1], IOPRIO_WHO_PROCESS, pid)
    return None if value < 0 else int(value) >> IOPRIO_CLASS_SHIFT


def _terminate(signum: int, frame: Any) -> None:
    raise SystemExit(0)


class WorkerLoop:
    """The worker's side: answers requests from ``requests`` on ``replies`` until ``requests`` ends."""

    def __init__(self, requests: IO[bytes], replies: IO[bytes]) -> None:
        self.requests = requests
        self.replies = replies
        self.index: SQLiteSearchIndex | None = None
        self.writer: DocumentWriter | None = None
        self.changes: ChangeScan | None = None

    def run(self) -> None:
        try:
            for line in self.requests:
                try:
                    reply = self.handle(json.loads(line))
                except Exception as exc:  # one failed request must not end the worker
                    log.exception("The search index worker failed a request")
                    reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
                self.replies.write(json.dumps(reply).encode() + b"\n")
                self.replies.flush()
        finally:
            if self.index is not None:
                self.index.close()

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request["op"]
        if op == "open":
            if self.index is not None:
                self.index.close()
            index = SQLiteSearchIndex(**request["index"])
            index.open()
            self.index = index
            self.writer = DocumentWriter(index, ExtractSettings.from_json(request["extract"]))
            scan = request["scan"]
            self.changes = ChangeScan(scan["root"], functools.partial(is_visible_name,
                                                                      allow_hidden=bool(scan["allow_hidden"])))
            return {"ok": True, "reset": index.was_reset}
        if self.index is None or self.writer is None or self.changes is None:
            raise WorkerFailed("the index is not open")
        if op == "index":
            if request["bulk"]:
                self.index.begin_bulk()
            work: list[Work] = [(file_id, Found(path, kind, mark, os_path))
                                for file_id, path, kind, mark, os_path in request["work"]]
            extracted = self.writer.write(work)
            if not request["bulk"]:
                self.index.end_bulk()
            return {"ok": True, "extracted": extracted}
        if op == "scan":
            if request["restart"]:
                self.changes.restart()
            counts = ScanCounts()
            run = self.changes.crawl_pass if request["pass"] == "crawl" else self.changes.recheck_pass
            done, changed = run(self.index, int(request["budget"]), counts)
            return {"ok": True, "done": done, "changed": changed, "counts": asdict(counts)}
        if op == "prune":
            return {"ok": True, "removed": self.index.prune()}
        if op == "forget":
            self.index.forget_fingerprints()
            return {"ok": True}
        raise WorkerFailed(f"unknown request {op!r}")


def main() -> None:
    """``python -m nbserver.services.search.worker PARENT_PID``: serve requests on stdin until it closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C is the server's to handle
    signal.signal(signal.SIGTERM, _terminate)
    die_with_parent(int(sys.argv[1]))
    logging.basicConfig(level=logging.WARNING, format="[search worker %(process)d] %(levelname)s %(message)s")
    lower_priority()
    WorkerLoop(sys.stdin.buffer, sys.stdout.buffer).run()


class IndexWorker:
    """The server's side of the worker: starts it, sends requests (blocking: call from one thread, the
    indexer's), starts it again when it died, and stops and reaps it by its PID."""

    def __init__(self, open_request: dict[str, Any]) -> None:
        self.open_request = {"op": "open", **open_request}
        self.process: subprocess.Popen[bytes] | None = None
        #: How many times an open found the index unsafe or malformed and made it anew.
        self.resets = 0
        self.starts = 0
        self._lock = threading.Lock()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def _start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "nbserver.services.search.worker", str(os.getpid())],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True)
        self.starts += 1
        reply = self._exchange(self.open_request)
        if reply.get("reset"):
            self.resets += 1

    def start(self) -> None:
        """Start the worker and open the index now (so that its schema exists before anything reads it)."""
        with self._lock:
            if self.process is None:
                try:
                    self._start()
                except (OSError, EOFError, ValueError) as exc:
                    self._reap()
                    raise WorkerFailed(f"the search index worker could not start: {exc}") from exc

    def _exchange(self, request: dict[str, Any]) -> dict[str, Any]:
        process = self.process
        assert process is not None and process.stdin is not None and process.stdout is not None
        process.stdin.write(json.dumps(request).encode() + b"\n")
        process.stdin.flush()
        line = process.stdout.readline()
        if not line:
            raise EOFError("the search index worker ended")
        reply: dict[str, Any] = json.loads(line)
        if not reply.get("ok"):
            raise WorkerFailed(str(reply.get("error")))
        return reply

    def call(self, request: dict[str, Any]) -> dict[str, Any]:
        """Send ``request`` and return the worker's reply; a worker found dead is reaped and started
        again, and the request sent once more. WorkerFailed if it fails again, or answers an error."""
        with self._lock:
            for attempt in (1, 2):
                try:
                    if self.process is None or self.process.poll() is not None:
                        self._reap()
                        self._start()
                    return self._exchange(request)
                except (OSError, EOFError, ValueError) as exc:
                    self._reap()
                    if attempt == 2:
                        raise WorkerFailed(f"the search index worker died: {exc}") from exc
            raise AssertionError("unreachable")

    def _reap(self) -> None:
        """Stop the process if it runs (stdin closed, then SIGTERM, then SIGKILL) and wait for it."""
        process, self.process = self.process, None
        if process is None:
            return
        for pipe in (process.stdin, process.stdout):
            if pipe is not None:
                try:
                    pipe.close()
                except OSError:
                    pass
        for stop in (None, process.terminate, process.kill):
            if stop is not None:
                stop()
            try:
                process.wait(STOP_WAIT)
                return
            except subprocess.TimeoutExpired:
                continue

    def stop(self) -> None:
        """End the worker (it finishes its request and makes a bulk build durable) and reap it."""
        with self._lock:
            self._reap()


if __name__ == "__main__":
    main()
