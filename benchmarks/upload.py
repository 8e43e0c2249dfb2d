"""Raw upload benchmark: ``POST /api/files/upload`` of a large body against nbserver (issue 15).

    python benchmarks/upload.py                 # 500 MB, 3 uploads
    python benchmarks/upload.py --mb 100 --trials 1

Starts nbserver on a free 127.0.0.1 port with a fresh root in a scratch folder, uploads ``--mb``
megabytes streamed from a generator (chunked encoding, as ``curl -T`` or a script sends them),
and prints for each upload the throughput (MB/s, from the first byte sent to the 201) next to
this machine's disk speed for the same amount (a file written in 1 MB blocks and fsynced, as the
upload's staging file is), and the growth of the server's peak resident memory during the
upload (``VmHWM`` in /proc, reset through ``clear_refs`` before each upload; the target is
< 50 MB). Figures are printed, not checked: this is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from run import machine_info  # noqa: E402  (benchmarks/ is not a package)

BLOCK = os.urandom(1024 * 1024)
TOKEN = "upload-benchmark-token"


def status_kb(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} for pid {pid}")


def start_server(root: Path, scratch: Path) -> tuple[subprocess.Popen[str], int]:
    env = dict(os.environ, PYTHONUNBUFFERED="1", JUPYTER_CONFIG_DIR=str(scratch / "config"),
               JUPYTER_DATA_DIR=str(scratch / "data"), JUPYTER_RUNTIME_DIR=str(scratch / "runtime"))
    process = subprocess.Popen(
        [sys.executable, "-m", "nbserver", "--no-browser", "--port=0", f"--root-dir={root}",
         f"--IdentityProvider.token={TOKEN}", "--NotebookServerApp.max_body_size=2147483648"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=BENCH_DIR.parent)
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    for line in process.stdout:
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        if match:
            return process, int(match.group(1))
        if time.monotonic() > deadline:
            break
    process.kill()
    raise RuntimeError("nbserver did not start")


def blocks(megabytes: int) -> Iterator[bytes]:
    for _ in range(megabytes):
        yield BLOCK


def upload(port: int, name: str, megabytes: int) -> float:
    """Seconds from the first byte sent to the 201."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        started = time.perf_counter()
        connection.request("POST", "/api/files/upload", body=blocks(megabytes), encode_chunked=True,
                           headers={"Authorization": f"token {TOKEN}", "X-File-Name": name})
        response = connection.getresponse()
        body = response.read()
        elapsed = time.perf_counter() - started
    finally:
        connection.close()
    if response.status != 201:
        raise RuntimeError(f"upload answered {response.status}: {body[:300]!r}")
    size = json.loads(body)["size"]
    if size != megabytes * len(BLOCK):
        raise RuntimeError(f"stored {size} bytes, sent {megabytes * len(BLOCK)}")
    return elapsed


def disk_write(folder: Path, megabytes: int) -> float:
    """Seconds to write and fsync ``megabytes`` in 1 MB blocks in ``folder``: the disk's own speed."""
    path = folder / "disk-speed.bin"
    started = time.perf_counter()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for block in blocks(megabytes):
            os.write(fd, block)
        os.fsync(fd)
    finally:
        os.close(fd)
    elapsed = time.perf_counter() - started
    path.unlink()
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=500, help="megabytes per upload (default 500)")
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(machine_info()))
    scratch = Path(tempfile.mkdtemp(prefix="nbserver-upload-bench-", dir=BENCH_DIR.parent))
    root = scratch / "root"
    root.mkdir()
    process, port = start_server(root, scratch)
    try:
        upload(port, "warmup.bin", 4)
        resettable = True
        for trial in range(1, args.trials + 1):
            disk = disk_write(root, args.mb)
            try:
                Path(f"/proc/{process.pid}/clear_refs").write_text("5")
            except OSError:
                resettable = False
            before = status_kb(process.pid, "VmRSS")
            elapsed = upload(port, f"big-{trial}.bin", args.mb)
            peak = status_kb(process.pid, "VmHWM")
            growth = (peak - before) / 1024
            print(f"trial {trial}: {args.mb} MB upload in {elapsed:.2f} s = {args.mb / elapsed:.0f} MB/s "
                  f"(disk alone: {args.mb / disk:.0f} MB/s); server RSS {before / 1024:.0f} MB, "
                  f"peak growth {growth:+.1f} MB{'' if resettable else ' (peak not resettable: since start)'}")
            (root / f"big-{trial}.bin").unlink()
    finally:
        process.terminate()
        process.wait(30)
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
