"""Render workers: sanitized HTML, a worker reused, a render past its timeout killed (503), and
the memory cap: set in each worker, a render past it answered 503 and its worker replaced."""

from __future__ import annotations

import json
import os
import re
import sys
import time

import pytest

from nbserver.errors import ServiceUnavailable
from nbserver.services.external.render import RenderFailed, RenderWorkers, Worker, clean_html, render_html
from tests.support.notebook_source import GREEDY_WORKER, NOTEBOOK

pytestmark = pytest.mark.timeout(300)

GiB = 1024 ** 3


def address_space_limit(pid: int) -> str:
    with open(f"/proc/{pid}/limits") as limits:
        return next(line for line in limits if line.startswith("Max address space")).split()[3]


def started_pids(workers: RenderWorkers) -> list[int]:
    """The pids of the worker processes ``workers`` starts from now on, in order."""
    pids: list[int] = []
    original = workers._start

    async def start_and_note() -> Worker:
        worker = await original()
        pids.append(worker.process.pid)
        return worker

    workers._start = start_and_note  # type: ignore[method-assign]
    return pids


HOSTILE = ('<script>alert(1)</script><meta http-equiv="refresh" content="0;url=https://evil.test">'
           '<img src=x onerror=alert(1)><form action=/api/contents><input name=a></form>'
           '<iframe src="/api/contents"></iframe><base href="https://evil.test/"><style>body{}</style>'
           '<a href="javascript:alert(1)">x</a>')


def test_clean_html_keeps_structure_and_drops_active_content() -> None:
    cleaned = clean_html("<h2 id=t>Title</h2><p>text <b>bold</b></p><table><tr><td>1</td></tr></table>" + HOSTILE)
    assert "<h2 id=\"t\">Title</h2><p>text <b>bold</b></p>" in cleaned and "<td>1</td>" in cleaned
    assert not re.search(r"<(script|meta|iframe|form|input|base|style)\b", cleaned)
    assert "onerror" not in cleaned and "javascript:" not in cleaned


def test_render_html_runs_no_notebook_script() -> None:
    nb = json.loads(json.dumps(NOTEBOOK))
    nb["cells"].append({"cell_type": "markdown", "id": "c3", "metadata": {}, "source": HOSTILE})
    nb["cells"][1]["outputs"] = [
        {"output_type": "display_data", "metadata": {}, "data": {
            "text/html": "<b onclick='x()'>bold</b><script>fetch('/api/contents')</script>"}},
        {"output_type": "display_data", "metadata": {}, "data": {"application/javascript": "fetch('/api/contents')"}},
    ]
    html = render_html(json.dumps(nb).encode()).decode()
    body = html[html.index("<body"):]
    assert '<h1 id="Hello-from-afar">' in body and "<b>bold</b>" in body
    assert not re.search(r"<(script|meta|iframe|form|base|style)\b", body)  # shown as text at most
    assert not re.search(r"<[a-z][^>]*\son\w+\s*=", body)  # no event handler on any real tag


@pytest.mark.gen_test(timeout=240)
async def test_a_worker_renders_and_is_reused() -> None:
    workers = RenderWorkers(1, timeout=200)
    try:
        first = await workers.render(json.dumps(NOTEBOOK).encode())
        [worker] = workers._idle
        started = time.monotonic()
        second = await workers.render(json.dumps(NOTEBOOK).encode())
        assert workers._idle == [worker]  # the same process, nbconvert already imported
        assert b"Hello from afar" in first and first == second
        assert time.monotonic() - started < 30
    finally:
        await workers.close()


@pytest.mark.gen_test(timeout=30)
async def test_a_render_past_its_timeout_is_503_and_its_worker_killed() -> None:
    stuck = "import sys, time; sys.stdout.buffer.write(b'R'); sys.stdout.flush(); time.sleep(60)"
    workers = RenderWorkers(1, timeout=1.0, command=(sys.executable, "-c", stuck))
    pids = started_pids(workers)
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable) as caught:
        await workers.render(json.dumps(NOTEBOOK).encode())
    assert caught.value.code == "render_timeout" and time.monotonic() - started < 5
    assert workers._idle == []
    with pytest.raises(ProcessLookupError):
        os.kill(pids[0], 0)  # killed and reaped


@pytest.mark.gen_test(timeout=30)
async def test_a_worker_that_dies_is_a_500_not_a_hang() -> None:
    dies = "import sys; sys.stdout.buffer.write(b'R'); sys.stdout.flush(); sys.exit(3)"
    workers = RenderWorkers(1, timeout=10.0, command=(sys.executable, "-c", dies))
    with pytest.raises(RenderFailed):
        await workers.render(json.dumps(NOTEBOOK).encode())
    assert workers._idle == []


@pytest.mark.gen_test(timeout=240)
async def test_a_worker_caps_its_own_address_space() -> None:
    workers = RenderWorkers(1, timeout=200, memory_bytes=GiB)
    try:
        assert b"Hello from afar" in await workers.render(json.dumps(NOTEBOOK).encode())
        [worker] = workers._idle
        assert address_space_limit(worker.process.pid) == str(GiB)
    finally:
        await workers.close()


@pytest.mark.gen_test(timeout=240)
async def test_a_render_past_the_memory_cap_is_503_and_its_worker_replaced() -> None:
    workers = RenderWorkers(1, timeout=200, memory_bytes=GiB, command=GREEDY_WORKER)
    pids = started_pids(workers)
    try:
        for _ in range(2):
            with pytest.raises(ServiceUnavailable) as caught:
                await workers.render(json.dumps(NOTEBOOK).encode())
            assert caught.value.code == "render_memory_exceeded"
            assert workers._idle == []
        assert len(set(pids)) == 2  # a new worker for the second render
        for pid in pids:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)  # gone and reaped
    finally:
        await workers.close()


def strict_overcommit() -> bool:
    with open("/proc/sys/vm/overcommit_memory") as mode:
        return mode.read().strip() == "2"


@pytest.mark.skipif(strict_overcommit(), reason="strict overcommit refuses 4 GiB of untouched memory too")
@pytest.mark.gen_test(timeout=240)
async def test_without_a_cap_the_greedy_render_succeeds() -> None:
    """The control of the test above: it is the cap that fails the render, not the machine."""
    workers = RenderWorkers(1, timeout=200, memory_bytes=0, command=GREEDY_WORKER)
    try:
        assert await workers.render(json.dumps(NOTEBOOK).encode()) == str(4 * GiB).encode()
    finally:
        await workers.close()
