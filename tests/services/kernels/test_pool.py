"""The warm kernel pool (kernel_pool_size): a pooled kernel behaves exactly like a fresh one."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from jupyter_client.kernelspec import KernelSpec
from traitlets.config import Config

from nbserver.services.kernels import pool
from nbserver.services.kernels.manager import MappingKernelManager
from tests.services.kernels.test_manager import kernel_pid, post_kernel, wait_until
from tests.support.kernel_client import KernelWebsocketClient
from tests.support.kernel_processes import kernel_processes_using, process_exists

pytestmark = pytest.mark.timeout(90)

#: What a kernel knows of where it started; the same for a pooled kernel and a fresh one.
FINGERPRINT = (
    "import json, os, sys; shell = get_ipython(); print(json.dumps({'cwd': os.getcwd(), 'sys.path': sys.path, "
    "'_dh': [str(p) for p in _dh], 'starting_dir': shell.starting_dir, 'names': sorted(shell.user_ns)}))"
)


def pool_config(**traits: Any) -> dict[str, Any]:
    return {"config": Config({"MappingKernelManager": {"kernel_pool_size": 1, **traits}})}


async def filled_pool(manager: MappingKernelManager, kernel_name: str = "python3") -> None:
    """Start the pool (as the app does once it serves) and wait until a kernel waits in it."""
    manager.start_kernel_pool()

    async def filled() -> bool:
        return manager.pooled_kernel_count(kernel_name) == 1

    await wait_until(filled, timeout=30)


async def fingerprint(client: KernelWebsocketClient) -> dict[str, Any]:
    result = await client.run(FINGERPRINT)
    assert result.reply["content"]["status"] == "ok", result.reply["content"]
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def install_kernelspec(data_dir: str, name: str, language: str, env: dict[str, str] | None = None) -> None:
    """A kernelspec that runs ipykernel under any ``language`` name."""
    folder = Path(data_dir, "kernels", name)
    folder.mkdir(parents=True, exist_ok=True)
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": name, "language": language, "env": env or {}}
    (folder / "kernel.json").write_text(json.dumps(spec))


@pytest.fixture
def server_config() -> dict[str, Any]:
    return pool_config()


@pytest.fixture
def manager(server_app, http_server) -> MappingKernelManager:
    """The served app's kernel manager (with http_server, every kernel stops after the test)."""
    return server_app.kernel_manager  # type: ignore[no-any-return]


@pytest.fixture
def subfolder(root_dir: Path) -> Path:
    folder = root_dir / "sub"
    folder.mkdir()
    return folder


@pytest.mark.gen_test(timeout=90)
async def test_pooled_kernel_runs_in_the_notebook_folder_like_a_fresh_one(
    manager, start_kernel, connect, subfolder
):
    await filled_pool(manager)
    pooled = await start_kernel(path="sub/nb.ipynb")
    assert manager.pooled_kernel_count() == 0, "the kernel did not come from the pool"
    # env makes a kernel start cold: the reference of what a fresh kernel in that folder knows.
    fresh_id = await manager.start_kernel(path="sub/nb.ipynb", env={"KERNEL_NBSERVER_TEST": "1"})
    pooled_state = await fingerprint(await connect(pooled["id"]))
    assert pooled_state["cwd"] == os.path.realpath(subfolder)
    assert pooled_state == await fingerprint(await connect(fresh_id))


@pytest.mark.gen_test(timeout=90)
async def test_pooled_kernel_looks_new_and_counts_executions_from_1(manager, start_kernel, connect):
    await filled_pool(manager)
    await asyncio.sleep(1.5)  # the pooled kernel's last traffic is now well in the past
    before = time.time()
    model = await start_kernel()
    assert (model["execution_state"], model["connections"]) == ("idle", 0)
    assert model["last_activity"] >= time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(before))
    client = await connect(model["id"])
    result = await client.run("1+1")
    assert result.reply["content"]["execution_count"] == 1
    assert result.of_type("execute_result")[0]["content"]["data"]["text/plain"] == "2"
    # Nothing of the pool's own work reaches the client: every message answers its request.
    assert client.pending == []


@pytest.mark.gen_test(timeout=90)
async def test_restarted_pooled_kernel_comes_back_in_the_notebook_folder(api, manager, start_kernel, connect, subfolder):
    await filled_pool(manager)
    model = await start_kernel(path="sub/nb.ipynb")
    assert (await api.post(f"api/kernels/{model['id']}/restart")).status == 200
    state = await fingerprint(await connect(model["id"]))
    assert state["cwd"] == os.path.realpath(subfolder)
    assert state["_dh"] == [os.path.realpath(subfolder)]


@pytest.mark.gen_test(timeout=90)
async def test_pool_refills_after_a_take(manager, start_kernel):
    await filled_pool(manager)
    first = await start_kernel()
    assert manager.pooled_kernel_count() == 0
    await filled_pool(manager)
    second = await start_kernel()
    assert manager.pooled_kernel_count() == 0
    assert second["id"] != first["id"]


@pytest.mark.gen_test(timeout=90)
async def test_pooled_kernels_are_not_listed(api, manager):
    await filled_pool(manager)
    assert (await api.get("api/kernels")).json() == []
    assert (await api.get("api/sessions")).json() == []
    assert (await api.get("api/status")).json()["kernels"] == 0


@pytest.mark.gen_test(timeout=90)
async def test_session_post_takes_a_kernel_from_the_pool(api, manager, connect, subfolder):
    await filled_pool(manager)
    body = {"path": "sub/nb.ipynb", "type": "notebook", "kernel": {"name": "python3"}}
    response = await api.post("api/sessions", body)
    assert response.status == 201, response.body
    assert manager.pooled_kernel_count() == 0
    state = await fingerprint(await connect(response.json()["kernel"]["id"]))
    assert state["cwd"] == os.path.realpath(subfolder)


@pytest.mark.gen_test(timeout=90)
async def test_request_with_its_own_env_starts_cold(manager, connect):
    await filled_pool(manager)
    kernel_id = await manager.start_kernel(env={"KERNEL_NBSERVER_TEST": "asked"})
    assert manager.pooled_kernel_count() == 1
    result = await (await connect(kernel_id)).run("import os; print(os.environ['KERNEL_NBSERVER_TEST'])")
    assert result.stdout == "asked\n"


@pytest.mark.gen_test(timeout=90)
async def test_server_environment_changed_since_pooling_starts_cold(manager, start_kernel, connect, monkeypatch):
    await filled_pool(manager)
    monkeypatch.setenv("NBSERVER_TEST", "changed")
    model = await start_kernel()
    result = await (await connect(model["id"])).run("import os; print(os.environ.get('NBSERVER_TEST'))")
    assert result.stdout == "changed\n"


class TestChangedKernelspec:
    @pytest.fixture
    def server_config(self) -> dict[str, Any]:
        return pool_config(kernel_pool_kernels=["pyspec"])

    @pytest.mark.gen_test(timeout=90)
    async def test_kernelspec_changed_since_pooling_starts_cold(self, manager, start_kernel, connect, jupyter_env):
        install_kernelspec(jupyter_env["data"], "pyspec", "python")
        await filled_pool(manager, "pyspec")
        install_kernelspec(jupyter_env["data"], "pyspec", "python", env={"NBSERVER_TEST": "from the spec"})
        model = await start_kernel(name="pyspec")
        result = await (await connect(model["id"])).run("import os; print(os.environ.get('NBSERVER_TEST'))")
        assert result.stdout == "from the spec\n"


@pytest.mark.gen_test(timeout=90)
async def test_pooled_kernel_has_run_its_first_execute_before_it_is_taken(manager, root_dir, monkeypatch):
    moves: list[tuple[str, str]] = []
    move = pool.move_python_kernel

    async def recorded(running: Any, folder: str, start_dir: str, *args: Any, **kwargs: Any) -> None:
        moves.append((folder, start_dir))
        await move(running, folder, start_dir, *args, **kwargs)

    monkeypatch.setattr(pool, "move_python_kernel", recorded)
    await filled_pool(manager)
    # The warm-up is the move to where the kernel already is: a fresh kernel's costly first execute.
    assert moves == [(os.path.realpath(root_dir), os.path.realpath(root_dir))]


@pytest.mark.gen_test(timeout=90)
async def test_kernel_failing_its_first_execute_is_not_pooled_and_leaves_no_process(manager, jupyter_env, monkeypatch):
    monkeypatch.setattr(pool, "MOVE_TIMEOUT", 0.0)  # no kernel answers this fast
    manager.start_kernel_pool()
    await wait_until(lambda: asyncio.sleep(0, manager.starting_pooled_kernel_count() == 0
                                           and not kernel_processes_using(jupyter_env["runtime"])), timeout=30)
    assert manager.pooled_kernel_count() == 0


@pytest.mark.gen_test(timeout=90)
async def test_pooled_kernel_that_died_is_replaced_by_a_cold_start(
    manager, start_kernel, connect, jupyter_env, subfolder
):
    await filled_pool(manager)
    [pooled_pid] = kernel_processes_using(jupyter_env["runtime"])
    os.kill(pooled_pid, signal.SIGKILL)
    await wait_until(lambda: asyncio.sleep(0, not process_exists(pooled_pid)), timeout=10)
    model = await start_kernel(path="sub/nb.ipynb")
    client = await connect(model["id"])
    assert await kernel_pid(client) != pooled_pid
    assert (await fingerprint(client))["cwd"] == os.path.realpath(subfolder)


@pytest.mark.gen_test(timeout=90)
async def test_pooled_kernel_that_does_not_move_in_time_is_replaced_by_a_cold_start(
    manager, start_kernel, connect, jupyter_env, subfolder, monkeypatch
):
    await filled_pool(manager)
    [pooled_pid] = kernel_processes_using(jupyter_env["runtime"])
    monkeypatch.setattr(pool, "MOVE_TIMEOUT", 0.0)  # no kernel answers the move this fast
    model = await start_kernel(path="sub/nb.ipynb")
    client = await connect(model["id"])
    assert await kernel_pid(client) != pooled_pid
    assert (await fingerprint(client))["cwd"] == os.path.realpath(subfolder)
    await wait_until(lambda: asyncio.sleep(0, not process_exists(pooled_pid)), timeout=20)


class TestNonPythonKernelspec:
    @pytest.fixture
    def server_config(self) -> dict[str, Any]:
        return pool_config(kernel_pool_kernels=["python3", "fakebash"])

    @pytest.mark.gen_test(timeout=90)
    async def test_kernel_of_another_language_is_not_pooled(self, manager, start_kernel, connect, jupyter_env):
        install_kernelspec(jupyter_env["data"], "fakebash", "bash")
        await filled_pool(manager)
        assert manager.pooled_kernel_count("fakebash") == 0
        assert len(kernel_processes_using(jupyter_env["runtime"])) == 1
        model = await start_kernel(name="fakebash")
        assert manager.pooled_kernel_count() == 1, "the python3 kernel was taken for fakebash"
        assert (await (await connect(model["id"])).run("print(6 * 7)")).stdout == "42\n"


class TestCullingWithPool:
    @pytest.fixture
    def server_config(self) -> dict[str, Any]:
        return pool_config(cull_idle_timeout=0.5, cull_interval=0.2)

    @pytest.mark.gen_test(timeout=90)
    async def test_pooled_kernels_are_not_culled(self, manager, start_kernel, jupyter_env):
        await filled_pool(manager)
        await start_kernel()  # starts the culler, which culls this kernel soon
        await filled_pool(manager)
        await wait_until(lambda: asyncio.sleep(0, manager.list_kernels() == []), timeout=10)
        await asyncio.sleep(1.5)
        assert manager.pooled_kernel_count() == 1
        assert len(kernel_processes_using(jupyter_env["runtime"])) == 1


@pytest.mark.gen_test(timeout=90)
async def test_shutdown_all_stops_pooled_kernels(manager, jupyter_env):
    await filled_pool(manager)
    assert kernel_processes_using(jupyter_env["runtime"])
    await manager.shutdown_all()
    await wait_until(lambda: asyncio.sleep(0, not kernel_processes_using(jupyter_env["runtime"])), timeout=10)


@pytest.mark.gen_test(timeout=90)
async def test_shutdown_all_while_the_pool_fills_leaves_no_process(manager, jupyter_env):
    manager.start_kernel_pool()
    await wait_until(lambda: asyncio.sleep(0, bool(kernel_processes_using(jupyter_env["runtime"]))), timeout=10,
                     interval=0.05)
    await manager.shutdown_all()
    await wait_until(lambda: asyncio.sleep(0, not kernel_processes_using(jupyter_env["runtime"])), timeout=10)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_server_with_a_pool_serves_from_it_and_leaves_no_kernel_on_stop(tmp_path, token, jupyter_env):
    """A real server process: the pool fills after start-up, a POST takes from it, SIGTERM stops all."""
    root = tmp_path / "served"
    root.mkdir()
    server = subprocess.Popen(
        [sys.executable, "-m", "nbserver", "--no-browser", "--port=0", f"--root-dir={root}",
         f"--IdentityProvider.token={token}", "--MappingKernelManager.kernel_pool_size=1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        assert server.stdout is not None
        port = None
        for line in server.stdout:
            match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
            port = int(match.group(1)) if match else port
            if "Kernel pool:" in line and "is ready" in line:
                break
        assert port, "the server did not log its URL"

        post_kernel(port, token)
        for line in server.stdout:
            if "taken from the pool" in line:
                break
        assert kernel_processes_using(jupyter_env["runtime"])
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=30)
        deadline = time.monotonic() + 10
        while kernel_processes_using(jupyter_env["runtime"]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not kernel_processes_using(jupyter_env["runtime"])
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        if server.stdout is not None:
            server.stdout.close()


# -- bursts: the pool fills to its size, several kernels at once --------------------------------


class LaunchCounter:
    """Wraps the manager's pool launcher: how many pool starts ran, and the most at once."""

    def __init__(self, manager: MappingKernelManager, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        self.running = 0
        self.most_at_once = 0
        launch = manager._launch_for_pool

        async def counted(name: str) -> Any:
            self.calls += 1
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
            try:
                return await launch(name)
            finally:
                self.running -= 1

        monkeypatch.setattr(manager, "_launch_for_pool", counted)


async def pool_of(manager: MappingKernelManager, count: int) -> None:
    """Wait until ``count`` kernels wait in the default kernel's pool."""
    await wait_until(lambda: asyncio.sleep(0, manager.pooled_kernel_count() == count), timeout=60)


class TestBurst:
    @pytest.fixture
    def server_config(self) -> dict[str, Any]:
        return pool_config(kernel_pool_size=3, kernel_pool_parallel_starts=3)

    @pytest.mark.gen_test(timeout=90)
    async def test_pool_fills_to_its_size_at_start_all_at_once(self, manager, monkeypatch, jupyter_env):
        launches = LaunchCounter(manager, monkeypatch)
        manager.start_kernel_pool()
        assert manager.starting_pooled_kernel_count() == 3
        await pool_of(manager, 3)
        assert (launches.calls, launches.most_at_once) == (3, 3)
        assert len(kernel_processes_using(jupyter_env["runtime"])) == 3

    @pytest.mark.gen_test(timeout=90)
    async def test_burst_of_pool_size_starts_all_come_from_the_pool(
        self, manager, start_kernel, monkeypatch, jupyter_env
    ):
        monkeypatch.setattr(pool, "REFILL_DELAY", 60.0)  # no refill kernel mixes into the count
        manager.start_kernel_pool()
        await pool_of(manager, 3)
        pooled_pids = set(kernel_processes_using(jupyter_env["runtime"]))
        models = [await start_kernel(path="nb.ipynb") for _ in range(3)]
        assert manager.pooled_kernel_count() == 0
        assert len({model["id"] for model in models}) == 3
        # No kernel started cold: the running kernel processes are exactly the pooled ones.
        assert set(kernel_processes_using(jupyter_env["runtime"])) == pooled_pids


class TestRefill:
    @pytest.fixture
    def server_config(self) -> dict[str, Any]:
        return pool_config(kernel_pool_size=2, kernel_pool_parallel_starts=2)

    @pytest.mark.gen_test(timeout=120)
    async def test_refill_after_a_burst_starts_every_missing_kernel_at_once(self, manager, start_kernel, monkeypatch):
        monkeypatch.setattr(pool, "REFILL_DELAY", 0.05)
        manager.start_kernel_pool()
        await pool_of(manager, 2)
        launches = LaunchCounter(manager, monkeypatch)
        manager._pool._launch = manager._launch_for_pool  # the pool was made before the wrapper
        await start_kernel()
        await start_kernel()
        await pool_of(manager, 2)
        assert (launches.calls, launches.most_at_once) == (2, 2)


# -- the pool's filling on its own, with stand-in kernels -----------------------------------


class StandInKernels:
    """Launch and discard callables for a KernelPool: each launch waits until ``finish`` lets it
    end (with a stand-in kernel, or failing)."""

    def __init__(self) -> None:
        self.started = 0
        self.discarded = 0
        self.waiting: list[asyncio.Future[bool]] = []

    async def launch(self, name: str) -> Any:
        self.started += 1
        outcome: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.waiting.append(outcome)
        if not await outcome:
            raise RuntimeError("the stand-in kernel failed to start")
        return SimpleNamespace(record=SimpleNamespace(id=f"stand-in-{self.started}"))

    async def discard(self, running: Any) -> None:
        self.discarded += 1

    def finish(self, count: int, succeed: bool = True) -> None:
        for _ in range(count):
            self.waiting.pop(0).set_result(succeed)


class PythonSpecs:
    """A kernelspec manager knowing one Python kernelspec."""

    def get_kernel_spec(self, name: str) -> KernelSpec:
        return KernelSpec(argv=["python"], display_name=name, language="python")


def stand_in_pool(kernels: StandInKernels, size: int, parallel_starts: int) -> pool.KernelPool:
    return pool.KernelPool(size, ["python3"], PythonSpecs(), kernels.launch, kernels.discard,  # type: ignore[arg-type]
                           "/", logging.getLogger("test"), parallel_starts)


async def settle() -> None:
    """Let the pool's tasks run until they wait on the stand-in kernels again."""
    for _ in range(20):
        await asyncio.sleep(0)
    await asyncio.sleep(0.05)  # the kernelspec is read in a thread


@pytest.mark.gen_test(timeout=10)
async def test_filling_starts_at_most_parallel_starts_kernels_at_once():
    kernels = StandInKernels()
    kernel_pool = stand_in_pool(kernels, size=5, parallel_starts=2)
    try:
        kernel_pool.start()
        await settle()
        assert (kernels.started, kernel_pool.starting_count("python3")) == (2, 2)
        kernels.finish(1)
        await settle()
        assert (kernels.started, kernel_pool.ready_count("python3"), kernel_pool.starting_count("python3")) == (3, 1, 2)
        kernels.finish(2)
        await settle()
        assert (kernels.started, kernel_pool.ready_count("python3"), kernel_pool.starting_count("python3")) == (5, 3, 2)
        kernels.finish(2)
        await settle()
        assert (kernels.started, kernel_pool.ready_count("python3"), kernel_pool.starting_count("python3")) == (5, 5, 0)
    finally:
        await kernel_pool.close()


@pytest.mark.gen_test(timeout=10)
async def test_refill_starts_the_smaller_of_the_missing_count_and_parallel_starts():
    kernels = StandInKernels()
    kernel_pool = stand_in_pool(kernels, size=4, parallel_starts=3)
    try:
        kernel_pool.start()
        await settle()
        kernels.finish(3)
        await settle()
        kernels.finish(1)
        await settle()
        assert kernel_pool.ready_count("python3") == 4
        kernel_pool._ready["python3"].popleft()  # one taken: one missing
        kernel_pool._refill("python3")
        await settle()
        assert (kernels.started, kernel_pool.starting_count("python3")) == (5, 1)
        kernels.finish(1)
        await settle()
        for _ in range(4):  # all taken: four missing, three start at once
            kernel_pool._ready["python3"].popleft()
        kernel_pool._refill("python3")
        await settle()
        assert (kernels.started, kernel_pool.starting_count("python3")) == (8, 3)
    finally:
        await kernel_pool.close()


@pytest.mark.gen_test(timeout=10)
async def test_a_failed_start_starts_no_other():
    kernels = StandInKernels()
    kernel_pool = stand_in_pool(kernels, size=3, parallel_starts=1)
    try:
        kernel_pool.start()
        await settle()
        kernels.finish(1, succeed=False)
        await settle()
        assert (kernels.started, kernel_pool.starting_count("python3"), kernel_pool.ready_count("python3")) == (1, 0, 0)
    finally:
        await kernel_pool.close()


@pytest.mark.gen_test(timeout=10)
async def test_close_while_filling_cancels_every_start():
    kernels = StandInKernels()
    kernel_pool = stand_in_pool(kernels, size=3, parallel_starts=3)
    kernel_pool.start()
    await settle()
    assert kernel_pool.starting_count("python3") == 3
    await kernel_pool.close()
    assert kernel_pool.starting_count("python3") == 0
    assert all(outcome.cancelled() for outcome in kernels.waiting)
