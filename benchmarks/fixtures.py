"""The files the workloads read: a 1 MB notebook, a 100-byte text file and large folders.

Everything is generated from fixed seeds, so every server's root folder is byte for byte the same.
"""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import shapes

NOTEBOOK = "notebook-1mb.ipynb"
SMALL_FILE = "small-100b.txt"
FOLDER_5K = "folder-5000"
FOLDER_100K = "folder-100000"
#: Seconds from writing the root folder to the first workload (see run.measure_server).
SETTLE_SECONDS = 3.0


WORDS = ["alpha", "beta", "gamma", "delta", "kernel", "value", "result", "frame", "series", "index"]


def filler_text(rng: random.Random, size: int) -> str:
    """Lines of 12 random words, at least ``size`` characters in all."""
    lines, length = [], 0
    while length < size:
        line = " ".join(rng.choice(WORDS) for _ in range(12)) + "\n"
        lines.append(line)
        length += len(line)
    return "".join(lines)


def notebook_model(cells: int = 200, target_bytes: int = 930_000) -> dict:
    """A valid nbformat 4.5 notebook of ``cells`` code cells, each with a stream output and an
    execute_result, about ``target_bytes`` long in all."""
    rng = random.Random(7)
    per_cell = target_bytes // cells

    def text(size: int) -> str:
        return filler_text(rng, size)

    notebook_cells = []
    for index in range(cells):
        notebook_cells.append({
            "cell_type": "code",
            "execution_count": index + 1,
            "id": f"cell-{index:04d}",
            "metadata": {},
            "source": f"values_{index} = compute({index})\nprint(describe(values_{index}))\nvalues_{index}",
            "outputs": [
                {"name": "stdout", "output_type": "stream", "text": text(per_cell * 3 // 4)},
                {"data": {"text/plain": text(per_cell // 4 - 200)}, "execution_count": index + 1,
                 "metadata": {}, "output_type": "execute_result"},
            ],
        })
    return {
        "cells": notebook_cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python", "version": "3.11"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def small_notebook() -> str:
    return json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


def write_folder(folder: Path, count: int) -> None:
    """``count`` small files, one in five a notebook, the rest text and Python files."""
    folder.mkdir()
    notebook = small_notebook()
    for index in range(count):
        kind = index % 5
        if kind == 0:
            (folder / f"file-{index:06d}.ipynb").write_text(notebook)
        elif kind in (1, 2):
            (folder / f"file-{index:06d}.txt").write_text(f"line {index}\n")
        else:
            (folder / f"file-{index:06d}.py").write_text(f"x = {index}\n")


def make_root(root: Path, notebook_json: str, with_100k: bool) -> None:
    """A fresh root folder with every fixture (the 100,000-file folder only when asked)."""
    root.mkdir(parents=True)
    (root / NOTEBOOK).write_text(notebook_json)
    an_hour_ago = time.time() - 3600  # as a notebook someone opens: saved a while ago
    os.utime(root / NOTEBOOK, (an_hour_ago, an_hour_ago))
    shapes.write_shapes(root)
    (root / SMALL_FILE).write_text(("0123456789" * 10)[:99] + "\n")
    write_folder(root / FOLDER_5K, 5000)
    if with_100k:
        write_folder(root / FOLDER_100K, 100_000)
