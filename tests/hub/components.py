"""JupyterHub and configurable-http-proxy for the tests, installed on first use under benchmarks/.cache.

JupyterHub goes into a virtual environment of its own (its pins need not agree with ours; made
as the benchmarks' ones are) and the proxy into an npm folder beside it; both are reused by
later runs (the folder is not committed).
:class:`RealHub` runs a hub on free 127.0.0.1 ports whose users' servers are nbserver-singleuser.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from benchmarks.servers import CACHE_DIR, cached_venv, free_port
from tests.support.browser import child_pids


JUPYTERHUB_REQUIREMENT = "jupyterhub>=5"
PROXY_PACKAGE = "configurable-http-proxy@^5"
PROXY_DIR = CACHE_DIR / "configurable-http-proxy"
ADMIN_TOKEN = "test-admin-service-token-0123456789"


def install_jupyterhub() -> Path:
    """The ``jupyterhub`` command of its cached environment (the newest release when first made)."""
    return cached_venv("jupyterhub", [JUPYTERHUB_REQUIREMENT]) / "bin" / "jupyterhub"


def install_proxy() -> Path:
    """The ``configurable-http-proxy`` command, installed from npm if missing."""
    command = PROXY_DIR / "node_modules" / ".bin" / "configurable-http-proxy"
    if not command.exists():
        PROXY_DIR.mkdir(parents=True, exist_ok=True)
        (PROXY_DIR / "package.json").write_text('{"private": true}\n')
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error", PROXY_PACKAGE],
                       cwd=PROXY_DIR, check=True, timeout=300)
    return command


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class RealHub:
    """A JupyterHub on 127.0.0.1 with DummyAuthenticator (password ``PASSWORD``) and the
    SimpleLocalProcessSpawner running ``nbserver-singleuser`` as this user, in ``workdir``."""

    PASSWORD = "hub-test-password"

    def __init__(self, workdir: Path, singleuser: Path, proxy: Path, jupyterhub: Path) -> None:
        self.workdir = workdir
        self.port, self.hub_port, self.proxy_api_port = free_port(), free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.seen_pids: set[int] = set()  # every process seen below the hub, checked gone at the end
        (workdir / "home").mkdir()
        jupyter = {name: str(workdir / f"jupyter-{name}") for name in ("config", "data", "runtime")}
        config = f"""
c = get_config()  # noqa
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {self.port}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {self.hub_port}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{self.proxy_api_port}"
c.ConfigurableHTTPProxy.command = [{str(proxy)!r}]
c.ConfigurableHTTPProxy.pid_file = {str(workdir / "proxy.pid")!r}
c.JupyterHub.db_url = "sqlite:///{workdir / "hub.sqlite"}"
c.JupyterHub.cookie_secret_file = {str(workdir / "cookie_secret")!r}
c.JupyterHub.pid_file = {str(workdir / "hub.pid")!r}
c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = {self.PASSWORD!r}
c.Authenticator.allow_all = True
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = {str(workdir / "home" / "{username}")!r}
c.Spawner.cmd = [{str(singleuser)!r}]
c.Spawner.start_timeout = 60
c.Spawner.http_timeout = 60
c.Spawner.environment = {{
    "JUPYTERHUB_ACTIVITY_INTERVAL": "1",
    "JUPYTER_CONFIG_DIR": {jupyter["config"]!r},
    "JUPYTER_DATA_DIR": {jupyter["data"]!r},
    "JUPYTER_RUNTIME_DIR": {jupyter["runtime"]!r},
    "JUPYTER_PLATFORM_DIRS": "1",
}}
# Only the server's own reports move last_activity, not the proxy's traffic counts.
c.JupyterHub.last_activity_interval = 3600
c.JupyterHub.services = [{{"name": "tester", "api_token": {ADMIN_TOKEN!r}}}]
c.JupyterHub.load_roles = [{{"name": "tester", "services": ["tester"],
                             "scopes": ["admin:users", "admin:servers", "tokens", "access:servers"]}}]
"""
        (workdir / "jupyterhub_config.py").write_text(config)
        self.log_path = workdir / "hub.log"
        self._log = open(self.log_path, "wb")
        env = {key: value for key, value in os.environ.items() if not key.startswith("JUPYTERHUB_")}
        self.process = subprocess.Popen([str(jupyterhub), "-f", str(workdir / "jupyterhub_config.py")],
                                        cwd=workdir, stdout=self._log, stderr=subprocess.STDOUT, env=env,
                                        start_new_session=True)

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def api(self, method: str, path: str, body: Any = None, token: str = ADMIN_TOKEN) -> Any:
        """A call to the hub's REST API; the parsed JSON reply (None when empty)."""
        data = json.dumps(body).encode() if body is not None else (b"" if method == "POST" else None)
        request = urllib.request.Request(f"{self.url}/hub/api/{path}", data=data, method=method,
                                         headers={"Authorization": f"token {token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def wait_until_up(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"jupyterhub exited with {self.process.returncode}:\n{self.log[-5000:]}")
            try:
                self.api("GET", "")
                return
            except (OSError, urllib.error.URLError):
                time.sleep(0.3)
        raise TimeoutError(f"jupyterhub did not start within {timeout} s:\n{self.log[-5000:]}")

    def wait_for_server(self, user: str, ready: bool, timeout: float = 90) -> dict[str, Any]:
        """The user model once the default server is ready (``ready``) or gone (not ``ready``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            model = self.api("GET", f"users/{user}")
            server = model.get("servers", {}).get("")
            if (server is not None and server.get("ready")) == ready and (ready or not model.get("pending")):
                return dict(model)
            time.sleep(0.3)
        raise TimeoutError(f"{user}'s server not {'ready' if ready else 'stopped'}:\n{self.log[-5000:]}")

    def note_processes(self) -> None:
        """Remember the processes now below the hub (proxy, servers, kernels)."""
        self.seen_pids.update(child_pids(self.process.pid))

    def stop(self) -> list[int]:
        """Stop the hub (it stops its proxy and servers), then SIGKILL by PID any process seen
        below it that is still there; returns those PIDs."""
        self.note_processes()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()
        left = [pid for pid in self.seen_pids if alive(pid)]
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        return left
