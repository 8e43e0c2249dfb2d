"""MappingKernelManager: kernel lifecycle over jupyter_client, activity, restarts and culling.

Kernels run through jupyter_client's AsyncMultiKernelManager (its restarter brings a
dead kernel back); with ``kernel_pool_size`` set, new kernels come from a warm pool
(pool.py). Everything the server reports about a kernel lives in its own KernelRecord,
updated by the kernel's KernelBridge; nothing is stored on jupyter_client's objects.
Listeners (the sessions service) are told when a kernel starts, restarts, dies or is shut
down.
"""

from __future__ import annotations

import asyncio
import functools
import os
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

import zmq
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager, NoSuchKernel
from jupyter_client.multikernelmanager import AsyncMultiKernelManager
from jupyter_core.paths import jupyter_runtime_dir
from traitlets import DottedObjectName, Instance, Integer, List, TraitError, Unicode, default, validate

from nbserver.blocking import run_blocking, usable_cores
from nbserver.errors import InvalidInput
from nbserver.services.contents.fileio import is_inside, resolve_inside_root
from nbserver.services.kernels.base import (
    KernelEvent,
    KernelListener,
    KernelManagerBase,
    KernelStartFailed,
    TrackedKernel,
    check_client_kernel_id,
    kernel_not_found,
)
from nbserver.services.kernels.bridge import KernelBridge, KernelDied
from nbserver.services.kernels.pool import KernelMoveFailed, KernelPool, warm_python_kernel
from nbserver.services.kernels.ports import install_port_cache, kernel_ports_taken, parse_port_range
from nbserver.services.kernels.state import ExecutionState, KernelRecord
from nbserver.services.kernelspecs.specs import LocalKernelSpecs


#: Milliseconds between a kernel socket's attempts to connect to a kernel that does not listen yet...
RECONNECT_INTERVAL_MS = 10
#: ...times the kernels starting at once, up to this: those share the CPU, so each listens later,
#: and its first reply comes about a second after it listens (five at once on two cores), so a
#: later connection costs nothing there, while each refused attempt costs CPU they need.
MAX_RECONNECT_INTERVAL_MS = 100


def reconnect_interval_ms(starting: int) -> int:
    """The reconnect interval (ms) of a new kernel's sockets while ``starting`` kernels start at once."""
    return min(MAX_RECONNECT_INTERVAL_MS, RECONNECT_INTERVAL_MS * max(1, starting))


__all__ = ["KernelEvent", "KernelListener", "KernelStartFailed", "MappingKernelManager", "kernel_not_found"]


class _PortsTaken(Exception):
    """A kernel exited while starting, and another socket holds one of its ports: a race to retry."""

    def __init__(self, ports: list[int]) -> None:
        super().__init__(f"ports taken: {ports}")
        self.ports = ports


@dataclass
class RunningKernel(TrackedKernel):
    """A started kernel: its record, its channels bridge and jupyter_client's manager of it."""

    km: Any  # jupyter_client AsyncKernelManager
    #: The folder it was started in (or moved to, from the pool): its relative paths start there.
    cwd: str = ""
    restart_callbacks: list[tuple[Callable[[], None], str]] = field(default_factory=list)


class MappingKernelManager(KernelManagerBase[RunningKernel]):
    """Starts, tracks, restarts, culls and stops kernels; hands out their channel bridges.

    Named as Jupyter Server's, so its config (``MappingKernelManager.cull_idle_timeout``...)
    carries over, and apart from jupyter_client's own ``KernelManager`` config section.
    """

    kernel_manager_class = DottedObjectName(
        "jupyter_client.ioloop.AsyncIOLoopKernelManager",
        help="jupyter_client's class managing one kernel (an AsyncKernelManager with a restarter).",
    ).tag(config=True)
    kernel_pool_size = Integer(
        0, min=0,
        help="Started kernels kept waiting for each pooled kernelspec, so that a new kernel answers "
        "at once; each one costs a kernel's memory (about 65 MB for ipykernel). 0 turns the pool off. "
        "Only Python kernels are pooled: they move to their notebook's folder when handed out.",
    ).tag(config=True)
    kernel_pool_parallel_starts = Integer(
        min=1,
        help="Kernels the pool starts at once for each pooled kernelspec, when it fills at start-up or "
        "refills after takes (default: the number of CPUs the server may use). More fills an emptied "
        "pool sooner, at the cost of CPU for the kernels already handed out while they start.",
    ).tag(config=True)

    @default("kernel_pool_parallel_starts")
    def _default_kernel_pool_parallel_starts(self) -> int:
        return usable_cores()

    kernel_pool_kernels = List(
        Unicode(),
        help="The kernelspecs that get a pool of kernel_pool_size kernels (default: default_kernel_name).",
    ).tag(config=True)

    kernel_port_range = Unicode(
        "auto",
        help="Where local kernels' TCP ports come from: 'auto' (ports 20000 up to just below the "
        "system's ephemeral range, ip_local_port_range: no outgoing connection can take a starting "
        "kernel's ports there) or 'LOW-HIGH' (those ports), both skipping ports /etc/services names; "
        "or 'ephemeral' (jupyter_client's own choice, bind to port 0, which connections made while "
        "the kernel starts may take).",
    ).tag(config=True)

    @validate("kernel_port_range")
    def _valid_kernel_port_range(self, proposal: Any) -> str:
        try:
            parse_port_range(proposal["value"])
        except ValueError as exc:
            raise TraitError(str(exc)) from None
        return str(proposal["value"])

    kernel_spec_manager = Instance(KernelSpecManager)

    @default("kernel_spec_manager")
    def _default_kernel_spec_manager(self) -> KernelSpecManager:
        return KernelSpecManager(parent=self)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        connection_dir = jupyter_runtime_dir()
        os.makedirs(connection_dir, exist_ok=True)
        install_port_cache(parse_port_range(self.kernel_port_range))
        self._multi = AsyncMultiKernelManager(
            parent=self,
            log=self.log,
            kernel_spec_manager=self.kernel_spec_manager,
            kernel_manager_class=self.kernel_manager_class,
            default_kernel_name=self.default_kernel_name,
            connection_dir=connection_dir,
        )
        self._pool: KernelPool | None = None
        #: Kernel processes starting now (launched, not yet answering), pooled or not.
        self._starting = 0
        self.kernelspecs = LocalKernelSpecs(self.kernel_spec_manager, lambda: self.default_kernel_name)

    # -- lifecycle -----------------------------------------------------------------------

    def session_name_for(self, path: str) -> str:
        """``JPY_SESSION_NAME`` for a session on API path ``path``: the notebook's path on disk."""
        return resolve_inside_root(self.real_root, path)

    def working_dir_from_env(self, value: str) -> str | None:
        """The folder ``KERNEL_WORKING_DIR`` names (absolute, or relative to the root), if it is
        a folder inside the root; None otherwise (the kernel then starts as its path says)."""
        root = self.real_root
        folder = os.path.realpath(os.path.join(root, os.path.expanduser(value)))
        return folder if is_inside(root, folder) and os.path.isdir(folder) else None

    def _start_place(
        self, name: str, path: str, working_dir: str | None, session_path: str | None
    ) -> tuple[KernelSpec, str, str]:
        """(kernelspec, folder, JPY_SESSION_NAME or "") of a start: what it reads from disk (blocking).

        The folder is ``KERNEL_WORKING_DIR``'s when it names one inside the root, else ``path``'s.
        Raises InvalidInput for an unknown kernel name or a path outside the root.
        """
        try:
            spec = self.kernel_spec_manager.get_kernel_spec(name)
        except NoSuchKernel:
            raise InvalidInput(f"No kernel named {name!r}; see /api/kernelspecs.") from None
        cwd = self.cwd_for_path(path)
        if working_dir:
            folder = self.working_dir_from_env(working_dir)
            if folder is None:
                self.log.warning("KERNEL_WORKING_DIR %r is not a folder inside the root; the kernel "
                                 "starts in %s", working_dir, cwd)
            else:
                cwd = folder
        return spec, cwd, self.session_name_for(session_path) if session_path else ""

    async def start_kernel(
        self, kernel_name: str | None = None, path: str | None = None, env: dict[str, str] | None = None,
        kernel_id: str | None = None, session_path: str | None = None,
    ) -> str:
        """Start a kernel in the folder of ``path``; return its id once it answers.

        ``env`` is a client's: its KERNEL_* variables and those in kernel_env_allowlist are added
        to the server's environment for the kernel, and ``KERNEL_WORKING_DIR`` (a folder inside
        the root) is where it starts. ``kernel_id`` is the id to give it (Jupyter Server's
        client-chosen ids); a kernel that has it already is returned as it is. ``session_path``,
        the API path of the session's notebook, becomes ``JPY_SESSION_NAME`` as its path on disk
        (so IPython sets ``__session__``). Only a kernel with none of ``env`` and ``kernel_id``
        comes from the pool. Raises InvalidInput for an unknown name or a path outside the root,
        KernelStartFailed (500) when the process fails or does not answer within kernel_info_timeout.
        """
        if kernel_id is not None:
            check_client_kernel_id(kernel_id)
            if kernel_id in self._kernels:
                return kernel_id
        name = kernel_name or self.default_kernel_name
        launch_env = self.client_env(env or {})
        # One trip to the thread pool for the few small reads: under load each trip waits for a
        # worker thread to get a CPU (measured: 6-40 ms for the two of a warm start at load 10).
        spec, cwd, session_name = await run_blocking(
            self._start_place, name, path or "", launch_env.get("KERNEL_WORKING_DIR"), session_path)
        running = None
        if self._pool is not None and not launch_env and kernel_id is None:
            running = await self._pool.take(name, spec, cwd, session_name)
        if running is not None:
            # jupyter_client starts a restarted kernel with the arguments of its first start, which
            # for a pooled one named the pool's folder: a restart must come back in the notebook's.
            running.km._launch_args["cwd"] = cwd
            if session_name:
                self._set_restart_env(running, JPY_SESSION_NAME=session_name)
            running.km.start_restarter()
            running.record.touch()
            self.log.info("Kernel %s (%s) taken from the pool, moved to %s", running.record.id, name, cwd)
        else:
            if session_name:
                launch_env["JPY_SESSION_NAME"] = session_name
            running = await self._launch(name, cwd, launch_env, kernel_id)
            self.log.info("Kernel %s (%s) started in %s", running.record.id, name, cwd)
        running.record.path = path or ""
        running.cwd = cwd
        self._adopt(running)
        return running.record.id

    async def _launch(
        self, name: str, cwd: str, env: dict[str, str] | None = None, requested_id: str | None = None
    ) -> RunningKernel:
        """Start a kernel process and wait until it answers; the caller adopts it (or pools it).

        A kernel that exits while starting because another socket took one of its TCP ports
        meanwhile (ports.py) is started once more, on new ports; any other failure, or a second
        one, raises KernelStartFailed.
        """
        try:
            return await self._launch_once(name, cwd, env, requested_id, check_ports=True)
        except _PortsTaken as race:
            self.log.warning("Kernel %r exited while starting: another socket took its port(s) %s "
                             "meanwhile; starting it once more on new ports", name, race.ports)
        return await self._launch_once(name, cwd, env, requested_id, check_ports=False)

    async def _launch_once(
        self, name: str, cwd: str, env: dict[str, str] | None, requested_id: str | None, check_ports: bool
    ) -> RunningKernel:
        """One start of a kernel process; raises _PortsTaken (with ``check_ports``) when it exited
        because one of its ports was taken, KernelStartFailed on any other failure."""
        options: dict[str, Any] = {"cwd": cwd}
        if env:
            options["env"] = {**os.environ, **env}
        # The id is chosen here, so that a start cancelled half-way (the server stopping while the
        # pool fills) can still find and stop the process jupyter_client may have spawned.
        options["kernel_id"] = requested_id or str(uuid.uuid4())
        self._starting += 1
        try:
            return await self._launch_counted(name, options, check_ports)
        finally:
            self._starting -= 1

    async def _launch_counted(self, name: str, options: dict[str, Any], check_ports: bool) -> RunningKernel:
        starting = asyncio.ensure_future(self._multi.start_kernel(kernel_name=name, **options))
        try:
            kernel_id: str = await asyncio.shield(starting)
        except asyncio.CancelledError:
            await asyncio.gather(starting, return_exceptions=True)
            await self._stop_process(options["kernel_id"])
            raise
        except Exception as exc:
            self.log.error("Kernel %r failed to start: %s", name, exc, exc_info=True)
            raise KernelStartFailed(
                f"The kernel {name!r} failed to start ({type(exc).__name__}); see the server log.",
                log_detail=str(exc),
            ) from None
        km = self._multi.get_kernel(kernel_id)
        record = KernelRecord(id=kernel_id, name=name)
        bridge = KernelBridge(record, km, km.session, self._bridge_limits(), self.log)
        running = RunningKernel(record, bridge, km=km)
        died_early = asyncio.Event()

        def on_early_death() -> None:
            died_early.set()

        km.add_restart_callback(on_early_death, "restart")
        km.add_restart_callback(on_early_death, "dead")
        try:
            self._connect_bridge(running)
            await self._wait_ready(running, died_early)
        except (KernelDied, TimeoutError) as exc:
            bridge.close("The kernel failed to start")
            connection = km.get_connection_info()
            await self._stop_process(kernel_id)
            taken = kernel_ports_taken(connection) if check_ports and isinstance(exc, KernelDied) else []
            if taken:
                raise _PortsTaken(taken) from None
            raise KernelStartFailed(f"The kernel {name!r} failed to start: {exc}.") from None
        except BaseException:
            # Cancelled (the server is stopping) or an unexpected error: leave no process behind.
            bridge.close("The kernel failed to start")
            await self._stop_process(kernel_id)
            raise
        finally:
            km.remove_restart_callback(on_early_death, "restart")
            km.remove_restart_callback(on_early_death, "dead")
        return running

    def _connect_bridge(self, running: RunningKernel) -> None:
        """Connect a starting kernel's bridge, its sockets retrying every reconnect_interval_ms."""
        # The bridge connects before the new kernel listens, and ZeroMQ retries a refused
        # connection only every 100 ms by default: up to 100 ms lost per start, twice (shell, iopub).
        # A context option applies to the sockets made after it is set: those of connect(), here.
        running.km.context.setsockopt(zmq.RECONNECT_IVL, reconnect_interval_ms(self._starting))
        running.bridge.connect()

    def _adopt(self, running: RunningKernel) -> None:
        """Make a started kernel one of the server's: listed, restarted when it dies, culled."""
        for event, handler in (("restart", self._on_autorestart), ("dead", self._on_dead)):
            callback = functools.partial(handler, running.record.id)
            running.km.add_restart_callback(callback, event)
            running.restart_callbacks.append((callback, event))
        super()._adopt(running)

    def resolve_path(self, kernel_id: str, path: str) -> str | None:
        """The absolute path ``path`` names for kernel ``kernel_id`` (relative paths start in the
        folder it started in; ``~`` expanded), when it exists inside the root; None otherwise.

        The "kernel" scope of ``GET /api/resolvePath``; raises NotFound for an unknown kernel.
        """
        running = self._get(kernel_id)
        if "\x00" in path:
            return None
        candidate = os.path.join(running.cwd or self.real_root, os.path.expanduser(path))
        real = os.path.realpath(candidate)
        if not is_inside(self.real_root, real) or not os.path.exists(real):
            return None
        return real

    def set_session_path(self, kernel_id: str, session_path: str) -> None:
        """The kernel's session moved to ``session_path``: its next restart gets that JPY_SESSION_NAME
        and, when it ran in the notebook's old folder, starts in the new one (the old may be gone)."""
        running = self._kernels.get(kernel_id)
        if running is None:
            return
        self._set_restart_env(running, JPY_SESSION_NAME=self.session_name_for(session_path))
        if running.cwd == self.cwd_for_path(running.record.path) or not os.path.isdir(running.cwd):
            running.cwd = running.km._launch_args["cwd"] = self.cwd_for_path(session_path)
        running.record.path = session_path

    @staticmethod
    def _set_restart_env(running: RunningKernel, **variables: str) -> None:
        # jupyter_client restarts a kernel with the arguments of its first start (_launch_args).
        launch_args = running.km._launch_args
        launch_args["env"] = {**(launch_args.get("env") or os.environ), **variables}

    # -- the warm pool ---------------------------------------------------------------------

    def start_kernel_pool(self) -> None:
        """Begin filling the kernel pool in the background, if kernel_pool_size asks for one.

        Called by the app once it serves requests (on the running event loop).
        """
        if self.kernel_pool_size <= 0 or self._pool is not None:
            return
        names = self.kernel_pool_kernels or [self.default_kernel_name]
        self._pool = KernelPool(
            self.kernel_pool_size, names, self.kernel_spec_manager, self._launch_for_pool,
            self._discard_pooled, self._pool_start_dir(), self.log, self.kernel_pool_parallel_starts,
        )
        self.log.info("Kernel pool: keeping %d kernel(s) ready for %s, starting up to %d at once",
                      self.kernel_pool_size, ", ".join(names), self.kernel_pool_parallel_starts)
        self._pool.start()

    def pooled_kernel_count(self, kernel_name: str | None = None) -> int:
        """How many started kernels of ``kernel_name`` (default: the default kernel) wait in the pool."""
        if self._pool is None:
            return 0
        return self._pool.ready_count(kernel_name or self.default_kernel_name)

    def starting_pooled_kernel_count(self, kernel_name: str | None = None) -> int:
        """How many kernels of ``kernel_name`` (default: the default kernel) the pool is starting now."""
        if self._pool is None:
            return 0
        return self._pool.starting_count(kernel_name or self.default_kernel_name)

    def _pool_start_dir(self) -> str:
        return os.path.realpath(self.root_dir or os.getcwd())

    async def _launch_for_pool(self, name: str) -> RunningKernel:
        # The restarter waits until the kernel is handed out: a pooled kernel that dies is
        # discarded when taken, not restarted behind the pool's back.
        running = await self._launch(name, self._pool_start_dir())
        running.km.stop_restarter()
        try:
            await warm_python_kernel(running, self._pool_start_dir())
        except BaseException as exc:
            # Failed, or cancelled (the server is stopping): leave no process behind.
            await self._discard_pooled(running)
            if isinstance(exc, KernelMoveFailed):
                raise KernelStartFailed(f"The kernel {name!r} failed its first execute: {exc}.") from None
            raise
        return running

    async def _discard_pooled(self, running: RunningKernel) -> None:
        running.bridge.close("The pooled kernel was discarded")
        await self._stop_process(running.record.id)

    async def _wait_ready(self, running: RunningKernel, died: asyncio.Event | None = None) -> None:
        async def alive() -> bool:
            return not (died is not None and died.is_set()) and bool(await running.km.is_alive())

        await running.bridge.wait_ready(self.kernel_info_timeout, alive)

    async def _stop_process(self, kernel_id: str, now: bool = True) -> None:
        try:
            await self._multi.shutdown_kernel(kernel_id, now=now)
        except Exception as exc:
            self.log.warning("Stopping kernel %s: %s", kernel_id, exc)

    async def _stop(self, running: RunningKernel, now: bool) -> None:
        for callback, event in running.restart_callbacks:
            running.km.remove_restart_callback(callback, event)
        await self._stop_process(running.record.id, now=now)

    async def interrupt_kernel(self, kernel_id: str) -> None:
        running = self._get(kernel_id)
        await running.km.interrupt_kernel()
        running.record.touch()

    async def _restart(self, running: RunningKernel) -> None:
        await self._multi.restart_kernel(running.record.id, now=False)
        self._connect_bridge(running)
        await self._wait_ready(running)

    # -- when the process dies ---------------------------------------------------------

    def _on_autorestart(self, kernel_id: str) -> None:
        """jupyter_client's restarter found the process dead and is about to restart it."""
        running = self._kernels.get(kernel_id)
        if running is None:
            return
        self.log.warning("Kernel %s died; restarting it", kernel_id)
        running.record.execution_state = ExecutionState.RESTARTING
        running.bridge.broadcast_status(ExecutionState.RESTARTING)
        self._emit(kernel_id, KernelEvent.RESTARTING)
        self._spawn(self._reconnect_after_autorestart(running))

    async def _reconnect_after_autorestart(self, running: RunningKernel) -> None:
        kernel_id = running.record.id
        deadline = time.monotonic() + self.kernel_info_timeout
        # The restarter replaces km.ready for the shutdown, then again for the new start;
        # the restart is over when the current future is done and no newer one replaced it.
        while True:
            ready = running.km.ready
            waitable = ready if isinstance(ready, asyncio.Future) else asyncio.wrap_future(ready)
            try:
                await asyncio.wait_for(asyncio.shield(waitable), max(0.1, deadline - time.monotonic()))
            except Exception as exc:
                self.log.warning("Kernel %s: restart did not complete: %s", kernel_id, exc)
                return
            if running.km.ready is ready:
                break
        if self._kernels.get(kernel_id) is not running:
            return
        async with running.lock:
            self._connect_bridge(running)
            try:
                await self._wait_ready(running)
            except (KernelDied, TimeoutError) as exc:
                self.log.warning("Kernel %s did not answer after its restart: %s", kernel_id, exc)
                return
        self.log.info("Kernel %s restarted", kernel_id)
        self._emit(kernel_id, KernelEvent.RESTARTED)

    def _on_dead(self, kernel_id: str) -> None:
        """The restarter gave up: tell the clients and forget the kernel."""
        if self._forget_dead(kernel_id, "died and could not be restarted") is not None:
            self._spawn(self._stop_process(kernel_id))

    # -- server shutdown -----------------------------------------------------------------

    async def shutdown_all(self) -> None:
        """Stop the culler, the pool and every kernel: what the server does when it stops."""
        await self._stop_background()
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        await self._shutdown_tracked()
        # Kernels still starting are not ours yet, but jupyter_client knows them.
        try:
            await self._multi.shutdown_all(now=True)
        except Exception as exc:
            self.log.warning("Shutting down starting kernels: %s", exc)
        # No socket is left open: close the ZMQ context now rather than when it is collected,
        # which would wait for lingering messages (a new kernel would make a new context).
        context = self._multi.context
        if not context.closed:
            context.destroy(linger=0)
