"""nbserver.libc: one C library handle, function objects of their own for typed callers."""

from __future__ import annotations

import ctypes
import os
import sys

import pytest

from nbserver.libc import c_function, libc

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux's C library")


def test_the_library_is_opened_once_and_keeps_errno() -> None:
    library = libc()
    assert library is not None and library is libc()
    assert library.close(-1) == -1 and ctypes.get_errno() == 9  # EBADF, through use_errno


def test_typed_callers_get_function_objects_of_their_own() -> None:
    first, second = c_function("syscall"), c_function("syscall")
    assert first is not None and second is not None and first is not second
    first.argtypes = [ctypes.c_long, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t]
    # The shared attribute keeps no types: a 4-argument syscall (the search worker's ioprio_get) still works.
    getpid = 39 if os.uname().machine == "x86_64" else 172
    assert libc().syscall(getpid) == os.getpid()  # type: ignore[union-attr]
    assert c_function("no_such_function_in_libc") is None


def test_the_search_workers_io_priority_still_reads_after_the_no_wait_open_is_loaded() -> None:
    from nbserver.services.contents import nowait  # noqa: F401  (types its own syscall object)
    from nbserver.services.search.worker import io_priority_class

    assert io_priority_class(os.getpid()) is not None
