"""Reading a process's memory and CPU figures from /proc (Linux), for the benchmarks and tests.

Plain functions with no set-up on import, so tests can import them as ``benchmarks.procstat``.
"""

from __future__ import annotations

import contextlib
import os


def status_kb(pid: int, field: str) -> int:
    """The value of ``field`` (``VmRSS``, ``VmHWM``...) in /proc/<pid>/status, in kB.

    Raises LookupError when the process has no such field (a kernel thread, a zombie).
    """
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise LookupError(f"no {field} in /proc/{pid}/status")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` (all its threads) so far (/proc/<pid>/stat fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child_pids(pid: int) -> list[int]:
    """The PIDs of the running child processes of ``pid`` (its notebook processes, the search
    index worker, kernels), from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                if int(handle.read().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    return found


def children_cpu_seconds(pid: int) -> float:
    """CPU seconds so far of the running child processes of ``pid`` (one that ended is not counted)."""
    total = 0.0
    for child in child_pids(pid):
        with contextlib.suppress(OSError, ValueError, IndexError):
            total += cpu_seconds(child)
    return total
