"""Run nbserver as a real subprocess on 127.0.0.1 for tests that need a whole process."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

URL_PATTERN = re.compile(r"(http://127\.0\.0\.1:(\d+)(/\S*?))tree\?token=(\S+)")


class ServerProcess:
    """``python -m nbserver`` with the given arguments; its log is kept in ``self.log``."""

    def __init__(self, root_dir: Path, *args: str, token: str = "process-token", env: dict | None = None,
                 cwd: Path | None = None) -> None:
        self.token = token
        command = [sys.executable, "-m", "nbserver", "--no-browser", f"--root-dir={root_dir}",
                   f"--IdentityProvider.token={token}", *args]
        if not any(arg.startswith("--port") for arg in args):
            command.append("--port=0")
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, **(env or {})}, cwd=cwd, start_new_session=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.base_url = ""
        self.port = 0

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def log(self) -> str:
        return "".join(self.lines)

    def wait_until_serving(self, timeout: float = 30) -> ServerProcess:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = URL_PATTERN.search(self.log)
            if match:
                self.base_url, self.port = match.group(1), int(match.group(2))
                return self
            if self.process.poll() is not None:
                raise RuntimeError(f"nbserver exited with {self.process.returncode}:\n{self.log}")
            time.sleep(0.05)
        raise TimeoutError(f"nbserver did not start within {timeout} s:\n{self.log}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Signal the server and wait for it; kill its whole process group if it hangs."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self._reader.join(timeout=5)
        return self.process.returncode

    def __enter__(self) -> ServerProcess:
        return self.wait_until_serving()

    def __exit__(self, *exc: object) -> None:
        self.stop()
