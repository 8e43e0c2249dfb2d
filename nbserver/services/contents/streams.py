"""Open files of a contents store, read as byte streams: size, version and ranged async reads.

``/files`` serves every store through this interface (``ContentsManager.open_file``), so
ranges, ETags and streaming work the same whether the bytes live on disk, in memory or
elsewhere, and no store has to load a file whole (or base64-encode it) to serve it.
A store that is not a filesystem subclasses :class:`FileStream`, or uses
:class:`BytesFileStream` when it holds a file's bytes already.
"""

from __future__ import annotations

import errno
import os
import stat
from types import TracebackType
from typing import AsyncGenerator

from nbserver.blocking import run_blocking

CHUNK_SIZE = 1 << 20  # bytes per read, and so per write to the client
#: Files up to this size are read whole when opened, in the same trip to the thread pool: a
#: second trip for the read was a quarter of the time of a small file's GET.
SMALL_FILE_BYTES = 1 << 16


def version_etag(size: int, mtime_ns: int, *identity: int) -> str:
    """A strong entity tag (RFC 9110 8.8.3) for one version of a file.

    From the size, the modification time in nanoseconds and whatever else identifies the
    file's version in its store (an inode, say): any change of the content changes one of them.
    """
    return '"' + "-".join(f"{part:x}" for part in (*identity, size, mtime_ns)) + '"'


class FileStream:
    """One version of a file, open for reading: what ``/files`` needs for a whole or ranged GET.

    ``size`` is in bytes, ``mtime`` in POSIX seconds, ``etag`` a strong entity tag (quoted)
    that changes whenever the content may have; all three describe the file as it was opened.
    """

    def __init__(self, size: int, mtime: float, etag: str) -> None:
        self.size = size
        self.mtime = mtime
        self.etag = etag

    def read(self, start: int, end: int, chunk_size: int = CHUNK_SIZE) -> AsyncGenerator[bytes, None]:
        """The bytes ``start`` to ``end`` (exclusive; 0 <= start <= end <= size), in chunks of at
        most ``chunk_size``. The chunks may be fewer if the file shrank since it was opened."""
        raise NotImplementedError

    async def close(self) -> None:
        """Release what the open file holds (a file descriptor, a connection)."""

    async def __aenter__(self) -> FileStream:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, value: BaseException | None,
                        traceback: TracebackType | None) -> None:
        await self.close()


class BytesFileStream(FileStream):
    """A file whose bytes are in memory already: reads are slices of them, no copy of the whole."""

    def __init__(self, data: bytes, mtime: float, etag: str | None = None) -> None:
        super().__init__(len(data), mtime, etag or version_etag(len(data), int(mtime * 1e9)))
        self._data = memoryview(data)

    async def read(self, start: int, end: int, chunk_size: int = CHUNK_SIZE) -> AsyncGenerator[bytes, None]:
        for offset in range(start, min(end, self.size), chunk_size):
            yield bytes(self._data[offset:min(offset + chunk_size, end)])


class OSFileStream(FileStream):
    """A regular file of the local filesystem, open by descriptor; every read runs in the thread pool.
    A small file is read whole when opened and its descriptor closed then (``fd`` None).

    The descriptor keeps the version that was opened: a save that replaces the file by rename
    while it is read does not mix two versions.
    """

    def __init__(self, fd: int | None, info: os.stat_result, head: bytes | None = None) -> None:
        super().__init__(info.st_size, info.st_mtime,
                         version_etag(info.st_size, info.st_mtime_ns, info.st_dev, info.st_ino))
        #: The open descriptor; None once closed, or from the start for a small file read whole.
        self._fd = fd
        #: The whole file, read when it was opened (small files only), else None.
        self._head = head
        self._closed = False

    @classmethod
    def open(cls, os_path: str) -> OSFileStream:
        """Open a regular file (blocking: call it in the thread pool).

        Raises ``IsADirectoryError`` for anything else (a folder, a FIFO, a device: none of
        them is a file to serve, and a FIFO would block the reader) and the ``OSError`` of
        ``open`` itself (FileNotFoundError, PermissionError, ELOOP...).
        """
        # O_NONBLOCK: opening a FIFO must not wait for a writer before the type check below.
        fd = os.open(os_path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise IsADirectoryError(errno.EISDIR, "not a regular file", os_path)
            if info.st_size > SMALL_FILE_BYTES:
                return cls(fd, info)
            head = os.pread(fd, info.st_size, 0)
        except BaseException:
            os.close(fd)
            raise
        # A small file is read whole: its descriptor is closed here, in the same thread-pool trip
        # (closing it on the event loop let the pool's threads take the GIL in between).
        os.close(fd)
        return cls(None, info, head)

    async def read(self, start: int, end: int, chunk_size: int = CHUNK_SIZE) -> AsyncGenerator[bytes, None]:
        if self._head is not None:  # a small file, read when opened
            if not self._closed:
                for offset in range(start, min(end, len(self._head)), chunk_size):
                    yield self._head[offset:min(offset + chunk_size, end)]
            return
        offset = start
        while offset < end and self._fd is not None:
            chunk = await run_blocking(os.pread, self._fd, min(chunk_size, end - offset), offset)
            if not chunk:
                return
            offset += len(chunk)
            yield chunk

    async def close(self) -> None:
        fd, self._fd, self._closed = self._fd, None, True
        if fd is not None:
            os.close(fd)
