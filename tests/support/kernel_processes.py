"""Kernel processes a test started, found by the folder of their connection file, and a check
that none outlives its test."""

from __future__ import annotations

import os
import signal
import time


def process_exists(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, exited but not yet collected by its parent, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def kernel_processes_using(folder: str) -> list[int]:
    """Live processes whose command line names ``folder`` (kernels name their connection file)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                cmdline = handle.read().decode(errors="replace")
        except OSError:
            continue
        if folder in cmdline and process_exists(int(entry)):
            pids.append(int(entry))
    return pids


def kill_kernels_left_running(runtime_dir: str, grace: float = 5.0) -> list[int]:
    """Kill (SIGKILL) the kernel processes of ``runtime_dir`` still running ``grace`` s from now,
    and return their PIDs: [] when every kernel was stopped.

    A kernel left running means its server's kernel manager was never shut down: its ZMQ context
    still has open sockets, and when the garbage collector later finalizes that manager (in
    whatever thread allocates at that moment, a thread-pool worker included), jupyter_client's
    ``__del__`` destroys the context, whose ``term()`` then waits forever for those sockets. Cheap
    when nothing was started: jupyter_client removes a kernel's connection file when it stops it,
    so an empty folder needs no look at the processes.
    """
    if not any(name.startswith("kernel-") for name in os.listdir(runtime_dir)):
        return []
    deadline = time.monotonic() + grace
    left = kernel_processes_using(runtime_dir)
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = kernel_processes_using(runtime_dir)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return left
