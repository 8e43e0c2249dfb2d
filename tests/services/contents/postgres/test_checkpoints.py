"""PostgresCheckpoints: several checkpoints per file, named and ordered as the file checkpoints are."""

from __future__ import annotations

import pytest

from nbserver.db.config import Database
from nbserver.errors import InvalidInput, NotFound
from nbserver.services.contents.checkpoints import HISTORY_ID
from tests.services.contents.contract import text_model
from tests.services.contents.postgres.conftest import new_manager


@pytest.mark.gen_test(timeout=60)
async def test_history_keeps_the_newest_and_restores_any(contents_database: Database) -> None:
    manager = new_manager(contents_database)
    manager.checkpoints.checkpoint_history_size = 3
    for version in ("v1", "v2", "v3", "v4"):
        await manager.save(text_model(version), "a.txt")
        await manager.create_checkpoint("a.txt")
    listed = await manager.list_checkpoints("a.txt")
    assert len(listed) == 3 and listed[-1]["id"] == "checkpoint"
    assert all(HISTORY_ID.fullmatch(c["id"]) for c in listed[:-1]) and listed[0]["id"] < listed[1]["id"]
    await manager.restore_checkpoint(listed[0]["id"], "a.txt")
    assert (await manager.get("a.txt"))["content"] == "v2"  # v1 was pruned
    await manager.delete_checkpoint("checkpoint", "a.txt")
    promoted = await manager.list_checkpoints("a.txt")
    assert [c["id"] for c in promoted] == [listed[0]["id"], "checkpoint"]
    assert await manager.checkpoints.read_checkpoint("checkpoint", "a.txt") == b"v3"


@pytest.mark.gen_test(timeout=60)
async def test_history_size_1_keeps_only_the_latest(contents_database: Database) -> None:
    manager = new_manager(contents_database)
    manager.checkpoints.checkpoint_history_size = 1
    await manager.save(text_model("one"), "a.txt")
    await manager.create_checkpoint("a.txt")
    await manager.save(text_model("two"), "a.txt")
    await manager.create_checkpoint("a.txt")
    assert [c["id"] for c in await manager.list_checkpoints("a.txt")] == ["checkpoint"]
    assert await manager.checkpoints.read_checkpoint("checkpoint", "a.txt") == b"two"


@pytest.mark.gen_test(timeout=60)
async def test_checkpoints_go_with_a_deleted_file_and_folders_have_none(contents_database: Database) -> None:
    manager = new_manager(contents_database)
    await manager.save({"type": "directory"}, "sub")
    await manager.save(text_model("x"), "sub/a.txt")
    await manager.create_checkpoint("sub/a.txt")
    with pytest.raises(InvalidInput):
        await manager.create_checkpoint("sub")
    await manager.delete("sub")
    await manager.save({"type": "directory"}, "sub")
    await manager.save(text_model("y"), "sub/a.txt")
    assert await manager.list_checkpoints("sub/a.txt") == []
    with pytest.raises(NotFound):
        await manager.restore_checkpoint("20261129T214600123456Z", "sub/a.txt")
