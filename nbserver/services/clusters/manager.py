"""IPython parallel clusters, one per IPython profile, on ipyparallel's ``Cluster`` API.

Each profile of ``ipython_dir`` (``$IPYTHONDIR`` or ``~/.ipython``; ``default`` always) can run
one cluster: a controller and ``n`` engines on this machine (ipyparallel's local launchers),
with the profile's default, empty cluster id, so ``ipyparallel.Client(profile=...)`` in a
notebook finds it by the profile's connection file. Engines start in the server's root folder.
The server stops every cluster it started when it shuts down. ipyparallel is optional (the
``clusters`` extra): without it every route answers 501.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import re
import signal
import time
from types import ModuleType
from typing import Any

from traitlets import Integer, Unicode, default
from traitlets.config import Config, LoggingConfigurable

from nbserver.errors import Conflict, InvalidInput, NbserverError, NotFound

ClusterModel = dict[str, Any]
PROFILE_NAME = re.compile(r"[\w.-]+")


class FeatureMissing(NbserverError):
    """A route whose optional library is not installed (RFC 9110, 15.6.2)."""

    status_code = 501
    reason = "Not Implemented"


def import_ipyparallel() -> ModuleType:
    """The ipyparallel module; FeatureMissing (501) when it is not installed."""
    try:
        return importlib.import_module("ipyparallel")
    except ImportError:
        raise FeatureMissing("Clusters need ipyparallel, which is not installed on the server: "
                             "pip install 'nbserver[clusters]'.") from None


def end_process_groups(groups: list[int], grace_seconds: float) -> None:
    """SIGTERM, then after ``grace_seconds`` SIGKILL, whatever is left in these process groups.

    ipyparallel starts the controller and each engine in a session of its own
    (``start_new_session``), and stops only those processes: the controller's schedulers
    outlive it when it is stopped while still starting them. The group finds them all.
    """
    def signal_all(signum: int) -> list[int]:
        alive = []
        for group in groups:
            try:
                os.killpg(group, signum)
                alive.append(group)
            except (ProcessLookupError, PermissionError):
                continue
        return alive

    if not signal_all(signal.SIGTERM):
        return
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline:
        if not signal_all(0):
            return
        time.sleep(0.1)
    signal_all(signal.SIGKILL)


class ClusterManager(LoggingConfigurable):
    """The clusters this server started, by profile name."""

    root_dir = Unicode(help="Folder the engines start in (the server's root).")
    ipython_dir = Unicode(help="IPython's folder of profiles (default: $IPYTHONDIR or ~/.ipython).").tag(
        config=True
    )
    max_engines = Integer(256, help="Most engines one cluster may start.").tag(config=True)
    stop_grace_seconds = Integer(
        5, help="Seconds a cluster's leftover processes get after SIGTERM before SIGKILL, once it is stopped."
    ).tag(config=True)

    @default("ipython_dir")
    def _default_ipython_dir(self) -> str:
        from IPython.paths import get_ipython_dir

        return str(get_ipython_dir())

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._clusters: dict[str, Any] = {}  # profile -> ipyparallel.Cluster
        self._locks: dict[str, asyncio.Lock] = {}

    # -- models --------------------------------------------------------------------------

    def profiles(self) -> list[str]:
        """Names of the profiles in ``ipython_dir``, with ``default`` even before it exists."""
        try:
            entries = os.listdir(self.ipython_dir)
        except OSError:
            entries = []
        names = {entry[len("profile_"):] for entry in entries if entry.startswith("profile_")
                 and os.path.isdir(os.path.join(self.ipython_dir, entry))}
        return sorted(name for name in names | {"default"} | set(self._clusters) if PROFILE_NAME.fullmatch(name))

    def profile_dir(self, profile: str) -> str:
        return os.path.join(self.ipython_dir, f"profile_{profile}")

    def _check_profile(self, profile: str) -> None:
        if not PROFILE_NAME.fullmatch(profile) or profile not in self.profiles():
            raise NotFound(f"No such IPython profile: {profile}")

    def is_running(self, profile: str) -> bool:
        cluster = self._clusters.get(profile)
        return bool(cluster is not None and cluster.controller is not None and cluster.controller.running)

    def model(self, profile: str) -> ClusterModel:
        """``{"profile", "profile_dir", "status": "running"|"stopped", "n"}``; ``n`` is the number of
        engines started (null when stopped). NotFound for an unknown profile."""
        self._check_profile(profile)
        running = self.is_running(profile)
        cluster = self._clusters.get(profile)
        engines = sum(engine_set.n for engine_set in cluster.engines.values()) if running and cluster else None
        return {"profile": profile, "profile_dir": self.profile_dir(profile),
                "status": "running" if running else "stopped", "n": engines}

    def list_clusters(self) -> list[ClusterModel]:
        return [self.model(profile) for profile in self.profiles()]

    def process_ids(self, profile: str) -> list[int]:
        """PIDs of the controller and engine processes of a running cluster (empty when stopped)."""
        cluster = self._clusters.get(profile)
        if cluster is None:
            return []
        launchers = [cluster.controller] if cluster.controller is not None else []
        for engine_set in cluster.engines.values():
            launchers.extend(getattr(engine_set, "launchers", {}).values())
        return [launcher.process.pid for launcher in launchers if getattr(launcher, "process", None)]

    # -- start and stop ------------------------------------------------------------------

    def _lock(self, profile: str) -> asyncio.Lock:
        return self._locks.setdefault(profile, asyncio.Lock())

    def default_engine_count(self) -> int:
        return os.cpu_count() or 1

    async def start(self, profile: str, n: int | None = None) -> ClusterModel:
        """Start the profile's cluster with ``n`` engines (default: the number of cores).

        NotFound (profile), Conflict (already running), InvalidInput (``n``), FeatureMissing.
        """
        ipyparallel = import_ipyparallel()
        self._check_profile(profile)
        engines = self.default_engine_count() if n is None else n
        if not 1 <= engines <= self.max_engines:
            raise InvalidInput(f"'n' must be a whole number from 1 to {self.max_engines}.")
        async with self._lock(profile):
            if self.is_running(profile):
                raise Conflict(f"The cluster of profile {profile} is already running.")
            location = self.profile_dir(profile)
            os.makedirs(location, exist_ok=True)  # "default" may not exist yet; ipcontroller fills it
            config = Config()
            config.LocalEngineSetLauncher.engine_args = [f"--work-dir={self.root_dir or os.getcwd()}"]
            cluster = ipyparallel.Cluster(profile_dir=location, cluster_id="", n=engines, config=config,
                                          log=self.log)
            self._clusters[profile] = cluster
            try:
                await cluster.start_cluster(engines)
            except Exception as exc:
                self.log.error("Starting the cluster of profile %s failed", profile, exc_info=True)
                await self._stop(profile)
                raise Conflict(f"The cluster of profile {profile} could not start ({type(exc).__name__}).",
                               log_detail=str(exc)) from None
            self.log.info("Started the cluster of profile %s with %d engines", profile, engines)
            return self.model(profile)

    async def _stop(self, profile: str) -> None:
        groups = self.process_ids(profile)  # each launcher process leads its own process group
        cluster = self._clusters.pop(profile, None)
        if cluster is not None:
            await cluster.stop_cluster()
        await asyncio.to_thread(end_process_groups, groups, self.stop_grace_seconds)

    async def stop(self, profile: str) -> ClusterModel:
        """Stop the profile's cluster: the controller and every engine. Conflict when not running."""
        import_ipyparallel()
        self._check_profile(profile)
        async with self._lock(profile):
            if profile not in self._clusters:
                raise Conflict(f"The cluster of profile {profile} is not running.")
            await self._stop(profile)
            self.log.info("Stopped the cluster of profile %s", profile)
            return self.model(profile)

    async def stop_all(self) -> None:
        """Stop every cluster this server started (on shutdown)."""
        for profile in list(self._clusters):
            try:
                await self._stop(profile)
            except Exception:
                self.log.error("Stopping the cluster of profile %s failed", profile, exc_info=True)
