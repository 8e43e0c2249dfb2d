"""The API root: ``/api`` (version), ``/api/status`` and ``/api/spec.yaml`` (our OpenAPI document)."""

from __future__ import annotations

import os
from typing import Any

from nbserver import __version__
from nbserver.auth.authorizer import PUBLIC
from nbserver.base.activity import ActivityTracker
from nbserver.base.handlers import APIHandler
from nbserver.blocking import run_blocking
from nbserver.errors import InvalidInput, NotFound
from nbserver.services.contents.manager import ContentsManager
from nbserver.services.kernels.base import KernelManagerBase
from nbserver.timestamps import iso_timestamp

SPEC_PATH = os.path.join(os.path.dirname(__file__), "api.yaml")


class APIVersionHandler(APIHandler):
    """``GET /api``: the server version; answers without authentication, as Jupyter's does."""

    auth_resource = PUBLIC

    def get(self) -> None:
        self.finish_json({"version": __version__})


class APIStatusHandler(APIHandler):
    """``GET /api/status``: start time, last activity, kernels and connections. Polling it is not
    activity (as in Jupyter Server), so a monitor asking for it does not keep the server from idling."""

    counts_as_activity = False

    auth_resource = "api"

    def get(self) -> None:
        tracker: ActivityTracker = self.settings["activity_tracker"]
        last_activity = tracker.last_activity
        kernels = connections = 0
        kernel_manager: Any = self.settings.get("kernel_manager")
        if kernel_manager is not None:
            summary = kernel_manager.status_summary()
            kernels, connections = summary["kernels"], summary["connections"]
            if summary.get("last_activity"):
                last_activity = max(last_activity, summary["last_activity"])
        self.finish_json({
            "started": iso_timestamp(tracker.started),
            "last_activity": iso_timestamp(last_activity),
            "kernels": kernels,
            "connections": connections,
        })


class APISpecHandler(APIHandler):
    """``GET /api/spec.yaml``: the OpenAPI document of every route this server has."""

    auth_resource = "api"

    def get(self) -> None:
        with open(SPEC_PATH, "rb") as handle:
            spec = handle.read()
        self.set_header("Content-Type", "text/x-yaml; charset=UTF-8")
        self.finish(spec)


class PathResolverHandler(APIHandler):
    """``GET /api/resolvePath?path=<p>[&kernel=<id>]``: what a path a user typed (or a kernel printed)
    names, as Jupyter Server's route answers it.

    ``{"resolved": [{"scope": "server", "path": <API path>}, {"scope": "kernel", "path": <absolute
    path>}]}``, each entry only where something exists inside the root (nothing outside it is
    disclosed: no entry instead); an unknown kernel adds ``"unresolved": [{"scope": "kernel",
    "reason": ...}]``. 400 without ``path``.
    """

    auth_resource = "contents"  # it tells whether a path exists in the root

    async def get(self) -> None:
        path = self.get_query_argument("path", default=None)
        if path is None:
            raise InvalidInput("Missing query parameter: path")
        kernel_id = self.get_query_argument("kernel", default=None)
        contents_manager: ContentsManager = self.settings["contents_manager"]
        resolved: list[dict[str, str]] = []
        unresolved: list[dict[str, str]] = []
        server_path = await contents_manager.resolve_path(path)
        if server_path is not None:
            resolved.append({"scope": "server", "path": server_path})
        if kernel_id:
            kernel_manager: KernelManagerBase[Any] = self.settings["kernel_manager"]
            try:
                kernel_path = await run_blocking(kernel_manager.resolve_path, kernel_id, path)
            except NotFound:
                unresolved.append({"scope": "kernel", "reason": f"Kernel {kernel_id} could not be found"})
            else:
                if kernel_path is not None:
                    resolved.append({"scope": "kernel", "path": kernel_path})
        reply: dict[str, Any] = {"resolved": resolved}
        if unresolved:
            reply["unresolved"] = unresolved
        self.finish_json(reply)


handlers = [
    (r"/api/?", APIVersionHandler),
    (r"/api/status", APIStatusHandler),
    (r"/api/spec.yaml", APISpecHandler),
    (r"/api/resolvePath", PathResolverHandler),
]
