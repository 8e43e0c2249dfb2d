"""``/api/clusters``: IPython parallel clusters by profile (list, one, start, stop), as the classic
notebook server's clusters tab offered them; the manager is :mod:`nbserver.services.clusters.manager`."""

from __future__ import annotations

from nbserver.base.handlers import APIHandler
from nbserver.base.numbers import ascii_whole_number
from nbserver.errors import InvalidInput
from nbserver.services.clusters.manager import ClusterManager, import_ipyparallel

PROFILE_REGEX = r"(?P<profile>[^/]+)"


class ClustersAPIHandler(APIHandler):
    auth_resource = "clusters"

    @property
    def cluster_manager(self) -> ClusterManager:
        return self.settings["cluster_manager"]  # type: ignore[no-any-return]


class ClusterListHandler(ClustersAPIHandler):
    async def get(self) -> None:
        import_ipyparallel()
        self.finish_json(self.cluster_manager.list_clusters())


class ClusterHandler(ClustersAPIHandler):
    async def get(self, profile: str) -> None:
        import_ipyparallel()
        self.finish_json(self.cluster_manager.model(profile))


def parse_engine_count(value: object) -> int | None:
    """``n`` from the body or query: a positive whole number, or absent."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and (count := ascii_whole_number(value)) is not None:
        return count
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise InvalidInput("'n' must be a whole number of engines.")


class ClusterStartHandler(ClustersAPIHandler):
    async def post(self, profile: str) -> None:
        """Start with ``n`` engines (JSON body ``{"n": 2}`` or ``?n=2``; default: the cores)."""
        body = self.get_json_object_body() or {}
        n = parse_engine_count(body.get("n", self.get_query_argument("n", default=None)))
        self.finish_json(await self.cluster_manager.start(profile, n))


class ClusterStopHandler(ClustersAPIHandler):
    async def post(self, profile: str) -> None:
        self.finish_json(await self.cluster_manager.stop(profile))


handlers = [
    (r"/api/clusters/?", ClusterListHandler),
    (rf"/api/clusters/{PROFILE_REGEX}/start", ClusterStartHandler),
    (rf"/api/clusters/{PROFILE_REGEX}/stop", ClusterStopHandler),
    (rf"/api/clusters/{PROFILE_REGEX}", ClusterHandler),
]
