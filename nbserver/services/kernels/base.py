"""KernelManagerBase: what every kernel manager shares, wherever its kernels run.

A kernel manager keeps one record and one channels bridge per kernel, tells listeners (the
sessions service) what happens to its kernels, culls idle ones, and filters the environment a
client asks for. The local manager (manager.py) runs kernels on this machine through
jupyter_client; the gateway manager (gateway/manager.py) runs them on a kernel gateway. The
handlers, the sessions service and the dashboard see only this interface.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Callable, Generic, TypeVar

from traitlets import Bool, Float, Integer, List, Unicode
from traitlets.config import LoggingConfigurable

from nbserver.errors import InvalidInput, NbserverError, NotFound
from nbserver.services.contents.fileio import resolve_inside_root
from nbserver.services.culling import PeriodicCuller, close_each
from nbserver.services.kernels.bridge import BridgeLimits, KernelBridge
from nbserver.services.kernels.state import ExecutionState, KernelRecord
from nbserver.services.kernelspecs.specs import KernelSpecSource

#: A kernel id a client may choose: a UUID in its hyphenated form.
CLIENT_KERNEL_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def check_client_kernel_id(kernel_id: str) -> None:
    """InvalidInput unless ``kernel_id`` is a UUID a client may choose for its kernel."""
    if not CLIENT_KERNEL_ID.fullmatch(kernel_id):
        raise InvalidInput("A kernel id must be a UUID such as 0b5e0c5e-4f4e-4a57-9a39-55b1c8a4b2f1.")


def kernel_not_found(kernel_id: str) -> NotFound:
    """The 404 for an unknown kernel id, in Jupyter Server's words (clients match them)."""
    return NotFound(f"Kernel does not exist: {kernel_id}")


class KernelStartFailed(NbserverError):
    """A kernel could not be started or did not answer in time (500)."""


class KernelEvent(str, Enum):
    """What listeners are told about a kernel."""

    STARTED = "started"
    RESTARTING = "restarting"  # a restart (asked for, or after the process died) has begun
    RESTARTED = "restarted"  # the kernel answers again after a restart
    DIED = "died"  # the process died and could not be restarted; the kernel is gone
    SHUTDOWN = "shutdown"  # shut down on request (or culled, or server shutdown)


KernelListener = Callable[[str, KernelEvent], None]


@dataclass
class TrackedKernel:
    """A kernel as every manager tracks it: its record, its bridge, a lock for its lifecycle."""

    record: KernelRecord
    bridge: KernelBridge
    lock: asyncio.Lock = field(default_factory=asyncio.Lock, kw_only=True)


Tracked = TypeVar("Tracked", bound=TrackedKernel)


class KernelManagerBase(LoggingConfigurable, Generic[Tracked]):
    """The kernel manager interface, with the records, listeners, culling and limits it shares.

    Subclasses start, stop, interrupt and restart kernels; they keep what they started in
    ``self._kernels`` (kernel id -> a TrackedKernel of theirs) and call ``_adopt`` and ``_emit``.
    """

    root_dir = Unicode(help="The server's root folder; kernels start in the folder of their path.")
    default_kernel_name = Unicode(
        "python3", help="The kernel started when a request names none."
    ).tag(config=True)
    kernel_info_timeout = Float(
        60.0, help="Seconds a new or restarted kernel has to answer before it counts as failed."
    ).tag(config=True)

    cull_idle_timeout = Float(
        0.0, help="Shut down kernels idle for longer than this many seconds; 0 never culls."
    ).tag(config=True)
    cull_interval = Float(300.0, help="Seconds between two checks for idle kernels.").tag(config=True)
    cull_connected = Bool(False, help="Cull idle kernels that still have client connections.").tag(config=True)
    cull_busy = Bool(False, help="Cull kernels that are busy (running code) too.").tag(config=True)

    buffer_offline_messages = Bool(
        True, help="Keep the messages of a disconnected client session and replay them when it reconnects."
    ).tag(config=True)
    buffer_max_messages = Integer(
        10_000, help="Most messages kept for one disconnected session; the oldest go first."
    ).tag(config=True)
    buffer_max_bytes = Integer(
        64 * 1024 * 1024, help="Most bytes kept for one disconnected session; the oldest go first."
    ).tag(config=True)

    iopub_msg_rate_limit = Float(
        1000.0, help="Most iopub output messages per second sent to clients; 0 for no limit."
    ).tag(config=True)
    iopub_data_rate_limit = Float(
        1_000_000.0, help="Most iopub output bytes per second sent to clients; 0 for no limit."
    ).tag(config=True)
    rate_limit_window = Float(3.0, help="Seconds over which the iopub rates are averaged.").tag(config=True)

    kernel_env_allowlist = List(
        Unicode(),
        help="Environment variables, besides those named KERNEL_*, that a client may set for a kernel "
        "it starts (the env of POST /api/kernels; other names are dropped), as Enterprise Gateway "
        "allows. KERNEL_WORKING_DIR, a folder inside the root, is where the kernel starts.",
    ).tag(config=True)

    #: Where the kernelspecs come from (set by the subclass).
    kernelspecs: KernelSpecSource

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._kernels: dict[str, Tracked] = {}
        self._listeners: list[KernelListener] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._culler = PeriodicCuller("kernel", "idle", self.cull_idle_kernels, self.log)

    # -- queries -----------------------------------------------------------------------

    def has_kernel(self, kernel_id: str) -> bool:
        return kernel_id in self._kernels

    def _get(self, kernel_id: str) -> Tracked:
        try:
            return self._kernels[kernel_id]
        except KeyError:
            raise kernel_not_found(kernel_id) from None

    def kernel_model(self, kernel_id: str) -> dict[str, Any]:
        """The REST model of a kernel: id, name, last_activity, execution_state, connections."""
        return self._get(kernel_id).record.to_model()

    def list_kernels(self) -> list[dict[str, Any]]:
        return [tracked.record.to_model() for tracked in self._kernels.values()]

    def channels_bridge(self, kernel_id: str) -> KernelBridge:
        """The bridge that websocket clients of this kernel attach to."""
        return self._get(kernel_id).bridge

    def status_summary(self) -> dict[str, Any]:
        """The kernel figures of ``/api/status``."""
        records = [tracked.record for tracked in self._kernels.values()]
        return {
            "kernels": len(records),
            "connections": sum(record.connections for record in records),
            "last_activity": max((record.last_activity for record in records), default=None),
        }

    @property
    def real_root(self) -> str:
        return os.path.realpath(self.root_dir or os.getcwd())

    def cwd_for_path(self, path: str) -> str:
        """The folder a kernel for ``path`` starts in: the path's folder, inside the root."""
        root = self.real_root
        os_path = resolve_inside_root(root, path or "")
        while not os.path.isdir(os_path) and os_path != root:
            os_path = os.path.dirname(os_path)
        return os_path

    # -- the interface every manager implements ----------------------------------------

    async def start_kernel(
        self, kernel_name: str | None = None, path: str | None = None, env: dict[str, str] | None = None,
        kernel_id: str | None = None, session_path: str | None = None,
    ) -> str:
        """Start a kernel for the document at API path ``path``; return its id once it answers."""
        raise NotImplementedError

    async def interrupt_kernel(self, kernel_id: str) -> None:
        raise NotImplementedError

    async def _stop(self, tracked: Tracked, now: bool) -> None:
        """Stop the kernel itself (its process, or on the gateway); the bridge is closed already."""
        raise NotImplementedError

    async def _restart(self, tracked: Tracked) -> None:
        """Restart the kernel itself, reconnect its bridge and wait until it answers."""
        raise NotImplementedError

    async def shutdown_kernel(self, kernel_id: str, now: bool = False) -> None:
        """Stop a kernel and close its client connections; NotFound for an unknown id."""
        tracked = self._get(kernel_id)
        async with tracked.lock:
            if self._kernels.get(kernel_id) is not tracked:
                raise kernel_not_found(kernel_id)
            del self._kernels[kernel_id]
            tracked.bridge.close("The kernel was shut down")
            await self._stop(tracked, now)
        self.log.info("Kernel %s shut down", kernel_id)
        self._emit(kernel_id, KernelEvent.SHUTDOWN)

    async def restart_kernel(self, kernel_id: str) -> dict[str, Any]:
        """Restart a kernel (its state is lost); return its model once it answers again.

        Raises NotFound for an unknown id, KernelStartFailed (500) when it does not come back
        (or the project error the restart raised, such as a gateway's answer).
        """
        tracked = self._get(kernel_id)
        async with tracked.lock:
            if self._kernels.get(kernel_id) is not tracked:
                raise kernel_not_found(kernel_id)
            tracked.record.execution_state = ExecutionState.RESTARTING
            # Connected clients learn that the kernel's state is about to be lost. Jupyter Server
            # sends "restarting" only for restarts after a death; JupyterLab takes it as such
            # (status "autorestarting") and reconnects, which is harmless.
            tracked.bridge.broadcast_status(ExecutionState.RESTARTING)
            self._emit(kernel_id, KernelEvent.RESTARTING)
            try:
                await self._restart(tracked)
            except NbserverError:
                raise
            except Exception as exc:
                self.log.error("Kernel %s failed to restart: %s", kernel_id, exc)
                raise KernelStartFailed(f"The kernel failed to restart: {exc}.") from None
        self._emit(kernel_id, KernelEvent.RESTARTED)
        return tracked.record.to_model()

    def _forget_dead(self, kernel_id: str, why: str) -> Tracked | None:
        """A kernel died for good: tell its clients, close its bridge, drop it, tell listeners.

        Returns what was tracked (the caller stops what is left of it), None if it was not.
        """
        tracked = self._kernels.pop(kernel_id, None)
        if tracked is None:
            return None
        self.log.error("Kernel %s %s", kernel_id, why)
        tracked.record.execution_state = ExecutionState.DEAD
        tracked.bridge.broadcast_status(ExecutionState.DEAD)
        tracked.bridge.close("The kernel died")
        self._emit(kernel_id, KernelEvent.DIED)
        return tracked

    def resolve_path(self, kernel_id: str, path: str) -> str | None:
        """The absolute path ``path`` names for the kernel, when the server can tell; None otherwise."""
        self._get(kernel_id)
        return None

    def set_session_path(self, kernel_id: str, session_path: str) -> None:
        """The kernel's session moved to ``session_path``."""
        tracked = self._kernels.get(kernel_id)
        if tracked is not None:
            tracked.record.path = session_path

    def start_kernel_pool(self) -> None:
        """Begin keeping started kernels ready, for managers that have a pool (none by default)."""

    def pooled_kernel_count(self, kernel_name: str | None = None) -> int:
        """How many started kernels of ``kernel_name`` wait in the pool."""
        return 0

    # -- listeners -----------------------------------------------------------------------

    def add_listener(self, listener: KernelListener) -> None:
        """Call ``listener(kernel_id, event)`` on every KernelEvent."""
        self._listeners.append(listener)

    def remove_listener(self, listener: KernelListener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _emit(self, kernel_id: str, event: KernelEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(kernel_id, event)
            except Exception:
                self.log.exception("Kernel listener %r failed on %s", listener, event.value)

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _adopt(self, tracked: Tracked) -> None:
        """Make a started kernel one of the server's: listed, culled, announced to listeners."""
        self._kernels[tracked.record.id] = tracked
        self._start_culler()
        self._emit(tracked.record.id, KernelEvent.STARTED)

    # -- what a client may ask for -------------------------------------------------------

    def client_env(self, env: dict[str, str]) -> dict[str, str]:
        """The variables of a client's ``env`` that reach the kernel: KERNEL_* and the allow-list."""
        allowed = set(self.kernel_env_allowlist)
        kept = {name: value for name, value in env.items() if name.startswith("KERNEL_") or name in allowed}
        dropped = sorted(set(env) - set(kept))
        if dropped:
            self.log.info("Kernel environment: dropped %s (not KERNEL_* nor in kernel_env_allowlist)",
                          ", ".join(dropped))
        return kept

    def _bridge_limits(self) -> BridgeLimits:
        return BridgeLimits(
            buffer_max_messages=self.buffer_max_messages,
            buffer_max_bytes=self.buffer_max_bytes,
            iopub_msg_rate_limit=self.iopub_msg_rate_limit,
            iopub_data_rate_limit=self.iopub_data_rate_limit,
            rate_limit_window=self.rate_limit_window,
        )

    # -- culling -------------------------------------------------------------------------

    def _start_culler(self) -> None:
        self._culler.start(self.cull_idle_timeout, self.cull_interval)

    def is_cullable(self, record: KernelRecord, now: float) -> bool:
        if now - record.last_activity <= self.cull_idle_timeout:
            return False
        if record.connections and not self.cull_connected:
            return False
        if record.execution_state is ExecutionState.BUSY and not self.cull_busy:
            return False
        return record.execution_state not in (ExecutionState.STARTING, ExecutionState.RESTARTING)

    async def cull_idle_kernels(self) -> None:
        """Shut down every kernel idle for longer than cull_idle_timeout (once, now)."""
        now = time.time()
        idle = ((kernel_id, now - tracked.record.last_activity) for kernel_id, tracked in list(self._kernels.items())
                if self.is_cullable(tracked.record, now))  # each checked when its turn comes
        await self._culler.close_idle(idle, self.shutdown_kernel)

    # -- server shutdown -----------------------------------------------------------------

    async def _stop_background(self) -> None:
        """Stop the culler and every background task (the first step of shutdown_all)."""
        self._culler.stop()
        for task in list(self._tasks):
            task.cancel()

    async def _shutdown_tracked(self) -> None:
        """Shut down every adopted kernel, logging (not raising) what fails."""
        await close_each(list(self._kernels), self.shutdown_kernel, self.log, "Shutting down", "kernel")

    async def shutdown_all(self) -> None:
        """Stop the culler and every kernel: what the server does when it stops."""
        await self._stop_background()
        await self._shutdown_tracked()
