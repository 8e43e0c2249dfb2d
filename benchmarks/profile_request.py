"""Profile one kind of request against one server with py-spy: a notebook shape's first read or
save, or the small requests under wrk, and print where the server's time goes.

    python benchmarks/profile_request.py png_first|png_put|nonascii_first|...|files_small|status [--server jupyter_server]

Starts the server as the benchmark does, attaches ``py-spy record --gil`` for the load and prints
the functions with the most samples (see profile_server.py), plus the server's CPU time per request.
``--perf`` records the server's process with ``perf`` instead (native and kernel code too);
``--perf-all`` records the whole machine and splits its CPU by role: the server's event loop
thread, its other threads, its child processes (notebook processes), this client, idle.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fixtures  # noqa: E402
import shapes  # noqa: E402
import workloads  # noqa: E402
from loadgen import closed_loop_load  # noqa: E402
from procstat import child_pids  # noqa: E402
from profile_server import clean_up, summarize  # noqa: E402
from servers import JUPYTER_SERVER, NBSERVER, RunningServer, jupyter_server_venv, server_commands  # noqa: E402


async def load(kind: str, server: RunningServer, seconds: float,
               concurrency: int | None = None) -> tuple[int, float, float | None]:
    """(requests answered, server CPU seconds, median latency in seconds or None) of ``seconds``
    of requests of ``kind`` from ``concurrency`` connections (default: the benchmark's)."""
    pid = server.process.pid if server.process else 0
    cpu = workloads.process_cpu_seconds(pid)
    if kind in ("files_small", "status"):
        path = "/api/status" if kind == "status" else f"/files/{fixtures.SMALL_FILE}"
        # wrk itself, not wrk_rate: under py-spy some requests time out, and that is no failure here.
        process = await asyncio.create_subprocess_exec(
            "wrk", "-t1", "-c16", f"-d{round(seconds)}s", "-H", f"Authorization: token {server.token}",
            f"http://127.0.0.1:{server.port}{path}", stdout=asyncio.subprocess.PIPE)
        out, _ = await process.communicate()
        answered = int(re.search(rb"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
        return answered, workloads.process_cpu_seconds(pid) - cpu, None
    name, mode = kind.rsplit("_", 1)
    file_name = shapes.SHAPES[name][0]
    if mode == "first":
        concurrency = concurrency or 4
        make = workloads.changing_files(server.root, file_name, concurrency)
    else:
        body = ('{"type": "notebook", "format": "json", "content": ' + shapes.shape_text(name) + "}").encode()
        concurrency = concurrency or 2
        paths = [workloads.contents_path(f"put-{name}-{index}.ipynb") for index in range(concurrency)]
        make = lambda index: ("PUT", paths[index], body)  # noqa: E731
    result = await closed_loop_load(server.port, server.token, concurrency, seconds, 1.0, make)
    return result.answered, workloads.process_cpu_seconds(pid) - cpu, statistics.median(result.latencies)


#: One line of ``perf script -F pid,tid,ip,sym,dso`` (perf prints no symbol without its address).
PERF_LINE = re.compile(r"\s*(\d+)/(\d+)\s+[0-9a-f]+\s+(.*?)\s+\((.*)\)\s*$")


def perf_roles(perf_data: Path, server_pid: int, children: list[int], top: int) -> str:
    """The samples of a whole-machine ``perf record`` split by role, each role's busiest libraries
    and symbols (a sample is 1/999 s of one core's time)."""
    script = subprocess.run(["perf", "script", "-i", str(perf_data), "-F", "pid,tid,ip,sym,dso"],
                            capture_output=True, text=True).stdout
    roles: collections.Counter[str] = collections.Counter()
    symbols: collections.Counter[tuple[str, str]] = collections.Counter()
    libraries: collections.Counter[tuple[str, str]] = collections.Counter()
    for line in script.splitlines():
        match = PERF_LINE.match(line)
        if match is None:
            continue
        pid, tid, symbol, library = int(match[1]), int(match[2]), match[3], match[4].rsplit("/", 1)[-1]
        role = ("server event loop" if pid == server_pid and tid == pid else "server threads" if pid == server_pid
                else "server children" if pid in children else "client" if pid == os.getpid()
                else "idle" if pid == 0 else "other")
        library = "kernel" if "kallsyms" in library else library
        roles[role] += 1
        libraries[(role, library)] += 1
        symbols[(role, library if symbol == "[unknown]" else symbol)] += 1
    lines = [f"samples by role (999 per second of one core's time): {dict(roles.most_common())}"]
    for role, count in roles.most_common():
        if role in ("idle", "other"):
            continue
        lines.append(f"{role}: {count}")
        lines.append("  " + ", ".join([f"{name} {n}" for (r, name), n in libraries.most_common() if r == role][:6]))
        lines.append("  " + ", ".join([f"{name[:40]} {n}" for (r, name), n in symbols.most_common() if r == role][:top]))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind")
    parser.add_argument("--server", default=NBSERVER, choices=[NBSERVER, JUPYTER_SERVER])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--concurrency", type=int, help="connections of a first read or save (default: the benchmark's, 4 and 2)")
    parser.add_argument("--server-arg", action="append", default=[],
                        help="one more command-line argument for the server (e.g. --NotebookServerApp.malloc_keep_bytes=0)")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the server's environment")
    parser.add_argument("--no-spy", action="store_true", help="only the CPU time per request")
    parser.add_argument("--perf", action="store_true",
                        help="perf record (kernel and native code too) instead of py-spy; prints perf report by symbol")
    parser.add_argument("--perf-all", action="store_true",
                        help="perf record of the whole machine instead of py-spy; prints its samples by role")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="nbbench-profile-"))
    out = Path(tempfile.gettempdir()) / f"stacks-{args.kind}-{args.server}.txt"
    notebook_json = json.dumps(fixtures.notebook_model(), indent=1)
    specs = server_commands(jupyter_server_venv(print), scratch)
    fixtures.make_root(scratch / "root", notebook_json, False)
    server = RunningServer(specs[args.server], scratch / "root", scratch / "home", secrets.token_hex(16),
                           args.server_arg)
    server.env.update(item.split("=", 1) for item in args.env)
    spy = None
    try:
        server.start()
        assert server.process is not None
        time.sleep(fixtures.SETTLE_SECONDS)
        if args.perf or args.perf_all:
            out = out.with_suffix(".perf")
            target = ["-a", "-F", "999"] if args.perf_all else ["-F", "499", "-p", str(server.process.pid)]
            spy = subprocess.Popen(["perf", "record", *target, "-o", str(out)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1)
        elif not args.no_spy:
            spy = subprocess.Popen(["py-spy", "record", "--gil", "--format", "raw", "--rate", "250", "-o", str(out),
                                    "--pid", str(server.process.pid)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            time.sleep(1)
        client_cpu = time.process_time()
        answered, cpu, latency = asyncio.run(load(args.kind, server, args.seconds, args.concurrency))
        client_cpu = time.process_time() - client_cpu
        print(f"{args.kind} on {args.server}: {answered} requests, {cpu / max(1, answered) * 1e3:.3f} ms CPU each, "
              + (f"this client's {client_cpu / max(1, answered) * 1e3:.3f} ms, " if args.kind not in ("files_small", "status") else "")
              + (f"median latency {latency * 1e3:.1f} ms, " if latency is not None else "")
              + f"resident memory after {server.rss_mb():.0f} MB")
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=60)
            if args.perf_all:  # the server's children still run: its stop comes after
                print(perf_roles(out, server.process.pid, child_pids(server.process.pid), args.top))
            elif args.perf:
                report = subprocess.run(["perf", "report", "-i", str(out), "--no-children", "--sort", "dso,sym",
                                         "--stdio", "--percent-limit", "0.5"], capture_output=True, text=True)
                print("\n".join(line for line in report.stdout.splitlines()[:args.top + 12] if line.strip()))
            else:
                print(summarize(out, args.top))
    finally:
        clean_up(spy, server, scratch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
