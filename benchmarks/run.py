"""Side-by-side benchmark of nbserver (this checkout) against jupyter_server 2.21.1.

    python benchmarks/run.py [--trials N] [--quick] [--json out.json] [--only workload,...] [--postgres]

Each trial starts each server afresh on a free 127.0.0.1 port with an identical fresh root folder
and the same token, runs the workloads, reads its memory and stops it with every kernel it
started; the order of the servers alternates from trial to trial so that drift hits both alike.
The table shows medians over trials with [min-max]. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bursts  # noqa: E402
import fixtures  # noqa: E402
import manyclients  # noqa: E402
import shapes  # noqa: E402
import workloads  # noqa: E402
from servers import (  # noqa: E402
    BENCH_DIR,
    JUPYTER_SERVER,
    NBSERVER,
    RunningServer,
    ServerCommand,
    free_port,
    isolated_env,
    jupyter_server_venv,
    kill_leftovers,
    server_commands,
)
from workloads import NOT_SUPPORTED, Budget  # noqa: E402

SERVERS = (NBSERVER, JUPYTER_SERVER)


@dataclass
class Row:
    key: str
    label: str
    unit: str
    higher_is_better: bool
    group: str


#: Seconds without requests before the second memory reading (manyclients reads after 5 s too).
IDLE_MEMORY_WAIT = 5.0

ROWS = [
    Row("startup", "start-up to first answered request", "s", False, "always"),
    Row("small_file_get", "GET 100-byte file, concurrency 16", "req/s", True, "small_file_get"),
    Row("small_files_wrk", "GET /files/ 100-byte file, wrk: the ceiling", "req/s", True, "small_requests"),
    Row("small_files_wrk_floor", "  floor: bare tornado sending the same bytes", "req/s", True, "small_requests"),
    Row("small_files_wrk_cpu", "  server CPU per request", "us", False, "small_requests"),
    Row("small_files_wrk_floor_cpu", "  floor: CPU per request", "us", False, "small_requests"),
    Row("status_wrk", "GET /api/status, wrk: the ceiling", "req/s", True, "small_requests"),
    Row("status_wrk_floor", "  floor: bare tornado, same JSON shape", "req/s", True, "small_requests"),
    Row("status_wrk_cpu", "  server CPU per request", "us", False, "small_requests"),
    Row("status_wrk_floor_cpu", "  floor: CPU per request", "us", False, "small_requests"),
    Row("notebook_get", "GET 1 MB notebook, concurrency 8", "req/s", True, "notebook_get"),
    Row("notebook_get_floor", "  floor: bare tornado sending the file", "req/s", True, "notebook_get"),
    Row("notebook_put", "PUT 1 MB notebook, concurrency 4", "req/s", True, "notebook_put"),
    *[row for name, label in shapes.LABELS.items() for row in (
        Row(f"shape_{name}_get", f"GET {label}, unchanged (reply cache), concurrency 4", "req/s", True,
            "notebook_shapes"),
        Row(f"shape_{name}_get_first", "  first read: file changed before each GET (a copy per connection)", "req/s", True,
            "notebook_shapes"),
        Row(f"shape_{name}_get_first_cpu", "    server CPU per first read", "ms", False, "notebook_shapes"),
        Row(f"shape_{name}_put", f"PUT {label}, concurrency 2", "req/s", True, "notebook_shapes"),
        Row(f"shape_{name}_put_cpu", "    server CPU per PUT", "ms", False, "notebook_shapes"))],
    Row("list_5000", "list 5,000 files (content=1)", "s", False, "list_5000"),
    Row("list_5000_no_content", "folder of 5,000 files, content=0", "s", False, "list_5000"),
    Row("list_100000", "list 100,000 files (one trial)", "s", False, "list_100000"),
    Row("list_100000_first_page", "100,000 files: first page of 100", "ms", False, "list_100000"),
    Row("list_100000_first_page_again", "  the same page asked again", "ms", False, "list_100000"),
    Row("kernel_start_cold", "kernel start to 1+1 reply, cold", "s", False, "kernel_start"),
    Row("kernel_start_warm", "kernel start to 1+1 reply, warm pool", "s", False, "kernel_start"),
    Row("execute_rtt_median", "execute `pass` round trip, median", "ms", False, "execute_rtt"),
    Row("execute_rtt_p99", "execute `pass` round trip, p99", "ms", False, "execute_rtt"),
    Row("execute_rtt_floor_median", "  floor: jupyter_client direct, median", "ms", False, "execute_rtt"),
    Row("execute_rtt_floor_p99", "  floor: jupyter_client direct, p99", "ms", False, "execute_rtt"),
    Row("stream_output", "stream 20 MB of output until idle", "MB/s", True, "stream_output"),
    Row("stream_output_floor", "  floor: jupyter_client direct", "MB/s", True, "stream_output"),
    Row("rss", "server resident memory right after the run", "MB", False, "always"),
    Row("rss_idle", f"  the same after {IDLE_MEMORY_WAIT:g} s without requests", "MB", False, "always"),
    # Issue 20: bursts of kernel starts (benchmarks/bursts.py) and many clients (manyclients.py).
    *[row for size in bursts.POOL_SIZES for row in (
        Row(f"kernel_burst_p{size}_median", f"5 kernel starts at once, pool {size}: each to first reply, median",
            "ms", False, "kernel_burst"),
        Row(f"kernel_burst_p{size}_max", "  the same: slowest start", "ms", False, "kernel_burst"),
        Row(f"kernel_burst_p{size}_total", "  the same: all five answered", "ms", False, "kernel_burst"),
        Row(f"kernel_burst_p{size}_seq_max", f"  5 back to back, pool {size}: slowest start", "ms", False,
            "kernel_burst"),
        Row(f"kernel_burst_p{size}_seq_total", f"  5 back to back, pool {size}: all five", "ms", False,
            "kernel_burst"),
        *([Row(f"kernel_burst_p{size}_refill", f"  pool {size} full again, from the burst's start", "s", False,
               "kernel_burst")] if size else []))],
    Row("kernel_pool_idle_rss", "idle pooled kernel, resident (RSS)", "MB", False, "kernel_burst"),
    Row("kernel_pool_idle_pss", "idle pooled kernel, proportional (PSS)", "MB", False, "kernel_burst"),
    *[row for count in manyclients.Plan().client_counts for row in (
        Row(f"many_clients_{count}", f"{count} clients, realistic mix: all requests", "req/s", True, "many_clients"),
        Row(f"many_clients_{count}_errors", f"  {count} clients: errors", "count", False, "many_clients"),
        Row(f"many_clients_{count}_more_processes", f"  {count} clients from more client processes", "req/s", True,
            "many_clients"),
        Row(f"many_clients_{count}_more_processes_errors", "    errors", "count", False, "many_clients"))],
    Row("many_clients_memory_first_run", "many clients: RSS after the first run / fresh server", "x", False,
        "many_clients"),
    Row("many_clients_memory_growth", "  RSS after the last of the runs / after the first", "x", False,
        "many_clients"),
]
ROW_BY_KEY = {row.key: row for row in ROWS}
GROUPS = [*workloads.SERVER_WORKLOADS, "list_100000", "kernel_burst", "many_clients"]

# Issue 7's targets: (row, how nbserver's advantage is judged, the bar). "ratio": nbserver
# better by at least the factor; "floor_ratio": nbserver's figure over its own floor at most the
# factor; "floor_share": at least that share of its own floor; "below": nbserver's figure under
# the bar; "warm_vs_cold": nbserver's warm start against jupyter_server's cold start.
TARGETS = [
    ("notebook_get", "ratio", 8.0), ("notebook_put", "ratio", 3.0),
    *[(f"shape_{name}_{verb}", "ratio", 3.0) for name in shapes.SHAPES for verb in ("get", "get_first", "put")],
    ("small_file_get", "ratio", 2.0), ("small_files_wrk", "floor_share", 0.5), ("status_wrk", "floor_share", 0.5),
    ("list_5000", "ratio", 10.0), ("list_100000_first_page", "below", 50.0), ("list_100000", "ratio", 10.0),
    ("kernel_start_warm", "warm_vs_cold", 10.0), ("kernel_start_cold", "ratio", 1.0),
    ("execute_rtt_median", "floor_ratio", 1.5), ("stream_output", "floor_share", 0.9),
    ("stream_output", "ratio", 1.0), ("startup", "ratio", 2.0), ("rss_idle", "ratio", 1.0),
    ("kernel_burst_p5_max", "below", 50.0), ("kernel_burst_p5_seq_max", "below", 50.0),
    *[(f"many_clients_{count}", "ratio", 3.0) for count in manyclients.Plan().client_counts],
    *[(f"many_clients_{count}_errors", "below", 1.0) for count in manyclients.Plan().client_counts],
    ("many_clients_memory_growth", "below", 1.2),
]
#: Rows of nbserver's kernel pool, compared with jupyter_server's cold start (it has no pool).
COLD_ROW_OF = {"kernel_start_warm": "kernel_start_cold", **{
    f"kernel_burst_p{size}_{figure}": f"kernel_burst_p0_{figure}"
    for size in bursts.POOL_SIZES if size for figure in ("median", "max", "total", "seq_max", "seq_total")}}

ACTIVE: list[RunningServer] = []


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def machine_info() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        memory = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
        memory_gb = round(int(memory) / 1024 / 1024, 1)
    except OSError:
        memory_gb = None
    return {
        "nproc": len(os.sched_getaffinity(0)), "cpu": cpu, "memory_gb": memory_gb,
        "python": platform.python_version(), "os": f"{platform.system()} {platform.release()}",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load_average_before": round(os.getloadavg()[0], 2),
    }


def versions(venv: Path) -> dict[str, str]:
    def of(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "-"
    commit = subprocess.run(["git", "-C", str(BENCH_DIR.parent), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(BENCH_DIR.parent), "status", "--porcelain", "--", "nbserver"],
                           capture_output=True, text=True).stdout.strip()
    venv_versions = subprocess.run(
        [str(venv / "bin" / "python"), "-c",
         "from importlib.metadata import version as v; print(v('jupyter_server'), v('ipykernel'), v('tornado'))"],
        capture_output=True, text=True).stdout.split()
    return {
        "nbserver": f"{of('nbserver')} @ {commit}{' + uncommitted changes' if dirty else ''}",
        "nbserver_env": f"ipykernel {of('ipykernel')}, tornado {of('tornado')}, jupyter_client {of('jupyter_client')}",
        "jupyter_server_env": "jupyter_server {}, ipykernel {}, tornado {}".format(*venv_versions)
        if len(venv_versions) == 3 else "?",
    }


# -- one trial ------------------------------------------------------------------------------


def record(results: dict[str, dict[str, list]], server: str, figures: dict[str, Any]) -> None:
    for key, value in figures.items():
        results.setdefault(key, {name: [] for name in SERVERS})[server].append(value)


def failure_figures(group: str, text: str) -> dict[str, str]:
    return {row.key: text for row in ROWS if row.group == group and row.key != "kernel_start_warm"}


async def run_group(name: str, call: Any, server_name: str, limit: float) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        figures = await asyncio.wait_for(call, limit)
    except asyncio.TimeoutError:
        figures = failure_figures(name, f"timeout (> {limit:.0f} s)")
    except Exception as error:  # a failing workload is reported, the others still run
        figures = failure_figures(name, f"error: {type(error).__name__}: {error}"[:300])
    shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items())
    log(f"  {server_name} {name} ({time.perf_counter() - started:.1f} s): {shown}")
    return figures


async def measure_server(spec: ServerCommand, scratch: Path, token: str, notebook_json: str, groups: list[str],
                         budget: Budget, with_100k: bool) -> dict[str, Any]:
    home = scratch / "home"
    root = scratch / "root"
    fixtures.make_root(root, notebook_json, with_100k)
    written = time.time()
    server = RunningServer(spec, root, home, token)
    ACTIVE.append(server)
    figures: dict[str, Any] = {}
    try:
        figures["startup"] = server.start()
        log(f"  {spec.name} answered after {figures['startup']:.2f} s (port {server.port})")
        # The notebooks people open were not written in the last seconds; a server may trust a
        # file's stamp only once its times are that old (nbserver's reply cache: 2.5 s).
        await asyncio.sleep(max(0.0, written + fixtures.SETTLE_SECONDS - time.time()))
        for name, workload in workloads.SERVER_WORKLOADS.items():
            if name in groups:
                figures.update(await run_group(name, workload(server, budget, notebook_json), spec.name, 600))
        figures["rss"] = server.rss_mb()
        # What the server holds once a busy spell is over: nbserver gives freed heap back after 2 s
        # without requests (HeapTrimmer); both servers get the same wait.
        await asyncio.sleep(IDLE_MEMORY_WAIT)
        figures["rss_idle"] = server.rss_mb()
        if with_100k:
            figures.update(await run_group("list_100000", workloads.list_100000(server, budget, notebook_json),
                                           spec.name, budget.listing_100k_timeout + 200))
    finally:
        server.stop()
        ACTIVE.remove(server)
        kill_leftovers(str(scratch))
    for line in server.log_tail(200).splitlines():
        # nbserver's count of GETs answered with a kept reply, and its notebook processes' memory
        if "Notebook reply cache:" in line or "Notebook processes:" in line:
            log(f"  {spec.name} {line.split('] ', 1)[-1]}")
    if "kernel_start" in groups:
        figures.update(await measure_warm_pool(spec, scratch, token, notebook_json, budget))
    return figures


async def measure_warm_pool(spec: ServerCommand, scratch: Path, token: str, notebook_json: str,
                            budget: Budget) -> dict[str, Any]:
    """A server of its own with a kernel pool, when the server has that setting."""
    if not spec.features.get("kernel_pool"):
        return {"kernel_start_warm": NOT_SUPPORTED}
    root = scratch / "pool-root"
    fixtures.make_root(root, notebook_json, False)
    server = RunningServer(spec, root, scratch / "pool-home", token, [f"{spec.pool_option}=1"])
    ACTIVE.append(server)
    try:
        server.start()
        return await run_group("kernel_start", workloads.kernel_start_warm(server, budget), spec.name + " (pool)", 600)
    except Exception as error:
        return {"kernel_start_warm": f"error: {error}"[:300]}
    finally:
        server.stop()
        ACTIVE.remove(server)
        kill_leftovers(str(scratch))


async def measure_floor(spec: ServerCommand, scratch: Path, budget: Budget) -> dict[str, Any]:
    """jupyter_client straight to a kernel of the server's own environment (benchmarks/floor.py)."""
    env = isolated_env(scratch / "floor-home")
    command = [str(spec.python), str(BENCH_DIR / "floor.py"), str(budget.round_trips), str(budget.stream_bytes),
               str(budget.stream_timeout)]
    process = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.PIPE, env=env, cwd=str(scratch))
    try:
        out, err = await asyncio.wait_for(process.communicate(), budget.stream_timeout + 120)
    except asyncio.TimeoutError:
        process.kill()
        await process.wait()
        return {"execute_rtt_floor_median": "timeout", "execute_rtt_floor_p99": "timeout",
                "stream_output_floor": "timeout"}
    finally:
        kill_leftovers(str(scratch))
    if process.returncode != 0:
        text = f"error: floor.py exited {process.returncode}: {err.decode()[-200:]}"
        return {"execute_rtt_floor_median": text, "execute_rtt_floor_p99": text, "stream_output_floor": text}
    data = json.loads(out.decode().strip().splitlines()[-1])
    figures = {"execute_rtt_floor_median": statistics.median(data["round_trips"]) * 1000,
               "execute_rtt_floor_p99": workloads.p99(data["round_trips"]) * 1000,
               "stream_output_floor": data["stream_bytes"] / 1e6 / data["stream_seconds"]}
    log(f"  {spec.name} floor: " + ", ".join(f"{k}={v:.4g}" for k, v in figures.items()))
    return figures


async def measure_http_floor(spec: ServerCommand, scratch: Path, token: str, notebook_json: str,
                             budget: Budget, groups: list[str]) -> dict[str, Any]:
    """The 1 MB notebook GET load and the small requests against benchmarks/floor_http.py (bare
    tornado handlers sending the file's bytes) in the server's own environment."""
    root = scratch / "floor-http-root"
    fixtures.make_root(root, notebook_json, False)
    port = free_port()
    process = subprocess.Popen([str(spec.python), str(BENCH_DIR / "floor_http.py"), str(root), str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        assert process.stdout is not None
        if process.stdout.readline().strip() != b"ready":
            return {"notebook_get_floor": "error: floor_http.py did not start"}
        floor = FloorServer(port, token, process.pid)
        figures: dict[str, Any] = {}
        for group in ("notebook_get", "small_requests"):
            if group in groups:
                measured = await run_group(group, workloads.SERVER_WORKLOADS[group](floor, budget, notebook_json),
                                           spec.name + " floor", 600)
                figures.update({key + "_floor" if not key.endswith("_cpu") else key[:-4] + "_floor_cpu": value
                                for key, value in measured.items()})
        return figures
    finally:
        process.kill()
        process.wait()


@dataclass
class FloorServer:
    """What a workload needs of a server: its port and token."""

    port: int
    token: str
    pid: int


async def run_trials(specs: dict[str, ServerCommand], scratch: Path, args: argparse.Namespace, budget: Budget,
                     groups: list[str]) -> tuple[dict[str, dict[str, list]], list[list[str]]]:
    results: dict[str, dict[str, list]] = {}
    orders = []
    token = secrets.token_hex(24)
    notebook_json = json.dumps(fixtures.notebook_model(), indent=1)
    for trial in range(args.trials):
        order = list(SERVERS) if trial % 2 == 0 else list(reversed(SERVERS))
        orders.append(order)
        log(f"trial {trial + 1}/{args.trials}: {' then '.join(order)}")
        with_100k = trial == 0 and "list_100000" in groups
        for name in order:
            trial_dir = scratch / f"trial{trial}-{name}"
            figures = await measure_server(specs[name], trial_dir, token, notebook_json, groups, budget, with_100k)
            if "execute_rtt" in groups or "stream_output" in groups:
                figures.update(await measure_floor(specs[name], trial_dir, budget))
            if "notebook_get" in groups or "small_requests" in groups:
                figures.update(await measure_http_floor(specs[name], trial_dir, token, notebook_json, budget,
                                                        groups))
            if "kernel_burst" in groups:
                figures.update(await bursts.kernel_bursts(specs[name], trial_dir, token, log))
            record(results, name, figures)
            shutil.rmtree(trial_dir, ignore_errors=True)
    if "many_clients" in groups:
        await measure_many_clients(specs, scratch, token, args, results)
    return results, orders


MANY_CLIENTS: dict[str, dict[str, Any]] = {}


async def measure_many_clients(specs: dict[str, ServerCommand], scratch: Path, token: str, args: argparse.Namespace,
                               results: dict[str, dict[str, list]]) -> None:
    """Once, not per trial (it is long): the many-clients runs and memory check of each server."""
    plan = manyclients.Plan.quick() if args.quick else manyclients.Plan(duration=args.many_clients_duration)
    log(f"many clients: {plan}")
    for name in SERVERS:
        folder = scratch / f"many-{name}"
        folder.mkdir()
        try:
            MANY_CLIENTS[name] = await asyncio.to_thread(manyclients.measure_server, specs[name], folder, token,
                                                         plan, log)
            record(results, name, manyclients.summary_figures(MANY_CLIENTS[name]))
        except Exception as error:
            record(results, name, failure_figures("many_clients", f"error: {type(error).__name__}: {error}"[:300]))
        finally:
            shutil.rmtree(folder, ignore_errors=True)


# -- summary --------------------------------------------------------------------------------


def summarize(samples: list) -> dict[str, Any]:
    numbers = [value for value in samples if isinstance(value, (int, float))]
    problems = [value for value in samples if not isinstance(value, (int, float))]
    if not numbers:
        return {"samples": samples, "status": problems[0] if problems else "not run"}
    summary = {"samples": samples, "median": statistics.median(numbers), "min": min(numbers), "max": max(numbers)}
    if problems:
        summary["problems"] = problems
    return summary


def advantage(row: Row, ours: float, theirs: float) -> float:
    """How many times better nbserver is (above 1: nbserver better)."""
    if row.higher_is_better:
        return ours / theirs if theirs else float("inf")
    return theirs / ours if ours else float("inf")


def cell(summary: dict[str, Any]) -> str:
    if "median" not in summary:
        return summary["status"]
    def fmt(value: float) -> str:
        return f"{value:.3g}" if value < 1000 else f"{value:.0f}"
    text = fmt(summary["median"])
    if summary["max"] != summary["min"]:
        text += f" [{fmt(summary['min'])}-{fmt(summary['max'])}]"
    if "problems" in summary:
        text += " (some trials failed)"
    return text


FLOOR_OF = {"execute_rtt_floor_median": "execute_rtt_median", "execute_rtt_floor_p99": "execute_rtt_p99",
            "stream_output_floor": "stream_output", "notebook_get_floor": "notebook_get",
            "small_files_wrk_floor": "small_files_wrk", "status_wrk_floor": "status_wrk",
            "small_files_wrk_floor_cpu": "small_files_wrk_cpu", "status_wrk_floor_cpu": "status_wrk_cpu"}


def floor_comparison(row: Row, rows: dict[str, dict[str, Any]]) -> str:
    """Each server's figure against its own floor: times the floor, or share of it."""
    parts = []
    for name in SERVERS:
        floor = rows[row.key][name].get("median")
        figure = rows.get(FLOOR_OF[row.key], {}).get(name, {}).get("median")
        if floor and figure:
            parts.append(f"{name} {figure / floor:.0%}" if row.higher_is_better else f"{name} {figure / floor:.2f}x")
    return ("server/floor: " if parts else "") + ", ".join(parts)


def comparison(row: Row, rows: dict[str, dict[str, Any]]) -> str:
    if row.key in FLOOR_OF:
        return floor_comparison(row, rows)
    ours, theirs = rows[row.key][NBSERVER], rows[row.key][JUPYTER_SERVER]
    if row.key in COLD_ROW_OF and "median" not in theirs:
        theirs, note = rows.get(COLD_ROW_OF[row.key], {}).get(JUPYTER_SERVER, {}), " vs its cold start"
    else:
        note = ""
    if "median" not in ours or "median" not in theirs:
        return ""
    factor = advantage(row, ours["median"], theirs["median"])
    word = "better" if factor >= 1 else "worse"
    shown = factor if factor >= 1 else 1 / factor
    return f"{shown:.2f}x {word}{note}"


def target_checks(rows: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    checks = []
    for key, kind, bar in TARGETS:
        if key not in rows:
            continue
        row = ROW_BY_KEY[key]
        ours = rows[key][NBSERVER].get("median")
        theirs = rows[key][JUPYTER_SERVER].get("median")
        value = None
        if kind == "ratio" and ours is not None and theirs is not None:
            value = advantage(row, ours, theirs)
            shown = f"{value:.2f}x better" if value >= 1 else f"{1 / value:.2f}x worse"
            text, met = f"{key}: nbserver {shown} than jupyter_server (target: >= {bar}x better)", value >= bar
        elif kind == "warm_vs_cold":
            theirs = rows.get("kernel_start_cold", {}).get(JUPYTER_SERVER, {}).get("median")
            if ours is not None and theirs is not None:
                value = theirs / ours
                text, met = (f"{key}: nbserver warm {value:.2f}x faster than jupyter_server cold (target >= {bar}x)",
                             value >= bar)
        elif kind == "below" and ours is not None:
            value = ours
            text, met = f"{key}: nbserver {ours:.3g} {row.unit} (target < {bar} {row.unit})", ours < bar
        elif kind in ("floor_ratio", "floor_share"):
            floor_key = "execute_rtt_floor_median" if kind == "floor_ratio" else next(
                floor for floor, figure in FLOOR_OF.items() if figure == key)
            floor = rows.get(floor_key, {}).get(NBSERVER, {}).get("median")
            if ours is not None and floor:
                value = ours / floor
                if kind == "floor_ratio":
                    text = f"{key}: nbserver {value:.2f}x its jupyter_client floor (target <= {bar}x)"
                    met = value <= bar
                else:
                    text = f"{key}: nbserver {value:.0%} of its floor (target >= {bar:.0%})"
                    met = value >= bar
        if value is None:
            checks.append({"row": key, "kind": kind, "bar": bar, "met": None,
                           "text": f"{key}: not measurable in this run"})
        else:
            checks.append({"row": key, "kind": kind, "bar": bar, "value": value, "met": met, "text": text})
    return checks


def noisy_machine(info: dict[str, Any]) -> bool:
    """Whether other work shared the machine: the benchmark alone keeps the 1-minute load
    average around 2 (server, kernel and client), and near 0 before it starts."""
    return info["load_average_before"] > 1.0 or info["load_average_after"] > 3.0


def print_table(rows: dict[str, dict[str, Any]], info: dict[str, Any], trials: int) -> str:
    lines = [f"machine: {info['nproc']} cores, {info['cpu']}, {info['memory_gb']} GB, Python {info['python']}, "
             f"{info['os']}; {info['date']}; medians over {trials} trial(s) [min-max]",
             f"load average (1 min) before the run {info['load_average_before']}, after {info['load_average_after']}"
             + (" -- other work was running: figures are noisy" if noisy_machine(info) else "")]
    header = ("workload", "unit", "nbserver", "jupyter_server", "nbserver vs jupyter_server")
    table = [header]
    for row in ROWS:
        if row.key not in rows:
            continue
        better = "higher" if row.higher_is_better else "lower"
        table.append((row.label, f"{row.unit} ({better} better)", cell(rows[row.key][NBSERVER]),
                      cell(rows[row.key][JUPYTER_SERVER]), comparison(row, rows)))
    widths = [max(len(line[column]) for line in table) for column in range(len(header))]
    for index, line in enumerate(table):
        lines.append("  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)).rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    text = "\n".join(lines)
    print("\n" + text)
    return text


def raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=None, help="trials per server (default 5, 1 with --quick)")
    parser.add_argument("--quick", action="store_true", help="a short smoke run: small budgets, no 100,000 files")
    parser.add_argument("--json", type=Path, help="write every figure and sample to this file")
    parser.add_argument("--only", help=f"comma-separated workloads among: {', '.join(GROUPS)}")
    parser.add_argument("--skip-many-clients", action="store_true",
                        help="leave out the many-clients runs (about 15 minutes of a full run)")
    parser.add_argument("--many-clients-duration", type=float, default=60.0,
                        help="seconds of each many-clients run (default 60; the memory check's runs are 10 s)")
    parser.add_argument("--postgres", action="store_true",
                        help="then run benchmarks/postgres.py: the PostgreSQL contents store beside the file store")
    args = parser.parse_args()
    groups = GROUPS if not args.only else [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(groups) - set(GROUPS)
    if unknown:
        parser.error(f"unknown workload(s) {', '.join(sorted(unknown))}; choose among {', '.join(GROUPS)}")
    if args.quick and not args.only:
        groups = [name for name in groups if name != "list_100000"]
    if args.skip_many_clients:
        groups = [name for name in groups if name != "many_clients"]
    args.trials = args.trials or (1 if args.quick else 5)
    budget = Budget.quick() if args.quick else Budget()

    # Ctrl-C and SIGTERM raise at once, wherever the run is (asyncio.run's own Ctrl-C handling
    # only cancels the current task, which a workload's clean-up can outlast); the finally
    # below then stops every server and kernel.
    signal.signal(signal.SIGINT, raise_interrupt)
    signal.signal(signal.SIGTERM, raise_interrupt)
    info = machine_info()
    if info["load_average_before"] > 1:
        log(f"warning: the load average is {info['load_average_before']} before the run: other work is running")
    venv = jupyter_server_venv(log)
    scratch = Path(tempfile.mkdtemp(prefix="nbbench-"))
    started = time.perf_counter()
    try:
        specs = server_commands(venv, scratch)
        log(f"workloads: {', '.join(groups)}; {args.trials} trial(s); scratch {scratch}")
        for spec in specs.values():
            log(f"{spec.name}: {' '.join(spec.rate_limits_off)}")
        log("kernel pool: " + ", ".join(f"{name} {'yes' if spec.features['kernel_pool'] else 'no'}"
                                         for name, spec in specs.items()))
        results, orders = asyncio.run(run_trials(specs, scratch, args, budget, groups))
    except KeyboardInterrupt:
        log("interrupted: stopping the servers and their kernels")
        return 130
    finally:
        for server in list(ACTIVE):
            server.stop(timeout=5)
        killed = kill_leftovers(str(scratch))
        if killed:
            log(f"killed {len(killed)} leftover process(es): {killed}")
        shutil.rmtree(scratch, ignore_errors=True)
    info["load_average_after"] = round(os.getloadavg()[0], 2)
    rows = {key: {name: summarize(per_server[name]) for name in SERVERS} for key, per_server in results.items()}
    table = print_table(rows, info, args.trials)
    if MANY_CLIENTS:
        print("\nmany clients (benchmarks/manyclients.py):" + manyclients.report(MANY_CLIENTS))
    checks = target_checks(rows)
    print("\ntargets (issues 7 and 20):")
    for check in checks:
        mark = {True: "met    ", False: "NOT met", None: "n/a    "}[check["met"]]
        print(f"  {mark} {check['text']}")
    failures = [f"{key} ({name}): {value}" for key, per_server in results.items() for name in SERVERS
                for value in per_server[name] if isinstance(value, str) and not value.startswith("n/a")]
    for failure in failures:
        print(f"FAILED {failure}")
    print(f"\n(total {time.perf_counter() - started:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps({
            "machine": info, "versions": versions(venv), "command": " ".join(sys.argv), "trials": args.trials,
            "orders": orders, "budget": asdict(budget), "workloads": groups, "table": table,
            "rows": {key: {"label": ROW_BY_KEY[key].label, "unit": ROW_BY_KEY[key].unit,
                           "higher_is_better": ROW_BY_KEY[key].higher_is_better, **value}
                     for key, value in rows.items() if key in ROW_BY_KEY},
            "targets": checks, "many_clients": MANY_CLIENTS,
        }, indent=2))
        log(f"wrote {args.json}")
    if args.postgres:
        postgres = subprocess.run([sys.executable, str(Path(__file__).resolve().parent / "postgres.py"),
                                   *(["--quick"] if args.quick else [])])
        failures += [f"benchmarks/postgres.py exited with {postgres.returncode}"] if postgres.returncode else []
    # A smoke run is a check too: any error or time-out (not "n/a") makes the exit status 1.
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
