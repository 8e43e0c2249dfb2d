"""HeapTrimmer: freed heap memory goes back to the system once requests stop coming."""

from __future__ import annotations

import asyncio
import ctypes
from pathlib import Path
from typing import Any

import pytest

from nbserver.allocator import glibc, trim_heap
from nbserver.heaptrim import HeapTrimmer
from tests.support.api_client import APIClient

needs_glibc = pytest.mark.skipif(glibc() is None, reason="no malloc_trim in this C library")


def rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@needs_glibc
def test_trim_heap_gives_freed_memory_back() -> None:
    """Many small blocks freed in the middle of the heap stay resident until the trim."""
    libc = ctypes.CDLL("libc.so.6")
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    blocks = [libc.malloc(4096) for _ in range(20_000)]  # 80 MB in chunks below the mmap threshold
    for block in blocks:
        ctypes.memset(block, 1, 4096)
    keep = libc.malloc(64)  # above them: the top of the heap cannot shrink past it
    for block in blocks:
        libc.free(block)
    before = rss_kb()
    assert trim_heap()
    assert rss_kb() < before - 40_000
    libc.free(keep)


@needs_glibc
@pytest.mark.gen_test(timeout=10)
async def test_the_trimmer_trims_once_after_requests_then_quiet() -> None:
    trimmer = HeapTrimmer(heap_trim_quiet=0.1)
    trimmer.start()
    try:
        await asyncio.sleep(0.3)
        assert trimmer.trims == 0  # nothing was served: nothing to give back
        trimmer.saw_request()
        await asyncio.sleep(0.4)
        assert trimmer.trims == 1
        await asyncio.sleep(0.3)
        assert trimmer.trims == 1  # once per busy spell
    finally:
        await trimmer.stop()


@pytest.mark.gen_test(timeout=10)
async def test_the_trimmer_does_not_trim_while_requests_keep_coming() -> None:
    trimmer = HeapTrimmer(heap_trim_quiet=0.2)
    trimmer.start()
    try:
        for _ in range(8):
            trimmer.saw_request()
            await asyncio.sleep(0.05)
        assert trimmer.trims == 0
    finally:
        await trimmer.stop()


@pytest.mark.gen_test(timeout=10)
async def test_requests_to_the_server_are_counted(api: APIClient, server_app: Any) -> None:
    assert (await api.get("api/status")).status == 200
    assert server_app.heap_trimmer._busy_since_trim
