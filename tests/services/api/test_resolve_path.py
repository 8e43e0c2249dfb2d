"""GET /api/resolvePath: what a path names on the server and for a kernel, inside the root only."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest


@pytest.fixture
def tree(root_dir: Path) -> Path:
    (root_dir / "data").mkdir()
    (root_dir / "data" / "table.csv").write_text("a,b\n")
    (root_dir / "top.txt").write_text("x")
    (root_dir / ".hidden.txt").write_text("secret")
    return root_dir


async def resolve(api, **params: str) -> dict:
    response = await api.get("api/resolvePath", params=params)
    assert response.status == 200, response.body
    return response.json()


@pytest.mark.gen_test(timeout=30)
async def test_relative_paths_resolve_to_api_paths_with_dots_normalised(api, tree):
    for asked, expected in (("data/table.csv", "data/table.csv"), ("data/../top.txt", "top.txt"),
                            ("./data/./table.csv", "data/table.csv"), ("data", "data"), (".", "")):
        assert (await resolve(api, path=asked)) == {"resolved": [{"scope": "server", "path": expected}]}, asked


@pytest.mark.gen_test(timeout=30)
async def test_an_absolute_path_inside_the_root_resolves(api, tree):
    absolute = os.path.join(os.path.realpath(tree), "data", "table.csv")
    assert (await resolve(api, path=absolute))["resolved"] == [{"scope": "server", "path": "data/table.csv"}]


@pytest.mark.gen_test(timeout=30)
async def test_a_home_path_inside_the_root_resolves(api, tree, monkeypatch):
    monkeypatch.setenv("HOME", str(tree / "data"))
    assert (await resolve(api, path="~/table.csv"))["resolved"] == [{"scope": "server", "path": "data/table.csv"}]


@pytest.mark.gen_test(timeout=30)
async def test_nothing_outside_the_root_or_missing_or_hidden_is_disclosed(api, tree, tmp_path):
    (tmp_path / "outside.txt").write_text("out")
    os.symlink(tmp_path / "outside.txt", tree / "link-out.txt")
    for asked in ("../outside.txt", str(tmp_path / "outside.txt"), "/etc/passwd", "~/../../etc/passwd",
                  "link-out.txt", "missing.txt", ".hidden.txt", "data/../../outside.txt", "a\x00b"):
        assert (await resolve(api, path=asked)) == {"resolved": []}, asked


@pytest.mark.gen_test(timeout=30)
async def test_path_is_required(api):
    response = await api.get("api/resolvePath")
    assert response.status == 400 and set(response.json()) == {"message", "reason"}


@pytest.mark.gen_test(timeout=90)
async def test_the_kernel_scope_starts_in_the_kernels_folder(api, tree, tmp_path):
    started = await api.post("api/kernels", {"path": "data/analysis.ipynb"})
    kernel_id = started.json()["id"]
    answer = await resolve(api, path="table.csv", kernel=kernel_id)
    real_csv = os.path.join(os.path.realpath(tree), "data", "table.csv")
    assert answer == {"resolved": [{"scope": "kernel", "path": real_csv}]}  # not at the root: no server entry
    both = await resolve(api, path="data/table.csv", kernel=kernel_id)
    assert both["resolved"] == [{"scope": "server", "path": "data/table.csv"}]  # data/data/table.csv: none
    up = await resolve(api, path="../top.txt", kernel=kernel_id)
    assert up["resolved"] == [{"scope": "kernel", "path": os.path.join(os.path.realpath(tree), "top.txt")}]
    (tmp_path / "outside.txt").write_text("out")
    assert (await resolve(api, path="../../outside.txt", kernel=kernel_id)) == {"resolved": []}


@pytest.mark.gen_test(timeout=30)
async def test_an_unknown_kernel_is_reported_unresolved(api, tree):
    kernel_id = str(uuid.uuid4())
    answer = await resolve(api, path="top.txt", kernel=kernel_id)
    assert answer["resolved"] == [{"scope": "server", "path": "top.txt"}]
    assert answer["unresolved"] == [{"scope": "kernel", "reason": f"Kernel {kernel_id} could not be found"}]
