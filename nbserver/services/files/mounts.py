"""The mount table of this process (``/proc/self/mountinfo``): where filesystems are mounted, and their types.

The file services use it to place the metadata database (no WAL on a network filesystem) and
to find the trash folders of filesystems mounted inside the root (start-up recovery).
"""

from __future__ import annotations

import re

MOUNTINFO = "/proc/self/mountinfo"


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash in paths as octal escapes (``\\040``)."""
    return re.sub(r"\\([0-7]{3})", lambda match: chr(int(match.group(1), 8)), field)


def mount_table() -> list[tuple[str, str]]:
    """(mount point, filesystem type) of every mount, in mountinfo order; [] when it cannot be read."""
    table = []
    try:
        with open(MOUNTINFO, encoding="utf-8", errors="surrogateescape") as handle:
            for line in handle:
                fields = line.split()
                if " - " not in line or len(fields) < 5:
                    continue
                after = line.split(" - ", 1)[1].split()
                if after:
                    table.append((_unescape(fields[4]), after[0]))
    except OSError:
        return []
    return table


def filesystem_type(path: str) -> str:
    """The type of the filesystem ``path`` (a real path) is on: the deepest mount holding it ("" when unknown)."""
    best, fstype = "", ""
    for mount_point, kind in mount_table():
        inside = path == mount_point or path.startswith(mount_point.rstrip("/") + "/")
        if inside and len(mount_point) >= len(best):
            best, fstype = mount_point, kind
    return fstype


def mount_points_inside(real_root: str) -> list[str]:
    """Mount points strictly inside ``real_root`` (each other filesystem's top folder there)."""
    prefix = real_root.rstrip("/") + "/"
    return sorted({point for point, _ in mount_table() if point.startswith(prefix)})
