"""Moves to the trash requested together run as one group commit (FileServices._trash_many),
each with the outcome it would have alone: every item lands in the trash and can be restored,
a failing item fails alone, and an item inside another of the same batch waits for it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from nbserver.errors import NotFound
from tests.services.files.test_handlers import file_id, save
from tests.support.api_client import APIClient

pytestmark = pytest.mark.sqlite_only  # the PostgreSQL services move to the trash in one transaction each


async def held_then_released(services: Any, *requests: Any) -> list[Any]:
    """Send ``requests`` (awaitables) while a rename holds the move lock, so that they queue and
    go in one batch, in the order given; their responses once it is released."""
    waiting = services._trash_batches._waiting
    async with services._moving:
        tasks = []
        for request in requests:
            queued = len(waiting)
            tasks.append(asyncio.ensure_future(request))
            # Each joins the batch before the next is sent, so the batch keeps their order (sent at
            # once, their order of arrival was the connections'). Bounded: a request refused before
            # it queues goes on after 3 s.
            for _ in range(300):
                if len(waiting) > queued:
                    break
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
    return await asyncio.gather(*tasks, return_exceptions=True)


@pytest.mark.gen_test(timeout=60)
async def test_deletes_sent_together_go_to_the_trash_in_one_batch(api: APIClient, server_app: Any,
                                                                  root_dir: Path) -> None:
    names = [f"n{index}.ipynb" for index in range(5)]
    for name in names:
        await save(api, name)
    ids = {name: await file_id(api, name) for name in names}
    services = server_app.file_services
    responses = await held_then_released(services, *(api.delete(f"api/contents/{name}") for name in names))
    assert [response.status for response in responses] == [204] * 5
    assert max(services._trash_batches.batch_sizes) == 5
    assert not any((root_dir / name).exists() for name in names)
    listed = (await api.get("api/trash")).json()
    assert listed["total"] == 5
    for name in names:
        restored = await api.post(f"api/files/{ids[name]}/restore")
        assert restored.status == 200 and restored.json()["path"] == name
        assert (root_dir / name).is_file()


@pytest.mark.gen_test(timeout=60)
async def test_one_failing_item_of_a_batch_fails_alone(api: APIClient, server_app: Any, root_dir: Path) -> None:
    await save(api, "kept.txt", "k")
    await save(api, "gone.txt", "g")
    services = server_app.file_services
    kept, gone = (await services.record_for_path("kept.txt")), (await services.record_for_path("gone.txt"))
    (root_dir / "gone.txt").unlink()  # removed behind the server's back after it was resolved
    results = await held_then_released(services, services.trash(kept, "me"), services.trash(gone, "me"))
    assert results[0].state == "trashed" and not (root_dir / "kept.txt").exists()
    assert isinstance(results[1], NotFound)
    assert (await api.get("api/trash")).json()["total"] == 1  # the failed one left no entry behind


@pytest.mark.gen_test(timeout=60)
async def test_a_folder_and_an_item_inside_it_in_one_batch_act_one_after_the_other(
        api: APIClient, server_app: Any, root_dir: Path) -> None:
    (root_dir / "d").mkdir()
    await save(api, "d/x.txt", "x")
    await save(api, "d2.txt", "y")  # a name that starts like the folder's but is not inside it
    services = server_app.file_services
    responses = await held_then_released(services, api.post("api/trash", {"path": "d"}),
                                         api.post("api/trash", {"path": "d/x.txt"}),
                                         api.post("api/trash", {"path": "d2.txt"}))
    assert [response.status for response in responses] == [200, 200, 200], [r.body for r in responses]
    assert all(response.json()["trashed"] for response in responses)
    assert not (root_dir / "d").exists() and not (root_dir / "d2.txt").exists()
    assert services._trash_batches.batch_sizes[-1] == 3
    folder = await api.post(f"api/files/{responses[0].json()['id']}/restore")
    assert folder.status == 200 and (root_dir / "d" / "x.txt").read_text() == "x"
