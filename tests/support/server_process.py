"""Run nbserver as a real subprocess on 127.0.0.1 for tests that need a whole process."""

from __future__ import annotations

import os
import pwd
import re
import signal
import subprocess
import sys
import sysconfig
import threading
import time
from pathlib import Path

URL_PATTERN = re.compile(r"(http://127\.0\.0\.1:(\d+)(/\S*?))tree\?token=(\S+)")


def python_for_user(user: str) -> tuple[str, dict[str, str]] | None:
    """(interpreter, environment) with which ``user`` runs this checkout's nbserver; None if none can.

    This interpreter may live where only root may enter (pyenv under /root); then the system's
    Python of the same version loads the same packages (same ABI) through PYTHONPATH.
    """
    repo = str(Path(__file__).resolve().parents[2])
    paths = dict.fromkeys([repo, sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    env = {"PYTHONPATH": os.pathsep.join(paths)}
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (sys.executable, f"/usr/bin/python{version}", f"/usr/local/bin/python{version}"):
        try:
            result = subprocess.run([candidate, "-c", "import nbserver.app"], user=user, capture_output=True,
                                    env={**os.environ, **env}, cwd="/", timeout=60)
        except (OSError, subprocess.SubprocessError):
            continue
        if result.returncode == 0:
            return candidate, env
    return None


class ServerProcess:
    """``python -m nbserver`` with the given arguments; its log is kept in ``self.log``.

    With ``user``, the server runs as that user and its group (see :func:`python_for_user`).
    """

    def __init__(self, root_dir: Path, *args: str, token: str = "process-token", env: dict | None = None,
                 cwd: Path | None = None, user: str | None = None) -> None:
        self.token = token
        python, extra_env = sys.executable, {}
        account = pwd.getpwnam(user) if user is not None else None
        if user is not None:
            found = python_for_user(user)
            if found is None:
                raise RuntimeError(f"no Python interpreter that {user} may run has nbserver's packages")
            python, extra_env = found
        command = [python, "-m", "nbserver", "--no-browser", f"--root-dir={root_dir}",
                   f"--IdentityProvider.token={token}", *args]
        if not any(arg.startswith("--port") for arg in args):
            command.append("--port=0")
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, **extra_env, **(env or {})}, cwd=cwd, start_new_session=True,
            user=account.pw_uid if account else None, group=account.pw_gid if account else None,
            extra_groups=[] if account else None,
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
        if self.process.stdout is not None:
            self.process.stdout.close()
        return self.process.returncode

    def __enter__(self) -> ServerProcess:
        return self.wait_until_serving()

    def __exit__(self, *exc: object) -> None:
        self.stop()
