"""The two servers under test: the jupyter_server virtual environment, and starting, measuring
and stopping either server (with every kernel it started) as a subprocess on 127.0.0.1."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Callable, Sequence, TypeVar

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
CACHE_DIR = BENCH_DIR / ".cache"
JUPYTER_SERVER_VERSION = "2.21.1"

NBSERVER = "nbserver"
JUPYTER_SERVER = "jupyter_server"


def cached_venv(name: str, requirements: list[str], log: Callable[[str], None] = print) -> Path:
    """A virtual environment under CACHE_DIR with ``requirements`` installed from PyPI; made on
    first use, and made again when the requirements change."""
    venv = CACHE_DIR / f"venv-{name}-py{sys.version_info[0]}{sys.version_info[1]}"
    ready = venv / ".ready"
    wanted = " ".join(requirements) + "\n"
    if ready.exists() and ready.read_text() == wanted:
        return venv
    log(f"creating {venv.relative_to(REPO_DIR)} with {wanted.strip()} (cached for later runs)")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    *requirements], check=True)
    ready.write_text(wanted)
    return venv


def jupyter_server_venv(log: Callable[[str], None] = print) -> Path:
    """The cached virtual environment with jupyter_server and ipykernel; created on first use.

    ipykernel is pinned to the version this interpreter has (when it has one), so both servers
    run the very same kernel and only the servers differ.
    """
    try:
        ipykernel = f"ipykernel=={metadata.version('ipykernel')}"
    except metadata.PackageNotFoundError:
        ipykernel = "ipykernel"
    return cached_venv(f"jupyter_server-{JUPYTER_SERVER_VERSION}",
                       [f"jupyter_server=={JUPYTER_SERVER_VERSION}", ipykernel], log)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def help_all(command: list[str], env: dict[str, str]) -> str:
    """The ``--help-all`` text of a server, to tell at run time which settings it has."""
    result = subprocess.run([*command, "--help-all"], capture_output=True, text=True, env=env, timeout=120)
    return result.stdout + result.stderr


def isolated_env(home: Path) -> dict[str, str]:
    """The environment with every Jupyter and IPython directory inside ``home``, so no user
    configuration, kernelspec or runtime file leaks in or out."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("JUPYTER", "IPYTHON", "PYTHONSTARTUP"))}
    for name, sub in (("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_DATA_DIR", "data"),
                      ("JUPYTER_RUNTIME_DIR", "runtime"), ("IPYTHONDIR", "ipython")):
        (home / sub).mkdir(parents=True, exist_ok=True)
        env[name] = str(home / sub)
    env["JUPYTER_PLATFORM_DIRS"] = "1"
    return env


@dataclass
class ServerCommand:
    """How to start one kind of server, and which optional features it has."""

    name: str
    python: Path
    base: list[str]
    rate_limits_off: list[str]
    help_text: str = ""
    features: dict[str, bool] = field(default_factory=dict)
    pool_option: str = ""

    def command(self, port: int, token: str, root: Path, extra: list[str]) -> list[str]:
        if self.name == NBSERVER:
            where = [f"--port={port}", "--ip=127.0.0.1", f"--root-dir={root}", f"--IdentityProvider.token={token}"]
        else:
            where = ["--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
                     f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}"]
            if os.geteuid() == 0:  # containers and CI run as root; jupyter_server refuses that by default
                where.append("--allow-root")
        return [*self.base, "--no-browser", *where, *self.rate_limits_off, *extra]


def trait_options(help_text: str, trait: str) -> list[str]:
    """Every ``--Class.trait`` that a ``--help-all`` text lists for ``trait``."""
    return sorted(set(re.findall(rf"^--(\w+\.{trait})=", help_text, re.MULTILINE)))


def server_commands(venv: Path, scratch: Path, names: Sequence[str] = (NBSERVER, JUPYTER_SERVER)
                    ) -> dict[str, ServerCommand]:
    """The servers of ``names`` (both by default), with their output rate limits off. The setting
    names are read from each server's ``--help-all`` (nbserver's may move between classes as it
    grows); a server with no such setting stops the run rather than being measured with its limits on."""
    env = isolated_env(scratch / "help")
    every = {NBSERVER: ServerCommand(NBSERVER, Path(sys.executable), [sys.executable, "-m", "nbserver"], []),
             JUPYTER_SERVER: ServerCommand(JUPYTER_SERVER, venv / "bin" / "python",
                                           [str(venv / "bin" / "jupyter-server")], [])}
    chosen = {name: every[name] for name in names}
    for server in chosen.values():
        server.help_text = help_all(server.base, env)
        for trait in ("iopub_msg_rate_limit", "iopub_data_rate_limit"):
            names = trait_options(server.help_text, trait)
            if server.name == JUPYTER_SERVER:
                # ServerApp's copies are deprecated aliases of the websocket connection's.
                names = [name for name in names if not name.startswith("ServerApp.")]
            if not names:
                raise SystemExit(f"{server.name} --help-all lists no {trait}: the benchmark must be updated")
            server.rate_limits_off += [f"--{name}=0" for name in names]
        pool = trait_options(server.help_text, "kernel_pool_size")
        server.features["kernel_pool"] = bool(pool)
        server.pool_option = f"--{pool[0]}" if pool else ""
    return chosen


def read_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


class RunningServer:
    """One server process; ``start`` waits until it answers ``GET /api/status`` and times that."""

    def __init__(self, spec: ServerCommand, root: Path, home: Path, token: str, extra: Sequence[str] = (),
                 cwd: Path = REPO_DIR, name: str | None = None) -> None:
        self.spec = spec
        self.cwd = cwd  # `python -m nbserver` imports the nbserver of this folder
        self.name = name or spec.name
        self.root = root
        self.token = token
        self.port = free_port()
        self.env = isolated_env(home)
        self.log_path = home / "server.log"
        self.command = spec.command(self.port, token, root, list(extra))
        self.process: subprocess.Popen | None = None
        self.startup_seconds = 0.0

    def start(self, timeout: float = 60) -> float:
        log = open(self.log_path, "wb")
        started = time.perf_counter()
        self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT, env=self.env,
                                        cwd=str(self.cwd), start_new_session=True)
        log.close()
        request = (f"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: token {self.token}\r\n"
                   "Connection: close\r\n\r\n").encode()
        while time.perf_counter() - started < timeout:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
                    sock.sendall(request)
                    head = sock.recv(64)
                if head.startswith(b"HTTP/1.1 200"):
                    self.startup_seconds = time.perf_counter() - started
                    return self.startup_seconds
            except OSError:
                pass
            time.sleep(0.005)
        raise TimeoutError(f"{self.name} did not answer within {timeout} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def rss_mb(self) -> float:
        assert self.process is not None
        return read_rss_mb(self.process.pid)

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM, then SIGKILL to the whole group; kernels are swept by ``kill_leftovers``."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


Result = TypeVar("Result")


def run_in_turn(server: RunningServer, started: list[RunningServer],
                measure: Callable[[RunningServer], Result]) -> Result:
    """Start ``server``, run ``measure`` on it and stop it; ``server`` is first added to ``started`` so
    that the caller's cleanup stops it too if the start or the measurement fails."""
    started.append(server)
    server.start()
    result = measure(server)
    server.stop()
    return result


def processes_inside(folder: str) -> list[int]:
    """Every other process whose command line mentions a path inside ``folder``."""
    pids = []
    marker = folder.rstrip("/") + "/"  # a folder's contents, not a sibling whose name it begins
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline:
            pids.append(int(entry.name))
    return pids


def kill_leftovers(marker: str) -> list[int]:
    """SIGKILL every process whose command line mentions ``marker`` (the run's scratch folder:
    every server's root and every kernel's connection file are inside it). Returns their pids."""
    killed = []
    for pid in processes_inside(marker):
        try:
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        except OSError:
            pass
    return killed
