"""GroupCommit: requests that arrive while a batch runs go together in the next batch."""

from __future__ import annotations

import asyncio

import pytest

from nbserver.services.files.groupcommit import GroupCommit, Outcome


class Recorder:
    """A batch runner that records its batches and waits for ``release`` before the first ends."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.release = asyncio.Event()

    async def run(self, requests: list[int]) -> list[Outcome[int]]:
        self.batches.append(requests)
        await self.release.wait()
        return [ValueError(f"odd {n}") if n % 2 else n * 10 for n in requests]


@pytest.mark.gen_test(timeout=10)
async def test_requests_made_while_a_batch_runs_form_the_next_batch() -> None:
    recorder = Recorder()
    group: GroupCommit[int, int] = GroupCommit(recorder.run)
    first = asyncio.ensure_future(group.submit(0))
    await asyncio.sleep(0)  # the first batch starts, with the one request
    later = [asyncio.ensure_future(group.submit(n)) for n in (2, 4, 6)]
    await asyncio.sleep(0)
    recorder.release.set()
    assert await first == 0
    assert await asyncio.gather(*later) == [20, 40, 60]
    assert recorder.batches == [[0], [2, 4, 6]]
    assert group.batch_sizes == [1, 3]


@pytest.mark.gen_test(timeout=10)
async def test_an_outcome_that_is_an_exception_fails_only_its_request() -> None:
    recorder = Recorder()
    recorder.release.set()
    group: GroupCommit[int, int] = GroupCommit(recorder.run)
    results = await asyncio.gather(*(group.submit(n) for n in (1, 2)), return_exceptions=True)
    assert isinstance(results[0], ValueError) and str(results[0]) == "odd 1"
    assert results[1] == 20


@pytest.mark.gen_test(timeout=10)
async def test_a_failing_batch_fails_each_of_its_requests_and_the_next_batch_still_runs() -> None:
    calls: list[list[int]] = []

    async def run(requests: list[int]) -> list[Outcome[int]]:
        calls.append(requests)
        if len(calls) == 1:
            await asyncio.sleep(0.01)
            raise OSError("the disk")
        return list(requests)

    group: GroupCommit[int, int] = GroupCommit(run)
    first = asyncio.ensure_future(group.submit(1))
    await asyncio.sleep(0)
    second = asyncio.ensure_future(group.submit(2))
    with pytest.raises(OSError, match="the disk"):
        await first
    assert await second == 2


@pytest.mark.gen_test(timeout=10)
async def test_max_batch_bounds_a_batch() -> None:
    recorder = Recorder()
    group: GroupCommit[int, int] = GroupCommit(recorder.run, max_batch=2)
    blocker = asyncio.ensure_future(group.submit(0))
    await asyncio.sleep(0)
    rest = [asyncio.ensure_future(group.submit(n)) for n in (2, 4, 6, 8, 10)]
    await asyncio.sleep(0)
    recorder.release.set()
    await asyncio.gather(blocker, *rest)
    assert [len(batch) for batch in recorder.batches] == [1, 2, 2, 1]


@pytest.mark.gen_test(timeout=10)
async def test_requests_waiting_for_the_turn_all_go_in_the_batch_formed_once_it_is_free() -> None:
    recorder = Recorder()
    recorder.release.set()
    turn = asyncio.Lock()
    group: GroupCommit[int, int] = GroupCommit(recorder.run, turn=turn)
    async with turn:
        waiting = [asyncio.ensure_future(group.submit(n)) for n in (2, 4, 6)]
        await asyncio.sleep(0.01)
        assert recorder.batches == []
    assert await asyncio.gather(*waiting) == [20, 40, 60]
    assert recorder.batches == [[2, 4, 6]]
