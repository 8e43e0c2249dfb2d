"""Kill -9 storm: SIGKILL a real nbserver again and again while clients save, then check the disk.

Usage: python scripts/kill_storm.py [--kills 30] [--notebooks 4] [--seed N] [--keep DIR]

Starts nbserver on 127.0.0.1 with a fresh temporary root. One client thread per notebook saves
new versions of it through the REST API without pause, and one thread uploads a file in chunks;
every version is remembered before it is sent, and the last one the server acknowledged. One
notebook has a hard link (so its saves take the in-place path); run as root, another belongs to
``nobody`` with mode 0640 (so its saves copy the owner). The server is SIGKILLed at a random
moment, restarted (its start-up recovery runs), and with the clients paused the disk is checked:

- corrupt: a notebook or upload that does not parse, is not exactly one of the versions sent, or
  whose hard link shows other bytes;
- lost: a file missing, or older than the last version the server acknowledged;
- leftover: ``.~nbserver-*`` files in the root, and journals or backups in the journal folder;
- identity: the nobody-owned notebook no longer nobody's with mode 0640.

The servers run with ``--FileContentsManager.leftover_min_age=0`` (``--leftover-min-age``): a
restart follows each kill within a second, and the default keeps leftovers younger than 5 minutes
for a later start (try ``--leftover-min-age 300`` to see them counted).
Prints the four totals; exits 0 only when all are 0.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import shutil
import stat
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.support.server_process import ServerProcess  # noqa: E402

PREFIX = ".~nbserver-"
NOBODY = 65534
UPLOAD = "upload.bin"
TOKEN = "kill-storm-token"


def notebook(name: str, version: int) -> dict[str, Any]:
    """Version ``version`` of notebook ``name``: about 300 KB, so kills often land mid-write."""
    filler = f"{name} version {version}\n" * 12_000
    return {
        "nbformat": 4, "nbformat_minor": 5,
        "metadata": {"storm": {"name": name, "version": version}},
        "cells": [{"cell_type": "code", "id": f"cell-{version}", "metadata": {}, "execution_count": None,
                   "outputs": [], "source": filler}],
    }


def upload_content(version: int) -> bytes:
    return f"upload version {version}\n".encode() * 20_000


class Clients:
    """Client threads that save while the storm lets them, and what they sent and had acknowledged."""

    def __init__(self, names: list[str]) -> None:
        self.sent: dict[str, set[int]] = {name: {0} for name in [*names, UPLOAD]}
        self.acked: dict[str, int] = {name: 0 for name in [*names, UPLOAD]}
        self.url = ""
        self.running = False
        self.active = 0
        self.finished = False
        self.cond = threading.Condition()
        self.threads = [threading.Thread(target=self._save_loop, args=(name,), daemon=True) for name in names]
        self.threads.append(threading.Thread(target=self._upload_loop, daemon=True))

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def resume(self, url: str) -> None:
        with self.cond:
            self.url, self.running = url, True
            self.cond.notify_all()

    def pause(self) -> None:
        """Let no new request start, and wait for those under way to end."""
        with self.cond:
            self.running = False
            while self.active:
                self.cond.wait()

    def stop(self) -> None:
        with self.cond:
            self.finished, self.running = True, False
            self.cond.notify_all()
        for thread in self.threads:
            thread.join(timeout=60)

    def _put(self, path: str, body: dict[str, Any]) -> int | None:
        """PUT when the storm allows; the status, or None when the server went away."""
        with self.cond:
            while not self.running and not self.finished:
                self.cond.wait()
            if self.finished:
                return None
            self.active += 1
            url = self.url
        try:
            request = urllib.request.Request(
                f"{url}api/contents/{path}", data=json.dumps(body).encode(), method="PUT",
                headers={"Authorization": f"token {TOKEN}", "Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=60) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError:
            return None
        finally:
            with self.cond:
                self.active -= 1
                self.cond.notify_all()

    def _save_loop(self, name: str) -> None:
        version = 0
        while not self.finished:
            version += 1
            self.sent[name].add(version)
            status = self._put(name, {"type": "notebook", "content": notebook(name, version)})
            if status in (200, 201):
                self.acked[name] = version
            elif status is not None:
                print(f"unexpected status {status} saving {name}", file=sys.stderr)

    def _upload_loop(self) -> None:
        version = 0
        while not self.finished:
            version += 1
            data = upload_content(version)
            third = len(data) // 3
            parts = [(1, data[:third]), (2, data[third:2 * third]), (-1, data[2 * third:])]
            for number, part in parts:
                if number == -1:
                    self.sent[UPLOAD].add(version)
                body = {"type": "file", "format": "base64", "chunk": number,
                        "content": base64.b64encode(part).decode()}
                status = self._put(UPLOAD, body)
                if status not in (200, 201):
                    break  # the server died: its staging file is gone with its writer id
            else:
                self.acked[UPLOAD] = version


def check_disk(root: Path, journal_dir: Path, clients: Clients, nobody_name: str | None) -> dict[str, int]:
    counts = {"corrupt": 0, "lost": 0, "leftover": 0, "identity": 0}
    for name in clients.sent:
        path = root / name
        if not path.exists():
            if name != UPLOAD or clients.acked[UPLOAD]:
                counts["lost"] += 1
                print(f"  lost: {name} is missing")
            continue
        raw = path.read_bytes()
        version = _version_on_disk(name, raw)
        if version is None or version not in clients.sent[name]:
            counts["corrupt"] += 1
            print(f"  corrupt: {name} is not a version that was sent ({len(raw)} bytes)")
        elif version < clients.acked[name]:
            counts["lost"] += 1
            print(f"  lost: {name} is version {version}, version {clients.acked[name]} was acknowledged")
    link = root / "nb1-link.ipynb"
    if link.exists() and link.read_bytes() != (root / "nb1.ipynb").read_bytes():
        counts["corrupt"] += 1
        print("  corrupt: the hard link nb1-link.ipynb shows other bytes than nb1.ipynb")
    if nobody_name is not None:
        info = (root / nobody_name).stat()
        if (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) != (NOBODY, NOBODY, 0o640):
            counts["identity"] += 1
            print(f"  identity: {nobody_name} is now {info.st_uid}:{info.st_gid} {oct(info.st_mode)}")
    leftovers = [str(p) for p in root.rglob(f"{PREFIX}*")]
    if journal_dir.exists():
        leftovers += [str(p) for p in journal_dir.rglob("*") if p.is_file()]
    counts["leftover"] += len(leftovers)
    for leftover in leftovers:
        print(f"  leftover: {leftover}")
    return counts


def _version_on_disk(name: str, raw: bytes) -> int | None:
    """The version a file holds, if it is exactly one that would have been sent."""
    if name == UPLOAD:
        first_line = raw.split(b"\n", 1)[0]
        try:
            version = int(first_line.rsplit(b" ", 1)[-1])
        except ValueError:
            return None
        return version if raw == upload_content(version) else None
    try:
        model = json.loads(raw)
        version = model["metadata"]["storm"]["version"]
        expected = notebook(name, version)
        source = model["cells"][0]["source"]
    except (ValueError, KeyError, TypeError, IndexError):
        return None
    source = "".join(source) if isinstance(source, list) else source  # nbformat writes lines on disk
    same = source == expected["cells"][0]["source"] and model["metadata"] == expected["metadata"]
    return version if same and len(model["cells"]) == 1 else None


def prepare_root(root: Path, names: list[str]) -> str | None:
    """Write version 0 of every notebook; link one, give one to nobody when root."""
    for name in names:
        (root / name).write_text(json.dumps(notebook(name, 0)))
    os.link(root / "nb1.ipynb", root / "nb1-link.ipynb")
    if os.geteuid() != 0 or len(names) < 3:
        return None
    os.chown(root / names[2], NOBODY, NOBODY)
    os.chmod(root / names[2], 0o640)
    return names[2]


def storm(workdir: Path, kills: int, notebooks: int, rng: random.Random, leftover_min_age: float = 0,
          log: Callable[[str], None] = print) -> dict[str, int]:
    root, journal_dir = workdir / "root", workdir / "runtime" / "nbserver-writes"
    root.mkdir()
    names = [f"nb{i}.ipynb" for i in range(max(notebooks, 2))]
    nobody_name = prepare_root(root, names)
    env = {"JUPYTER_CONFIG_DIR": str(workdir / "config"), "JUPYTER_RUNTIME_DIR": str(workdir / "runtime"),
           "JUPYTER_DATA_DIR": str(workdir / "data")}
    args = [f"--FileContentsManager.leftover_min_age={leftover_min_age}"]
    clients = Clients(names)
    clients.start()
    totals = {"corrupt": 0, "lost": 0, "leftover": 0, "identity": 0}
    try:
        for kill in range(kills + 1):
            server = ServerProcess(root, *args, token=TOKEN, env=env).wait_until_serving(timeout=60)
            counts = check_disk(root, journal_dir, clients, nobody_name)
            for key, value in counts.items():
                totals[key] += value
            if kill == kills:
                server.stop()
                break
            clients.resume(server.base_url)
            time.sleep(rng.uniform(0.1, 1.0))
            server.process.kill()
            server.stop()
            clients.pause()
            log(f"kill {kill + 1}/{kills}: acknowledged versions {sorted(clients.acked.values())}")
    finally:
        clients.stop()
    return totals


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=30)
    parser.add_argument("--notebooks", type=int, default=4)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--leftover-min-age", type=float, default=0,
                        help="The servers' FileContentsManager.leftover_min_age (seconds; default 0).")
    parser.add_argument("--keep", type=Path, default=None, help="Work in this new folder and keep it.")
    options = parser.parse_args()
    seed = options.seed if options.seed is not None else random.randrange(1 << 30)
    print(f"seed {seed}")
    workdir = options.keep or Path(tempfile.mkdtemp(prefix="kill-storm-"))
    workdir.mkdir(parents=True, exist_ok=True)
    workdir.chmod(0o755)  # nobody's notebook must stay reachable for the identity check
    try:
        totals = storm(workdir, options.kills, options.notebooks, random.Random(seed), options.leftover_min_age)
    finally:
        if options.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"kills {options.kills}, corrupt {totals['corrupt']}, lost {totals['lost']}, "
          f"leftover {totals['leftover']}, identity {totals['identity']}")
    return 0 if not any(totals.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
