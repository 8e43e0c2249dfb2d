"""Reading a process's memory figures from /proc/<pid>/status (Linux), for the benchmarks and tests.

Plain functions with no set-up on import, so tests can import them as ``benchmarks.procstat``.
"""

from __future__ import annotations


def status_kb(pid: int, field: str) -> int:
    """The value of ``field`` (``VmRSS``, ``VmHWM``...) in /proc/<pid>/status, in kB.

    Raises LookupError when the process has no such field (a kernel thread, a zombie).
    """
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise LookupError(f"no {field} in /proc/{pid}/status")
