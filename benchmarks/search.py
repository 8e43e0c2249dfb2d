"""Search benchmark (not a test): full-text search over generated notebooks on this machine.

```sh
python benchmarks/search.py                 # 100,000 notebooks (index build: minutes on 2 cores)
python benchmarks/search.py --notebooks 10000 --queries 300
python benchmarks/search.py --root /tmp/search-root   # keep the notebooks and the index for the next run
python benchmarks/search.py --root /tmp/search-root --saves-only --code /tmp/main-worktree  # before/after
```

It writes ``--notebooks`` small generated notebooks (markdown with a title, code, a stream output;
words drawn from a Zipf-like vocabulary, so some words are in most notebooks and some in few)
into a scratch root, starts ``python -m nbserver`` on it, and prints:

* the index build: seconds from the first ``GET /api/search/status`` (which starts it) to
  ``status: ready``, documents and index size;
* query latency, client-side over one keep-alive connection, p50 and p99 over a mix of common
  words, rare words, two-word ANDs, phrases, prefixes and name searches (targets: p50 < 50 ms,
  p99 < 250 ms), measured while the scan for outside changes runs: the server scans every
  ``--scan-interval`` seconds (10) and the queries go on for at least three intervals; the scans
  that ended meanwhile are counted from ``last_scan`` in ``/api/search/status``;
* freshness: seconds from a save's answer until a search finds the notebook (target < 2 s);
* saves while an index is built (target: save p99 at most +10 %), measured robustly: three
  servers on the same root run at once: search off (``off``), a second one with search off
  (``twin``: the A/A check, which shows the noise floor), and one building a new index from
  nothing (an index file of its own, so a kept index stays whole). Rounds of ``--block`` saves
  (200; PUT of a small notebook over one keep-alive connection) go to each in turn (the order
  rotates), until the build is ready or ``--max-rounds`` / ``--max-seconds`` end it; the
  building server's index worker is stopped (SIGSTOP) during the other two servers' blocks, so
  they see a machine without the build, and runs freely for ``--gap`` seconds between rounds
  (the build gives way while saves come), so the rounds sample the whole build rather than its
  first seconds. Printed per condition: pooled p50 and p99 with the number of saves, the
  server process's CPU per save; for building vs off and for the A/A pair, the pooled change
  and the median and range of the per-round p50 and p99 ratios; the worker's CPU during the
  building blocks and between rounds. ``--saves-only`` measures only this part; ``--code DIR``
  runs the servers from another checkout (a worktree of main, for a before/after).

Figures are printed with the machine (CPU, cores, ``uptime``'s load before and after) so they can
be judged: other work on the machine moves them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadgen import HTTPConnection  # noqa: E402
from run import machine_info  # noqa: E402
from procstat import child_pids, children_cpu_seconds, cpu_seconds  # noqa: E402
from servers import NBSERVER, REPO_DIR, RunningServer, ServerCommand  # noqa: E402

VOCABULARY_SIZE = 20_000
FOLDER_SIZE = 1000


def vocabulary(rng: random.Random) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    words: set[str] = set()
    while len(words) < VOCABULARY_SIZE:
        words.add("".join(rng.choice(letters) for _ in range(rng.randint(4, 10))))
    return sorted(words)


def zipf_words(rng: random.Random, words: list[str], count: int) -> list[str]:
    # Rank r drawn with probability ~ 1/r: a few words everywhere, most words rare.
    return [words[min(int(rng.paretovariate(1.0)) - 1, len(words) - 1)] for _ in range(count)]


def generated_notebook(rng: random.Random, words: list[str], number: int) -> str:
    title = " ".join(zipf_words(rng, words, 3)).title()
    prose = " ".join(zipf_words(rng, words, 60))
    code = "\n".join(f"{a} = {b}({number}, '{c}')" for a, b, c in
                     (zipf_words(rng, words, 3) for _ in range(6)))
    output = " ".join(zipf_words(rng, words, 12))
    return json.dumps({
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": f"# {title}\n\n{prose}"},
            {"cell_type": "code", "metadata": {}, "execution_count": 1, "source": code,
             "outputs": [{"output_type": "stream", "name": "stdout", "text": output}]},
        ],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


def write_root(root: Path, count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    words = vocabulary(rng)
    for number in range(count):
        folder = root / f"folder-{number // FOLDER_SIZE:03d}"
        if number % FOLDER_SIZE == 0:
            folder.mkdir(parents=True, exist_ok=True)
        (folder / f"nb-{number:06d}.ipynb").write_text(generated_notebook(rng, words, number))
    return words


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


async def get_json(connection: HTTPConnection, path: str) -> Any:
    response = await connection.request("GET", path)
    if response.status != 200:
        raise RuntimeError(f"GET {path}: {response.status} {response.body[:200]!r}")
    return response.json()


async def wait_ready(connection: HTTPConnection, timeout: float) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        status = await get_json(connection, "/api/search/status")
        if status["status"] == "ready":
            return time.perf_counter() - started
        await asyncio.sleep(0.5)
    raise TimeoutError("the index did not become ready")


QUERY_KINDS = ("common word", "middle word", "rare word", "common AND middle", "phrase", "prefix", "name")


def query_mix(words: list[str], rng: random.Random, count: int) -> list[tuple[str, str]]:
    common, middle, rare = words[:20], words[20:2000], words[2000:]
    makers = [
        lambda: rng.choice(common),
        lambda: rng.choice(middle),
        lambda: rng.choice(rare),
        lambda: f"{rng.choice(common)} {rng.choice(middle)}",
        lambda: f'"{rng.choice(middle)} {rng.choice(middle)}"',
        lambda: rng.choice(middle)[:3] + "*",
        lambda: "name:nb-0" + str(rng.randint(0, 9)),
    ]
    return [(QUERY_KINDS[number % len(makers)], makers[number % len(makers)]()) for number in range(count)]


async def measure_queries(connection: HTTPConnection, queries: list[tuple[str, str]],
                          min_seconds: float = 0.0) -> dict[str, list[float]]:
    """Seconds per query, by kind of query: every query of ``queries``, then more from the start
    of the list again until ``min_seconds`` have passed."""
    samples: dict[str, list[float]] = {}
    began = time.perf_counter()
    number = 0
    while number < len(queries) or time.perf_counter() - began < min_seconds:
        kind, text = queries[number % len(queries)]
        number += 1
        started = time.perf_counter()
        await get_json(connection, "/api/search?limit=20&q=" + quote(text))
        samples.setdefault(kind, []).append(time.perf_counter() - started)
    return samples


async def count_scans(port: int, token: str, stop: asyncio.Event) -> int | None:
    """Scans for outside changes that ended until ``stop`` is set (``last_scan`` polled every 0.5 s);
    None from a server that does not say (an nbserver older than ``last_scan``)."""
    connection = HTTPConnection(port, token)
    seen: set[str] = set()
    first = (await get_json(connection, "/api/search/status")).get("last_scan")
    while not stop.is_set():
        seen.add((await get_json(connection, "/api/search/status")).get("last_scan"))
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)
    connection.close()
    return None if seen == {None} else len(seen - {first})


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def small_notebook(marker: str) -> bytes:
    return json.dumps({"type": "notebook", "content": {
        "cells": [{"cell_type": "markdown", "metadata": {}, "source": f"# Fresh\n\n{marker} observations"}],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5}}).encode()


async def measure_freshness(connection: HTTPConnection, rounds: int) -> list[float]:
    samples = []
    for number in range(rounds):
        marker = "fresh" + secrets.token_hex(6)
        response = await connection.request("PUT", f"/api/contents/fresh-{number}.ipynb", small_notebook(marker))
        assert response.status in (200, 201), response.status
        saved = time.perf_counter()
        while True:
            found = await get_json(connection, "/api/search?q=" + marker)
            if found["results"]:
                samples.append(time.perf_counter() - saved)
                break
            if time.perf_counter() - saved > 30:
                samples.append(float("inf"))
                break
            await asyncio.sleep(0.02)
    return samples


SAVE_CONDITIONS = ("off", "building", "twin")


def worker_pids(server_pid: int) -> list[int]:
    """The index worker processes among the children of ``server_pid``."""
    pids = []
    for pid in child_pids(server_pid):
        with contextlib.suppress(OSError):
            if b"search.worker" in Path(f"/proc/{pid}/cmdline").read_bytes():
                pids.append(pid)
    return pids


def signal_workers(server_pid: int, signum: int) -> None:
    for pid in worker_pids(server_pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)


async def wait_quiet(pids: list[int], timeout: float = 120.0) -> None:
    """Until the processes ``pids`` used under 2 % of a core for a second (a server's start-up crawl)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = sum(cpu_seconds(pid) for pid in pids)
        await asyncio.sleep(1.0)
        if sum(cpu_seconds(pid) for pid in pids) - before < 0.02 * len(pids):
            return


class SaveSamples:
    """One condition's save latencies (seconds) per round, and the CPU seconds its server used during them."""

    def __init__(self) -> None:
        self.rounds: list[list[float]] = []
        self.server_cpu = 0.0
        self.worker_cpu = 0.0

    @property
    def pooled(self) -> list[float]:
        return [sample for samples in self.rounds for sample in samples]


async def save_block(connection: HTTPConnection, prefix: str, count: int, pid: int,
                     into: SaveSamples) -> None:
    """``count`` saves (PUT of a small notebook over one keep-alive connection) as one round of ``into``."""
    body = small_notebook("save")
    server, workers = cpu_seconds(pid), children_cpu_seconds(pid)
    samples = []
    for number in range(count):
        started = time.perf_counter()
        response = await connection.request("PUT", f"/api/contents/{prefix}-{number % 20}.ipynb", body)
        samples.append(time.perf_counter() - started)
        assert response.status in (200, 201), response.status
    into.rounds.append(samples)
    into.server_cpu += cpu_seconds(pid) - server
    into.worker_cpu += children_cpu_seconds(pid) - workers


async def interleaved_saves(spec: ServerCommand, root: Path, scratch: Path, token: str,
                            args: argparse.Namespace, figures: dict[str, Any]) -> None:
    """Saves on a search-off server, a second search-off server (the A/A check) and a server building a
    new index from nothing (an index file of its own, so a kept index stays whole), all running at
    once, in alternating blocks of ``--block`` saves until the build is ready (or ``--max-rounds``).

    The building server's index worker is stopped (SIGSTOP) during the search-off blocks, so they
    see a machine without the build, and runs freely ``--gap`` seconds between rounds, so the
    rounds sample the whole build, not only its first seconds.
    """
    servers = {
        "off": RunningServer(spec, root, scratch / "home-off", token, ["--SearchService.enabled=False"], cwd=args.code),
        "twin": RunningServer(spec, root, scratch / "home-twin", token, ["--SearchService.enabled=False"],
                              cwd=args.code),
        "building": RunningServer(spec, root, scratch / "home-build", token,
                                  [f"--SearchService.index_path={scratch / 'build.sqlite'}"], cwd=args.code),
    }
    samples = {name: SaveSamples() for name in SAVE_CONDITIONS}
    connections: dict[str, HTTPConnection] = {}
    gap_worker_cpu = 0.0
    try:
        for server in servers.values():
            server.start()
        pids = {name: server.process.pid for name, server in servers.items() if server.process is not None}
        for name, server in servers.items():
            connections[name] = HTTPConnection(server.port, token)
            warm = SaveSamples()
            await save_block(connections[name], f"save-{name}", 20, pids[name], warm)  # loads the validator
        await wait_quiet(list(pids.values()))  # each server's start-up crawl of the root
        building = connections["building"]
        await get_json(building, "/api/search/status")  # starts the build
        build_started = time.perf_counter()
        status: dict[str, Any] = {}
        for number in range(args.max_rounds):
            order = SAVE_CONDITIONS[number % 3:] + SAVE_CONDITIONS[:number % 3]
            for name in order:
                if name != "building":
                    signal_workers(pids["building"], signal.SIGSTOP)
                try:
                    await save_block(connections[name], f"save-{name}", args.block, pids[name], samples[name])
                finally:
                    signal_workers(pids["building"], signal.SIGCONT)
            workers = children_cpu_seconds(pids["building"])
            await asyncio.sleep(args.gap)
            gap_worker_cpu += children_cpu_seconds(pids["building"]) - workers
            status = await get_json(building, "/api/search/status")
            print(f"round {number + 1}: " + ", ".join(
                f"{name} p50 {percentile(samples[name].rounds[-1], 0.5) * 1000:.1f} ms" for name in SAVE_CONDITIONS)
                + f"; {status['documents']} documents, {status['status']}; load {os.getloadavg()[0]:.1f}",
                flush=True)
            if status["status"] == "ready" or time.perf_counter() - build_started > args.max_seconds:
                break
        figures["build_seconds_during_saves"] = round(time.perf_counter() - build_started, 1)
        figures["build_status_after_saves"] = status["status"]
        figures["documents_built_during_saves"] = status["documents"]
    finally:
        for name, server in servers.items():
            if name in connections:
                connections[name].close()
            if server.process is not None:
                signal_workers(server.process.pid, signal.SIGCONT)
            server.stop()
    figures["save_rounds"] = len(samples["building"].rounds)
    figures["save_block"] = args.block
    figures["worker_cpu_s_between_rounds"] = round(gap_worker_cpu, 2)
    for name in SAVE_CONDITIONS:
        pooled = samples[name].pooled
        figures[f"saves_{name}"] = len(pooled)
        figures[f"save_p50_{name}_ms"] = round(percentile(pooled, 0.5) * 1000, 2)
        figures[f"save_p99_{name}_ms"] = round(percentile(pooled, 0.99) * 1000, 2)
        figures[f"server_cpu_ms_per_save_{name}"] = round(samples[name].server_cpu / len(pooled) * 1000, 2)
    figures["worker_cpu_ms_per_save_building"] = round(samples["building"].worker_cpu
                                                       / len(samples["building"].pooled) * 1000, 2)
    for name in ("building", "twin"):
        for fraction, label in ((0.5, "p50"), (0.99, "p99")):
            ratios = [percentile(mine, fraction) / percentile(off, fraction)
                      for mine, off in zip(samples[name].rounds, samples["off"].rounds)]
            figures[f"round_{label}_ratio_{name}"] = {
                "median": round(statistics.median(ratios), 3), "min": round(min(ratios), 3),
                "max": round(max(ratios), 3)}

async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--notebooks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--block", type=int, default=200, help="Saves per server per round.")
    parser.add_argument("--gap", type=float, default=2.0, help="Seconds between rounds, the build running "
                        "freely (it gives way to saves while they come).")
    parser.add_argument("--max-rounds", type=int, default=100, help="Rounds at most (fewer once the build is "
                        "ready).")
    parser.add_argument("--max-seconds", type=float, default=900, help="Stop starting rounds after this many "
                        "seconds, ready or not (a loaded machine leaves the idle-priority worker little CPU).")
    parser.add_argument("--code", type=Path, default=REPO_DIR, help="Run the servers from the nbserver in this "
                        "checkout (e.g. a worktree of main, for a before/after); default: this one.")
    parser.add_argument("--freshness-rounds", type=int, default=10)
    parser.add_argument("--build-timeout", type=float, default=7200)
    parser.add_argument("--scan-interval", type=float, default=10.0,
                        help="Seconds between the server's scans for outside changes (its default is 60).")
    parser.add_argument("--saves-only", action="store_true", help="Measure only the saves with search off "
                        "and while an index is built (no query, freshness or kept-index figures).")
    parser.add_argument("--root", type=Path, help="Generate the notebooks here once and keep them, with the "
                        "index (in ROOT/.nbserver), for later runs.")
    args = parser.parse_args()
    info = machine_info()
    info["uptime_before"] = uptime()
    scratch = Path(tempfile.mkdtemp(prefix="nbserver-search-bench-"))
    root = args.root or scratch / "root"
    root.mkdir(parents=True, exist_ok=True)
    generate = not (root / f"folder-{(args.notebooks - 1) // FOLDER_SIZE:03d}").exists()
    token = secrets.token_hex(16)
    spec = ServerCommand(NBSERVER, Path(sys.executable), [sys.executable, "-m", "nbserver"], [])
    figures: dict[str, Any] = {"machine": info, "notebooks": args.notebooks}
    try:
        started = time.perf_counter()
        words = write_root(root, args.notebooks) if generate else vocabulary(random.Random(7))
        figures["generate_seconds"] = round(time.perf_counter() - started, 1) if generate else "kept"
        print(f"{args.notebooks} notebooks: " + (f"generated in {figures['generate_seconds']} s" if generate
              else "kept from an earlier run"), flush=True)

        if not args.saves_only:
            await measure_search(spec, root, scratch, token, words, args, figures)
        figures["code"] = str(args.code)
        await interleaved_saves(spec, root, scratch, token, args, figures)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    figures["load_average_after"] = round(os.getloadavg()[0], 2)
    figures["uptime_after"] = uptime()
    report(figures)


async def measure_search(spec: ServerCommand, root: Path, scratch: Path, token: str, words: list[str],
                         args: argparse.Namespace, figures: dict[str, Any]) -> None:
    """The build (or first scan of a kept index), query latency during scans, and freshness."""
    server = RunningServer(spec, root, scratch / "home", token,
                           [f"--SearchService.scan_interval={args.scan_interval}"], cwd=args.code)
    server.start()
    try:
        connection = HTTPConnection(server.port, token)
        build = await wait_ready(connection, args.build_timeout)
        status = await get_json(connection, "/api/search/status")
        figures["build_seconds"] = round(build, 1)
        figures["documents"] = status["documents"]
        figures["index_mb"] = round(status["db_bytes"] / 1e6, 1)
        print(f"index built in {build:.1f} s: {status['documents']} documents, {figures['index_mb']} MB",
              flush=True)

        queries = query_mix(words, random.Random(11), args.queries)
        await measure_queries(connection, queries[:20])  # warm-up
        stop = asyncio.Event()
        scans = asyncio.create_task(count_scans(server.port, token, stop))
        began = time.perf_counter()
        by_kind = await measure_queries(connection, queries, 3 * args.scan_interval)
        figures["query_seconds"] = round(time.perf_counter() - began, 1)
        stop.set()
        figures["scans_during_queries"] = await scans
        figures["scan_interval"] = args.scan_interval
        samples = [sample for kind in by_kind.values() for sample in kind]
        figures["query_p99_by_kind_ms"] = {kind: round(percentile(values, 0.99) * 1000, 1)
                                           for kind, values in by_kind.items()}
        figures["query_p50_ms"] = round(percentile(samples, 0.5) * 1000, 1)
        figures["query_p99_ms"] = round(percentile(samples, 0.99) * 1000, 1)
        figures["query_max_ms"] = round(max(samples) * 1000, 1)

        fresh = await measure_freshness(connection, args.freshness_rounds)
        figures["fresh_median_s"] = round(statistics.median(fresh), 2)
        figures["fresh_max_s"] = round(max(fresh), 2)

        connection.close()
    finally:
        server.stop()


def report(figures: dict[str, Any]) -> None:
    machine = figures["machine"]
    print()
    print(f"machine: {machine['cpu']}, {machine['nproc']} cores, {machine['memory_gb']} GB, {machine['os']}, "
          f"Python {machine['python']}, {machine['date']}; load average {machine['load_average_before']} before, "
          f"{figures['load_average_after']} after")
    print(f"uptime before: {machine['uptime_before']}")
    print(f"uptime after:  {figures['uptime_after']}")
    kept = figures["generate_seconds"] == "kept"
    if "query_p50_ms" not in figures:
        print(f"notebooks: {figures['notebooks']} (--saves-only: no build, query or freshness figures)")
        report_saves(figures)
        return
    print(f"notebooks: {figures['notebooks']} " + ("(kept from an earlier run with its index: the build below is "
          "the first scan of a built index)" if kept else f"(generated in {figures['generate_seconds']} s)"))
    print(f"index build: {figures['build_seconds']} s, {figures['documents']} documents, {figures['index_mb']} MB")
    print(f"query: p50 {figures['query_p50_ms']} ms (target < 50), p99 {figures['query_p99_ms']} ms "
          f"(target < 250), max {figures['query_max_ms']} ms over {figures['query_seconds']} s of queries, "
          f"{figures['scans_during_queries']} scans for outside changes ended meanwhile (one every "
          f"{figures['scan_interval']} s); p99 by kind: {figures['query_p99_by_kind_ms']}")
    print(f"saved notebook findable after: median {figures['fresh_median_s']} s, max {figures['fresh_max_s']} s "
          "(target < 2)")
    report_saves(figures)


def report_saves(figures: dict[str, Any]) -> None:
    def change(name: str, label: str) -> str:
        return f"{(figures[f'save_{label}_{name}_ms'] / figures[f'save_{label}_off_ms'] - 1) * 100:+.1f} %"

    def ratios(name: str, label: str) -> str:
        ratio = figures[f"round_{label}_ratio_{name}"]
        return f"{ratio['median']} ({ratio['min']}-{ratio['max']})"

    print(f"saves: {figures['save_rounds']} rounds of {figures['save_block']} saves per server, in turn on a "
          f"search-off server (its index worker stopped: the 'off' figures), a server building an index and a "
          f"second search-off server (A/A); the build was {figures['build_status_after_saves']} with "
          f"{figures['documents_built_during_saves']} documents after {figures['build_seconds_during_saves']} s")
    for name, what in (("off", "search off"), ("building", "while building"), ("twin", "search off (A/A)")):
        print(f"  {what:17} {figures[f'saves_{name}']:6} saves: p50 {figures[f'save_p50_{name}_ms']:6.2f} ms, "
              f"p99 {figures[f'save_p99_{name}_ms']:6.2f} ms; server CPU per save "
              f"{figures[f'server_cpu_ms_per_save_{name}']} ms")
    for name, what in (("building", "building vs off"), ("twin", "A/A (off vs off)")):
        print(f"  {what:17} pooled p50 {change(name, 'p50')}, pooled p99 {change(name, 'p99')} (target for the "
              f"build: <= +10 %); per-round ratio median (range): p50 {ratios(name, 'p50')}, "
              f"p99 {ratios(name, 'p99')}")
    print(f"  index worker CPU: {figures['worker_cpu_ms_per_save_building']} ms per save during the building "
          f"blocks, {figures['worker_cpu_s_between_rounds']} s between rounds")
    print(json.dumps(figures))


if __name__ == "__main__":
    asyncio.run(main())
