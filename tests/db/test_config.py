"""Database: the asyncio pool is one per process, however many callers ask for it at once."""

from __future__ import annotations

import asyncio

import pytest

from nbserver.db.config import Database


@pytest.mark.gen_test
async def test_pool_asked_for_at_once_is_opened_once(postgres_url: str) -> None:
    database = Database(url=postgres_url)
    try:
        pools = await asyncio.gather(*(database.pool() for _ in range(5)))
        assert all(pool is pools[0] for pool in pools)
        async with pools[0].connection() as conn:
            assert await (await conn.execute("SELECT 1")).fetchone() == (1,)
    finally:
        await database.close()


@pytest.mark.gen_test
async def test_pool_that_cannot_open_is_tried_again(postgres_url: str) -> None:
    database = Database(url=postgres_url.rsplit("/", 1)[0] + "/no_such_database", connect_timeout=1.0)
    for _ in range(2):
        with pytest.raises(Exception):
            await database.pool()
    database.url = postgres_url
    try:
        assert (await database.pool()) is not None
    finally:
        await database.close()
