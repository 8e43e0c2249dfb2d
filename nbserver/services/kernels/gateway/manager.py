"""GatewayKernelManager: the server's kernels run on a kernel gateway.

The manager presents the interface of every kernel manager (base.py), so the REST handlers,
sessions, culling and the dashboard work as with local kernels. A kernel is started, interrupted,
restarted and shut down through the gateway's REST API (Jupyter Server's ``/api/kernels``, which
Enterprise Gateway, Kernel Gateway and nbserver all speak); its channels come through one
websocket per kernel (relay.py). Its state is checked kernel by kernel
(``GET /api/kernels/<id>``): Enterprise Gateway refuses to list all kernels unless told to.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import posixpath
from typing import Any

from traitlets import Float, Instance, Unicode, default

from nbserver.blocking import run_blocking
from nbserver.errors import NotFound
from nbserver.services.kernels.base import KernelManagerBase, KernelStartFailed, TrackedKernel, check_client_kernel_id
from nbserver.services.kernels.bridge import KernelDied
from nbserver.services.kernels.gateway.client import GatewayClient, GatewayError, quote_segment
from nbserver.services.kernels.gateway.kernelspecs import GatewayKernelSpecs
from nbserver.services.kernels.gateway.relay import GatewayBridge, UpstreamState
from nbserver.services.kernels.state import ExecutionState, KernelRecord


class GatewayKernelManager(KernelManagerBase[TrackedKernel]):
    """Starts, tracks and stops kernels on the kernel gateway of ``GatewayClient.url``.

    Takes the culling, buffering and rate-limit settings of ``MappingKernelManager`` too, so
    switching to a gateway changes no configuration.
    """

    gateway_client = Instance(GatewayClient)
    poll_interval = Float(
        30.0, help="Seconds between two checks, kernel by kernel (GET /api/kernels/<id>), that the "
        "gateway still has each kernel; one it no longer has counts as dead. 0 never checks.",
    ).tag(config=True)
    kernel_username = Unicode(
        help="KERNEL_USERNAME sent with each kernel start, unless the client sets it (Enterprise "
        "Gateway runs the kernel as that user where it can). Default: $KERNEL_USERNAME, "
        "$JUPYTERHUB_USER or the server's user.",
    ).tag(config=True)
    gateway_root_dir = Unicode(
        "", help="The folder that the gateway's kernels see as this server's root: a kernel starts "
        "with KERNEL_WORKING_DIR = this folder joined with its notebook's folder (unless the client "
        "sets KERNEL_WORKING_DIR). Default: the server's own root, for a gateway on a shared file "
        "system; 'none' sends no KERNEL_WORKING_DIR.",
    ).tag(config=True)

    @classmethod
    def section_names(cls) -> list[str]:
        names: list[str] = super().section_names()
        return [*names[:-1], "MappingKernelManager", names[-1]]

    @default("kernel_username")
    def _default_kernel_username(self) -> str:
        return os.environ.get("KERNEL_USERNAME") or os.environ.get("JUPYTERHUB_USER") or getpass.getuser()

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kernelspecs = GatewayKernelSpecs(self.gateway_client)
        self._poller: asyncio.Task[None] | None = None
        #: Set while the server stops: a gateway that does not answer is not waited for.
        self._stopping = False

    @property
    def client(self) -> GatewayClient:
        client: GatewayClient = self.gateway_client
        return client

    def _kernel_url(self, kernel_id: str, action: str = "") -> str:
        url = f"{self.client.kernels_endpoint}/{quote_segment(kernel_id)}"
        return f"{url}/{action}" if action else url

    # -- starting ------------------------------------------------------------------------

    def working_dir(self, path: str) -> str | None:
        """KERNEL_WORKING_DIR for a kernel of the document at API path ``path``, or None."""
        if self.gateway_root_dir.lower() == "none":
            return None
        folder = os.path.relpath(self.cwd_for_path(path), self.real_root)
        base = self.gateway_root_dir or self.real_root
        return base if folder == "." else posixpath.join(base, folder.replace(os.sep, "/"))

    async def launch_env(self, path: str, env: dict[str, str] | None) -> dict[str, str]:
        """The env of a start request: the server's KERNEL_* and allowed_envs variables, then the
        client's (filtered as for local kernels), then the defaults of KERNEL_USERNAME,
        KERNEL_WORKING_DIR and KERNEL_LAUNCH_TIMEOUT."""
        launch = {name: value for name, value in os.environ.items() if name.startswith("KERNEL_")}
        launch.update(self.client.forwarded_env())
        launch.update(self.client_env(env or {}))
        launch.setdefault("KERNEL_USERNAME", self.kernel_username)
        if "KERNEL_WORKING_DIR" not in launch:
            working_dir = await run_blocking(self.working_dir, path)
            if working_dir is not None:
                launch["KERNEL_WORKING_DIR"] = working_dir
        # The gateway waits this long for the kernel; our request must outlast it.
        launch.setdefault("KERNEL_LAUNCH_TIMEOUT", str(max(1, int(self.client.request_timeout) - 2)))
        return launch

    async def start_kernel(
        self, kernel_name: str | None = None, path: str | None = None, env: dict[str, str] | None = None,
        kernel_id: str | None = None, session_path: str | None = None,
    ) -> str:
        """Start a kernel on the gateway; return its id once it answers on its channels.

        Without ``kernel_name`` the gateway's default kernel starts. ``kernel_id`` names a kernel
        the gateway may already run (after this server restarted, say): that one is taken over;
        else a new kernel starts (with the id the gateway gives it). Raises what the gateway's
        answer means (InvalidInput, NotFound, Forbidden...), GatewayError when it cannot be
        reached, KernelStartFailed when the kernel does not answer within kernel_info_timeout.
        """
        if kernel_id is not None:
            check_client_kernel_id(kernel_id)
            if kernel_id in self._kernels:
                return kernel_id
            existing = await self._gateway_model(kernel_id)
            if existing is not None:
                return await self._attach(existing, path or "", announce="taken over")
        body: dict[str, Any] = {"env": await self.launch_env(path or "", env)}
        if kernel_name:
            body["name"] = kernel_name
        model = await self.client.fetch_json("POST", self.client.kernels_endpoint, body)
        if not isinstance(model, dict) or not isinstance(model.get("id"), str):
            raise GatewayError("The kernel gateway's answer to a kernel start has no id.", log_detail=str(model)[:200])
        return await self._attach(model, path or "", announce="started")

    async def _gateway_model(self, kernel_id: str) -> dict[str, Any] | None:
        """The gateway's model of a kernel; None when it has no such kernel."""
        try:
            model = await self.client.fetch_json("GET", self._kernel_url(kernel_id))
        except NotFound:
            return None
        return model if isinstance(model, dict) else None

    async def _attach(self, model: dict[str, Any], path: str, announce: str) -> str:
        """Connect to a kernel the gateway runs, wait until it answers, and adopt it."""
        kernel_id = str(model["id"])
        record = KernelRecord(id=kernel_id, name=str(model.get("name") or ""), path=path)
        tracked = TrackedKernel(record, GatewayBridge(record, self.client, self._bridge_limits(), self.log,
                                                      self._on_lost))
        tracked.bridge.connect()
        try:
            await self._wait_ready(tracked)
        except (KernelDied, TimeoutError) as exc:
            tracked.bridge.close("The kernel failed to start")
            await self._delete_on_gateway(kernel_id)
            raise KernelStartFailed(f"The kernel {record.name!r} failed to start: {exc}.") from None
        except BaseException:
            tracked.bridge.close("The kernel failed to start")
            await self._delete_on_gateway(kernel_id)
            raise
        self.log.info("Kernel %s (%s) %s on the gateway", kernel_id, record.name, announce)
        self._adopt(tracked)
        self._start_poller()
        return kernel_id

    async def _wait_ready(self, tracked: TrackedKernel) -> None:
        bridge = tracked.bridge

        async def alive() -> bool:
            return not (isinstance(bridge, GatewayBridge) and bridge.state is UpstreamState.LOST)

        await bridge.wait_ready(self.kernel_info_timeout, alive)

    # -- the other actions ---------------------------------------------------------------

    async def _delete_on_gateway(self, kernel_id: str) -> None:
        try:
            await self.client.fetch("DELETE", self._kernel_url(kernel_id), retries=0 if self._stopping else None)
        except NotFound:
            pass
        except Exception as exc:
            self.log.warning("Shutting down kernel %s on the gateway: %s", kernel_id, exc)

    async def _stop(self, tracked: TrackedKernel, now: bool) -> None:
        await self._delete_on_gateway(tracked.record.id)

    async def interrupt_kernel(self, kernel_id: str) -> None:
        tracked = self._get(kernel_id)
        await self.client.fetch("POST", self._kernel_url(kernel_id, "interrupt"))
        tracked.record.touch()

    async def _restart(self, tracked: TrackedKernel) -> None:
        await self.client.fetch("POST", self._kernel_url(tracked.record.id, "restart"),
                                timeout=self.client.request_timeout + self.kernel_info_timeout)
        # The restarted kernel may listen on other ports behind the gateway: connect anew.
        tracked.bridge.connect()
        await self._wait_ready(tracked)

    # -- kernels that go away ------------------------------------------------------------

    def _on_lost(self, kernel_id: str) -> None:
        """The gateway no longer has the kernel, or cannot be reached: it is dead to clients."""
        if self._forget_dead(kernel_id, "is gone from the gateway") is not None:
            self._spawn(self._delete_on_gateway(kernel_id))

    async def shutdown_all(self) -> None:
        """Shut down every kernel on the gateway, trying each once (the server is stopping)."""
        self._stopping = True
        await super().shutdown_all()

    def _start_poller(self) -> None:
        if self.poll_interval > 0 and (self._poller is None or self._poller.done()):
            self._poller = asyncio.create_task(self._poll_periodically())
            self._tasks.add(self._poller)
            self._poller.add_done_callback(self._tasks.discard)

    async def _poll_periodically(self) -> None:
        while self._kernels:
            await asyncio.sleep(self.poll_interval)
            await self.poll_kernels()

    async def poll_kernels(self) -> None:
        """Ask the gateway about each kernel (once, now); forget those it no longer has."""
        for kernel_id in list(self._kernels):
            try:
                model = await self._gateway_model(kernel_id)
            except GatewayError as exc:
                self.log.warning("Checking kernel %s on the gateway: %s", kernel_id, exc.log_detail or exc)
                continue
            if model is None or model.get("execution_state") == ExecutionState.DEAD.value:
                self._on_lost(kernel_id)
