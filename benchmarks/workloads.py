"""The workloads: each takes one running server and returns its figures, bounded in time.

A figure is a float, or a string saying why there is none ("n/a (not supported)", "timeout",
"error: ..."). Every workload talks to the server only through ``loadgen``.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import shutil
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable
from urllib.parse import quote

from fixtures import FOLDER_5K, FOLDER_100K, NOTEBOOK, SMALL_FILE
import procstat
import shapes
from floor import stream_code
from loadgen import BenchmarkError, KernelSocket, closed_loop_load, one_request
from servers import RunningServer

Figures = dict[str, Any]

NOT_SUPPORTED = "n/a (not supported)"


@dataclass
class Budget:
    """How long and how often each workload runs; ``quick`` shrinks everything for a smoke run."""

    load_seconds: float = 5.0
    load_warmup: float = 1.0
    listing_seconds: float = 10.0
    listing_max_repeats: int = 7
    listing_100k_timeout: float = 120.0
    kernel_starts: int = 3
    round_trips: int = 200
    stream_bytes: int = 20_000_000
    stream_timeout: float = 120.0
    pool_fill_wait: float = 10.0

    @classmethod
    def quick(cls) -> Budget:
        return cls(load_seconds=1.5, load_warmup=0.5, listing_seconds=3.0, listing_max_repeats=3,
                   listing_100k_timeout=60.0, kernel_starts=1, round_trips=50, pool_fill_wait=8.0)


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


def contents_path(path: str, query: str = "") -> str:
    return f"/api/contents/{quote(path)}" + (f"?{query}" if query else "")


# -- contents -------------------------------------------------------------------------------


async def notebook_get(server: RunningServer, budget: Budget, notebook_json: str) -> Figures:
    path = contents_path(NOTEBOOK, "content=1")
    result = await closed_loop_load(server.port, server.token, 8, budget.load_seconds, budget.load_warmup,
                                    lambda _: ("GET", path, None))
    return {"notebook_get": result.per_second}


async def notebook_put(server: RunningServer, budget: Budget, notebook_json: str) -> Figures:
    body = ('{"type": "notebook", "format": "json", "content": ' + notebook_json + "}").encode()
    # One file per connection: both servers' atomic saves of one path are not meant to race.
    paths = [contents_path(f"put-{index}.ipynb") for index in range(4)]
    result = await closed_loop_load(server.port, server.token, 4, budget.load_seconds, budget.load_warmup,
                                    lambda index: ("PUT", paths[index], body))
    return {"notebook_put": result.per_second}


def changing_files(root: Path, file_name: str, connections: int) -> Callable[[int], tuple[str, str, bytes | None]]:
    """A request maker for first reads: connection ``i`` GETs its own copy of ``root/file_name``
    (``first-i-<file_name>``, made here), after giving that copy a new modification time (1
    microsecond later each time, an hour back). For the server every request reads a file it has
    not read in that version, as after an edit, and nothing it kept from an earlier read applies.

    One copy per connection, as the saves have one file per connection: no connection's change of
    a file lands while another's read of it is under way (a read of a file changed under it is
    another case, which each server handles its own way; docs/performance.md section 26)."""
    source = root / file_name
    copies = [root / f"first-{index}-{file_name}" for index in range(connections)]
    requests = [("GET", contents_path(copy.name, "content=1"), None) for copy in copies]
    for copy in copies:
        shutil.copyfile(source, copy)
    stamp = [time.time_ns() - 3600 * 10**9]

    def make(index: int) -> tuple[str, str, bytes | None]:
        stamp[0] += 1000
        os.utime(copies[index], ns=(stamp[0], stamp[0]))
        return requests[index]
    return make


async def notebook_shapes(server: RunningServer, budget: Budget, notebook_json: str) -> Figures:
    """GET (concurrency 4) of each notebook shape, unchanged and as a first read of a changed file,
    and PUT (concurrency 2, one file per connection)."""
    figures: Figures = {}
    pid = server.process.pid

    async def load(key: str, concurrency: int, make_request: Callable[[int], Any]) -> None:
        # The server's CPU time per request as well: on a machine shared with other work it moves
        # far less than the throughput does.
        cpu_before = process_cpu_seconds(pid)
        result = await closed_loop_load(server.port, server.token, concurrency, budget.load_seconds,
                                        budget.load_warmup, make_request)
        figures[key] = result.per_second
        if key.endswith(("_first", "_put")):
            figures[key + "_cpu"] = (process_cpu_seconds(pid) - cpu_before) / max(1, result.answered) * 1000

    for name, (file_name, _) in shapes.SHAPES.items():
        path = contents_path(file_name, "content=1")
        await load(f"shape_{name}_get", 4, lambda _: ("GET", path, None))
        await load(f"shape_{name}_get_first", 4, changing_files(server.root, file_name, 4))
        text = shapes.shape_text(name)
        body = ('{"type": "notebook", "format": "json", "content": ' + text + "}").encode("utf-8")
        paths = [contents_path(f"put-{name}-{index}.ipynb") for index in range(2)]
        await load(f"shape_{name}_put", 2, lambda index: ("PUT", paths[index], body))
    return figures


async def small_file_get(server: RunningServer, budget: Budget, notebook_json: str) -> Figures:
    path = contents_path(SMALL_FILE, "content=1")
    result = await closed_loop_load(server.port, server.token, 16, budget.load_seconds, budget.load_warmup,
                                    lambda _: ("GET", path, None))
    return {"small_file_get": result.per_second}


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds a server has used so far: its process (all its threads) and
    its running child processes (nbserver's notebook processes and search index worker; kernels,
    but none runs during the workloads that read this)."""
    return procstat.cpu_seconds(pid) + procstat.children_cpu_seconds(pid)


async def wrk_rate(port: int, token: str, path: str, seconds: float, pid: int | None) -> tuple[float, float | None]:
    """(requests per second, server CPU microseconds per request) of wrk (one thread, 16 connections,
    written in C: not the bottleneck) GETting ``path`` for ``seconds``, after a one-second warm-up."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise BenchmarkError("wrk is not installed (Debian: apt-get install wrk)")

    async def run(duration: float) -> str:
        process = await asyncio.create_subprocess_exec(
            wrk, "-t1", "-c16", f"-d{max(1, round(duration))}s", "-H", f"Authorization: token {token}",
            f"http://127.0.0.1:{port}{path}", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(process.communicate(), duration + 60)
        text = out.decode()
        if process.returncode != 0 or "Non-2xx" in text or "Socket errors" in text:
            raise BenchmarkError(f"wrk {path}: {(text + err.decode())[-300:]}")
        return text

    await run(1)
    cpu_before = process_cpu_seconds(pid) if pid else None
    text = await run(seconds)
    requests = int(re.search(r"(\d+) requests in", text).group(1))  # type: ignore[union-attr]
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))  # type: ignore[union-attr]
    cpu = (process_cpu_seconds(pid) - cpu_before) / requests * 1e6 if pid and cpu_before is not None else None
    return rate, cpu


async def small_requests(server: Any, budget: Budget, notebook_json: str) -> Figures:
    """The server's own ceiling for small GETs (``/files/`` of the 100-byte file, ``/api/status``),
    with a client that saturates it; ``server`` may be the bare tornado floor (benchmarks/floor_http.py)."""
    figures: Figures = {}
    pid = server.pid if hasattr(server, "pid") else server.process.pid
    for key, path in (("small_files_wrk", f"/files/{quote(SMALL_FILE)}"), ("status_wrk", "/api/status")):
        rate, cpu = await wrk_rate(server.port, server.token, path, budget.load_seconds, pid)
        figures[key] = rate
        if cpu is not None:
            figures[key + "_cpu"] = cpu
    return figures


async def timed_get(server: RunningServer, path: str, timeout: float) -> tuple[float, Any]:
    started = time.perf_counter()
    response = await one_request(server.port, server.token, "GET", path, timeout=timeout)
    elapsed = time.perf_counter() - started
    if response.status != 200:
        raise BenchmarkError(f"GET {path} answered {response.status}: {response.body[:200]!r}")
    return elapsed, response.json()


async def repeated_listing(server: RunningServer, budget: Budget, query: str, expect_entries: int | None) -> float:
    """Median seconds of back-to-back listings of the 5,000-file folder, within the time budget."""
    samples: list[float] = []
    deadline = time.perf_counter() + budget.listing_seconds
    while len(samples) < budget.listing_max_repeats and (not samples or time.perf_counter() < deadline):
        elapsed, model = await timed_get(server, contents_path(FOLDER_5K, query), budget.listing_seconds + 60)
        if expect_entries is not None and len(model.get("content") or []) != expect_entries:
            raise BenchmarkError(f"the listing has {len(model.get('content') or [])} entries, not {expect_entries}")
        samples.append(elapsed)
    return statistics.median(samples)


async def list_5000(server: RunningServer, budget: Budget, notebook_json: str) -> Figures:
    return {
        "list_5000": await repeated_listing(server, budget, "content=1", 5000),
        "list_5000_no_content": await repeated_listing(server, budget, "content=0", None),
    }


async def list_100000(server: RunningServer, budget: Budget, notebook_json: str) -> Figures:
    """The paged first page when the server has paged listings (probed on the small folder
    first), then one full listing bounded by a timeout."""
    figures: Figures = {}
    _, probe = await timed_get(server, contents_path(FOLDER_5K, "content=1&page_size=10"), 120)
    if "total" in probe and len(probe.get("content") or []) <= 10:
        elapsed, page = await timed_get(server, contents_path(FOLDER_100K, "content=1&page_size=100"), 60)
        if page.get("total") != 100_000 or len(page.get("content") or []) != 100:
            raise BenchmarkError(f"the first page has total={page.get('total')}, {len(page.get('content'))} entries")
        figures["list_100000_first_page"] = elapsed * 1000
        again, _ = await timed_get(server, contents_path(FOLDER_100K, "content=1&page_size=100"), 60)
        figures["list_100000_first_page_again"] = again * 1000
    else:
        figures["list_100000_first_page"] = figures["list_100000_first_page_again"] = NOT_SUPPORTED
    try:
        elapsed, model = await timed_get(server, contents_path(FOLDER_100K, "content=1"), budget.listing_100k_timeout)
        if len(model.get("content") or []) != 100_000:
            raise BenchmarkError(f"the listing has {len(model.get('content') or [])} entries, not 100000")
        figures["list_100000"] = elapsed
    except asyncio.TimeoutError:
        figures["list_100000"] = f"timeout (> {budget.listing_100k_timeout:.0f} s)"
    return figures


# -- kernels --------------------------------------------------------------------------------


async def start_kernel(server: RunningServer) -> str:
    response = await one_request(server.port, server.token, "POST", "/api/kernels",
                                 json.dumps({"name": "python3"}).encode(), timeout=120)
    if response.status not in (200, 201):
        raise BenchmarkError(f"POST /api/kernels answered {response.status}: {response.body[:200]!r}")
    return response.json()["id"]


async def delete_kernel(server: RunningServer, kernel_id: str) -> None:
    response = await one_request(server.port, server.token, "DELETE", f"/api/kernels/{kernel_id}", timeout=60)
    if response.status != 204:
        raise BenchmarkError(f"DELETE /api/kernels/{kernel_id} answered {response.status}")


async def kernel_to_first_reply(server: RunningServer) -> float:
    """Seconds from POST /api/kernels to the execute_reply of ``1+1`` over the channels websocket."""
    started = time.perf_counter()
    kernel_id = await start_kernel(server)
    socket = await KernelSocket.open(server.port, server.token, kernel_id)
    try:
        await socket.execute("1+1", timeout=120)
        elapsed = time.perf_counter() - started
    finally:
        socket.close()
    await delete_kernel(server, kernel_id)
    return elapsed


async def kernel_start(server: RunningServer, budget: Budget, notebook_json: str) -> Figures:
    samples = [await kernel_to_first_reply(server) for _ in range(budget.kernel_starts)]
    return {"kernel_start_cold": statistics.median(samples)}


async def kernel_start_warm(server: RunningServer, budget: Budget) -> Figures:
    """On a server started with a kernel pool: wait for it to fill, then time starts, giving the
    pool the same time to refill before each one."""
    samples = []
    for _ in range(budget.kernel_starts):
        await asyncio.sleep(budget.pool_fill_wait)
        samples.append(await kernel_to_first_reply(server))
    return {"kernel_start_warm": statistics.median(samples)}


async def with_kernel(server: RunningServer, use: Callable[[KernelSocket], Awaitable[Figures]]) -> Figures:
    kernel_id = await start_kernel(server)
    socket = await KernelSocket.open(server.port, server.token, kernel_id)
    try:
        await socket.execute("1+1", timeout=120)
        return await use(socket)
    finally:
        socket.close()
        await delete_kernel(server, kernel_id)


async def execute_rtt(server: RunningServer, budget: Budget, notebook_json: str) -> Figures:
    async def measure(socket: KernelSocket) -> Figures:
        for _ in range(10):
            await socket.execute("pass")
        samples = [await socket.execute("pass") for _ in range(budget.round_trips)]
        return {"execute_rtt_median": statistics.median(samples) * 1000, "execute_rtt_p99": p99(samples) * 1000}
    return await with_kernel(server, measure)


async def stream_output(server: RunningServer, budget: Budget, notebook_json: str) -> Figures:
    async def measure(socket: KernelSocket) -> Figures:
        try:
            received, seconds, start = await socket.stream(stream_code(budget.stream_bytes), budget.stream_timeout)
        except asyncio.TimeoutError:
            return {"stream_output": f"timeout (> {budget.stream_timeout:.0f} s)"}
        if received < budget.stream_bytes:
            return {"stream_output": f"error: {received} of {budget.stream_bytes} bytes arrived, starting {start!r}"}
        return {"stream_output": received / 1e6 / seconds}
    return await with_kernel(server, measure)


# The workloads run against every server, in this order; each name can be given to --only.
SERVER_WORKLOADS: dict[str, Callable[..., Awaitable[Figures]]] = {
    "small_file_get": small_file_get,
    "small_requests": small_requests,
    "notebook_get": notebook_get,
    "notebook_put": notebook_put,
    "list_5000": list_5000,
    "notebook_shapes": notebook_shapes,
    "kernel_start": kernel_start,
    "execute_rtt": execute_rtt,
    "stream_output": stream_output,
}
