"""The notebook processes (nbserver/services/contents/notebookprocesses.py): large saves prepared in
worker processes give what the in-process path gives, byte for byte and error for error; the pool
starts on demand, falls back while starting or when a worker dies, stops when idle or closed, and
its workers never outlive the server. Real worker processes throughout."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, AsyncIterator

import nbformat
import pytest

from nbserver.base.handlers import OFF_LOOP_BODY_BYTES
from nbserver.errors import InvalidInput
from nbserver.services.contents import filemanager, notebookprocesses, replycache
from nbserver.services.contents.notebookprocesses import NotebookProcesses, ProcessesUnavailable
from nbserver.services.contents.notebookworker import OUT_OF_BAND_BYTES, SHARED_KEEP_BYTES, ask, out_of_band
from nbserver.services.contents.notebooks import encode_notebook, serialize_notebook
from nbserver.services.contents.notary import take_cell_trust
from nbserver.services.contents.savebody import prepare_save_body_across, read_save_body
from benchmarks.procstat import child_pids
from tests.support.kernel_processes import process_exists
from tests.support.postgres import free_port

LOG = __import__("logging").getLogger("test")


async def wait_for(predicate: Any, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def ready(pool: NotebookProcesses) -> NotebookProcesses:
    """Start ``pool`` (its first job is refused, as every job until a worker is warm) and wait for all."""
    if not pool.pids():
        with pytest.raises(ProcessesUnavailable):
            await pool.run(os.getpid)
    await wait_for(lambda: pool.ready)
    return pool


@contextlib.asynccontextmanager
async def started_pool(processes: int, idle_seconds: float = 600.0) -> AsyncIterator[NotebookProcesses]:
    """A pool with all its workers up; closed (its workers stopped) on the way out."""
    pool = NotebookProcesses(processes, idle_seconds, LOG)
    try:
        yield await ready(pool)
    finally:
        await pool.close()


def large_notebook(trusted: bool = True, text: str = "é ✓ 𝔘 ") -> dict[str, Any]:
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell(text * (OFF_LOOP_BODY_BYTES // len(text.encode()))))
    cell = nbformat.v4.new_code_cell("x = 0.5\nx", execution_count=1, outputs=[nbformat.v4.new_output(
        "execute_result", data={"text/html": ["<b>0.5</b>"], "text/plain": ["0.5"]}, execution_count=1)])
    cell.metadata["trusted"] = trusted
    nb.cells.append(cell)
    return json.loads(json.dumps(nb))


# -- the pool alone ----------------------------------------------------------------------------

@pytest.mark.gen_test(timeout=60)
async def test_jobs_run_in_the_workers_once_they_are_ready():
    async with started_pool(2) as pool:
        pids = set(pool.pids())
        assert len(pids) == 2 and os.getpid() not in pids
        ran_in = set(await asyncio.gather(*[pool.run(os.getpid) for _ in range(8)]))
        assert ran_in <= pids
        with pytest.raises(InvalidInput, match="not valid JSON"):  # a job's own error comes back as itself
            await pool.run(read_save_body, b'{"type": ')
    assert not any(map(process_exists, pids)) and pool.pids() == []
    with pytest.raises(ProcessesUnavailable):
        await pool.run(os.getpid)  # closed: in-process from now on


@pytest.mark.gen_test(timeout=60)
async def test_no_processes_means_every_job_runs_in_process():
    pool = NotebookProcesses(0, 600.0, LOG)
    assert not pool.taking()
    with pytest.raises(ProcessesUnavailable):
        await pool.run(os.getpid)
    assert pool.starts == 0 and pool.pids() == []


@pytest.mark.gen_test(timeout=60)
async def test_the_pool_takes_jobs_once_a_worker_is_up_and_not_after_it_closed():
    pool = NotebookProcesses(1, 600.0, LOG)
    try:
        assert not pool.taking()  # none up: this starts one
        await wait_for(pool.taking)
        assert await pool.run(os.getpid) in pool.pids()
    finally:
        await pool.close()
    assert not pool.taking() and pool.starts == 1


@pytest.mark.gen_test(timeout=60)
@pytest.mark.parametrize("spawned", [True, False], ids=["spawned", "not-yet-spawned"])
async def test_a_close_while_workers_start_leaves_none_behind(spawned):
    """A server stopping while its first large read starts the workers: close kills the ones
    spawned and waits for their start to end (their pipes closed, reaped), and spawns no more."""
    pool = NotebookProcesses(2, 600.0, LOG)
    assert not pool.taking()  # starts two
    if spawned:
        await asyncio.sleep(0)  # the start tasks spawn their process, then wait for it to be ready
    pids = [worker.pid for worker in pool._spawned]
    assert len(pids) == (2 if spawned else 0)
    await pool.close()
    assert not any(map(process_exists, pids)) and pool.pids() == [] and not pool._start_tasks
    assert pool.starts == 0 and not pool._spawned and pool._starting == 0


@pytest.mark.gen_test(timeout=60)
async def test_a_killed_worker_sends_its_jobs_in_process_and_is_replaced():
    async with started_pool(1) as pool:
        (pid,) = pool.pids()
        job = asyncio.ensure_future(pool.run(time.sleep, 30))
        waiting = asyncio.ensure_future(pool.run(os.getpid))  # queued behind it for the one worker
        await asyncio.sleep(0.5)
        os.kill(pid, signal.SIGKILL)  # the worker we started, by its pid
        with pytest.raises(ProcessesUnavailable):
            await asyncio.wait_for(job, 20)
        assert pool.deaths == 1
        await wait_for(lambda: not process_exists(pid))  # reaped
        with pytest.raises(ProcessesUnavailable):  # the job queued for it goes in-process at once too
            await asyncio.wait_for(waiting, 20)
        await ready(pool)  # a replacement was started
        assert pool.starts == 2 and await pool.run(os.getpid) not in (pid, os.getpid())


@pytest.mark.gen_test(timeout=60)
async def test_a_cancelled_job_leaves_its_worker_busy_until_it_is_done():
    async with started_pool(1) as pool:
        job = asyncio.ensure_future(pool.run(time.sleep, 1))
        await asyncio.sleep(0.2)
        job.cancel()
        started = time.monotonic()
        assert await pool.run(os.getpid) == pool.pids()[0]  # waited for the sleep to end: one job at a time
        assert time.monotonic() - started > 0.5


@pytest.fixture(params=["shared files", "pipes only"])
def transport(request, monkeypatch):
    """Each pool made in the test has its large buffers cross in shared memory files (where the
    system has them, as here) or, as where it has none, in the pipes; the type they arrive as."""
    if request.param == "pipes only":
        monkeypatch.setattr(notebookprocesses, "make_shared_files", lambda: None)
        return bytearray
    assert notebookprocesses.make_shared_files is not None and hasattr(os, "memfd_create")
    return bytes


@pytest.mark.gen_test(timeout=60)
async def test_large_arguments_and_answers_cross_whole(transport):
    async with started_pool(1) as pool:
        assert (pool._workers[0].shared is None) is (transport is bytearray)
        body = bytes(range(256)) * 20_000  # 5 MB: a frame of its own each way
        assert await pool.run(bytes, body) == body
        # bytes and bytearrays both arrive as the buffer the frame was read into (pickle would
        # hand bytes over as a read-only view, which json's parser, for one, refuses)
        assert await pool.run(type, body) is transport and await pool.run(type, bytearray(body)) is transport
        assert await pool.run(json.loads, b'["' + b"x" * 100_000 + b'"]') == ["x" * 100_000]
        nan = b'{"type": "notebook", "content": {"x": NaN}, "pad": "' + b" " * OFF_LOOP_BODY_BYTES + b'"}'
        with pytest.raises(InvalidInput, match="NaN at /content/x"):  # the save body's own refusal
            await pool.run(prepare_save_body_across, nan, b"key")
        assert await pool.run(str, "é" * 100_000) == "é" * 100_000


@pytest.mark.gen_test(timeout=60)
async def test_the_shared_files_keep_their_pages_only_up_to_a_bound():
    async with started_pool(1) as pool:
        worker = pool._workers[0]
        assert worker.shared is not None
        requests, replies = worker.shared
        resident = worker.resident_bytes()
        small = b"s" * (SHARED_KEEP_BYTES // 2)
        assert await pool.run(bytes, small) == small
        # kept for the next message, and counted in the worker's memory
        assert os.fstat(requests).st_size == os.fstat(replies).st_size == len(small)
        assert worker.resident_bytes() >= resident + 2 * len(small)
        large = b"l" * (SHARED_KEEP_BYTES + 1)
        assert await pool.run(bytes, large) == large
        assert os.fstat(requests).st_size == os.fstat(replies).st_size == 0  # emptied by their readers
        assert await pool.run(bytes, small) == small  # and used again
        assert shared_files_open() >= 2
    assert worker.shared is None  # closed with the worker


@pytest.mark.gen_test(timeout=60)
async def test_what_the_shared_file_cannot_take_leaves_the_worker_usable(tmp_path):
    async with started_pool(1) as pool:
        worker = pool._workers[0]
        (tmp_path / "read-only").write_bytes(b"")
        shared = worker.shared
        assert shared is not None
        read_only = os.open(tmp_path / "read-only", os.O_RDONLY)
        worker.shared = shared._replace(requests=read_only)  # pwrite fails: EBADF, as out of memory would
        try:
            with pytest.raises(ProcessesUnavailable, match="could not be written"):
                await pool.run(bytes, b"x" * OUT_OF_BAND_BYTES)
            # an answer to a job's question likewise: the job hears why, and is not left waiting
            with pytest.raises(RuntimeError, match="the answer could not be written"):
                await pool.run(ask, "q", answer=lambda question: out_of_band(b"a" * OUT_OF_BAND_BYTES))
        finally:
            os.close(read_only)
            worker.shared = shared
        assert pool.deaths == 0 and await pool.run(bytes, b"y" * OUT_OF_BAND_BYTES) == b"y" * OUT_OF_BAND_BYTES


def shared_files_open() -> int:
    """How many of the notebook processes' shared memory files this process has open."""
    return sum(os.readlink(f"/proc/self/fd/{fd}").startswith("/memfd:nbserver-")
               for fd in os.listdir("/proc/self/fd") if os.path.exists(f"/proc/self/fd/{fd}"))


@pytest.mark.gen_test(timeout=60)
async def test_a_worker_that_does_not_start_in_time_is_killed_and_leaves_nothing_open(monkeypatch):
    monkeypatch.setattr(notebookprocesses, "START_TIMEOUT", 0.01)  # no worker warms up that fast
    before = shared_files_open()
    pool = NotebookProcesses(1, 600.0, LOG)
    try:
        with pytest.raises(ProcessesUnavailable):
            await pool.run(os.getpid)
        await wait_for(lambda: pool._start_failed_at > 0)
        await wait_for(lambda: pool._starting == 0)
        assert pool.pids() == [] and pool.starts == 0 and shared_files_open() == before
        with pytest.raises(ProcessesUnavailable):  # none tried again before RESTART_PAUSE
            await pool.run(os.getpid)
        assert pool._starting == 0
    finally:
        await pool.close()


@pytest.mark.gen_test(timeout=60)
async def test_an_idle_pool_stops_and_the_next_job_starts_it_again():
    async with started_pool(1, 1.0) as pool:
        (pid,) = pool.pids()
        await pool.run(os.getpid)
        await wait_for(lambda: not pool.pids() and not process_exists(pid), 15)
        await ready(pool)
        assert pool.starts == 2 and pool.pids() != [pid]


@pytest.mark.gen_test(timeout=60)
async def test_a_jobs_questions_are_answered_by_the_server_in_turn():
    async with started_pool(1) as pool:
        asked: list[Any] = []

        def answer(question: Any) -> Any:
            asked.append(question)
            if question == "bad":
                raise ValueError("no such thing")
            return question.upper()
        # notebookworker.ask itself as the job: it returns the server's answer to its argument
        assert await pool.run(ask, "trusted?", answer=answer) == "TRUSTED?"
        with pytest.raises(ValueError, match="no such thing"):  # raised where the job asked, then here
            await pool.run(ask, "bad", answer=answer)
        with pytest.raises(RuntimeError, match="no one to answer"):
            await pool.run(ask, "anyone?")
        assert asked == ["trusted?", "bad"]
        assert await pool.run(os.getpid) == pool.pids()[0]  # the pipes are still in step


def test_ask_outside_a_notebook_process_is_refused():
    with pytest.raises(RuntimeError):
        ask("trusted?")


# -- saves through the API ---------------------------------------------------------------------

@pytest.fixture
def prepared_saves(monkeypatch):
    """Saves whose notebook came prepared from a worker process."""
    seen = []
    write = filemanager.FileContentsManager._write_prepared

    def spy(self, model, path, must_create):
        seen.append(path)
        return write(self, model, path, must_create)
    monkeypatch.setattr(filemanager.FileContentsManager, "_write_prepared", spy)
    return seen


async def busy(server_app):
    """The pool up, and the server as if another large save were under way in its own threads:
    the next large notebook save goes to a worker (see FileContentsManager.save_body)."""
    manager = server_app.contents_manager
    await ready(manager.notebook_process_pool)
    manager._large_jobs += 1


@pytest.fixture
def server_config():
    from traitlets.config import Config

    config = Config()
    config.FileContentsManager.notebook_processes = 2  # whatever this machine's cores
    return {"config": config}


@pytest.mark.gen_test(timeout=60)
@pytest.mark.parametrize("trusted", [True, False])
async def test_a_notebook_saved_through_a_worker_is_what_the_server_itself_writes(
        api, root_dir, server_app, prepared_saves, trusted):
    await busy(server_app)
    nb = large_notebook(trusted)
    response = await api.put("api/contents/big.ipynb", {"type": "notebook", "content": nb})
    assert response.status == 201 and prepared_saves == ["big.ipynb"]
    assert response.json()["type"] == "notebook" and response.json()["content"] is None
    expected = json.loads(json.dumps(nb))
    take_cell_trust(expected)
    assert (root_dir / "big.ipynb").read_bytes() == serialize_notebook(expected)[0]
    got = (await api.get("api/contents/big.ipynb")).json()["content"]
    assert got["cells"][1]["metadata"]["trusted"] is trusted  # signed only when every code cell was trusted


@pytest.mark.gen_test(timeout=60)
async def test_an_invalid_notebook_from_a_worker_is_saved_with_its_validation_message(api, root_dir, server_app,
                                                                                        prepared_saves):
    await busy(server_app)
    nb = large_notebook()
    nb["cells"][0]["cell_type"] = "unknown"
    worker = await api.put("api/contents/worker.ipynb", {"type": "notebook", "content": nb})
    assert worker.status == 201 and prepared_saves == ["worker.ipynb"]
    take_cell_trust(nb)
    in_process = encode_notebook(nb)  # what the server's own thread would have made of it
    assert in_process.message and worker.json()["message"] == in_process.message
    assert (root_dir / "worker.ipynb").read_bytes() == b"".join(in_process.chunks)


@pytest.mark.gen_test(timeout=60)
async def test_refusals_from_a_worker_are_the_servers_and_a_bad_target_is_reported_first(api, root_dir, server_app):
    await busy(server_app)
    (root_dir / "a.ipynb").write_text("keep me")
    nb = {"nbformat": 3, "nbformat_minor": 0, "metadata": {"padding": "é" * OFF_LOOP_BODY_BYTES}, "worksheets": 7}
    body = json.dumps({"type": "notebook", "content": nb}).encode()  # an old format that cannot be converted
    missing = await api.put("api/contents/no/such/folder/a.ipynb", raw_body=body)
    assert missing.status == 404  # the target's check comes first, as in-process
    refused = await api.put("api/contents/a.ipynb", raw_body=body)
    assert refused.status == 400 and refused.json()["message"].startswith("Unusable notebook content")
    copy = await api.put("api/contents/a.ipynb", raw_body=json.dumps(
        {"type": "notebook", "content": large_notebook(), "copy_from": "b.ipynb"}).encode())
    assert copy.status == 400 and "only POST" in copy.json()["message"]
    chunked = await api.put("api/contents/a.ipynb", raw_body=json.dumps(
        {"type": "notebook", "content": large_notebook(), "chunk": 1}).encode())
    assert chunked.status == 400 and "chunks" in chunked.json()["message"]
    bad = await api.put("api/contents/a.ipynb", raw_body=b'{"type": "notebook", "content": ' + b" " * OFF_LOOP_BODY_BYTES)
    assert bad.status == 400 and "not valid JSON" in bad.json()["message"]
    assert (root_dir / "a.ipynb").read_text() == "keep me"
    assert not (root_dir / "no").exists()


@pytest.mark.gen_test(timeout=60)
async def test_if_match_holds_for_a_save_through_a_worker(api, root_dir, server_app, prepared_saves):
    await busy(server_app)
    first = await api.put("api/contents/a.ipynb", {"type": "notebook", "content": large_notebook()})
    current = (await api.get("api/contents/a.ipynb", params={"content": "0", "hash": "1"})).json()["hash"]
    before = (root_dir / "a.ipynb").read_bytes()
    stale = await api.put("api/contents/a.ipynb", {"type": "notebook", "content": large_notebook(text="x ")},
                          headers={"If-Match": '"' + "0" * 64 + '"'})
    assert stale.status == 412 and (root_dir / "a.ipynb").read_bytes() == before
    fresh = await api.put("api/contents/a.ipynb", {"type": "notebook", "content": large_notebook(text="x ")},
                          headers={"If-Match": f'"{current}"'})
    assert first.status == 201 and fresh.status == 200 and (root_dir / "a.ipynb").read_bytes() != before
    assert prepared_saves == ["a.ipynb"] * 2  # the stale one was refused before its write


@pytest.mark.gen_test(timeout=60)
async def test_a_large_file_save_through_a_worker(api, root_dir, server_app, prepared_saves):
    await busy(server_app)
    text = "línea\n" * OFF_LOOP_BODY_BYTES
    response = await api.put("api/contents/big.txt", {"type": "file", "format": "text", "content": text})
    assert response.status == 201 and prepared_saves == []  # only notebooks are prepared ahead
    assert (root_dir / "big.txt").read_text(encoding="utf-8") == text


@pytest.mark.gen_test(timeout=60)
async def test_a_save_alone_stays_in_process_and_starts_no_worker(api, root_dir, server_app, prepared_saves):
    for name in ("a.ipynb", "b.ipynb"):  # one after the other
        response = await api.put(f"api/contents/{name}", {"type": "notebook", "content": large_notebook()})
        assert response.status == 201
    assert prepared_saves == [] and server_app.contents_manager.notebook_process_pool.pids() == []


@pytest.mark.gen_test(timeout=60)
async def test_a_large_read_starts_the_workers_and_goes_to_one_once_up(api, root_dir, server_app, replies_across):
    """Reads are made in a worker whenever one is up, one at a time too (the server's own thread
    is left to the requests); the first read, which starts them, is made in-process."""
    (root_dir / "big.ipynb").write_text(json.dumps(large_notebook()))
    manager = server_app.contents_manager
    first = await api.get("api/contents/big.ipynb")
    assert first.status == 200 and replies_across == []  # in-process: none was up yet
    await wait_for(lambda: manager.notebook_process_pool.ready)
    for _ in range(2):  # one after the other, the file changed before each
        stamp = time.time_ns() + 10**9 * (len(replies_across) + 1)
        os.utime(root_dir / "big.ipynb", ns=(stamp, stamp))
        again = await api.get("api/contents/big.ipynb")
        assert again.status == 200 and again.json()["content"] == first.json()["content"]
    assert replies_across == ["big.ipynb"] * 2 and manager._large_jobs == 0


@pytest.mark.gen_test(timeout=60)
async def test_the_contents_managers_close_stops_its_workers(api, server_app):
    pool = await ready(server_app.contents_manager.notebook_process_pool)
    pids = pool.pids()
    assert len(pids) == 2
    await server_app.contents_manager.close()  # as the server's stop does
    assert not any(map(process_exists, pids))


# -- reads through the API ---------------------------------------------------------------------

@pytest.fixture
def replies_across(monkeypatch):
    """Paths whose reply a worker process made."""
    seen = []
    across = filemanager.FileContentsManager._reply_across

    async def spy(self, key):
        reply = await across(self, key)
        if reply is not None:
            seen.append(key[0])
        return reply
    monkeypatch.setattr(filemanager.FileContentsManager, "_reply_across", spy)
    return seen


@contextlib.contextmanager
def reads_in_process(server_app):
    """Large reads made in the server's own threads meanwhile, as while its pool starts."""
    pool = server_app.contents_manager.notebook_process_pool
    pool.taking = lambda: False  # the instance's, over the method
    try:
        yield
    finally:
        del pool.taking


async def both_ways(api, server_app, path: str, params: dict[str, str] | None = None) -> tuple[Any, Any]:
    """(reply through a worker, reply in-process) to the same GET of an unchanged file."""
    manager = server_app.contents_manager
    await ready(manager.notebook_process_pool)  # up: a large read goes to a worker
    across = await api.get(f"api/contents/{path}", params=params)
    manager.replies.clear()
    with reads_in_process(server_app):
        here = await api.get(f"api/contents/{path}", params=params)
    return across, here


@pytest.mark.gen_test(timeout=60)
@pytest.mark.parametrize("trusted", [True, False])
@pytest.mark.parametrize("settled_seconds", [-1.0, 1e9], ids=["settled", "just-written"])
async def test_a_notebook_read_through_a_worker_is_the_servers_own_reply(
        api, root_dir, server_app, replies_across, trusted, settled_seconds, monkeypatch):
    # Either rule for the whole test: a real 2.5 s could pass between the two reads of a pair,
    # and a settled reply's tag is made from the file's stamp, a just-written one's from its bytes.
    monkeypatch.setattr(replycache, "SETTLED_SECONDS", settled_seconds)
    response = await api.put("api/contents/big.ipynb", {"type": "notebook", "content": large_notebook(trusted)})
    assert response.status == 201
    for params in (None, {"hash": "1"}):
        across, here = await both_ways(api, server_app, "big.ipynb", params)
        assert across.status == here.status == 200
        assert across.body == here.body and across.headers["ETag"] == here.headers["ETag"]
        assert here.json()["content"]["cells"][1]["metadata"]["trusted"] is trusted  # the server's notary said so
    assert replies_across == ["big.ipynb"] * 2


@pytest.mark.gen_test(timeout=60)
async def test_a_settled_notebook_read_through_a_worker_is_kept_and_learned(api, root_dir, server_app,
                                                                           replies_across, settled_at_once):
    nb = large_notebook()
    nb["cells"][0]["cell_type"] = "unknown"  # invalid: the reply carries the validation message
    (root_dir / "old.ipynb").write_text(json.dumps(nb))
    (root_dir / "nan.ipynb").write_bytes(
        (root_dir / "old.ipynb").read_bytes().replace(b'"execution_count": 1', b'"execution_count": NaN', 1))
    replies = server_app.contents_manager.replies
    await ready(server_app.contents_manager.notebook_process_pool)
    across = await api.get("api/contents/old.ipynb")
    assert replies_across == ["old.ipynb"] and replies.stats().entries == 1  # the worker's reply, kept
    again = await api.get("api/contents/old.ipynb")  # from the reply cache, not a worker
    assert replies_across == ["old.ipynb"] and replies.stats().hits == 1
    assert (again.body, again.headers["ETag"]) == (across.body, across.headers["ETag"])
    assert "message" in across.json()
    replies.clear()
    with reads_in_process(server_app):
        here = await api.get("api/contents/old.ipynb")  # in-process, the signature learned from the worker
    assert (here.body, here.headers["ETag"]) == (across.body, across.headers["ETag"])
    nan_across, nan_here = await both_ways(api, server_app, "nan.ipynb")
    assert nan_across.body == nan_here.body and "NaN" in nan_across.json()["message"]
    assert replies_across == ["old.ipynb", "nan.ipynb"]


@pytest.mark.gen_test(timeout=60)
async def test_reads_through_workers_are_no_more_at_once_than_notebook_jobs(api, root_dir, server_app,
                                                                              monkeypatch):
    manager = server_app.contents_manager
    monkeypatch.setattr(manager, "notebook_jobs", 1)
    manager._notebook_slots = None  # made again with one slot
    inside, most = 0, 0
    across = filemanager.FileContentsManager._reply_across

    async def counting(self, key):
        nonlocal inside, most
        inside += 1
        most = max(most, inside)
        try:
            return await across(self, key)
        finally:
            inside -= 1
    monkeypatch.setattr(filemanager.FileContentsManager, "_reply_across", counting)
    for index in range(4):
        (root_dir / f"{index}.ipynb").write_text(json.dumps(large_notebook(text=f"{index} é ")))
    await ready(manager.notebook_process_pool)
    replies = await asyncio.gather(*(api.get(f"api/contents/{index}.ipynb") for index in range(4)))
    assert [reply.status for reply in replies] == [200] * 4 and most == 1  # two workers, one slot


@pytest.mark.gen_test(timeout=60)
async def test_refusals_of_a_read_through_a_worker_are_the_servers(api, root_dir, server_app, replies_across):
    (root_dir / "broken.ipynb").write_text('{"cells": [' + " " * OFF_LOOP_BODY_BYTES)
    (root_dir / "folder.ipynb").mkdir()
    for path, params in (("broken.ipynb", None), ("folder.ipynb", None), ("broken.ipynb", {"format": "text"}),
                         ("missing.ipynb", None), ("broken.ipynb", {"type": "file"})):
        across, here = await both_ways(api, server_app, path, params)
        assert (across.status, across.body) == (here.status, here.body), path
    assert across.status == 200 and across.json()["type"] == "file"
    assert replies_across == []  # only a refused notebook's parse went to the worker, and raised
    statuses = [(await api.get(f"api/contents/{path}")).status for path in ("broken.ipynb", "missing.ipynb")]
    assert statuses == [400, 404]


@pytest.mark.gen_test(timeout=60)
@pytest.mark.parametrize("change", ["replaced", "rewritten in place", "a FIFO put in its place", "removed"])
async def test_a_file_changed_after_the_servers_stat_is_read_in_process(api, root_dir, server_app, replies_across,
                                                                       monkeypatch, change):
    """The worker reads only the file and version the server resolved and stat'ed (what it knows
    of that version goes with the job); anything else is read again in-process, the reply made
    from what is there then, and a FIFO does not hold the worker."""
    path = root_dir / "moving.ipynb"
    path.write_text(json.dumps(large_notebook(text="before ")))
    after = json.dumps(large_notebook(text="after! "))
    start = filemanager.FileContentsManager._start_reply

    def changing(self, key):
        started = start(self, key)
        if change == "replaced":
            (root_dir / "new.ipynb").write_text(after)
            os.replace(root_dir / "new.ipynb", path)
        elif change == "rewritten in place":
            with open(path, "r+") as handle:  # the same inode, the same size: only its time tells
                handle.write(after)
            os.utime(path, ns=(time.time_ns() + 10**9,) * 2)
        elif change == "a FIFO put in its place":
            path.unlink()
            os.mkfifo(path)
        else:
            path.unlink()
        return started
    monkeypatch.setattr(filemanager.FileContentsManager, "_start_reply", changing)
    pool = server_app.contents_manager.notebook_process_pool
    run, answers = pool.run, []

    async def recording(function, *args, **kwargs):
        try:
            answers.append(await run(function, *args, **kwargs))
        except OSError as exc:
            answers.append(type(exc))
            raise
        return answers[-1]
    monkeypatch.setattr(pool, "run", recording)
    await ready(pool)
    response = await api.get("api/contents/moving.ipynb")
    assert replies_across == [] and answers == [FileNotFoundError if change == "removed" else None]  # the worker's
    if change in ("replaced", "rewritten in place"):
        assert response.status == 200 and response.json()["content"]["cells"][0]["source"].startswith("after! ")
    else:
        assert response.status == 404
    assert server_app.contents_manager.notebook_process_pool.deaths == 0


# -- a server killed outright ----------------------------------------------------------------

def test_the_workers_of_a_killed_server_end_with_it(tmp_path: Path):
    """SIGKILL to a real server (no chance to stop anything): its notebook processes get SIGTERM
    from the kernel (``PR_SET_PDEATHSIG``) and end."""
    import urllib.request

    root = tmp_path / "served"
    root.mkdir()
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "nbserver", f"--port={port}", "--ip=127.0.0.1", "--no-browser",
         "--IdentityProvider.token=secret-token-123", f"--root-dir={root}", "--FileContentsManager.notebook_processes=2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    workers: list[int] = []
    try:
        body = json.dumps({"type": "notebook", "content": large_notebook()}).encode()

        def save(name: str) -> None:
            request = urllib.request.Request(f"http://127.0.0.1:{port}/api/contents/{name}", data=body,
                                             method="PUT", headers={"Authorization": "token secret-token-123"})
            with contextlib.suppress(OSError):  # not listening yet
                urllib.request.urlopen(request, timeout=30).read()

        deadline = time.monotonic() + 60
        with concurrent.futures.ThreadPoolExecutor(4) as clients:
            while len(workers) < 2:  # saves at once start the workers
                assert time.monotonic() < deadline and server.poll() is None, "no notebook processes started"
                list(clients.map(save, [f"n{index}.ipynb" for index in range(4)]))
                time.sleep(0.2)
                workers = [pid for pid in child_pids(server.pid) if b"notebookworker" in cmdline(pid)]
        os.kill(server.pid, signal.SIGKILL)
        server.wait(10)
        deadline = time.monotonic() + 20
        while any(map(process_exists, workers)):
            assert time.monotonic() < deadline, "notebook processes outlived their server"
            time.sleep(0.05)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(10)
        for pid in workers:  # only if the test failed: they are the server's, found by its pid
            if process_exists(pid):
                os.kill(pid, signal.SIGKILL)


def cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read()
    except OSError:
        return b""
