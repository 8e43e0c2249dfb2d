"""Two requests on the same id at once: trash and restore stay idempotent, a purge is 204 then 404.

Design section 3.6: "Already trashed -> 200 with the same File (same trashed_at): idempotent";
"Not trashed -> 200 unchanged (idempotent)"; permanent_delete "then 204; a second call -> 404".
Both requests resolve the id before either changes anything, so the second one must act on the
record as it is when its turn comes, not as it was when it was resolved.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.services.files.test_handlers import file_id, save
from tests.support.api_client import APIClient


@pytest.mark.gen_test
async def test_two_trashes_at_once_both_answer_the_same_file(api: APIClient, root_dir: Path) -> None:
    await save(api, "a.txt", "a")
    fid = await file_id(api, "a.txt")
    first, second = await asyncio.gather(api.post(f"api/files/{fid}/trash"), api.post(f"api/files/{fid}/trash"))
    assert (first.status, second.status) == (200, 200), (first.body, second.body)
    assert first.json() == second.json() and first.json()["trashed"] is True
    assert (await api.get("api/trash")).json()["total"] == 1


@pytest.mark.gen_test
async def test_two_trashes_by_path_at_once_both_answer_the_same_file(api: APIClient) -> None:
    await save(api, "a.txt", "a")
    first, second = await asyncio.gather(api.post("api/trash", {"path": "a.txt"}),
                                         api.post("api/trash", {"path": "a.txt"}))
    assert (first.status, second.status) == (200, 200), (first.body, second.body)
    assert first.json() == second.json()


@pytest.mark.gen_test
async def test_two_restores_at_once_both_answer_200(api: APIClient, root_dir: Path) -> None:
    await save(api, "a.txt", "a")
    fid = await file_id(api, "a.txt")
    assert (await api.post(f"api/files/{fid}/trash")).status == 200
    first, second = await asyncio.gather(api.post(f"api/files/{fid}/restore"), api.post(f"api/files/{fid}/restore"))
    assert (first.status, second.status) == (200, 200), (first.body, second.body)
    assert first.json()["path"] == second.json()["path"] == "a.txt"
    assert (root_dir / "a.txt").read_text() == "a"
    assert sorted(p.name for p in root_dir.iterdir() if not p.name.startswith(".")) == ["a.txt"]


@pytest.mark.gen_test
async def test_two_permanent_deletes_at_once_are_204_and_404(api: APIClient) -> None:
    await save(api, "a.txt", "a")
    fid = await file_id(api, "a.txt")
    assert (await api.post(f"api/files/{fid}/trash")).status == 200
    answers = await asyncio.gather(api.delete(f"api/files/{fid}/permanent_delete"),
                                   api.delete(f"api/files/{fid}/permanent_delete"))
    assert sorted(answer.status for answer in answers) == [204, 404], [answer.body for answer in answers]


@pytest.mark.gen_test(timeout=60)
async def test_a_rename_racing_a_trash_is_either_before_it_or_409_trashed(api: APIClient, root_dir: Path) -> None:
    """PATCH (rename) and trash on one id at once: the rename happened first (200, and the trash
    took the renamed item), or it came second and is refused as for any trashed item (409
    ``trashed``); never a 404 for an id that exists. Several rounds, as the order varies."""
    for round_number in range(12):
        name = f"a{round_number}.txt"
        await save(api, name, "a")
        fid = await file_id(api, name)
        renamed, trashed = await asyncio.gather(api.patch(f"api/files/{fid}", {"name": f"b{round_number}.txt"}),
                                                api.post(f"api/files/{fid}/trash"))
        assert trashed.status == 200, trashed.body
        model = (await api.get(f"api/files/{fid}")).json()
        assert model["trashed"] is True
        if renamed.status == 200:
            assert renamed.json()["path"] == f"b{round_number}.txt"
            assert model["path"] == f"b{round_number}.txt"
        else:
            assert (renamed.status, renamed.json().get("code")) == (409, "trashed"), renamed.body
            assert model["path"] == name
        assert not (root_dir / name).exists() and not (root_dir / f"b{round_number}.txt").exists()
