"""Bursts of kernel starts: what opening a workspace of several notebooks costs.

For each pool size (0: every start cold), a server of its own is started; once its pool is full,
five kernels are started at once (concurrent ``POST /api/kernels``) and, after the pool has
refilled, five back to back (each as soon as the last one answered). Each start is timed from its
POST to the ``kernel_info_reply`` on its channels websocket, the first reply a frontend waits
for. Also measured: how long the pool takes to be full again, from the burst's first POST, and the idle memory of each
pooled kernel process (RSS and PSS from ``/proc/<pid>/smaps_rollup``; PSS shares the pages the
kernels have in common among them, so it is what one more pooled kernel costs).
"""

from __future__ import annotations

import asyncio
import re
import statistics
import time
from pathlib import Path
from typing import Any

import fixtures
from loadgen import BenchmarkError, KernelSocket
from servers import RunningServer, ServerCommand, kill_leftovers, processes_inside
from workloads import NOT_SUPPORTED, Figures, delete_kernel, start_kernel

BURST = 5
#: The pool sizes measured; 0 is a server without a pool (the only kind jupyter_server has).
POOL_SIZES = (0, 1, 5)
POOL_FILL_TIMEOUT = 120.0


def row_keys(pool_size: int) -> list[str]:
    prefix = f"kernel_burst_p{pool_size}"
    keys = [f"{prefix}_median", f"{prefix}_max", f"{prefix}_total", f"{prefix}_seq_max", f"{prefix}_seq_total"]
    return keys + ([f"{prefix}_refill"] if pool_size else [])


def memory_keys() -> list[str]:
    return ["kernel_pool_idle_rss", "kernel_pool_idle_pss"]


async def start_to_first_reply(server: RunningServer) -> tuple[float, str]:
    """(seconds from POST /api/kernels to the kernel_info_reply on its websocket, kernel id)."""
    started = time.perf_counter()
    kernel_id = await start_kernel(server)
    socket = await KernelSocket.open(server.port, server.token, kernel_id, timeout=120)
    try:
        reply = await socket.kernel_info(timeout=120)
        elapsed = time.perf_counter() - started
    finally:
        socket.close()
    if reply["content"].get("status") != "ok":
        raise BenchmarkError(f"kernel_info_reply of {kernel_id}: {reply['content']}")
    return elapsed, kernel_id


async def burst_at_once(server: RunningServer) -> tuple[list[float], float, list[str]]:
    started = time.perf_counter()
    results = await asyncio.gather(*(start_to_first_reply(server) for _ in range(BURST)))
    return [seconds for seconds, _ in results], time.perf_counter() - started, [kernel for _, kernel in results]


async def burst_back_to_back(server: RunningServer) -> tuple[list[float], float, list[str]]:
    started = time.perf_counter()
    results = [await start_to_first_reply(server) for _ in range(BURST)]
    return [seconds for seconds, _ in results], time.perf_counter() - started, [kernel for _, kernel in results]


def pool_full_count(server: RunningServer, size: int) -> int:
    """How many times nbserver's log said its pool is full (``is ready (size/size)``)."""
    try:
        text = server.log_path.read_text(errors="replace")
    except OSError:
        return 0
    return len(re.findall(rf"Kernel pool: .* is ready \({size}/{size}\)", text))


async def wait_pool_full(server: RunningServer, size: int, times: int) -> float:
    """Seconds until the log says the pool is full for the ``times``-th time."""
    started = time.perf_counter()
    while pool_full_count(server, size) < times:
        if time.perf_counter() - started > POOL_FILL_TIMEOUT:
            raise BenchmarkError(f"the pool of {size} was not full within {POOL_FILL_TIMEOUT:.0f} s")
        await asyncio.sleep(0.02)
    return time.perf_counter() - started


def kernel_pids(runtime_dir: Path) -> list[int]:
    """The server's kernels: processes naming a connection file in its runtime folder."""
    return processes_inside(str(runtime_dir))


def rss_pss_mb(pid: int) -> tuple[float, float]:
    values = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("Rss", "Pss"):
            values[name] = int(rest.split()[0]) / 1024
    return values["Rss"], values["Pss"]


async def delete_all(server: RunningServer, kernel_ids: list[str]) -> None:
    await asyncio.gather(*(delete_kernel(server, kernel_id) for kernel_id in kernel_ids))


async def measure_pool_size(spec: ServerCommand, scratch: Path, token: str, pool_size: int,
                            log: Any) -> Figures:
    prefix = f"kernel_burst_p{pool_size}"
    if pool_size and not spec.features.get("kernel_pool"):
        return {key: NOT_SUPPORTED for key in row_keys(pool_size)} | (
            {key: NOT_SUPPORTED for key in memory_keys()} if pool_size == BURST else {})
    root = scratch / f"burst{pool_size}-root"
    home = scratch / f"burst{pool_size}-home"
    fixtures.make_root(root, "{}", False)
    extra = [f"{spec.pool_option}={pool_size}"] if pool_size else []
    server = RunningServer(spec, root, home, token, extra)
    figures: Figures = {}
    try:
        server.start()
        if pool_size:
            await wait_pool_full(server, pool_size, 1)
            await asyncio.sleep(2.0)  # the kernels settle to their idle memory
            if pool_size == BURST:
                memory = [rss_pss_mb(pid) for pid in kernel_pids(home / "runtime")]
                if len(memory) != pool_size:
                    raise BenchmarkError(f"{len(memory)} kernel processes wait in a pool of {pool_size}")
                figures["kernel_pool_idle_rss"] = statistics.mean(rss for rss, _ in memory)
                figures["kernel_pool_idle_pss"] = statistics.mean(pss for _, pss in memory)
        burst_started = time.perf_counter()
        each, total, kernels = await burst_at_once(server)
        figures |= {f"{prefix}_median": statistics.median(each) * 1000, f"{prefix}_max": max(each) * 1000,
                    f"{prefix}_total": total * 1000}
        log(f"    {spec.name} pool {pool_size}: 5 at once, each " + ", ".join(f"{s * 1000:.0f}" for s in each)
            + f" ms, total {total * 1000:.0f} ms")
        if pool_size:
            await wait_pool_full(server, pool_size, 2)
            figures[f"{prefix}_refill"] = time.perf_counter() - burst_started
        await delete_all(server, kernels)
        if pool_size:
            await asyncio.sleep(2.0)  # the refilled kernels settle, as before the first burst
        each, total, kernels = await burst_back_to_back(server)
        figures |= {f"{prefix}_seq_max": max(each) * 1000, f"{prefix}_seq_total": total * 1000}
        log(f"    {spec.name} pool {pool_size}: 5 back to back, each " + ", ".join(f"{s * 1000:.0f}" for s in each)
            + f" ms, total {total * 1000:.0f} ms")
        await delete_all(server, kernels)
    finally:
        server.stop()
        kill_leftovers(str(scratch))
    return figures


async def kernel_bursts(spec: ServerCommand, scratch: Path, token: str, log: Any) -> Figures:
    """Every burst figure of one server (pool sizes it lacks are "n/a (not supported)")."""
    figures: Figures = {}
    for pool_size in POOL_SIZES:
        try:
            figures |= await asyncio.wait_for(measure_pool_size(spec, scratch, token, pool_size, log), 600)
        except Exception as error:  # a failing pool size is reported, the others still run
            text = f"error: {type(error).__name__}: {error}"[:300]
            keys = row_keys(pool_size) + (memory_keys() if pool_size == BURST else [])
            figures |= {key: text for key in keys if key not in figures}
    return figures
