"""Where a notebook GET and PUT spend their time, step by step, for each shape of benchmarks/shapes.py.

    python benchmarks/profile_shapes.py [--repeat 5]

Runs nbserver's own read and save steps in this process (no server, no HTTP) and prints the
median milliseconds of each: parsing, validating, signing (the trust digest), encoding. The
steps are the ones FileContentsManager and the handler run, called one by one. Times are the
thread's CPU time (``time.thread_time``), which moves less than the wall clock when other work
shares the machine. ``PYTHONPATH=<another checkout>`` profiles that checkout's nbserver.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

import shapes  # noqa: E402

from nbserver.jsonio import parse_client_json  # noqa: E402
from nbserver.services.contents import notary, notebooks, validation  # noqa: E402
from nbserver.services.contents.replycache import encode_reply  # noqa: E402

SECRET = b"0" * 1024


def timed(repeat: int, step: Callable[[], Any]) -> float:
    samples = []
    for _ in range(repeat):
        started = time.thread_time()
        step()
        samples.append(time.thread_time() - started)
    return statistics.median(samples) * 1000


def profile(name: str, text: str, repeat: int) -> dict[str, float]:
    raw = text.encode("utf-8")
    nb = notebooks.read_notebook(raw).nb
    reply = {"name": name, "path": name, "last_modified": "2026-11-30T00:00:00.000000Z", "content": nb}
    body = ('{"type": "notebook", "format": "json", "content": ' + text + "}").encode("utf-8")
    content = parse_client_json(body)["content"]
    return {
        "MB": len(raw) / 1e6,
        "GET parse": timed(repeat, lambda: notebooks.read_notebook(raw)),
        "GET validate": timed(repeat, lambda: validation.validate_notebook(nb)),
        "GET digest": timed(repeat, lambda: notary.digest_notebook(SECRET, nb)),
        "GET encode": timed(repeat, lambda: encode_reply(reply)),
        "PUT parse": timed(repeat, lambda: parse_client_json(body)),
        "PUT validate": timed(repeat, lambda: validation.validate_notebook(content)),
        "PUT digest": timed(repeat, lambda: notary.digest_notebook(SECRET, content)),
        "PUT encode": timed(repeat, lambda: notebooks.encode_notebook(copy.copy(content))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    validation.validate_notebook(json.loads(json.dumps(shapes.many_cells_notebook(5))))  # compile once
    rows = {name: profile(name, text, args.repeat) for name, text in shapes.shape_texts().items()}
    columns = list(next(iter(rows.values())))
    print("shape       " + "".join(f"{column:>13}" for column in columns) + "   (ms, medians)")
    for name, figures in rows.items():
        print(f"{name:<12}" + "".join(f"{figures[column]:>13.2f}" for column in columns))


if __name__ == "__main__":
    main()
