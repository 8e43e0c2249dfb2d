"""The checkpoint history over the REST API of a real server: kept in time order, bounded,
restorable and deletable one by one, compared cell by cell, and carried by renames and the trash."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat
import pytest

from tests.support.api_client import APIClient

HISTORY_SIZE = 4


@pytest.fixture
def server_config() -> dict[str, Any]:
    from traitlets.config import Config

    config = Config()
    config.FileCheckpoints.checkpoint_history_size = HISTORY_SIZE
    return {"config": config}


def notebook(*sources: str) -> dict[str, Any]:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    return dict(nb)


async def save(api: APIClient, path: str, content: dict[str, Any]) -> bytes:
    response = await api.put(f"api/contents/{path}", {"type": "notebook", "content": content})
    assert response.status in (200, 201), response.body
    return response.body


async def checkpoint(api: APIClient, path: str) -> dict[str, Any]:
    response = await api.post(f"api/contents/{path}/checkpoints")
    assert response.status == 201, response.body
    return dict(response.json())


async def ids(api: APIClient, path: str) -> list[str]:
    """The ids newest first (the API lists oldest first, the latest last, as Jupyter clients expect)."""
    response = await api.get(f"api/contents/{path}/checkpoints")
    assert response.status == 200, response.body
    return [entry["id"] for entry in reversed(response.json())]


async def versions(api: APIClient, root_dir: Path, path: str, count: int) -> list[bytes]:
    """Save and checkpoint ``count`` versions; their bytes, oldest first."""
    saved = []
    for number in range(count):
        await save(api, path, notebook(f"version = {number}"))
        saved.append((root_dir / path).read_bytes())
        await checkpoint(api, path)
    return saved


@pytest.mark.gen_test(timeout=60)
async def test_every_checkpoint_is_kept_in_time_order_with_checkpoint_the_latest_and_last(api, root_dir):
    await versions(api, root_dir, "a.ipynb", 3)
    response = await api.get("api/contents/a.ipynb/checkpoints")
    assert response.json()[-1]["id"] == "checkpoint"  # JupyterLab reverts to the last entry
    listed = await ids(api, "a.ipynb")
    assert len(listed) == 3 and listed[0] == "checkpoint"
    assert listed[1] > listed[2]  # opaque, but they sort by time
    assert len(set(listed)) == 3


@pytest.mark.gen_test(timeout=60)
async def test_restoring_the_third_newest_gives_its_exact_bytes(api, root_dir):
    saved = await versions(api, root_dir, "a.ipynb", 4)
    await save(api, "a.ipynb", notebook("unsaved = 'work'"))
    third_newest = (await ids(api, "a.ipynb"))[2]
    assert (await api.post(f"api/contents/a.ipynb/checkpoints/{third_newest}")).status == 204
    assert (root_dir / "a.ipynb").read_bytes() == saved[1]
    assert len(await ids(api, "a.ipynb")) == 4  # restoring takes none away
    assert (await api.post("api/contents/a.ipynb/checkpoints/checkpoint")).status == 204
    assert (root_dir / "a.ipynb").read_bytes() == saved[3]


@pytest.mark.gen_test(timeout=60)
async def test_the_history_is_bounded_and_drops_the_oldest(api, root_dir):
    saved = await versions(api, root_dir, "a.ipynb", HISTORY_SIZE + 3)
    listed = await ids(api, "a.ipynb")
    assert len(listed) == HISTORY_SIZE
    oldest = listed[-1]
    assert (await api.post(f"api/contents/a.ipynb/checkpoints/{oldest}")).status == 204
    assert (root_dir / "a.ipynb").read_bytes() == saved[-HISTORY_SIZE]


@pytest.mark.gen_test(timeout=60)
async def test_one_checkpoint_can_be_deleted_and_the_others_stay(api, root_dir):
    saved = await versions(api, root_dir, "a.ipynb", 3)
    latest, middle, oldest = await ids(api, "a.ipynb")
    assert (await api.delete(f"api/contents/a.ipynb/checkpoints/{middle}")).status == 204
    assert await ids(api, "a.ipynb") == [latest, oldest]
    assert (await api.delete(f"api/contents/a.ipynb/checkpoints/{middle}")).status == 404
    assert (await api.post(f"api/contents/a.ipynb/checkpoints/{oldest}")).status == 204
    assert (root_dir / "a.ipynb").read_bytes() == saved[0]


@pytest.mark.gen_test(timeout=60)
async def test_deleting_the_latest_makes_the_next_newest_checkpoint(api, root_dir):
    saved = await versions(api, root_dir, "a.ipynb", 2)
    assert (await api.delete("api/contents/a.ipynb/checkpoints/checkpoint")).status == 204
    assert await ids(api, "a.ipynb") == ["checkpoint"]
    assert (await api.post("api/contents/a.ipynb/checkpoints/checkpoint")).status == 204
    assert (root_dir / "a.ipynb").read_bytes() == saved[0]
    assert (await api.delete("api/contents/a.ipynb/checkpoints/checkpoint")).status == 204
    assert await ids(api, "a.ipynb") == []
    assert not (root_dir / ".ipynb_checkpoints" / "a.ipynb.history").exists()


@pytest.mark.gen_test(timeout=60)
async def test_ids_that_are_not_checkpoints_are_404(api, root_dir):
    await versions(api, root_dir, "a.ipynb", 2)
    for bad in ("..", "nope", "20261129T000000000000Z", "%2E%2E"):
        for method in ("POST", "DELETE"):
            response = await api.request(method, f"api/contents/a.ipynb/checkpoints/{bad}")
            assert response.status == 404, (bad, method)
    assert (await api.get("api/contents/a.ipynb/checkpoints/../diff")).status in (400, 404)


@pytest.mark.gen_test(timeout=60)
async def test_checkpoints_follow_a_rename_and_a_move(api, root_dir):
    saved = await versions(api, root_dir, "a.ipynb", 3)
    before = await ids(api, "a.ipynb")
    (root_dir / "sub").mkdir()
    assert (await api.patch("api/contents/a.ipynb", {"path": "sub/b.ipynb"})).status == 200
    assert await ids(api, "sub/b.ipynb") == before
    assert not (root_dir / ".ipynb_checkpoints" / "a.ipynb.history").exists()
    assert (await api.post(f"api/contents/sub/b.ipynb/checkpoints/{before[2]}")).status == 204
    assert (root_dir / "sub" / "b.ipynb").read_bytes() == saved[0]


@pytest.mark.gen_test(timeout=60)
async def test_checkpoints_go_to_the_trash_and_come_back(api, root_dir):
    saved = await versions(api, root_dir, "a.ipynb", 3)
    before = await ids(api, "a.ipynb")
    file_id = (await api.get("api/files/lookup", params={"path": "a.ipynb"})).json()["id"]
    assert (await api.post(f"api/files/{file_id}/trash")).status == 200
    assert not (root_dir / ".ipynb_checkpoints" / "a-checkpoint.ipynb").exists()
    assert not (root_dir / ".ipynb_checkpoints" / "a.ipynb.history").exists()
    assert (await api.post(f"api/files/{file_id}/restore")).status == 200
    assert await ids(api, "a.ipynb") == before
    assert (await api.post(f"api/contents/a.ipynb/checkpoints/{before[2]}")).status == 204
    assert (root_dir / "a.ipynb").read_bytes() == saved[0]


@pytest.mark.gen_test(timeout=60)
async def test_checkpoints_come_back_under_a_restored_new_name(api, root_dir):
    await versions(api, root_dir, "a.ipynb", 2)
    before = await ids(api, "a.ipynb")
    file_id = (await api.get("api/files/lookup", params={"path": "a.ipynb"})).json()["id"]
    assert (await api.post(f"api/files/{file_id}/trash")).status == 200
    await save(api, "a.ipynb", notebook("newcomer"))
    restored = await api.post(f"api/files/{file_id}/restore", {"on_conflict": "rename"})
    assert restored.status == 200
    assert await ids(api, restored.json()["path"]) == before
    assert await ids(api, "a.ipynb") == []


@pytest.mark.gen_test(timeout=60)
async def test_deleting_the_file_deletes_its_history(api, root_dir, server_app):
    server_app.contents_manager.delete_to_trash = False
    await versions(api, root_dir, "a.ipynb", 3)
    assert (await api.delete("api/contents/a.ipynb")).status == 204
    assert list((root_dir / ".ipynb_checkpoints").iterdir()) == []


@pytest.mark.gen_test(timeout=60)
async def test_diff_compares_the_checkpoint_cell_by_cell_with_the_notebook_now(api, root_dir):
    await save(api, "a.ipynb", notebook("a = 1", "b = 2", "c = 3"))
    await checkpoint(api, "a.ipynb")
    await save(api, "a.ipynb", notebook("a = 1", "b = 20", "d = 4"))
    response = await api.get("api/contents/a.ipynb/checkpoints/checkpoint/diff")
    assert response.status == 200, response.body
    diff = response.json()
    assert diff["checkpoint_id"] == "checkpoint" and diff["path"] == "a.ipynb"
    assert diff["summary"] == {"added": 0, "removed": 0, "modified": 2, "unchanged": 1}
    first, second, third = diff["cells"]
    assert first == {"status": "unchanged", "cell_type": "code", "checkpoint_index": 0, "current_index": 0,
                     "source_diff": [], "outputs_changed": False}
    assert second["status"] == "modified" and "-b = 2" in second["source_diff"] and "+b = 20" in second["source_diff"]
    assert third["checkpoint_index"] == 2 and third["current_index"] == 2


@pytest.mark.gen_test(timeout=60)
async def test_diff_reports_added_and_removed_cells_against_an_older_checkpoint(api, root_dir):
    await save(api, "a.ipynb", notebook("one", "two"))
    await checkpoint(api, "a.ipynb")
    await save(api, "a.ipynb", notebook("one", "two", "three"))
    await checkpoint(api, "a.ipynb")
    await save(api, "a.ipynb", notebook("two", "three", "four"))
    older = (await ids(api, "a.ipynb"))[1]
    diff = (await api.get(f"api/contents/a.ipynb/checkpoints/{older}/diff")).json()
    assert [(c["status"], c["checkpoint_index"], c["current_index"]) for c in diff["cells"]] == [
        ("removed", 0, None), ("unchanged", 1, 0), ("added", None, 1), ("added", None, 2)]


@pytest.mark.gen_test(timeout=60)
async def test_diff_errors(api, root_dir):
    (root_dir / "t.txt").write_text("x")
    assert (await api.post("api/contents/t.txt/checkpoints")).status == 201
    assert (await api.get("api/contents/t.txt/checkpoints/checkpoint/diff")).status == 400
    await save(api, "a.ipynb", notebook("x"))
    assert (await api.get("api/contents/a.ipynb/checkpoints/checkpoint/diff")).status == 404
    assert (await api.get("api/contents/missing.ipynb/checkpoints/checkpoint/diff")).status == 404
    body = (await api.get("api/contents/a.ipynb/checkpoints/checkpoint/diff")).json()
    assert set(body) >= {"message", "reason"} and str(root_dir) not in json.dumps(body)
