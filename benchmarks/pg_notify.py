"""What LISTEN/NOTIFY saves on a cached notebook GET (not a test): nbserver on PostgreSQL with the
change listener (``Database.listen_for_changes``, the default: a cached reply is sent without a
query) and without it (each cached GET asks the row's version and the signature first), beside
nbserver's file store and jupyter_server 2.21.1, in one run on this machine.

```sh
python benchmarks/pg_notify.py            # 300 GETs of each notebook size per server
python benchmarks/pg_notify.py --quick    # 60
```

Each server gets a fresh root or database holding a small notebook (a few cells, where the
validating queries weigh most) and the 1 MB notebook of ``fixtures.notebook_model``. Over one
keep-alive connection it times repeated GETs of each (every one after the first is a cache hit on
nbserver): median and 90th percentile in ms, and the server process's CPU time per request
(user + system, from /proc; it moves much less with load than wall time). The load average is
printed with the figures: other work on the machine makes them noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(0, str(BENCH_DIR.parent))

import fixtures  # noqa: E402
from loadgen import HTTPConnection  # noqa: E402
from manyclients import process_cpu_seconds  # noqa: E402
from postgres import MANAGER, load  # noqa: E402
from servers import NBSERVER, RunningServer, ServerCommand, jupyter_server_venv, run_in_turn  # noqa: E402

from tests.support.postgres import PostgresCluster  # noqa: E402

def notebooks() -> dict[str, str]:
    """A small notebook (five short code cells) and the benchmarks' 1 MB one, as JSON text."""
    small = {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
             "cells": [{"cell_type": "code", "id": f"c{n}", "metadata": {}, "execution_count": None,
                        "outputs": [], "source": f"x = {n}\nprint(x)"} for n in range(5)]}
    return {"small.ipynb": json.dumps(small), "large.ipynb": json.dumps(fixtures.notebook_model())}


def seed_database(url: str, files: dict[str, str]) -> None:
    from nbserver.db.config import Database
    from nbserver.services.contents.postgres.manager import PostgresContentsManager

    async def seed() -> None:
        database = Database(url=url, listen_for_changes=False)
        manager = PostgresContentsManager(database=database)
        try:
            for name, text in files.items():
                await manager.save({"type": "notebook", "content": json.loads(text)}, name)
        finally:
            await database.close()

    asyncio.run(seed())


async def measure(server: RunningServer, names: list[str], repeat: int) -> dict[str, tuple[float, float, float]]:
    """(median ms, 90th percentile ms, server CPU ms per request) of repeated GETs of each notebook."""
    connection = HTTPConnection(server.port, server.token)
    figures = {}
    for name in names:
        for _ in range(3):  # warm: the first read fills the cache
            response = await connection.request("GET", f"/api/contents/{name}")
            assert response.status == 200, (server.name, response.status, response.body[:200])
        samples = []
        cpu = process_cpu_seconds(server.process.pid)
        for _ in range(repeat):
            started = time.perf_counter()
            response = await connection.request("GET", f"/api/contents/{name}")
            samples.append((time.perf_counter() - started) * 1000)
            assert response.status == 200
        cpu_ms = (process_cpu_seconds(server.process.pid) - cpu) * 1000 / repeat
        samples.sort()
        figures[name] = (statistics.median(samples), samples[int(0.9 * len(samples))], cpu_ms)
    connection.close()
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="60 GETs per notebook instead of 300")
    args = parser.parse_args()
    repeat = 60 if args.quick else 300
    files = notebooks()
    print(f"load before: {load()}")
    scratch = Path(tempfile.mkdtemp(prefix="nbbench-notify-"))
    cluster = PostgresCluster()
    servers: list[RunningServer] = []
    results: dict[str, dict[str, tuple[float, float, float]]] = {}
    try:
        cluster.start()
        nbserver = ServerCommand(NBSERVER, Path(sys.executable), [sys.executable, "-m", "nbserver"], [])
        venv = jupyter_server_venv()
        jupyter = ServerCommand("jupyter_server", venv / "bin" / "python", [str(venv / "bin" / "jupyter-server")], [])
        plans = []
        for listen in (True, False):
            url = cluster.create_database(f"notify_{int(listen)}")
            upgrade = subprocess.run([sys.executable, "-m", "nbserver", "db", "upgrade", f"--url={url}"],
                                     capture_output=True, text=True, timeout=120, cwd=BENCH_DIR.parent)
            if upgrade.returncode:
                raise SystemExit(f"nbserver db upgrade failed: {upgrade.stderr}")
            seed_database(url, files)
            plans.append((f"PostgreSQL, {'NOTIFY' if listen else 'query each GET'}", nbserver,
                          [f"--NotebookServerApp.contents_manager_class={MANAGER}", f"--Database.url={url}",
                           f"--Database.listen_for_changes={listen}"]))
        plans += [("nbserver files", nbserver, []), ("jupyter_server", jupyter, [])]
        for label, spec, extra in plans:
            root = scratch / label.replace(" ", "_").replace(",", "")
            root.mkdir(parents=True)
            if not extra:
                for name, text in files.items():
                    (root / name).write_text(text)
            server = RunningServer(spec, root, scratch / f"home-{len(servers)}", secrets.token_hex(16), extra,
                                   name=label)
            results[label] = run_in_turn(server, servers, lambda server: asyncio.run(measure(server, list(files), repeat)))
    finally:
        for server in servers:
            server.stop(timeout=5)
        cluster.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"\n{repeat} cached GETs each; ms: median / p90 / server CPU per request")
    print(f"{'':28}" + "".join(f"{name:>26}" for name in files))
    for label, figures in results.items():
        print(f"{label:28}" + "".join(f"{'%.2f / %.2f / %.2f' % figures[name]:>26}" for name in files))
    print(f"\nload after: {load()}  (other work on this machine makes these figures noisy)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
