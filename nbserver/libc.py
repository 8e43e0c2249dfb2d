"""The C library, opened once through ctypes for the few calls Python's ``os`` module lacks.

Users: :mod:`nbserver.allocator` (glibc's ``mallopt`` and ``malloc_trim``), the search worker
(``prctl``, and ``syscall`` for the I/O priority),
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
from typing import Any


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
