"""Filesystem primitives for the contents store: paths kept inside the root, atomic writes.

Every path that reaches the disk goes through :func:`resolve_inside_root`; every
write of a user's file goes through :func:`atomic_write` or the staged upload
functions, so a crash mid-write never leaves a half-written file in place.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from typing import Iterable

from nbserver.errors import InvalidInput, NotFound

STAGING_PREFIX = ".~nbserver-"
# How much of a file's name its temporary twin keeps, to stay under NAME_MAX.
NAME_KEEP = 200

# The process umask, read once at import (reading it means setting it, which is not thread-safe).
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def split_api_path(path: str) -> list[str]:
    """Split an API path (``a/b/c.ipynb``) into checked components; reject NUL and ``..``."""
    if "\x00" in path:
        raise InvalidInput("A path may not contain NUL bytes.")
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if any(part == ".." for part in parts):
        raise InvalidInput("A path may not contain '..' components.")
    return parts


def normalize_api_path(path: str) -> str:
    """The canonical form of an API path: no leading or trailing slash, no empty parts."""
    return "/".join(split_api_path(path))


def is_inside(root: str, path: str) -> bool:
    """True when real path ``path`` is ``root`` or below it, compared component-wise."""
    try:
        return os.path.commonpath([root, path]) == root
    except ValueError:
        return False


def resolve_inside_root(root: str, api_path: str, allow_outside_root: bool = False) -> str:
    """Map an API path to an OS path under the real root ``root``.

    Symbolic links that lead out of the root are refused (as not found, so nothing is
    revealed about what lies outside) unless ``allow_outside_root`` is set.
    """
    os_path = os.path.join(root, *split_api_path(api_path))
    if not allow_outside_root and not is_inside(root, os.path.realpath(os_path)):
        raise NotFound(f"No such file or directory: {normalize_api_path(api_path)}",
                       log_detail=f"{os_path} resolves outside the root")
    return os_path


def _new_file_mode(existing: str) -> int:
    try:
        return os.stat(existing).st_mode & 0o7777
    except OSError:
        return 0o666 & ~_UMASK


def _fsync_directory(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(os_path: str, data: bytes | Iterable[bytes]) -> str:
    """Write ``data`` to ``os_path`` atomically and return the hex SHA-256 of what was written.

    The bytes go to a temporary file in the same directory, which is flushed,
    fsynced and renamed over the target: readers see the old file or the new one,
    never a part. A symbolic link at ``os_path`` is written through, not replaced.
    """
    return atomic_write_stat(os_path, data)[0]


def atomic_write_stat(os_path: str, data: bytes | Iterable[bytes]) -> tuple[str, os.stat_result]:
    """:func:`atomic_write`, also returning the ``fstat`` of the file written (inode, mtime, size)."""
    target = os.path.realpath(os_path)
    directory, name = os.path.split(target)
    temp_path = os.path.join(directory, f"{STAGING_PREFIX}{secrets.token_hex(6)}-{name[:NAME_KEEP]}")
    digest = hashlib.sha256()
    chunks = [data] if isinstance(data, (bytes, bytearray, memoryview)) else data
    fd = os.open(temp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
                digest.update(chunk)
            handle.flush()
            os.fsync(handle.fileno())
            written = os.fstat(handle.fileno())
        os.chmod(temp_path, _new_file_mode(target))
        os.replace(temp_path, target)
    except BaseException:
        try:
            os.unlink(temp_path)
        except OSError:
            pass
        raise
    _fsync_directory(directory)
    return digest.hexdigest(), written


def staging_path_for(os_path: str) -> str:
    """The hidden file in the target's directory where a chunked upload is assembled."""
    directory, name = os.path.split(os.path.realpath(os_path))
    return os.path.join(directory, f"{STAGING_PREFIX}upload-{name[:NAME_KEEP]}")


def append_chunk(os_path: str, data: bytes, first: bool) -> int:
    """Add one chunk of an upload to its staging file; return the staged size so far."""
    staging = staging_path_for(os_path)
    if not first and not os.path.exists(staging):
        raise InvalidInput("No chunked upload is in progress for this file; send chunk 1 first.")
    with open(staging, "wb" if first else "ab") as handle:
        handle.write(data)
        return handle.tell()


def commit_staged(os_path: str) -> str:
    """Move a finished chunked upload over its target atomically; return its SHA-256."""
    staging = staging_path_for(os_path)
    target = os.path.realpath(os_path)
    digest = hashlib.sha256()
    with open(staging, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
        os.fsync(handle.fileno())
    os.chmod(staging, _new_file_mode(target))
    os.replace(staging, target)
    _fsync_directory(os.path.dirname(target))
    return digest.hexdigest()


def file_sha256(os_path: str) -> str:
    digest = hashlib.sha256()
    with open(os_path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
