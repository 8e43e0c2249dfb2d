"""nbserver.allocator: glibc keeps freed buffers for reuse, so the next request's buffers fault no pages in."""

from __future__ import annotations

import ctypes
import json
import subprocess
import sys

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


def faults_per_round(keep_bytes: int) -> tuple[bool, float]:
    out = subprocess.run([sys.executable, "-c", ROUNDS, str(keep_bytes)], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    applied, faults = json.loads(out)
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
