"""The retention sweep (checklist 29): items trashed longer ago than trash_retention_days are purged."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.services.files.test_handlers import file_id, save
from tests.support.api_client import APIClient


def backdate(root_dir: Path, file_id: str, when: str) -> None:
    with sqlite3.connect(root_dir / ".nbserver" / "meta.sqlite") as db:
        db.execute("UPDATE trash SET trashed_at = ? WHERE file_id = ?", (when, file_id))


@pytest.mark.gen_test(timeout=30)
async def test_sweep_purges_only_expired_items(api: APIClient, server_app: Any, root_dir: Path) -> None:
    await save(api, "old.txt", "old")
    await save(api, "young.txt", "young")
    old, young = await file_id(api, "old.txt"), await file_id(api, "young.txt")
    for fid in (old, young):
        assert (await api.post(f"api/files/{fid}/trash")).status == 200
    backdate(root_dir, old, "2000-01-01T00:00:00.000000Z")
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
    backdate(root_dir, fid, "2000-01-01T00:00:00.000000Z")
    server_app.file_services.trash_retention_days = 0
    assert await server_app.file_services.sweep_trash() == 0
    listing = (await api.get("api/trash")).json()
    assert listing["total"] == 1 and listing["items"][0]["expires_at"] is None
