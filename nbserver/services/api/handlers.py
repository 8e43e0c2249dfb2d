"""The API root: ``/api`` (version), ``/api/status`` and ``/api/spec.yaml`` (our OpenAPI document)."""

from __future__ import annotations

import os
from typing import Any

from nbserver import __version__
from nbserver.base.activity import ActivityTracker
from nbserver.base.handlers import APIHandler
from nbserver.services.contents.manager import iso_timestamp

SPEC_PATH = os.path.join(os.path.dirname(__file__), "api.yaml")


class APIVersionHandler(APIHandler):
    """``GET /api``: the server version; answers without authentication, as Jupyter's does."""

    auth_required = False

    def get(self) -> None:
        self.finish_json({"version": __version__})


class APIStatusHandler(APIHandler):
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

    def get(self) -> None:
        with open(SPEC_PATH, "rb") as handle:
            spec = handle.read()
        self.set_header("Content-Type", "text/x-yaml; charset=UTF-8")
        self.finish(spec)




handlers = [
    (r"/api/?", APIVersionHandler),
    (r"/api/status", APIStatusHandler),
    (r"/api/spec.yaml", APISpecHandler),
]
