"""REST routes of ``/api/kernels`` and the route of the channels websocket."""

from __future__ import annotations

from typing import Any

from nbserver.auth.authorizer import METHOD_ACTIONS
from nbserver.base.handlers import APIHandler
from nbserver.base.urls import url_path_join
from nbserver.errors import InvalidInput
from nbserver.services.kernels.channels import KernelChannelsHandler
from nbserver.services.kernels.base import KernelManagerBase

KERNEL_ID_REGEX = r"(?P<kernel_id>\w+-\w+-\w+-\w+-\w+)"


def kernel_env(value: Any) -> dict[str, str] | None:
    """The ``env`` of a kernel start request: a JSON object of strings, else 400."""
    if value is None:
        return None
    if not isinstance(value, dict) or not all(isinstance(item, str) for item in value.values()):
        raise InvalidInput("'env' must be an object whose values are strings.")
    return value


def requested_kernel_id(body: dict[str, Any]) -> str | None:
    """The kernel id a start request asks for: ``"id"`` or ``"kernel_id"`` (the same, if both)."""
    chosen = {body[key] for key in ("id", "kernel_id") if body.get(key) is not None}
    if len(chosen) > 1:
        raise InvalidInput("'id' and 'kernel_id' name different kernels.")
    return chosen.pop() if chosen else None


class KernelsAPIHandler(APIHandler):
    auth_resource = "kernels"
    #: Starting, interrupting and restarting a kernel execute code.
    auth_actions = {**METHOD_ACTIONS, "POST": "execute"}

    @property
    def kernel_manager(self) -> KernelManagerBase[Any]:
        return self.settings["kernel_manager"]  # type: ignore[no-any-return]

    def kernel_url(self, kernel_id: str) -> str:
        return url_path_join(self.base_url, "api/kernels", kernel_id)


class MainKernelHandler(KernelsAPIHandler):
    def get(self) -> None:
        self.finish_json(self.kernel_manager.list_kernels())

    async def post(self) -> None:
        """Start a kernel: ``{"name", "path", "env", "id"}``, all optional (Jupyter Server's and
        Kernel Gateway's fields; see MappingKernelManager.start_kernel for what each does).
        ``"kernel_id"`` is taken as ``"id"``: Jupyter Server 2.x's own handler reads a client's
        kernel id from that field; both naming different ids is a 400."""
        body = self.get_json_object_body() or {}
        for key in ("name", "path", "id", "kernel_id"):
            if body.get(key) is not None and not isinstance(body[key], str):
                raise InvalidInput(f"{key!r} must be a string.")
        kernel_id = await self.kernel_manager.start_kernel(
            kernel_name=body.get("name"), path=body.get("path"), env=kernel_env(body.get("env")),
            kernel_id=requested_kernel_id(body),
        )
        self.set_header("Location", self.kernel_url(kernel_id))
        self.finish_json(self.kernel_manager.kernel_model(kernel_id), 201)


class KernelHandler(KernelsAPIHandler):
    def get(self, kernel_id: str) -> None:
        self.finish_json(self.kernel_manager.kernel_model(kernel_id))

    async def delete(self, kernel_id: str) -> None:
        await self.kernel_manager.shutdown_kernel(kernel_id)
        self.set_status(204)
        self.finish()


class KernelInterruptHandler(KernelsAPIHandler):
    async def post(self, kernel_id: str) -> None:
        await self.kernel_manager.interrupt_kernel(kernel_id)
        self.set_status(204)
        self.finish()


class KernelRestartHandler(KernelsAPIHandler):
    async def post(self, kernel_id: str) -> None:
        model = await self.kernel_manager.restart_kernel(kernel_id)
        self.set_header("Location", self.kernel_url(kernel_id))
        self.finish_json(model)


handlers = [
    (r"/api/kernels", MainKernelHandler),
    (rf"/api/kernels/{KERNEL_ID_REGEX}", KernelHandler),
    (rf"/api/kernels/{KERNEL_ID_REGEX}/interrupt", KernelInterruptHandler),
    (rf"/api/kernels/{KERNEL_ID_REGEX}/restart", KernelRestartHandler),
    (rf"/api/kernels/{KERNEL_ID_REGEX}/channels", KernelChannelsHandler),
]
