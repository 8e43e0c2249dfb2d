"""The periodic culler kernels and terminals share: runs its pass every interval until stopped,
closes idle items one by one, and a failing item neither raises nor stops the others."""

from __future__ import annotations

import asyncio
import logging

import pytest

from nbserver.errors import NotFound
from nbserver.services.culling import PeriodicCuller, close_each

log = logging.getLogger("tests.culling")


async def nothing() -> None:
    return None


@pytest.mark.gen_test(timeout=10)
async def test_the_pass_runs_every_interval_until_stopped() -> None:
    passes: list[float] = []

    async def cull_once() -> None:
        passes.append(asyncio.get_running_loop().time())

    culler = PeriodicCuller("kernel", "idle", cull_once, log)
    culler.start(timeout=1, interval=0.02)
    while len(passes) < 3:
        await asyncio.sleep(0.01)
    culler.stop()
    assert not culler.running
    count = len(passes)
    await asyncio.sleep(0.1)
    assert len(passes) == count


@pytest.mark.gen_test(timeout=10)
async def test_a_zero_timeout_never_starts_it_and_a_second_start_keeps_one_task() -> None:
    culler = PeriodicCuller("terminal", "inactive", nothing, log)
    culler.start(timeout=0, interval=0.01)
    assert not culler.running
    culler.start(timeout=5, interval=60)
    task = culler._task
    culler.start(timeout=5, interval=60)
    assert culler._task is task
    culler.stop()
    culler.stop()
    assert not culler.running


@pytest.mark.gen_test(timeout=10)
async def test_close_idle_goes_on_past_gone_and_failing_items(caplog: pytest.LogCaptureFixture) -> None:
    closed: list[str] = []

    async def close(item: str) -> None:
        if item == "gone":
            raise NotFound("already gone")
        if item == "stuck":
            raise RuntimeError("cannot stop it")
        closed.append(item)

    culler = PeriodicCuller("kernel", "idle", nothing, log)
    with caplog.at_level(logging.INFO, logger="tests.culling"):
        await culler.close_idle([("gone", 70.0), ("stuck", 80.0), ("a", 90.0)], close)
    assert closed == ["a"]
    assert "Culling kernel a, idle for 90 s" in caplog.text
    assert "Culling kernel stuck failed" in caplog.text and "RuntimeError" in caplog.text
    assert "Culling kernel gone failed" not in caplog.text


@pytest.mark.gen_test(timeout=10)
async def test_close_each_closes_all_at_once_and_logs_failures(caplog: pytest.LogCaptureFixture) -> None:
    closed: list[str] = []

    async def close(item: str) -> None:
        await asyncio.sleep(0.01)
        if item == "2":
            raise RuntimeError("refused")
        if item == "3":
            raise NotFound("gone")
        closed.append(item)

    with caplog.at_level(logging.INFO, logger="tests.culling"):
        await close_each(["1", "2", "3"], close, log, "Closing", "terminal")
    assert closed == ["1"]
    assert "Closing 3 terminal(s)" in caplog.text
    assert "Closing terminal 2: refused" in caplog.text
    assert "Closing terminal 3" not in caplog.text
