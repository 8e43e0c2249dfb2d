"""PostgresContentsManager: the contract suite, plus what only the database store has."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from typing import Any

import pytest

from nbserver.db.config import ConfigurationError, Database
from nbserver.errors import InvalidInput, NotFound
from nbserver.services.contents.postgres import blobs
from nbserver.services.contents.postgres.manager import PostgresContentsManager
from tests.services.contents.contract import ContentsManagerContract, text_model
from tests.services.contents.postgres.conftest import new_manager


class TestPostgresContentsManager(ContentsManagerContract):
    pass


async def _sql(manager: PostgresContentsManager, statement: str, params: Any = None) -> list[tuple[Any, ...]]:
    async with manager.operation("test", "") as conn:
        cursor = await conn.execute(statement, params)
        return await cursor.fetchall() if cursor.description else []


@pytest.mark.gen_test(timeout=120)
async def test_folder_rename_of_1000_descendants_is_one_transaction(manager: PostgresContentsManager) -> None:
    await manager.save({"type": "directory"}, "a")
    for folder in range(10):
        await manager.save({"type": "directory"}, f"a/d{folder}")
        await asyncio.gather(*(manager.save(text_model(f"{folder}-{n}"), f"a/d{folder}/f{n}.txt")
                               for n in range(99)))
    await manager.create_checkpoint("a/d3/f7.txt")
    await manager.rename("a", "b")
    assert await _sql(manager, "SELECT count(*) FROM contents_files WHERE path LIKE 'a%'") == [(0,)]
    moved = await _sql(manager, "SELECT count(*), count(DISTINCT xmin::text) FROM contents_files "
                                "WHERE path = 'b' OR path LIKE 'b/%'")
    assert moved == [(1001, 1)]  # the folder, 10 subfolders, 990 files: all written by one transaction
    assert (await manager.get("b/d3/f7.txt"))["content"] == "3-7"
    assert [c["name"] for c in (await manager.get("b/d9"))["content"]][:2] == ["f0.txt", "f1.txt"]
    assert len(await manager.list_checkpoints("b/d3/f7.txt")) == 1


@pytest.mark.gen_test(timeout=120)
async def test_listing_pages_through_5000_entries_with_cursors(manager: PostgresContentsManager) -> None:
    await manager.save({"type": "directory"}, "big")
    await manager.save(text_model("same"), "big/seed.txt")
    names = [f"é{n}" if n % 7 == 0 else f"f{n:05d}.txt" for n in range(4999)] + [".hidden"]
    await _sql(manager, "INSERT INTO contents_files (path, parent, name, is_dir, blob, size, sha256) "
                        "SELECT 'big/' || n.name, 'big', n.name, false, f.blob, f.size, f.sha256 "
                        "FROM unnest(%s::text[]) AS n(name), contents_files f WHERE f.path = 'big/seed.txt'", (names,))
    seen: list[str] = []
    cursor = None
    while True:
        page = await manager.list_directory_page("big", page_size=700, cursor=cursor)
        assert page["total"] == 5000  # seed.txt and 4,999 others; .hidden is not shown
        seen.extend(child["name"] for child in page["content"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    expected = sorted(name for name in names + ["seed.txt"] if not name.startswith("."))
    assert seen == expected and len(seen) == 5000
    await manager.save(text_model("n"), "big/new.txt")  # the kept count of the folder lapses
    assert (await manager.list_directory_page("big", page_size=1))["total"] == 5001
    await manager.rename("big/new.txt", "moved.txt")
    assert (await manager.list_directory_page("big", page_size=1))["total"] == 5000
    manager.allow_hidden = True
    first = await manager.list_directory_page("big", page_size=1)
    assert first["content"][0]["name"] == ".hidden" and first["total"] == 5001


@pytest.mark.gen_test(timeout=60)
async def test_chunked_upload_across_two_replicas(postgres_url: str, contents_database: Database) -> None:
    other = Database(url=postgres_url)
    first, second = new_manager(contents_database), new_manager(other)
    try:
        parts = [os.urandom(700_000), os.urandom(1_500_000), os.urandom(1234)]
        for manager, number, part in ((first, 1, parts[0]), (second, 2, parts[1]), (first, -1, parts[2])):
            saved = await manager.save({"type": "file", "format": "base64", "chunk": number,
                                        "content": base64.b64encode(part).decode()}, "up.bin")
        whole = b"".join(parts)
        assert saved.created and saved.model["hash"] == hashlib.sha256(whole).hexdigest()
        assert base64.b64decode((await second.get("up.bin", format="base64"))["content"]) == whole
        assert await _sql(second, "SELECT count(*) FROM contents_uploads") == [(0,)]
        assert await _sql(second, "SELECT max(length(data)) FROM contents_chunks") == [(blobs.CHUNK_SIZE,)]
    finally:
        await other.close()


@pytest.mark.gen_test
async def test_same_content_is_stored_once_and_dropped_with_its_last_user(manager: PostgresContentsManager) -> None:
    await manager.save(text_model("shared"), "a.txt")
    await manager.save(text_model("shared"), "b.txt")
    await manager.create_checkpoint("a.txt")
    await manager.copy("a.txt", "c.txt")
    assert await _sql(manager, "SELECT count(*) FROM contents_blobs") == [(1,)]
    await manager.save(text_model("changed"), "a.txt")
    for path in ("a.txt", "b.txt", "c.txt"):
        await manager.delete(path)
    assert await _sql(manager, "SELECT count(*) FROM contents_blobs") == [(0,)]
    assert await _sql(manager, "SELECT count(*) FROM contents_chunks") == [(0,)]


@pytest.mark.gen_test
async def test_folder_copy_shares_the_blobs(manager: PostgresContentsManager) -> None:
    await manager.save({"type": "directory"}, "src")
    await manager.save({"type": "directory"}, "src/inner")
    await manager.save(text_model("x"), "src/inner/a.txt")
    copied = await manager.copy("src", "")
    assert copied["path"] == "src-Copy1" and copied["type"] == "directory"
    assert (await manager.get("src-Copy1/inner/a.txt"))["content"] == "x"
    with pytest.raises(InvalidInput):
        await manager.copy("src", "src/inner")


@pytest.mark.gen_test
async def test_rename_into_itself_or_missing_folder_is_refused(manager: PostgresContentsManager) -> None:
    await manager.save({"type": "directory"}, "a")
    with pytest.raises(InvalidInput):
        await manager.rename("a", "a/b")
    with pytest.raises(NotFound):
        await manager.rename("a", "nowhere/a")


@pytest.mark.gen_test
async def test_each_database_user_sees_only_their_own_files(
        postgres_cluster: Any, postgres_url: str, contents_database: Database) -> None:
    dbname = postgres_url.rsplit("/", 1)[1]
    for role in ("alice_pg", "bob_pg"):
        postgres_cluster.sql(f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') "
                             f"THEN CREATE ROLE {role} LOGIN PASSWORD 'pw-{role}'; END IF; END $$")
        postgres_cluster.sql(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}; "
                             f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {role}", dbname=dbname)
    alice_db = Database(url=postgres_cluster.url(dbname, user="alice_pg", password="pw-alice_pg"))
    bob_db = Database(url=postgres_cluster.url(dbname, user="bob_pg", password="pw-bob_pg"))
    try:
        alice, bob = new_manager(alice_db), new_manager(bob_db)
        await alice.save(text_model("alice's"), "a.txt")
        await bob.save(text_model("bob's"), "a.txt")
        assert (await alice.get("a.txt"))["content"] == "alice's"
        assert (await bob.get("a.txt"))["content"] == "bob's"
        await alice.save(text_model("only alice"), "private.txt")
        assert [c["name"] for c in (await bob.get(""))["content"]] == ["a.txt"]
        with pytest.raises(NotFound):
            await bob.get("private.txt")
    finally:
        await alice_db.close()
        await bob_db.close()


@pytest.mark.gen_test(timeout=30)
async def test_unreachable_database_is_503_not_500(postgres_cluster: Any) -> None:
    from nbserver.errors import ServiceUnavailable

    database = Database(url=f"postgresql://postgres@127.0.0.1:{postgres_cluster.port}/no_such_db", connect_timeout=1.0)
    manager = new_manager(database)
    try:
        with pytest.raises(ServiceUnavailable) as raised:
            await manager.get("a.txt")
        assert "no_such_db" not in raised.value.message and "127.0.0.1" not in raised.value.message
    finally:
        await database.close()


def test_without_a_database_url_the_manager_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NBSERVER_DATABASE_URL", raising=False)
    with pytest.raises(ConfigurationError, match="Database.url"):
        PostgresContentsManager()
