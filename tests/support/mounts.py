"""Real filesystem conditions for tests, as root: tmpfs mounts, read-only remounts, immutable files.

Each helper is a context manager that undoes what it did (unmount, ``chattr -i``) even when
the test fails; a test calling one is skipped when the process may not do it.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

COMMAND_TIMEOUT = 30  # seconds for one mount, umount or chattr


def require_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (mounts, chattr, other users)")


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=COMMAND_TIMEOUT)


def _unmount(path: Path) -> None:
    if _run("umount", str(path)).returncode != 0:
        _run("umount", "-l", str(path))  # busy (a server still holds a file): detach it anyway


@contextlib.contextmanager
def tmpfs(path: Path, size: str = "1m") -> Iterator[Path]:
    """A fresh tmpfs of ``size`` (mount's syntax: ``64k``, ``1m``) mounted at ``path`` (made if missing)."""
    require_root()
    path.mkdir(exist_ok=True)
    result = _run("mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path))
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    try:
        yield path
    finally:
        _unmount(path)


@contextlib.contextmanager
def read_only(mount_point: Path) -> Iterator[Path]:
    """Remount the mount at ``mount_point`` read-only for the block, then writable again."""
    result = _run("mount", "-o", "remount,ro", str(mount_point))
    if result.returncode != 0:
        pytest.skip(f"cannot remount read-only here: {result.stderr.strip()}")
    try:
        yield mount_point
    finally:
        _run("mount", "-o", "remount,rw", str(mount_point))


@contextlib.contextmanager
def immutable(path: Path) -> Iterator[Path]:
    """``chattr +i``: not even root may change, rename or remove ``path`` (EPERM) during the block."""
    require_root()
    result = _run("chattr", "+i", str(path))
    if result.returncode != 0:
        pytest.skip(f"cannot make a file immutable here: {result.stderr.strip()}")
    try:
        yield path
    finally:
        _run("chattr", "-i", str(path))


def fill(folder: Path) -> None:
    """Fill the filesystem of ``folder`` to the last byte with a hidden file, ``.filler``."""
    fd = os.open(folder / ".filler", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (1 << 16, 4096, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)
