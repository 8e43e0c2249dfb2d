"""jupyter_server as a front server with ``--gateway-url`` pointing at nbserver: every kernel of the
front server runs in nbserver, and a notebook runs end to end through both (kernelspecs, a session
for a notebook in a subfolder starting in that subfolder, execute, input(), interrupt, restart,
shutdown).

jupyter_server runs from its own virtual environment (the benchmark's cached one, made on first
use from PyPI), as an operator would run it: nothing of nbserver is importable there.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest
from tornado.httpclient import AsyncHTTPClient

from benchmarks.servers import free_port, jupyter_server_venv
from tests.support.api_client import APIClient
from tests.support.kernel_client import KernelWebsocketClient
from tests.support.server_process import ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

FRONT_TOKEN = "front-token"
GATEWAY_TOKEN = "gateway-token"


def wait_for_status(url: str, token: str, process: subprocess.Popen[str], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"jupyter_server exited with {process.returncode}")
        try:
            request = urllib.request.Request(url + "api/status", headers={"Authorization": f"token {token}"})
            with urllib.request.urlopen(request, timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise TimeoutError("jupyter_server did not answer in time")


@pytest.fixture(scope="module")
def front_python() -> Path:
    return jupyter_server_venv(log=lambda message: None) / "bin" / "python"


@pytest.fixture
def gateway(root_dir: Path) -> Iterator[ServerProcess]:
    with ServerProcess(root_dir, token=GATEWAY_TOKEN) as server:
        yield server


@pytest.fixture
def front(front_python: Path, gateway: ServerProcess, root_dir: Path, tmp_path: Path) -> Iterator[str]:
    """The jupyter_server front server's base URL; it is stopped (and its process group killed) after."""
    port = free_port()
    log = open(tmp_path / "front.log", "w")
    process = subprocess.Popen(
        [str(front_python), "-m", "jupyter_server", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
         "--ServerApp.port_retries=0", f"--ServerApp.root_dir={root_dir}", "--ServerApp.open_browser=False",
         "--ServerApp.allow_root=True",
         f"--IdentityProvider.token={FRONT_TOKEN}", f"--gateway-url={gateway.base_url.rstrip('/')}",
         f"--GatewayClient.auth_token={GATEWAY_TOKEN}", "--GatewayClient.request_timeout=60"],
        stdout=log, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        env={**os.environ, "PYTHONPATH": ""},
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_for_status(url, FRONT_TOKEN, process)
        yield url
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        log.close()


def gateway_kernel_ids(gateway: ServerProcess) -> list[str]:
    request = urllib.request.Request(gateway.base_url + "api/kernels",
                                     headers={"Authorization": f"token {GATEWAY_TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return [kernel["id"] for kernel in json.loads(response.read())]


@pytest.mark.gen_test(timeout=400)
async def test_a_notebook_runs_end_to_end_through_jupyter_server_with_nbserver_as_its_gateway(
    front: str, gateway: ServerProcess, root_dir: Path
) -> None:
    (root_dir / "project" / "sub").mkdir(parents=True)
    api = APIClient(AsyncHTTPClient(), front, FRONT_TOKEN)

    specs = (await api.get("api/kernelspecs")).json()
    assert "python3" in specs["kernelspecs"], specs

    notebook = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    assert (await api.put("api/contents/project/sub/nb.ipynb", {"type": "notebook", "content": notebook})).status == 201
    created = await api.post("api/sessions", {"path": "project/sub/nb.ipynb", "type": "notebook",
                                              "kernel": {"name": "python3"}})
    assert created.status == 201, created.body
    session = created.json()
    kernel_id = session["kernel"]["id"]
    assert gateway_kernel_ids(gateway) == [kernel_id], "the kernel does not live in nbserver"

    client = await KernelWebsocketClient.connect(front, FRONT_TOKEN, kernel_id)
    try:
        where = await client.run("import os; print(os.getcwd())", timeout=60)
        assert where.stdout.strip() == os.path.realpath(root_dir / "project" / "sub")

        computed = await client.run("x = 6 * 7; print(x)")
        assert computed.reply["content"]["status"] == "ok" and computed.stdout == "42\n"

        msg_id = await client.execute("name = input('Name? '); print('hi', name)", allow_stdin=True)
        await client.answer_input("Ada")
        assert "hi Ada" in (await client.result(msg_id)).stdout

        interrupted = await client.interrupted(lambda: api.post(f"api/kernels/{kernel_id}/interrupt"), timeout=20)
        assert interrupted.reply["content"]["ename"] == "KeyboardInterrupt"

        restarted = await api.post(f"api/kernels/{kernel_id}/restart")
        assert restarted.status == 200, restarted.body
    finally:
        client.close()

    client = await KernelWebsocketClient.connect(front, FRONT_TOKEN, kernel_id)
    try:
        after = await client.run("print('x' in globals(), os.getcwd() if 'os' in globals() else 'fresh')", timeout=60)
        assert after.stdout == "False fresh\n", "the restart kept the kernel's state"
    finally:
        client.close()

    listed = (await api.get("api/sessions")).json()
    assert [s["id"] for s in listed] == [session["id"]]
    assert (await api.delete(f"api/sessions/{session['id']}")).status == 204
    deadline = time.monotonic() + 30
    while gateway_kernel_ids(gateway) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    assert gateway_kernel_ids(gateway) == [], "shutting the session down left the kernel running in nbserver"
