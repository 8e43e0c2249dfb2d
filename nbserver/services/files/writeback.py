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

That cache flush is the rest of the final ``fsync``'s time: on a virtual disk (this project's
machines) the host holds what the guest wrote and writes it out at the flush, 0.3-0.5 s for
500 MB. So every ``flush_bytes`` of written ranges :class:`Writeback` also starts an
``fdatasync`` in a background thread (one at a time), which flushes what is written so far
while the body still arrives, and the final ``fsync`` flushes only the last part. The thread
opens the file again by path, so that a write error it sees is still reported to the writer's
own descriptor (Linux reports a writeback error once per open file description) and so that
closing the writer's descriptor never pulls one from under it; :meth:`Writeback.finish` waits
for it and raises its OSError.

This is a hint about *when* to write, never a substitute for ``fsync``: ``sync_file_range``
writes no metadata and flushes no disk cache, and the caller still fsyncs before it calls the
file saved. Where the call is missing (not Linux, a libc without it) or unsupported
(``EINVAL`` on a filesystem or file kind that does not support it, ``ESPIPE``...), writeback
is simply left to the kernel for the rest of the file. A write error it reports (``EIO``,
``ENOSPC``...) is kept and raised by :meth:`Writeback.finish`: Linux reports a writeback
error once per open file description, so after ``sync_file_range`` has reported it the final
``fsync`` of the same descriptor would not.
"""

from __future__ import annotations

import ctypes
import errno
import os
import threading
from typing import Callable

from nbserver.libc import c_function

#: ``sync_file_range`` flags (linux/fs.h).
SYNC_FILE_RANGE_WAIT_BEFORE = 1
SYNC_FILE_RANGE_WRITE = 2
SYNC_FILE_RANGE_WAIT_AFTER = 4

#: errnos of ``sync_file_range`` that mean "not here" rather than "the write failed".
UNSUPPORTED = {errno.EINVAL, errno.ESPIPE, errno.ENOSYS, errno.EOPNOTSUPP, errno.EBADF}

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
    of ``every_bytes`` in the page cache). ``every_bytes`` <= 0 turns it off. With ``path`` (the
    file's) and ``flush_bytes`` > 0, the disk's cache is flushed in the background every
    ``flush_bytes`` of written ranges; call :meth:`finish` before the final ``fsync``.
    """

    def __init__(self, fd: int, every_bytes: int, path: str | None = None, flush_bytes: int = 0) -> None:
        self.fd = fd
        self.every_bytes = every_bytes
        self.started = 0  # bytes [0, started) have been handed to the kernel's writeback
        self.waited = 0  # bytes [0, waited) have been written to the disk (its cache, at least)
        self.enabled = every_bytes > 0 and sync_file_range is not None
        self.path = path
        self.flush_bytes = flush_bytes if path is not None else 0
        self.flushed = 0  # bytes [0, flushed) were written when the last background flush started
        self.flushes = 0  # background flushes started
        self.error: OSError | None = None  # the first write error reported to a range call or a flush
        self._flusher: threading.Thread | None = None

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
        except OSError as exc:
            self.enabled = False  # a hint only: the final fsync writes whatever is left
            if exc.errno not in UNSUPPORTED:
                self.error = self.error or exc  # already reported to this descriptor: finish raises it
            return
        self.started = size
        if self.flush_bytes > 0 and self.waited - self.flushed >= self.flush_bytes and not self._flushing():
            self.flushed = self.waited
            self.flushes += 1
            self._flusher = threading.Thread(target=self._flush, name="upload-flush", daemon=True)
            self._flusher.start()

    def finish(self) -> None:
        """Wait for a background flush still running; the first write error (``EIO``...) that a range
        call or a flush reported is raised."""
        if self._flusher is not None:
            self._flusher.join()
            self._flusher = None
        if self.error is not None:
            raise self.error

    def _flushing(self) -> bool:
        return self._flusher is not None and self._flusher.is_alive()

    def _flush(self) -> None:
        assert self.path is not None
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return  # the upload was aborted and its file removed meanwhile
        except OSError as exc:
            self.error = self.error or exc
            return
        try:
            os.fdatasync(fd)
        except OSError as exc:
            self.error = self.error or exc
        finally:
            os.close(fd)
