"""/api/clusters over a real server: a real 2-engine ipyparallel cluster that a kernel started
through nbserver reaches with ipyparallel.Client(profile=...), stopped with no process left."""

from __future__ import annotations

import ast
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.kernel_client import KernelWebsocketClient

ipyparallel = pytest.importorskip("ipyparallel")
psutil = pytest.importorskip("psutil")  # an ipyparallel dependency


@pytest.fixture
def ipython_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary IPYTHONDIR (so no test touches ~/.ipython), with one extra profile."""
    folder = tmp_path / "ipython"
    (folder / "profile_work").mkdir(parents=True)
    monkeypatch.setenv("IPYTHONDIR", str(folder))
    return folder


@pytest.fixture
def server_config(ipython_dir: Path) -> dict[str, Any]:
    return {}


def ipyparallel_descendants() -> list[int]:
    """This process's ipyparallel children and grandchildren (controller, its schedulers, engines)."""
    found = []
    for process in psutil.Process().children(recursive=True):
        try:
            if any("ipyparallel" in part for part in process.cmdline()):
                found.append(process.pid)
        except psutil.NoSuchProcess:
            continue
    return found


def gone(pids: list[int], seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        alive = [pid for pid in pids if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
        if not alive:
            return True
        time.sleep(0.2)
    return False


@pytest.mark.gen_test(timeout=30)
async def test_profiles_are_listed_stopped_with_default_always_there(api, ipython_dir):
    response = await api.get("api/clusters")
    assert response.status == 200
    assert response.json() == [
        {"profile": "default", "profile_dir": str(ipython_dir / "profile_default"), "status": "stopped", "n": None},
        {"profile": "work", "profile_dir": str(ipython_dir / "profile_work"), "status": "stopped", "n": None},
    ]
    one = await api.get("api/clusters/work")
    assert one.status == 200 and one.json()["status"] == "stopped"


@pytest.mark.gen_test(timeout=30)
async def test_unknown_profiles_and_bad_counts_are_json_errors(api, server_app):
    for response, status in [
        (await api.get("api/clusters/nope"), 404),
        (await api.post("api/clusters/nope/start", {"n": 1}), 404),
        (await api.post("api/clusters/default/start", {"n": 0}), 400),
        (await api.post("api/clusters/default/start", {"n": "two"}), 400),
        (await api.post("api/clusters/default/start", {"n": "\u00b2"}), 400),
        (await api.post("api/clusters/default/start", {"n": 100_000}), 400),
        (await api.post("api/clusters/default/stop"), 409),
    ]:
        assert response.status == status, response.body
        assert set(response.json()) >= {"message", "reason"}
    assert server_app.cluster_manager.process_ids("default") == []


@pytest.mark.gen_test(timeout=30)
async def test_without_ipyparallel_every_route_is_501(api, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ipyparallel", None)  # what Python does for a missing module: ImportError
    for response in (await api.get("api/clusters"), await api.get("api/clusters/default"),
                     await api.post("api/clusters/default/start"), await api.post("api/clusters/default/stop")):
        assert response.status == 501
        assert "ipyparallel" in response.json()["message"]


@pytest.mark.slow
@pytest.mark.gen_test(timeout=240)
async def test_a_kernel_reaches_a_real_two_engine_cluster_that_stops_without_leftovers(
        api, server_app, base_url, token, root_dir):
    started = await api.post("api/clusters/default/start", {"n": 2})
    assert started.status == 200, started.body
    assert started.json()["status"] == "running" and started.json()["n"] == 2
    pids = server_app.cluster_manager.process_ids("default")
    assert len(pids) == 3 and all(psutil.pid_exists(pid) for pid in pids)
    assert (await api.post("api/clusters/default/start", {"n": 2})).status == 409
    listed = {c["profile"]: c for c in (await api.get("api/clusters")).json()}
    assert listed["default"]["status"] == "running" and listed["work"]["status"] == "stopped"

    kernel = (await api.post("api/kernels", {"name": "python3"})).json()
    client = await KernelWebsocketClient.connect(base_url, token, kernel["id"])
    try:
        code = ("import ipyparallel as ipp, os; rc = ipp.Client(profile='default'); "
                "rc.wait_for_engines(2, timeout=60); print(rc[:].apply_sync(os.getpid)); "
                "print(rc[:].apply_sync(os.getcwd)); rc.close()")
        execution = await client.run(code, timeout=120)
        assert execution.reply["content"]["status"] == "ok", execution.reply["content"]
        lines = [line for line in execution.stdout.splitlines() if line.startswith("[")]  # not the progress bar
        engine_pids = ast.literal_eval(lines[0])
        assert len(engine_pids) == 2 and len(set(engine_pids)) == 2
        assert set(engine_pids) <= set(pids)
        assert {os.path.realpath(cwd) for cwd in ast.literal_eval(lines[1])} == {os.path.realpath(root_dir)}
    finally:
        client.close()
        await api.delete(f"api/kernels/{kernel['id']}")

    every_process = ipyparallel_descendants()
    assert set(pids) <= set(every_process)
    stopped = await api.post("api/clusters/default/stop")
    assert stopped.status == 200 and stopped.json()["status"] == "stopped" and stopped.json()["n"] is None
    assert gone(every_process), [pid for pid in every_process if psutil.pid_exists(pid)]


@pytest.mark.slow
@pytest.mark.gen_test(timeout=240)
async def test_server_shutdown_stops_running_clusters(api, server_app):
    assert (await api.post("api/clusters/work/start", {"n": 1})).status == 200
    assert len(server_app.cluster_manager.process_ids("work")) == 2
    every_process = ipyparallel_descendants()
    await server_app.stop_services()
    assert gone(every_process)
    assert json.loads(json.dumps(server_app.cluster_manager.list_clusters()))[1]["status"] == "stopped"
