"""What a client decides about a kernel it starts: its environment, working folder and id, and the
notebook a session's kernel knows it runs for (JPY_SESSION_NAME, IPython's __session__)."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from traitlets.config import Config

from tests.services.kernels.test_pool import filled_pool, pool_config

pytestmark = pytest.mark.timeout(120)

PRINT_ENV = ("import json, os; print(json.dumps({name: os.environ.get(name) for name in "
             "('KERNEL_USERNAME', 'KERNEL_WORKING_DIR', 'ALLOWED_VAR', 'SECRET_VAR', 'JPY_SESSION_NAME')}))")
PRINT_PLACE = "import json, os; print(json.dumps({'cwd': os.getcwd(), 'session': globals().get('__session__')}))"


async def run_json(connect: Any, kernel_id: str, code: str) -> Any:
    result = await (await connect(kernel_id)).run(code)
    assert result.reply["content"]["status"] == "ok", result.reply["content"]
    return json.loads(result.stdout)


@pytest.fixture
def server_config() -> dict[str, Any]:
    return {"config": Config({"MappingKernelManager": {"kernel_env_allowlist": ["ALLOWED_VAR"]}})}


@pytest.fixture
def subfolder(root_dir: Path) -> Path:
    folder = root_dir / "work" / "sub"
    folder.mkdir(parents=True)
    return folder


@pytest.mark.gen_test(timeout=120)
async def test_kernel_star_variables_and_the_allow_list_reach_the_kernel(start_kernel, connect):
    env = {"KERNEL_USERNAME": "ada", "ALLOWED_VAR": "yes", "SECRET_VAR": "dropped"}
    model = await start_kernel(env=env)
    seen = await run_json(connect, model["id"], PRINT_ENV)
    assert (seen["KERNEL_USERNAME"], seen["ALLOWED_VAR"], seen["SECRET_VAR"]) == ("ada", "yes", None)


@pytest.mark.gen_test(timeout=60)
@pytest.mark.parametrize("env", [["KERNEL_X"], "KERNEL_X=1", {"KERNEL_X": 1}, {"KERNEL_X": None}])
async def test_env_that_is_not_an_object_of_strings_is_400_and_starts_nothing(api, env):
    response = await api.post("api/kernels", {"env": env})
    assert response.status == 400 and "'env'" in response.json()["message"]
    assert (await api.get("api/kernels")).json() == []


@pytest.mark.gen_test(timeout=120)
@pytest.mark.parametrize("relative", [False, True])
async def test_kernel_working_dir_inside_the_root_is_the_kernels_folder(start_kernel, connect, root_dir, subfolder,
                                                                        relative):
    value = "work/sub" if relative else str(subfolder)
    model = await start_kernel(env={"KERNEL_WORKING_DIR": value})
    assert (await run_json(connect, model["id"], PRINT_PLACE))["cwd"] == os.path.realpath(subfolder)


@pytest.mark.gen_test(timeout=120)
async def test_kernel_working_dir_outside_the_root_is_ignored(start_kernel, connect, root_dir, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    for value in (str(outside), "../outside", str(root_dir / "no-such-folder")):
        model = await start_kernel(env={"KERNEL_WORKING_DIR": value})
        assert (await run_json(connect, model["id"], PRINT_PLACE))["cwd"] == os.path.realpath(root_dir), value


@pytest.mark.gen_test(timeout=120)
async def test_a_client_chosen_id_is_the_kernels_id_and_asking_again_answers_that_kernel(api):
    kernel_id = str(uuid.uuid4())
    first = await api.post("api/kernels", {"id": kernel_id})
    assert first.status == 201 and first.json()["id"] == kernel_id
    assert first.headers["Location"] == f"/api/kernels/{kernel_id}"
    again = await api.post("api/kernels", {"id": kernel_id})
    assert again.status == 201 and again.json()["id"] == kernel_id
    assert [kernel["id"] for kernel in (await api.get("api/kernels")).json()] == [kernel_id]


@pytest.mark.gen_test(timeout=60)
@pytest.mark.parametrize("kernel_id", ["1-2-3-4-5", "not-a-uuid", 5, "../../etc"])
async def test_a_client_chosen_id_that_is_not_a_uuid_is_400(api, kernel_id):
    response = await api.post("api/kernels", {"id": kernel_id})
    assert response.status == 400
    assert (await api.get("api/kernels")).json() == []


@pytest.mark.gen_test(timeout=30)
async def test_unknown_kernel_is_404_in_jupyters_words(api):
    kernel_id = str(uuid.uuid4())
    response = await api.get(f"api/kernels/{kernel_id}")
    assert response.status == 404 and response.json()["message"] == f"Kernel does not exist: {kernel_id}"


@pytest.mark.gen_test(timeout=120)
async def test_a_session_naming_a_kernel_id_no_kernel_has_starts_one_with_that_id(api):
    kernel_id = str(uuid.uuid4())
    response = await api.post("api/sessions", {"path": "nb.ipynb", "type": "notebook", "kernel": {"id": kernel_id}})
    assert response.status == 201 and response.json()["kernel"]["id"] == kernel_id
    assert [kernel["id"] for kernel in (await api.get("api/kernels")).json()] == [kernel_id]


async def session_place(api: Any, connect: Any, path: str) -> tuple[dict[str, Any], dict[str, Any], Any]:
    response = await api.post("api/sessions", {"path": path, "type": "notebook", "kernel": {"name": "python3"}})
    assert response.status == 201, response.body
    session = response.json()
    kernel_id = session["kernel"]["id"]
    return session, await run_json(connect, kernel_id, PRINT_PLACE), await run_json(connect, kernel_id, PRINT_ENV)


@pytest.mark.gen_test(timeout=120)
async def test_a_sessions_kernel_knows_its_notebook_and_learns_a_rename_at_restart(api, connect, root_dir, subfolder):
    notebook = os.path.join(os.path.realpath(root_dir), "work", "sub", "nb.ipynb")
    session, place, env = await session_place(api, connect, "work/sub/nb.ipynb")
    assert place["session"] == notebook and env["JPY_SESSION_NAME"] == notebook
    assert (await api.put("api/contents/work/sub/nb.ipynb", {"type": "notebook", "content": {
        "cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}})).status == 201
    assert (await api.patch("api/contents/work", {"path": "moved"})).status == 200
    kernel_id = session["kernel"]["id"]
    assert (await api.post(f"api/kernels/{kernel_id}/restart")).status == 200
    renamed = os.path.join(os.path.realpath(root_dir), "moved", "sub", "nb.ipynb")
    assert (await run_json(connect, kernel_id, PRINT_PLACE))["session"] == renamed


@pytest.mark.gen_test(timeout=120)
async def test_a_session_patch_to_a_new_path_reaches_the_kernel_at_restart(api, connect, root_dir):
    session, _, _ = await session_place(api, connect, "a.ipynb")
    assert (await api.patch(f"api/sessions/{session['id']}", {"path": "b.ipynb"})).status == 200
    kernel_id = session["kernel"]["id"]
    assert (await api.post(f"api/kernels/{kernel_id}/restart")).status == 200
    seen = await run_json(connect, kernel_id, PRINT_ENV)
    assert seen["JPY_SESSION_NAME"] == os.path.join(os.path.realpath(root_dir), "b.ipynb")


class TestFromThePool:
    @pytest.fixture
    def server_config(self) -> dict[str, Any]:
        return pool_config()

    @pytest.mark.gen_test(timeout=120)
    async def test_a_pooled_sessions_kernel_knows_its_notebook_too(self, api, connect, server_app, http_server,
                                                                   root_dir, subfolder):
        manager = server_app.kernel_manager
        await filled_pool(manager)
        session, place, env = await session_place(api, connect, "work/sub/nb.ipynb")
        assert manager.pooled_kernel_count() == 0, "the kernel did not come from the pool"
        notebook = os.path.join(os.path.realpath(root_dir), "work", "sub", "nb.ipynb")
        assert place == {"cwd": os.path.realpath(subfolder), "session": notebook}
        assert env["JPY_SESSION_NAME"] == notebook
        kernel_id = session["kernel"]["id"]
        assert (await api.post(f"api/kernels/{kernel_id}/restart")).status == 200
        assert (await run_json(connect, kernel_id, PRINT_PLACE)) == {"cwd": os.path.realpath(subfolder),
                                                                      "session": notebook}


@pytest.mark.gen_test(timeout=120)
async def test_a_client_chosen_id_in_jupyter_servers_kernel_id_field_is_the_kernels_id(api):
    kernel_id = str(uuid.uuid4())
    response = await api.post("api/kernels", {"kernel_id": kernel_id})
    assert response.status == 201 and response.json()["id"] == kernel_id
    assert [kernel["id"] for kernel in (await api.get("api/kernels")).json()] == [kernel_id]


@pytest.mark.gen_test(timeout=60)
async def test_id_and_kernel_id_naming_different_kernels_is_400(api):
    response = await api.post("api/kernels", {"id": str(uuid.uuid4()), "kernel_id": str(uuid.uuid4())})
    assert response.status == 400
    assert (await api.get("api/kernels")).json() == []
