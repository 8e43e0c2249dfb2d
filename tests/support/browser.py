"""Browser test helpers: a server subprocess on 127.0.0.1, Chromium's launch options, screenshots."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]
BROWSER_TOKEN = "browser-test-token-0123456789"
SERVER_START_SECONDS = 30


@dataclass
class LiveServer:
    """A server subprocess: its URL, token, root folder and log file."""

    url: str
    token: str
    root: Path
    log_path: Path
    process: subprocess.Popen[bytes]

    def page_url(self, path: str = "tree") -> str:
        return self.url + path.lstrip("/")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def child_pids(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (kernels run in sessions of their own, so not in its group)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def stop_process_group(process: subprocess.Popen[bytes], grace_seconds: float = 10) -> None:
    """SIGTERM the server (it shuts its kernels down), then SIGKILL whatever it left behind."""
    children = child_pids(process.pid)
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(grace_seconds)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    for pid in children:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait(5)


def start_server(root: Path, log_path: Path, token: str = BROWSER_TOKEN,
                 extra_args: tuple[str, ...] = ()) -> LiveServer:
    """Start ``python -m nbserver`` on a free port of 127.0.0.1 and wait for its URL in the log."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "nbserver", "--no-browser", "--port", "0", "--root-dir", str(root),
             f"--IdentityProvider.token={token}", *extra_args],
            stdout=log_file, stderr=subprocess.STDOUT, cwd=REPO_ROOT, env=env, start_new_session=True,
        )
    deadline = time.monotonic() + SERVER_START_SECONDS
    while True:
        match = re.search(r"(http://127\.0\.0\.1:\d+/(?:[^\s?]*/)?)tree\?token=", log_path.read_text(errors="replace"))
        if match:
            return LiveServer(match.group(1), token, root, log_path, process)
        if process.poll() is not None or time.monotonic() > deadline:
            stop_process_group(process)
            raise RuntimeError("The server did not start:\n" + log_path.read_text(errors="replace"))
        time.sleep(0.1)


def screenshot(page: Any, name: str, full_page: bool = False) -> Path:
    """Save a PNG of the page to test-artifacts/<name>.png and return its path."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
