"""A warm pool: started kernels waiting, per kernelspec, to be handed out instead of a cold start.

A kernel's working directory is the folder of its notebook, which is known only when it is
asked for; so only kernels that can move to another folder after start, exactly as if they had
started there, are pooled: Python kernels (ipykernel). On take the pool moves the kernel to the
folder with a silent execute (no execution count, no output to any client) and checks that
nothing changed since it started (the kernelspec, the server's environment); a kernel that died
or changed is discarded and the caller starts one cold. The pool refills in the background,
several kernels at once (``parallel_starts``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import uuid
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from jupyter_client.kernelspec import KernelSpec, KernelSpecManager, NoSuchKernel

from nbserver.blocking import run_blocking
from nbserver.errors import NotFound
from nbserver.services.kernels.bridge import KernelDied
from nbserver.services.kernels.messages import KernelMessage, server_header

if TYPE_CHECKING:
    from nbserver.services.kernels.manager import RunningKernel

#: Kernel languages whose kernels can change folder after start as if they had started there.
POOLABLE_LANGUAGES = frozenset({"python"})
#: Seconds a pooled kernel has to move to its folder; one that takes longer is discarded.
MOVE_TIMEOUT = 10.0
#: Seconds after a take before the replacement starts, so that it does not compete for the CPU
#: with the kernel just handed out while its user's first requests arrive.
REFILL_DELAY = 1.0

# Run with exec() in a namespace of its own, so that no name reaches the user's namespace. What a
# fresh ipykernel knows of its start folder: the working directory, IPython's starting_dir and
# directory history (_dh); its sys.path has '' rather than the folder, but a Python kernel that
# keeps its start folder as a sys.path entry gets the new folder there.
_PYTHON_MOVE_SOURCE = """\
import os, sys
os.chdir({folder!r})
sys.path[:] = [os.getcwd() if entry == {start_dir!r} else entry for entry in sys.path]
try:
    from IPython import get_ipython
except ImportError:
    shell = None
else:
    shell = get_ipython()
if shell is not None:
    from pathlib import Path
    shell.starting_dir = os.getcwd()
    history = getattr(shell, "history_manager", None)
    if history is not None:
        history.dir_hist[:] = [Path.cwd()]
session_name = {session_name!r}
if session_name:
    os.environ["JPY_SESSION_NAME"] = session_name
    if shell is not None:
        shell.user_ns["__session__"] = session_name  # what ipykernel sets at start from JPY_SESSION_NAME
"""


def is_poolable(spec: KernelSpec) -> bool:
    """Whether kernels of this spec can be started ahead and moved to their folder later."""
    return str(spec.language or "").lower() in POOLABLE_LANGUAGES


class KernelMoveFailed(Exception):
    """A pooled kernel did not move to its folder (it failed, died or did not answer)."""


async def move_python_kernel(
    running: RunningKernel, folder: str, start_dir: str, timeout: float, session_name: str = ""
) -> None:
    """Make a pooled Python kernel's working directory ``folder``, as if it had started there
    (and, for a session's kernel, with ``JPY_SESSION_NAME`` and ``__session__`` set to ``session_name``).

    A silent execute (``store_history=False``: the user's first cell is still number 1) sent as the
    bridge's own request: its status messages reach no client. Awaited until its reply only: the
    idle status that follows is swallowed by the bridge whenever it comes (under load it came up
    to 110 ms after the reply, all of it added to the kernel start).
    """
    source = _PYTHON_MOVE_SOURCE.format(folder=folder, start_dir=start_dir, session_name=session_name)
    code = f"exec({source!r}, {{}})"
    header = server_header("execute_request", uuid.uuid4().hex)
    content = {"code": code, "silent": True, "store_history": False, "user_expressions": {},
               "allow_stdin": False, "stop_on_error": False}
    try:
        reply = await running.bridge.request_quietly(
            KernelMessage.from_parts("shell", header, {}, {}, content), timeout)
    except TimeoutError:
        raise KernelMoveFailed(f"no answer within {timeout:g} s") from None
    except KernelDied:
        raise KernelMoveFailed("the kernel stopped") from None
    answer = reply.content()
    if answer.get("status") != "ok":
        raise KernelMoveFailed(f"the move failed: {answer.get('evalue', answer.get('status'))}")


async def warm_python_kernel(running: RunningKernel, start_dir: str) -> None:
    """Run a kernel's first execute before it is pooled: the move to ``start_dir``, where it is.

    A fresh ipykernel's first execute costs it about twice the CPU of the next ones (measured with
    the move: 15 ms against 8 ms), spent on a take when five kernels and the server share two
    cores. This one changes nothing a user sees (same folder, no history, no name, no message to a
    client). Raises KernelMoveFailed when the kernel fails it, died or did not answer in MOVE_TIMEOUT s.
    """
    try:
        await move_python_kernel(running, start_dir, start_dir, MOVE_TIMEOUT)
    except NotFound:
        raise KernelMoveFailed("the kernel stopped") from None


@dataclass
class _PooledKernel:
    running: RunningKernel
    #: What the kernel was started with: it is handed out only while both are still current.
    spec: dict[str, Any]
    environ: dict[str, str]


class KernelPool:
    """Keeps ``size`` started kernels of each pooled kernelspec; hands them out on ``take``.

    The owner (MappingKernelManager) supplies how to start a kernel for the pool (in
    ``start_dir``, with the server's environment, its restarter paused) and how to discard one;
    the pool decides when, and starts its filling in ``start`` and stops it in ``close``. Up to
    ``parallel_starts`` kernels of a kernelspec start at once, so that a pool emptied by a burst
    of takes is full again after about ``size / parallel_starts`` kernel starts, not ``size``.
    """

    def __init__(
        self,
        size: int,
        kernel_names: list[str],
        kernel_spec_manager: KernelSpecManager,
        launch: Callable[[str], Awaitable[RunningKernel]],
        discard: Callable[[RunningKernel], Awaitable[None]],
        start_dir: str,
        log: logging.Logger | logging.LoggerAdapter[Any],
        parallel_starts: int = 1,
    ) -> None:
        self.size = size
        self.parallel_starts = max(1, parallel_starts)
        self.kernel_names = list(dict.fromkeys(kernel_names))
        self.kernel_spec_manager = kernel_spec_manager
        self._launch = launch
        self._discard = discard
        self.start_dir = start_dir
        self.log = log
        self._ready: dict[str, deque[_PooledKernel]] = {name: deque() for name in self.kernel_names}
        #: Kernels of each kernelspec being started for the pool right now.
        self._starting: dict[str, set[asyncio.Task[bool]]] = {name: set() for name in self.kernel_names}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._refill_timers: dict[str, asyncio.TimerHandle] = {}
        self._not_poolable: set[str] = set()
        self.closed = False

    def ready_count(self, kernel_name: str) -> int:
        """How many started kernels of this kernelspec wait in the pool."""
        return len(self._ready.get(kernel_name, ()))

    def starting_count(self, kernel_name: str) -> int:
        """How many kernels of this kernelspec are being started for the pool right now."""
        return len(self._starting.get(kernel_name, ()))

    def start(self) -> None:
        """Begin filling the pool in the background (call on the running event loop)."""
        for name in self.kernel_names:
            self._refill(name)

    # -- filling -----------------------------------------------------------------------

    def _refill(self, kernel_name: str) -> None:
        """Start as many kernels as the pool lacks (counting those starting), up to parallel_starts at once."""
        self._refill_timers.pop(kernel_name, None)
        if self.closed or kernel_name in self._not_poolable:
            return
        starting = self._starting[kernel_name]
        missing = self.size - len(self._ready[kernel_name]) - len(starting)
        for _ in range(min(missing, self.parallel_starts - len(starting))):
            task = asyncio.create_task(self._start_one(kernel_name))
            starting.add(task)
            task.add_done_callback(functools.partial(self._started, kernel_name))

    def _started(self, kernel_name: str, task: asyncio.Task[bool]) -> None:
        self._starting[kernel_name].discard(task)
        # A start that failed starts no other: no retry loop on a kernel that cannot start (the
        # next take tries again); one that succeeded makes room for the next start.
        if not task.cancelled() and task.exception() is None and task.result():
            self._refill(kernel_name)

    def _refill_later(self, kernel_name: str) -> None:
        if self.closed or kernel_name in self._refill_timers:
            return
        loop = asyncio.get_running_loop()
        self._refill_timers[kernel_name] = loop.call_later(REFILL_DELAY, self._refill, kernel_name)

    async def _start_one(self, kernel_name: str) -> bool:
        """Start one kernel into the pool; False when it could not be (no such or no poolable spec,
        the start failed, the pool closed meanwhile)."""
        try:
            spec = await run_blocking(self.kernel_spec_manager.get_kernel_spec, kernel_name)
        except NoSuchKernel:
            if kernel_name not in self._not_poolable:
                self.log.warning("Kernel pool: there is no kernelspec %r; it is not pooled", kernel_name)
            self._not_poolable.add(kernel_name)
            return False
        if not is_poolable(spec):
            if kernel_name not in self._not_poolable:
                self.log.info(
                    "Kernel pool: %r kernels (language %r) are not pooled: only Python kernels can move "
                    "to their notebook's folder after start", kernel_name, spec.language,
                )
            self._not_poolable.add(kernel_name)
            return False
        if self.closed:
            return False
        environ = dict(os.environ)
        try:
            running = await self._launch(kernel_name)
        except Exception as exc:
            self.log.warning("Kernel pool: a %r kernel failed to start: %s", kernel_name, exc)
            return False
        if self.closed:
            await self._discard(running)
            return False
        ready = self._ready[kernel_name]
        ready.append(_PooledKernel(running, spec.to_dict(), environ))
        self.log.info("Kernel pool: %s (%s) is ready (%d/%d)", running.record.id, kernel_name,
                      len(ready), self.size)
        return True

    # -- handing out -------------------------------------------------------------------

    async def take(
        self, kernel_name: str, spec: KernelSpec, folder: str, session_name: str = ""
    ) -> RunningKernel | None:
        """A pooled kernel of ``kernel_name`` moved to ``folder``, or None: start one cold.

        ``spec`` is the kernelspec as it is now; a kernel started with another one, or with
        another server environment, is discarded with the rest of that pool.
        """
        ready = self._ready.get(kernel_name)
        if ready is None or self.closed or kernel_name in self._not_poolable:
            return None
        if not ready:
            self.log.info("Kernel pool: no %r kernel ready; starting one cold", kernel_name)
            self._refill_later(kernel_name)
            return None
        pooled = ready.popleft()
        running = pooled.running
        if pooled.spec != spec.to_dict() or pooled.environ != os.environ:
            self.log.info("Kernel pool: the kernelspec %r or the server's environment changed since its "
                          "pooled kernels started; they are replaced", kernel_name)
            stale = [pooled, *ready]
            ready.clear()
            self._discard_soon(*(entry.running for entry in stale))
            self._refill_later(kernel_name)
            return None
        try:
            if not await running.km.is_alive():
                raise KernelMoveFailed("the kernel process has exited")
            await move_python_kernel(running, folder, self.start_dir, MOVE_TIMEOUT, session_name)
        except (KernelMoveFailed, NotFound) as exc:
            self.log.warning("Kernel pool: discarding %s (%s): %s", running.record.id, kernel_name, exc)
            self._discard_soon(running)
            self._refill_later(kernel_name)
            return None
        except BaseException:
            self._discard_soon(running)
            raise
        self._refill_later(kernel_name)
        return running

    def _discard_soon(self, *kernels: RunningKernel) -> None:
        for running in kernels:
            task: asyncio.Task[None] = asyncio.ensure_future(self._discard(running))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    # -- stopping ------------------------------------------------------------------------

    async def close(self) -> None:
        """Stop filling and stop every pooled kernel (the server is stopping)."""
        self.closed = True
        for timer in self._refill_timers.values():
            timer.cancel()
        self._refill_timers.clear()
        starting = [task for tasks in self._starting.values() for task in tasks]
        for task in starting:
            task.cancel()
        await asyncio.gather(*starting, return_exceptions=True)
        pooled = [entry.running for ready in self._ready.values() for entry in ready]
        for ready in self._ready.values():
            ready.clear()
        await asyncio.gather(*(self._discard(running) for running in pooled), *list(self._tasks),
                             return_exceptions=True)
