"""How much freed memory the C allocator keeps for reuse: a server's buffers are megabytes each.

A notebook read or save makes several buffers the size of the file (its bytes, the decoded text,
the parsed strings, the reply or the file text). glibc's malloc maps a buffer past its mmap
threshold fresh from the kernel and gives the pages back when it is freed, and it gives back the
free memory at the top of an arena once that passes its trim threshold. Both thresholds adapt to
the last large buffer freed, but a request that frees three 3 MB buffers at once still passes the
trim threshold (twice the mmap one), so every request faults its pages in again: for a 3 MB notebook's
first read that was about a third of the server's CPU (page faults, zeroing and unmapping;
``perf``, docs/performance.md section 10, fourth round). Setting both thresholds (glibc's
``mallopt``) keeps up to :data:`MMAP_THRESHOLD_MAX` buffers in the arenas and up to the given bytes
freed per arena, so the next request reuses the pages.

Kept memory at the top of a thread's arena is given back only by a ``free`` in that arena, never by
``malloc_trim`` (glibc trims the top of its main arena only; of the others it releases the free
chunks in their bins), so every thread that once allocated large buffers kept up to the trim
threshold resident for the process's life: after the benchmark's workloads, 12 arenas held 198 MB
of which 30 MB were in use, and the server stayed at 185 MB when idle (docs/performance.md,
section 6). :func:`limit_arenas` makes every thread allocate from the main arena, whose free top
:func:`trim_heap` gives back.
"""

from __future__ import annotations

import ctypes
import functools
from typing import Any, NamedTuple

from nbserver.libc import c_function

#: glibc's mallopt parameters (malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
#: glibc refuses a larger mmap threshold on 64-bit systems (half its arena heap size, 64 MiB).
MMAP_THRESHOLD_MAX = 32 * 1024 * 1024


class GlibcMalloc(NamedTuple):
    """glibc's two allocator calls, each a function object of its own with its argument types set."""

    mallopt: Any
    malloc_trim: Any


@functools.cache
def glibc() -> GlibcMalloc | None:
    """``mallopt`` and ``malloc_trim`` when the C library is glibc (it has ``gnu_get_libc_version``),
    as fresh function objects (:func:`nbserver.libc.c_function`) so their types apply to no other
    caller; else None."""
    if c_function("gnu_get_libc_version") is None:
        return None
    mallopt = c_function("mallopt")
    malloc_trim = c_function("malloc_trim")
    if mallopt is None or malloc_trim is None:
        return None
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    malloc_trim.argtypes = [ctypes.c_size_t]
    malloc_trim.restype = ctypes.c_int
    return GlibcMalloc(mallopt, malloc_trim)


def keep_freed_memory(keep_bytes: int) -> bool:
    """Let glibc keep up to ``keep_bytes`` (bytes) of freed memory per arena instead of giving it back
    to the kernel, and serve buffers up to ``min(keep_bytes, MMAP_THRESHOLD_MAX)`` from its arenas.

    True when both thresholds were set; False (nothing changed) for 0, on a C library other than
    glibc, or when glibc refuses a value. Process-wide and for the process's life; fixing the
    thresholds turns off glibc's adaptation of them (``mallopt(3)``).
    """
    libc = glibc()
    if keep_bytes <= 0 or libc is None:
        return False
    keep_bytes = min(keep_bytes, 2**31 - 1)  # mallopt takes an int
    return bool(libc.mallopt(M_MMAP_THRESHOLD, min(keep_bytes, MMAP_THRESHOLD_MAX))) \
        and bool(libc.mallopt(M_TRIM_THRESHOLD, keep_bytes))


def limit_arenas(count: int) -> bool:
    """Let glibc create at most ``count`` malloc arenas (1: every thread allocates from the main
    arena, whose free top :func:`trim_heap` can give back; see the module docstring).

    True when set; False (nothing changed) for 0, on a C library other than glibc, or when glibc
    refuses it. Threads that already have an arena keep it: call before starting threads.
    Process-wide; costs a lock shared by threads allocating at once (Python threads mostly allocate
    holding the GIL, so rarely at once).
    """
    malloc = glibc()
    if count <= 0 or malloc is None:
        return False
    return bool(malloc.mallopt(M_ARENA_MAX, min(count, 2**31 - 1)))


def trim_heap() -> bool:
    """Hand the free memory of every malloc arena back to the system (glibc's ``malloc_trim(0)``,
    which walks the heap: call it off the event loop). True when some was released; False when
    none was, or where the C library is not glibc."""
    libc = glibc()
    return bool(libc.malloc_trim(0)) if libc is not None else False
