"""``nbserver-singleuser``: nbserver as a JupyterHub single-user server.

A hub's spawner starts it with ``JUPYTERHUB_*`` variables, from which it takes everything:
where to listen (``JUPYTERHUB_SERVICE_URL``), its URL prefix (``JUPYTERHUB_SERVICE_PREFIX``),
the folder to serve (``JUPYTERHUB_ROOT_DIR``, else the working directory), and the hub's API,
OAuth client and user (:mod:`nbserver.auth.hub.identity`). It makes no token of its own, answers
the hub's readiness check (every response carries ``X-JupyterHub-Version``), reports activity
to the hub (:mod:`nbserver.auth.hub.activity`) and checks the hub's version when it starts.

Host checks are off in this mode (``allow_remote_access``): the hub's proxy forwards the public
host name, which this server cannot know in advance, and the DNS rebinding they guard against
gains nothing here, since every request needs a hub token or the hub cookie of the real host.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

from tornado import httputil, web
from traitlets import List, Unicode, default

from nbserver.app import NotebookServerApp
from nbserver.app import main as run_app
from nbserver.auth.hub.activity import HubActivityReporter
from nbserver.auth.hub.authorizer import HubAuthorizer
from nbserver.auth.hub.client import HubUnavailable
from nbserver.auth.hub.identity import HubIdentityProvider, environ, hub_identity_provider

#: The JupyterHub release whose single-user protocol this mode follows, sent as X-JupyterHub-Version.
HUB_PROTOCOL_VERSION = "6.1.1"
#: Major versions of JupyterHub this mode was tested with; others get a warning at start.
TESTED_HUB_MAJORS = (5, 6)


class HubVersionHeader(web.OutputTransform):
    """Adds ``X-JupyterHub-Version`` to every response, redirects and errors included."""

    def transform_first_chunk(self, status_code: int, headers: httputil.HTTPHeaders, chunk: bytes,
                              finishing: bool) -> tuple[int, httputil.HTTPHeaders, bytes]:
        headers["X-JupyterHub-Version"] = HUB_PROTOCOL_VERSION
        return status_code, headers, chunk


def hub_version_warning(version: str | None) -> str | None:
    """Why a hub of ``version`` may not work with this server; None when it should."""
    if not version:
        return "JupyterHub sent no X-JupyterHub-Version header: it is older than 0.8 or not a hub"
    try:
        major = int(version.split(".", 1)[0])
    except ValueError:
        return f"JupyterHub reports an unreadable version {version!r}"
    if major not in TESTED_HUB_MAJORS:
        tested = " and ".join(f"{m}.x" for m in TESTED_HUB_MAJORS)
        return (f"JupyterHub {version} is not a version nbserver-singleuser was tested with ({tested}): "
                "logins may fail or loop")
    return None


class SingleUserServerApp(NotebookServerApp):
    """nbserver configured by a JupyterHub spawner, authenticated by the hub."""

    name = "nbserver-singleuser"
    description = (
        "nbserver as a JupyterHub single-user server: set c.Spawner.cmd = ['nbserver-singleuser'] in the\n"
        "hub's configuration; everything else comes from the JUPYTERHUB_* environment the spawner sets."
    )
    examples = ""
    subcommands: dict[str, Any] = {}
    classes = [*NotebookServerApp.classes, HubIdentityProvider, HubActivityReporter]

    @default("identity_provider_class")
    def _default_identity_provider_class(self) -> type[HubIdentityProvider]:
        return HubIdentityProvider

    @default("authorizer_class")
    def _default_authorizer_class(self) -> type[HubAuthorizer]:
        return HubAuthorizer

    @default("ip")
    def _default_ip(self) -> str:
        return urlsplit(environ("JUPYTERHUB_SERVICE_URL", "http://127.0.0.1:8888")).hostname or "127.0.0.1"

    @default("port")
    def _default_port(self) -> int:
        return urlsplit(environ("JUPYTERHUB_SERVICE_URL", "http://127.0.0.1:8888")).port or 8888

    @default("port_retries")
    def _default_port_retries(self) -> int:
        return 0  # the hub's proxy routes to the port it chose, and no other

    @default("base_url")
    def _default_base_url(self) -> str:
        return environ("JUPYTERHUB_SERVICE_PREFIX", "/")

    @default("root_dir")
    def _default_root_dir(self) -> str:
        return environ("JUPYTERHUB_ROOT_DIR") or super()._default_root_dir()

    @default("open_browser")
    def _default_open_browser(self) -> bool:
        return False

    @default("allow_remote_access")
    def _default_allow_remote_access(self) -> bool:
        return True  # see the module docstring

    trusted_proxies = List(
        Unicode(), ["127.0.0.1", "::1"],
        help="Addresses of the hub's proxy: from them, X-Forwarded-Host counts as this server's host in "
        "origin checks (for a proxy that rewrites Host; configurable-http-proxy keeps it).",
    ).tag(config=True)

    def tornado_settings(self) -> dict[str, Any]:
        return {**super().tornado_settings(), "trusted_proxies": frozenset(self.trusted_proxies)}

    @property
    def hub_provider(self) -> HubIdentityProvider:
        return hub_identity_provider(self.identity_provider)

    def init_managers(self) -> None:
        # Public read-only links let a user's server answer requests the hub never authenticated:
        # off under a hub unless its configuration turns them on (issue 15; FileServices.allow_share_links).
        if "allow_share_links" not in self.config.FileServices:
            self.config.FileServices.allow_share_links = False
        super().init_managers()
        self._version_check: asyncio.Task[None] | None = None
        self.activity_reporter = HubActivityReporter(
            self.hub_provider.hub, self.hub_provider.server_name, self.last_activity, parent=self, log=self.log
        )

    def log_secrets(self) -> list[str]:
        provider = getattr(self, "identity_provider", None)
        hub_token = provider.hub_api_token if isinstance(provider, HubIdentityProvider) else ""
        return [*super().log_secrets(), hub_token]

    def last_activity(self) -> float:
        """The latest request or kernel activity, in POSIX seconds (as ``/api/status`` reports it)."""
        latest = self.activity_tracker.last_activity
        kernel_activity = self.kernel_manager.status_summary().get("last_activity")
        return max(latest, kernel_activity) if kernel_activity else latest

    def handler_modules(self) -> list[str]:
        return [("nbserver.auth.hub.handlers" if name == "nbserver.auth.handlers" else name)
                for name in super().handler_modules()]

    def build_web_application(self) -> web.Application:
        application = super().build_web_application()
        application.add_transform(HubVersionHeader)
        return application

    def start_server(self) -> None:
        super().start_server()
        self.log.info("Serving JupyterHub user %s at %s", self.hub_provider.hub_user, self.display_url)
        self.activity_reporter.start()
        self._version_check = asyncio.get_running_loop().create_task(self.check_hub_version())

    async def check_hub_version(self) -> None:
        """Warn, clearly, when the hub cannot be reached or is of a version not tested here."""
        try:
            version = await self.hub_provider.hub.hub_version()
        except HubUnavailable as exc:
            self.log.warning("JupyterHub's API did not answer (%s): logins fail until it does", exc)
            return
        problem = hub_version_warning(version)
        if problem:
            self.log.warning(problem)
        else:
            self.log.info("JupyterHub %s", version)

    async def stop_services(self) -> None:
        version_check: asyncio.Task[None] | None = getattr(self, "_version_check", None)
        if version_check is not None:
            version_check.cancel()
        reporter = getattr(self, "activity_reporter", None)
        if reporter is not None:
            await reporter.stop()
        await super().stop_services()


def main(argv: list[str] | None = None) -> None:
    run_app(argv, SingleUserServerApp)

if __name__ == "__main__":
    main()
