"""Server discovery: the ``nbserver-<pid>.json`` info file of a running server in the runtime dir.

The file holds the token, so it is written owner-only (0600) in the Jupyter runtime dir
(itself 0700, outside the served root or hidden), and removed when the server stops.
"""

from __future__ import annotations

import glob
import html
import json
import os
import signal
import time
from typing import Any

from nbserver.auth.identity import write_private_file

INFO_FILE_PATTERN = "nbserver-*.json"


def info_file_path(runtime_dir: str, pid: int | None = None) -> str:
    return os.path.join(runtime_dir, f"nbserver-{os.getpid() if pid is None else pid}.json")


def write_server_info(runtime_dir: str, info: dict[str, Any]) -> str:
    """Write ``info`` (url, port, pid, root_dir, token...) to this process's info file, mode 0600."""
    path = info_file_path(runtime_dir, int(info.get("pid", os.getpid())))
    write_private_file(path, json.dumps(info, indent=2, sort_keys=True).encode())
    return path


def remove_server_info(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def process_alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie waiting to be reaped counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive, but not ours to stop
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            state = handle.read().rsplit(b")", 1)[1].split()[0]
        return state != b"Z"
    except (OSError, IndexError):
        return True


def process_is_nbserver(pid: int) -> bool:
    """Guard against a recycled pid: on Linux, the process's command line must mention nbserver."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return b"nbserver" in handle.read()
    except FileNotFoundError:
        return not os.path.isdir("/proc")  # no procfs (macOS): trust the live pid
    except OSError:
        return False


def running_servers(runtime_dir: str) -> list[dict[str, Any]]:
    """The info of every server whose process still runs; stale files of dead ones are removed."""
    servers = []
    for path in sorted(glob.glob(os.path.join(runtime_dir, INFO_FILE_PATTERN))):
        try:
            with open(path, encoding="utf-8") as handle:
                info = json.load(handle)
            pid = int(info["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if process_alive(pid):
            info["info_file"] = path
            servers.append(info)
        elif os.path.basename(path) == f"nbserver-{pid}.json":
            remove_server_info(path)
    return servers


def stop_server(info: dict[str, Any], timeout: float = 10.0) -> bool:
    """SIGTERM the server of ``info`` and wait until it has exited (or removed its info file)."""
    pid = int(info["pid"])
    if not process_alive(pid) or not process_is_nbserver(pid):
        return False
    os.kill(pid, signal.SIGTERM)
    info_file = info.get("info_file", "")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process_alive(pid) or (info_file and not os.path.exists(info_file)):
            return True
        time.sleep(0.1)
    return False


def write_browser_open_file(runtime_dir: str, url: str, pid: int | None = None) -> str:
    """A 0600 HTML file that sends the browser on to ``url``.

    Opening this file rather than the URL keeps the token out of the browser's command
    line, which other users of the machine can read (``ps``).
    """
    escaped = html.escape(url, quote=True)
    page = (
        '<!doctype html><html><head><meta charset="utf-8">'
        f'<meta http-equiv="refresh" content="0;url={escaped}"><title>Opening nbserver</title></head>'
        f'<body><p><a href="{escaped}">Open nbserver</a></p></body></html>'
    )
    path = os.path.join(runtime_dir, f"nbserver-{os.getpid() if pid is None else pid}-open.html")
    write_private_file(path, page.encode())
    return path
