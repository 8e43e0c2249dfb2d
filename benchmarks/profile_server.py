"""Profile one server under one benchmark workload with py-spy, and print where the time goes.

    pip install py-spy
    python benchmarks/profile_server.py notebook_get [--server jupyter_server] [--out stacks.txt]

Starts the server as the benchmark does, attaches ``py-spy record --gil`` (raw collapsed stacks
of whichever thread holds the GIL, so idle threads and waits do not count) for the length of
the workload, then prints the functions with the most samples: "self" (on top of the stack) and
"total" (anywhere in the stack), as a share of the samples. ``startup`` instead records the
server from spawn until it answers, and ``memory`` runs every workload without py-spy, printing
the server's resident memory after each one (``--env MALLOC_ARENA_MAX=2`` and the like try an
allocator setting).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fixtures  # noqa: E402
import workloads  # noqa: E402
from servers import (  # noqa: E402
    JUPYTER_SERVER,
    NBSERVER,
    RunningServer,
    jupyter_server_venv,
    kill_leftovers,
    server_commands,
)


def summarize(stacks_file: Path, top: int) -> str:
    self_counts: collections.Counter[str] = collections.Counter()
    total_counts: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in stacks_file.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = [frame for frame in stack.split(";")[1:]]  # the first is the thread/process
        if not frames:
            continue
        samples += count
        self_counts[frames[-1]] += count
        for frame in set(frames):
            total_counts[frame] += count
    lines = [f"{samples} samples"]
    for title, counter in (("self", self_counts), ("total", total_counts)):
        lines.append(f"\ntop {top} by {title}:")
        for frame, count in counter.most_common(top):
            lines.append(f"  {count / samples:6.1%}  {frame}")
    return "\n".join(lines)


async def run_workload(name: str, server: RunningServer, budget: workloads.Budget,
                       notebook_json: str) -> dict[str, Any]:
    if name == "list_100000":
        return await workloads.list_100000(server, budget, notebook_json)
    return await workloads.SERVER_WORKLOADS[name](server, budget, notebook_json)


def clean_up(spy: subprocess.Popen | None, server: RunningServer, scratch: Path) -> None:
    """Stop py-spy (if still running) and the server, and remove the run's scratch folder."""
    if spy is not None and spy.poll() is None:
        spy.kill()
    server.stop()
    kill_leftovers(str(scratch))
    shutil.rmtree(scratch, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workload", nargs="?", default="notebook_get",
                        choices=[*workloads.SERVER_WORKLOADS, "list_100000", "startup", "memory"])
    parser.add_argument("--stream-bytes", type=int, default=workloads.Budget.stream_bytes,
                        help="output size of the stream_output workload")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the server's environment")
    parser.add_argument("--server", default=NBSERVER, choices=[NBSERVER, JUPYTER_SERVER])
    parser.add_argument("--out", type=Path, help="keep the raw collapsed stacks here")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--rate", type=int, default=250, help="samples per second")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="nbbench-profile-"))
    out = (args.out or scratch / "stacks.txt").resolve()
    notebook_json = json.dumps(fixtures.notebook_model(), indent=1)
    specs = server_commands(jupyter_server_venv(print), scratch)
    fixtures.make_root(scratch / "root", notebook_json, args.workload == "list_100000")
    server = RunningServer(specs[args.server], scratch / "root", scratch / "home", secrets.token_hex(16))
    server.env.update(item.split("=", 1) for item in args.env)
    spy = None
    try:
        if args.workload == "memory":
            server.start()
            print(f"after start-up: {server.rss_mb():.1f} MB")
            for name in workloads.SERVER_WORKLOADS:
                asyncio.run(run_workload(name, server, workloads.Budget(), notebook_json))
                print(f"after {name}: {server.rss_mb():.1f} MB")
            return 0
        if args.workload == "startup":
            # py-spy can launch the command itself, which covers the imports too.
            server.command = ["py-spy", "record", "--gil", "--format", "raw", "--rate", str(args.rate), "-o", str(out),
                              "--", *server.command]
            print(f"start-up took {server.start():.2f} s (under py-spy)")
            # py-spy writes its file when the profiled program ends: stop the server, not py-spy.
            spy_process = server.process
            assert spy_process is not None
            children = Path(f"/proc/{spy_process.pid}/task/{spy_process.pid}/children").read_text().split()
            for child in children:
                os.kill(int(child), signal.SIGTERM)
            spy_process.wait(timeout=30)
        else:
            server.start()
            assert server.process is not None
            spy = subprocess.Popen(["py-spy", "record", "--gil", "--format", "raw", "--rate", str(args.rate),
                                    "-o", str(out), "--pid", str(server.process.pid)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            time.sleep(1)
            budget = workloads.Budget(stream_bytes=args.stream_bytes)
            print("figures:", asyncio.run(run_workload(args.workload, server, budget, notebook_json)))
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=30)
        print(summarize(out, args.top))
        if args.out:
            print(f"\nraw stacks in {out}")
    finally:
        clean_up(spy, server, scratch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
