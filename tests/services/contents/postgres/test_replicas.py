"""Two PostgresContentsManagers on one database, each with its own Database (pool and change
listener), as two replicas are: cached replies follow the other replica's writes, by
notification while the listener is up and by a query per read while it is not; trust is shared."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, Callable, Iterator

import nbformat
import pytest

from nbserver.db.changes import PAYLOAD_LIMIT, change_key, payloads
from nbserver.db.config import Database
from nbserver.errors import PreconditionFailed
from nbserver.services.contents.postgres.manager import PostgresContentsManager
from tests.services.contents.contract import notebook_with, text_model
from tests.services.contents.postgres.conftest import new_manager

Replicas = tuple[PostgresContentsManager, PostgresContentsManager]


@pytest.fixture
def replicas(postgres_url: str, contents_database: Database, io_loop: Any) -> Iterator[Replicas]:
    """Replica A on the test's Database, replica B on a Database of its own (a test awaits
    :func:`listening` first)."""
    other = Database(url=postgres_url)
    yield new_manager(contents_database), new_manager(other)
    io_loop.run_sync(other.close, timeout=30)


async def listening(*managers: PostgresContentsManager) -> None:
    """Open each manager's pool, so its change listener starts, and wait until it listens."""
    for manager in managers:
        await manager.get("")
    await until(lambda: all(m.database.changes is not None and m.database.changes.live for m in managers))


async def until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


def count_stamp_queries(manager: PostgresContentsManager) -> list[str]:
    """Record each validating query of a cached reply the manager makes from now on."""
    asked: list[str] = []
    original = manager._reply_stamp

    async def counted(path: str) -> Any:
        asked.append(path)
        return await original(path)

    manager._reply_stamp = counted  # type: ignore[method-assign]
    return asked


async def read_until_fresh(manager: PostgresContentsManager, path: str) -> None:
    """Read ``path`` until its reply is fresh (a read is not made fresh when a notification,
    of an earlier write, arrived while it ran)."""
    for _ in range(10):
        await manager.get_reply(path)
        if manager.fresh_replies.fresh((path, True, None, None, False)):
            return
    raise AssertionError(f"{path} never became fresh")


async def source_of(manager: PostgresContentsManager, path: str) -> str:
    body = json.loads((await manager.get_reply(path)).body)
    return str(body["content"]["cells"][0]["source"])


@pytest.mark.gen_test(timeout=60)
async def test_a_save_on_one_replica_reaches_the_others_cached_reply(replicas: Replicas) -> None:
    a, b = replicas
    await listening(a, b)
    await a.save(notebook_with("one"), "n.ipynb")
    asked = count_stamp_queries(b)
    key = ("n.ipynb", True, None, None, False)
    await read_until_fresh(b, "n.ipynb")
    queries = len(asked)
    for _ in range(3):
        assert await source_of(b, "n.ipynb") == "one"
    assert len(asked) == queries  # fresh: sent without asking the database
    await a.save(notebook_with("two"), "n.ipynb")
    await until(lambda: not b.fresh_replies.fresh(key))  # A's trigger notified B
    assert await source_of(b, "n.ipynb") == "two"


@pytest.mark.gen_test(timeout=60)
async def test_a_folder_rename_makes_every_reply_below_it_stale(replicas: Replicas) -> None:
    a, b = replicas
    await listening(a, b)
    await a.save({"type": "directory"}, "d")
    await a.save(notebook_with("x"), "d/n.ipynb")
    await a.save(notebook_with("y"), "other.ipynb")
    for path in ("d/n.ipynb", "other.ipynb", "d/n.ipynb"):
        await read_until_fresh(b, path)
    inside, outside = ("d/n.ipynb", True, None, None, False), ("other.ipynb", True, None, None, False)
    assert b.fresh_replies.fresh(inside) and b.fresh_replies.fresh(outside)
    await a.rename("d", "e")
    await until(lambda: not b.fresh_replies.fresh(inside))
    assert b.fresh_replies.fresh(outside)
    with pytest.raises(Exception, match="No such file"):
        await b.get_reply("d/n.ipynb")


@pytest.mark.gen_test(timeout=60)
async def test_without_the_listener_every_cached_read_is_validated(replicas: Replicas) -> None:
    a, b = replicas
    await listening(a, b)
    await a.save(notebook_with("one"), "n.ipynb")
    for _ in range(2):
        await b.get_reply("n.ipynb")
    assert b.database.changes is not None
    await b.database.changes.stop()  # as if the network to the database dropped the listener
    asked = count_stamp_queries(b)
    await a.save(notebook_with("two"), "n.ipynb")
    assert await source_of(b, "n.ipynb") == "two"  # at once: no notification needed
    assert await source_of(b, "n.ipynb") == "two"
    assert len(asked) == 2


@pytest.mark.gen_test(timeout=60)
async def test_the_listener_reconnects_and_validates_once_more(replicas: Replicas) -> None:
    a, b = replicas
    await listening(a, b)
    listener = b.database.changes
    assert listener is not None
    await a.save(notebook_with("one"), "n.ipynb")
    await read_until_fresh(b, "n.ipynb")
    key = ("n.ipynb", True, None, None, False)
    epoch = listener.epoch
    async with a.operation("test", "") as conn:  # the database ends the listener's session
        await conn.execute("SELECT pg_terminate_backend(%s)", (listener.backend_pid,))
    await until(lambda: listener.epoch >= epoch + 2 and listener.live)
    assert not b.fresh_replies.fresh(key)
    asked = count_stamp_queries(b)
    for _ in range(3):
        assert await source_of(b, "n.ipynb") == "one"
    assert len(asked) == 1


@pytest.mark.gen_test(timeout=60)
async def test_trusting_on_one_replica_trusts_on_the_other(replicas: Replicas) -> None:
    a, b = replicas
    await listening(a, b)
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("display()")
    cell.outputs.append(nbformat.v4.new_output("display_data", data={"text/html": "<b>hi</b>"}))
    nb.cells.append(cell)
    await a.save({"type": "notebook", "format": "json", "content": nb}, "t.ipynb")

    async def trusted() -> bool:
        body = json.loads((await b.get_reply("t.ipynb")).body)
        return bool(body["content"]["cells"][0]["metadata"]["trusted"])

    assert not await trusted()
    assert not await trusted()  # now served from B's cache without a query
    await a.trust_notebook("t.ipynb")
    deadline = time.monotonic() + 10
    while not await trusted():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)


@pytest.mark.gen_test(timeout=60)
async def test_a_statement_changing_many_rows_notifies_them_in_payloads_under_the_limit(replicas: Replicas) -> None:
    a, b = replicas
    await listening(a, b)
    listener = b.database.changes
    assert listener is not None and listener.role is not None
    heard: list[Any] = []
    listener.subscribe(heard.append)
    names = [f"f{n}.txt" for n in range(1000)]
    await a.save({"type": "directory"}, "many")
    await a.save({"type": "file", "format": "text", "content": ""}, "many/seed.txt")
    async with a.operation("test", "") as conn:
        await conn.execute("INSERT INTO contents_files (path, parent, name, is_dir, blob, size, sha256) "
                           "SELECT 'many/' || n.name, 'many', n.name, false, f.blob, f.size, f.sha256 "
                           "FROM unnest(%s::text[]) AS n(name), contents_files f WHERE f.path = 'many/seed.txt'",
                           (names,))
    async with a.operation("test", "") as conn:  # one statement changes 1,000 rows
        await conn.execute("UPDATE contents_files SET version = nextval('contents_version_seq') "
                           "WHERE parent = 'many' AND name <> 'seed.txt'")
    wanted = {change_key("p", listener.role, f"many/{name}") for name in names}
    await until(lambda: wanted <= set().union(*(c.keys for c in heard if c is not None)))
    batches = [c for c in heard if c is not None and c.keys & wanted]
    assert len(batches) == 3  # 1,000 keys of 17 characters: three payloads under 7,900 bytes
    assert all(len(("contents " + " ".join(c.keys)).encode()) <= PAYLOAD_LIMIT for c in batches)
    assert [len(p.split()) - 1 for p in payloads("contents", sorted(wanted))] == [len(c.keys) for c in batches]


@pytest.mark.gen_test(timeout=60)
async def test_two_replicas_saving_one_file_take_turns_and_a_stale_hash_is_refused(replicas: Replicas) -> None:
    a, b = replicas
    base = (await a.save(text_model("base"), "f.txt")).model["hash"]
    # Both based on the same version, at once: one wins, the other finds the row changed.
    results = await asyncio.gather(a.save(text_model("from a"), "f.txt", expected_hash=base),
                                   b.save(text_model("from b"), "f.txt", expected_hash=base),
                                   return_exceptions=True)
    assert sorted(type(r).__name__ for r in results) == ["PreconditionFailed", "Saved"]
    winner = next(r for r in results if not isinstance(r, BaseException))
    assert (await b.get("f.txt"))["content"] == ("from a" if results[0] is winner else "from b")
    # Without a precondition both saves succeed, in order: the later one stays.
    await a.save(text_model("one"), "f.txt")
    await b.save(text_model("two"), "f.txt")
    assert (await a.get("f.txt"))["content"] == "two"
    with pytest.raises(PreconditionFailed):
        await a.save(text_model("three"), "f.txt", expected_hash=winner.model["hash"])
