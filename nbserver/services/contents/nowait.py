"""Open and read a small file on the event loop, only when the kernel can do it without waiting.

A trip to the thread pool was the largest cost of a small file's GET (``/files/``): some
150-200 us of CPU per request, against 20 us for the system calls themselves. Linux lets a
caller ask for the calls not to wait: ``openat2`` with ``RESOLVE_CACHED`` fails with EAGAIN
instead of looking a name up on disk, and ``preadv2`` with ``RWF_NOWAIT`` fails instead of
waiting for a page that is not in memory. ``RESOLVE_BENEATH`` makes the lookup fail when it
would leave the root (``..``, an absolute symbolic link, one that leads out), so nothing
outside the root is opened here.

Every failure answers None and the caller takes its thread-pool path with its own checks:
errors, and the symbolic links that path allows (an absolute one that stays in the root),
come out exactly as before. Nothing is kept between calls; each call opens the file anew.
Linux 5.12 or later (elsewhere, or under seccomp rules that refuse openat2, always None).
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import stat
import sys
from typing import Any, Callable, cast

from nbserver.libc import c_function

_SYS_OPENAT2 = 437  # the same number on every Linux architecture (the unified table, 5.6+)
_AT_FDCWD = -100
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_BENEATH = 0x08
_RESOLVE_CACHED = 0x20


class _OpenHow(ctypes.Structure):
    """``struct open_how`` of openat2(2)."""

    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


_ROOT_HOW = _OpenHow(os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC if hasattr(os, "O_PATH") else 0, 0,
                     _RESOLVE_CACHED)
# O_NONBLOCK: opening a FIFO must not wait for a writer (it is then refused as not regular).
_FILE_HOW = _OpenHow(os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC, 0,
                     _RESOLVE_BENEATH | _RESOLVE_NO_MAGICLINKS | _RESOLVE_CACHED)


def _load_syscall() -> Callable[..., int] | None:
    if sys.platform != "linux" or not hasattr(os, "RWF_NOWAIT") or not hasattr(os, "O_PATH") \
            or platform.machine() not in ("x86_64", "aarch64"):
        return None
    syscall: Any = c_function("syscall")  # None without a C library, or without the call
    if syscall is None:
        return None
    syscall.restype = ctypes.c_long
    syscall.argtypes = [ctypes.c_long, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t]
    return cast(Callable[..., int], syscall)


_syscall = _load_syscall()


def _openat2(dirfd: int, path: bytes, how: _OpenHow) -> int | None:
    """A descriptor, or None when openat2 refused (EAGAIN: not cached; EXDEV: leaves the root...)."""
    global _syscall
    if _syscall is None:
        return None
    fd = _syscall(_SYS_OPENAT2, dirfd, path, ctypes.byref(how), ctypes.sizeof(how))
    if fd < 0:
        # ENOSYS: a kernel before 5.6; EINVAL: one before 5.12 (no RESOLVE_CACHED); EPERM: seccomp.
        if ctypes.get_errno() in (errno.ENOSYS, errno.EINVAL, errno.EPERM):
            _syscall = None
        return None
    return fd


def available() -> bool:
    """Whether this system offers the calls (a refusal at run time turns them off for good)."""
    return _syscall is not None


def read_small_file(root: str, relative_path: str, limit: int) -> tuple[os.stat_result, bytes] | None:
    """(stat, the whole content) of the regular file at ``relative_path`` under the directory
    ``root`` (an absolute real path), if it has at most ``limit`` bytes and the kernel can open
    and read it without waiting on a disk; else None. The stat and the bytes are of one version
    (one descriptor), as ``OSFileStream.open`` reads them."""
    root_fd = _openat2(_AT_FDCWD, os.fsencode(root), _ROOT_HOW)
    if root_fd is None:
        return None
    try:
        fd = _openat2(root_fd, os.fsencode(relative_path), _FILE_HOW)
    finally:
        os.close(root_fd)
    if fd is None:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
            return None
        data = bytearray(info.st_size)
        try:
            read = os.preadv(fd, [data], 0, os.RWF_NOWAIT) if data else 0
        except OSError:  # EAGAIN: not in memory; EOPNOTSUPP: a filesystem without RWF_NOWAIT
            return None
        if read != info.st_size:
            return None
        return info, bytes(data)
    finally:
        os.close(fd)
