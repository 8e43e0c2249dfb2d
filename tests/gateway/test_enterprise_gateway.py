"""nbserver with its kernels on Jupyter Enterprise Gateway 3.x (a real one, in its own environment).

Enterprise Gateway listens on 127.0.0.1 with a token; nbserver reaches it through a TCP proxy the
tests can sever, with ``--gateway-url``. A notebook runs end to end over nbserver's websocket
(JSON and v1 clients, binary comm buffers, input(), interrupt, restart), EG's own REST API shows
the kernel living there, and cutting the gateway connection mid-output loses no client message.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest
from tornado.httpclient import AsyncHTTPClient

from benchmarks.servers import isolated_env
from tests.support.api_client import APIClient
from tests.support.enterprise_gateway import EnterpriseGateway, enterprise_gateway_venv
from tests.support.gateway_outage import cut_gateway_mid_output
from tests.support.kernel_client import V1, KernelWebsocketClient, Message
from tests.support.server_process import ServerProcess
from tests.support.tcp_proxy import TCPProxy

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

EG_TOKEN = "eg-token-" + uuid.uuid4().hex
NB_TOKEN = "nb-token"
KERNEL_USER = "gateway-tester"

#: A comm opened by the kernel with a binary buffer, then a message with all 256 byte values.
COMM_CODE = """
from comm import create_comm
c = create_comm(target_name='nbserver-test', data={'a': 1}, buffers=[b'\\x00\\xff\\x80' * 1000])
c.send(data={'b': 2}, buffers=[bytes(range(256)) * 4, b''])
"""


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gateway")


@pytest.fixture(scope="module")
def enterprise_gateway(workdir: Path) -> Iterator[EnterpriseGateway]:
    venv = enterprise_gateway_venv(log=lambda message: None)
    with EnterpriseGateway(venv, workdir, EG_TOKEN) as gateway:
        yield gateway


@pytest.fixture(scope="module")
def proxy(enterprise_gateway: EnterpriseGateway) -> Iterator[TCPProxy]:
    with TCPProxy(enterprise_gateway.port) as tcp_proxy:
        yield tcp_proxy


@pytest.fixture(scope="module")
def notebook_root(workdir: Path) -> Path:
    root = workdir / "root"
    (root / "project" / "sub").mkdir(parents=True)
    return root


@pytest.fixture(scope="module")
def nbserver(proxy: TCPProxy, notebook_root: Path, workdir: Path) -> Iterator[ServerProcess]:
    """nbserver whose kernels run on Enterprise Gateway, through the proxy; the gateway's settings
    come from JUPYTER_GATEWAY_* variables, as Jupyter Server reads them."""
    env = {
        **isolated_env(workdir / "nbserver-home"),
        "JUPYTER_GATEWAY_AUTH_TOKEN": EG_TOKEN, "JUPYTER_GATEWAY_REQUEST_TIMEOUT": "90",
        "JUPYTER_GATEWAY_RETRY_INTERVAL": "0.2", "JUPYTER_GATEWAY_RETRY_INTERVAL_MAX": "1",
        "JUPYTER_GATEWAY_RETRY_MAX": "40", "KERNEL_USERNAME": KERNEL_USER,
    }
    server = ServerProcess(notebook_root, f"--gateway-url={proxy.url}", "--GatewayKernelManager.poll_interval=1",
                           token=NB_TOKEN, env=env, cwd=workdir)
    with server:
        yield server


@pytest.fixture
def api(nbserver: ServerProcess) -> APIClient:
    return APIClient(AsyncHTTPClient(), nbserver.base_url, NB_TOKEN)


async def connect(server: ServerProcess, kernel_id: str, protocol: str = "json",
                  session_id: str | None = None) -> KernelWebsocketClient:
    return await KernelWebsocketClient.connect(
        server.base_url, NB_TOKEN, kernel_id, session_id=session_id,
        subprotocols=[V1] if protocol == "v1" else None)


async def start_session(api: APIClient, path: str) -> dict[str, Any]:
    notebook = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    assert (await api.put(f"api/contents/{path}", {"type": "notebook", "content": notebook})).status == 201
    created = await api.post("api/sessions", {"path": path, "type": "notebook", "kernel": {"name": "python3"}})
    assert created.status == 201, created.body
    session: dict[str, Any] = created.json()
    return session


async def wait_for(condition: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.2)


def comm_buffers(iopub: list[Message]) -> dict[str, list[bytes]]:
    return {m["header"]["msg_type"]: [bytes(b) for b in m["buffers"]]
            for m in iopub if m["header"]["msg_type"] in ("comm_open", "comm_msg")}


@pytest.mark.gen_test(timeout=300)
async def test_kernelspecs_and_their_logos_come_from_the_gateway(
        api: APIClient, enterprise_gateway: EnterpriseGateway) -> None:
    specs = (await api.get("api/kernelspecs")).json()
    assert specs["default"] == "python3"
    resources = specs["kernelspecs"]["python3"]["resources"]
    assert resources["logo-64x64"] == "/kernelspecs/python3/logo-64x64.png"
    logo = await api.get("kernelspecs/python3/logo-64x64.png")
    assert logo.status == 200 and logo.headers["Content-Type"] == "image/png"
    assert logo.body == enterprise_gateway.get("/kernelspecs/python3/logo-64x64.png")[1]
    assert (await api.get("kernelspecs/python3/no-such-logo.png")).status == 404
    assert (await api.get("api/kernelspecs/no-such-kernel")).status == 404


@pytest.mark.gen_test(timeout=300)
async def test_a_notebook_runs_end_to_end_on_enterprise_gateway(
        api: APIClient, nbserver: ServerProcess, enterprise_gateway: EnterpriseGateway, notebook_root: Path) -> None:
    session = await start_session(api, "project/sub/nb.ipynb")
    kernel_id = session["kernel"]["id"]
    status, body = enterprise_gateway.get(f"/api/kernels/{kernel_id}")
    assert status == 200 and json.loads(body)["id"] == kernel_id, "the kernel does not live on the gateway"
    assert enterprise_gateway.get("/api/kernels")[0] == 403, "EG lists kernels: the test no longer shows we need not"
    assert [k["id"] for k in (await api.get("api/kernels")).json()] == [kernel_id]

    client = await connect(nbserver, kernel_id)
    try:
        where = await client.run("import os; print(os.environ['KERNEL_WORKING_DIR'], os.environ['KERNEL_USERNAME'])")
        assert where.stdout.split() == [str(notebook_root.resolve() / "project" / "sub"), KERNEL_USER]

        assert (await client.run("x = 6 * 7; print(x)")).stdout == "42\n"

        msg_id = await client.execute("name = input('Name? '); print('hi', name)", allow_stdin=True)
        await client.answer_input("Ada")
        assert "hi Ada" in (await client.result(msg_id)).stdout

        async def interrupt() -> None:
            assert (await api.post(f"api/kernels/{kernel_id}/interrupt")).status == 204

        interrupted = await client.interrupted(interrupt)
        assert interrupted.reply["content"]["ename"] == "KeyboardInterrupt"

        restarted = await api.post(f"api/kernels/{kernel_id}/restart")
        assert restarted.status == 200, restarted.body
        after = await client.run("print('x' in globals())", timeout=60)
        assert after.stdout == "False\n", "the restart kept the kernel's state"
        assert (await api.get(f"api/kernels/{kernel_id}")).json()["connections"] == 1
    finally:
        client.close()

    assert (await api.delete(f"api/sessions/{session['id']}")).status == 204
    await wait_for(lambda: enterprise_gateway.get(f"/api/kernels/{kernel_id}")[0] == 404)
    assert (await api.get("api/kernels")).json() == []


@pytest.mark.gen_test(timeout=300)
async def test_a_clients_kernel_variables_reach_the_remote_kernel_and_others_do_not(
        api: APIClient, nbserver: ServerProcess) -> None:
    started = await api.post("api/kernels", {"name": "python3",
                                             "env": {"KERNEL_PROJECT": "apollo", "LD_PRELOAD": "/tmp/x.so"}})
    assert started.status == 201, started.body
    kernel_id = started.json()["id"]
    client = await connect(nbserver, kernel_id)
    try:
        seen = await client.run("import os; print(os.environ.get('KERNEL_PROJECT'), os.environ.get('LD_PRELOAD'))")
        assert seen.stdout == "apollo None\n"
    finally:
        client.close()
        assert (await api.delete(f"api/kernels/{kernel_id}")).status == 204


@pytest.mark.parametrize("protocol", ["json", "v1"])
@pytest.mark.gen_test(timeout=300)
async def test_binary_comm_buffers_from_the_kernel_arrive_intact(
        api: APIClient, nbserver: ServerProcess, protocol: str) -> None:
    kernel_id = (await api.post("api/kernels", {"name": "python3"})).json()["id"]
    client = await connect(nbserver, kernel_id, protocol)
    try:
        execution = await client.run(COMM_CODE, timeout=60)
        assert execution.reply["content"]["status"] == "ok", execution.reply
        assert comm_buffers(execution.iopub) == {
            "comm_open": [b"\x00\xff\x80" * 1000],
            "comm_msg": [bytes(range(256)) * 4, b""],
        }
    finally:
        client.close()
        assert (await api.delete(f"api/kernels/{kernel_id}")).status == 204


@pytest.mark.gen_test(timeout=300)
async def test_a_severed_gateway_connection_loses_no_message(
        api: APIClient, nbserver: ServerProcess, proxy: TCPProxy) -> None:
    kernel_id = (await api.post("api/kernels", {"name": "python3"})).json()["id"]
    client = await connect(nbserver, kernel_id, session_id=uuid.uuid4().hex)
    try:
        await cut_gateway_mid_output(client, proxy)
    finally:
        client.close()
        assert (await api.delete(f"api/kernels/{kernel_id}")).status == 204
