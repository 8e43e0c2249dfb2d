"""Profile one kind of request against one server with py-spy: a notebook shape's first read or
save, or the small requests under wrk, and print where the server's time goes.

    python benchmarks/profile_request.py png_first|png_put|nonascii_first|...|files_small|status [--server jupyter_server]

Starts the server as the benchmark does, attaches ``py-spy record --gil`` for the load and prints
the functions with the most samples (see profile_server.py), plus the server's CPU time per request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
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
        path = workloads.contents_path(file_name, "content=1")
        make = workloads.changing_file(server.root / file_name, ("GET", path, None))
        concurrency = concurrency or 4
    else:
        body = ('{"type": "notebook", "format": "json", "content": ' + shapes.shape_text(name) + "}").encode()
        concurrency = concurrency or 2
        paths = [workloads.contents_path(f"put-{name}-{index}.ipynb") for index in range(concurrency)]
        make = lambda index: ("PUT", paths[index], body)  # noqa: E731
    result = await closed_loop_load(server.port, server.token, concurrency, seconds, 1.0, make)
    return result.answered, workloads.process_cpu_seconds(pid) - cpu, statistics.median(result.latencies)


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
        if args.perf:
            out = out.with_suffix(".perf")
            spy = subprocess.Popen(["perf", "record", "-F", "499", "-o", str(out), "-p", str(server.process.pid)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1)
        elif not args.no_spy:
            spy = subprocess.Popen(["py-spy", "record", "--gil", "--format", "raw", "--rate", "250", "-o", str(out),
                                    "--pid", str(server.process.pid)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            time.sleep(1)
        answered, cpu, latency = asyncio.run(load(args.kind, server, args.seconds, args.concurrency))
        print(f"{args.kind} on {args.server}: {answered} requests, {cpu / max(1, answered) * 1e3:.3f} ms CPU each, "
              + (f"median latency {latency * 1e3:.1f} ms, " if latency is not None else "")
              + f"resident memory after {server.rss_mb():.0f} MB")
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=60)
            if args.perf:
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
