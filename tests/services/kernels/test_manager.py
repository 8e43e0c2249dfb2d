"""MappingKernelManager: death and autorestart, culling, listeners, server shutdown."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from typing import Any

import pytest
from traitlets import TraitError
from traitlets.config import Config

from nbserver.services.kernels.manager import KernelEvent, KernelStartFailed, MappingKernelManager
from nbserver.services.kernels.ports import PORT_FIELDS, KernelPortCache, ephemeral_range, parse_port_range
from nbserver.services.kernels.state import ExecutionState, KernelRecord
from tests.support.kernel_client import KernelWebsocketClient
from tests.support.kernel_processes import kernel_processes_using, process_exists

pytestmark = pytest.mark.timeout(60)


def is_status(state):
    return lambda m: m["header"]["msg_type"] == "status" and m["content"]["execution_state"] == state


async def kernel_pid(client: KernelWebsocketClient) -> int:
    return int((await client.run("import os; print(os.getpid())")).stdout)


async def wait_until(condition: Any, timeout: float, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(interval)


class TestKernelDeath:
    @pytest.fixture
    def server_config(self) -> dict[str, Any]:
        return {"config": Config({"KernelRestarter": {"time_to_dead": 0.3}})}

    @pytest.mark.gen_test(timeout=60)
    async def test_killed_kernel_is_reported_and_restarted(self, api, server_app, start_kernel, connect):
        events: list[tuple[str, KernelEvent]] = []
        server_app.kernel_manager.add_listener(lambda kid, event: events.append((kid, event)))
        kernel = await start_kernel()
        client = await connect(kernel["id"])
        await client.run("x = 1")
        pid = await kernel_pid(client)
        os.kill(pid, signal.SIGKILL)
        await client.receive(is_status("restarting"), timeout=10)

        async def answers_again() -> bool:
            return (await api.get(f"api/kernels/{kernel['id']}")).json()["execution_state"] == "idle"

        await wait_until(answers_again, timeout=20)
        result = await client.run("print(x)")
        assert result.reply["content"]["ename"] == "NameError"
        assert await kernel_pid(client) != pid
        assert (kernel["id"], KernelEvent.RESTARTING) in events
        assert (kernel["id"], KernelEvent.RESTARTED) in events


class TestKernelDeathWithoutRestarts:
    @pytest.fixture
    def server_config(self) -> dict[str, Any]:
        return {"config": Config({"KernelRestarter": {"time_to_dead": 0.3, "restart_limit": 0}})}

    @pytest.mark.gen_test(timeout=60)
    async def test_kernel_that_cannot_be_restarted_is_reported_dead_and_removed(
        self, api, server_app, start_kernel, connect
    ):
        events: list[tuple[str, KernelEvent]] = []
        server_app.kernel_manager.add_listener(lambda kid, event: events.append((kid, event)))
        kernel = await start_kernel()
        client = await connect(kernel["id"])
        os.kill(await kernel_pid(client), signal.SIGKILL)
        await client.receive(is_status("dead"), timeout=10)
        assert (await api.get(f"api/kernels/{kernel['id']}")).status == 404
        assert (kernel["id"], KernelEvent.DIED) in events


class TestCulling:
    @pytest.fixture
    def server_config(self) -> dict[str, Any]:
        return {"config": Config({"MappingKernelManager": {"cull_idle_timeout": 1, "cull_interval": 0.3}})}

    @pytest.mark.gen_test(timeout=60)
    async def test_idle_kernel_is_culled(self, api, server_app, start_kernel):
        events: list[tuple[str, KernelEvent]] = []
        server_app.kernel_manager.add_listener(lambda kid, event: events.append((kid, event)))
        kernel = await start_kernel()

        async def culled() -> bool:
            return (kernel["id"], KernelEvent.SHUTDOWN) in events

        await wait_until(culled, timeout=10)
        assert (await api.get("api/kernels")).json() == []


def cull_manager(**traits: Any) -> MappingKernelManager:
    return MappingKernelManager(cull_idle_timeout=60, **traits)


def idle_record(seconds_idle: float, **fields: Any) -> KernelRecord:
    record = KernelRecord(id="k", name="python3", execution_state=ExecutionState.IDLE, **fields)
    record.last_activity = time.time() - seconds_idle
    return record


def test_recently_active_kernel_is_not_cullable():
    assert not cull_manager().is_cullable(idle_record(10), time.time())


def test_idle_kernel_is_cullable():
    assert cull_manager().is_cullable(idle_record(120), time.time())


def test_connected_kernel_is_cullable_only_with_cull_connected():
    record = idle_record(120, connections=1)
    assert not cull_manager().is_cullable(record, time.time())
    assert cull_manager(cull_connected=True).is_cullable(record, time.time())


def test_busy_kernel_is_cullable_only_with_cull_busy():
    record = idle_record(120)
    record.execution_state = ExecutionState.BUSY
    assert not cull_manager().is_cullable(record, time.time())
    assert cull_manager(cull_busy=True).is_cullable(record, time.time())


def test_cwd_for_path_is_the_folder_of_the_path_inside_the_root(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "nb.ipynb").write_text("{}")
    manager = MappingKernelManager(root_dir=str(tmp_path))
    root = os.path.realpath(tmp_path)
    assert manager.cwd_for_path("") == root
    assert manager.cwd_for_path("a/nb.ipynb") == os.path.join(root, "a")
    assert manager.cwd_for_path("a/b") == os.path.join(root, "a", "b")
    assert manager.cwd_for_path("a/missing/new.ipynb") == os.path.join(root, "a")


@pytest.mark.gen_test(timeout=60)
async def test_shutdown_all_stops_every_kernel_process(server_app, start_kernel, connect):
    pids = []
    for _ in range(2):
        kernel = await start_kernel()
        pids.append(await kernel_pid(await connect(kernel["id"])))
    await server_app.kernel_manager.shutdown_all()
    assert server_app.kernel_manager.list_kernels() == []
    assert not any(process_exists(pid) for pid in pids)


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_server_shutdown_leaves_no_kernel_process(tmp_path, token, jupyter_env):
    """A real server process: start a kernel, stop the server with SIGTERM, the kernel is gone."""
    root = tmp_path / "served"
    root.mkdir()
    server = subprocess.Popen(
        [sys.executable, "-m", "nbserver", "--no-browser", "--port=0", f"--root-dir={root}",
         f"--IdentityProvider.token={token}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        port = None
        assert server.stdout is not None
        for line in server.stdout:
            match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
            if match:
                port = int(match.group(1))
                break
        assert port, "the server did not log its URL"
        post_kernel(port, token)
        [pid] = kernel_processes_using(jupyter_env["runtime"])
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        deadline = time.monotonic() + 10
        while process_exists(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not process_exists(pid)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        if server.stdout is not None:
            server.stdout.close()


def post_kernel(port: int, token: str) -> None:
    """Start a kernel in the server on ``port`` (a plain blocking client, for tests without a loop)."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/kernels", data=b"{}", method="POST",
                                     headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status == 201


@pytest.mark.gen_test(timeout=60)
async def test_shutdown_all_during_a_start_leaves_no_process(server_app, jupyter_env, io_loop):
    manager = server_app.kernel_manager
    starting = asyncio.ensure_future(manager.start_kernel())
    await wait_until(lambda: asyncio.sleep(0, bool(kernel_processes_using(jupyter_env["runtime"]))), timeout=10,
                     interval=0.05)
    await manager.shutdown_all()
    with pytest.raises(Exception):
        await starting
    await wait_until(lambda: asyncio.sleep(0, not kernel_processes_using(jupyter_env["runtime"])), timeout=10)


class TestPortTakenWhileStarting:
    """Another socket takes a kernel's port between jupyter_client's pick and the kernel's bind.

    Each test asks for ``app``, whose teardown shuts the kernel manager down."""

    @pytest.fixture
    def held_port(self) -> Any:
        with socket.socket() as holder:
            holder.bind(("127.0.0.1", 0))
            holder.listen()
            yield holder.getsockname()[1]

    @pytest.fixture
    def picks(self, monkeypatch: pytest.MonkeyPatch, held_port: int) -> Any:
        """The ports jupyter_client picks; the shell port (each start's first pick) of the first
        ``races`` starts is the held one."""
        original = KernelPortCache.find_available_port
        picked: list[int] = []
        races = {"count": 0}

        def pick(cache: KernelPortCache, ip: str) -> int:
            is_shell = len(picked) % len(PORT_FIELDS) == 0
            port = held_port if is_shell and len(picked) // len(PORT_FIELDS) < races["count"] else original(cache, ip)
            picked.append(port)
            return port

        monkeypatch.setattr(KernelPortCache, "find_available_port", pick)
        return picked, races

    @pytest.mark.gen_test(timeout=60)
    async def test_kernel_whose_port_was_taken_is_started_once_more(self, server_app, app, picks, held_port):
        picked, races = picks
        races["count"] = 1
        kernel_id = await server_app.kernel_manager.start_kernel()
        assert len(picked) == 2 * len(PORT_FIELDS)  # two starts, the second on new ports
        km = server_app.kernel_manager._multi.get_kernel(kernel_id)
        assert km.shell_port != held_port
        assert await km.is_alive()

    @pytest.mark.gen_test(timeout=60)
    async def test_a_second_taken_port_fails_the_start_without_a_third(self, server_app, app, picks):
        picked, races = picks
        races["count"] = 2
        with pytest.raises(KernelStartFailed, match="the kernel process exited"):
            await server_app.kernel_manager.start_kernel()
        assert len(picked) == 2 * len(PORT_FIELDS)
        assert server_app.kernel_manager.list_kernels() == []


@pytest.mark.gen_test(timeout=60)
async def test_a_kernels_ports_lie_below_the_ephemeral_range(server_app, app):
    """By default ("auto") no port of a new kernel is one an outgoing connection could be given."""
    low, high = parse_port_range("auto") or (0, 0)
    kernel_id = await server_app.kernel_manager.start_kernel()
    info = server_app.kernel_manager._multi.get_kernel(kernel_id).get_connection_info()
    ports = [info[name] for name in PORT_FIELDS]
    assert len(set(ports)) == len(PORT_FIELDS)
    assert all(low <= port <= high < ephemeral_range()[0] for port in ports), ports


def test_a_kernel_port_range_that_is_not_one_is_refused():
    with pytest.raises(TraitError, match="kernel_port_range"):
        MappingKernelManager(kernel_port_range="20000:30000")
