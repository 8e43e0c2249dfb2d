"""Telling the hub when this server was last used, so its idle culler can stop it.

Every ``activity_interval`` seconds (with 20% jitter, so a hub's servers do not all report at
once), the server's latest activity (requests and kernels) goes to ``JUPYTERHUB_ACTIVITY_URL``
as JupyterHub's ``POST /users/<name>/activity`` takes it::

    {"servers": {"<server name>": {"last_activity": "<ISO 8601>"}}, "last_activity": "<ISO 8601>"}

An activity already reported is not sent again; a failed report is retried at the next interval.
"""

from __future__ import annotations

import asyncio
import os
import random
from typing import Callable

from traitlets import Float, Unicode, default
from traitlets.config import LoggingConfigurable

from nbserver.auth.hub.client import HubClient, HubUnavailable
from nbserver.timestamps import iso_timestamp


class HubActivityReporter(LoggingConfigurable):
    """Reports the server's last activity (POSIX seconds, from ``last_activity``) to the hub."""

    activity_url = Unicode(help="Where to report activity (default: $JUPYTERHUB_ACTIVITY_URL); '' for nowhere.").tag(
        config=True
    )
    activity_interval = Float(
        help="Seconds between activity reports (default: $JUPYTERHUB_ACTIVITY_INTERVAL, else 300)."
    ).tag(config=True)

    @default("activity_url")
    def _default_activity_url(self) -> str:
        return os.environ.get("JUPYTERHUB_ACTIVITY_URL", "")

    @default("activity_interval")
    def _default_activity_interval(self) -> float:
        return float(os.environ.get("JUPYTERHUB_ACTIVITY_INTERVAL") or 300)

    def __init__(self, hub: HubClient, server_name: str, last_activity: Callable[[], float], **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.hub = hub
        self.server_name = server_name
        self.last_activity = last_activity
        self.last_reported: float | None = None
        self._task: asyncio.Task[None] | None = None

    async def report(self) -> bool:
        """Send the latest activity if it is newer than the last one sent; whether one was sent."""
        latest = self.last_activity()
        if self.last_reported is not None and latest <= self.last_reported:
            return False
        stamp = iso_timestamp(latest)
        await self.hub.post_activity(self.activity_url, {
            "servers": {self.server_name: {"last_activity": stamp}}, "last_activity": stamp,
        })
        self.last_reported = latest
        return True

    async def _report_forever(self) -> None:
        while True:
            try:
                await self.report()
            except HubUnavailable as exc:
                self.log.warning("Could not report activity to JupyterHub: %s", exc)
            await asyncio.sleep(self.activity_interval * (0.9 + 0.2 * random.random()))

    def start(self) -> None:
        """Start reporting on the running event loop (nothing when there is no activity URL)."""
        if not self.activity_url or self.activity_interval <= 0:
            self.log.warning("JupyterHub activity reports are off: the hub's culler will not see activity")
            return
        self._task = asyncio.get_running_loop().create_task(self._report_forever())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
