"""Worker processes for the CPU-bound half of large notebooks' saves and first reads, so they use
every core.

Parsing a large notebook's body, validating it, writing its file text and its trust digest hold
the GIL nearly all the time (msgspec, orjson and the validator do not release it), and so do a
read's parse, digest, validation and reply encoding: in the server's own process two at once
share one core. In worker processes (:mod:`.notebookworker`) they run side by side, and the
server's event loop stays free (docs/performance.md, sections 20 and 21). A job may ask the
server questions while it runs (``notebookworker.ask``; a read asks whether its digest is signed).

The workers are started on the first job given to the pool, in the background: until one of
them has imported the notebook modules and run a small save through them, jobs are refused with
:class:`ProcessesUnavailable` and their callers do the work in the server's own thread pool as
before, so nothing ever waits for a process to start. A job waits for a free worker. A worker
that dies (killed, out of memory) refuses its job in flight with ProcessesUnavailable (its caller
redoes it in-process) and is replaced in the background; after a worker fails to start, no
other is started for :data:`RESTART_PAUSE` seconds. Workers unused for ``idle_seconds`` are
stopped (their memory given back), to start again on the next job. Workers get SIGTERM when the
server's main thread ends (``PR_SET_PDEATHSIG``), so a killed server leaves none; the server's
stop ends them (closing an idle one's pipe, then SIGKILL by pid after :data:`STOP_WAIT`; a busy
one by SIGKILL at once).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import fcntl
import logging
import os
import subprocess
import sys
import time
from typing import Any, Callable, TypeVar

from nbserver.blocking import run_blocking
from nbserver.services.contents.notebookworker import (
    ASKING, DONE, READY, SharedFiles, out_of_band, read_exactly, read_message, shared_ends, write_message)

T = TypeVar("T")

#: Seconds a worker may take to start and warm up before it is given up.
START_TIMEOUT = 60.0
#: Seconds the server waits for a stopped worker to exit before killing it.
STOP_WAIT = 5.0
#: Seconds after a worker failed to start before another is tried.
RESTART_PAUSE = 30.0
#: Bytes of each pipe's buffer (Linux's limit for unprivileged processes, ``fs.pipe-max-size``):
#: a 3 MB body crosses in three writes instead of fifty.
PIPE_BYTES = 1024 * 1024


def make_shared_files() -> SharedFiles | None:
    """Two new memory files for a worker's large buffers (``memfd_create``; see notebookworker), or
    None where the system has none (the buffers then cross in the pipes)."""
    if not hasattr(os, "memfd_create"):
        return None
    made: list[int] = []
    try:
        for name in ("nbserver-requests", "nbserver-replies"):
            made.append(os.memfd_create(name, os.MFD_CLOEXEC))
    except OSError:
        for fd in made:
            os.close(fd)
        return None
    return SharedFiles(*made)


class ProcessesUnavailable(Exception):
    """The pool cannot take this job now (off, starting, its worker died, or closed): run it in-process."""


class WorkerDied(Exception):
    """The worker's pipes closed in the middle of a job."""


class Worker:
    """One notebook process, its two pipes and its two shared files (None: large buffers cross in
    the pipes). :meth:`call` blocks: one job at a time."""

    def __init__(self, process: subprocess.Popen[bytes], shared: SharedFiles | None = None) -> None:
        self.process = process
        self.shared = shared
        assert process.stdin is not None and process.stdout is not None
        self._requests = process.stdin.fileno()
        self._replies = process.stdout.fileno()

    @classmethod
    def spawn(cls, keep_bytes: int) -> Worker:
        """Start one (call from the event loop's thread: the worker's death signal is tied to the
        thread that started it); :meth:`wait_ready` next."""
        shared = make_shared_files()
        command = [sys.executable, "-m", "nbserver.services.contents.notebookworker", str(os.getpid()), str(keep_bytes)]
        try:
            process = subprocess.Popen(
                command + ([str(shared.requests), str(shared.replies)] if shared is not None else []),
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True, start_new_session=True,
                pass_fds=shared or ())
        except BaseException:
            for fd in shared or ():
                os.close(fd)
            raise
        worker = cls(process, shared)
        for fd in (worker._requests, worker._replies):
            with contextlib.suppress(OSError):  # a smaller limit (fs.pipe-max-size): the default buffer
                fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        return worker

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self) -> None:
        """Block until the worker says it is ready; EOFError when it exited first."""
        if read_exactly(self._replies, len(READY)) != READY:
            raise EOFError("the notebook process did not start")

    def call(self, function: Callable[..., T], args: tuple[Any, ...],
             answer: Callable[[Any], Any] | None = None) -> T:
        """``function(*args)`` in the worker (blocking); a large bytes-like argument arrives there as
        the buffer it was read into (:func:`out_of_band`). Each question the job asks
        (``notebookworker.ask``) is answered by ``answer(question)``, called in this thread (with
        none, the question gets RuntimeError). Raises what the job raised, WorkerDied, or
        ProcessesUnavailable when the arguments could not be sent (the worker is still fine)."""
        try:
            write_message(self._requests, (function, tuple(map(out_of_band, args))), shared_ends(self.shared)[0])
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise WorkerDied(repr(exc)) from None
        except OSError as exc:  # the shared file could not take the arguments (out of memory): nothing sent
            raise ProcessesUnavailable(f"the job's arguments could not be written: {exc!r}") from None
        try:
            while True:
                kind, value = read_message(self._replies, shared_ends(self.shared)[1])
                if kind != ASKING:
                    break
                self._send_answer(self._answer(answer, value))
        except (EOFError, BrokenPipeError, ConnectionResetError) as exc:
            raise WorkerDied(repr(exc)) from None
        if kind != DONE:
            raise value
        return value  # type: ignore[no-any-return]

    def _send_answer(self, reply: tuple[bool, Any]) -> None:
        """Send the answer to the job's question; one the shared file cannot take (out of memory)
        goes as that error instead (nothing of it was on the pipe), so the job is never left waiting."""
        try:
            write_message(self._requests, reply, shared_ends(self.shared)[0])
        except (BrokenPipeError, ConnectionResetError):
            raise
        except OSError as exc:
            write_message(self._requests, (False, RuntimeError(f"the answer could not be written: {exc!r}")))

    @staticmethod
    def _answer(answer: Callable[[Any], Any] | None, question: Any) -> tuple[bool, Any]:
        if answer is None:
            return False, RuntimeError("this job's questions have no one to answer them")
        try:
            return True, answer(question)
        except Exception as exc:  # raised again in the job, where it asked
            return False, exc

    def stop(self) -> None:
        """Close its requests pipe (it exits), wait STOP_WAIT, then SIGKILL it by pid; reap it. Blocking."""
        with contextlib.suppress(OSError):
            assert self.process.stdin is not None
            self.process.stdin.close()
        try:
            self.process.wait(STOP_WAIT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        assert self.process.stdout is not None
        self.process.stdout.close()
        self.close_shared()

    def close_shared(self) -> None:
        """Close this side of the shared files (their memory goes once the worker's side is closed too)."""
        for fd in self.shared or ():
            with contextlib.suppress(OSError):
                os.close(fd)
        self.shared = None

    def resident_bytes(self) -> int:
        """Its resident memory (/proc/<pid>/statm) and its shared files' pages; 0 once it has exited."""
        try:
            with open(f"/proc/{self.pid}/statm") as handle:
                resident = int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            return resident + sum(os.fstat(fd).st_blocks * 512 for fd in self.shared or ())
        except (OSError, ValueError, IndexError):
            return 0


class NotebookProcesses:
    """Up to ``processes`` workers, started on demand and stopped when idle (see the module).
    Use from the event loop's thread only. ``keep_bytes``: the workers' glibc keeps that much freed
    memory for reuse, as the server does (``NotebookServerApp.malloc_keep_bytes``)."""

    def __init__(self, processes: int, idle_seconds: float, log: logging.Logger, keep_bytes: int = 0) -> None:
        self.processes = processes
        self.idle_seconds = idle_seconds
        self.log = log
        self.keep_bytes = keep_bytes
        #: Workers ready or busy, and those idle among them.
        self._workers: list[Worker] = []
        self._idle: list[Worker] = []
        self._waiting: collections.deque[asyncio.Future[Worker]] = collections.deque()
        self._starting = 0
        #: The tasks starting workers, and the workers spawned by them and not ready yet (a close
        #: kills those and waits for the tasks: none is left to start after it).
        self._start_tasks: set[asyncio.Future[None]] = set()
        self._spawned: set[Worker] = set()
        self._start_failed_at = -RESTART_PAUSE
        self._closed = False
        self._last_used = time.monotonic()
        self._idle_timer: asyncio.TimerHandle | None = None
        #: Workers started and workers that died so far (for reports and tests).
        self.starts = 0
        self.deaths = 0

    @property
    def ready(self) -> bool:
        """Whether all ``processes`` workers are up (jobs are taken once one is)."""
        return self.processes > 0 and len(self._workers) == self.processes

    def taking(self) -> bool:
        """Whether a job given now goes to a worker (it may wait for one to be free): the pool is on,
        not closed, and a worker is up. Missing workers are started now, so a False turns True
        once one is ready."""
        if self.processes < 1 or self._closed:
            return False
        self._start_missing()
        return bool(self._workers)

    def pids(self) -> list[int]:
        """The pids of the running workers."""
        return [worker.pid for worker in self._workers]

    def resident_bytes(self) -> int:
        """The workers' resident memory together (bytes)."""
        return sum(worker.resident_bytes() for worker in self._workers)

    async def run(self, function: Callable[..., T], *args: Any, answer: Callable[[Any], Any] | None = None) -> T:
        """``function(*args)`` in a worker: a module-level function, its arguments and result picklable.
        ``answer(question)`` answers the job's questions (``notebookworker.ask``), in a thread of
        the server's pool: it may block, briefly (the worker waits for it).

        Raises what ``function`` raised (pickled back), or ProcessesUnavailable when the pool is off
        (``processes`` 0) or closed, has no worker up yet (they are started now), or the job's
        worker died: run it in-process then.
        """
        if self.processes < 1 or self._closed:
            raise ProcessesUnavailable("no notebook processes")
        if not self.taking():
            raise ProcessesUnavailable("the notebook processes are starting")
        worker = await self._take()
        job = asyncio.get_running_loop().run_in_executor(None, worker.call, function, args, answer)
        job.add_done_callback(lambda _: self._job_done(worker, job))
        try:
            # Shielded: a cancelled request leaves the job to finish, and the worker to be given
            # back then (its pipes are in use until the job's thread is done with them).
            return await asyncio.shield(job)
        except WorkerDied:
            raise ProcessesUnavailable("the notebook process died") from None
        finally:
            self._last_used = time.monotonic()

    async def _take(self) -> Worker:
        if self._idle:
            return self._idle.pop()
        waiter: asyncio.Future[Worker] = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        return await waiter

    def _job_done(self, worker: Worker, job: asyncio.Future[Any]) -> None:
        """A job's thread is done with ``worker``'s pipes: give it to the next job, or reap it
        when it died or was stopped meanwhile."""
        if worker not in self._workers:
            asyncio.ensure_future(run_blocking(worker.stop))  # stopped during the job
        elif isinstance(job.exception(), WorkerDied):
            self.deaths += 1
            self.log.warning("Notebook process %d died (exit status %s); its job is done in-process",
                             worker.pid, worker.process.poll())
            self._workers.remove(worker)
            asyncio.ensure_future(run_blocking(worker.stop))
            self._fail_waiters_if_none_left()
            self._start_missing()
        else:
            self._give_back(worker)

    def _give_back(self, worker: Worker) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(worker)
                return
        self._idle.append(worker)
        self._schedule_idle_stop()

    def _fail_waiters_if_none_left(self) -> None:
        """No worker is up and none is starting: the jobs waiting for one go in-process."""
        if not self._workers and not self._starting:
            self._fail_waiters()

    def _fail_waiters(self) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_exception(ProcessesUnavailable("no notebook process is up"))

    def _start_missing(self) -> None:
        missing = self.processes - len(self._workers) - self._starting
        if missing <= 0 or self._closed or time.monotonic() - self._start_failed_at < RESTART_PAUSE:
            return
        for _ in range(missing):
            self._starting += 1
            task = asyncio.ensure_future(self._start_one())
            self._start_tasks.add(task)
            task.add_done_callback(self._start_tasks.discard)

    async def _start_one(self) -> None:
        if self._closed:  # closed before this task ran
            self._starting -= 1
            return
        started = time.monotonic()
        worker: Worker | None = None
        spawned: Worker | None = None  # ``worker`` until it is stopped on a failure (then None)
        try:
            worker = spawned = Worker.spawn(self.keep_bytes)
            self._spawned.add(spawned)
            ready = asyncio.ensure_future(run_blocking(worker.wait_ready))
            try:
                await asyncio.wait_for(asyncio.shield(ready), START_TIMEOUT)
            except asyncio.TimeoutError:
                worker.process.kill()  # by its pid; the thread waiting for it then reads the end of its pipe
                with contextlib.suppress(EOFError, OSError):
                    await ready
                raise
        except (OSError, EOFError, asyncio.TimeoutError) as exc:
            self._start_failed_at = time.monotonic()
            if not self._closed:  # else killed by close
                self.log.warning("A notebook process could not start (%r); large notebooks are encoded in-process",
                                 exc)
            if worker is not None:  # no thread reads its pipes any more: closed, with its shared files; reaped
                await run_blocking(worker.stop)
            worker = None
        finally:
            self._starting -= 1
            if spawned is not None:
                self._spawned.discard(spawned)
        if worker is None or self._closed:
            if worker is not None:
                await run_blocking(worker.stop)
            self._fail_waiters_if_none_left()
            return
        self.starts += 1
        self._workers.append(worker)
        self.log.info("Notebook process %d ready in %.2f s (%.1f MB resident)", worker.pid,
                      time.monotonic() - started, worker.resident_bytes() / 2**20)
        self._give_back(worker)

    def _schedule_idle_stop(self) -> None:
        if self._idle_timer is None and self._workers:
            self._idle_timer = asyncio.get_running_loop().call_later(self.idle_seconds, self._stop_if_idle)

    def _stop_if_idle(self) -> None:
        self._idle_timer = None
        idle = time.monotonic() - self._last_used
        if self._workers and len(self._idle) == len(self._workers) and idle >= self.idle_seconds:
            self.log.info("Notebook processes idle for %.0f s: stopped (%d MB resident)",
                          idle, self.resident_bytes() // 2**20)
            asyncio.ensure_future(self._stop_all())
        elif self._workers:
            self._idle_timer = asyncio.get_running_loop().call_later(
                max(self.idle_seconds - idle, 1.0), self._stop_if_idle)

    async def _stop_all(self) -> None:
        """Stop every worker: the idle ones now (waited for), the busy ones by SIGKILL (their job
        then runs in-process; they are reaped when its thread is done with their pipes)."""
        idle, busy = self._idle, [worker for worker in self._workers if worker not in self._idle]
        self._workers, self._idle = [], []
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        self._fail_waiters()
        for worker in busy:
            worker.process.kill()  # by its pid: it is ours and not yet reaped
        await asyncio.gather(*(run_blocking(worker.stop) for worker in idle))

    async def close(self) -> None:
        """Stop the workers: the idle ones exit (waited for, at most STOP_WAIT each before SIGKILL),
        a busy one is killed at once (its job then done in-process), one still starting too (and
        waited for). No job is taken afterwards."""
        self._closed = True
        for worker in list(self._spawned):
            worker.process.kill()  # by its pid: not reaped yet; its start then stops it
        await asyncio.gather(*list(self._start_tasks), return_exceptions=True)
        if self.starts:
            self.log.info("Notebook processes: %d started, %d died, %d running with %.1f MB resident at the stop",
                          self.starts, self.deaths, len(self._workers), self.resident_bytes() / 2**20)
        await self._stop_all()
