"""The C library, opened once through ctypes for the few calls Python's ``os`` module lacks.

Users: :mod:`nbserver.allocator` (glibc's ``mallopt`` and ``malloc_trim``), the search worker
and the notebook processes (``prctl``, :func:`die_with_parent`), the search worker's I/O priority (``syscall``),
:mod:`nbserver.services.files.writeback` (``sync_file_range``) and
:mod:`nbserver.services.contents.nowait` (``syscall`` for ``openat2``). ``use_errno`` lets them
read ``errno`` after a failed call (``ctypes.get_errno``). A caller that sets argument types takes
a function object of its own (:func:`c_function`): ``libc().name`` is one object shared by
every caller, and types set on it would apply to all (``syscall`` takes different arguments
for different calls).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import signal
import sys
from typing import Any

#: prctl(2)'s option: the signal this process gets when the thread that started it ends.
PR_SET_PDEATHSIG = 1


@functools.cache
def libc() -> ctypes.CDLL | None:
    """The process's C library (``errno`` kept for ``ctypes.get_errno``), or None where ctypes
    cannot open it."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    except OSError:
        return None


def c_function(name: str) -> Any | None:
    """A new ctypes function object for the C library's ``name`` (its own ``argtypes`` and
    ``restype`` to set), or None without the library or without that function."""
    library = libc()
    if library is None:
        return None
    try:
        return library[name]
    except AttributeError:
        return None


def die_with_parent(parent: int) -> None:
    """Get SIGTERM when the thread that started this process ends (Linux's ``PR_SET_PDEATHSIG``);
    exit now if ``parent`` (its pid) has already ended."""
    library = libc()
    if sys.platform.startswith("linux") and library is not None:
        library.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:
        raise SystemExit(0)
