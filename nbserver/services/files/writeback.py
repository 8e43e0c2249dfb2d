"""Early writeback of a file written from start to end (a raw upload's staging file).

A file written through the page cache reaches the disk only when the kernel's dirty-page limits
or timers say so (on a machine with gigabytes of memory: 30 s later) or at ``fsync``; an upload
that is fsynced at the end therefore first receives everything and then waits for the disk to
write all of it. :class:`Writeback` tells Linux to start writing each range of
``every_bytes`` as soon as it is complete (``sync_file_range(2)``, ``SYNC_FILE_RANGE_WRITE``:
it queues the writes and returns), and waits for the range two before it to be written
(``SYNC_FILE_RANGE_WAIT_BEFORE|WRITE|WAIT_AFTER``), so the disk writes while the body is still
arriving, at most about three ranges are dirty or in flight, and the final ``fsync`` has
little left but the last ranges, the metadata and the disk's cache flush.

This is a hint about *when* to write, never a substitute for ``fsync``: ``sync_file_range``
writes no metadata and flushes no disk cache, and the caller still fsyncs before it calls the
file saved. Where the call is missing (not Linux, a libc without it) or fails (``EINVAL`` on a
filesystem or file kind that does not support it, ``ESPIPE``, ``EIO``...), writeback is simply
left to the kernel for the rest of the file: a real write error surfaces at the final
``fsync`` anyway.
"""

from __future__ import annotations

import ctypes
import os
from typing import Callable

from nbserver.libc import c_function

#: ``sync_file_range`` flags (linux/fs.h).
SYNC_FILE_RANGE_WAIT_BEFORE = 1
SYNC_FILE_RANGE_WRITE = 2
SYNC_FILE_RANGE_WAIT_AFTER = 4

#: ``(fd, offset, nbytes, flags)``: raises OSError on failure.
SyncFileRange = Callable[[int, int, int, int], None]


def _load_sync_file_range() -> SyncFileRange | None:
    """libc's ``sync_file_range`` as a Python function, or None where libc has none."""
    function = c_function("sync_file_range")  # None without a C library, or without the call
    if function is None:
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int

    def sync_file_range(fd: int, offset: int, nbytes: int, flags: int) -> None:
        if function(fd, offset, nbytes, flags) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, os.strerror(errno))
    return sync_file_range


#: The system call, or None where there is none (then :class:`Writeback` does nothing).
sync_file_range: SyncFileRange | None = _load_sync_file_range()


class Writeback:
    """Starts the writeback of a sequentially written file range by range (see the module docstring).

    Call :meth:`written` with the file's size after each write, from the thread that writes (it
    may block while the disk catches up: that is the back-pressure that keeps about three ranges
    of ``every_bytes`` in the page cache). ``every_bytes`` <= 0 turns it off.
    """

    def __init__(self, fd: int, every_bytes: int) -> None:
        self.fd = fd
        self.every_bytes = every_bytes
        self.started = 0  # bytes [0, started) have been handed to the kernel's writeback
        self.waited = 0  # bytes [0, waited) have been written to the disk (its cache, at least)
        self.enabled = every_bytes > 0 and sync_file_range is not None

    def written(self, size: int) -> None:
        """The file now holds ``size`` bytes: start writing the completed range, wait for the one two before."""
        if not self.enabled or size - self.started < self.every_bytes:
            return
        call = sync_file_range
        assert call is not None
        try:
            call(self.fd, self.started, size - self.started, SYNC_FILE_RANGE_WRITE)
            # The range started one turn ago may still be in flight: wait for the one before it,
            # which had two turns, so this blocks only when the disk is slower than the body.
            behind = self.started - self.every_bytes
            if behind > self.waited:
                call(self.fd, self.waited, behind - self.waited,
                     SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER)
                self.waited = behind
        except OSError:
            self.enabled = False  # a hint only: the final fsync writes (and reports) whatever is left
            return
        self.started = size
