"""Time to interactive of the notebook page for a 5 MB notebook of 200 cells, in headless Chromium.

```sh
python benchmarks/notebook_page.py                        # this checkout, 5 trials
python benchmarks/notebook_page.py --checkout /tmp/main --checkout .   # before and after, in alternation
```

(`git archive main | tar -x -C /tmp/main` makes such a checkout.) With several checkouts, each trial
runs them one after the other, starting with a different one each time, so drift hits all alike.

Each trial starts the checkout's server (``python -m nbserver`` run in that folder) on a fresh root
holding one generated notebook (a fixed seed: the same bytes every run), opens
``/notebooks/page-5mb.ipynb`` in a fresh browser context (no cache) and measures from navigation to:

* ``cells``: all 200 cells are in the page and the first code cell has its editor (CodeMirror
  cells far from the viewport get theirs when scrolled near: the earlier textarea page made all);
* ``interactive``: a key typed into the first code cell shows in it, i.e. the page has loaded,
  rendered every cell and its outputs, and answers input (the person can work).

The notebook mixes what real ones hold: 120 code cells (each with a stream, an execute_result and,
every third, a PNG figure) and 80 markdown cells (headings, lists, a table, inline and display
math). The median over trials is printed with [min-max]; ``--json`` writes every sample.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import shutil
import statistics
import struct
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fixtures import filler_text  # noqa: E402
from servers import NBSERVER, REPO_DIR, RunningServer, ServerCommand, kill_leftovers  # noqa: E402

NOTEBOOK = "page-5mb.ipynb"
CHROMIUM = "/usr/bin/chromium"
TOKEN = "notebook-page-benchmark-token"
EDITOR = ".cell.code .cm-content, .cell.code textarea.source"  # a CodeMirror cell, or a textarea cell before them


def png(width: int, height: int, rng: random.Random) -> str:
    """A valid RGB PNG of noise (it does not compress, like a real plot's anti-aliasing), base64."""
    rows = b"".join(b"\x00" + rng.randbytes(width * 3) for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    return base64.b64encode(data).decode()


def notebook_model(cells: int = 200, target_bytes: int = 5_000_000) -> dict[str, Any]:
    """200 cells, about ``target_bytes`` on disk: code cells with text and PNG outputs, markdown cells."""
    rng = random.Random(18)
    figure = png(120, 80, rng)  # about 39 KB of base64 each

    def text(size: int) -> str:
        return filler_text(rng, size)

    markdown = ("## Section {index}\n\nSome *notes* on **run {index}**, with `code` and a [link](https://example.org).\n\n"
                "- first point\n- second point\n\n| k | v |\n|---|---|\n| a | {index} |\n\n"
                "Inline $x_{index}^2 + y^2$ and display:\n\n$$\\sum_{{k=1}}^{{{index}}} k = \\frac{{n(n+1)}}{{2}}$$\n")
    code_cells = [index for index in range(cells) if index % 5 not in (1, 3)]
    figures = [index for index in code_cells if index % 3 == 0]
    text_budget = (target_bytes - len(figures) * len(figure) - 80 * 700) // len(code_cells)
    notebook_cells: list[dict[str, Any]] = []
    for index in range(cells):
        if index not in code_cells:
            notebook_cells.append({"cell_type": "markdown", "id": f"cell-{index:04d}", "metadata": {},
                                   "source": markdown.format(index=index)})
            continue
        outputs: list[dict[str, Any]] = [
            {"name": "stdout", "output_type": "stream", "text": text(text_budget * 3 // 4)},
            {"data": {"text/plain": text(text_budget // 4)}, "execution_count": index + 1, "metadata": {},
             "output_type": "execute_result"},
        ]
        if index in figures:
            outputs.append({"data": {"image/png": figure, "text/plain": "<Figure size 120x80>"}, "metadata": {},
                            "output_type": "display_data"})
        notebook_cells.append({
            "cell_type": "code", "execution_count": index + 1, "id": f"cell-{index:04d}", "metadata": {},
            "source": f"import math\nfor step in range({index}):\n    values = [math.sqrt(step), step ** 2]\nprint(values)",
            "outputs": outputs,
        })
    return {
        "cells": notebook_cells,
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                     "language_info": {"name": "python", "version": "3.11"}},
        "nbformat": 4, "nbformat_minor": 5,
    }


def measure_once(browser: Any, server_url: str, cells: int) -> dict[str, float]:
    """Seconds from navigation to all cells in the page, and to the first typed key showing."""
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    try:
        page = context.new_page()
        started = time.perf_counter()
        page.goto(f"{server_url}notebooks/{NOTEBOOK}?token={TOKEN}", wait_until="commit")
        page.wait_for_function(f"document.querySelectorAll('.cell').length === {cells} && "
                               f"document.querySelector('{EDITOR}') !== null", timeout=120_000, polling=10)
        cells_seconds = time.perf_counter() - started
        editor = page.locator(".cell.code").first.locator(".cm-content, textarea.source")
        editor.click()
        page.keyboard.press("Control+Home")
        page.keyboard.type("#")
        page.wait_for_function("(el => (el.value ?? el.innerText).startsWith('#'))"
                               "(document.querySelector('.cell.code .cm-content, .cell.code textarea.source'))",
                               timeout=60_000, polling=10)
        return {"cells": cells_seconds, "interactive": time.perf_counter() - started}
    finally:
        context.close()


def summary(samples: list[float]) -> str:
    return f"{statistics.median(samples):.2f} s [{min(samples):.2f}-{max(samples):.2f}]"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkout", type=Path, action="append",
                        help="an nbserver checkout to serve; repeat to compare (default: this one)")
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the samples here")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    scratch = Path(tempfile.mkdtemp(prefix="nbserver-page-bench-"))
    model = notebook_model()
    text = json.dumps(model, indent=1)
    root = scratch / "root"
    root.mkdir()
    (root / NOTEBOOK).write_text(text)
    cells = len(model["cells"])
    checkouts = [path.resolve() for path in (args.checkout or [REPO_DIR])]
    print(f"{NOTEBOOK}: {len(text.encode()) / 1e6:.2f} MB, {cells} cells")
    spec = ServerCommand(NBSERVER, Path(sys.executable), [sys.executable, "-m", "nbserver"], [])
    samples = {str(path): {"cells": [], "interactive": []} for path in checkouts}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                 args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
            for trial in range(args.trials):
                shift = trial % len(checkouts)
                for index, checkout in enumerate(checkouts[shift:] + checkouts[:shift]):
                    home = scratch / f"home-{trial}-{index}"
                    server = RunningServer(spec, root, home, TOKEN, cwd=checkout)
                    server.start()
                    try:
                        figures = measure_once(browser, f"http://127.0.0.1:{server.port}/", cells)
                    finally:
                        server.stop()
                        kill_leftovers(str(scratch))
                    for key, value in figures.items():
                        samples[str(checkout)][key].append(value)
                    print(f"trial {trial + 1} {checkout}: cells {figures['cells']:.2f} s, "
                          f"interactive {figures['interactive']:.2f} s")
            browser.close()
    finally:
        kill_leftovers(str(scratch))
        shutil.rmtree(scratch, ignore_errors=True)
    for checkout, figures in samples.items():
        print(f"{checkout}\n  all cells in the page:  {summary(figures['cells'])}\n"
              f"  time to interactive:    {summary(figures['interactive'])}")
    if args.json:
        args.json.write_text(json.dumps(samples, indent=1))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
