"""Jupyter Enterprise Gateway for the tests: its own cached virtual environment and a process.

Enterprise Gateway 3.x pins Jupyter Server 1.x and jupyter_client 6, older than nbserver's, so it
lives in a virtual environment of its own (benchmarks/.cache, made on first use from PyPI, as the
benchmarks' jupyter_server one) and runs as a separate process, as an operator would run it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

from benchmarks.servers import cached_venv, free_port, isolated_env

ENTERPRISE_GATEWAY_VERSION = "3.3.0"
#: ipykernel 7 reworked its event loop, which Enterprise Gateway 3.x's tests stay clear of.
IPYKERNEL_REQUIREMENT = "ipykernel>=6.29,<7"


def enterprise_gateway_venv(log: Callable[[str], None] = print) -> Path:
    """The cached virtual environment with Enterprise Gateway and ipykernel; created on first use."""
    return cached_venv(f"enterprise_gateway-{ENTERPRISE_GATEWAY_VERSION}",
                       [f"jupyter_enterprise_gateway=={ENTERPRISE_GATEWAY_VERSION}", IPYKERNEL_REQUIREMENT], log)


def descendants(pid: int) -> list[int]:
    """The PIDs of every living descendant of ``pid`` (read from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                parent = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry))
    found, queue = [], [pid]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


class EnterpriseGateway:
    """``jupyter enterprisegateway`` on 127.0.0.1 (a free port), with a token; stopped by PID.

    Its kernels run as local processes (EG's default process proxy) from its own environment's
    ipykernel; listing all kernels stays refused, as by default.
    """

    def __init__(self, venv: Path, workdir: Path, token: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.token = token
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "enterprise_gateway.log"
        environment = {key: value for key, value in isolated_env(workdir / "eg-home").items() if key != "PYTHONPATH"}
        environment.update({"EG_RESPONSE_IP": "127.0.0.1", "EG_AUTH_TOKEN": token, **(env or {})})
        self._log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [str(venv / "bin" / "jupyter-enterprisegateway"), "--ip=127.0.0.1", f"--port={self.port}",
             "--port_retries=0"],
            stdout=self._log, stderr=subprocess.STDOUT, cwd=workdir, env=environment, start_new_session=True,
        )

    @property
    def log(self) -> str:
        return self.log_path.read_text()

    def wait_until_serving(self, timeout: float = 120) -> EnterpriseGateway:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Enterprise Gateway exited with {self.process.returncode}:\n{self.log}")
            try:
                self.get("/api")
                return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.2)
        raise TimeoutError(f"Enterprise Gateway did not start within {timeout} s:\n{self.log}")

    def get(self, path: str) -> tuple[int, bytes]:
        """(status, body) of a GET on the gateway's own REST API, with its token."""
        request = urllib.request.Request(self.url + path, headers={"Authorization": f"token {self.token}"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM; then SIGKILL to its process group and to any kernel it leaves (kernels run in
        sessions of their own, so they are found as its descendants first)."""
        kernels = descendants(self.process.pid)
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=10)
        for pid in kernels:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._log.close()

    def __enter__(self) -> EnterpriseGateway:
        try:
            return self.wait_until_serving()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()
