"""PostgreSQL contents store benchmark (not a test): nbserver on PostgreSQL beside nbserver's file
store and jupyter_server 2.21.1, on this machine, side by side in one run.

```sh
python benchmarks/postgres.py                # or: python benchmarks/run.py --postgres
python benchmarks/postgres.py --quick        # fewer requests, no 100,000-entry folder
```

It starts a throwaway PostgreSQL cluster (``tests/support/postgres.py``: Debian's PostgreSQL,
fsync off), creates the schema with ``nbserver db upgrade``, and for each server a fresh root
(or database) holding a 1 MB notebook (``fixtures.notebook_model``), a folder of 5,000 small
files and one of 100,000. On disk they are files; in the database they are the same rows the
store writes (made in bulk with SQL, every entry sharing one small blob). Over one keep-alive
connection it times, as medians in ms with the server's CPU time per request: GET of the notebook
(repeated: the reply cache answers, after the settle time the other benchmarks wait too), GET
right after a PUT of it (nothing cached: the whole read, parse and encode), PUT, a listing of the
5,000-entry folder (content=1), and the first page (``page_size=100``) of the 100,000-entry folder
(jupyter_server has no paged listing: n/a). Targets (issue 17): GET and PUT on PostgreSQL within
2x of the file store; listing pages under 50 ms. The load average is printed with the figures:
other work on the machine makes them noisy (CPU per request much less).
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
from typing import Any, Awaitable, Callable

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(0, str(BENCH_DIR.parent))

import fixtures  # noqa: E402
from loadgen import HTTPConnection  # noqa: E402
from manyclients import process_cpu_seconds  # noqa: E402
from servers import NBSERVER, RunningServer, ServerCommand, jupyter_server_venv, run_in_turn  # noqa: E402

from tests.support.postgres import PostgresCluster  # noqa: E402

MANAGER = "nbserver.services.contents.postgres.manager.PostgresContentsManager"
NOTEBOOK = "bench.ipynb"
POSTGRES = "nbserver (PostgreSQL)"
FILES = "nbserver (files)"
JUPYTER = "jupyter_server"


def load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def make_root(root: Path, notebook: str, with_100k: bool) -> None:
    root.mkdir(parents=True)
    (root / NOTEBOOK).write_text(notebook)
    fixtures.write_folder(root / "folder5k", 5000)
    if with_100k:
        fixtures.write_folder(root / "folder100k", 100_000)


def fill_database(cluster: PostgresCluster, url: str, notebook: str, with_100k: bool) -> None:
    """The same entries as :func:`make_root`, as rows of the PostgreSQL store."""
    import psycopg

    from nbserver.db.config import Database
    from nbserver.services.contents.postgres.manager import PostgresContentsManager

    async def seed() -> None:
        database = Database(url=url)
        manager = PostgresContentsManager(database=database)
        try:
            await manager.save({"type": "notebook", "content": json.loads(notebook)}, NOTEBOOK)
            await manager.save({"type": "file", "format": "text", "content": "x = 1\n"}, "seed.py")
        finally:
            await database.close()

    asyncio.run(seed())
    folders = [("folder5k", 5000)] + ([("folder100k", 100_000)] if with_100k else [])
    with psycopg.connect(url) as conn:
        for folder, count in folders:
            conn.execute("INSERT INTO contents_files (path, parent, name, is_dir) VALUES (%s, '', %s, true)",
                         (folder, folder))
            conn.execute(
                "INSERT INTO contents_files (path, parent, name, is_dir, blob, size, sha256) "
                "SELECT %s || '/' || n.name, %s, n.name, false, s.blob, s.size, s.sha256 "
                "FROM (SELECT format('file-%%s.%%s', lpad(i::text, 6, '0'), (ARRAY['ipynb','txt','txt','py','py'])[i %% 5 + 1]) "
                "AS name FROM generate_series(0, %s - 1) AS i) n, contents_files s WHERE s.path = 'seed.py'",
                (folder, folder, count))
    cluster.sql("VACUUM ANALYZE", dbname=url.rsplit("/", 1)[1])


async def median_ms(repeat: int, call: Callable[[], Awaitable[Any]]) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


Figures = dict[str, tuple[float, float] | None]


async def measure(server: RunningServer, notebook: str, quick: bool, with_100k: bool) -> Figures:
    """(median ms, server CPU ms per request) of each operation on ``server``."""
    connection = HTTPConnection(server.port, server.token)
    put_body = json.dumps({"type": "notebook", "content": json.loads(notebook)}).encode()
    pid = server.process.pid  # type: ignore[union-attr]

    async def expect(method: str, path: str, body: bytes | None = None, status: int = 200) -> None:
        response = await connection.request(method, path, body)
        if response.status != status:
            raise RuntimeError(f"{server.name} {method} {path}: {response.status} {response.body[:200]!r}")

    async def timed(repeat: int, call: Callable[[], Awaitable[Any]]) -> tuple[float, float]:
        cpu = process_cpu_seconds(pid)
        median = await median_ms(repeat, call)
        return median, (process_cpu_seconds(pid) - cpu) * 1000 / repeat

    async def get_after_put() -> float:
        await expect("PUT", f"/api/contents/{NOTEBOOK}", put_body)
        started = time.perf_counter()
        await expect("GET", f"/api/contents/{NOTEBOOK}")
        return (time.perf_counter() - started) * 1000

    figures: Figures = {}
    # The first read writes the notebook-signing key and database; like the other benchmarks,
    # wait until they (and the file store's notebook) are settled (see replycache.SETTLED_SECONDS).
    await expect("GET", f"/api/contents/{NOTEBOOK}")
    await asyncio.sleep(fixtures.SETTLE_SECONDS)
    await expect("GET", f"/api/contents/{NOTEBOOK}")
    figures["GET 1 MB notebook"] = await timed(10 if quick else 40, lambda: expect("GET", f"/api/contents/{NOTEBOOK}"))
    samples = [await get_after_put() for _ in range(3 if quick else 10)]
    figures["GET 1 MB notebook just saved"] = (statistics.median(samples), float("nan"))  # CPU: with the PUT
    figures["PUT 1 MB notebook"] = await timed(5 if quick else 20,
                                               lambda: expect("PUT", f"/api/contents/{NOTEBOOK}", put_body))
    figures["list 5,000 entries (content=1)"] = await timed(3 if quick else 10,
                                                            lambda: expect("GET", "/api/contents/folder5k"))
    if not with_100k or server.name == JUPYTER:  # jupyter_server has no paged listing
        figures["100,000 entries: first page of 100"] = None
    else:
        path = "/api/contents/folder100k?page_size=100"
        figures["100,000 entries: first page of 100"] = await timed(5 if quick else 20, lambda: expect("GET", path))
    connection.close()
    return figures


def cell(value: tuple[float, float] | None, index: int) -> str:
    return "n/a" if value is None or value[index] != value[index] else format(value[index], ".1f")


def figure(figures: Figures, op: str) -> float:
    value = figures[op]
    return value[0] if value is not None else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer requests, no 100,000-entry folder")
    args = parser.parse_args()
    with_100k = not args.quick
    notebook = json.dumps(fixtures.notebook_model())
    print(f"load before: {load()}")
    scratch = Path(tempfile.mkdtemp(prefix="nbbench-pg-"))
    cluster = PostgresCluster()
    servers: list[RunningServer] = []
    results: dict[str, Figures] = {}
    try:
        cluster.start()
        url = cluster.create_database("bench")
        upgrade = subprocess.run([sys.executable, "-m", "nbserver", "db", "upgrade", f"--url={url}"],
                                 capture_output=True, text=True, timeout=120, cwd=BENCH_DIR.parent)
        if upgrade.returncode:
            raise SystemExit(f"nbserver db upgrade failed: {upgrade.stderr}")
        fill_database(cluster, url, notebook, with_100k)
        venv = jupyter_server_venv()
        nbserver = ServerCommand(NBSERVER, Path(sys.executable), [sys.executable, "-m", "nbserver"], [])
        jupyter = ServerCommand("jupyter_server", venv / "bin" / "python", [str(venv / "bin" / "jupyter-server")], [])
        plans = [(POSTGRES, nbserver, [f"--NotebookServerApp.contents_manager_class={MANAGER}", f"--Database.url={url}"]),
                 (FILES, nbserver, []), (JUPYTER, jupyter, [])]
        for label, spec, extra in plans:
            root = scratch / label.replace(" ", "_").replace("(", "").replace(")", "")
            if label == POSTGRES:
                root.mkdir(parents=True)
            else:
                make_root(root, notebook, with_100k and label != JUPYTER)  # jupyter_server cannot page it
            server = RunningServer(spec, root, scratch / f"home-{len(servers)}", secrets.token_hex(16), extra,
                                   name=label)
            results[label] = run_in_turn(server, servers, lambda server: asyncio.run(measure(server, notebook, args.quick, with_100k)))
    finally:
        for server in servers:
            server.stop(timeout=5)
        cluster.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    labels = list(results)
    rows = list(next(iter(results.values())))
    for title, index in (("median, ms", 0), ("server CPU per request, ms", 1)):
        print(f"\n{title:40}" + "".join(f"{label:>24}" for label in labels))
        for row in rows:
            cells = "".join(f"{cell(results[label][row], index):>24}" for label in labels)
            print(f"{row:40}{cells}")
    print(f"\nload after: {load()}  (other work on this machine makes these figures noisy; CPU per request")
    print("moves much less with load. 'just saved': the GET right after a PUT of the notebook, which no")
    print("reply cache can answer: the whole read, parse and encode; its CPU is counted with the PUT's)")
    pg, files = results[POSTGRES], results[FILES]
    checks = [(f"{op} on PostgreSQL within 2x of the file store", figure(pg, op) <= 2 * figure(files, op))
              for op in ("GET 1 MB notebook", "GET 1 MB notebook just saved", "PUT 1 MB notebook")]
    page = pg["100,000 entries: first page of 100"]
    if page is not None:
        checks.append(("first page of 100,000 on PostgreSQL under 50 ms", page[0] < 50))
    for text, met in checks:
        print(f"  {'met    ' if met else 'NOT met'} {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
