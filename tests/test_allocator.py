"""nbserver.allocator: glibc keeps freed buffers for reuse, so the next request's buffers fault no pages in."""

from __future__ import annotations

import ctypes
import json
import subprocess
import sys
from typing import Any

import pytest

from nbserver.allocator import glibc, keep_freed_memory

# Three 4 MiB buffers made and freed together, as a notebook request makes and frees its buffers:
# with glibc's own thresholds the free memory passes the trim threshold and is given back, so each
# round faults its pages in again; kept, a round after the first faults none.
ROUNDS = """
import json, resource, sys
from nbserver.allocator import keep_freed_memory
applied = keep_freed_memory(int(sys.argv[1]))
def round_():
    held = [b"x" * (4 << 20) for _ in range(3)]
    del held
round_(); round_()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    round_()
print(json.dumps([applied, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 5]))
"""

needs_glibc = pytest.mark.skipif(glibc() is None, reason="the C library is not glibc")


def run_round(source: str, argument: int) -> list[Any]:
    """What a round script prints (JSON), run in a fresh interpreter: allocator settings are process-wide."""
    out = subprocess.run([sys.executable, "-c", source, str(argument)], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    return list(json.loads(out))


def faults_per_round(keep_bytes: int) -> tuple[bool, float]:
    applied, faults = run_round(ROUNDS, keep_bytes)
    return applied, faults


@needs_glibc
def test_kept_memory_is_reused_without_page_faults() -> None:
    applied, faults = faults_per_round(64 << 20)
    assert applied
    assert faults < 100  # 3 x 4 MiB is 3,072 pages


@needs_glibc
def test_zero_keeps_glibcs_thresholds() -> None:
    applied, faults = faults_per_round(0)
    assert not applied
    assert faults > 1000


def test_non_positive_changes_nothing() -> None:
    assert keep_freed_memory(0) is False
    assert keep_freed_memory(-1) is False


@needs_glibc
def test_the_shared_library_functions_keep_no_types() -> None:
    """glibc() types function objects of its own (nbserver.libc.c_function), not the shared ``libc().name``."""
    from nbserver.libc import libc

    malloc = glibc()
    assert malloc is not None
    assert malloc.malloc_trim.argtypes == [ctypes.c_size_t]
    shared = libc()
    assert shared is not None
    assert shared.mallopt.argtypes is None and shared.malloc_trim.argtypes is None


# A thread frees 24 MiB of buffers kept at the top of its arena; then the trim: how much stays resident.
THREAD_ROUND = """
import json, sys, threading
from nbserver.allocator import keep_freed_memory, limit_arenas, trim_heap
limited = limit_arenas(int(sys.argv[1]))
keep_freed_memory(64 << 20)
def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
def churn():
    held = [b"x" * (4 << 20) for _ in range(6)]
    del held
before = rss_mb()
thread = threading.Thread(target=churn)
thread.start()
thread.join()
trim_heap()
print(json.dumps([limited, rss_mb() - before]))
"""


def kept_after_trim(arena_max: int) -> tuple[bool, float]:
    limited, kept_mb = run_round(THREAD_ROUND, arena_max)
    return limited, kept_mb


@needs_glibc
def test_a_threads_freed_memory_is_given_back_with_one_arena() -> None:
    limited, kept_mb = kept_after_trim(1)
    assert limited
    assert kept_mb < 8


@needs_glibc
def test_a_thread_arenas_kept_top_survives_the_trim() -> None:
    """Why one arena: glibc's malloc_trim never shrinks the top of a thread's own arena."""
    limited, kept_mb = kept_after_trim(0)
    assert not limited
    assert kept_mb > 16
