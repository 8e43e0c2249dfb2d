"""Two nbserver replicas on one PostgreSQL database behind HAProxy, under many clients (issue 17).

    apt-get install haproxy          # Debian's HAProxy; only this benchmark needs it
    python benchmarks/replicas.py [--clients 200] [--duration 60] [--processes 2] [--quick]

It starts a throwaway PostgreSQL cluster (``tests/support/postgres.py``), creates the schema with
``nbserver db upgrade``, stores manyclients.py's files in it (a folder of 60 files to list, a
100 KB notebook, a 100-byte file, a folder per client), then runs manyclients.py's mix of
contents requests (listing, notebook GET and PUT, small-file GET, create then delete) from
``--clients`` clients for ``--duration`` seconds twice:

1. against one replica directly (no proxy), the baseline;
2. against HAProxy on a free loopback port balancing two replicas round robin, request by
   request (:data:`HAPROXY_CONFIG`, printed with the figures).

Kernels are left out (manyclients.py's kernel clients are off): a kernel lives in one replica's
process, so kernel requests need a gateway or stickiness (README, "behind a load balancer").
Per run: errors (the target is 0), throughput, p50/p99 per request kind, the replicas' CPU, and
for the proxied run each replica's share of the requests (HAProxy's per-server response counts
from its stats socket). Everything shares this machine's cores with PostgreSQL and the clients;
the load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(0, str(BENCH_DIR.parent))

import manyclients  # noqa: E402
from servers import NBSERVER, RunningServer, ServerCommand, free_port, kill_leftovers  # noqa: E402

from tests.support.postgres import PostgresCluster  # noqa: E402

MANAGER = "nbserver.services.contents.postgres.manager.PostgresContentsManager"
#: The proxy's configuration: HTTP mode, every request balanced on its own (round robin), keep-alive
#: connections on both sides, a replica taken out after failed TCP checks.
HAPROXY_CONFIG = """\
global
    maxconn 4096
    stats socket {stats_socket} mode 600 level user

defaults
    mode http
    option http-keep-alive
    timeout connect 5s
    timeout client 120s
    timeout server 120s
    timeout http-keep-alive 60s

frontend nbserver
    bind 127.0.0.1:{port}
    default_backend replicas

backend replicas
    balance roundrobin
{servers}
"""
#: One line of ``{servers}`` in :data:`HAPROXY_CONFIG`: a replica, checked over TCP every 2 s.
SERVER_LINE = "    server replica{number} 127.0.0.1:{port} check inter 2s"


class Proxy:
    """HAProxy in the foreground on a free loopback port, balancing ``backends`` (ports); to the
    load generator it is the server (``name``, ``port``, ``token``)."""

    def __init__(self, scratch: Path, backends: list[int], token: str) -> None:
        self.name = "two replicas via HAProxy"
        self.token = token
        binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
        if not os.path.exists(binary):
            raise SystemExit("HAProxy is not installed: apt-get install haproxy")
        self.binary = binary
        self.port = free_port()
        self.stats_socket = scratch / "haproxy.sock"
        servers = "\n".join(SERVER_LINE.format(number=number, port=port)
                            for number, port in enumerate(backends, start=1))
        self.config = HAPROXY_CONFIG.format(stats_socket=self.stats_socket, port=self.port, servers=servers)
        self.config_path = scratch / "haproxy.cfg"
        self.config_path.write_text(self.config)
        self.log_path = scratch / "haproxy.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20) -> None:
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen([self.binary, "-db", "-f", str(self.config_path)], stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"haproxy exited: {self.log_path.read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("haproxy did not listen in time")

    def server_stats(self) -> dict[str, dict[str, str]]:
        """HAProxy's ``show stat`` rows of the backend's servers, by server name."""
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(str(self.stats_socket))
            sock.sendall(b"show stat\n")
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        rows = csv.DictReader(io.StringIO(data.decode().lstrip("# ")))
        return {row["svname"]: row for row in rows if row["pxname"] == "replicas" and row["svname"] != "BACKEND"}

    def responses(self) -> dict[str, int]:
        """Responses each replica has sent through the proxy so far."""
        fields = ("hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "hrsp_other")
        return {name: sum(int(row[field] or 0) for field in fields) for name, row in self.server_stats().items()}

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def store_tree(url: str, root: Path) -> None:
    """Save every folder and file below ``root`` into the PostgreSQL contents store at ``url``."""
    from nbserver.db.config import Database
    from nbserver.services.contents.postgres.manager import PostgresContentsManager

    async def store() -> None:
        database = Database(url=url)
        manager = PostgresContentsManager(database=database)
        try:
            for folder, folders, files in os.walk(root):
                base = Path(folder).relative_to(root).as_posix()
                prefix = "" if base == "." else base + "/"
                for name in sorted(folders):
                    await manager.save({"type": "directory"}, prefix + name)
                for name in sorted(files):
                    text = (Path(folder) / name).read_text()
                    await manager.save({"type": "file", "format": "text", "content": text}, prefix + name)
        finally:
            await database.close()

    asyncio.run(store())


def start_replicas(count: int, url: str, scratch: Path, token: str) -> list[RunningServer]:
    spec = ServerCommand(NBSERVER, Path(sys.executable), [sys.executable, "-m", "nbserver"], [])
    replicas = []
    for number in range(1, count + 1):
        root = scratch / f"replica{number}-root"  # unused: the files are in the database
        root.mkdir()
        replica = RunningServer(spec, root, scratch / f"replica{number}-home", token,
                                [f"--NotebookServerApp.contents_manager_class={MANAGER}", f"--Database.url={url}"])
        replica.name = f"replica{number}"
        replicas.append(replica)
        replica.start()
    return replicas


def run_both(url: str, clients: int, duration: float, processes: int, warmup: float,
             log: Callable[[str], None], baseline: bool = True) -> dict[str, Any]:
    """On the empty database at ``url``: the schema, the files, then the direct run on one replica
    (unless not ``baseline``) and the proxied run on two; their figures."""
    upgrade = subprocess.run([sys.executable, "-m", "nbserver", "db", "upgrade", f"--url={url}"],
                             capture_output=True, text=True, timeout=120, cwd=BENCH_DIR.parent)
    if upgrade.returncode:
        raise RuntimeError(f"nbserver db upgrade failed: {upgrade.stderr}")
    scratch = Path(tempfile.mkdtemp(prefix="nbreplicas-"))
    replicas: list[RunningServer] = []
    proxy: Proxy | None = None
    results: dict[str, Any] = {}
    try:
        files = scratch / "files"
        manyclients.make_load_root(files, clients)
        store_tree(url, files)
        token = secrets.token_hex(24)
        replicas = start_replicas(2, url, scratch, token)
        proxy = Proxy(scratch, [replica.port for replica in replicas], token)
        proxy.start()
        log(f"two replicas on ports {replicas[0].port} and {replicas[1].port}, HAProxy on {proxy.port}")
        time.sleep(3.0)  # as manyclients.py: let the servers settle

        if baseline:
            direct = manyclients.run_mix(replicas[0], clients, duration, processes, warmup, log, kernel_share=0)
            results["one replica, direct"] = direct | {"shares": None}

        before = proxy.responses()
        proxied = manyclients.run_mix(proxy, clients, duration, processes, warmup, log, kernel_share=0,  # type: ignore
                                      server_pids=[replica.process.pid for replica in replicas])  # type: ignore
        after = proxy.responses()
        served = {name: after[name] - before.get(name, 0) for name in after}
        total = sum(served.values()) or 1
        results[proxy.name] = proxied | {
            "shares": {name: count / total for name, count in served.items()}, "responses": served}
        results["haproxy_config"] = proxy.config
    finally:
        if proxy is not None:
            proxy.stop()
        for replica in replicas:
            replica.stop()
        kill_leftovers(str(scratch))
        shutil.rmtree(scratch, ignore_errors=True)
    return results


def report(results: dict[str, Any]) -> str:
    runs = {name: run for name, run in results.items() if isinstance(run, dict)}
    names = list(runs)
    some = next(iter(runs.values()))
    lines = [f"{some['clients']} clients (no kernels), {some['processes']} client processes, "
             f"{some['duration']:g} s each; latencies in ms"]
    header = f"{'kind':14}" + "".join(f"{name + ' ' + column:>36}" if column == 'n' else f"{column:>8}"
                                      for name in names for column in ("n", "err", "p50", "p99"))
    lines.append(header)
    for kind in manyclients.KINDS[:-1]:  # no "execute": kernels are left out
        cells = ""
        for name in names:
            data = runs[name]["kinds"][kind]
            cells += (f"{data['count']:>36}{data['errors']:>8}{manyclients.fmt(data['p50_ms']):>8}"
                      f"{manyclients.fmt(data['p99_ms']):>8}")
        lines.append(f"{kind:14}{cells}")
    for name, run in runs.items():
        lines.append(f"{name}: {run['total_per_second']:.0f} requests/s, {run['errors']} errors"
                     + (f", problems: {run['problems']}" if run["problems"] else "")
                     + f"; server CPU {run['server_cpu_cores']:.2f} cores, clients {run['client_cpu_cores']:.2f} "
                     f"cores, load average {run['load_average']}")
        if run.get("shares"):
            lines.append("  share of requests: " + ", ".join(
                f"{replica} {share:.1%} ({run['responses'][replica]})" for replica, share in run["shares"].items()))
        samples = [sample for data in run["kinds"].values() for sample in data["error_samples"]]
        lines.extend(f"  error: {sample}" for sample in samples[:5])
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=200, help="concurrent clients (default 200)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds each run is measured (default 60)")
    parser.add_argument("--processes", type=int, default=2, help="client processes (default 2)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 20 clients for 3 s")
    args = parser.parse_args()
    clients, duration, warmup = (20, 3.0, 0.5) if args.quick else (args.clients, args.duration, 2.0)

    def log(message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)

    log(f"load average before: {os.getloadavg()}")
    cluster = PostgresCluster()
    try:
        cluster.start()
        results = run_both(cluster.create_database("replicas"), clients, duration, args.processes, warmup, log)
    finally:
        cluster.stop()
    print(report(results))
    print(f"\nHAProxy configuration used:\n{results['haproxy_config']}")
    log(f"load average after: {os.getloadavg()}")
    runs = [run for run in results.values() if isinstance(run, dict)]
    return 1 if any(run["errors"] or run["problems"] for run in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
