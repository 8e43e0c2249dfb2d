"""Notebooks of the shapes people have (issue 20): Plotly figures, PNG images, many small cells,
non-ASCII text. Each is generated from a fixed seed, so every server's copy is byte for byte the same.

Each shape is a (file name, model) pair; the file is the model as nbformat writes it
(``json.dumps(model, indent=1)``, the benchmark's existing convention), and a PUT sends the
same model.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import random
import time
from pathlib import Path
from typing import Any, Callable


def _notebook(cells: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "cells": cells,
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                     "language_info": {"name": "python", "version": "3.11"}},
        "nbformat": 4, "nbformat_minor": 5,
    }


def _code_cell(index: int, source: str, outputs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"cell_type": "code", "execution_count": index + 1, "id": f"cell-{index:05d}", "metadata": {},
            "source": source, "outputs": outputs}


def plotly_notebook(figures: int = 8, points: int = 2_000) -> dict[str, Any]:
    """``figures`` cells each showing a Plotly figure of two traces of ``points`` (x, y) floats:
    4 x 2,000 x 8 = 64,000 floats, about 1.3 MB on disk."""
    rng = random.Random(11)
    cells = []
    for index in range(figures):
        traces = [{"type": "scatter", "mode": "lines", "name": f"series {trace}",
                   "x": [round(i * 0.001 + rng.random() * 1e-4, 6) for i in range(points)],
                   "y": [rng.gauss(0, 1) for _ in range(points)]} for trace in range(2)]
        figure = {"data": traces, "layout": {"title": {"text": f"Figure {index}"}, "height": 400,
                                             "xaxis": {"range": [0.0, points * 0.001]}}, "config": {}}
        cells.append(_code_cell(index, f"fig_{index} = px.line(frame_{index})\nfig_{index}.show()", [{
            "output_type": "display_data", "metadata": {},
            "data": {"application/vnd.plotly.v1+json": figure, "text/html": f"<div id='fig-{index}'></div>"},
        }]))
    return _notebook(cells)


def png_notebook(images: int = 6, image_bytes: int = 380_000) -> dict[str, Any]:
    """``images`` cells each with a base64 PNG output of ``image_bytes`` random bytes
    (incompressible, as real plots after deflate): about 3 MB on disk."""
    rng = random.Random(13)
    cells = []
    for index in range(images):
        payload = b"\x89PNG\r\n\x1a\n" + rng.randbytes(image_bytes)
        cells.append(_code_cell(index, f"plt.plot(series_{index})\nplt.show()", [{
            "output_type": "display_data", "metadata": {"image/png": {"width": 800, "height": 600}},
            "data": {"image/png": base64.b64encode(payload).decode("ascii") + "\n",
                     "text/plain": "<Figure size 800x600 with 1 Axes>"},
        }]))
    return _notebook(cells)


def many_cells_notebook(cells: int = 5_000) -> dict[str, Any]:
    """``cells`` small cells, one in five markdown, the code cells with a one-line output."""
    built = []
    for index in range(cells):
        if index % 5 == 0:
            built.append({"cell_type": "markdown", "id": f"cell-{index:05d}", "metadata": {},
                          "source": f"## Step {index}\nWe now compute the next value."})
        else:
            built.append(_code_cell(index, f"x_{index} = x_{index - 1} + {index}\nx_{index}", [{
                "output_type": "execute_result", "execution_count": index + 1, "metadata": {},
                "data": {"text/plain": str(index * (index + 1) // 2)}}]))
    return _notebook(built)


def non_ascii_notebook(cells: int = 200, per_cell: int = 2_400) -> dict[str, Any]:
    """Text in several scripts and emoji (outside the BMP): about 1 MB on disk in UTF-8."""
    rng = random.Random(17)
    words = ["naïve", "café", "Größe", "Привет", "данные", "数据", "分析", "データ", "解析", "δεδομένα",
             "مرحبا", "שלום", "डेटा", "😀", "📈", "🚀", "résumé", "ñandú"]
    built = []
    for index in range(cells):
        text = ""
        while len(text) < per_cell:
            text += " ".join(rng.choice(words) for _ in range(10)) + "\n"
        built.append(_code_cell(index, f"# Überschrift {index} — 表 {index}\nprint(texte_{index})", [
            {"output_type": "stream", "name": "stdout", "text": text}]))
    return _notebook(built)


#: name -> (file name, generator). The order is the order of the table's rows.
SHAPES: dict[str, tuple[str, Callable[[], dict[str, Any]]]] = {
    "plotly": ("shape-plotly.ipynb", plotly_notebook),
    "png": ("shape-png.ipynb", png_notebook),
    "cells5000": ("shape-5000-cells.ipynb", many_cells_notebook),
    "nonascii": ("shape-non-ascii.ipynb", non_ascii_notebook),
}

LABELS = {"plotly": "1.6 MB notebook, Plotly (64,000 floats)", "png": "3 MB notebook, base64 PNG",
          "cells5000": "1.4 MB notebook, 5,000 cells", "nonascii": "0.9 MB notebook, non-ASCII"}


@functools.cache
def shape_text(name: str) -> str:
    """The file's text of shape ``name`` (nbformat's layout: indent=1, non-ASCII as is)."""
    return json.dumps(SHAPES[name][1](), indent=1, ensure_ascii=False)


def shape_texts() -> dict[str, str]:
    return {name: shape_text(name) for name in SHAPES}


def write_shapes(root: Path, age_seconds: float = 3600.0) -> None:
    """Every shape's file in ``root``, dated ``age_seconds`` back (notebooks people open were
    saved a while ago; a server may trust only a file's older dates, see docs/performance.md)."""
    when = time.time() - age_seconds
    for name, (file_name, _) in SHAPES.items():
        (root / file_name).write_text(shape_text(name), encoding="utf-8")
        os.utime(root / file_name, (when, when))
