"""Raw upload benchmark: one large file into nbserver and into jupyter_server, next to the disk (issue 15).

    python benchmarks/upload.py                 # 500 MB, 9 rounds
    python benchmarks/upload.py --mb 100 --rounds 1 --nbserver-only

The file (``--mb`` megabytes of random bytes, made once in a scratch folder) goes

* to nbserver as ``POST /api/files/upload``, its bytes the body (``Content-Length``, sent with
  ``socket.sendfile`` from the page cache: the client costs next to nothing, as ``curl
  --data-binary @file`` would not, since curl reads the whole file into memory first);
* to jupyter_server as its nearest equivalent, what JupyterLab does for a large file: a series of
  ``PUT /api/contents/<name>`` of 1 MB base64 chunks (``"chunk": 1, 2, ... -1``) on one
  kept-alive connection.

Each round measures every server once, in turns (``--rounds``, default 9), so drift from other
jobs on the machine spreads over all of them, and measures the disk right before AND right after
each upload: the disk's own figure swings 2.5x from one minute to the next on this host (a
virtual disk shared with other guests), so one sample per upload is noise. "Disk" means: in the
same folder as the server's root, write the same number of megabytes
with ``os.write`` of one 1 MB block of random bytes (already in memory, written again and
again) into a new file through the page cache, then one ``fsync``, timed from ``open`` to the end
of the ``fsync``, then the file is removed; it is what this disk does alone at that moment,
and the upload is held to the same end state (its bytes on disk, fsynced: the crash-safe save),
while it also has to receive, hash (SHA-256) and place the file. The ratio of a row is the
upload's MB/s over the disk's MB/s averaged over its pair (the mean of the two disk times: the
disk's speed over the minute around the upload), and the summary's ratio is the median of
those per-pair ratios. A row prints the upload, both disk figures and the ratio, the growth of the
server's peak resident memory during the upload (``VmHWM`` in /proc, reset through
``clear_refs``; the target is < 50 MB for 500 MB), the server's CPU time for the upload (user +
system, all threads: the figure least moved by other jobs), the client's CPU time (this script's
``sendfile``, or ``curl -T`` with ``--curl``: on two cores the sender competes with the server)
and the 1-minute load average. A
summary gives each server's medians with their ranges. ``--baseline DIR`` adds another nbserver
checkout (say, main's), ``--variant LABEL=ARGS`` this checkout with other command-line
options (say ``nowriteback=--FileServices.upload_writeback_mb=0``). Figures are printed, not
checked: this is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import shutil
import shlex
import socket
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from procstat import cpu_seconds, status_kb  # noqa: E402  (benchmarks/ is not a package)
from run import machine_info  # noqa: E402
from servers import (  # noqa: E402
    JUPYTER_SERVER,
    NBSERVER,
    RunningServer,
    jupyter_server_venv,
    server_commands,
)

TOKEN = "upload-benchmark-token"
BLOCK_BYTES = 1024 * 1024
MB = 1024 * 1024


def client_cpu_seconds() -> float:
    """User + system CPU time of this process (the sendfile client) and its waited-for children (curl)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def make_source(path: Path, megabytes: int) -> None:
    with open(path, "wb") as handle:
        for _ in range(megabytes):
            handle.write(os.urandom(BLOCK_BYTES))


def upload_nbserver(port: int, source: Path, name: str) -> int:
    """POST the file as the body; the stored size from the 201."""
    size = source.stat().st_size
    head = (f"POST /api/files/upload HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: token {TOKEN}\r\n"
            f"X-File-Name: {name}\r\nContent-Type: application/octet-stream\r\nContent-Length: {size}\r\n"
            "Connection: close\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", port), timeout=600) as sock, open(source, "rb") as handle:
        sock.sendall(head)
        sock.sendfile(handle)
        response = http.client.HTTPResponse(sock)
        response.begin()
        body = response.read()
    if response.status != 201:
        raise RuntimeError(f"nbserver answered {response.status}: {body[:300]!r}")
    return int(json.loads(body)["size"])


def upload_nbserver_curl(port: int, source: Path, name: str) -> int:
    """POST the file with ``curl -T`` (streamed from the file, not read whole into memory as
    ``--data-binary @file`` does); the stored size from the 201."""
    result = subprocess.run(
        ["curl", "-sS", "-X", "POST", "-T", str(source), "-H", f"Authorization: token {TOKEN}",
         "-H", f"X-File-Name: {name}", "-H", "Content-Type: application/octet-stream", "-H", "Expect:",
         "-w", "\n%{http_code}", f"http://127.0.0.1:{port}/api/files/upload"],
        capture_output=True, check=True, timeout=600)
    body, _, status = result.stdout.rpartition(b"\n")
    if status != b"201":
        raise RuntimeError(f"nbserver answered {status!r}: {body[:300]!r}")
    return int(json.loads(body)["size"])


def upload_jupyter_server(port: int, source: Path, name: str) -> int:
    """PUT the file in 1 MB base64 chunks, as JupyterLab uploads large files; the size from the last reply."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    headers = {"Authorization": f"token {TOKEN}", "Content-Type": "application/json"}
    size = source.stat().st_size
    chunks = max(1, -(-size // BLOCK_BYTES))
    try:
        with open(source, "rb") as handle:
            for number in range(1, chunks + 1):
                data = handle.read(BLOCK_BYTES)
                model = {"type": "file", "format": "base64", "name": name, "path": name,
                         "chunk": -1 if number == chunks else number, "content": base64.b64encode(data).decode()}
                connection.request("PUT", f"/api/contents/{name}", body=json.dumps(model), headers=headers)
                response = connection.getresponse()
                body = response.read()
                if response.status not in (200, 201):
                    raise RuntimeError(f"jupyter_server answered {response.status}: {body[:300]!r}")
    finally:
        connection.close()
    return int(json.loads(body)["size"])


UPLOADERS = {NBSERVER: upload_nbserver, JUPYTER_SERVER: upload_jupyter_server}


def uploader_for(server_name: str, curl: bool) -> Callable[[int, Path, str], int]:
    """How this run sends to a server: curl for nbserver with ``--curl``, else the server's own uploader."""
    return upload_nbserver_curl if curl and server_name == NBSERVER else UPLOADERS[server_name]


def disk_write(folder: Path, megabytes: int) -> float:
    """Seconds to write and fsync ``megabytes`` in 1 MB blocks in ``folder``: the disk's own speed now."""
    path = folder / "disk-speed.bin"
    block = os.urandom(BLOCK_BYTES)
    started = time.perf_counter()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for _ in range(megabytes):
            os.write(fd, block)
        os.fsync(fd)
    finally:
        os.close(fd)
    elapsed = time.perf_counter() - started
    path.unlink()
    return elapsed


def measure(server: RunningServer, source: Path, name: str, megabytes: int,
            uploader: Callable[[int, Path, str], int]) -> dict[str, float]:
    """One upload with the disk measured right before and right after it: the figures of one printed row."""
    assert server.process is not None
    pid = server.process.pid
    disk_before = disk_write(server.root, megabytes)
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets VmHWM (the peak RSS) to the current RSS
    except OSError:
        pass  # then the growth counts from the server's start: printed as is, an overestimate
    before = status_kb(pid, "VmRSS")
    load = os.getloadavg()[0]
    cpu, client_cpu = cpu_seconds(pid), client_cpu_seconds()
    started = time.perf_counter()
    size = uploader(server.port, source, name)
    elapsed = time.perf_counter() - started
    cpu, client_cpu = cpu_seconds(pid) - cpu, client_cpu_seconds() - client_cpu
    peak = status_kb(pid, "VmHWM")
    if size != source.stat().st_size:
        raise RuntimeError(f"{server.name} stored {size} bytes of {source.stat().st_size}")
    (server.root / name).unlink()
    disk_after = disk_write(server.root, megabytes)
    disk = (disk_before + disk_after) / 2  # the pair's mean time: the disk's speed around the upload
    return {"upload": megabytes / elapsed, "disk": megabytes / disk, "disk_before": megabytes / disk_before,
            "disk_after": megabytes / disk_after, "ratio": disk / elapsed, "rss_growth": (peak - before) / 1024,
            "rss_before": before / 1024, "load": load, "seconds": elapsed, "cpu": cpu,
            "client_cpu": client_cpu}


def small_file(scratch: Path) -> Path:
    """A 4 MB file for the warm-up upload."""
    path = scratch / "warmup.bin"
    if not path.exists():
        make_source(path, 4)
    return path


def summary(label: str, rows: list[dict[str, float]]) -> str:
    """One server's medians over the rounds, each with its range."""
    def spread(key: str, form: str) -> str:
        values = [row[key] for row in rows]
        return (f"{format(statistics.median(values), form)} "
                f"({format(min(values), form)}-{format(max(values), form)})")
    return (f"{label:<18} upload MB/s {spread('upload', '.0f')}, disk MB/s (pair mean) {spread('disk', '.0f')}, "
            f"ratio (median of per-pair ratios) {spread('ratio', '.2f')}, server CPU s {spread('cpu', '.2f')}, "
            f"client CPU s {spread('client_cpu', '.2f')}, "
            f"RSS growth MB {spread('rss_growth', '+.1f')}, load {spread('load', '.1f')}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=500, help="megabytes per upload (default 500)")
    parser.add_argument("--rounds", "--trials", type=int, default=9, help="rounds of uploads (default 9)")
    parser.add_argument("--nbserver-only", action="store_true", help="skip jupyter_server")
    parser.add_argument("--baseline", type=Path, metavar="DIR",
                        help="also measure the nbserver in DIR (e.g. `git archive main nbserver | tar -x -C DIR`)")
    parser.add_argument("--variant", action="append", default=[], metavar="LABEL=ARGS",
                        help="also measure this nbserver started with ARGS added to its command line")
    parser.add_argument("--curl", action="store_true",
                        help="send nbserver's uploads with curl -T instead of this script's sendfile client")
    args = parser.parse_args()
    print(json.dumps(machine_info()), flush=True)
    scratch = Path(tempfile.mkdtemp(prefix="nbserver-upload-bench-", dir=BENCH_DIR.parent))
    servers: list[RunningServer] = []
    try:
        source = scratch / "source.bin"
        make_source(source, args.mb)
        specs = server_commands(jupyter_server_venv(), scratch)
        runs: list[tuple[str, str, Path, list[str]]] = [(NBSERVER, NBSERVER, BENCH_DIR.parent, [])]
        if args.baseline:
            runs.append((f"{NBSERVER}@baseline", NBSERVER, args.baseline.resolve(), []))
        for variant in args.variant:
            label, _, options = variant.partition("=")
            runs.append((label, NBSERVER, BENCH_DIR.parent, shlex.split(options)))
        if not args.nbserver_only:
            runs.append((JUPYTER_SERVER, JUPYTER_SERVER, BENCH_DIR.parent, []))
        labels = {}
        for label, name, cwd, options in runs:
            root = scratch / f"root-{len(servers)}"
            root.mkdir()
            extra = [f"--NotebookServerApp.max_body_size={2 * args.mb * MB + MB}"] if name == NBSERVER else []
            server = RunningServer(specs[name], root, scratch / f"home-{len(servers)}", TOKEN, extra + options, cwd=cwd)
            server.start()
            servers.append(server)
            labels[id(server)] = label
            uploader_for(name, args.curl)(server.port, small_file(scratch), "warmup.bin")
            (root / "warmup.bin").unlink()
        sender = "curl -T" if args.curl else "this script's socket.sendfile"
        print(f"nbserver's sender: {sender}; disk MB/s measured right before and right after each upload; "
              "ratio = upload MB/s / the pair's mean disk MB/s (mean of the two disk times)", flush=True)
        print(f"{'round':>5}  {'server':<18} {'upload MB/s':>11} {'disk before':>11} {'disk after':>10} {'ratio':>5} "
              f"{'RSS growth MB':>13} {'server CPU s':>12} {'client CPU s':>12} {'load':>5}", flush=True)
        results: dict[int, list[dict[str, float]]] = {id(server): [] for server in servers}
        for trial in range(1, args.rounds + 1):
            for server in servers:
                row = measure(server, source, f"big-{trial}.bin", args.mb, uploader_for(server.name, args.curl))
                results[id(server)].append(row)
                print(f"{trial:>5}  {labels[id(server)]:<18} {row['upload']:>11.0f} {row['disk_before']:>11.0f} "
                      f"{row['disk_after']:>10.0f} "
                      f"{row['ratio']:>5.2f} {row['rss_growth']:>+13.1f} {row['cpu']:>12.2f} {row['client_cpu']:>12.2f} "
                      f"{row['load']:>5.1f}", flush=True)
        print(f"medians over {args.rounds} rounds (ranges), {args.mb} MB per upload, sender {sender}:")
        for server in servers:
            print("  " + summary(labels[id(server)], results[id(server)]))
        print(f"uptime: {os.popen('uptime').read().strip()}")
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
