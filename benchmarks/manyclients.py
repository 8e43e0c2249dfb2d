"""Many clients at once: a realistic mix of requests from several client processes.

    python benchmarks/manyclients.py [--clients 50,200] [--duration 60] [--processes 2]
                                     [--memory-runs 10] [--memory-duration 10] [--quick]

Each client process (multiprocessing, spawned) runs its share of the clients as asyncio tasks
over benchmarks/loadgen.py's keep-alive HTTP client, so the client side is not one Python process
against a server on the same cores. 90 % of the clients send contents requests back to back
(closed loop, no think time), each picking the next at random: a folder listing of 60 files,
GET and PUT of a 100 KB notebook (each client saves its own), GET of a 100-byte file, and create
then delete of a notebook in the client's own folder. The other 10 % each start a kernel and run
small executions over its channels websocket (jupyter_server's JSON protocol), one after another.
Per request kind: count, errors, requests per second, p50 and p99 latency; and the server's and
the clients' CPU use, so that a client-bound run shows itself. A memory check runs the mix
``--memory-runs`` times against one server and reads its resident memory before and after each.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import queue
import random
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fixtures  # noqa: E402
from loadgen import BenchmarkError, HTTPConnection, KernelSocket, one_request  # noqa: E402
from procstat import cpu_seconds as process_cpu_seconds  # noqa: E402  (pg_notify.py, postgres.py import it from here)
from servers import (  # noqa: E402
    JUPYTER_SERVER,
    NBSERVER,
    RunningServer,
    ServerCommand,
    jupyter_server_venv,
    kill_leftovers,
    server_commands,
)

LOAD_DIR = "load"
LISTING_DIR = f"{LOAD_DIR}/listing"
LISTING_FILES = 60
NOTEBOOK_PATH = f"{LOAD_DIR}/notebook-100kb.ipynb"
SMALL_PATH = f"{LOAD_DIR}/small-100b.txt"
CLIENTS_DIR = f"{LOAD_DIR}/clients"
KERNEL_SHARE = 0.10
REQUEST_TIMEOUT = 30.0
#: Seconds between the end of a memory-check run and the reading of the server's resident memory:
#: the same for every server, long enough for memory freed after the burst to be given back.
MEMORY_SETTLE_SECONDS = 5.0
#: The HTTP clients' mix: kind and weight; "create" is followed by a "delete" of what it made.
MIX = (("list", 15), ("notebook_get", 25), ("notebook_put", 10), ("small_get", 30), ("create", 10))
KINDS = ("list", "notebook_get", "notebook_put", "small_get", "create", "delete", "execute")
#: Executions a kernel client runs in turn: small statements with a little output.
EXECUTE_CODE = ("x = {n} * 2", "print({n})", "sum(range({n} % 100))")


def api(path: str, query: str = "") -> str:
    return f"/api/contents/{quote(path)}" + (f"?{query}" if query else "")


def notebook_json() -> str:
    return json.dumps(fixtures.notebook_model(cells=20, target_bytes=100_000), indent=1)


def make_load_root(root: Path, clients: int) -> None:
    """The mix's files under ``root/load``: a folder to list, a notebook, a small file, and a
    folder per client for its creates."""
    listing = root / LISTING_DIR
    listing.mkdir(parents=True)
    notebook = fixtures.small_notebook()
    for index in range(LISTING_FILES):
        name = f"file-{index:03d}" + (".ipynb" if index % 3 == 0 else ".py" if index % 3 == 1 else ".txt")
        (listing / name).write_text(notebook if name.endswith(".ipynb") else f"x = {index}\n")
    (root / NOTEBOOK_PATH).write_text(notebook_json())
    (root / SMALL_PATH).write_text(("0123456789" * 10)[:99] + "\n")
    an_hour_ago = time.time() - 3600  # files people open were saved a while ago
    for path in (root / NOTEBOOK_PATH, root / SMALL_PATH, *listing.iterdir()):
        os.utime(path, (an_hour_ago, an_hour_ago))
    for index in range(clients):
        (root / CLIENTS_DIR / f"c{index:03d}").mkdir(parents=True)


# -- one client process ---------------------------------------------------------------------------


@dataclass
class KindRecord:
    #: Requests sent at any time (warm-up included); ``count`` and ``latencies`` are the window's.
    sent: int = 0
    count: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)
    error_samples: list[str] = field(default_factory=list)

    def error(self, text: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 3:
            self.error_samples.append(text[:300])


@dataclass
class Window:
    """The measured span: requests are sent until ``stop``; those done in [start, stop] count."""

    start: float
    stop: float


class ContentsClient:
    """One client of the contents API, with its own keep-alive connection and files."""

    def __init__(self, index: int, port: int, token: str, put_body: bytes, records: dict[str, KindRecord]) -> None:
        self.index = index
        self.connection = HTTPConnection(port, token)
        self.folder = f"{CLIENTS_DIR}/c{index:03d}"
        self.put_path = api(f"{self.folder}/saved.ipynb")
        self.put_body = put_body
        self.records = records
        self.rng = random.Random(index)
        self.kinds = [kind for kind, _ in MIX]
        self.weights = [weight for _, weight in MIX]

    async def timed(self, kind: str, method: str, path: str, body: bytes | None, expect: tuple[int, ...],
                    window: Window) -> Any:
        record = self.records[kind]
        record.sent += 1
        sent = time.time()
        try:
            response = await asyncio.wait_for(self.connection.request(method, path, body), REQUEST_TIMEOUT)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError,
                ValueError) as error:
            self.connection.close()
            record.error(f"{method} {path}: {type(error).__name__}: {error}")
            return None
        done = time.time()
        if response.status not in expect:
            record.error(f"{method} {path}: {response.status} {response.body[:200]!r}")
            return None
        if window.start <= sent and done <= window.stop:
            record.count += 1
            record.latencies.append(done - sent)
        return response

    async def run(self, window: Window) -> None:
        while time.time() < window.stop:
            kind = self.rng.choices(self.kinds, self.weights)[0]
            if kind == "list":
                await self.timed(kind, "GET", api(LISTING_DIR, "content=1"), None, (200,), window)
            elif kind == "notebook_get":
                await self.timed(kind, "GET", api(NOTEBOOK_PATH, "content=1"), None, (200,), window)
            elif kind == "notebook_put":
                await self.timed(kind, "PUT", self.put_path, self.put_body, (200, 201), window)
            elif kind == "small_get":
                await self.timed(kind, "GET", api(SMALL_PATH, "content=1"), None, (200,), window)
            else:
                response = await self.timed("create", "POST", api(self.folder), b'{"type": "notebook"}', (201,),
                                            window)
                if response is not None:
                    created = response.json()["path"]
                    await self.timed("delete", "DELETE", api(created), None, (204,), window)

    def close(self) -> None:
        self.connection.close()


class KernelClient:
    """One client running small executions on its own kernel over the channels websocket."""

    def __init__(self, index: int, port: int, token: str, records: dict[str, KindRecord]) -> None:
        self.index = index
        self.port = port
        self.token = token
        self.records = records
        self.kernel_id = ""
        self.socket: KernelSocket | None = None

    async def setup(self) -> None:
        response = await one_request(self.port, self.token, "POST", "/api/kernels", b'{"name": "python3"}', 180)
        if response.status not in (200, 201):
            raise BenchmarkError(f"POST /api/kernels answered {response.status}: {response.body[:200]!r}")
        self.kernel_id = response.json()["id"]
        self.socket = await KernelSocket.open(self.port, self.token, self.kernel_id, timeout=180)
        await self.socket.execute("1+1", timeout=180)

    async def run(self, window: Window) -> None:
        assert self.socket is not None
        record = self.records["execute"]
        number = 0
        while time.time() < window.stop:
            number += 1
            code = EXECUTE_CODE[number % len(EXECUTE_CODE)].format(n=number)
            record.sent += 1
            sent = time.time()
            try:
                await self.socket.execute(code, timeout=REQUEST_TIMEOUT)
            except (BenchmarkError, asyncio.TimeoutError, OSError) as error:
                record.error(f"execute {code!r}: {type(error).__name__}: {error}")
                return  # the socket's state is unknown: this client stops
            done = time.time()
            if window.start <= sent and done <= window.stop:
                record.count += 1
                record.latencies.append(done - sent)

    async def teardown(self) -> None:
        if self.socket is not None:
            self.socket.close()
        if self.kernel_id:
            await one_request(self.port, self.token, "DELETE", f"/api/kernels/{self.kernel_id}", timeout=60)


async def client_process_main(port: int, token: str, contents_indices: list[int], kernel_indices: list[int],
                              put_body: bytes, ready: Any, go: Any, window_times: Any) -> dict[str, Any]:
    records = {kind: KindRecord() for kind in KINDS}
    contents = [ContentsClient(index, port, token, put_body, records) for index in contents_indices]
    kernels = [KernelClient(index, port, token, records) for index in kernel_indices]
    setup_error = ""
    try:
        await asyncio.gather(*(client.setup() for client in kernels))
    except Exception as error:
        setup_error = f"kernel setup: {type(error).__name__}: {error}"[:300]
    ready.put(setup_error)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, go.wait)
    window = Window(*window_times[:])
    cpu: dict[str, float] = {}

    async def read_cpu_at(moment: float, name: str) -> None:
        await asyncio.sleep(max(0.0, moment - time.time()))
        cpu[name] = time.process_time()

    try:
        if not setup_error:
            await asyncio.gather(read_cpu_at(window.start, "start"), read_cpu_at(window.stop, "stop"),
                                 *(client.run(window) for client in [*contents, *kernels]))
    finally:
        for client in contents:
            client.close()
        await asyncio.gather(*(client.teardown() for client in kernels), return_exceptions=True)
    return {"records": {kind: record.__dict__ for kind, record in records.items()},
            "cpu_seconds": cpu.get("stop", 0.0) - cpu.get("start", 0.0), "setup_error": setup_error}


def client_process(port: int, token: str, contents_indices: list[int], kernel_indices: list[int], put_body: bytes,
                   ready: Any, go: Any, window_times: Any, results: Any) -> None:
    try:
        result = asyncio.run(client_process_main(port, token, contents_indices, kernel_indices, put_body, ready, go,
                                                 window_times))
    except BaseException as error:  # reported to the parent rather than lost in a child's stderr
        ready.put(f"client process: {type(error).__name__}: {error}")
        result = {"records": {}, "cpu_seconds": 0.0, "setup_error": f"{type(error).__name__}: {error}"[:300]}
    results.put(result)


# -- the parent: one run of the mix against one server -------------------------------------------------


def split(clients: int, kernel_share: float = KERNEL_SHARE) -> tuple[list[int], list[int]]:
    """(contents client indices, kernel client indices): every tenth client runs a kernel (with
    the default ``kernel_share``; 0: none)."""
    kernel_count = max(1, round(clients * kernel_share)) if clients >= 2 and kernel_share else 0
    step = clients / kernel_count if kernel_count else 0
    kernel_indices = sorted({int(i * step) for i in range(kernel_count)})
    return [i for i in range(clients) if i not in kernel_indices], kernel_indices


def process_run_queue_seconds(pid: int) -> float:
    """Seconds the process's threads have waited for a CPU so far (``/proc/<pid>/task/*/schedstat``):
    grows by more than the elapsed time when other work keeps the process off the cores."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return total / 1e9


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def run_mix(server: RunningServer, clients: int, duration: float, processes: int, warmup: float,
            log: Callable[[str], None], kernel_share: float = KERNEL_SHARE,
            server_pids: Sequence[int] = ()) -> dict[str, Any]:
    """One run of the mix: ``clients`` clients in ``processes`` processes for ``duration`` seconds
    after ``warmup`` seconds not counted. Returns per-kind figures, totals and CPU use.
    ``server_pids``: the processes whose CPU is the server's (default: ``server.process``; several
    replicas behind a proxy at ``server.port``)."""
    context = multiprocessing.get_context("spawn")
    ready, results = context.Queue(), context.Queue()
    go = context.Event()
    window_times = context.Array("d", 2)
    contents_indices, kernel_indices = split(clients, kernel_share)
    put_body = ('{"type": "notebook", "format": "json", "content": ' + notebook_json() + "}").encode()
    workers = []
    for number in range(processes):
        args = (server.port, server.token, contents_indices[number::processes], kernel_indices[number::processes],
                put_body, ready, go, window_times, results)
        workers.append(context.Process(target=client_process, args=args, daemon=True))
    setup_started = time.time()
    for worker in workers:
        worker.start()
    try:
        problems = [problem for problem in (ready.get(timeout=300) for _ in workers) if problem]
        setup_seconds = time.time() - setup_started
        start = time.time() + 1.0 + warmup
        window_times[0], window_times[1] = start, start + duration
        pids = list(server_pids) or [server.process.pid]  # type: ignore[union-attr]
        go.set()
        time.sleep(max(0.0, start - time.time()))
        cpu_before = sum(map(process_cpu_seconds, pids))
        waited_before = sum(map(process_run_queue_seconds, pids))
        time.sleep(max(0.0, start + duration - time.time()))
        server_cpu = sum(map(process_cpu_seconds, pids)) - cpu_before
        server_waited = sum(map(process_run_queue_seconds, pids)) - waited_before
        outcomes = [results.get(timeout=REQUEST_TIMEOUT + 120) for _ in workers]
    except queue.Empty:
        raise BenchmarkError("a client process did not report in time") from None
    finally:
        go.set()
        for worker in workers:
            worker.join(timeout=30)
            if worker.is_alive():
                worker.kill()
    problems += [outcome["setup_error"] for outcome in outcomes if outcome["setup_error"]]
    merged = {kind: KindRecord() for kind in KINDS}
    for outcome in outcomes:
        for kind, record in outcome["records"].items():
            merged[kind].sent += record["sent"]
            merged[kind].count += record["count"]
            merged[kind].errors += record["errors"]
            merged[kind].latencies += record["latencies"]
            merged[kind].error_samples += record["error_samples"]
    kinds = {}
    for kind, record in merged.items():
        kinds[kind] = {"sent": record.sent, "count": record.count, "errors": record.errors, "per_second": record.count / duration,
                       "p50_ms": percentile(record.latencies, 0.5) * 1000 if record.latencies else None,
                       "p99_ms": percentile(record.latencies, 0.99) * 1000 if record.latencies else None,
                       "error_samples": record.error_samples[:3]}
    client_cpu = [outcome["cpu_seconds"] for outcome in outcomes]
    completed = sum(record.count for record in merged.values())
    result = {
        "clients": clients, "kernel_clients": len(kernel_indices), "processes": processes, "duration": duration,
        "kinds": kinds, "total_per_second": completed / duration,
        "errors": sum(record.errors for record in merged.values()), "problems": problems,
        "server_cpu_cores": server_cpu / duration, "server_run_queue_wait": server_waited / duration,
        "client_cpu_cores": sum(client_cpu) / duration,
        # CPU time per completed request: moves much less with the machine's load than throughput does.
        "server_cpu_ms_per_request": 1000 * server_cpu / max(1, completed),
        "client_cpu_ms_per_request": 1000 * sum(client_cpu) / max(1, completed),
        "client_cpu_busiest_process": max(client_cpu) / duration if client_cpu else 0.0,
        "setup_seconds": setup_seconds, "load_average": round(os.getloadavg()[0], 2),
    }
    log(f"    {server.name} {clients} clients ({len(kernel_indices)} on kernels, {processes} processes, "
        f"{duration:g} s): {result['total_per_second']:.0f} req/s, {result['errors']} errors, server CPU "
        f"{result['server_cpu_cores']:.2f} cores (waiting for a CPU {result['server_run_queue_wait']:.2f} s/s), "
        f"clients {result['client_cpu_cores']:.2f} cores"
        + (f"; problems: {problems}" if problems else ""))
    return result


# -- several runs and servers ---------------------------------------------------------------------------


@dataclass
class Plan:
    """What to run: client counts with their duration, the client processes, the memory check."""

    client_counts: tuple[int, ...] = (50, 200)
    duration: float = 60.0
    warmup: float = 2.0
    processes: int = 2
    #: Also run the first client count with this many processes, to see whether the client limits.
    check_processes: int = 4
    memory_runs: int = 10
    memory_clients: int = 50
    memory_duration: float = 10.0

    @classmethod
    def quick(cls) -> Plan:
        return cls(client_counts=(50,), duration=3.0, warmup=0.5, processes=2, check_processes=0, memory_runs=2,
                   memory_clients=50, memory_duration=2.0)


def start_server(spec: ServerCommand, scratch: Path, token: str, clients: int, label: str) -> RunningServer:
    label = f"{spec.name}-{label}"
    root = scratch / f"{label}-root"
    make_load_root(root, clients)
    server = RunningServer(spec, root, scratch / f"{label}-home", token)
    # Deleted files go to a trash (nbserver's own; jupyter_server's send2trash uses the XDG one):
    # keep it inside the run's scratch folder.
    server.env["XDG_DATA_HOME"] = str(scratch / f"{label}-home" / "xdg")
    server.start()
    return server


def measure_server(spec: ServerCommand, scratch: Path, token: str, plan: Plan,
                   log: Callable[[str], None]) -> dict[str, Any]:
    """Every many-clients figure of one server: a run per client count (a fresh server each), the
    client-process check, and the memory check."""
    figures: dict[str, Any] = {"runs": [], "memory": {}}
    runs = [(count, plan.processes, False) for count in plan.client_counts]
    if plan.check_processes and plan.check_processes != plan.processes:
        runs.append((plan.client_counts[0], plan.check_processes, True))
    for clients, processes, check in runs:
        server = start_server(spec, scratch, token, clients, f"mix{clients}x{processes}")
        try:
            time.sleep(fixtures.SETTLE_SECONDS)
            run = run_mix(server, clients, plan.duration, processes, plan.warmup, log)
            figures["runs"].append(run | {"check": check})
        finally:
            server.stop()
            kill_leftovers(str(scratch))
    if plan.memory_runs:
        server = start_server(spec, scratch, token, plan.memory_clients, "memory")
        try:
            time.sleep(fixtures.SETTLE_SECONDS)
            before = server.rss_mb()
            before_each, after = [], []
            errors = 0
            for number in range(plan.memory_runs):
                before_each.append(server.rss_mb())
                run = run_mix(server, plan.memory_clients, plan.memory_duration, plan.processes, plan.warmup, log)
                errors += run["errors"] + len(run["problems"])
                time.sleep(MEMORY_SETTLE_SECONDS)
                after.append(server.rss_mb())
                log(f"    {spec.name} memory, run {number + 1}: {before_each[-1]:.1f} MB before, {after[-1]:.1f} MB "
                    f"{MEMORY_SETTLE_SECONDS:g} s after")
            figures["memory"] = {"before_mb": before, "before_each_mb": before_each, "after_mb": after,
                                 "errors": errors, "clients": plan.memory_clients, "duration": plan.memory_duration}
            log(f"    {spec.name} memory: before {before:.0f} MB, after each run "
                + ", ".join(f"{value:.0f}" for value in after) + " MB")
        finally:
            server.stop()
            kill_leftovers(str(scratch))
    return figures


def fmt(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}g}" if value < 1000 else f"{value:.0f}"


def report(results: dict[str, dict[str, Any]]) -> str:
    """The per-kind tables of every run, side by side, then the ratios and the memory check."""
    lines: list[str] = []
    names = list(results)
    by_key = {name: {(run["clients"], run["processes"]): run for run in results[name]["runs"]} for name in names}
    keys = sorted({key for runs in by_key.values() for key in runs})
    for key in keys:
        clients, processes = key
        runs = {name: by_key[name].get(key) for name in names}
        some = next(run for run in runs.values() if run)
        lines.append(f"\n{clients} clients ({some['kernel_clients']} executing on kernels), {processes} client "
                     f"processes, {some['duration']:g} s:")
        header = ["kind"] + [f"{name} {column}" for name in names for column in ("n", "err", "req/s", "p50", "p99")]
        table = [header]
        for kind in KINDS:
            row = [kind]
            for name in names:
                data = runs[name]["kinds"][kind] if runs[name] else None
                row += ([str(data["count"]), str(data["errors"]), fmt(data["per_second"]), fmt(data["p50_ms"]),
                         fmt(data["p99_ms"])] if data else ["-"] * 5)
            table.append(row)
        total = ["total"]
        for name in names:
            run = runs[name]
            total += ([str(sum(k["count"] for k in run["kinds"].values())), str(run["errors"]),
                       fmt(run["total_per_second"]), "", ""] if run else ["-"] * 5)
        table.append(total)
        widths = [max(len(line[column]) for line in table) for column in range(len(header))]
        for index, line in enumerate(table):
            lines.append("  " + "  ".join(text.rjust(width) if index and column else text.ljust(width)
                                          for column, (text, width) in enumerate(zip(line, widths))).rstrip())
        lines.append("  (latencies in ms; n = requests completed in the window)")
        for name in names:
            run = runs[name]
            if run:
                lines.append(f"  {name}: server CPU {run['server_cpu_cores']:.2f} cores (its threads waited "
                             f"{run.get('server_run_queue_wait', 0):.2f} s per second for a CPU), clients "
                             f"{run['client_cpu_cores']:.2f} cores (busiest process {run['client_cpu_busiest_process']:.2f}), "
                             f"CPU per request: server {run.get('server_cpu_ms_per_request', 0):.2f} ms, clients "
                             f"{run.get('client_cpu_ms_per_request', 0):.2f} ms, "
                             f"load average {run['load_average']}"
                             + (f"; problems: {run['problems']}" if run["problems"] else ""))
                samples = [sample for data in run["kinds"].values() for sample in data["error_samples"]]
                for sample in samples[:5]:
                    lines.append(f"    error: {sample}")
        if all(runs.get(name) for name in (NBSERVER, JUPYTER_SERVER)):
            ratio = runs[NBSERVER]["total_per_second"] / max(runs[JUPYTER_SERVER]["total_per_second"], 1e-9)
            lines.append(f"  throughput nbserver/jupyter_server: {ratio:.2f}x (target >= 3x, zero errors)")
    for name in names:
        memory = results[name]["memory"]
        if memory:
            after = memory["after_mb"]
            lines.append(f"\nmemory, {name}: {len(after)} consecutive runs of {memory['clients']} clients for "
                         f"{memory['duration']:g} s on one server, read {MEMORY_SETTLE_SECONDS:g} s after each: "
                         f"before {memory['before_mb']:.0f} MB, after "
                         + ", ".join(f"{value:.0f}" for value in after) + " MB; after the first run / before "
                         f"{after[0] / memory['before_mb']:.2f}x (the first kernels and requests import and "
                         f"set up what a fresh server has not yet), after the last / after the first "
                         f"{after[-1] / after[0]:.2f}x (growth over the runs; target <= 1.2x); {memory['errors']} errors")
    text = "\n".join(lines)
    return text


def summary_figures(results: dict[str, Any]) -> dict[str, Any]:
    """The figures run.py's table shows for one server."""
    figures: dict[str, Any] = {}
    for run in results["runs"]:
        key = f"many_clients_{run['clients']}" + ("_more_processes" if run["check"] else "")
        figures[key] = run["total_per_second"]
        figures[f"{key}_errors"] = float(run["errors"] + len(run["problems"]))
    memory = results["memory"]
    if memory:
        figures["many_clients_memory_first_run"] = memory["after_mb"][0] / memory["before_mb"]
        figures["many_clients_memory_growth"] = memory["after_mb"][-1] / memory["after_mb"][0]
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", default="50,200", help="comma-separated client counts (default 50,200)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds each run is measured (default 60)")
    parser.add_argument("--processes", type=int, default=2, help="client processes (default 2)")
    parser.add_argument("--check-processes", type=int, default=4,
                        help="also run the first client count with this many processes (0: no)")
    parser.add_argument("--memory-runs", type=int, default=10, help="runs of the memory check (0: no check)")
    parser.add_argument("--memory-duration", type=float, default=10.0, help="seconds of each memory-check run")
    parser.add_argument("--servers", default=f"{NBSERVER},{JUPYTER_SERVER}", help="which servers, comma-separated")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 50 clients for 3 s, 2 memory runs")
    parser.add_argument("--json", type=Path, help="write every figure to this file")
    args = parser.parse_args()
    plan = Plan.quick() if args.quick else Plan(
        client_counts=tuple(int(count) for count in args.clients.split(",")), duration=args.duration,
        processes=args.processes, check_processes=args.check_processes, memory_runs=args.memory_runs,
        memory_duration=args.memory_duration)
    names = [name.strip() for name in args.servers.split(",") if name.strip()]

    def log(message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)

    log(f"load average before: {os.getloadavg()}")
    scratch = Path(tempfile.mkdtemp(prefix="nbmany-"))
    try:
        venv = jupyter_server_venv(log) if JUPYTER_SERVER in names else Path(sys.prefix)
        specs = server_commands(venv, scratch, names)
        token = os.urandom(24).hex()
        results = {name: measure_server(specs[name], scratch, token, plan, log) for name in names}
    finally:
        kill_leftovers(str(scratch))
        shutil.rmtree(scratch, ignore_errors=True)
    print(report(results))
    log(f"load average after: {os.getloadavg()}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 1 if any(run["errors"] or run["problems"] for result in results.values() for run in result["runs"]) else 0


if __name__ == "__main__":
    sys.exit(main())
