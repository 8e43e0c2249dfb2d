"""The retention sweep (checklist 29): items trashed longer ago than trash_retention_days are purged."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.services.files.test_handlers import file_id, save
from tests.support.api_client import APIClient


def backdate(server_app: Any, root_dir: Path, file_id: str, when: str) -> None:
    """Make a trash record older, in the database of the server's metadata store."""
    if server_app.database.configured:
        with server_app.database.connect(autocommit=True) as conn:
            conn.execute("UPDATE fs_trash SET trashed_at = %s WHERE file_id = %s", (when, file_id))
        return
    with sqlite3.connect(root_dir / ".nbserver" / "meta.sqlite") as db:
        db.execute("UPDATE trash SET trashed_at = ? WHERE file_id = ?", (when, file_id))


@pytest.mark.gen_test(timeout=30)
async def test_sweep_purges_only_expired_items(api: APIClient, server_app: Any, root_dir: Path) -> None:
    await save(api, "old.txt", "old")
    await save(api, "young.txt", "young")
    old, young = await file_id(api, "old.txt"), await file_id(api, "young.txt")
    for fid in (old, young):
        assert (await api.post(f"api/files/{fid}/trash")).status == 200
    backdate(server_app, root_dir, old, "2000-01-01T00:00:00.000000Z")
    services = server_app.file_services
    services.trash_sweep_interval = 0.1
    services.start_background()
    try:
        for _ in range(100):
            if (await api.get("api/trash")).json()["total"] == 1:
                break
            await asyncio.sleep(0.05)
    finally:
        await services.stop_background()
    assert [item["id"] for item in (await api.get("api/trash")).json()["items"]] == [young]
    assert (await api.get(f"api/files/{old}")).status == 404
    assert [p.name for p in (root_dir / ".nbserver" / "trash").glob("*/*.txt")] == ["young.txt"]


@pytest.mark.gen_test
async def test_retention_zero_keeps_everything(api: APIClient, server_app: Any, root_dir: Path) -> None:
    await save(api, "old.txt", "old")
    fid = await file_id(api, "old.txt")
    assert (await api.post(f"api/files/{fid}/trash")).status == 200
    backdate(server_app, root_dir, fid, "2000-01-01T00:00:00.000000Z")
    server_app.file_services.trash_retention_days = 0
    assert await server_app.file_services.sweep_trash() == 0
    listing = (await api.get("api/trash")).json()
    assert listing["total"] == 1 and listing["items"][0]["expires_at"] is None


async def trash_file(api: APIClient, name: str, size: int) -> str:
    await save(api, name, "x" * size)
    fid = await file_id(api, name)
    response = await api.post(f"api/files/{fid}/trash")
    assert response.status == 200, response.body
    return fid


@pytest.mark.gen_test
async def test_trash_past_max_bytes_purges_the_oldest_items(api: APIClient, server_app: Any, root_dir: Path) -> None:
    server_app.file_services.trash_max_bytes = 100
    first = await trash_file(api, "first.txt", 40)
    second = await trash_file(api, "second.txt", 40)
    backdate(server_app, root_dir, first, "2020-01-01T00:00:00.000000Z")  # the order does not hang on the clock's resolution
    third = await trash_file(api, "third.txt", 40)  # 120 bytes: the oldest goes
    listing = (await api.get("api/trash")).json()
    assert [item["id"] for item in listing["items"]] == [third, second]
    assert listing["total_size"] == 80
    assert (await api.get(f"api/files/{first}")).status == 404
    assert sorted(p.name for p in (root_dir / ".nbserver" / "trash").glob("*/*.txt")) == ["second.txt", "third.txt"]


@pytest.mark.gen_test
async def test_the_sweep_enforces_a_lowered_max_bytes(api: APIClient, server_app: Any, root_dir: Path) -> None:
    old, young = await trash_file(api, "old.txt", 30), await trash_file(api, "young.txt", 30)
    backdate(server_app, root_dir, old, "2020-01-01T00:00:00.000000Z")
    services = server_app.file_services
    services.trash_max_bytes = 50
    assert await services.sweep_trash() == 1
    assert [item["id"] for item in (await api.get("api/trash")).json()["items"]] == [young]
    services.trash_max_bytes = 0  # no limit
    assert await services.sweep_trash() == 0


@pytest.mark.gen_test
async def test_an_item_larger_than_max_bytes_is_refused_and_deleted_only_when_confirmed(
        api: APIClient, server_app: Any, root_dir: Path) -> None:
    kept = await trash_file(api, "kept.txt", 10)
    server_app.file_services.trash_max_bytes = 50
    await save(api, "big.txt", "x" * 60)
    fid = await file_id(api, "big.txt")
    refused = await api.post(f"api/files/{fid}/trash")
    assert refused.status == 409
    assert refused.json()["code"] == "too_large_for_trash" and refused.json()["limit"] == 50
    assert (await api.delete("api/contents/big.txt")).json()["code"] == "too_large_for_trash"
    assert (root_dir / "big.txt").read_text() == "x" * 60
    assert [item["id"] for item in (await api.get("api/trash")).json()["items"]] == [kept]  # nothing purged for it
    assert (await api.delete(f"api/files/{fid}/permanent_delete")).json()["code"] == "not_trashed"
    assert (await api.delete(f"api/files/{fid}/permanent_delete", params={"confirm": "no_trash"})).status == 204
    assert not (root_dir / "big.txt").exists()
    await save(api, "small.txt", "x")
    small = await file_id(api, "small.txt")
    refused = await api.delete(f"api/files/{small}/permanent_delete", params={"confirm": "no_trash"})
    assert refused.status == 409 and refused.json()["code"] == "not_trashed"  # it fits: trash it first
