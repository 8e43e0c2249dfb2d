"""REST routes of /api/kernels with a real ipykernel."""

from __future__ import annotations

import json
import os
import sys
import time
import uuid

import pytest

from nbserver.services.kernels.manager import MappingKernelManager

pytestmark = pytest.mark.timeout(60)


def install_kernelspec(data_dir: str, name: str, argv: list[str]) -> None:
    folder = os.path.join(data_dir, "kernels", name)
    os.makedirs(folder)
    with open(os.path.join(folder, "kernel.json"), "w") as handle:
        json.dump({"argv": argv, "display_name": name, "language": "python"}, handle)


@pytest.mark.gen_test(timeout=60)
async def test_start_get_and_list_kernel(api, start_kernel):
    model = await start_kernel(name="python3")
    assert set(model) == {"id", "name", "last_activity", "execution_state", "connections"}
    assert model["name"] == "python3"
    assert model["execution_state"] == "idle"
    assert model["connections"] == 0
    assert model["last_activity"].endswith("Z")
    listed = (await api.get("api/kernels")).json()
    assert [kernel["id"] for kernel in listed] == [model["id"]]
    one = await api.get(f"api/kernels/{model['id']}")
    assert one.status == 200 and one.json()["id"] == model["id"]


@pytest.mark.gen_test(timeout=60)
async def test_post_without_name_starts_default_kernel_and_sets_location(api):
    response = await api.post("api/kernels")
    assert response.status == 201
    model = response.json()
    assert model["name"] == "python3"
    assert response.headers["Location"] == f"/api/kernels/{model['id']}"


@pytest.mark.gen_test(timeout=30)
async def test_unknown_kernel_id_is_404_json(api):
    kernel_id = str(uuid.uuid4())
    for method, path in (("GET", ""), ("DELETE", ""), ("POST", "/interrupt"), ("POST", "/restart")):
        response = await api.request(method, f"api/kernels/{kernel_id}{path}")
        assert response.status == 404, (method, path)
        assert kernel_id in response.json()["message"]
        assert response.json()["reason"] == "Not Found"


@pytest.mark.gen_test(timeout=30)
async def test_unknown_kernel_name_is_400(api):
    response = await api.post("api/kernels", {"name": "no-such-kernel"})
    assert response.status == 400
    assert "no-such-kernel" in response.json()["message"]


@pytest.mark.gen_test(timeout=30)
async def test_non_string_name_is_400(api):
    response = await api.post("api/kernels", {"name": 3})
    assert response.status == 400


@pytest.mark.gen_test(timeout=30)
async def test_path_outside_root_is_refused(api):
    response = await api.post("api/kernels", {"path": "../elsewhere"})
    assert response.status == 400


@pytest.mark.gen_test(timeout=60)
async def test_delete_kernel_is_204_and_removes_it(api, start_kernel):
    model = await start_kernel()
    response = await api.delete(f"api/kernels/{model['id']}")
    assert response.status == 204
    assert (await api.get(f"api/kernels/{model['id']}")).status == 404
    assert (await api.get("api/kernels")).json() == []


@pytest.mark.gen_test(timeout=60)
async def test_status_counts_running_kernels(api, start_kernel):
    await start_kernel()
    status = (await api.get("api/status")).json()
    assert status["kernels"] == 1
    assert status["connections"] == 0


@pytest.mark.gen_test(timeout=30)
async def test_kernel_that_exits_at_start_gives_a_clear_error(api, jupyter_env):
    install_kernelspec(jupyter_env["data"], "exits", [sys.executable, "-c", "import sys; sys.exit(3)"])
    started = time.monotonic()
    response = await api.post("api/kernels", {"name": "exits"})
    assert response.status == 500
    assert "failed to start" in response.json()["message"]
    assert time.monotonic() - started < 10
    assert (await api.get("api/kernels")).json() == []


@pytest.mark.gen_test(timeout=30)
async def test_kernel_command_that_does_not_exist_gives_a_clear_error(api, jupyter_env):
    install_kernelspec(jupyter_env["data"], "missing", ["/nonexistent/kernel-binary", "{connection_file}"])
    response = await api.post("api/kernels", {"name": "missing"})
    assert response.status == 500
    body = response.json()
    assert "failed to start" in body["message"]
    assert "/nonexistent" not in body["message"]


@pytest.mark.gen_test(timeout=30)
async def test_kernel_that_never_answers_times_out(api, server_app, jupyter_env):
    server_app.kernel_manager.kernel_info_timeout = 2
    install_kernelspec(jupyter_env["data"], "silent", [sys.executable, "-c", "import time; time.sleep(600)"])
    started = time.monotonic()
    response = await api.post("api/kernels", {"name": "silent"})
    assert response.status == 500
    assert "did not answer within 2 s" in response.json()["message"]
    assert time.monotonic() - started < 10


def test_kernel_manager_is_configurable_from_the_app(server_app):
    assert isinstance(server_app.kernel_manager, MappingKernelManager)
    assert server_app.kernel_manager.root_dir == server_app.root_dir
