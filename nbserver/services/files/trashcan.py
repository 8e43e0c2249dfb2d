"""The trash on disk: where an item's trash folder is, its sidecar record, and moving in and out.

Layout (design section 4.1): ``<root>/.nbserver/trash/<trash_id>/`` holds the item under its
original name, ``.trashinfo.json`` (the record that survives losing the database, like the
freedesktop trash spec's ``.trashinfo``) and ``.checkpoints/`` (the item's latest checkpoint
file and its checkpoint history folder).
An item on another filesystem mounted inside the root trashes into ``.nbserver-trash`` at
the top of that mount, so that trashing is always one ``rename``, never a copy.
Everything here blocks; the file services run it on their writer thread.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from datetime import datetime
from typing import Any

from nbserver.errors import InvalidInput
from nbserver.services.contents import fileio
from nbserver.services.contents.filemanager import NO_HARD_LINKS
from nbserver.services.files import mounts

STATE_DIR = ".nbserver"
MOUNT_TRASH_DIR = ".nbserver-trash"
SIDECAR = ".trashinfo.json"
CHECKPOINTS = ".checkpoints"


class NoTrashHere(Exception):
    """No trash folder can be made on the item's filesystem (read-only, no permission)."""


def state_dir(real_root: str) -> str:
    return os.path.join(real_root, STATE_DIR)


def make_state_dir(real_root: str) -> str:
    """``<root>/.nbserver`` with a ``.gitignore`` of ``*`` (a root that is a git work tree stays clean)."""
    path = state_dir(real_root)
    os.makedirs(path, exist_ok=True)
    ignore = os.path.join(path, ".gitignore")
    if not os.path.exists(ignore):
        with open(ignore, "w", encoding="utf-8") as handle:
            handle.write("*\n")
    return path


def trash_dir_for(real_root: str, os_path: str) -> str:
    """The trash folder for the item at ``os_path`` (made if missing); NoTrashHere when it cannot be.

    The root's device: ``<root>/.nbserver/trash``. Another device: ``.nbserver-trash`` in the
    top-most folder inside the root on the item's device (the mount point).
    """
    parent = os.path.dirname(os_path)
    try:
        device = os.stat(parent).st_dev
        if device == os.stat(real_root).st_dev:
            folder = os.path.join(make_state_dir(real_root), "trash")  # with its .gitignore (PostgreSQL
            # keeps the ids elsewhere, so the trash may be the first thing in the state folder)
        else:
            top = parent
            while os.path.dirname(top) != top and fileio.is_inside(real_root, os.path.dirname(top)) \
                    and os.stat(os.path.dirname(top)).st_dev == device:
                top = os.path.dirname(top)
            folder = os.path.join(top, MOUNT_TRASH_DIR)
        os.makedirs(folder, exist_ok=True)
        if not os.access(folder, os.W_OK | os.X_OK):
            raise NoTrashHere(folder)
    except OSError as exc:
        raise NoTrashHere(str(exc)) from exc
    return folder


def existing_trash_dirs(real_root: str) -> list[tuple[str, str]]:
    """(trash folder, API path of the folder its items come from) of every trash there is: the
    root's (``""``), then the ``.nbserver-trash`` of each filesystem mounted inside the root (at
    the mount's top folder, where :func:`trash_dir_for` makes it; its items come from below it)."""
    candidates = [(os.path.join(real_root, STATE_DIR, "trash"), "")]
    for point in mounts.mount_points_inside(real_root):
        top = os.path.relpath(point, real_root).replace(os.sep, "/")
        candidates.append((os.path.join(point, MOUNT_TRASH_DIR), top))
    return [(folder, top) for folder, top in candidates if os.path.isdir(folder) and not os.path.islink(folder)]


def tree_size(os_path: str) -> int:
    """Bytes of a file, or of every regular file under a folder (links not followed)."""
    info = os.lstat(os_path)
    if not stat.S_ISDIR(info.st_mode):
        return info.st_size
    total = 0
    for folder, _, names in os.walk(os_path):
        for name in names:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                pass
    return total


def write_sidecar(entry: str, record: dict[str, Any], durable: bool = True) -> None:
    """Write the entry's ``.trashinfo.json``; ``durable``: fsynced, then the folder (else the
    caller makes it durable with :func:`sync_sidecar`, grouped with other entries' fsyncs)."""
    path = os.path.join(entry, SIDECAR)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, json.dumps(record, sort_keys=True).encode("utf-8"))
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    if durable:
        fileio.fsync_directory(entry)


def sync_sidecar(entry: str) -> None:
    """Make a sidecar written with ``durable=False`` durable: the file fsynced, then its folder.
    OSError when the file cannot be opened or fsynced."""
    fd = os.open(os.path.join(entry, SIDECAR), os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    fileio.fsync_directory(entry)


def read_sidecar(entry: str) -> dict[str, Any] | None:
    try:
        with open(os.path.join(entry, SIDECAR), encoding="utf-8") as handle:
            record = json.load(handle)
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


KINDS = ("notebook", "file", "directory")


def sidecar_is_sound(record: dict[str, Any]) -> bool:
    """Whether a sidecar read from disk describes an item that can be listed and restored: a
    canonical, non-empty API path with no ``..`` and no reserved name, a known type, an ISO 8601
    ``trashed_at`` with its time zone and an integer (or absent) size. Anything could have
    written the file, so a record failing this is skipped at adoption rather than break the
    listing or the start-up (design section 4.3)."""
    original, trashed_at, size = record.get("original_path"), record.get("trashed_at"), record.get("size")
    try:
        canonical = isinstance(original, str) and original != "" and fileio.normalize_api_path(original) == original
        aware = datetime.fromisoformat(str(trashed_at).replace("Z", "+00:00")).tzinfo is not None
    except (InvalidInput, ValueError):
        return False
    return (canonical and aware and not any(fileio.is_reserved_name(part) for part in str(original).split("/"))
            and record.get("type") in KINDS and (size is None or (isinstance(size, int) and not isinstance(size, bool))))


def remove_tree(path: str) -> None:
    """Remove a file or folder for good; nothing there is fine (recovery repeats it)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(info.st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def place_without_overwriting(source: str, target: str) -> None:
    """Move ``source`` to the free ``target`` (same filesystem) without ever replacing anything.

    Files: ``link`` then ``unlink`` (``link`` fails with EEXIST if the target appeared). Folders:
    ``rename`` after a check, because POSIX ``rename`` silently replaces an empty folder; the
    caller's one writer thread makes the check and the rename one step for the server.
    """
    if os.path.isdir(source) and not os.path.islink(source):
        if os.path.lexists(target):
            raise FileExistsError(target)
        os.rename(source, target)
        return
    try:
        os.link(source, target, follow_symlinks=False)
    except OSError as exc:
        if isinstance(exc, FileExistsError) or exc.errno not in NO_HARD_LINKS:
            raise
        if os.path.lexists(target):
            raise FileExistsError(target) from None
        os.rename(source, target)
        return
    os.unlink(source)
