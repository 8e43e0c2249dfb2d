"""Moving and copying files and folders whole, within one filesystem or across two.

A rename cannot cross filesystems (``EXDEV``: a folder of the root that is another
mount). Then a move is a copy, fsynced, put in place under its final name in one
rename, and only then the removal of the source; a folder arrives whole or not at
all: a failed copy (a full disk, say) is removed and the source is left untouched.
Copies are assembled under a hidden name with the staging prefix, so a listing never
shows half a folder and the start-up sweep of leftovers clears what a crash left.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil

from nbserver.errors import InvalidInput
from nbserver.services.contents.fileio import STAGING_PREFIX, FileWriter, fsync_directory

COPY_BLOCK_SIZE = 1 << 20  # bytes per read and write of a copied file


def _keep_owner(source: os.stat_result, target: str) -> None:
    """Give ``target`` the owner and group of ``source`` when this process may (as root it may)."""
    try:
        os.chown(target, source.st_uid, source.st_gid, follow_symlinks=False)
    except PermissionError:
        pass  # an unprivileged server moves files it owns; they stay its own


def _copy_file(source: str, target: str, keep_owner: bool) -> None:
    """Copy one regular file to the new path ``target``: bytes fsynced, then mode, times, xattrs."""
    with open(source, "rb") as reader, open(target, "xb") as writer:
        shutil.copyfileobj(reader, writer, COPY_BLOCK_SIZE)
        writer.flush()
        os.fsync(writer.fileno())
        info = os.fstat(reader.fileno())
    shutil.copystat(source, target)  # mode, times and extended attributes (ACLs are xattrs)
    if keep_owner:
        _keep_owner(info, target)


def _copy_tree(source: str, target: str, keep_owner: bool) -> None:
    """Copy folder ``source`` to the new path ``target``, stopping at the first error.

    Symbolic links are copied as links; pipes, sockets and devices are refused (they are
    not contents a copy can carry).
    """
    info = os.stat(source)
    os.mkdir(target, 0o700)  # opened up by copystat once the folder is complete
    with os.scandir(source) as entries:
        for entry in entries:
            destination = os.path.join(target, entry.name)
            if entry.is_symlink():
                os.symlink(os.readlink(entry.path), destination)
            elif entry.is_dir(follow_symlinks=False):
                _copy_tree(entry.path, destination, keep_owner)
            elif entry.is_file(follow_symlinks=False):
                _copy_file(entry.path, destination, keep_owner)
            else:
                raise InvalidInput("The folder holds a pipe, socket or device, which cannot be copied.")
    shutil.copystat(source, target)
    if keep_owner:
        _keep_owner(info, target)
    fsync_directory(target)


def folder_size(os_path: str, stop_above: int) -> int:
    """Bytes of the regular files in folder ``os_path`` and below (links not followed).

    Counting stops once the total passes ``stop_above``, so refusing a huge folder costs
    little; the result is then some total larger than ``stop_above``.
    """
    total = 0
    pending = [os_path]
    while pending:
        with os.scandir(pending.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    pending.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_size
                    if total > stop_above:
                        return total
    return total


def _staging_name(target: str, writer: FileWriter | None) -> str:
    """A hidden, unique name beside ``target`` to assemble its copy under (fits NAME_MAX); with a
    ``writer``, one its journal knows, so a killed server's partial copy is swept at start-up."""
    if writer is not None:
        return writer.scratch_path(target, "copy")
    return os.path.join(os.path.dirname(target), f"{STAGING_PREFIX}copy-{secrets.token_hex(8)}")


def _remove(os_path: str) -> None:
    if os.path.isdir(os_path) and not os.path.islink(os_path):
        shutil.rmtree(os_path)
    else:
        os.unlink(os_path)


def copy_whole(source: str, target: str, keep_owner: bool = False, writer: FileWriter | None = None) -> None:
    """Copy the file or folder ``source`` to ``target`` so that it appears complete or not at all.

    The copy is made and fsynced under a hidden name beside ``target``, then renamed to
    it (a file there is replaced, as by ``rename``). On any failure the partial copy is
    removed and the error raised (an ``OSError`` keeps its errno, e.g. ENOSPC).
    """
    staging = _staging_name(target, writer)
    try:
        if os.path.islink(source):
            os.symlink(os.readlink(source), staging)
        elif os.path.isdir(source):
            _copy_tree(source, staging, keep_owner)
        else:
            _copy_file(source, staging, keep_owner)
        os.rename(staging, target)
    except BaseException:
        try:
            _remove(staging)
        except OSError:
            pass
        raise
    fsync_directory(os.path.dirname(target))


def _check_removable(source: str) -> None:
    """Refuse (EACCES, EROFS, EBUSY) before copying when the source could not be removed after.

    A move that copied and then failed halfway through removing its source would leave
    the user two half-folders; this check makes that a refusal up front instead.
    """
    parent = os.path.dirname(source)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OSError(errno.EROFS if _read_only(parent) else errno.EACCES, "cannot remove the source", source)
    if not os.path.isdir(source) or os.path.islink(source):
        return
    for folder, subfolders, _ in os.walk(source):
        if folder != source and os.path.ismount(folder):
            raise OSError(errno.EBUSY, "a folder inside is a mount point", folder)
        if not os.access(folder, os.W_OK | os.X_OK):
            raise OSError(errno.EACCES, "cannot remove the source", folder)


def _read_only(os_path: str) -> bool:
    return bool(os.statvfs(os_path).f_flag & os.ST_RDONLY)


def move(source: str, target: str, writer: FileWriter | None = None) -> None:
    """Move the file or folder ``source`` to ``target``, on this filesystem or another.

    The same filesystem: one ``rename``. Across filesystems: :func:`copy_whole` keeping
    owner, mode, times and xattrs, then the source removed, only once the copy is
    complete and in place. Raises ``OSError`` (EBUSY for a mount point, ENOSPC...).
    """
    try:
        os.rename(source, target)
        return
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
    _check_removable(source)
    copy_whole(source, target, keep_owner=True, writer=writer)
    _remove(source)
    fsync_directory(os.path.dirname(source))
