"""nbserver with its kernels on another nbserver as its gateway.

The front server runs in-process (so the tests can look at its relay and run its culler); the
gateway is a second nbserver process over the same root. The upstream connection speaks
``v1.kernel.websocket.jupyter.org``, which nbserver offers, and the gateway honours
KERNEL_WORKING_DIR, so a notebook's kernel starts in the notebook's folder.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest
from traitlets.config import Config

from nbserver.app import NotebookServerApp
from nbserver.services.kernels.framing import WireProtocol
from nbserver.services.kernels.gateway.manager import GatewayKernelManager
from nbserver.services.kernels.gateway.relay import GatewayBridge
from tests.support.api_client import APIClient
from tests.support.gateway_outage import cut_gateway_mid_output
from tests.support.kernel_client import V1, KernelWebsocketClient
from tests.support.server_process import ServerProcess
from tests.support.tcp_proxy import TCPProxy

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

GATEWAY_TOKEN = "gateway-token"
TEST_TOKEN = "test-token-0123456789"  # tests/conftest.py's


@pytest.fixture
def gateway(root_dir: Path) -> Iterator[ServerProcess]:
    with ServerProcess(root_dir, token=GATEWAY_TOKEN) as server:
        yield server


@pytest.fixture
def proxy(gateway: ServerProcess) -> Iterator[TCPProxy]:
    with TCPProxy(gateway.port) as tcp_proxy:
        yield tcp_proxy


@pytest.fixture
def server_config(proxy: TCPProxy) -> dict[str, Any]:
    return {"config": Config({
        "GatewayClient": {"url": proxy.url, "auth_token": GATEWAY_TOKEN, "gateway_retry_interval": 0.1,
                          "gateway_retry_interval_max": 0.5, "gateway_retry_max": 40},
        "MappingKernelManager": {"cull_idle_timeout": 1.0, "cull_interval": 3600.0},
    })}


def gateway_kernels(gateway: ServerProcess) -> list[str]:
    request = urllib.request.Request(gateway.base_url + "api/kernels",
                                     headers={"Authorization": f"token {GATEWAY_TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return [kernel["id"] for kernel in json.loads(response.read())]


def gateway_delete(gateway: ServerProcess, kernel_id: str) -> None:
    request = urllib.request.Request(gateway.base_url + f"api/kernels/{kernel_id}", method="DELETE",
                                     headers={"Authorization": f"token {GATEWAY_TOKEN}"})
    with urllib.request.urlopen(request, timeout=10):
        pass


def relay(server_app: NotebookServerApp, kernel_id: str) -> GatewayBridge:
    bridge = server_app.kernel_manager.channels_bridge(kernel_id)
    assert isinstance(bridge, GatewayBridge)
    return bridge


@pytest.mark.gen_test(timeout=200)
async def test_a_session_runs_on_the_gateway_nbserver_over_v1(
        api: APIClient, base_url: str, server_app: NotebookServerApp, gateway: ServerProcess, root_dir: Path) -> None:
    assert isinstance(server_app.kernel_manager, GatewayKernelManager)
    (root_dir / "project").mkdir()
    notebook = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    assert (await api.put("api/contents/project/nb.ipynb", {"type": "notebook", "content": notebook})).status == 201
    session = (await api.post("api/sessions", {"path": "project/nb.ipynb", "type": "notebook",
                                               "kernel": {"name": "python3"}})).json()
    kernel_id = session["kernel"]["id"]
    assert gateway_kernels(gateway) == [kernel_id]
    assert relay(server_app, kernel_id).upstream_protocol is WireProtocol.V1

    for protocol in ("json", "v1"):
        client = await KernelWebsocketClient.connect(base_url, TEST_TOKEN, kernel_id,
                                                     subprotocols=[V1] if protocol == "v1" else None)
        try:
            where = await client.run("import os; print(os.getcwd())", timeout=60)
            assert where.stdout.strip() == os.path.realpath(root_dir / "project")
            comm = await client.run("from comm import create_comm\n"
                                    "create_comm(target_name='t', data={}, buffers=[bytes(range(256)) * 300])")
            opened = [m for m in comm.iopub if m["header"]["msg_type"] == "comm_open"]
            assert [bytes(b) for b in opened[0]["buffers"]] == [bytes(range(256)) * 300]
        finally:
            client.close()

    listed = (await api.get("api/sessions")).json()
    assert [(s["id"], s["kernel"]["id"]) for s in listed] == [(session["id"], kernel_id)]
    assert (await api.delete(f"api/sessions/{session['id']}")).status == 204
    assert gateway_kernels(gateway) == []


@pytest.mark.gen_test(timeout=200)
async def test_a_severed_v1_gateway_connection_loses_no_message(
        api: APIClient, base_url: str, server_app: NotebookServerApp, proxy: TCPProxy) -> None:
    kernel_id = (await api.post("api/kernels", {})).json()["id"]
    client = await KernelWebsocketClient.connect(base_url, TEST_TOKEN, kernel_id, subprotocols=[V1])
    try:
        await cut_gateway_mid_output(client, proxy)
        bridge = relay(server_app, kernel_id)
        assert bridge.upstream_protocol is WireProtocol.V1 and bridge.reconnections == 1
    finally:
        client.close()


@pytest.mark.gen_test(timeout=200)
async def test_idle_remote_kernels_are_culled_on_the_gateway(
        api: APIClient, server_app: NotebookServerApp, gateway: ServerProcess) -> None:
    kernel_id = (await api.post("api/kernels", {})).json()["id"]
    assert gateway_kernels(gateway) == [kernel_id]
    await asyncio.sleep(1.5)
    await server_app.kernel_manager.cull_idle_kernels()
    assert (await api.get("api/kernels")).json() == []
    assert gateway_kernels(gateway) == []


@pytest.mark.gen_test(timeout=200)
async def test_a_kernel_the_gateway_no_longer_has_is_dead_and_its_session_ends(
        api: APIClient, base_url: str, server_app: NotebookServerApp, gateway: ServerProcess) -> None:
    session = (await api.post("api/sessions", {"path": "gone.ipynb", "type": "notebook",
                                               "kernel": {"name": "python3"}})).json()
    kernel_id = session["kernel"]["id"]
    client = await KernelWebsocketClient.connect(base_url, TEST_TOKEN, kernel_id)
    try:
        gateway_delete(gateway, kernel_id)
        manager = server_app.kernel_manager
        assert isinstance(manager, GatewayKernelManager)
        deadline = time.monotonic() + 30
        while manager.has_kernel(kernel_id) and time.monotonic() < deadline:
            await manager.poll_kernels()
            await asyncio.sleep(0.2)
        assert not manager.has_kernel(kernel_id)
        dead = await client.receive(lambda m: m["header"]["msg_type"] == "status"
                                    and m["content"]["execution_state"] == "dead")
        assert dead["channel"] == "iopub"
    finally:
        client.close()
    assert (await api.get(f"api/kernels/{kernel_id}")).status == 404
    deadline = time.monotonic() + 10
    while (await api.get("api/sessions")).json() and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert (await api.get("api/sessions")).json() == []


@pytest.mark.gen_test(timeout=60)
async def test_an_unreachable_gateway_is_a_502_with_no_detail(
        api: APIClient, server_app: NotebookServerApp, gateway: ServerProcess) -> None:
    manager = server_app.kernel_manager
    assert isinstance(manager, GatewayKernelManager)
    manager.client.gateway_retry_max = 2
    gateway.stop()
    reply = await api.post("api/kernels", {"name": "python3"})
    assert reply.status == 502
    assert reply.json()["message"] == "The kernel gateway could not be reached; see the server log."
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        gateway_kernels(gateway)


@pytest.mark.gen_test(timeout=120)
async def test_a_gateway_gone_at_server_stop_does_not_hold_it_up(
        api: APIClient, server_app: NotebookServerApp, gateway: ServerProcess) -> None:
    kernel_id = (await api.post("api/kernels", {})).json()["id"]
    assert gateway_kernels(gateway) == [kernel_id]
    gateway.stop()
    started = time.monotonic()
    await server_app.kernel_manager.shutdown_all()
    assert time.monotonic() - started < 5, "shutting down waited for the gateway's retries"
    assert not server_app.kernel_manager.has_kernel(kernel_id)
